//! `/v1/doorplates`: issue plates, their QR codes and printable faces, revoke and
//! replace them, and read the scan log.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::{
    AdminKey, EditorKey, JsonBody, PathParams, QueryParams, division_prefix_parameter,
};
use super::page_size;
use crate::domain::division::DivisionLevel;
use crate::domain::doorplate::PlateSize;
use crate::doorplate::{BatchPlateOutcome, PlateRequest, PlateView};
use crate::error::{ErrorBody, RequestError, Result};
use crate::matching::DivisionSummary;
use crate::store::{ScanEntry, ScanStatisticsQuery};

/// Issue a plate for a standard address.
#[utoipa::path(post, path = "/v1/doorplates", tag = "doorplates", request_body = PlateRequest,
    security(("api_key" = [])),
    responses((status = 201, body = PlateView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "The address is retired (address_retired)"),
        (status = 422, body = ErrorBody, description = "No such address (unknown_address)")))]
pub async fn issue_plate(
    State(state): State<AppState>,
    EditorKey(actor): EditorKey,
    JsonBody(request): JsonBody<PlateRequest>,
) -> Result<(StatusCode, Json<PlateView>)> {
    let plate = state.doorplates.issue(&request, &actor).await?;
    Ok((StatusCode::CREATED, Json(plate)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchPlateRequest {
    /// 1 to 10,000 plates.
    pub plates: Vec<PlateRequest>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchPlateResponse {
    pub issued: usize,
    pub rejected: usize,
    /// One entry per requested plate, in request order.
    pub results: Vec<BatchPlateOutcome>,
}

/// Issue plates for many addresses at once. Valid rows are issued in one transaction;
/// each invalid row is reported with its error code.
#[utoipa::path(post, path = "/v1/doorplates/batch", tag = "doorplates", request_body = BatchPlateRequest,
    security(("api_key" = [])),
    responses((status = 200, body = BatchPlateResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn issue_plates(
    State(state): State<AppState>,
    EditorKey(actor): EditorKey,
    JsonBody(request): JsonBody<BatchPlateRequest>,
) -> Result<Json<BatchPlateResponse>> {
    let results = state
        .doorplates
        .issue_batch(&request.plates, &actor)
        .await?;
    let issued = results
        .iter()
        .filter(|outcome| matches!(outcome, BatchPlateOutcome::Issued { .. }))
        .count();
    Ok(Json(BatchPlateResponse {
        issued,
        rejected: results.len() - issued,
        results,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlatesOfAddressQuery {
    /// The 20-character address code.
    #[param(required = true, min_length = 20, max_length = 20)]
    pub address_code: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlateList {
    /// Oldest first.
    pub plates: Vec<PlateView>,
}

/// The plates ever issued for an address.
#[utoipa::path(get, path = "/v1/doorplates", tag = "doorplates", params(PlatesOfAddressQuery),
    responses((status = 200, body = PlateList), (status = 400, body = ErrorBody)))]
pub async fn plates_of_address(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PlatesOfAddressQuery>,
) -> Result<Json<PlateList>> {
    let code = query
        .address_code
        .ok_or_else(|| RequestError::InvalidRequest("address_code is required".into()))?;
    let plates = state.doorplates.plates_of_address(&code).await?;
    Ok(Json(PlateList { plates }))
}

#[utoipa::path(get, path = "/v1/doorplates/{id}", tag = "doorplates",
    params(("id" = i64, Path, description = "Plate id")),
    responses((status = 200, body = PlateView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_plate(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<Json<PlateView>> {
    Ok(Json(state.doorplates.plate(id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why the plate is withdrawn (stolen, address retired, issued in error …).
    pub reason: String,
}

/// Revoke a plate: its QR code answers 410 from now on.
#[utoipa::path(post, path = "/v1/doorplates/{id}/revoke", tag = "doorplates", request_body = RevokeRequest,
    params(("id" = i64, Path, description = "Plate id")), security(("api_key" = [])),
    responses((status = 200, body = PlateView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already replaced or revoked (doorplate_not_current)")))]
pub async fn revoke_plate(
    State(state): State<AppState>,
    EditorKey(actor): EditorKey,
    PathParams(id): PathParams<i64>,
    JsonBody(request): JsonBody<RevokeRequest>,
) -> Result<Json<PlateView>> {
    Ok(Json(
        state.doorplates.revoke(id, &request.reason, &actor).await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceRequest {
    /// Why (damaged, faded, lost …).
    pub reason: Option<String>,
    /// The new plate's class; default the old plate's.
    pub size: Option<PlateSize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplaceResponse {
    /// The old plate, now `replaced`.
    pub replaced: PlateView,
    /// The new plate, `issued`, with a new token.
    pub plate: PlateView,
}

/// Replace a plate: a new plate (new token) for the same address; the old QR code
/// answers 410 naming the new plate.
#[utoipa::path(post, path = "/v1/doorplates/{id}/replace", tag = "doorplates", request_body = ReplaceRequest,
    params(("id" = i64, Path, description = "Plate id")), security(("api_key" = [])),
    responses((status = 201, body = ReplaceResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already replaced or revoked, or the address is retired")))]
pub async fn replace_plate(
    State(state): State<AppState>,
    EditorKey(actor): EditorKey,
    PathParams(id): PathParams<i64>,
    JsonBody(request): JsonBody<ReplaceRequest>,
) -> Result<(StatusCode, Json<ReplaceResponse>)> {
    let (replaced, plate) = state
        .doorplates
        .replace(id, request.size, request.reason, &actor)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ReplaceResponse { replaced, plate }),
    ))
}

fn svg_response(svg: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml; charset=utf-8"),
        )],
        svg,
    )
        .into_response()
}

/// The plate's QR code as SVG, quiet zone included.
#[utoipa::path(get, path = "/v1/doorplates/{id}/qr.svg", tag = "doorplates",
    params(("id" = i64, Path, description = "Plate id")),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 404, body = ErrorBody)))]
pub async fn plate_qr_svg(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<Response> {
    let (plate, matrix) = state.doorplates.qr(id).await?;
    Ok(svg_response(matrix.svg(Some(plate.plate.size.qr_mm()))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PngQuery {
    /// Pixels per module, 1 to 32; default 8.
    pub scale: Option<u32>,
}

/// The plate's QR code as a greyscale PNG, quiet zone included.
#[utoipa::path(get, path = "/v1/doorplates/{id}/qr.png", tag = "doorplates",
    params(("id" = i64, Path, description = "Plate id"), PngQuery),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn plate_qr_png(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    QueryParams(query): QueryParams<PngQuery>,
) -> Result<Response> {
    let scale = query.scale.unwrap_or(8);
    if !(1..=crate::doorplate::render::MAX_PNG_SCALE).contains(&scale) {
        return Err(RequestError::InvalidRequest(format!(
            "scale must be between 1 and {}; got {scale}",
            crate::doorplate::render::MAX_PNG_SCALE
        ))
        .into());
    }
    let (_, matrix) = state.doorplates.qr(id).await?;
    let png = matrix
        .png(scale)
        .map_err(crate::doorplate::DoorplateError::from)?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("image/png"))],
        png,
    )
        .into_response())
}

/// The printable plate face: white on blue, the QR at its class's size, in millimetres.
#[utoipa::path(get, path = "/v1/doorplates/{id}/plate.svg", tag = "doorplates",
    params(("id" = i64, Path, description = "Plate id")),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 404, body = ErrorBody)))]
pub async fn plate_face_svg(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<Response> {
    Ok(svg_response(state.doorplates.plate_svg(id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SheetQuery {
    /// Comma-separated plate ids, at most 200.
    #[param(required = true, min_length = 1)]
    pub ids: Option<String>,
    /// `html` (default) or `svg`.
    pub format: Option<String>,
}

/// A sheet of plate faces for the manufacturer, as an HTML page or one SVG.
#[utoipa::path(get, path = "/v1/doorplates/sheet", tag = "doorplates", params(SheetQuery),
    responses((status = 200, content_type = "text/html", body = String), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn plate_sheet(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<SheetQuery>,
) -> Result<Response> {
    let ids = query
        .ids
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            part.trim().parse::<i64>().map_err(|_| {
                RequestError::InvalidRequest(format!("ids must be plate ids; got {part:?}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let html = match query.format.as_deref() {
        None | Some("html") => true,
        Some("svg") => false,
        Some(other) => {
            return Err(RequestError::InvalidRequest(format!(
                "format must be html or svg; got {other:?}"
            ))
            .into());
        }
    };
    let sheet = state.doorplates.sheet(&ids, html).await?;
    Ok(if html {
        Html(sheet).into_response()
    } else {
        svg_response(sheet)
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanPageQuery {
    /// Return scans with an id greater than this.
    pub after: Option<i64>,
    /// At most 1000; default 100.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScanPage {
    /// Oldest first.
    pub scans: Vec<ScanEntry>,
}

/// The scan log of one plate (admin).
#[utoipa::path(get, path = "/v1/doorplates/{id}/scans", tag = "doorplates",
    params(("id" = i64, Path, description = "Plate id"), ScanPageQuery), security(("api_key" = [])),
    responses((status = 200, body = ScanPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn plate_scans(
    State(state): State<AppState>,
    _admin: AdminKey,
    PathParams(id): PathParams<i64>,
    QueryParams(query): QueryParams<ScanPageQuery>,
) -> Result<Json<ScanPage>> {
    let limit = page_size(query.limit, 100, 1000)?;
    let scans = state.doorplates.scans(id, query.after, limit).await?;
    Ok(Json(ScanPage { scans }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanStatisticsParams {
    /// Only plates in this division (a 2- to 12-digit code prefix or a full code).
    pub division: Option<String>,
    /// Group by `province`, `city`, `county` (default), `town` or `village`.
    pub level: Option<String>,
    /// From this time (RFC 3339), inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Until this time (RFC 3339), exclusive.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScanStatisticsGroup {
    /// The division (null when the code prefix is not a known division).
    pub division: Option<DivisionSummary>,
    pub division_prefix: String,
    pub scans: i64,
    /// Distinct plates scanned.
    pub plates: i64,
    /// Distinct clients, counted per day.
    pub clients: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScanStatistics {
    pub groups: Vec<ScanStatisticsGroup>,
}

/// Scan counts per division (admin).
#[utoipa::path(get, path = "/v1/doorplates/scan-statistics", tag = "doorplates", params(ScanStatisticsParams),
    security(("api_key" = [])),
    responses((status = 200, body = ScanStatistics), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn scan_statistics(
    State(state): State<AppState>,
    _admin: AdminKey,
    QueryParams(params): QueryParams<ScanStatisticsParams>,
) -> Result<Json<ScanStatistics>> {
    let level = match params.level.as_deref() {
        None => DivisionLevel::County,
        Some(text) => DivisionLevel::parse(text).ok_or_else(|| {
            RequestError::InvalidRequest(format!(
                "level must be province, city, county, town or village; got {text:?}"
            ))
        })?,
    };
    let division_prefix = division_prefix_parameter(params.division.as_deref())?;
    let query = ScanStatisticsQuery {
        division_prefix,
        group_digits: level.significant_digits(),
        from_ms: params.from.map(|time| time.timestamp_millis()),
        to_ms: params.to.map(|time| time.timestamp_millis()),
    };
    let groups = state
        .doorplates
        .scan_statistics(&query)
        .await?
        .into_iter()
        .map(|(group, division)| ScanStatisticsGroup {
            division,
            division_prefix: group.division_prefix,
            scans: group.scans,
            plates: group.plates,
            clients: group.clients,
        })
        .collect();
    Ok(Json(ScanStatistics { groups }))
}
