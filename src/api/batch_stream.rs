//! Streaming for the batch endpoints: the request body flows into a blocking worker
//! that runs a [`RowAnswerer`], and its output flows back as the response body.
//! Bounded queues on both sides keep memory flat: when the client reads slowly the
//! worker waits, and then so does the upload.

use std::io::{self, Read, Write};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::AppState;
use crate::batch::{BatchError, BatchFormat, BatchOptions, BatchRun, Charset, RowAnswerer};
use crate::error::{Error, RequestError, Result};

/// Request-body chunks queued between the connection and the batch worker. With the
/// output queue below, this is all a batch holds in memory besides the row in hand.
const BATCH_INPUT_CHUNKS: usize = 16;
/// Output chunks (about 64 KiB each) queued for the client.
const BATCH_OUTPUT_CHUNKS: usize = 8;

/// The input format and charset of a batch request (the `charset` query parameter
/// overrides the Content-Type's), and the Content-Type of the answer.
pub(crate) fn batch_options(
    state: &AppState,
    headers: &HeaderMap,
    charset_parameter: Option<&str>,
) -> Result<(BatchOptions, &'static str)> {
    let (format, response_type, content_charset) = batch_format(headers)?;
    let charset = match charset_parameter {
        Some(label) => Some(Charset::from_label(label).ok_or_else(|| {
            RequestError::InvalidRequest(format!(
                "charset {label:?} is not supported; use utf-8 or gbk"
            ))
        })?),
        None => content_charset,
    };
    let options = BatchOptions {
        format,
        charset,
        max_rows: Some(state.config.limits.max_batch_rows),
    };
    Ok((options, response_type))
}

/// The worker's end of a batch request.
pub(crate) struct BatchChannels {
    input: ChannelReader,
    output: mpsc::Sender<io::Result<Bytes>>,
    opened: oneshot::Sender<std::result::Result<(), BatchError>>,
}

impl BatchChannels {
    /// Runs on a blocking thread: opens the batch, reports whether the header was
    /// usable, then answers and writes every row.
    pub(crate) fn run<A: RowAnswerer>(self, answerer: A, options: BatchOptions, kind: &str) {
        let BatchChannels {
            input,
            output,
            opened,
        } = self;
        let run = match BatchRun::open(answerer, input, options) {
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
                kind,
                rows = summary.rows,
                matched = summary.matched,
                division = summary.division,
                unmatched = summary.unmatched,
                errors = summary.errors,
                charset = summary.charset,
                "batch done"
            ),
            // The client stopped reading; nobody is left to tell.
            Err(BatchError::Write(error)) => {
                tracing::info!(kind, %error, "batch abandoned by the client")
            }
            Err(error) => {
                tracing::warn!(kind, %error, "batch stopped");
                // An error item ends the response body abruptly, so the client sees a
                // broken transfer rather than output that merely looks short.
                let _ = output.blocking_send(Err(io::Error::other(error.to_string())));
            }
        }
    }
}

/// Streams a batch: `work` runs on a blocking thread with the worker's end of the
/// channels and must call [`BatchChannels::run`].
pub(crate) async fn stream_batch(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    response_type: &'static str,
    work: impl FnOnce(BatchChannels) + Send + 'static,
) -> Result<Response> {
    let max_bytes = state.config.max_batch_body_bytes;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > max_bytes) {
        return Err(RequestError::PayloadTooLarge.into());
    }
    // Each batch holds a worker thread for as long as it streams, which the request
    // gate does not see once the response has begun.
    let batch_pass = state
        .admission
        .batches
        .try_enter()
        .ok_or(RequestError::Overloaded {
            limit: state.admission.batches.capacity(),
            what: "batches",
        })?;
    let (input_sender, input_receiver) = mpsc::channel(BATCH_INPUT_CHUNKS);
    let (output_sender, mut output_receiver) = mpsc::channel(BATCH_OUTPUT_CHUNKS);
    let (opened_sender, opened_receiver) = oneshot::channel();
    tokio::spawn(feed_request_body(body, input_sender, max_bytes));
    let channels = BatchChannels {
        input: ChannelReader::new(input_receiver),
        output: output_sender,
        opened: opened_sender,
    };
    tokio::task::spawn_blocking(move || {
        work(channels);
        drop(batch_pass);
    });
    // The status is decided only once the worker has read the header, so a file
    // without the needed columns is a 400, not a 200 with an empty body.
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
