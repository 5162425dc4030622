//! Division polygons in memory: which division contains a point.
//!
//! Bounding boxes sit in an R-tree; a candidate's exact test runs on an interval tree
//! of its edges, so a county outline of thousands of vertices costs a few comparisons
//! rather than a walk over every edge. Polygons of several levels (county, town,
//! village) live in one index and the deepest container wins.

use geo::indexed::IntervalTreeMultiPolygon;
use geo::{BoundingRect, Contains, Coord, InteriorPoint, MultiPolygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::geo::round_degrees;
use crate::index::divisions::{DivisionDirectory, DivisionRef};
use crate::index::polygon_cells::{CellAnswer, PolygonCells};
use crate::store::DivisionPolygon;

/// Why a stored or imported polygon cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolygonError {
    #[error("not GeoJSON: {0}")]
    NotGeoJson(String),
    #[error("the geometry is a {0}, not a Polygon or MultiPolygon")]
    NotPolygonal(String),
    #[error("the polygon has no area")]
    Empty,
    #[error("a coordinate is not a longitude/latitude in degrees")]
    OutOfRange,
}

/// Parses a GeoJSON Polygon or MultiPolygon geometry into a multipolygon.
pub fn parse_multipolygon(geojson_text: &str) -> Result<MultiPolygon<f64>, PolygonError> {
    let geometry: geojson::Geometry = geojson_text
        .parse()
        .map_err(|error: geojson::Error| PolygonError::NotGeoJson(error.to_string()))?;
    let shape: geo::Geometry<f64> = (&geometry.value)
        .try_into()
        .map_err(|error: geojson::Error| PolygonError::NotGeoJson(error.to_string()))?;
    let multipolygon = match shape {
        geo::Geometry::Polygon(polygon) => MultiPolygon::new(vec![polygon]),
        geo::Geometry::MultiPolygon(multipolygon) => multipolygon,
        other => {
            let kind = format!("{other:?}");
            let kind = kind.split('(').next().unwrap_or("geometry").to_owned();
            return Err(PolygonError::NotPolygonal(kind));
        }
    };
    check_multipolygon(&multipolygon)?;
    Ok(multipolygon)
}

fn check_multipolygon(shape: &MultiPolygon<f64>) -> Result<(), PolygonError> {
    let mut vertices = 0usize;
    for polygon in shape {
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            for coord in ring.coords() {
                vertices += 1;
                let valid = coord.x.is_finite()
                    && coord.y.is_finite()
                    && (-180.0..=180.0).contains(&coord.x)
                    && (-90.0..=90.0).contains(&coord.y);
                if !valid {
                    return Err(PolygonError::OutOfRange);
                }
            }
        }
    }
    let has_area = shape.iter().any(|polygon| polygon.exterior().0.len() >= 4);
    if vertices == 0 || !has_area {
        return Err(PolygonError::Empty);
    }
    Ok(())
}

/// A multipolygon as a GeoJSON MultiPolygon geometry, each coordinate passed through
/// `convert` and rounded to 7 decimals (about 1 cm).
pub fn multipolygon_geojson(
    shape: &MultiPolygon<f64>,
    convert: impl Fn(f64, f64) -> (f64, f64),
) -> serde_json::Value {
    let ring = |ring: &geo::LineString<f64>| -> Vec<[f64; 2]> {
        ring.coords()
            .map(|coord| {
                let (lon, lat) = convert(coord.x, coord.y);
                [round_degrees(lon), round_degrees(lat)]
            })
            .collect()
    };
    let polygons: Vec<Vec<Vec<[f64; 2]>>> = shape
        .iter()
        .map(|polygon| {
            std::iter::once(polygon.exterior())
                .chain(polygon.interiors())
                .map(ring)
                .collect()
        })
        .collect();
    serde_json::json!({ "type": "MultiPolygon", "coordinates": polygons })
}

struct IndexedPolygon {
    division: DivisionRef,
    shape: MultiPolygon<f64>,
    edges: IntervalTreeMultiPolygon<f64>,
    representative: std::sync::OnceLock<Option<(f64, f64)>>,
}

/// Every division polygon the registry holds, searchable by point.
#[derive(Default)]
pub struct DivisionPolygons {
    polygons: Vec<IndexedPolygon>,
    by_code: std::collections::HashMap<u64, u32>,
    boxes: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
    /// Answers for the grid cells no outline crosses; `None` without polygons.
    cells: Option<PolygonCells>,
}

