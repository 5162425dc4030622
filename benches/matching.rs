//! Single-thread matching throughput on a large registry.
//!
//! `cargo bench --bench matching`. The registry is the
//! synthetic CSV of `scripts/generate-synthetic-addresses` (1,000,000 rows unless
//! YZT_BENCH_ROWS says otherwise; YZT_BENCH_REGISTRY names an existing file to reuse).
//! Queries are registered addresses rewritten the way people write them: province
//! dropped, 栋 for 幢, dash shorthand, full-width digits.
//!
//! Reported: queries per second (median of five rounds), with parse-only and
//! link-only throughput in the same process as the baseline, the scorer alone (on
//! inputs parsed beforehand), and top-1 accuracy on the rewritten queries as a sanity
//! check.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use yizhitong::index::divisions::DivisionDirectory;
use yizhitong::matching::{MatchEngine, MatchOptions, link_division};
use yizhitong::reference::ReferenceSource;
use yizhitong::text::lexicon::PlaceLexicon;
use yizhitong::text::parse::AddressParser;

#[path = "support/mod.rs"]
mod support;

use support::{index_registry, median, registry_csv};

const QUERIES: usize = 20_000;
const ROUNDS: usize = 5;

/// Rewrites a standard address the way a caller might type it.
fn messy_variant(standard_text: &str, variant: usize) -> String {
    let mut text = standard_text.to_owned();
    if variant % 2 == 1 {
        text = text.replacen("浙江省", "", 1);
    }
    if variant % 4 >= 2 {
        text = text
            .replace('幢', "栋")
            .replace("单元", "-")
            .replace('室', "");
    }
    if variant % 8 == 7 {
        text = text
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    char::from_u32(c as u32 - 0x30 + 0xFF10).unwrap_or(c)
                } else {
                    c
                }
            })
            .collect();
    }
    text
}

fn main() {
    let rows: usize = std::env::var("YZT_BENCH_ROWS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let reference = ReferenceSource::Embedded
        .load()
        .expect("embedded reference data");
    let lexicon = Arc::new(PlaceLexicon::from_divisions(&reference.divisions));
    let directory = Arc::new(DivisionDirectory::build(reference.divisions));
    let parser = AddressParser::with_shipped_model(lexicon).expect("parser model");
    eprintln!(
        "reference data and parser: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let path = registry_csv(rows);
    let started = Instant::now();
    let mut samples: Vec<(String, String)> = Vec::new();
    let index = index_registry(&path, &directory, |row| {
        // Every 50th row becomes a query (the file is ordered by town, so this
        // spreads queries over the whole province).
        if row.line_number % 50 == 0 && samples.len() < QUERIES {
            samples.push((row.source_id.to_owned(), row.standard_text.to_owned()));
        }
    });
    eprintln!(
        "indexed {} addresses in {:.1} s",
        index.len(),
        started.elapsed().as_secs_f64()
    );
    let queries: Vec<(String, String)> = samples
        .into_iter()
        .enumerate()
        .map(|(position, (source_id, text))| (source_id, messy_variant(&text, position)))
        .collect();
    let engine = MatchEngine::new(
        parser.clone(),
        directory.clone(),
        Arc::new(RwLock::new(index)),
    );
    let options = MatchOptions {
        limit: Some(1),
        division: None,
    };

    let mut right = 0;
    for (source_id, text) in &queries {
        let best = engine.match_address(text, &options);
        if best.first().and_then(|m| m.source_id.as_deref()) == Some(source_id.as_str()) {
            right += 1;
        }
    }

    let measure = |work: &dyn Fn(&str)| -> f64 {
        let mut rates = Vec::new();
        for _ in 0..ROUNDS {
            let started = Instant::now();
            for (_, text) in &queries {
                work(text);
            }
            rates.push(queries.len() as f64 / started.elapsed().as_secs_f64());
        }
        median(rates)
    };
    let parse_rate = measure(&|text| {
        std::hint::black_box(parser.parse(text));
    });
    let link_rate = measure(&|text| {
        std::hint::black_box(link_division(&directory, &parser.parse(text)));
    });
    let match_rate = measure(&|text| {
        std::hint::black_box(engine.match_address(text, &options));
    });
    // The scorer alone: linking, candidates and scoring over inputs parsed beforehand.
    let parsed: Vec<_> = queries
        .iter()
        .map(|(_, text)| (text.as_str(), parser.parse(text)))
        .collect();
    let mut score_rates = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for (text, components) in &parsed {
            std::hint::black_box(engine.match_components(text, components, &options));
        }
        score_rates.push(parsed.len() as f64 / started.elapsed().as_secs_f64());
    }
    let score_rate = median(score_rates);
    println!(
        "registry: {rows} synthetic addresses; {} rewritten queries",
        queries.len()
    );
    println!(
        "top-1 on rewritten queries: {:.4}",
        right as f64 / queries.len() as f64
    );
    println!("parse only:        {parse_rate:>9.0} queries/s (median of {ROUNDS})");
    println!("parse + link:      {link_rate:>9.0} queries/s");
    println!(
        "full match:        {match_rate:>9.0} queries/s ({:.2} of parse-only)",
        match_rate / parse_rate
    );
    println!(
        "scoring only:      {score_rate:>9.0} queries/s (link, candidates, scores; parsed beforehand)"
    );
}
