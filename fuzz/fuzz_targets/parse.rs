//! The address parser with the national lexicon and the shipped model: no panic, and
//! every component's offsets name its own text in the input, in order.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use yizhitong::reference::{EMBEDDED_PARSER_MODEL, ReferenceSource};
use yizhitong::text::lexicon::PlaceLexicon;
use yizhitong::text::parse::AddressParser;
use yizhitong::text::parse::model::TaggerModel;

fn parser() -> &'static AddressParser {
    static PARSER: OnceLock<AddressParser> = OnceLock::new();
    PARSER.get_or_init(|| {
        let reference = ReferenceSource::Embedded.load().expect("embedded reference data");
        let lexicon = PlaceLexicon::from_divisions(&reference.divisions);
        let model = TaggerModel::read_from(EMBEDDED_PARSER_MODEL).expect("embedded model");
        AddressParser::new(Arc::new(model), Arc::new(lexicon))
    })
}

fuzz_target!(|text: &str| {
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
});
