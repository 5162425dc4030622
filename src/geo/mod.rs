//! Coordinates: the systems callers use, validation, and distances in metres.

pub mod crs;
pub mod measure;

pub use self::crs::{Crs, UnknownCrs};

/// Why a coordinate pair was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoError {
    #[error(transparent)]
    UnknownCrs(#[from] UnknownCrs),
    #[error("lon must be a number in -180..180; got {0}")]
    InvalidLongitude(String),
    #[error("lat must be a number in -90..90; got {0}")]
    InvalidLatitude(String),
    #[error("{0} is required")]
    MissingCoordinate(&'static str),
    #[error("radius must be between {min} and {max} metres; got {given}")]
    RadiusOutOfRange { given: String, min: f64, max: f64 },
}

/// Checks a longitude/latitude pair given in `crs` and returns it in WGS84.
pub fn checked_point(lon: Option<f64>, lat: Option<f64>, crs: Crs) -> Result<(f64, f64), GeoError> {
    let lon = lon.ok_or(GeoError::MissingCoordinate("lon"))?;
    let lat = lat.ok_or(GeoError::MissingCoordinate("lat"))?;
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(GeoError::InvalidLongitude(lon.to_string()));
    }
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(GeoError::InvalidLatitude(lat.to_string()));
    }
    Ok(crs.to_wgs84(lon, lat))
}

/// Rounds a coordinate to 7 decimals (about 1 cm): finer digits only carry noise
/// from the conversions.
pub fn round_degrees(value: f64) -> f64 {
    (value * 1e7).round() / 1e7
}
