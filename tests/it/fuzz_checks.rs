//! The fuzz targets' checks (`fuzz/checks.rs`), run briefly on every test run: random
//! input from proptest, and the inputs fuzzing has found problems with. The long runs
//! are `cargo fuzz run <target>` (docs/reliability.md).

use proptest::prelude::*;

#[path = "../../fuzz/checks.rs"]
#[allow(dead_code)]
mod checks;

/// Inputs that once broke a check, kept so the fix stays: a floor written as a bare
/// `b` (fields are split at `|`: road, number, place, building, unit, floor, room).
const FOUND_BY_FUZZING: &[&str] = &["||++++++++++++++++++++++++++++|||b", "|||||B"];

#[test]
fn inputs_fuzzing_found_stay_fixed() {
    for input in FOUND_BY_FUZZING {
        checks::normalize(input);
        checks::parse(input);
        checks::batch_reader(input.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn normalize_check_holds(text in "\\PC{0,60}") {
        checks::normalize(&text);
    }

    #[test]
    fn parse_check_holds(text in "[\\u4e00-\\u9fa50-9A-Za-z#\\-()（）号栋幢单元室层楼路街巷弄村组 ]{0,60}") {
        checks::parse(&text);
    }

    #[test]
    fn batch_reader_check_holds(input in prop::collection::vec(any::<u8>(), 0..600)) {
        checks::batch_reader(&input);
    }

    #[test]
    fn batch_reader_check_holds_on_text(selector in any::<u8>(), body in "[a-z,\"\\n\\r{}\\[\\]:0-9宁波路号]{0,300}") {
        let mut input = vec![selector];
        input.extend_from_slice(body.as_bytes());
        checks::batch_reader(&input);
    }

    #[test]
    fn plate_token_check_holds(text in "[A-Za-z0-9_\\-]{0,30}", id in any::<i64>()) {
        checks::plate_token(&text, id);
    }
}
