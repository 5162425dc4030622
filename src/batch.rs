//! Batch runs: a CSV or JSON-lines stream in, the same stream with answers added out,
//! one row at a time. Matching, geocoding and reverse geocoding each supply a
//! [`RowAnswerer`]; reading, charset handling, row accounting and output framing are
//! shared here.
//!
//! Nothing here knows about HTTP. The HTTP endpoints and the command line run
//! [`BatchRun`] on a blocking thread over an `impl Read` and an `impl Write`; rows are
//! read, answered and written one by one, so memory stays flat whatever the size of
//! the input.
//!
//! A row that cannot be answered (a missing or bad field, a ragged CSV row, bad JSON)
//! is still written, in its place, with a stable error code; the output has exactly
//! one row per input row, in input order.

use std::io::{self, BufRead, BufReader, Chain, Cursor, Read, Write};

use encoding_rs::{Encoding, GB18030, GBK, UTF_8};
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use serde::Serialize;
use serde_json::{Map, Value};

/// How much of the input the charset is guessed from.
const SNIFF_BYTES: usize = 64 * 1024;
/// Output is handed on in chunks of about this size (the HTTP layer sends each as
/// one piece of the response body).
const OUTPUT_CHUNK_BYTES: usize = 64 * 1024;
/// A JSON line longer than this is reported, not buffered: a body without newlines
/// must not be read into memory whole.
pub const MAX_JSON_LINE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// A header row, then one record per row.
    Csv,
    /// One JSON object (or bare JSON string or array) per line.
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

    /// Decodes a whole body held in memory, detecting its charset and dropping a BOM.
    pub fn decode_detected(bytes: &[u8]) -> String {
        let (text, _) = Charset::detect(bytes)
            .encoding()
            .decode_with_bom_removal(bytes);
        text.into_owned()
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
    #[error("the batch has more than {maximum} rows; the rows after it were not read")]
    TooManyRows { maximum: u64 },
}

/// Why one row has no answer: a stable code (part of the output format: add new
/// ones, never rename old ones) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub code: &'static str,
    pub message: String,
}

impl RowProblem {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        RowProblem {
            code,
            message: message.into(),
        }
    }

    fn ragged(cells: usize, expected: usize) -> Self {
        RowProblem::new(
            "ragged_row",
            format!("the row has {cells} cells; the header has {expected}"),
        )
    }

    fn invalid_json(reason: impl std::fmt::Display) -> Self {
        RowProblem::new("invalid_json", format!("not JSON: {reason}"))
    }

    fn batch_too_large(maximum: u64) -> Self {
        RowProblem::new(
            BATCH_TOO_LARGE,
            format!("a batch holds at most {maximum} rows; split the input and send the rest"),
        )
    }

    fn line_too_long() -> Self {
        RowProblem::new(
            "line_too_long",
            format!("the line is longer than {MAX_JSON_LINE_BYTES} bytes"),
        )
    }
}

/// How a row's answer counts in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowTally {
    /// A standard address.
    Matched,
    /// Only a division.
    Division,
    Unmatched,
}

impl RowTally {
    /// The CSV `status` cell.
    pub fn as_str(self) -> &'static str {
        match self {
            RowTally::Matched => "matched",
            RowTally::Division => "division",
            RowTally::Unmatched => "unmatched",
        }
    }
}

/// What one kind of batch does with a row.
pub trait RowAnswerer {
    /// Serialised into each JSON output line next to `row` and `input`.
    type Answer: Serialize;

