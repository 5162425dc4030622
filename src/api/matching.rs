//! `/v1/parse`, `/v1/match` and `/v1/match/batch`: free text to address components
//! and to standard codes.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::batch_stream::{batch_options, stream_batch};
use super::extract::{JsonBody, QueryParams, checked_column, checked_limit};
use crate::domain::division::DivisionCode;
use crate::error::{ErrorBody, RequestError, Result};
use crate::matching::batch::{
    ADDRESS_TOO_LONG, DEFAULT_ADDRESS_COLUMN, DEFAULT_BATCH_LIMIT, MAX_ADDRESS_CHARS, MatchRows,
    check_address,
};
use crate::matching::{AddressMatch, DEFAULT_MATCH_LIMIT, MAX_MATCH_LIMIT, MatchOptions};
use crate::registry::RegistryError;
use crate::text::parse::Component;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ParseQuery {
    /// The address text, at most 500 characters.
    #[param(required = true, min_length = 1, max_length = 500)]
    pub q: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParseResult {
    pub input: String,
    /// In input order; `start`/`end` count characters (Unicode scalar values) of the input.
    pub components: Vec<Component>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MatchQuery {
    /// The address text, at most 500 characters.
    #[param(required = true, min_length = 1, max_length = 500)]
    pub q: Option<String>,
    /// Answers to return, 1 to 50; default 5.
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<usize>,
    /// Only answers in this division (2, 4, 6, 9 or 12 digits) and below.
    pub division: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MatchRequest {
    /// The address text, at most 500 characters.
    pub address: Option<String>,
    /// Only answers in this division (2, 4, 6, 9 or 12 digits) and below.
    pub division: Option<String>,
    /// Answers to return, 1 to 50; default 5.
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MatchResult {
    pub input: String,
    /// Best first. With no standard address close enough, the first answer is the
    /// deepest division the input names.
    pub matches: Vec<AddressMatch>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// The CSV column (or JSON field) holding the address; default `address`.
    pub column: Option<String>,
    /// Answers per JSON line, 1 to 50; default 1. CSV rows carry the best answer only.
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<usize>,
    /// Input charset, `utf-8` or `gbk`; overrides the Content-Type parameter.
    /// Without either, detected from the first 64 KiB.
    pub charset: Option<String>,
}

/// The address text of a request, checked the way batch rows are.
pub(crate) fn checked_address<'a>(name: &str, input: Option<&'a str>) -> Result<&'a str> {
    let input = input.unwrap_or("");
    check_address(input).map_err(|problem| {
        if problem.code == ADDRESS_TOO_LONG {
            RequestError::TextTooLong {
                field: name.to_owned(),
                chars: input.trim().chars().count(),
                maximum: MAX_ADDRESS_CHARS,
            }
            .into()
        } else {
            RequestError::InvalidRequest(format!("{name} must not be empty")).into()
        }
    })
}

/// A division filter must name a division that exists now: answers are never
/// registered under a retired one, so filtering by it could only return nothing.
fn division_filter(state: &AppState, code: Option<&str>) -> Result<Option<DivisionCode>> {
    let Some(code) = code else {
        return Ok(None);
    };
    let code = DivisionCode::parse(code)?;
    match state.matcher.divisions().get(code.as_str()) {
        None => Err(RegistryError::UnknownDivision {
            division_code: code.to_string(),
        }
        .into()),
        Some(division) if !division.is_current() => Err(RegistryError::DivisionRetired {
            division_code: division.code,
            name: division.name,
            successor_code: division.successor_code,
        }
        .into()),
        Some(_) => Ok(Some(code)),
    }
}

fn match_one(
    state: &AppState,
    address: Option<String>,
    division: Option<&str>,
    limit: Option<usize>,
    name: &str,
) -> Result<Json<MatchResult>> {
    let input = address.unwrap_or_default();
    let text = checked_address(name, Some(&input))?;
    let options = MatchOptions {
        limit: Some(checked_limit(limit, DEFAULT_MATCH_LIMIT, MAX_MATCH_LIMIT)?),
        division: division_filter(state, division)?,
    };
    let matches = state.matcher.match_address(text, &options);
    Ok(Json(MatchResult { input, matches }))
}

/// Split an address into labelled components.
#[utoipa::path(get, path = "/v1/parse", tag = "matching", params(ParseQuery),
    responses((status = 200, body = ParseResult), (status = 400, body = ErrorBody)))]
pub async fn parse_address(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ParseQuery>,
) -> Result<Json<ParseResult>> {
    let input = query.q.unwrap_or_default();
    checked_address("q", Some(&input))?;
    // Offsets are relative to the input as sent, so the untrimmed text is parsed.
    let components = state.matcher.parse(&input);
    Ok(Json(ParseResult { input, components }))
}

/// Standard addresses a free-text address most likely means, best first.
#[utoipa::path(get, path = "/v1/match", tag = "matching", params(MatchQuery),
    responses((status = 200, body = MatchResult), (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Unknown or retired division")))]
pub async fn match_get(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<MatchQuery>,
) -> Result<Json<MatchResult>> {
    match_one(&state, query.q, query.division.as_deref(), query.limit, "q")
}

/// The same as `GET /v1/match`, for text that does not fit a URL comfortably.
#[utoipa::path(post, path = "/v1/match", tag = "matching", request_body = MatchRequest,
    responses((status = 200, body = MatchResult), (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Unknown or retired division")))]
pub async fn match_post(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<MatchRequest>,
) -> Result<Json<MatchResult>> {
    match_one(
        &state,
        request.address,
        request.division.as_deref(),
        request.limit,
        "address",
    )
}

/// Match a whole file: CSV (a header row; the address in column `column`) or JSON
/// lines, streamed in and out row by row.
///
/// CSV output is the input (header and cells unchanged) plus the columns
/// `code,standard_address,level,confidence,division_code,status`; `status` is
/// `matched`, `division`, `unmatched` or `error:<code>` (`empty_address`,
/// `address_too_long`, `ragged_row`). JSON-lines output is one
/// `{"row", "input", "matches", "record"?}` or `{"row", "error": {"code", "message"}}`
/// per input line (`invalid_json`, `missing_address`, `line_too_long` besides the
/// above). Every input row gives one output row, in order.
#[utoipa::path(post, path = "/v1/match/batch", tag = "matching", params(BatchQuery),
    request_body(description = "CSV with a header row, or JSON lines",
        content((String = "text/csv"), (String = "application/x-ndjson"), (String = "application/jsonl"))),
    responses(
        (status = 200, description = "The input with answers, streamed; same format as the input",
            content((String = "text/csv"), (String = "application/x-ndjson"), (String = "application/jsonl"))),
        (status = 400, body = ErrorBody, description = "No header, or no such column (details.header lists the header)"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn match_batch(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<BatchQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let (options, response_type) = batch_options(&state, &headers, query.charset.as_deref())?;
    let column = checked_column(query.column, DEFAULT_ADDRESS_COLUMN, "column")?;
    let limit = checked_limit(query.limit, DEFAULT_BATCH_LIMIT, MAX_MATCH_LIMIT)?;
    let engine = state.matcher.clone();
    stream_batch(&state, &headers, body, response_type, move |channels| {
        channels.run(MatchRows::new(&engine, column, limit), options, "match")
    })
    .await
}
