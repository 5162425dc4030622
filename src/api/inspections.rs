//! Inspection rounds (联检): `/v1/boundaries/{id}/inspections` to open and list a
//! line's rounds and compare them, and `/v1/inspections/{round}` for what a round
//! observed and its stored report.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::boundaries::CrsQuery;
use super::extract::{JsonBody, PathParams, QueryParams, SurveyorKey, TextBody};
use super::geocoding::crs_parameter;
use crate::domain::boundary::{InspectionRound, MarkerObservation, StoredReport};
use crate::error::{ErrorBody, RequestError, Result};
use crate::inspection::service::{RoundComparison, RoundRequest};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoundList {
    pub line: String,
    /// Oldest first.
    pub rounds: Vec<InspectionRound>,
}

/// Open an inspection round of the line.
#[utoipa::path(post, path = "/v1/boundaries/{id}/inspections", tag = "inspections",
    request_body = RoundRequest,
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213")),
    security(("api_key" = [])),
    responses((status = 201, body = InspectionRound), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_round(
    State(state): State<AppState>,
    SurveyorKey(actor): SurveyorKey,
    PathParams(id): PathParams<String>,
    JsonBody(request): JsonBody<RoundRequest>,
) -> Result<(StatusCode, Json<InspectionRound>)> {
    let round = state.inspections.create_round(&id, request, &actor).await?;
    Ok((StatusCode::CREATED, Json(round)))
}

#[utoipa::path(get, path = "/v1/boundaries/{id}/inspections", tag = "inspections",
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213")),
    responses((status = 200, body = RoundList), (status = 404, body = ErrorBody)))]
pub async fn list_rounds(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<RoundList>> {
    let rounds = state.inspections.rounds(&id).await?;
    Ok(Json(RoundList { line: id, rounds }))
}

/// The line's rounds side by side, from their stored reports: the counts of each
/// round, and each marker's condition and displacement round by round.
#[utoipa::path(get, path = "/v1/boundaries/{id}/inspections/comparison", tag = "inspections",
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213")),
    responses((status = 200, body = RoundComparison), (status = 404, body = ErrorBody)))]