    /// The CSV columns (or JSON fields) a row is read from, in the order
    /// [`Self::answer`] receives them.
    fn fields(&self) -> &[String];
    /// The columns appended to every CSV row; the last is `status`.
    fn appended_columns(&self) -> &'static [&'static str];
    /// The problem of a JSON line that lacks a field.
    fn missing_field(&self, field: &str) -> RowProblem;
    fn answer(&self, fields: &[&str]) -> Result<Self::Answer, RowProblem>;
    fn tally(&self, answer: &Self::Answer) -> RowTally;
    /// The appended CSV cells except `status`.
    fn cells(&self, answer: &Self::Answer) -> Vec<String>;
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
    fn count(&mut self, tally: Option<RowTally>) {
        self.rows += 1;
        match tally {
            Some(RowTally::Matched) => self.matched += 1,
            Some(RowTally::Division) => self.division += 1,
            Some(RowTally::Unmatched) => self.unmatched += 1,
            None => self.errors += 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub format: BatchFormat,
    /// `None`: detect from the first 64 KiB.
    pub charset: Option<Charset>,
    /// Past this many rows the batch writes one `batch_too_large` row and stops
    /// with [`BatchError::TooManyRows`]; `None` reads to the end.
    pub max_rows: Option<u64>,
}

/// The row status of the first row past [`BatchOptions::max_rows`].
pub const BATCH_TOO_LARGE: &str = "batch_too_large";

type Decoded<R> = DecodeReaderBytes<Chain<Cursor<Vec<u8>>, R>, Vec<u8>>;

enum Source<R: Read> {
    Csv {
        reader: csv::Reader<Decoded<R>>,
        header: csv::StringRecord,
        columns: Vec<usize>,
    },
    JsonLines {
        reader: BufReader<Decoded<R>>,
    },
}

/// A batch whose input has been opened and (for CSV) whose header has been checked,
/// ready to write. Opening before writing lets the HTTP layer answer a bad header
/// with an error status before it commits to a streamed 200.
pub struct BatchRun<A: RowAnswerer, R: Read> {
    answerer: A,
    source: Source<R>,
    charset: Charset,
    max_rows: Option<u64>,
}

impl<A: RowAnswerer, R: Read> BatchRun<A, R> {
    /// Detects (or takes) the charset and reads the CSV header.
    pub fn open(answerer: A, mut input: R, options: BatchOptions) -> Result<Self, BatchError> {
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
                let columns = answerer
                    .fields()
                    .iter()
                    .map(|field| {
                        header
                            .iter()
                            .position(|name| name.trim() == field)
                            .ok_or_else(|| BatchError::MissingColumn {
                                column: field.clone(),
                                header: header.iter().map(str::to_owned).collect(),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Source::Csv {
                    reader,
                    header,
                    columns,
                }
            }
            BatchFormat::JsonLines => Source::JsonLines {
                reader: BufReader::new(decoded),
            },
        };
        Ok(BatchRun {
            answerer,
            source,
            charset,
            max_rows: options.max_rows,
        })
    }

    pub fn charset(&self) -> Charset {
        self.charset
    }

    /// Answers every row and writes the result. `progress` is called with the number
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
        match self.source {
            Source::Csv {
                reader,
                header,
                columns,
            } => write_csv(
                &self.answerer,
                reader,
                &header,
                &columns,
                self.max_rows,
                output,
                summary,
                progress,
            ),
            Source::JsonLines { reader } => write_json_lines(
                &self.answerer,
                reader,
                self.max_rows,
                output,
                summary,
                progress,
            ),
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

#[allow(clippy::too_many_arguments)]
fn write_csv<A: RowAnswerer, R: Read, W: Write>(
    answerer: &A,
    mut reader: csv::Reader<R>,
    header: &csv::StringRecord,
    columns: &[usize],
    max_rows: Option<u64>,
    output: W,
    mut summary: BatchSummary,
    mut progress: impl FnMut(u64),
) -> Result<BatchSummary, BatchError> {
    let appended_columns = answerer.appended_columns();
    let mut writer = csv::WriterBuilder::new()
        .flexible(false)
        .from_writer(output);
    writer
        .write_record(header.iter().chain(appended_columns.iter().copied()))
        .map_err(csv_write_error)?;
    let width = header.len();
    let mut record = csv::StringRecord::new();
    let mut over_limit = None;
    while reader.read_record(&mut record).map_err(csv_read_error)? {
        over_limit = max_rows.filter(|&maximum| summary.rows >= maximum);
        let answer = if let Some(maximum) = over_limit {
            Err(RowProblem::batch_too_large(maximum))
        } else if record.len() != width {
            Err(RowProblem::ragged(record.len(), width))
        } else {
            let fields: Vec<&str> = columns
                .iter()
                .map(|&column| record.get(column).unwrap_or(""))
                .collect();
            answerer.answer(&fields)
        };
        let mut appended = match &answer {
            Ok(answer) => {
                let tally = answerer.tally(answer);
                summary.count(Some(tally));
                let mut cells = answerer.cells(answer);
                cells.resize(appended_columns.len() - 1, String::new());
                cells.push(tally.as_str().to_owned());
                cells
            }
            Err(problem) => {
                summary.count(None);
                let mut cells = vec![String::new(); appended_columns.len() - 1];
                cells.push(format!("error:{}", problem.code));
                cells
            }
        };
        appended.resize(appended_columns.len(), String::new());
        // A ragged row is padded or cut to the header's width so the appended cells
        // stay under their own header names; its status says it was ragged.
        let cells = (0..width).map(|index| record.get(index).unwrap_or(""));
        writer
            .write_record(cells.chain(appended.iter().map(String::as_str)))
            .map_err(csv_write_error)?;
        if over_limit.is_some() {
            break;
        }
        progress(summary.rows);
    }
    // Flushes the CSV writer and then the buffered writer under it.
    writer
        .into_inner()
        .map_err(|error| BatchError::Write(io::Error::other(error.to_string())))?
        .flush()
        .map_err(BatchError::Write)?;
    match over_limit {
        Some(maximum) => Err(BatchError::TooManyRows { maximum }),
        None => Ok(summary),
    }
}

#[derive(Serialize)]
struct AnsweredLine<'a, T: Serialize> {
    row: u64,
    input: &'a Value,
    #[serde(flatten)]
    answer: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a Map<String, Value>>,
}

#[derive(Serialize)]
struct FailedLine<'a> {
    row: u64,
    error: LineError<'a>,
}

#[derive(Serialize)]
struct LineError<'a> {
    code: &'static str,
    message: &'a str,
}

/// A JSON line's input: the text of each field, the input as echoed back (a bare
/// value for one field, an object of the fields otherwise), and the rest of an
/// object line.
struct JsonRow {
    fields: Vec<String>,
    echo: Value,
    record: Option<Map<String, Value>>,
}

fn field_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Reads a line that is an object with the fields, a bare string (one field) or an
/// array with one value per field.
fn split_json_line<A: RowAnswerer>(answerer: &A, line: &str) -> Result<JsonRow, RowProblem> {
    let names = answerer.fields();
    let value: Value = serde_json::from_str(line).map_err(RowProblem::invalid_json)?;
    let missing = |index: usize| answerer.missing_field(&names[index.min(names.len() - 1)]);
    match value {
        Value::String(text) if names.len() == 1 => Ok(JsonRow {
            fields: vec![text.clone()],
            echo: Value::String(text),
            record: None,
        }),
        Value::Array(values) if names.len() > 1 && values.len() == names.len() => {
            let mut fields = Vec::with_capacity(values.len());
            let mut echo = Map::new();
            for (index, value) in values.into_iter().enumerate() {
                fields.push(field_text(&value).ok_or_else(|| missing(index))?);
                echo.insert(names[index].clone(), value);
            }
            Ok(JsonRow {
                fields,
                echo: Value::Object(echo),
                record: None,
            })
        }
        Value::Object(mut object) => {
            let mut fields = Vec::with_capacity(names.len());
            let mut echo = Map::new();
            for (index, name) in names.iter().enumerate() {
                let value = object.remove(name).ok_or_else(|| missing(index))?;
                fields.push(field_text(&value).ok_or_else(|| missing(index))?);
                echo.insert(name.clone(), value);
            }
            let echo = if names.len() == 1 {
                echo.into_iter()
                    .next()
                    .map(|(_, value)| value)
                    .unwrap_or(Value::Null)
            } else {
                Value::Object(echo)
            };
            Ok(JsonRow {
                fields,
                echo,
                record: Some(object).filter(|rest| !rest.is_empty()),
            })
        }
        _ => Err(missing(0)),
    }
}

fn write_json_lines<A: RowAnswerer, R: BufRead, W: Write>(
    answerer: &A,
    mut reader: R,
    max_rows: Option<u64>,
    mut output: W,
    mut summary: BatchSummary,
    mut progress: impl FnMut(u64),
) -> Result<BatchSummary, BatchError> {
    let mut line = Vec::new();
    let mut over_limit = None;
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
        over_limit = max_rows.filter(|&maximum| summary.rows >= maximum);
        let parsed = if let Some(maximum) = over_limit {
            Err(RowProblem::batch_too_large(maximum))
        } else if complete {
            split_json_line(answerer, text.trim())
        } else {
            Err(RowProblem::line_too_long())
        };
        let answered = parsed.and_then(|row| {
            let fields: Vec<&str> = row.fields.iter().map(String::as_str).collect();
            answerer.answer(&fields).map(|answer| (row, answer))
        });
        let written = match &answered {
            Ok((row, answer)) => {
                summary.count(Some(answerer.tally(answer)));
                serde_json::to_writer(
                    &mut output,
                    &AnsweredLine {
                        row: line_number,
                        input: &row.echo,
                        answer,
                        record: row.record.as_ref(),
                    },
                )
            }
            Err(problem) => {
                summary.count(None);
                serde_json::to_writer(
                    &mut output,
                    &FailedLine {
                        row: line_number,
                        error: LineError {
                            code: problem.code,
                            message: &problem.message,
                        },
                    },
                )
            }
        };
        written.map_err(|error| BatchError::Write(error.into()))?;
        output.write_all(b"\n").map_err(BatchError::Write)?;
        if over_limit.is_some() {
            break;
        }
        progress(summary.rows);
    }
    output.flush().map_err(BatchError::Write)?;
    match over_limit {
        Some(maximum) => Err(BatchError::TooManyRows { maximum }),
        None => Ok(summary),
    }
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

    /// Sums two numeric fields.
    struct Adder {
        fields: Vec<String>,
    }

    impl RowAnswerer for Adder {
        type Answer = serde_json::Value;

        fn fields(&self) -> &[String] {
            &self.fields
        }

        fn appended_columns(&self) -> &'static [&'static str] {
            &["sum", "status"]
        }

        fn missing_field(&self, field: &str) -> RowProblem {
            RowProblem::new("missing_field", format!("no {field}"))
        }

        fn answer(&self, fields: &[&str]) -> Result<Self::Answer, RowProblem> {
            let mut sum = 0.0;
            for field in fields {
                sum += field
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| RowProblem::new("not_a_number", *field))?;
            }
            Ok(serde_json::json!({ "sum": sum }))
        }

        fn tally(&self, _: &Self::Answer) -> RowTally {
            RowTally::Matched
        }

        fn cells(&self, answer: &Self::Answer) -> Vec<String> {
            vec![answer["sum"].to_string()]
        }
    }

    fn run(format: BatchFormat, input: &str) -> (String, BatchSummary) {
        let answerer = Adder {
            fields: vec!["a".into(), "b".into()],
        };
        let options = BatchOptions {
            format,
            charset: None,
            max_rows: None,
        };
        let mut output = Vec::new();
        let summary = BatchRun::open(answerer, input.as_bytes(), options)
            .unwrap()
            .write_to(&mut output, |_| {})
            .unwrap();
        (String::from_utf8(output).unwrap(), summary)
    }

    #[test]
    fn csv_rows_keep_order_and_report_problems_in_place() {
        let (output, summary) = run(BatchFormat::Csv, "id,b,a\n1,2,3\n2,x,1\n3,1\n4,0.5,0.25\n");
        assert_eq!(
            output,
            "id,b,a,sum,status\n1,2,3,5.0,matched\n2,x,1,,error:not_a_number\n\
             3,1,,,error:ragged_row\n4,0.5,0.25,0.75,matched\n"
        );
        assert_eq!((summary.rows, summary.matched, summary.errors), (4, 2, 2));
    }

    #[test]
    fn a_batch_past_its_row_limit_says_so_in_the_next_row_and_stops() {
        for (format, input, expected_tail) in [
            (
                BatchFormat::Csv,
                "a,b\n1,2\n3,4\n5,6\n7,8\n",
                "3,4,7.0,matched\n5,6,,error:batch_too_large\n",
            ),
            (
                BatchFormat::JsonLines,
                "[1,2]\n[3,4]\n[5,6]\n[7,8]\n",
                "\"code\":\"batch_too_large\"",
            ),
        ] {
            let answerer = Adder {
                fields: vec!["a".into(), "b".into()],
            };
            let options = BatchOptions {
                format,
                charset: None,
                max_rows: Some(2),
            };
            let mut output = Vec::new();
            let error = BatchRun::open(answerer, input.as_bytes(), options)
                .unwrap()
                .write_to(&mut output, |_| {})
                .unwrap_err();
            assert!(matches!(error, BatchError::TooManyRows { maximum: 2 }));
            let output = String::from_utf8(output).unwrap();
            assert_eq!(
                output.lines().count(),
                if format == BatchFormat::Csv { 4 } else { 3 }
            );
            assert!(output.contains(expected_tail), "{output}");
            assert!(
                !output.contains("7,8") && !output.contains("\"row\":4"),
                "no row after the limit is answered: {output}"
            );
        }
    }

    #[test]
    fn a_missing_csv_column_fails_the_whole_batch() {
        let answerer = Adder {
            fields: vec!["a".into(), "b".into()],
        };
        let options = BatchOptions {
            format: BatchFormat::Csv,
            charset: None,
            max_rows: None,
        };
        let error = BatchRun::open(answerer, "a,c\n1,2\n".as_bytes(), options)
            .err()
            .unwrap();
        assert!(matches!(error, BatchError::MissingColumn { column, .. } if column == "b"));
    }

    #[test]
    fn json_lines_take_objects_or_arrays_and_echo_the_input() {
        let input = "{\"a\": 1, \"b\": \"2\", \"id\": 7}\n\n[3, 4]\n{\"a\": 1}\n{oops\n\"x\"\n";
        let (output, summary) = run(BatchFormat::JsonLines, input);
        let lines: Vec<Value> = output
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0]["row"], 1);
        assert_eq!(lines[0]["input"], serde_json::json!({"a": 1, "b": "2"}));
        assert_eq!(lines[0]["sum"], 3.0);
        assert_eq!(lines[0]["record"]["id"], 7);
        assert_eq!(lines[1]["row"], 3);
        assert_eq!(lines[1]["sum"], 7.0);
        assert_eq!(lines[2]["error"]["code"], "missing_field");
        assert_eq!(lines[3]["error"]["code"], "invalid_json");
        assert_eq!(lines[4]["error"]["code"], "missing_field");
        assert_eq!((summary.rows, summary.matched, summary.errors), (5, 2, 3));
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
}
