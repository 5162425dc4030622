//! What each fuzz target asserts, shared with the quick run of the same checks in the
//! test suite (`tests/it/fuzz_checks.rs`), so CI exercises them on every change
//! without cargo-fuzz.

use std::sync::{Arc, OnceLock};

use yizhitong::batch::{
    BatchError, BatchFormat, BatchOptions, BatchRun, Charset, RowAnswerer, RowProblem, RowTally,
};
use yizhitong::domain::address::AddressComponents;
use yizhitong::doorplate::token::{MAX_PLATE_ID, PlateTokens};
use yizhitong::reference::ReferenceSource;
use yizhitong::text::address_text::normalize_address_text;
use yizhitong::text::lexicon::PlaceLexicon;
use yizhitong::text::parse::AddressParser;

/// The normaliser and the canonicaliser: no panic, every output character maps back
/// into the input, and a second pass changes nothing.
pub fn normalize(text: &str) {
    let normalized = normalize_address_text(text);
    let input_length = text.chars().count();
    assert_eq!(normalized.origins.len(), normalized.text.chars().count());
    for &(start, end) in &normalized.origins {
        assert!(start < end && end <= input_length);
    }
    assert_eq!(
        normalize_address_text(&normalized.text).text,
        normalized.text
    );

    let mut slots = text.split('|').map(|part| Some(part.to_owned()));
    let components = AddressComponents {
        road: slots.next().flatten(),
        road_no: slots.next().flatten(),
        place: slots.next().flatten(),
        building: slots.next().flatten(),
        unit: slots.next().flatten(),
        floor: slots.next().flatten(),
        room: slots.next().flatten(),
    };
    if let Ok(once) = components.canonicalized() {
        assert_eq!(once.canonicalized().ok(), Some(once));
    }
}

fn parser() -> &'static AddressParser {
    static PARSER: OnceLock<AddressParser> = OnceLock::new();
    PARSER.get_or_init(|| {
        let reference = ReferenceSource::Embedded
            .load()
            .expect("embedded reference data");
        let lexicon = PlaceLexicon::from_divisions(&reference.divisions);
        AddressParser::with_shipped_model(Arc::new(lexicon)).expect("embedded model")
    })
}

/// The parser with the national lexicon and the shipped model: no panic, and every
/// component's offsets name its own text in the input, in order, without overlap.
pub fn parse(text: &str) {
    // The API refuses longer text before it is parsed.
    if text.chars().count() > 500 {
        return;
    }
    let characters: Vec<char> = text.chars().collect();
    let mut previous_end = 0;
    for component in parser().parse(text) {
        assert!(component.start < component.end && component.end <= characters.len());
        assert!(component.start >= previous_end, "components overlap");
        let covered: String = characters[component.start..component.end].iter().collect();
        assert_eq!(covered, component.text);
        previous_end = component.end;
    }
}

struct Echo {
    fields: Vec<String>,
}

/// Answers are flattened into each JSON line, so they are maps, as real answers are.
type Length = std::collections::BTreeMap<&'static str, usize>;

impl RowAnswerer for Echo {
    type Answer = Length;

    fn fields(&self) -> &[String] {
        &self.fields
    }

    fn appended_columns(&self) -> &'static [&'static str] {
        &["length", "status"]
    }

    fn missing_field(&self, field: &str) -> RowProblem {
        RowProblem::new("missing_field", format!("no {field}"))
    }

    fn answer(&self, fields: &[&str]) -> Result<Length, RowProblem> {
        let length: usize = fields.iter().map(|field| field.chars().count()).sum();
        if length == 0 {
            Err(RowProblem::new("empty", "empty"))
        } else {
            Ok(Length::from([("length", length)]))
        }
    }

    fn tally(&self, answer: &Length) -> RowTally {
        if answer["length"].is_multiple_of(2) {
            RowTally::Matched
        } else {
            RowTally::Unmatched
        }
    }

    fn cells(&self, answer: &Length) -> Vec<String> {
        vec![answer["length"].to_string()]
    }
}

/// The batch reader on any bytes, as CSV or JSON lines, in either charset, with a row
/// limit (the first byte picks the variant): no panic, one output row per row read.
pub fn batch_reader(input: &[u8]) {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        BatchFormat::Csv
    } else {
        BatchFormat::JsonLines
    };
    let charset = match (selector >> 1) & 3 {
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
                // Quoted cells may hold line breaks, so CSV output has at least a header
                // line and one line per row.
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
}

/// The doorplate token verifier on any text: nothing it did not sign is accepted, and
/// every id it signs comes back.
pub fn plate_token(text: &str, id: i64) {
    let tokens = PlateTokens::new(b"fuzzing secret");
    if let Some(verified) = tokens.verify(text) {
        // Only a token this key signed verifies, and it signs to exactly that text.
        assert_eq!(tokens.sign(verified), text);
    }
    let id = id.rem_euclid(MAX_PLATE_ID) + 1;
    assert_eq!(tokens.verify(&tokens.sign(id)), Some(id));
    let other = PlateTokens::new(b"another secret");
    assert_eq!(other.verify(&tokens.sign(id)), None);
}
