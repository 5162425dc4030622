//! Surveyed tracks against the official line: how far each walked stretch strays.
//!
//! Both are sampled every metre in a local plane around the line. For each track:
//! - `max_offset_m`: the farthest any point of the track lies from the line;
//! - `hausdorff_m`: the symmetric Hausdorff distance between the track and the stretch
//!   of line it covers — the line points whose nearest track point is not one of the
//!   track's two ends. A track that walks half the line is not charged for the other half.

use geo::{Closest, ClosestPoint, Coord, Distance, Euclidean, LineString, MultiLineString, Point};
use serde::Serialize;
use serde_json::Value;

use super::BoundaryError;
use super::plane::LocalPlane;
use crate::geo::Crs;

/// Offset of a track from the line allowed before it is reported, in metres: the
/// plotting accuracy of the 1:10,000 maps boundary agreements are drawn on.
pub const DEFAULT_LINE_TOLERANCE_M: f64 = 5.0;
const SAMPLE_SPACING_M: f64 = 1.0;
/// The most samples taken along one line or track (a metre apart, 2,000 km): a longer
/// one is sampled more sparsely, so that an upload of absurd coordinates cannot take
/// the memory of the machine.
const MAX_SAMPLES_PER_LINE: f64 = 2_000_000.0;

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TrackOffset {
    /// The feature's `name` property, or its 1-based position.
    pub track: String,
    pub length_m: f64,
    pub max_offset_m: f64,
    pub hausdorff_m: f64,
    pub exceeds_tolerance: bool,
}

/// Points along a line string, no more than `SAMPLE_SPACING_M` apart (further for a
/// line longer than `MAX_SAMPLES_PER_LINE` of them), vertices included.
fn samples(line: &LineString<f64>) -> Vec<Point<f64>> {
    let length: f64 = line
        .lines()
        .map(|segment| (segment.end.x - segment.start.x).hypot(segment.end.y - segment.start.y))
        .sum();
    let spacing = SAMPLE_SPACING_M.max(length / MAX_SAMPLES_PER_LINE);
    let mut points = Vec::new();
    for segment in line.lines() {
        let (dx, dy) = (
            segment.end.x - segment.start.x,
            segment.end.y - segment.start.y,
        );
        let steps = ((dx.hypot(dy) / spacing).ceil() as usize).max(1);
        for step in 0..steps {
            let t = step as f64 / steps as f64;
            points.push(Point::new(
                segment.start.x + dx * t,
                segment.start.y + dy * t,
            ));
        }
    }
    if let Some(last) = line.0.last() {
        points.push(Point::from(*last));
    }
    points
}

