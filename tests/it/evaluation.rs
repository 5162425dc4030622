//! The evaluation harness on a slice of the held-out folds of `../shared/data`, with
//! floors a little under the full-data figures (docs/matching.md), so a regression in
//! the parser, linking, matching or compare fails CI. `scripts/eval` prints the full
//! report.
//!
//! The data is research data that is not part of the repository: without
//! `../shared/data` these tests say so and pass, except in CI, where its absence is
//! a failure.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};

use yizhitong::evaluation::{
    Part, evaluate_compare, evaluate_linking, evaluate_parser, evaluate_registry, read_addresses,
    read_pairs, read_registry_queries,
};
use yizhitong::registry::import::import_address_csv;
use yizhitong::store::Actor;

use yizhitong::index::addresses::AddressIndex;
use yizhitong::index::divisions::DivisionDirectory;
use yizhitong::matching::MatchEngine;
use yizhitong::reference::ReferenceSource;
use yizhitong::text::lexicon::PlaceLexicon;
use yizhitong::text::parse::AddressParser;

use crate::common::{TestApp, sqlite};

/// The matcher over the full embedded division data (the parser's lexicon must be
/// the one it was trained with) and an empty registry, built once.
fn embedded_engine() -> &'static MatchEngine {
    static ENGINE: OnceLock<MatchEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let reference = ReferenceSource::Embedded
            .load()
            .expect("embedded reference");
        let lexicon = Arc::new(PlaceLexicon::from_divisions(&reference.divisions));
        MatchEngine::new(
            AddressParser::with_shipped_model(lexicon).expect("parser model"),
            Arc::new(DivisionDirectory::build(reference.divisions)),
            Arc::new(RwLock::new(AddressIndex::new())),
        )
    })
}

fn shared_data() -> Option<PathBuf> {
    crate::common::shared_data_file("addresses/dev.jsonl", "the evaluation slice").map(|file| {
        file.parent()
            .and_then(|dir| dir.parent())
            .expect("data dir")
            .to_owned()
    })
}

#[test]
fn parser_on_held_out_addresses() {
    let Some(data) = shared_data() else { return };
    let addresses = read_addresses(&data, Part::HeldOut, 600).expect("addresses");
    let report = evaluate_parser(embedded_engine().parser(), &addresses);
    let f1 = report.core.f1();
    eprintln!(
        "parser core micro-F1 on {} held-out addresses: {f1:.4}",
        addresses.len()
    );
    assert!(f1 >= 0.86, "parser core micro-F1 fell to {f1:.4}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_and_registry_matching_on_held_out_queries() {
    let Some(data) = shared_data() else { return };
    // The whole embedded reference: the fixture holds only two cities.
    let app = TestApp::start_with(sqlite(), |config| config.reference_data_dir = None).await;
    let registry_csv = std::fs::read(data.join("registry/dev_registry.csv")).unwrap();
    let report = import_address_csv(
        &app.registry,
        registry_csv.as_slice(),
        &Actor::system(),
        |_| {},
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.rejected, 0);
    let matcher = app.matcher();

    let addresses = read_addresses(&data, Part::HeldOut, 800).unwrap();
    let linking = evaluate_linking(&matcher, &addresses);
    eprintln!(
        "linking: county {:.4} of {}, town {:.4} of {}",
        linking.county.rate(),
        linking.county.total,
        linking.town.rate(),
        linking.town.total
    );
    assert!(
        linking.county.rate() >= 0.98,
        "county linking {:.4}",
        linking.county.rate()
    );
    assert!(
        linking.town.rate() >= 0.95,
        "town linking {:.4}",
        linking.town.rate()
    );

    let queries = read_registry_queries(&data, Part::HeldOut, 500).unwrap();
    let registry = evaluate_registry(&matcher, &queries);
    eprintln!(
        "registry top-1 on {} held-out queries: {:.4}; confidence >= 0.9 right {:.4}",
        registry.top1.total,
        registry.top1.rate(),
        registry.confident.rate()
    );
    assert!(
        registry.top1.rate() >= 0.95,
        "registry top-1 {:.4}",
        registry.top1.rate()
    );
    assert!(
        registry.confident.rate() >= 0.9,
        "calibration {:.4}",
        registry.confident.rate()
    );
}

#[test]
fn compare_on_held_out_pairs() {
    let Some(data) = shared_data() else { return };
    let pairs = read_pairs(&data, Part::HeldOut, 1500).expect("pairs");
    let confusion = evaluate_compare(embedded_engine(), &pairs);
    let macro_f1 = confusion.macro_f1();
    eprintln!(
        "compare macro-F1 on {} held-out pairs: {macro_f1:.4}",
        pairs.len()
    );
    assert!(macro_f1 >= 0.62, "compare macro-F1 fell to {macro_f1:.4}");
}
