//! `/v1/parse`, `/v1/match` and `/v1/match/batch`: free text to address components
//! and to standard codes.

use std::io::{self, Read, Write};
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::AppState;
use super::extract::{JsonBody, QueryParams};
use crate::domain::division::DivisionCode;
use crate::error::{Error, ErrorBody, RequestError, Result};
use crate::matching::batch::{
    BatchError, BatchFormat, BatchOptions, BatchRun, Charset, DEFAULT_ADDRESS_COLUMN,
    DEFAULT_BATCH_LIMIT, MAX_ADDRESS_CHARS, RowProblem, check_address,
};
use crate::matching::{
    AddressMatch, DEFAULT_MATCH_LIMIT, MAX_MATCH_LIMIT, MatchEngine, MatchOptions,
};
use crate::registry::RegistryError;
use crate::text::parse::Component;

/// Request-body chunks queued between the connection and the batch worker. With the
/// output queue below, this is all a batch holds in memory besides the row in hand.
const BATCH_INPUT_CHUNKS: usize = 16;
/// Output chunks (about 64 KiB each) queued for the client. When the client reads
/// slowly the worker waits, and then so does the upload.
const BATCH_OUTPUT_CHUNKS: usize = 8;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ParseQuery {
    /// The address text, at most 500 characters.
    pub q: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParseResult {
    pub input: String,
    /// In input order; `start`/`end` count characters (Unicode scalar values) of the input.
    pub components: Vec<Component>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MatchQuery {
    /// The address text, at most 500 characters.
    pub q: Option<String>,
    /// Answers to return, 1 to 50; default 5.
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
pub struct BatchQuery {
    /// The CSV column (or JSON field) holding the address; default `address`.
    pub column: Option<String>,
    /// Answers per JSON line, 1 to 50; default 1. CSV rows carry the best answer only.
    pub limit: Option<usize>,
    /// Input charset, `utf-8` or `gbk`; overrides the Content-Type parameter.
    /// Without either, detected from the first 64 KiB.
    pub charset: Option<String>,
}

/// The address text of a request, checked the way batch rows are.
pub(crate) fn checked_address<'a>(name: &str, input: Option<&'a str>) -> Result<&'a str> {
    check_address(input.unwrap_or("")).map_err(|problem| {
        let message = match problem {
            RowProblem::AddressTooLong { chars } => {
                format!("{name} has {chars} characters; at most {MAX_ADDRESS_CHARS} are accepted")
            }
            _ => format!("{name} must not be empty"),
        };
        RequestError::InvalidRequest(message).into()
    })
}

fn checked_limit(limit: Option<usize>, default: usize) -> Result<usize> {
    match limit {
        None => Ok(default),
        Some(limit) if (1..=MAX_MATCH_LIMIT).contains(&limit) => Ok(limit),
        Some(limit) => Err(RequestError::InvalidRequest(format!(
            "limit must be between 1 and {MAX_MATCH_LIMIT}; got {limit}"
        ))
        .into()),
    }
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
        limit: Some(checked_limit(limit, DEFAULT_MATCH_LIMIT)?),
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

/// The media types the batch endpoint reads, and the charset the Content-Type names.
fn batch_format(headers: &HeaderMap) -> Result<(BatchFormat, &'static str, Option<Charset>)> {
    let unsupported = || {
        Error::from(RequestError::UnsupportedMediaType(
            "send text/csv, application/x-ndjson or application/jsonl".into(),
        ))
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(unsupported)?;
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let (format, response_type) = match essence.as_str() {
        "text/csv" => (BatchFormat::Csv, "text/csv; charset=utf-8"),
        "application/x-ndjson" => (BatchFormat::JsonLines, "application/x-ndjson"),
        "application/jsonl" => (BatchFormat::JsonLines, "application/jsonl"),
        _ => return Err(unsupported()),
    };
    let label = parts.find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim())
    });
    let charset = match label {
        None => None,
        Some(label) => Some(Charset::from_label(label).ok_or_else(|| {
            RequestError::UnsupportedMediaType(format!(
                "charset {label} is not supported; send utf-8 or gbk"
            ))
        })?),
    };
    Ok((format, response_type, charset))
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
    let (format, response_type, content_charset) = batch_format(&headers)?;
    let charset = match &query.charset {
        Some(label) => Some(Charset::from_label(label).ok_or_else(|| {
            RequestError::InvalidRequest(format!(
                "charset {label:?} is not supported; use utf-8 or gbk"
            ))
        })?),
        None => content_charset,
    };
    let column = query
        .column
        .unwrap_or_else(|| DEFAULT_ADDRESS_COLUMN.to_owned());
    if column.trim().is_empty() {
        return Err(RequestError::InvalidRequest("column must not be empty".into()).into());
    }
    let options = BatchOptions {
        format,
        column,
        limit: checked_limit(query.limit, DEFAULT_BATCH_LIMIT)?,
        charset,
    };
    let max_bytes = state.config.max_batch_body_bytes;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > max_bytes) {
        return Err(RequestError::PayloadTooLarge.into());
    }

    let (input_sender, input_receiver) = mpsc::channel(BATCH_INPUT_CHUNKS);
    let (output_sender, mut output_receiver) = mpsc::channel(BATCH_OUTPUT_CHUNKS);
    let (opened_sender, opened_receiver) = oneshot::channel();
    tokio::spawn(feed_request_body(body, input_sender, max_bytes));
    let engine = state.matcher.clone();
    tokio::task::spawn_blocking(move || {
        run_batch(
            engine,
            ChannelReader::new(input_receiver),
            output_sender,
            opened_sender,
            options,
        )
    });
    // The status is decided only once the worker has read the header, so a file
    // without the address column is a 400, not a 200 with an empty body.
    match opened_receiver.await {
        Ok(Ok(())) => {}
        Ok(Err(BatchError::Read(error))) if is_body_too_large(&error) => {
            return Err(RequestError::PayloadTooLarge.into());
        }
        Ok(Err(error)) => return Err(error.into()),
        Err(_) => {
            return Err(BatchError::Write(io::Error::other("the batch worker stopped")).into());
        }
    }
    let stream = futures::stream::poll_fn(move |context| output_receiver.poll_recv(context));
    let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(response_type),
    );
    Ok(response)
}

