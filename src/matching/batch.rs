//! Batch matching: a CSV or JSON-lines stream in, the same stream with the best
//! answers added out, one row at a time.
//!
//! Nothing here knows about HTTP. The HTTP endpoint and the command line both run
//! [`BatchRun`] on a blocking thread over an `impl Read` and an `impl Write`; rows are
//! read, matched and written one by one, so memory stays flat whatever the size of
//! the input.
//!
//! A row that cannot be matched (empty or over-long address, ragged CSV row, bad JSON)
//! is still written, in its place, with a stable error code; the output has exactly
//! one row per input row, in input order.

use std::io::{self, BufRead, BufReader, Chain, Cursor, Read, Write};

use encoding_rs::{Encoding, GB18030, GBK, UTF_8};
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::matching::{AddressMatch, MatchEngine, MatchLevel, MatchOptions};

/// The longest address (in characters) a caller may ask to match, in a batch row
/// or a single request. Real addresses are far shorter; longer text is a mistake
/// (a whole record pasted into one cell) and costs the parser time for nothing.
pub const MAX_ADDRESS_CHARS: usize = 500;
/// The input column (CSV) or field (JSON lines) that holds the address by default.
pub const DEFAULT_ADDRESS_COLUMN: &str = "address";
/// Batch output carries the best answer only unless the caller asks for more.
pub const DEFAULT_BATCH_LIMIT: usize = 1;
/// The columns appended to every CSV row, in this order.
pub const APPENDED_COLUMNS: [&str; 6] = [
    "code",
    "standard_address",
    "level",
    "confidence",
    "division_code",
    "status",
];

/// How much of the input the charset is guessed from.
const SNIFF_BYTES: usize = 64 * 1024;
/// Output is handed on in chunks of about this size (the HTTP layer sends each as
/// one piece of the response body).
const OUTPUT_CHUNK_BYTES: usize = 64 * 1024;
/// A JSON line longer than this is reported, not buffered: a body without newlines
/// must not be read into memory whole.
const MAX_JSON_LINE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// A header row, then one address per row in the named column.
    Csv,
    /// One JSON object (or bare JSON string) per line.
    JsonLines,
}

/// The character sets batch input may come in. GBK files are decoded as GB18030,
/// its superset, so characters outside GBK that some exporters emit still decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Gb18030,
}

impl Charset {
    /// A charset by its WHATWG label (`utf-8`, `gbk`, `gb2312`, `gb18030`, …);
    /// `None` for any other charset.
    pub fn from_label(label: &str) -> Option<Self> {
        let encoding = Encoding::for_label(label.trim().trim_matches('"').as_bytes())?;
        if encoding == UTF_8 {
            Some(Charset::Utf8)
        } else if encoding == GBK || encoding == GB18030 {
            Some(Charset::Gb18030)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Charset::Utf8 => "utf-8",
            Charset::Gb18030 => "gb18030",
        }
    }

    fn encoding(self) -> &'static Encoding {
        match self {
            Charset::Utf8 => UTF_8,
            Charset::Gb18030 => GB18030,
        }
    }

    /// The charset of input that starts with `prefix`: UTF-8 when it has a UTF-8 byte
    /// order mark or is valid UTF-8 (a multi-byte character cut off by the end of the
    /// sample counts as valid), otherwise GBK. GBK text of any length is almost never
    /// valid UTF-8, so one sample decides.
    pub fn detect(prefix: &[u8]) -> Self {
        if prefix.starts_with(b"\xEF\xBB\xBF") {
            return Charset::Utf8;
        }
        match std::str::from_utf8(prefix) {
            Ok(_) => Charset::Utf8,
            Err(error) if error.error_len().is_none() => Charset::Utf8,
            Err(_) => Charset::Gb18030,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub format: BatchFormat,
    /// The CSV column or JSON field that holds the address.
    pub column: String,
    /// Answers per row: CSV rows always carry the best one; JSON lines up to this many.
    pub limit: usize,
    /// `None`: detect from the first 64 KiB.
    pub charset: Option<Charset>,
}

impl BatchOptions {
    pub fn new(format: BatchFormat) -> Self {
        BatchOptions {
            format,
            column: DEFAULT_ADDRESS_COLUMN.to_owned(),
            limit: DEFAULT_BATCH_LIMIT,
            charset: None,
        }
    }
}

/// Why a whole batch failed. Problems with single rows are not errors: they are
/// reported in the row (see [`RowProblem`]).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("the CSV input has no header row")]
    MissingHeader,
    #[error("the CSV header has no column {column:?}")]
    MissingColumn { column: String, header: Vec<String> },
    #[error("cannot read the input: {0}")]
    Read(io::Error),
    #[error("cannot write the output: {0}")]
    Write(io::Error),
}

