//! Geocoding (address → point) and reverse geocoding (point → division and nearby
//! standard addresses). Engines only: coordinates come in and go out in WGS84 /
//! CGCS2000 plus a [`Crs`] for the answer; the HTTP and batch layers convert input.

pub mod batch;

use std::collections::HashMap;
use std::sync::Arc;

use compact_str::CompactString;
use serde::Serialize;

use crate::geo::{Crs, round_degrees};
use crate::index::polygons::DivisionPolygons;
use crate::matching::batch::is_division;
use crate::matching::{
    AddressMatch, DivisionSummary, MatchEngine, MatchLevel, MatchOptions, level_of_entry,
};

/// Reverse lookups search this far by default, in metres.
pub const DEFAULT_REVERSE_RADIUS_M: f64 = 200.0;
/// The largest search radius: beyond it "nearby" stops meaning anything and one query
/// could sweep a whole district.
pub const MAX_REVERSE_RADIUS_M: f64 = 5_000.0;
pub const DEFAULT_REVERSE_LIMIT: usize = 10;
pub const MAX_REVERSE_LIMIT: usize = 100;

/// A standard address near the query point.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NearbyAddress {
    // Codes and source ids are short and are held inline: a reverse lookup answers with
    // up to a hundred addresses, and allocating each piece was a large part of its cost.
    #[schema(value_type = String)]
    pub code: CompactString,
    #[schema(value_type = Option<String>)]
    pub source_id: Option<CompactString>,
    /// Standard text.
    pub address: String,
    pub level: MatchLevel,
    /// Geodesic distance from the query point, in metres (centimetre precision).
    pub distance_m: f64,
    /// The registered point, in the requested output system.
    pub lon: f64,
    pub lat: f64,
    /// 12-digit code of the division the address is registered under.
    #[schema(value_type = String)]
    pub division_code: CompactString,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReverseResult {
    /// The deepest division whose polygon contains the point; null outside every
    /// polygon the registry holds.
    #[schema(value_type = Option<DivisionSummary>)]
    pub division: Option<Arc<DivisionSummary>>,
    /// Nearest first.
    pub addresses: Vec<NearbyAddress>,
}

/// Where a geocoded point comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PointSource {
    /// The point registered with the standard address.
    Address,
    /// A point inside the polygon of `point_division` (the answer has no point of its
    /// own, or is a division).
    Division,
}

/// The best match for the text, as `/v1/match` gives it, with its point.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Geocoded {
    #[serde(flatten)]
    pub matched: AddressMatch,
    /// The point in the requested output system; absent when neither the address
    /// nor any division above it has a location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_source: Option<PointSource>,
    /// The division whose polygon gave the point, when `point_source` is `division`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_division: Option<String>,
}

pub struct Geocoder {
    matcher: Arc<MatchEngine>,
    polygons: Arc<DivisionPolygons>,
    /// The summary of every division with a polygon, built once: a reverse lookup
    /// hands out a shared copy instead of composing names each time.
    summaries: HashMap<u64, Arc<DivisionSummary>>,
}

impl Geocoder {
    pub fn new(matcher: Arc<MatchEngine>, polygons: Arc<DivisionPolygons>) -> Self {
        let summaries = polygons
            .divisions()
            .map(|division| (division.code, Arc::new(matcher.summary(&division))))
            .collect();
        Geocoder {
            matcher,
            polygons,
            summaries,
        }
    }

    pub fn matcher(&self) -> &Arc<MatchEngine> {
        &self.matcher
    }

    pub fn polygons(&self) -> &DivisionPolygons {
        &self.polygons
    }

    /// The division containing the WGS84 point and the standard addresses within
    /// `radius_m`, nearest first, with points given in `out`.
    pub fn reverse(
        &self,
        lon: f64,
        lat: f64,
        radius_m: f64,
        limit: usize,
        out: Crs,
    ) -> ReverseResult {
        let index = self
            .matcher
            .addresses()
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let nearby = index.nearest(lon, lat, radius_m, limit);
        let positions = || nearby.iter().map(|nearby| nearby.position);
        // Each answer's entry and text are a cache miss of their own; they are asked
        // for first, and the polygon test runs while they arrive.
        index.prefetch_entries(positions());
        let division = self
            .polygons
            .deepest_containing(lon, lat)
            .and_then(|division| self.summaries.get(&division.code).cloned());
        index.prefetch_texts(positions());
        let mut addresses = Vec::with_capacity(nearby.len());
        for nearby in nearby {
            let Some(entry) = index.get(nearby.position) else {
                continue;
            };
            let Some((point_lon, point_lat)) = entry.point else {
                continue;
            };
            let (out_lon, out_lat) = out.from_wgs84(point_lon, point_lat);
            addresses.push(NearbyAddress {
                code: CompactString::new(entry.code()),
                source_id: entry.source_id().map(CompactString::new),
                address: entry.standard_text().to_owned(),
                level: level_of_entry(entry),
                distance_m: (nearby.distance_m * 100.0).round() / 100.0,
                lon: round_degrees(out_lon),
                lat: round_degrees(out_lat),
                division_code: crate::index::divisions::format_code_inline(entry.division),
            });
        }
        ReverseResult {
            division,
            addresses,
        }
    }

    /// The best standard address (or division) for free text, with its point in
    /// `out`. `None` when the text names nothing the registry knows.
    pub fn geocode(&self, text: &str, out: Crs) -> Option<Geocoded> {
        let options = MatchOptions {
            limit: Some(1),
            division: None,
        };
        let best = self
            .matcher
            .match_address(text, &options)
            .into_iter()
            .next()?;
        let registered_point = if is_division(&best) {
            None
        } else {
            let index = self
                .matcher
                .addresses()
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            index.by_code(&best.code).and_then(|entry| entry.point)
        };
        let (point, point_source, point_division) = match registered_point {
            Some(point) => (Some(point), Some(PointSource::Address), None),
            None => match self.division_point(&best.division.code) {
                Some((code, point)) => (
                    Some(point),
                    Some(PointSource::Division),
                    Some(format!("{code:012}")),
                ),
                None => (None, None, None),
            },
        };
        let converted = point.map(|(lon, lat)| out.from_wgs84(lon, lat));
        Some(Geocoded {
            matched: best,
            lon: converted.map(|(lon, _)| round_degrees(lon)),
            lat: converted.map(|(_, lat)| round_degrees(lat)),
            point_source,
            point_division,
        })
    }

    /// A point inside the division's polygon, or inside its nearest ancestor's that
    /// has one, with that division's code.
    fn division_point(&self, code: &str) -> Option<(u64, (f64, f64))> {
        let code: u64 = code.parse().ok()?;
        // Zeroing digit groups walks village → town → county → city → province.
        let ancestors = [1, 1_000, 1_000_000, 100_000_000, 10_000_000_000]
            .into_iter()
            .map(|divisor| code / divisor * divisor);
        let mut previous = None;
        for ancestor in ancestors {
            if previous == Some(ancestor) {
                continue;
            }
            previous = Some(ancestor);
            if let Some(point) = self.polygons.representative_point(ancestor) {
                return Some((ancestor, point));
            }
        }
        None
    }
}
