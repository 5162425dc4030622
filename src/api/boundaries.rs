//! `/v1/boundaries`: the county boundary lines of the registry's polygons, their
//! registration (name, agreement, tolerances, official geometry), and the addresses
//! registered on the wrong side of one.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::extract::{
    JsonBody, PathParams, QueryParams, SurveyorKey, TextBody, division_prefix_parameter,
};
use super::geocoding::crs_parameter;
use crate::error::{ErrorBody, RequestError, Result};
use crate::geo::{Crs, round_degrees};
use crate::inspection::county_lines::{
    DEFAULT_MISPLACED_WITHIN_M, MAX_MISPLACED_WITHIN_M, MisplacedAddress, line_id,
};
use crate::inspection::lines::BoundaryLine;
use crate::inspection::service::{LineRegistration, lines_geojson};
use crate::matching::DivisionSummary;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineSummary {
    /// `330212-330213`: the two county codes, lower first.
    pub id: String,
    pub a: DivisionSummary,
    pub b: DivisionSummary,
    /// The registered name, e.g. 鄞奉线; null until the line is registered.
    pub name: Option<String>,
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
    /// The boundary agreement (界线协议书) the line rests on.
    pub agreement: Option<String>,
    /// Marker displacement allowed before a marker is reported.
    pub marker_tolerance_m: f64,
    /// Offset of a surveyed track allowed before it is reported.
    pub line_tolerance_m: f64,
    /// GeoJSON LineString or MultiLineString in `crs`: the edge the two counties'
    /// polygons share.
    #[schema(value_type = Object)]
    pub geometry: Value,
    /// The imported official line in `crs`, when there is one; surveyed tracks are
    /// measured against it.
    #[schema(value_type = Option<Object>)]
    pub official_geometry: Option<Value>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub crs: Crs,
}

fn summary(state: &AppState, line: &BoundaryLine, name: Option<String>) -> LineSummary {
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
        name,
        length_m: (line.length_m * 100.0).round() / 100.0,
    }
}

fn checked_line<'a>(state: &'a AppState, id: &str) -> Result<&'a BoundaryLine> {
    Ok(state.inspections.line(id)?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    let mut settings = state.inspections.all_settings().await?;
    let lines = state
        .boundaries
        .lines()
        .iter()
        .filter(|line| {
            prefix
                .as_deref()
                .is_none_or(|prefix| line.a.starts_with(prefix) || line.b.starts_with(prefix))
        })
        .map(|line| {
            let name = settings
                .remove(&line_id(line))
                .and_then(|settings| settings.name);
            summary(&state, line, name)
        })
        .collect();
    Ok(Json(LineList { lines }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    line_view(&state, &id, crs).await.map(Json)
}

/// Converts GeoJSON line geometry (WGS84) into `crs`.
fn line_geometry_in(geometry: &Value, crs: Crs) -> Value {
    fn convert(value: &Value, crs: Crs) -> Value {
        match value.as_array() {
            Some(items) if items.first().is_some_and(Value::is_number) => {
                let (lon, lat) = (
                    items[0].as_f64().unwrap_or_default(),
                    items.get(1).and_then(Value::as_f64).unwrap_or_default(),
                );
                let (lon, lat) = crs.from_wgs84(lon, lat);
                json!([round_degrees(lon), round_degrees(lat)])
            }
            Some(items) => Value::Array(items.iter().map(|item| convert(item, crs)).collect()),
            None => value.clone(),
        }
    }
    json!({"type": geometry["type"], "coordinates": convert(&geometry["coordinates"], crs)})
}

async fn line_view(state: &AppState, id: &str, crs: Crs) -> Result<LineView> {
    let line = checked_line(state, id)?;
    let settings = state.inspections.settings(id).await?;
    let derived = lines_geojson(&line.geometry.0);
    Ok(LineView {
        line: summary(state, line, settings.name.clone()),
        agreement: settings.agreement,
        marker_tolerance_m: settings.marker_tolerance_m,
        line_tolerance_m: settings.line_tolerance_m,
        geometry: line_geometry_in(&derived, crs),
        official_geometry: settings
            .official_geometry
            .as_ref()
            .map(|geometry| line_geometry_in(geometry, crs)),
        updated_at: settings.updated_at,
        crs,
    })
}

/// Register a line: its name, the agreement it rests on and its tolerances. Fields left
/// out are cleared (name, agreement) or set to their defaults (tolerances); an
/// imported official geometry is kept.
#[utoipa::path(put, path = "/v1/boundaries/{id}", tag = "boundaries", request_body = LineRegistration,
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213")),
    security(("api_key" = [])),
    responses((status = 200, body = LineView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn register_line(
    State(state): State<AppState>,
    SurveyorKey(actor): SurveyorKey,
    PathParams(id): PathParams<String>,
    JsonBody(registration): JsonBody<LineRegistration>,
) -> Result<Json<LineView>> {
    state
        .inspections
        .register_line(&id, registration, &actor)
        .await?;
    line_view(&state, &id, Crs::Wgs84).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CrsQuery {
    /// System of the coordinates sent: `wgs84` (default), `cgcs2000`, `gcj02` or `bd09`.
    pub crs: Option<String>,
}

/// Import the official line (from the boundary agreement's map) as GeoJSON: a
/// FeatureCollection, Feature or bare LineString/MultiLineString.
#[utoipa::path(put, path = "/v1/boundaries/{id}/geometry", tag = "boundaries",
    request_body(content = String, content_type = "application/geo+json"),
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213"), CrsQuery),
    security(("api_key" = [])),
    responses((status = 200, body = LineView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn import_official_line(
    State(state): State<AppState>,
    SurveyorKey(actor): SurveyorKey,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<CrsQuery>,
    TextBody(geojson): TextBody,
) -> Result<Json<LineView>> {
    let crs = crs_parameter(query.crs.as_deref())?;
    state
        .inspections
        .import_official_line(&id, &geojson, crs, &actor)
        .await?;
    line_view(&state, &id, Crs::Wgs84).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
