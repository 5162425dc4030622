//! Geocoding and reverse geocoding as [`RowAnswerer`]s for [`crate::batch`].

use serde::Serialize;

use super::{Geocoded, Geocoder, ReverseResult};
use crate::batch::{RowAnswerer, RowProblem, RowTally};
use crate::geo::{Crs, checked_point};
use crate::matching::batch::{check_address, format_confidence, is_division, missing_address};

pub const REVERSE_COLUMNS: [&str; 7] = [
    "division_code",
    "division",
    "code",
    "standard_address",
    "distance_m",
    "level",
    "status",
];

pub const GEOCODE_COLUMNS: [&str; 7] = [
    "code",
    "standard_address",
    "level",
    "confidence",
    "lon",
    "lat",
    "status",
];

/// Reverse-geocodes the point in two columns (or fields) of each row.
pub struct ReverseRows<'g> {
    geocoder: &'g Geocoder,
    fields: [String; 2],
    crs: Crs,
    out_crs: Crs,
    radius_m: f64,
    limit: usize,
}

impl<'g> ReverseRows<'g> {
    pub fn new(
        geocoder: &'g Geocoder,
        lon_field: impl Into<String>,
        lat_field: impl Into<String>,
        crs: Crs,
        out_crs: Crs,
        radius_m: f64,
        limit: usize,
    ) -> Self {
        ReverseRows {
            geocoder,
            fields: [lon_field.into(), lat_field.into()],
            crs,
            out_crs,
            radius_m,
            limit,
        }
    }
}

fn coordinate(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok()
}

impl RowAnswerer for ReverseRows<'_> {
    type Answer = ReverseResult;

    fn fields(&self) -> &[String] {
        &self.fields
    }

    fn appended_columns(&self) -> &'static [&'static str] {
        &REVERSE_COLUMNS
    }

    fn missing_field(&self, field: &str) -> RowProblem {
        RowProblem::new(
            "missing_coordinates",
            format!(
                "expected an object with number fields {:?} and {:?}, or [lon, lat]; {field:?} is missing",
                self.fields[0], self.fields[1]
            ),
        )
    }

    fn answer(&self, fields: &[&str]) -> Result<ReverseResult, RowProblem> {
        let lon = fields.first().and_then(|text| coordinate(text));
        let lat = fields.get(1).and_then(|text| coordinate(text));
        let (lon, lat) = checked_point(lon, lat, self.crs)
            .map_err(|error| RowProblem::new("invalid_coordinates", error.to_string()))?;
        Ok(self
            .geocoder
            .reverse(lon, lat, self.radius_m, self.limit, self.out_crs))
    }

    fn tally(&self, answer: &ReverseResult) -> RowTally {
        if !answer.addresses.is_empty() {
            RowTally::Matched
        } else if answer.division.is_some() {
            RowTally::Division
        } else {
            RowTally::Unmatched
        }
    }

    fn cells(&self, answer: &ReverseResult) -> Vec<String> {
        let mut cells = match &answer.division {
            Some(division) => vec![division.code.clone(), division.names.concat()],
            None => vec![String::new(), String::new()],
        };
        if let Some(nearest) = answer.addresses.first() {
            cells.extend([
                nearest.code.to_string(),
                nearest.address.clone(),
                nearest.distance_m.to_string(),
                nearest.level.as_str().to_owned(),
            ]);
        }
        cells
    }
}

/// The JSON line of a geocoded row: the answer, or null when nothing was found.
#[derive(Debug, Serialize)]
pub struct GeocodedRow {
    pub result: Option<Geocoded>,
}

/// Geocodes the address in one column (or field) of each row.
pub struct GeocodeRows<'g> {
    geocoder: &'g Geocoder,
    fields: [String; 1],
    out_crs: Crs,
}

impl<'g> GeocodeRows<'g> {
    pub fn new(geocoder: &'g Geocoder, column: impl Into<String>, out_crs: Crs) -> Self {
        GeocodeRows {
            geocoder,
            fields: [column.into()],
            out_crs,
        }
    }
}

impl RowAnswerer for GeocodeRows<'_> {
    type Answer = GeocodedRow;

    fn fields(&self) -> &[String] {
        &self.fields
    }

    fn appended_columns(&self) -> &'static [&'static str] {
        &GEOCODE_COLUMNS
    }

    fn missing_field(&self, field: &str) -> RowProblem {
        missing_address(field)
    }

    fn answer(&self, fields: &[&str]) -> Result<GeocodedRow, RowProblem> {
        let address = check_address(fields.first().copied().unwrap_or(""))?;
        Ok(GeocodedRow {
            result: self.geocoder.geocode(address, self.out_crs),
        })
    }

    fn tally(&self, answer: &GeocodedRow) -> RowTally {
        match &answer.result {
            Some(result) if is_division(&result.matched) => RowTally::Division,
            Some(_) => RowTally::Matched,
            None => RowTally::Unmatched,
        }
    }

    fn cells(&self, answer: &GeocodedRow) -> Vec<String> {
        let Some(result) = &answer.result else {
            return Vec::new();
        };
        let number = |value: Option<f64>| value.map(|value| value.to_string()).unwrap_or_default();
        let best = &result.matched;
        vec![
            best.code.clone(),
            best.address.clone(),
            best.level.as_str().to_owned(),
            format_confidence(best.confidence),
            number(result.lon),
            number(result.lat),
        ]
    }
}