impl DivisionPolygons {
    /// Builds the index from stored polygons. A polygon whose code is not a known
    /// division, or whose geometry does not parse, is skipped with a warning: the
    /// import checks both, so this only guards against hand-edited stores.
    pub fn build(stored: &[DivisionPolygon], divisions: &DivisionDirectory) -> Self {
        let mut polygons = Vec::with_capacity(stored.len());
        for polygon in stored {
            let division = polygon
                .code
                .parse::<u64>()
                .ok()
                .filter(|_| polygon.code.len() == 12)
                .and_then(|code| divisions.named_code(code));
            let Some(division) = division else {
                tracing::warn!(code = %polygon.code, "polygon of an unknown division skipped");
                continue;
            };
            match parse_multipolygon(&polygon.geometry_geojson) {
                Ok(shape) => polygons.push(IndexedPolygon {
                    division,
                    edges: IntervalTreeMultiPolygon::new(&shape),
                    shape,
                    representative: std::sync::OnceLock::new(),
                }),
                Err(error) => {
                    tracing::warn!(code = %polygon.code, %error, "unusable polygon skipped");
                }
            }
        }
        let boxes = polygons
            .iter()
            .enumerate()
            .filter_map(|(position, polygon)| {
                let bounds = polygon.shape.bounding_rect()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners(
                        [bounds.min().x, bounds.min().y],
                        [bounds.max().x, bounds.max().y],
                    ),
                    position as u32,
                ))
            })
            .collect();
        let by_code = polygons
            .iter()
            .enumerate()
            .map(|(position, polygon)| (polygon.division.code, position as u32))
            .collect();
        let mut index = DivisionPolygons {
            polygons,
            by_code,
            boxes: RTree::bulk_load(boxes),
            cells: None,
        };
        index.cells = PolygonCells::build(
            index.polygons.iter().map(|polygon| &polygon.shape),
            |lon, lat| index.deepest_position_exact(lon, lat),
        );
        index
    }

    pub fn len(&self) -> usize {
        self.polygons.len()
    }

    /// The divisions that have a polygon.
    pub fn divisions(&self) -> impl Iterator<Item = DivisionRef> + '_ {
        self.polygons.iter().map(|polygon| polygon.division)
    }

    pub fn is_empty(&self) -> bool {
        self.polygons.is_empty()
    }

    /// The deepest division whose polygon contains the WGS84 point. A point exactly
    /// on an outline that no polygon holds in its interior (a shared edge between
    /// neighbours) belongs to the neighbour with the lower code, so every point on
    /// land has one answer.
    pub fn deepest_containing(&self, lon: f64, lat: f64) -> Option<DivisionRef> {
        let position = match self.cells.as_ref().map(|cells| cells.answer(lon, lat)) {
            Some(CellAnswer::Inside(position)) => Some(position),
            Some(CellAnswer::Outside) => None,
            Some(CellAnswer::Crossed) | None => self.deepest_position_exact(lon, lat),
        };
        position.map(|position| self.polygons[position as usize].division)
    }

    /// The same answer as [`Self::deepest_containing`], always from the exact
    /// point-in-polygon test: the reference the cell table is checked against, and
    /// the benchmark's yardstick for the machine's speed.
    pub fn deepest_containing_exact(&self, lon: f64, lat: f64) -> Option<DivisionRef> {
        self.deepest_position_exact(lon, lat)
            .map(|position| self.polygons[position as usize].division)
    }

    fn deepest_position_exact(&self, lon: f64, lat: f64) -> Option<u32> {
        let envelope = AABB::from_point([lon, lat]);
        let candidates = || {
            self.boxes
                .locate_in_envelope_intersecting(&envelope)
                .map(|candidate| (candidate.data, &self.polygons[candidate.data as usize]))
        };
        let coord = Coord { x: lon, y: lat };
        let mut best: Option<(u32, DivisionRef)> = None;
        for (position, polygon) in candidates() {
            if is_better(best.map(|(_, division)| division), polygon.division)
                && polygon.edges.contains(&coord)
            {
                best = Some((position, polygon.division));
            }
        }
        if best.is_some() {
            return best.map(|(position, _)| position);
        }
        // On an outline the interior test fails for both neighbours; a nudge of a
        // tenth of a millimetre either way lands inside one of them.
        const NUDGE_DEGREES: f64 = 1e-9;
        for (position, polygon) in candidates() {
            let touches = [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)]
                .iter()
                .any(|(east, north)| {
                    polygon.edges.contains(&Coord {
                        x: lon + east * NUDGE_DEGREES,
                        y: lat + north * NUDGE_DEGREES,
                    })
                });
            if touches && is_better(best.map(|(_, division)| division), polygon.division) {
                best = Some((position, polygon.division));
            }
        }
        best.map(|(position, _)| position)
    }

    /// A point inside the division's polygon (not the centroid, which a crescent
    /// or an archipelago can put outside), if the division has one.
    pub fn representative_point(&self, code: u64) -> Option<(f64, f64)> {
        let polygon = self.polygon(code)?;
        *polygon.representative.get_or_init(|| {
            polygon
                .shape
                .interior_point()
                .map(|point| (point.x(), point.y()))
        })
    }

    /// The polygon of a division, if the index holds one.
    pub fn shape(&self, code: u64) -> Option<&MultiPolygon<f64>> {
        self.polygon(code).map(|polygon| &polygon.shape)
    }

    fn polygon(&self, code: u64) -> Option<&IndexedPolygon> {
        let position = *self.by_code.get(&code)?;
        self.polygons.get(position as usize)
    }
}

