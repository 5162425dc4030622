//! The topology of two neighbours' polygons: where they overlap, where a gap opens
//! between them along their common border, and how far apart their outlines run.
//!
//! - Overlaps are the intersection of the two polygons.
//! - Gaps are the land that belongs to neither but lies between them. Closing the union
//!   (grow by the gap width, shrink back) fills every opening narrower than twice that
//!   width; what it adds, plus any hole of the union, is a gap where it touches both
//!   polygons. Bays on the outer outline touch only one and are left out.
//! - The offset at a point of an overlap or a gap is its distance to the farther of
//!   the two outlines; the maximum over every vertex is how far the outlines disagree.
//!
//! Polygon operations run in a local plane in metres; every area is then measured
//! geodesically on the WGS84 points.

use geo::orient::{Direction, Orient};
use geo::{
    BooleanOps, Buffer, Coord, Distance, Euclidean, GeodesicArea, Intersects, LineString,
    MapCoords, MultiLineString, MultiPolygon, Point, Polygon, Validation,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::plane::LocalPlane;

/// Openings narrower than twice this, along the common border, count as gaps.
pub const DEFAULT_GAP_WIDTH_M: f64 = 200.0;
/// Pieces smaller than this are rounding noise of the polygon operations.
const NOISE_AREA_M2: f64 = 0.01;
/// How near a gap must come to a polygon to count as touching it.
const TOUCH_M: f64 = 1.0;

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TopologyReport {
    pub overlap_m2: f64,
    pub gap_m2: f64,
    pub max_offset_m: f64,
    /// GeoJSON FeatureCollection of the overlap polygons (WGS84), each with `area_m2`.
    pub overlaps: Value,
    /// GeoJSON FeatureCollection of the gap polygons (WGS84), each with `area_m2`.
    pub gaps: Value,
}

fn boundary_lines(shape: &MultiPolygon<f64>) -> MultiLineString<f64> {
    MultiLineString::new(
        shape
            .iter()
            .flat_map(|polygon| std::iter::once(polygon.exterior()).chain(polygon.interiors()))
            .cloned()
            .collect::<Vec<LineString<f64>>>(),
    )
}

/// Rounds to a power-of-ten step (0.1, 0.01, 1e-7) without binary leftovers.
fn round_to(value: f64, step: f64) -> f64 {
    let factor = (1.0 / step).round();
    // Adding zero turns a negative zero (a rounded sliver of negative noise) into 0.
    (value * factor).round() / factor + 0.0
}

/// One piece, measured: its WGS84 polygon and geodesic area.
struct Piece {
    lon_lat: Polygon<f64>,
    area_m2: f64,
}

fn measured(plane: &LocalPlane, pieces: impl IntoIterator<Item = Polygon<f64>>) -> Vec<Piece> {
    pieces
        .into_iter()
        .map(|polygon| {
            // Geodesic area reads a clockwise ring as the rest of the globe.
            let lon_lat = plane
                .unproject(&MultiPolygon::new(vec![polygon]))
                .0
                .remove(0)
                .orient(Direction::Default);
            let area_m2 = lon_lat.geodesic_area_unsigned();
            Piece { lon_lat, area_m2 }
        })
        .filter(|piece| piece.area_m2 >= NOISE_AREA_M2)
        .collect()
}

fn rounded_polygon(polygon: &Polygon<f64>) -> Polygon<f64> {
    polygon.map_coords(|c| Coord {
        x: round_to(c.x, 1e-7),
        y: round_to(c.y, 1e-7),
    })
}

/// The polygons to publish for one piece, valid as GeoJSON readers check them. Slivers
/// a few centimetres wide can cross themselves once rounded to 1e-7°; such a piece is
/// published unrounded, or else as the polygon operations normalise it.
fn publishable(polygon: &Polygon<f64>) -> Vec<Polygon<f64>> {
    let rounded = rounded_polygon(polygon);
    if rounded.is_valid() {
        return vec![rounded];
    }
    if polygon.is_valid() {
        return vec![polygon.clone()];
    }
    let normalised = MultiPolygon::new(vec![polygon.clone()]).union(&MultiPolygon::new(vec![]));
    normalised
        .0
        .into_iter()
        .map(|part| {
            let rounded = rounded_polygon(&part);
            if rounded.is_valid() { rounded } else { part }
        })
        .collect()
}

fn feature_collection(pieces: &[Piece], kind: &str) -> Value {
    let features: Vec<Value> = pieces
        .iter()
        .flat_map(|piece| {
            let parts = publishable(&piece.lon_lat);
            let count = parts.len();
            parts.into_iter().map(move |polygon| {
                let rings: Vec<Vec<[f64; 2]>> = std::iter::once(polygon.exterior())
                    .chain(polygon.interiors())
                    .map(|ring| ring.coords().map(|c| [c.x, c.y]).collect())
                    .collect();
                // A piece split by normalisation shares its area among its parts.
                let area_m2 = if count == 1 {
                    piece.area_m2
                } else {
                    polygon.geodesic_area_unsigned()
                };
                json!({
                    "type": "Feature",
                    "properties": {"kind": kind, "area_m2": round_to(area_m2, 0.1)},
                    "geometry": {"type": "Polygon", "coordinates": rings},
                })
            })
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features})
}

/// Compares two neighbours' outlines, both in WGS84.
pub fn check_topology(
    a: &MultiPolygon<f64>,
    b: &MultiPolygon<f64>,
    gap_width_m: f64,
) -> TopologyReport {
    let bounds = geo::BoundingRect::bounding_rect(&MultiPolygon::new(
        a.0.iter().chain(b.0.iter()).cloned().collect(),
    ));
    let centre = bounds.map_or(Coord { x: 0.0, y: 0.0 }, |rect| rect.center());
    let plane = LocalPlane::around(centre.x, centre.y);
    let (a_plane, b_plane) = (plane.project(a), plane.project(b));

    let overlaps = measured(&plane, a_plane.intersection(&b_plane));
    let union = a_plane.union(&b_plane);
    let closed = union.buffer(gap_width_m).buffer(-gap_width_m);
    let holes = union
        .iter()
        .flat_map(|polygon| polygon.interiors().iter().cloned())
        .map(|ring| Polygon::new(ring, Vec::new()));
    let candidates = closed.difference(&union).0.into_iter().chain(holes);
    let touching_both = |gap: &Polygon<f64>| {
        let grown = gap.buffer(TOUCH_M);
        grown.intersects(&a_plane) && grown.intersects(&b_plane)
    };
    let gaps = measured(&plane, candidates.filter(touching_both));

    let (a_outline, b_outline) = (boundary_lines(&a_plane), boundary_lines(&b_plane));
    let pieces_in_plane = overlaps
        .iter()
        .chain(&gaps)
        .map(|piece| plane.project(&MultiPolygon::new(vec![piece.lon_lat.clone()])));
    let mut max_offset_m: f64 = 0.0;
    for piece in pieces_in_plane {
        for coord in boundary_lines(&piece)
            .0
            .iter()
            .flat_map(|ring| ring.0.iter())
        {
            let point = Point::from(*coord);
            let offset = Euclidean
                .distance(&point, &a_outline)
                .max(Euclidean.distance(&point, &b_outline));
            max_offset_m = max_offset_m.max(offset);
        }
    }
    TopologyReport {
        overlap_m2: round_to(overlaps.iter().map(|p| p.area_m2).sum(), 0.1),
        gap_m2: round_to(gaps.iter().map(|p| p.area_m2).sum(), 0.1),
        max_offset_m: round_to(max_offset_m, 0.01),
        overlaps: feature_collection(&overlaps, "overlap"),
        gaps: feature_collection(&gaps, "gap"),
    }
}

#[cfg(test)]
mod tests {
    use geo::polygon;

    use super::*;

    /// A rectangle of degrees.
    fn rectangle(west: f64, south: f64, east: f64, north: f64) -> MultiPolygon<f64> {
        MultiPolygon::new(vec![polygon![
            (x: west, y: south), (x: east, y: south), (x: east, y: north),
            (x: west, y: north), (x: west, y: south),
        ]])
    }

    #[test]
    fn an_overlap_and_a_gap_between_two_rectangles_are_measured() {
        // A ends 0.0005° (about 48 m) past the border at x = 121.01 in its south half,
        // and 0.0005° short of it in the north half, where B starts at the border.
        let a = MultiPolygon::new(vec![polygon![
            (x: 121.0, y: 29.0), (x: 121.0105, y: 29.0), (x: 121.0105, y: 29.005),
            (x: 121.0095, y: 29.005), (x: 121.0095, y: 29.01), (x: 121.0, y: 29.01), (x: 121.0, y: 29.0),
        ]]);
        let b = rectangle(121.01, 29.0, 121.02, 29.01);
        let report = check_topology(&a, &b, DEFAULT_GAP_WIDTH_M);
        let overlap = rectangle(121.01, 29.0, 121.0105, 29.005).0[0].geodesic_area_unsigned();
        let gap = rectangle(121.0095, 29.005, 121.01, 29.01).0[0].geodesic_area_unsigned();
        assert!(
            (report.overlap_m2 - overlap).abs() / overlap < 0.002,
            "{report:?}"
        );
        // The open end of the gap is closed by the buffer's arcs, a bow of about a metre.
        assert!(
            (report.gap_m2 - gap).abs() / gap < 0.005,
            "{report:?} vs {gap}"
        );
        let width = crate::geo::measure::geodesic_distance_m((121.0095, 29.005), (121.01, 29.005));
        assert!(
            (report.max_offset_m - width).abs() < 0.5,
            "{report:?} vs {width}"
        );
        assert_eq!(report.overlaps["features"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn neighbours_that_share_edges_exactly_have_neither() {
        let report = check_topology(
            &rectangle(121.0, 29.0, 121.01, 29.01),
            &rectangle(121.01, 29.0, 121.02, 29.01),
            DEFAULT_GAP_WIDTH_M,
        );
        assert_eq!(
            (report.overlap_m2, report.gap_m2, report.max_offset_m),
            (0.0, 0.0, 0.0)
        );
    }
}
