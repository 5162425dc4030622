//! `/v1/compare`: are two addresses the same place?

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::AppState;
use super::extract::JsonBody;
use super::matching::checked_address;
use crate::error::{ErrorBody, Result};
use crate::matching::compare::Comparison;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CompareRequest {
    /// The address as received (free text), at most 500 characters.
    pub a: Option<String>,
    /// The address to compare it with (a candidate or a reference text).
    pub b: Option<String>,
}

/// `exact` (the same place at the same level of detail), `partial` (one lies within
/// or beside the other: the same compound but another building, a gate of it, the
/// road it is on) or `none`, with a score in [0, 1] and the component-level diff.
#[utoipa::path(post, path = "/v1/compare", tag = "matching", request_body = CompareRequest,
    responses((status = 200, body = Comparison), (status = 400, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub async fn compare_addresses(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CompareRequest>,
) -> Result<Json<Comparison>> {
    let a = checked_address("a", request.a.as_deref())?;
    let b = checked_address("b", request.b.as_deref())?;
    Ok(Json(state.matcher.compare(a, b)))
}
