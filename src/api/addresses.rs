//! `/v1/addresses`: register, read, change, retire and list standard addresses.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::{EditorKey, JsonBody, PathParams, QueryParams, division_prefix_parameter};
use super::{AppState, cursor, page_size};
use crate::domain::address::{AddressStatus, StandardAddress};
use crate::domain::code::validate_address_code;
use crate::error::{ErrorBody, RequestError, Result};
use crate::registry::{AddressDraft, AddressPatch};
use crate::store::{AddressFilter, AddressVersion};

/// Validates the code in the path before it reaches the store.
fn checked_code(code: &str) -> Result<String> {
    Ok(validate_address_code(code)?.code)
}

/// Register a standard address. Components are canonicalised before they are stored.
#[utoipa::path(post, path = "/v1/addresses", tag = "addresses", request_body = AddressDraft,
    security(("api_key" = [])),
    responses((status = 201, body = StandardAddress), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "The same address exists; details.existing_code"),
        (status = 422, body = ErrorBody, description = "Unknown or retired division")))]
pub async fn create_address(
    State(state): State<AppState>,
    EditorKey(actor): EditorKey,
    JsonBody(draft): JsonBody<AddressDraft>,
) -> Result<(StatusCode, Json<StandardAddress>)> {
    let record = state.registry.create(&draft, &actor).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

#[utoipa::path(get, path = "/v1/addresses/{code}", tag = "addresses",
    params(("code" = String, Path, description = "20-character address code")),
    responses((status = 200, body = StandardAddress), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_address(
    State(state): State<AppState>,
    PathParams(code): PathParams<String>,
) -> Result<Json<StandardAddress>> {
    Ok(Json(state.registry.address(&checked_code(&code)?).await?))
}

/// Change an address (JSON merge patch). Each change is a new version; the code stays.
#[utoipa::path(patch, path = "/v1/addresses/{code}", tag = "addresses", request_body = AddressPatch,
    params(("code" = String, Path, description = "20-character address code")), security(("api_key" = [])),
    responses((status = 200, body = StandardAddress), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn patch_address(
    State(state): State<AppState>,
    EditorKey(actor): EditorKey,
    PathParams(code): PathParams<String>,
    JsonBody(patch): JsonBody<AddressPatch>,
) -> Result<Json<StandardAddress>> {
    let code = checked_code(&code)?;
    Ok(Json(state.registry.patch(&code, &patch, &actor).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RetireRequest {
    /// Why the address is retired (demolished, renumbered, merged …).
    pub reason: String,
    /// The address that replaces it, if any.
    pub successor_code: Option<String>,
}

/// Retire an address. It keeps its code; reads show the successor.
#[utoipa::path(post, path = "/v1/addresses/{code}/retire", tag = "addresses", request_body = RetireRequest,
    params(("code" = String, Path, description = "20-character address code")), security(("api_key" = [])),
    responses((status = 200, body = StandardAddress), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn retire_address(
    State(state): State<AppState>,
    EditorKey(actor): EditorKey,
    PathParams(code): PathParams<String>,
    JsonBody(request): JsonBody<RetireRequest>,
) -> Result<Json<StandardAddress>> {
    let code = checked_code(&code)?;
    let successor = request
        .successor_code
        .as_deref()
        .map(checked_code)
        .transpose()?;
    Ok(Json(
        state
            .registry
            .retire(&code, &request.reason, successor.as_deref(), &actor)
            .await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddressHistory {
    /// Oldest first.
    pub versions: Vec<AddressVersion>,
}

#[utoipa::path(get, path = "/v1/addresses/{code}/history", tag = "addresses",
    params(("code" = String, Path, description = "20-character address code")),
    responses((status = 200, body = AddressHistory), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn address_history(
    State(state): State<AppState>,
    PathParams(code): PathParams<String>,
) -> Result<Json<AddressHistory>> {
    let versions = state.registry.history(&checked_code(&code)?).await?;
    Ok(Json(AddressHistory { versions }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AddressListQuery {
    /// Division code (6, 9 or 12 digits): addresses in it and below it.
    pub division: Option<String>,
    /// `active` or `retired`.
    pub status: Option<String>,
    /// Page size, at most 1000; default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddressPage {
    pub addresses: Vec<StandardAddress>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// List addresses in code order, a page at a time (keyset pagination).
#[utoipa::path(get, path = "/v1/addresses", tag = "addresses", params(AddressListQuery),
    responses((status = 200, body = AddressPage), (status = 400, body = ErrorBody)))]
pub async fn list_addresses(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AddressListQuery>,
) -> Result<Json<AddressPage>> {
    let limit = page_size(query.limit, 100, 1000)?;
    let division_prefix = division_prefix_parameter(query.division.as_deref())?;
    let status = query
        .status
        .as_deref()
        .map(|status| {
            AddressStatus::parse(status).ok_or_else(|| {
                RequestError::InvalidRequest(format!("status {status:?} is not active or retired"))
            })
        })
        .transpose()?;
    let after = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let filter = AddressFilter {
        division_prefix,
        status,
    };
    let addresses = state
        .registry
        .list(&filter, after.as_deref(), limit)
        .await?;
    let next_cursor = (addresses.len() == limit as usize)
        .then(|| cursor::encode(&addresses[addresses.len() - 1].code));
    Ok(Json(AddressPage {
        addresses,
        next_cursor,
    }))
}