/// Deeper wins; at equal depth the lower code wins, so the answer does not depend on
/// the order polygons were loaded in.
fn is_better(current: Option<DivisionRef>, candidate: DivisionRef) -> bool {
    match current {
        None => true,
        Some(current) => {
            (candidate.level, std::cmp::Reverse(candidate.code))
                > (current.level, std::cmp::Reverse(current.code))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::division::{Division, DivisionLevel};

    fn division(code: &str, level: DivisionLevel, parent: Option<&str>) -> Division {
        Division {
            code: code.into(),
            name: code.into(),
            short_name: None,
            level,
            parent_code: parent.map(Into::into),
            aliases: vec![],
            valid_from: None,
            valid_to: None,
            successor_code: None,
        }
    }

    fn square(code: &str, west: f64, south: f64, size: f64) -> DivisionPolygon {
        let (east, north) = (west + size, south + size);
        DivisionPolygon {
            code: code.into(),
            geometry_geojson: format!(
                r#"{{"type":"Polygon","coordinates":[[[{west},{south}],[{east},{south}],[{east},{north}],[{west},{north}],[{west},{south}]]]}}"#
            ),
        }
    }

    /// Two counties sharing the edge lon = 121, and a town inside the eastern one.
    fn index() -> DivisionPolygons {
        use DivisionLevel::*;
        let directory = DivisionDirectory::build(vec![
            division("330000000000", Province, None),
            division("330200000000", City, Some("330000000000")),
            division("330212000000", County, Some("330200000000")),
            division("330213000000", County, Some("330200000000")),
            division("330212001000", Town, Some("330212000000")),
        ]);
        DivisionPolygons::build(
            &[
                square("330213000000", 120.0, 29.0, 1.0),
                square("330212000000", 121.0, 29.0, 1.0),
                square("330212001000", 121.4, 29.4, 0.2),
                square("999999000000", 121.0, 29.0, 1.0),
            ],
            &directory,
        )
    }

    fn found(index: &DivisionPolygons, lon: f64, lat: f64) -> Option<u64> {
        index
            .deepest_containing(lon, lat)
            .map(|division| division.code)
    }

    #[test]
    fn the_deepest_container_wins_and_shared_edges_go_to_the_lower_code() {
        let index = index();
        assert_eq!(index.len(), 3, "the unknown division's polygon is skipped");
        assert_eq!(found(&index, 120.5, 29.5), Some(330213000000));
        assert_eq!(found(&index, 121.2, 29.5), Some(330212000000));
        assert_eq!(found(&index, 121.5, 29.5), Some(330212001000));
        // On the shared edge, and on the town's own outline inside its county.
        assert_eq!(found(&index, 121.0, 29.5), Some(330212000000));
        assert_eq!(found(&index, 121.4, 29.5), Some(330212000000));
        assert_eq!(found(&index, 119.5, 29.5), None);
        let (lon, lat) = index.representative_point(330212001000).unwrap();
        assert_eq!(found(&index, lon, lat), Some(330212001000));
    }

    #[test]
    fn the_cell_table_agrees_with_the_exact_test_over_the_bundled_counties() {
        use rand::{Rng, SeedableRng};
        let reference = crate::reference::ReferenceSource::Embedded
            .load()
            .expect("embedded reference data");
        let directory = DivisionDirectory::build(reference.divisions);
        let index = DivisionPolygons::build(&reference.polygons, &directory);
        let cells = index
            .cells
            .as_ref()
            .expect("a cell table over the counties");
        let mut random = rand::rngs::StdRng::seed_from_u64(7);
        let (mut inside, mut settled) = (0, 0);
        for _ in 0..40_000 {
            // Zhejiang's bounding box and a little beyond, sea and neighbours included.
            let (lon, lat) = (
                random.random_range(118.0..123.3),
                random.random_range(26.9..31.3),
            );
            let exact = index.deepest_containing_exact(lon, lat);
            assert_eq!(index.deepest_containing(lon, lat), exact, "({lon}, {lat})");
            inside += usize::from(exact.is_some());
            settled += usize::from(cells.answer(lon, lat) != CellAnswer::Crossed);
        }
        assert!(inside > 10_000, "{inside}");
        // The table must answer most points itself, or the agreement above says little.
        assert!(settled > 30_000, "{settled} of 40,000 settled by the table");
    }
}
