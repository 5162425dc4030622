//! `import boundaries`: division polygons from a GeoJSON FeatureCollection.
//!
//! Each feature names its division in a property (`code` unless told otherwise; a
//! string or a number of 6, 9 or 12 digits). A feature is accepted only when that
//! division exists at the stated level and its geometry is a usable Polygon or
//! MultiPolygon; the others are reported one by one and the accepted ones are
//! written in one transaction. Offset coordinates (GCJ-02, BD-09) are converted to
//! CGCS2000 before they are stored, so boundaries are never computed on offsets.

use std::collections::HashSet;

use geo::MultiPolygon;
use serde::Serialize;
use serde_json::Value;

use crate::domain::division::{DivisionCode, DivisionLevel};
use crate::geo::Crs;
use crate::index::divisions::DivisionDirectory;
use crate::index::polygons::{multipolygon_geojson, parse_multipolygon};
use crate::store::{DivisionPolygon, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BoundaryImportError {
    #[error("the file is not a GeoJSON FeatureCollection: {0}")]
    NotFeatureCollection(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One feature that was not imported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedFeature {
    /// 1-based position in the `features` array.
    pub feature: usize,
    pub error_code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BoundaryImportReport {
    pub features: usize,
    pub imported: usize,
    pub rejected: usize,
}

fn code_property(properties: &Value, field: &str) -> Option<String> {
    match &properties[field] {
        Value::String(text) => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Checks every feature, reports the rejected ones through `rejected`, and writes the
/// accepted polygons in one transaction.
pub async fn import_boundaries(
    store: &dyn Store,
    divisions: &DivisionDirectory,
    text: &str,
    level: DivisionLevel,
    code_field: &str,
    crs: Crs,
    mut rejected: impl FnMut(RejectedFeature),
) -> Result<BoundaryImportReport, BoundaryImportError> {
    let collection: Value = serde_json::from_str(text)
        .map_err(|error| BoundaryImportError::NotFeatureCollection(error.to_string()))?;
    let features = collection["features"]
        .as_array()
        .filter(|_| collection["type"] == "FeatureCollection")
        .ok_or_else(|| BoundaryImportError::NotFeatureCollection("no \"features\" array".into()))?;
    let mut report = BoundaryImportReport {
        features: features.len(),
        ..BoundaryImportReport::default()
    };
    let mut accepted: Vec<DivisionPolygon> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (index, feature) in features.iter().enumerate() {
        match check_feature(feature, divisions, level, code_field, crs) {
            Ok((code, shape)) if seen.insert(code.clone()) => {
                accepted.push(DivisionPolygon {
                    code,
                    geometry_geojson: multipolygon_geojson(&shape, |lon, lat| (lon, lat))
                        .to_string(),
                });
            }
            Ok((code, _)) => {
                report.rejected += 1;
                rejected(RejectedFeature {
                    feature: index + 1,
                    error_code: "duplicate_division",
                    message: format!("division {code} appears earlier in the file"),
                });
            }
            Err((error_code, message)) => {
                report.rejected += 1;
                rejected(RejectedFeature {
                    feature: index + 1,
                    error_code,
                    message,
                });
            }
        }
    }
    store.upsert_division_polygons(&accepted).await?;
    report.imported = accepted.len();
    Ok(report)
}

fn check_feature(
    feature: &Value,
    divisions: &DivisionDirectory,
    level: DivisionLevel,
    code_field: &str,
    crs: Crs,
) -> Result<(String, MultiPolygon<f64>), (&'static str, String)> {
    let given = code_property(&feature["properties"], code_field).ok_or((
        "missing_code",
        format!("the feature has no property {code_field:?} with a division code"),
    ))?;
    let code = DivisionCode::parse(&given)
        .map_err(|error| ("invalid_division_code", error.to_string()))?;
    let division = divisions
        .get(code.as_str())
        .ok_or(("unknown_division", format!("no division {code}")))?;
    if division.level != level {
        return Err((
            "wrong_level",
            format!(
                "{code} {} is a {}, not a {}",
                division.name,
                division.level.as_str(),
                level.as_str()
            ),
        ));
    }
    let geometry = feature
        .get("geometry")
        .filter(|geometry| !geometry.is_null())
        .ok_or(("invalid_geometry", "the feature has no geometry".to_owned()))?;
    let mut shape = parse_multipolygon(&geometry.to_string())
        .map_err(|error| ("invalid_geometry", error.to_string()))?;
    if crs != Crs::Wgs84 {
        use geo::MapCoordsInPlace;
        shape.map_coords_in_place(|coord| {
            let (x, y) = crs.to_wgs84(coord.x, coord.y);
            geo::Coord { x, y }
        });
    }
    Ok((code.to_string(), shape))
}