fn rounded(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Offsets of each track from the official line, both in WGS84.
pub fn track_offsets(
    line: &MultiLineString<f64>,
    tracks: &[(String, LineString<f64>)],
    tolerance_m: f64,
) -> Vec<TrackOffset> {
    let Some(first) = line.0.iter().flat_map(|part| part.0.first()).next() else {
        return Vec::new();
    };
    let plane = LocalPlane::around(first.x, first.y);
    let project = |part: &LineString<f64>| {
        LineString::new(part.0.iter().map(|coord| plane.plane_of(*coord)).collect())
    };
    let line_plane = MultiLineString::new(line.0.iter().map(project).collect());
    let line_samples: Vec<Point<f64>> = line_plane.0.iter().flat_map(samples).collect();
    tracks
        .iter()
        .map(|(name, track)| {
            let track_plane = project(track);
            let track_samples = samples(&track_plane);
            let max_offset_m = track_samples
                .iter()
                .map(|point| Euclidean.distance(point, &line_plane))
                .fold(0.0, f64::max);
            let ends: Vec<Coord<f64>> = [track_plane.0.first(), track_plane.0.last()]
                .into_iter()
                .flatten()
                .copied()
                .collect();
            let covered_line_offset = line_samples
                .iter()
                .filter_map(|point| {
                    let nearest = match track_plane.closest_point(point) {
                        Closest::Intersection(nearest) | Closest::SinglePoint(nearest) => nearest,
                        Closest::Indeterminate => return None,
                    };
                    let at_an_end = ends
                        .iter()
                        .any(|end| Euclidean.distance(&Point::from(*end), &nearest) < 1e-6);
                    (!at_an_end).then(|| Euclidean.distance(point, &nearest))
                })
                .fold(0.0, f64::max);
            let length_m: f64 = track_plane
                .lines()
                .map(|segment| {
                    let (start, end) = (
                        plane.lon_lat_of(segment.start),
                        plane.lon_lat_of(segment.end),
                    );
                    crate::geo::measure::geodesic_distance_m((start.x, start.y), (end.x, end.y))
                })
                .sum();
            TrackOffset {
                track: name.clone(),
                length_m: rounded(length_m),
                max_offset_m: rounded(max_offset_m),
                hausdorff_m: rounded(max_offset_m.max(covered_line_offset)),
                exceeds_tolerance: max_offset_m > tolerance_m,
            }
        })
        .collect()
}

fn line_strings(geometry: &Value) -> Result<Vec<LineString<f64>>, String> {
    let parsed: geojson::Geometry = geometry
        .to_string()
        .parse()
        .map_err(|error: geojson::Error| error.to_string())?;
    let shape: geo::Geometry<f64> = (&parsed.value)
        .try_into()
        .map_err(|error: geojson::Error| error.to_string())?;
    match shape {
        geo::Geometry::LineString(line) => Ok(vec![line]),
        geo::Geometry::MultiLineString(lines) => Ok(lines.0),
        _ => Err("expected a LineString or MultiLineString".into()),
    }
}

/// Named line strings from a GeoJSON FeatureCollection, Feature or bare geometry,
/// converted from `crs` to WGS84.
pub fn read_line_features(
    text: &str,
    crs: Crs,
) -> Result<Vec<(String, LineString<f64>)>, BoundaryError> {
    let document: Value =
        serde_json::from_str(text).map_err(|error| BoundaryError::NotGeoJson(error.to_string()))?;
    let features: Vec<Value> = match document.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => document["features"].as_array().cloned().unwrap_or_default(),
        Some("Feature") => vec![document.clone()],
        Some(_) => {
            vec![serde_json::json!({"type": "Feature", "properties": {}, "geometry": document})]
        }
        None => return Err(BoundaryError::NotGeoJson("no \"type\"".into())),
    };
    let mut lines = Vec::new();
    for (index, feature) in features.iter().enumerate() {
        let name = feature["properties"]["name"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| (index + 1).to_string());
        let parts =
            line_strings(&feature["geometry"]).map_err(|message| BoundaryError::BadFeature {
                feature: index + 1,
                message,
            })?;
        for part in parts {
            let converted = LineString::new(
                part.0
                    .iter()
                    .map(|coord| {
                        let (lon, lat) = crs.to_wgs84(coord.x, coord.y);
                        Coord { x: lon, y: lat }
                    })
                    .collect(),
            );
            lines.push((name.clone(), converted));
        }
    }
    if lines.is_empty() {
        return Err(BoundaryError::NotGeoJson("no line features".into()));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use geo::LineString;

    use super::{MAX_SAMPLES_PER_LINE, samples};

    #[test]
    fn a_line_is_sampled_every_metre_up_to_a_bound() {
        let short = LineString::from(vec![(0.0, 0.0), (60.0, 80.0)]);
        assert_eq!(
            samples(&short).len(),
            101,
            "100 m: a sample a metre, both ends"
        );
        // 10,000 km in the plane, as a track of nonsense coordinates would project.
        let long = LineString::from(vec![(0.0, 0.0), (1.0e7, 0.0), (1.0e7, 1.0e6)]);
        let count = samples(&long).len();
        assert!(count as f64 <= MAX_SAMPLES_PER_LINE + 3.0, "{count}");
        assert!(count as f64 >= MAX_SAMPLES_PER_LINE, "{count}");
    }
}