impl BatchError {
    /// True when the input itself is unusable (the caller's mistake), false when
    /// reading or writing failed.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            BatchError::MissingHeader | BatchError::MissingColumn { .. }
        )
    }
}

/// Why one row has no answer. The codes are part of the output format: add new ones,
/// never rename old ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    /// The address cell or field is empty or only whitespace.
    EmptyAddress,
    /// The address is longer than [`MAX_ADDRESS_CHARS`].
    AddressTooLong { chars: usize },
    /// A CSV row with a different number of cells than the header.
    RaggedRow { cells: usize, expected: usize },
    /// A JSON line that is not JSON.
    InvalidJson(String),
    /// A JSON line that is neither a string nor an object with a string address field.
    MissingAddress { field: String },
    /// A JSON line longer than the batch reader buffers.
    LineTooLong,
}

impl RowProblem {
    pub fn code(&self) -> &'static str {
        match self {
            RowProblem::EmptyAddress => "empty_address",
            RowProblem::AddressTooLong { .. } => "address_too_long",
            RowProblem::RaggedRow { .. } => "ragged_row",
            RowProblem::InvalidJson(_) => "invalid_json",
            RowProblem::MissingAddress { .. } => "missing_address",
            RowProblem::LineTooLong => "line_too_long",
        }
    }

    pub fn message(&self) -> String {
        match self {
            RowProblem::EmptyAddress => "the address is empty".to_owned(),
            RowProblem::AddressTooLong { chars } => format!(
                "the address has {chars} characters; at most {MAX_ADDRESS_CHARS} are matched"
            ),
            RowProblem::RaggedRow { cells, expected } => {
                format!("the row has {cells} cells; the header has {expected}")
            }
            RowProblem::InvalidJson(reason) => format!("not JSON: {reason}"),
            RowProblem::MissingAddress { field } => {
                format!("expected a JSON string or an object with a string field {field:?}")
            }
            RowProblem::LineTooLong => {
                format!("the line is longer than {MAX_JSON_LINE_BYTES} bytes")
            }
        }
    }
}

/// Checks one address before it reaches the engine. Returns the text to match.
pub fn check_address(address: &str) -> Result<&str, RowProblem> {
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return Err(RowProblem::EmptyAddress);
    }
    let chars = trimmed.chars().count();
    if chars > MAX_ADDRESS_CHARS {
        return Err(RowProblem::AddressTooLong { chars });
    }
    Ok(trimmed)
}

/// What a finished batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchSummary {
    pub rows: u64,
    /// Rows whose best answer is a standard address.
    pub matched: u64,
    /// Rows whose best answer is only a division.
    pub division: u64,
    pub unmatched: u64,
    pub errors: u64,
    pub charset: &'static str,
}

impl BatchSummary {
    fn count(&mut self, outcome: &RowOutcome) {
        self.rows += 1;
        match outcome {
            RowOutcome::Answered(matches) => match matches.first() {
                Some(best) if is_division(best) => self.division += 1,
                Some(_) => self.matched += 1,
                None => self.unmatched += 1,
            },
            RowOutcome::Problem(_) => self.errors += 1,
        }
    }
}

enum RowOutcome {
    Answered(Vec<AddressMatch>),
    Problem(RowProblem),
}

/// A division answer carries a division level; address answers never do.
fn is_division(answer: &AddressMatch) -> bool {
    answer.level >= MatchLevel::Village
}

type Decoded<R> = DecodeReaderBytes<Chain<Cursor<Vec<u8>>, R>, Vec<u8>>;

enum Source<R: Read> {
    Csv {
        reader: csv::Reader<Decoded<R>>,
        header: csv::StringRecord,
        column: usize,
    },
    JsonLines {
        reader: BufReader<Decoded<R>>,
    },
}

/// A batch whose input has been opened and (for CSV) whose header has been checked,
/// ready to write. Opening before writing lets the HTTP layer answer a bad header
/// with an error status before it commits to a streamed 200.
pub struct BatchRun<'e, R: Read> {
    engine: &'e MatchEngine,
    source: Source<R>,
    options: BatchOptions,
    charset: Charset,
}