pub async fn compare_rounds(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<RoundComparison>> {
    Ok(Json(state.inspections.compare_rounds(&id).await?))
}

#[utoipa::path(get, path = "/v1/inspections/{round}", tag = "inspections",
    params(("round" = i64, Path, description = "Round id")),
    responses((status = 200, body = InspectionRound), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_round(
    State(state): State<AppState>,
    PathParams(round): PathParams<i64>,
) -> Result<Json<InspectionRound>> {
    Ok(Json(state.inspections.round(round).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObservationList {
    pub round: i64,
    /// By marker number. Positions are WGS84.
    pub observations: Vec<MarkerObservation>,
}

#[utoipa::path(get, path = "/v1/inspections/{round}/observations", tag = "inspections",
    params(("round" = i64, Path, description = "Round id")),
    responses((status = 200, body = ObservationList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_observations(
    State(state): State<AppState>,
    PathParams(round): PathParams<i64>,
) -> Result<Json<ObservationList>> {
    let observations = state.inspections.observations(round).await?;
    Ok(Json(ObservationList {
        round,
        observations,
    }))
}

/// Import field observations: CSV `number,lon,lat,condition[,note]` with a header row,
/// and an optional `photos` column of file names separated by `;`. A missing marker has
/// empty coordinates; condition is one of intact, damaged, missing, moved,
/// inscription_faded, landmark_missing. All rows or none; a marker observed again
/// replaces its earlier observation.
#[utoipa::path(post, path = "/v1/inspections/{round}/observations", tag = "inspections",
    request_body(content = String, content_type = "text/csv"),
    params(("round" = i64, Path, description = "Round id"), CrsQuery),
    security(("api_key" = [])),
    responses((status = 200, body = ObservationList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Bad rows (invalid_rows), each listed in details.rows")))]
pub async fn import_observations(
    State(state): State<AppState>,
    SurveyorKey(actor): SurveyorKey,
    PathParams(round): PathParams<i64>,
    QueryParams(query): QueryParams<CrsQuery>,
    TextBody(csv): TextBody,
) -> Result<Json<ObservationList>> {
    let crs = crs_parameter(query.crs.as_deref())?;
    let observations = state
        .inspections
        .import_observations(round, &csv, crs, &actor)
        .await?;
    Ok(Json(ObservationList {
        round,
        observations,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrackList {
    pub round: i64,
    /// The stored tracks' names, from each feature's `name` property or its position.
    pub tracks: Vec<String>,
}

/// Replace the round's surveyed tracks with the line features of a GeoJSON document.
#[utoipa::path(put, path = "/v1/inspections/{round}/tracks", tag = "inspections",
    request_body(content = String, content_type = "application/geo+json"),
    params(("round" = i64, Path, description = "Round id"), CrsQuery),
    security(("api_key" = [])),
    responses((status = 200, body = TrackList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn import_tracks(
    State(state): State<AppState>,
    SurveyorKey(actor): SurveyorKey,
    PathParams(round): PathParams<i64>,
    QueryParams(query): QueryParams<CrsQuery>,
    TextBody(geojson): TextBody,
) -> Result<Json<TrackList>> {
    let crs = crs_parameter(query.crs.as_deref())?;
    let tracks = state
        .inspections
        .import_tracks(round, &geojson, crs, &actor)
        .await?;
    Ok(Json(TrackList { round, tracks }))
}

/// Submit one side's county outline (GeoJSON polygons) for the round's topology check.
/// When both sides have submitted theirs, the report checks them against each other;
/// otherwise it checks the registry's polygons.
#[utoipa::path(put, path = "/v1/inspections/{round}/outlines/{county}", tag = "inspections",
    request_body(content = String, content_type = "application/geo+json"),
    params(("round" = i64, Path, description = "Round id"),
        ("county" = String, Path, description = "Six-digit code of one of the line's counties"), CrsQuery),
    security(("api_key" = [])),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn import_outline(
    State(state): State<AppState>,
    SurveyorKey(actor): SurveyorKey,
    PathParams((round, county)): PathParams<(i64, String)>,
    QueryParams(query): QueryParams<CrsQuery>,
    TextBody(geojson): TextBody,
) -> Result<StatusCode> {
    let crs = crs_parameter(query.crs.as_deref())?;
    state
        .inspections
        .import_outline(round, &county, &geojson, crs, &actor)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportReceipt {
    pub round: i64,
    pub built_at: chrono::DateTime<chrono::Utc>,
    pub built_by: String,
    /// Where the stored report is served, as JSON; add `?format=geojson` or `html`.
    pub report: String,
}

fn receipt(report: &StoredReport) -> ReportReceipt {
    ReportReceipt {
        round: report.round_id,
        built_at: report.built_at,
        built_by: report.built_by.clone(),
        report: format!("/v1/inspections/{}/report", report.round_id),
    }
}

/// Build the round's report from the register and observations as they stand, and
/// store it, replacing an earlier one. Takes seconds: the topology check covers both
/// whole counties.
#[utoipa::path(post, path = "/v1/inspections/{round}/report", tag = "inspections",
    params(("round" = i64, Path, description = "Round id")),
    security(("api_key" = [])),
    responses((status = 201, body = ReportReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn build_report(
    State(state): State<AppState>,
    SurveyorKey(actor): SurveyorKey,
    PathParams(round): PathParams<i64>,
) -> Result<(StatusCode, Json<ReportReceipt>)> {
    let report = state.inspections.build_report(round, &actor).await?;
    Ok((StatusCode::CREATED, Json(receipt(&report))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default), `geojson` (a FeatureCollection: markers coloured by finding,
    /// overlaps, gaps) or `html` (the printable 联检报告).
    pub format: Option<String>,
}

/// The round's stored report, exactly as it was built.
#[utoipa::path(get, path = "/v1/inspections/{round}/report", tag = "inspections",
    params(("round" = i64, Path, description = "Round id"), ReportQuery),
    responses((status = 200, description = "The report as JSON, GeoJSON or HTML",
            content((Object = "application/json"), (Object = "application/geo+json"), (String = "text/html"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_report(
    State(state): State<AppState>,
    PathParams(round): PathParams<i64>,
    QueryParams(query): QueryParams<ReportQuery>,
) -> Result<Response> {
    let (content_type, pick): (&str, fn(StoredReport) -> String) =
        match query.format.as_deref().unwrap_or("json") {
            "json" => ("application/json", |report| report.json),
            "geojson" => ("application/geo+json", |report| report.geojson),
            "html" => ("text/html; charset=utf-8", |report| report.html),
            other => {
                return Err(RequestError::InvalidRequest(format!(
                    "format must be json, geojson or html; got {other:?}"
                ))
                .into());
            }
        };
    let report = state.inspections.report(round).await?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        pick(report),
    )
        .into_response())
}
