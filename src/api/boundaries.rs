//! `/v1/boundaries`: the county boundary lines of the registry's polygons, and the
//! addresses registered on the wrong side of one.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::extract::{PathParams, QueryParams, division_prefix_parameter};
use super::geocoding::crs_parameter;
use crate::error::{ErrorBody, RequestError, Result};
use crate::geo::{Crs, round_degrees};
use crate::inspection::county_lines::{MAX_MISPLACED_WITHIN_M, MisplacedAddress, line_id};
use crate::inspection::lines::BoundaryLine;
use crate::matching::DivisionSummary;

const DEFAULT_MISPLACED_WITHIN_M: f64 = 500.0;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineSummary {
    /// `330212-330213`: the two county codes, lower first.
    pub id: String,
    pub a: DivisionSummary,
    pub b: DivisionSummary,
    /// Geodesic length on the WGS84 ellipsoid.
    pub length_m: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineList {
    pub lines: Vec<LineSummary>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineView {
    #[serde(flatten)]
    pub line: LineSummary,
    /// GeoJSON LineString or MultiLineString in `crs`.
    #[schema(value_type = Object)]
    pub geometry: Value,
    pub crs: Crs,
}

fn summary(state: &AppState, line: &BoundaryLine) -> LineSummary {
    let divisions = state.registry.divisions();
    let side = |code: &str| {
        let level = divisions
            .get(code)
            .map_or(crate::domain::division::DivisionLevel::County, |d| d.level);
        DivisionSummary {
            code: code.to_owned(),
            level,
            names: divisions.address_names(code, true),
        }
    };
    LineSummary {
        id: line_id(line),
        a: side(&line.a),
        b: side(&line.b),
        length_m: (line.length_m * 100.0).round() / 100.0,
    }
}

fn checked_line<'a>(state: &'a AppState, id: &str) -> Result<&'a BoundaryLine> {
    state
        .boundaries
        .line(id)
        .ok_or_else(|| RequestError::BoundaryNotFound(id.to_owned()).into())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LineListQuery {
    /// Only lines with this county on one side (a 2- to 12-digit code prefix).
    pub division: Option<String>,
}

/// Every pair of adjacent counties among the registry's polygons, with the length of
/// their common line.
#[utoipa::path(get, path = "/v1/boundaries", tag = "boundaries", params(LineListQuery),
    responses((status = 200, body = LineList), (status = 400, body = ErrorBody)))]
pub async fn list_lines(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<LineListQuery>,
) -> Result<Json<LineList>> {
    let prefix = division_prefix_parameter(query.division.as_deref())?;
    let lines = state
        .boundaries
        .lines()
        .iter()
        .filter(|line| {
            prefix
                .as_deref()
                .is_none_or(|prefix| line.a.starts_with(prefix) || line.b.starts_with(prefix))
        })
        .map(|line| summary(&state, line))
        .collect();
    Ok(Json(LineList { lines }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LineQuery {
    /// System of the returned geometry: `wgs84` (default), `gcj02` or `bd09`.
    pub out_crs: Option<String>,
}

#[utoipa::path(get, path = "/v1/boundaries/{id}", tag = "boundaries",
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213"), LineQuery),
    responses((status = 200, body = LineView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_line(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<LineQuery>,
) -> Result<Json<LineView>> {
    let crs = crs_parameter(query.out_crs.as_deref())?;
    let line = checked_line(&state, &id)?;
    let parts: Vec<Vec<[f64; 2]>> = line
        .geometry
        .0
        .iter()
        .map(|part| {
            part.coords()
                .map(|coord| {
                    let (lon, lat) = crs.from_wgs84(coord.x, coord.y);
                    [round_degrees(lon), round_degrees(lat)]
                })
                .collect()
        })
        .collect();
    let geometry = if parts.len() == 1 {
        json!({"type": "LineString", "coordinates": parts[0]})
    } else {
        json!({"type": "MultiLineString", "coordinates": parts})
    };
    Ok(Json(LineView {
        line: summary(&state, line),
        geometry,
        crs,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MisplacedQuery {
    /// Width of the band on each side of the line, in metres: above 0, at most 5000;
    /// default 500.
    pub within_m: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MisplacedList {
    pub line: String,
    pub within_m: f64,
    /// Nearest the line first. Points are WGS84.
    pub addresses: Vec<MisplacedAddress>,
}

/// Standard addresses within `within_m` of the line whose registered county is not the
/// county whose polygon holds their point.
#[utoipa::path(get, path = "/v1/boundaries/{id}/misplaced-addresses", tag = "boundaries",
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213"), MisplacedQuery),
    responses((status = 200, body = MisplacedList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn misplaced_addresses(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<MisplacedQuery>,
) -> Result<Json<MisplacedList>> {
    let within_m = query.within_m.unwrap_or(DEFAULT_MISPLACED_WITHIN_M);
    if !(within_m > 0.0 && within_m <= MAX_MISPLACED_WITHIN_M) {
        return Err(RequestError::InvalidRequest(format!(
            "within_m must be above 0 and at most {MAX_MISPLACED_WITHIN_M}; got {within_m}"
        ))
        .into());
    }
    let line = checked_line(&state, &id)?;
    let index = state
        .registry
        .address_index()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let addresses = state.boundaries.misplaced_addresses(line, within_m, &index);
    Ok(Json(MisplacedList {
        line: line_id(line),
        within_m,
        addresses,
    }))
}
