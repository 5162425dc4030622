//! Batch matching: the matcher as a [`RowAnswerer`] for [`crate::batch`]. Each row's
//! address is matched and the best answers are added to it.
//!
//! CSV output is the input plus the columns in [`APPENDED_COLUMNS`]; JSON-lines
//! output is `{"row", "input", "matches", "record"?}` per line.

use std::io::{Read, Write};

use serde::Serialize;

use crate::batch::{
    BatchError, BatchOptions, BatchRun, BatchSummary, RowAnswerer, RowProblem, RowTally,
};
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

/// An address that is empty (or only whitespace).
pub const EMPTY_ADDRESS: &str = "empty_address";
/// An address longer than [`MAX_ADDRESS_CHARS`].
pub const ADDRESS_TOO_LONG: &str = "address_too_long";

/// Checks one address before it reaches the engine. Returns the text to match.
pub fn check_address(address: &str) -> Result<&str, RowProblem> {
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return Err(RowProblem::new(EMPTY_ADDRESS, "the address is empty"));
    }
    let chars = trimmed.chars().count();
    if chars > MAX_ADDRESS_CHARS {
        return Err(RowProblem::new(
            ADDRESS_TOO_LONG,
            format!("the address has {chars} characters; at most {MAX_ADDRESS_CHARS} are matched"),
        ));
    }
    Ok(trimmed)
}

/// The problem of a JSON line without the address `field`.
pub fn missing_address(field: &str) -> RowProblem {
    RowProblem::new(
        "missing_address",
        format!("expected a JSON string or an object with a string field {field:?}"),
    )
}

/// A division answer carries a division level; address answers never do.
pub fn is_division(answer: &AddressMatch) -> bool {
    answer.level >= MatchLevel::Village
}

/// Four decimals are more than the calibration supports and keep the column short.
pub fn format_confidence(confidence: f64) -> String {
    let rounded = (confidence * 10_000.0).round() / 10_000.0;
    rounded.to_string()
}

#[derive(Debug, Serialize)]
pub struct MatchedRow {
    pub matches: Vec<AddressMatch>,
}

/// Matches the address in one column (or field) of each row.
pub struct MatchRows<'e> {
    engine: &'e MatchEngine,
    fields: [String; 1],
    options: MatchOptions,
}

impl<'e> MatchRows<'e> {
    /// `limit` answers per JSON line (CSV rows carry the best one).
    pub fn new(engine: &'e MatchEngine, column: impl Into<String>, limit: usize) -> Self {
        MatchRows {
            engine,
            fields: [column.into()],
            options: MatchOptions {
                limit: Some(limit.max(1)),
                division: None,
            },
        }
    }
}

impl RowAnswerer for MatchRows<'_> {
    type Answer = MatchedRow;

    fn fields(&self) -> &[String] {
        &self.fields
    }

    fn appended_columns(&self) -> &'static [&'static str] {
        &APPENDED_COLUMNS
    }

    fn missing_field(&self, field: &str) -> RowProblem {
        missing_address(field)
    }

    fn answer(&self, fields: &[&str]) -> Result<MatchedRow, RowProblem> {
        let address = check_address(fields.first().copied().unwrap_or(""))?;
        Ok(MatchedRow {
            matches: self.engine.match_address(address, &self.options),
        })
    }

    fn tally(&self, answer: &MatchedRow) -> RowTally {
        match answer.matches.first() {
            Some(best) if is_division(best) => RowTally::Division,
            Some(_) => RowTally::Matched,
            None => RowTally::Unmatched,
        }
    }

    fn cells(&self, answer: &MatchedRow) -> Vec<String> {
        match answer.matches.first() {
            Some(best) => vec![
                best.code.clone(),
                best.address.clone(),
                best.level.as_str().to_owned(),
                format_confidence(best.confidence),
                best.division.code.clone(),
            ],
            None => Vec::new(),
        }
    }
}

/// Opens and runs a matching batch in one call.
pub fn match_batch(
    engine: &MatchEngine,
    column: &str,
    limit: usize,
    input: impl Read,
    output: impl Write,
    options: BatchOptions,
    progress: impl FnMut(u64),
) -> Result<BatchSummary, BatchError> {
    BatchRun::open(MatchRows::new(engine, column, limit), input, options)?
        .write_to(output, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_before_matching() {
        assert_eq!(check_address("  中山路1号 "), Ok("中山路1号"));
        assert_eq!(check_address(" \t").unwrap_err().code, EMPTY_ADDRESS);
        let long = "路".repeat(MAX_ADDRESS_CHARS + 1);
        assert_eq!(check_address(&long).unwrap_err().code, ADDRESS_TOO_LONG);
        assert!(check_address(&"路".repeat(MAX_ADDRESS_CHARS)).is_ok());
    }

    #[test]
    fn confidence_is_rounded_for_the_csv() {
        assert_eq!(format_confidence(0.930_000_000_1), "0.93");
        assert_eq!(format_confidence(1.0), "1");
        assert_eq!(format_confidence(0.123_456), "0.1235");
    }
}
