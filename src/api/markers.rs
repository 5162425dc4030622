//! `/v1/boundaries/{id}/markers`: the register of a line's boundary markers (界桩).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::boundaries::CrsQuery;
use super::extract::{JsonBody, PathParams, QueryParams, SurveyorKey, TextBody};
use super::geocoding::crs_parameter;
use crate::domain::boundary::BoundaryMarker;
use crate::error::{ErrorBody, Result};
use crate::inspection::service::MarkerRequest;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MarkerList {
    pub line: String,
    /// By number. Positions are WGS84.
    pub markers: Vec<BoundaryMarker>,
}

/// The line's registered markers.
#[utoipa::path(get, path = "/v1/boundaries/{id}/markers", tag = "boundaries",
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213")),
    responses((status = 200, body = MarkerList), (status = 404, body = ErrorBody)))]
pub async fn list_markers(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<MarkerList>> {
    let markers = state.inspections.markers(&id).await?;
    Ok(Json(MarkerList { line: id, markers }))
}

/// Import a marker register: CSV `number,lon,lat[,type,line]` with a header row (and
/// an optional `note`), UTF-8 or GBK. Every row is checked first: one bad row rejects
/// the file with `invalid_rows`, listing each bad line, and nothing is written.
#[utoipa::path(post, path = "/v1/boundaries/{id}/markers", tag = "boundaries",
    request_body(content = String, content_type = "text/csv"),
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213"), CrsQuery),
    security(("api_key" = [])),
    responses((status = 200, body = MarkerList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Bad rows (invalid_rows), each listed in details.rows")))]
pub async fn import_markers(
    State(state): State<AppState>,
    SurveyorKey(actor): SurveyorKey,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<CrsQuery>,
    TextBody(csv): TextBody,
) -> Result<Json<MarkerList>> {
    let crs = crs_parameter(query.crs.as_deref())?;
    let markers = state
        .inspections
        .import_markers(&id, &csv, crs, &actor)
        .await?;
    Ok(Json(MarkerList { line: id, markers }))
}

#[derive(Debug, Deserialize)]
pub struct MarkerPath {
    pub id: String,
    pub number: String,
}

#[utoipa::path(get, path = "/v1/boundaries/{id}/markers/{number}", tag = "boundaries",
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213"),
        ("number" = String, Path, description = "The printed marker number, e.g. 鄞奉12A")),
    responses((status = 200, body = BoundaryMarker), (status = 404, body = ErrorBody)))]
pub async fn get_marker(
    State(state): State<AppState>,
    PathParams(path): PathParams<MarkerPath>,
) -> Result<Json<BoundaryMarker>> {
    Ok(Json(
        state.inspections.marker(&path.id, &path.number).await?,
    ))
}

/// Register a marker, or replace its registered particulars, with its landmarks.
#[utoipa::path(put, path = "/v1/boundaries/{id}/markers/{number}", tag = "boundaries",
    request_body = MarkerRequest,
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213"),
        ("number" = String, Path, description = "The printed marker number, e.g. 鄞奉12A"), CrsQuery),
    security(("api_key" = [])),
    responses((status = 200, body = BoundaryMarker), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn put_marker(
    State(state): State<AppState>,
    SurveyorKey(actor): SurveyorKey,
    PathParams(path): PathParams<MarkerPath>,
    QueryParams(query): QueryParams<CrsQuery>,
    JsonBody(request): JsonBody<MarkerRequest>,
) -> Result<Json<BoundaryMarker>> {
    let crs = crs_parameter(query.crs.as_deref())?;
    Ok(Json(
        state
            .inspections
            .put_marker(&path.id, &path.number, request, crs, &actor)
            .await?,
    ))
}

/// Remove a marker from the register (one registered in error). Past reports keep it.
#[utoipa::path(delete, path = "/v1/boundaries/{id}/markers/{number}", tag = "boundaries",
    params(("id" = String, Path, description = "Two county codes, e.g. 330212-330213"),
        ("number" = String, Path, description = "The printed marker number")),
    security(("api_key" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_marker(
    State(state): State<AppState>,
    SurveyorKey(actor): SurveyorKey,
    PathParams(path): PathParams<MarkerPath>,
) -> Result<StatusCode> {
    state
        .inspections
        .delete_marker(&path.id, &path.number, &actor)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