impl<'e, R: Read> BatchRun<'e, R> {
    /// Detects (or takes) the charset and reads the CSV header.
    pub fn open(
        engine: &'e MatchEngine,
        mut input: R,
        options: BatchOptions,
    ) -> Result<Self, BatchError> {
        let mut prefix = Vec::with_capacity(SNIFF_BYTES);
        (&mut input)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut prefix)
            .map_err(BatchError::Read)?;
        let charset = options.charset.unwrap_or_else(|| Charset::detect(&prefix));
        // The decoder turns any input into valid UTF-8 (invalid bytes become U+FFFD)
        // and drops a byte order mark, so the header's first name is clean.
        let decoded = DecodeReaderBytesBuilder::new()
            .encoding(Some(charset.encoding()))
            .build(Cursor::new(prefix).chain(input));
        let source = match options.format {
            BatchFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .flexible(true)
                    .has_headers(true)
                    .from_reader(decoded);
                let header = reader.headers().map_err(csv_read_error)?.clone();
                if header.is_empty() {
                    return Err(BatchError::MissingHeader);
                }
                let column = header
                    .iter()
                    .position(|name| name.trim() == options.column)
                    .ok_or_else(|| BatchError::MissingColumn {
                        column: options.column.clone(),
                        header: header.iter().map(str::to_owned).collect(),
                    })?;
                Source::Csv {
                    reader,
                    header,
                    column,
                }
            }
            BatchFormat::JsonLines => Source::JsonLines {
                reader: BufReader::new(decoded),
            },
        };
        Ok(BatchRun {
            engine,
            source,
            options,
            charset,
        })
    }

    pub fn charset(&self) -> Charset {
        self.charset
    }

    /// Matches every row and writes the result. `progress` is called with the number
    /// of rows done after each row.
    pub fn write_to(
        self,
        output: impl Write,
        progress: impl FnMut(u64),
    ) -> Result<BatchSummary, BatchError> {
        let summary = BatchSummary {
            charset: self.charset.as_str(),
            ..BatchSummary::default()
        };
        let output = io::BufWriter::with_capacity(OUTPUT_CHUNK_BYTES, output);
        let matcher = RowMatcher {
            engine: self.engine,
            options: MatchOptions {
                limit: Some(self.options.limit.max(1)),
                division: None,
            },
        };
        match self.source {
            Source::Csv {
                reader,
                header,
                column,
            } => write_csv(&matcher, reader, &header, column, output, summary, progress),
            Source::JsonLines { reader } => write_json_lines(
                &matcher,
                reader,
                &self.options.column,
                output,
                summary,
                progress,
            ),
        }
    }
}

/// Opens and runs a batch in one call (the command line's way).
pub fn match_batch(
    engine: &MatchEngine,
    input: impl Read,
    output: impl Write,
    options: BatchOptions,
    progress: impl FnMut(u64),
) -> Result<BatchSummary, BatchError> {
    BatchRun::open(engine, input, options)?.write_to(output, progress)
}

struct RowMatcher<'e> {
    engine: &'e MatchEngine,
    options: MatchOptions,
}

impl RowMatcher<'_> {
    fn answer(&self, address: &str) -> RowOutcome {
        match check_address(address) {
            Ok(address) => RowOutcome::Answered(self.engine.match_address(address, &self.options)),
            Err(problem) => RowOutcome::Problem(problem),
        }
    }
}

fn csv_read_error(error: csv::Error) -> BatchError {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => BatchError::Read(error),
        // The decoder hands the CSV reader valid UTF-8 and rows may be ragged, so any
        // other error means the stream itself is broken.
        other => BatchError::Read(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{other:?}"),
        )),
    }
}

fn csv_write_error(error: csv::Error) -> BatchError {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => BatchError::Write(error),
        other => BatchError::Write(io::Error::other(format!("{other:?}"))),
    }
}

fn write_csv<R: Read, W: Write>(
    matcher: &RowMatcher<'_>,
    mut reader: csv::Reader<R>,
    header: &csv::StringRecord,
    column: usize,
    output: W,
    mut summary: BatchSummary,
    mut progress: impl FnMut(u64),
) -> Result<BatchSummary, BatchError> {
    let mut writer = csv::WriterBuilder::new()
        .flexible(false)
        .from_writer(output);
    writer
        .write_record(header.iter().chain(APPENDED_COLUMNS))
        .map_err(csv_write_error)?;
    let width = header.len();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_read_error)? {
        let outcome = if record.len() != width {
            RowOutcome::Problem(RowProblem::RaggedRow {
                cells: record.len(),
                expected: width,
            })
        } else {
            matcher.answer(record.get(column).unwrap_or(""))
        };
        summary.count(&outcome);
        let appended = appended_cells(&outcome);
        // A ragged row is padded or cut to the header's width so the appended cells
        // stay under their own header names; its status says it was ragged.
        let cells = (0..width).map(|index| record.get(index).unwrap_or(""));
        writer
            .write_record(cells.chain(appended.iter().map(String::as_str)))
            .map_err(csv_write_error)?;
        progress(summary.rows);
    }
    // Flushes the CSV writer and then the buffered writer under it.
    writer
        .into_inner()
        .map_err(|error| BatchError::Write(io::Error::other(error.to_string())))?
        .flush()
        .map_err(BatchError::Write)?;
    Ok(summary)
}