/// Runs on a blocking thread: opens the batch, reports whether the header was
/// usable, then matches and writes every row.
fn run_batch(
    engine: Arc<MatchEngine>,
    input: ChannelReader,
    output: mpsc::Sender<io::Result<Bytes>>,
    opened: oneshot::Sender<std::result::Result<(), BatchError>>,
    options: BatchOptions,
) {
    let run = match BatchRun::open(&engine, input, options) {
        Ok(run) => run,
        Err(error) => {
            let _ = opened.send(Err(error));
            return;
        }
    };
    if opened.send(Ok(())).is_err() {
        return; // the request was cancelled while the header was read
    }
    let writer = ChannelWriter {
        sender: output.clone(),
    };
    match run.write_to(writer, |_| {}) {
        Ok(summary) => tracing::info!(
            rows = summary.rows,
            matched = summary.matched,
            division = summary.division,
            unmatched = summary.unmatched,
            errors = summary.errors,
            charset = summary.charset,
            "batch matched"
        ),
        // The client stopped reading; nobody is left to tell.
        Err(BatchError::Write(error)) => tracing::info!(%error, "batch abandoned by the client"),
        Err(error) => {
            tracing::warn!(%error, "batch stopped");
            // An error item ends the response body abruptly, so the client sees a
            // broken transfer rather than output that merely looks short.
            let _ = output.blocking_send(Err(io::Error::other(error.to_string())));
        }
    }
}

#[derive(Debug)]
struct BodyTooLarge;

impl std::fmt::Display for BodyTooLarge {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("the request body is larger than this endpoint accepts")
    }
}

impl std::error::Error for BodyTooLarge {}

fn is_body_too_large(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<BodyTooLarge>())
}

/// Moves the request body into the worker's queue, counting bytes against the limit.
async fn feed_request_body(body: Body, sender: mpsc::Sender<io::Result<Bytes>>, max_bytes: u64) {
    let mut chunks = body.into_data_stream();
    let mut received = 0u64;
    while let Some(chunk) = chunks.next().await {
        let item = chunk.map_err(io::Error::other).and_then(|chunk| {
            received += chunk.len() as u64;
            if received > max_bytes {
                Err(io::Error::other(BodyTooLarge))
            } else {
                Ok(chunk)
            }
        });
        let failed = item.is_err();
        if sender.send(item).await.is_err() || failed {
            return;
        }
    }
}

/// A blocking reader over the queue of request-body chunks.
struct ChannelReader {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    pending: Bytes,
}

impl ChannelReader {
    fn new(receiver: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        ChannelReader {
            receiver,
            pending: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => self.pending = chunk,
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
        let count = buffer.len().min(self.pending.len());
        buffer[..count].copy_from_slice(&self.pending[..count]);
        self.pending = self.pending.slice(count..);
        Ok(count)
    }
}

/// A blocking writer into the queue that becomes the response body. The batch core
/// buffers its output, so each write here is one chunk of about 64 KiB.
struct ChannelWriter {
    sender: mpsc::Sender<io::Result<Bytes>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        self.sender
            .blocking_send(Ok(Bytes::copy_from_slice(buffer)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client stopped reading"))?;
        Ok(buffer.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
