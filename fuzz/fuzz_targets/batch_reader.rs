//! The batch reader on any bytes, as CSV and as JSON lines, in either charset: no
//! panic, and each row read gives exactly one output row.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yizhitong::batch::{
    BatchError, BatchFormat, BatchOptions, BatchRun, Charset, RowAnswerer, RowProblem, RowTally,
};

struct Echo {
    fields: Vec<String>,
}

impl RowAnswerer for Echo {
    type Answer = usize;

    fn fields(&self) -> &[String] {
        &self.fields
    }

    fn appended_columns(&self) -> &'static [&'static str] {
        &["length", "status"]
    }

    fn missing_field(&self, field: &str) -> RowProblem {
        RowProblem::new("missing_field", format!("no {field}"))
    }

    fn answer(&self, fields: &[&str]) -> Result<usize, RowProblem> {
        let length: usize = fields.iter().map(|field| field.chars().count()).sum();
        if length == 0 {
            Err(RowProblem::new("empty", "empty"))
        } else {
            Ok(length)
        }
    }

    fn tally(&self, answer: &usize) -> RowTally {
        if answer % 2 == 0 { RowTally::Matched } else { RowTally::Unmatched }
    }

    fn cells(&self, answer: &usize) -> Vec<String> {
        vec![answer.to_string()]
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 { BatchFormat::Csv } else { BatchFormat::JsonLines };
    let charset = match selector >> 1 & 3 {
        0 => None,
        1 => Some(Charset::Utf8),
        _ => Some(Charset::Gb18030),
    };
    let fields = if selector & 8 == 0 {
        vec!["address".to_owned()]
    } else {
        vec!["a".to_owned(), "b".to_owned()]
    };
    let options = BatchOptions {
        format,
        charset,
        max_rows: Some(64),
    };
    let Ok(run) = BatchRun::open(Echo { fields }, body, options) else {
        return;
    };
    let mut output = Vec::new();
    match run.write_to(&mut output, |_| {}) {
        Ok(summary) => {
            let lines = output.iter().filter(|&&byte| byte == b'\n').count() as u64;
            if format == BatchFormat::JsonLines {
                assert_eq!(lines, summary.rows);
            } else {
                // Quoted cells may hold line breaks, so CSV output has at least a
                // header line and one line per row.
                assert!(lines > summary.rows);
            }
            assert_eq!(
                summary.rows,
                summary.matched + summary.division + summary.unmatched + summary.errors
            );
        }
        Err(BatchError::TooManyRows { maximum }) => assert_eq!(maximum, 64),
        Err(BatchError::Read(_)) => {}
        Err(other) => panic!("unexpected batch error: {other}"),
    }
});
