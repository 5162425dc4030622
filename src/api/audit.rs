//! `/v1/audit`: the append-only log of every write, for administrators.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::extract::{AdminKey, QueryParams};
use super::{AppState, page_size};
use crate::error::{ErrorBody, Result};
use crate::store::AuditEntry;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Return entries with an id greater than this (the last id of the previous page).
    pub after: Option<i64>,
    /// At most 1000; default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Oldest first.
    pub entries: Vec<AuditEntry>,
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery), security(("api_key" = [])),
    responses((status = 200, body = AuditPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit_log(
    State(state): State<AppState>,
    _admin: AdminKey,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditPage>> {
    let limit = page_size(query.limit, 100, 1000)?;
    let entries = state
        .registry
        .store()
        .audit_entries(query.after, limit)
        .await?;
    Ok(Json(AuditPage { entries }))
}