fn appended_cells(outcome: &RowOutcome) -> [String; 6] {
    let mut cells: [String; 6] = Default::default();
    match outcome {
        RowOutcome::Answered(matches) => match matches.first() {
            Some(best) => {
                let status = if is_division(best) {
                    "division"
                } else {
                    "matched"
                };
                cells = [
                    best.code.clone(),
                    best.address.clone(),
                    best.level.as_str().to_owned(),
                    format_confidence(best.confidence),
                    best.division.code.clone(),
                    status.to_owned(),
                ];
            }
            None => cells[5] = "unmatched".to_owned(),
        },
        RowOutcome::Problem(problem) => cells[5] = format!("error:{}", problem.code()),
    }
    cells
}

/// Four decimals are more than the calibration supports and keep the column short.
fn format_confidence(confidence: f64) -> String {
    let rounded = (confidence * 10_000.0).round() / 10_000.0;
    rounded.to_string()
}

#[derive(Serialize)]
struct AnsweredLine<'a> {
    row: u64,
    input: &'a str,
    matches: &'a [AddressMatch],
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a Map<String, Value>>,
}

#[derive(Serialize)]
struct FailedLine {
    row: u64,
    error: LineError,
}

#[derive(Serialize)]
struct LineError {
    code: &'static str,
    message: String,
}

