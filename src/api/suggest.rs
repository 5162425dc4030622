//! `/v1/suggest`: autocomplete over standard addresses and divisions.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::extract::{QueryParams, check_text_length};
use super::{AppState, page_size};
use crate::error::{ErrorBody, RequestError, Result};
use crate::matching::suggest::{DEFAULT_SUGGEST_LIMIT, MAX_SUGGEST_LIMIT, Suggestion};

/// Longest text accepted, in characters.
const MAX_QUERY_CHARS: usize = 200;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestQuery {
    /// What has been typed so far, e.g. `宁波市鄞州区天童`.
    #[param(min_length = 1)]
    pub q: String,
    /// At most 50; default 10.
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuggestResponse {
    pub input: String,
    pub suggestions: Vec<Suggestion>,
}

/// Completions of a partly typed address: registered addresses on the road or at the
/// place being typed (within the divisions already named), then divisions.
#[utoipa::path(get, path = "/v1/suggest", tag = "matching", params(SuggestQuery),
    responses((status = 200, body = SuggestResponse), (status = 400, body = ErrorBody)))]
pub async fn suggest(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<SuggestQuery>,
) -> Result<Json<SuggestResponse>> {
    let limit = page_size(
        query.limit,
        DEFAULT_SUGGEST_LIMIT as u32,
        MAX_SUGGEST_LIMIT as u32,
    )?;
    if query.q.trim().is_empty() {
        return Err(RequestError::InvalidRequest("q must not be empty".into()).into());
    }
    check_text_length("q", &query.q, MAX_QUERY_CHARS)?;
    let suggestions = state.matcher.suggest(&query.q, limit as usize);
    Ok(Json(SuggestResponse {
        input: query.q,
        suggestions,
    }))
}