/// The address and the rest of a JSON line.
fn split_json_line(
    line: &str,
    field: &str,
) -> Result<(String, Option<Map<String, Value>>), RowProblem> {
    let value: Value =
        serde_json::from_str(line).map_err(|error| RowProblem::InvalidJson(error.to_string()))?;
    let missing = || RowProblem::MissingAddress {
        field: field.to_owned(),
    };
    match value {
        Value::String(address) => Ok((address, None)),
        Value::Object(mut object) => match object.remove(field) {
            Some(Value::String(address)) => {
                Ok((address, Some(object).filter(|rest| !rest.is_empty())))
            }
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

fn write_json_lines<R: BufRead, W: Write>(
    matcher: &RowMatcher<'_>,
    mut reader: R,
    field: &str,
    mut output: W,
    mut summary: BatchSummary,
    mut progress: impl FnMut(u64),
) -> Result<BatchSummary, BatchError> {
    let mut line = Vec::new();
    let mut line_number = 0u64;
    while let Some(complete) =
        read_bounded_line(&mut reader, &mut line, MAX_JSON_LINE_BYTES).map_err(BatchError::Read)?
    {
        line_number += 1;
        // `row` is the input line number, so blank lines (which carry no record and
        // get no output line) never shift the numbering.
        let text = String::from_utf8_lossy(&line);
        if complete && text.trim().is_empty() {
            continue;
        }
        let parsed = if complete {
            split_json_line(text.trim(), field)
        } else {
            Err(RowProblem::LineTooLong)
        };
        let outcome = match &parsed {
            Ok((address, _)) => matcher.answer(address),
            Err(problem) => RowOutcome::Problem(problem.clone()),
        };
        summary.count(&outcome);
        let written = match (&parsed, &outcome) {
            (Ok((address, record)), RowOutcome::Answered(matches)) => serde_json::to_writer(
                &mut output,
                &AnsweredLine {
                    row: line_number,
                    input: address,
                    matches,
                    record: record.as_ref(),
                },
            ),
            (_, RowOutcome::Problem(problem)) | (Err(problem), _) => serde_json::to_writer(
                &mut output,
                &FailedLine {
                    row: line_number,
                    error: LineError {
                        code: problem.code(),
                        message: problem.message(),
                    },
                },
            ),
        };
        written.map_err(|error| BatchError::Write(error.into()))?;
        output.write_all(b"\n").map_err(BatchError::Write)?;
        progress(summary.rows);
    }
    output.flush().map_err(BatchError::Write)?;
    Ok(summary)
}

/// Reads one line (without its `\n` or `\r\n`) into `line`, keeping at most `max`
/// bytes. `None` at the end of input; `Some(false)` when the line was longer than
/// `max` (the rest of it is skipped, not stored).
fn read_bounded_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<bool>> {
    line.clear();
    let mut read_any = false;
    let mut overflowed = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            break;
        }
        read_any = true;
        let (taken, ends_line) = match available.iter().position(|&byte| byte == b'\n') {
            Some(newline) => (newline + 1, true),
            None => (available.len(), false),
        };
        let content = &available[..if ends_line { taken - 1 } else { taken }];
        if line.len() + content.len() > max {
            overflowed = true;
        } else if !overflowed {
            line.extend_from_slice(content);
        }
        reader.consume(taken);
        if ends_line {
            break;
        }
    }
    if !read_any {
        return Ok(None);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(!overflowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_detection_prefers_utf8_and_falls_back_to_gbk() {
        assert_eq!(Charset::detect("宁波市鄞州区".as_bytes()), Charset::Utf8);
        assert_eq!(Charset::detect(b"\xEF\xBB\xBFaddress"), Charset::Utf8);
        assert_eq!(Charset::detect(b"address\n"), Charset::Utf8);
        let (gbk, _, _) = GBK.encode("宁波市鄞州区中山路1号");
        assert_eq!(Charset::detect(&gbk), Charset::Gb18030);
        // A character cut in two by the end of the sample is still UTF-8.
        let cut = &"宁波".as_bytes()[..4];
        assert_eq!(Charset::detect(cut), Charset::Utf8);
    }

    #[test]
    fn charset_labels() {
        assert_eq!(Charset::from_label("UTF-8"), Some(Charset::Utf8));
        assert_eq!(Charset::from_label("gbk"), Some(Charset::Gb18030));
        assert_eq!(Charset::from_label("GB2312"), Some(Charset::Gb18030));
        assert_eq!(Charset::from_label("\"gb18030\""), Some(Charset::Gb18030));
        assert_eq!(Charset::from_label("latin1"), None);
        assert_eq!(Charset::from_label("klingon"), None);
    }

    #[test]
    fn addresses_are_checked_before_matching() {
        assert_eq!(check_address("  中山路1号 "), Ok("中山路1号"));
        assert_eq!(check_address(" \t"), Err(RowProblem::EmptyAddress));
        let long = "路".repeat(MAX_ADDRESS_CHARS + 1);
        assert_eq!(
            check_address(&long),
            Err(RowProblem::AddressTooLong {
                chars: MAX_ADDRESS_CHARS + 1
            })
        );
        assert!(check_address(&"路".repeat(MAX_ADDRESS_CHARS)).is_ok());
    }

    #[test]
    fn json_lines_take_strings_or_objects() {
        assert_eq!(
            split_json_line("\"中山路1号\"", "address"),
            Ok(("中山路1号".to_owned(), None))
        );
        let (address, record) =
            split_json_line(r#"{"id": 7, "address": "中山路1号"}"#, "address").unwrap();
        assert_eq!(address, "中山路1号");
        assert_eq!(record.unwrap()["id"], 7);
        assert_eq!(
            split_json_line(r#"{"addr": "中山路1号"}"#, "address")
                .unwrap_err()
                .code(),
            "missing_address"
        );
        assert_eq!(
            split_json_line("[1]", "address").unwrap_err().code(),
            "missing_address"
        );
        assert_eq!(
            split_json_line("{oops", "address").unwrap_err().code(),
            "invalid_json"
        );
    }

    #[test]
    fn long_lines_are_skipped_not_buffered() {
        let input = format!("short\r\n{}\nlast", "x".repeat(100));
        let mut reader = BufReader::with_capacity(16, input.as_bytes());
        let mut line = Vec::new();
        assert_eq!(
            read_bounded_line(&mut reader, &mut line, 50).unwrap(),
            Some(true)
        );
        assert_eq!(line, b"short");
        assert_eq!(
            read_bounded_line(&mut reader, &mut line, 50).unwrap(),
            Some(false)
        );
        assert!(line.len() <= 50);
        assert_eq!(
            read_bounded_line(&mut reader, &mut line, 50).unwrap(),
            Some(true)
        );
        assert_eq!(line, b"last");
        assert_eq!(read_bounded_line(&mut reader, &mut line, 50).unwrap(), None);
    }

    #[test]
    fn confidence_is_rounded_for_the_csv() {
        assert_eq!(format_confidence(0.930_000_000_1), "0.93");
        assert_eq!(format_confidence(1.0), "1");
        assert_eq!(format_confidence(0.123_456), "0.1235");
    }
}
