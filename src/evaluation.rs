//! Scoring the parser, division linking, registry matching and compare against the
//! labelled data in `../shared/data`. Used by `scripts/eval` (the full report) and by
//! the integration tests (a slice, with floors, so that a regression fails CI).
//!
//! Every figure can be computed on the tuning folds (0–6) or on the held-out folds
//! (7–9) that nothing was trained or tuned on; see `text::parse::train::fold_of`.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use crate::matching::{MatchEngine, MatchOptions};
use crate::text::parse::train::{LabelledAddress, SpanCounts, fold_of};
use crate::text::parse::{AddressParser, Component, Label};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Tuning,
    HeldOut,
    All,
}

impl Part {
    pub fn includes(self, key: &str) -> bool {
        match self {
            Part::Tuning => fold_of(key) < 7,
            Part::HeldOut => fold_of(key) >= 7,
            Part::All => true,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Part::Tuning => "tuning folds 0-6",
            Part::HeldOut => "held-out folds 7-9",
            Part::All => "all folds",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    #[error("{path}: {reason}")]
    Data { path: String, reason: String },
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, EvaluationError> {
    let error = |reason: String| EvaluationError::Data {
        path: path.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| error(e.to_string()))?;
    let mut rows = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| error(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        rows.push(
            serde_json::from_str(&line).map_err(|e| error(format!("line {}: {e}", number + 1)))?,
        );
    }
    Ok(rows)
}

/// A labelled address with the gold division codes where the text fixes them.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldAddress {
    #[serde(flatten)]
    pub labelled: LabelledAddress,
    pub gold: GoldDivisions,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GoldDivisions {
    pub county: Option<String>,
    pub town: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RegistryQuery {
    pub text: String,
    pub expect: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LabelledPair {
    pub query: String,
    pub candidate: String,
    pub label: String,
}

pub fn read_addresses(
    data: &Path,
    part: Part,
    limit: usize,
) -> Result<Vec<GoldAddress>, EvaluationError> {
    read_part(
        &data.join("addresses/dev.jsonl"),
        part,
        limit,
        |row: &GoldAddress| &row.labelled.text,
    )
}

/// The rows of one data file in `part` (by the fold of `key`), at most `limit`.
fn read_part<T: for<'de> Deserialize<'de>>(
    path: &Path,
    part: Part,
    limit: usize,
    key: impl Fn(&T) -> &str,
) -> Result<Vec<T>, EvaluationError> {
    let rows: Vec<T> = read_jsonl(path)?;
    Ok(rows
        .into_iter()
        .filter(|row| part.includes(key(row)))
        .take(limit)
        .collect())
}

pub fn read_registry_queries(
    data: &Path,
    part: Part,
    limit: usize,
) -> Result<Vec<RegistryQuery>, EvaluationError> {
    let path = data.join("registry/dev_registry_queries.jsonl");
    read_part(&path, part, limit, |row: &RegistryQuery| &row.text)
}

pub fn read_pairs(
    data: &Path,
    part: Part,
    limit: usize,
) -> Result<Vec<LabelledPair>, EvaluationError> {
    read_part(
        &data.join("pairs/dev.jsonl"),
        part,
        limit,
        |row: &LabelledPair| &row.query,
    )
}

#[derive(Debug, Default)]
pub struct ParserReport {
    pub core: SpanCounts,
    pub by_label: BTreeMap<Label, SpanCounts>,
}

pub fn evaluate_parser(parser: &AddressParser, addresses: &[GoldAddress]) -> ParserReport {
    let mut report = ParserReport::default();
    for address in addresses {
        let gold: Vec<Component> = address.labelled.components();
        let predicted = parser.parse(&address.labelled.text);
        let core = |components: &[Component]| -> Vec<Component> {
            components
                .iter()
                .filter(|c| c.label.is_core())
                .cloned()
                .collect()
        };
        report.core.add(&core(&gold), &core(&predicted));
        for label in Label::ALL {
            let of_label = |components: &[Component]| -> Vec<Component> {
                components
                    .iter()
                    .filter(|c| c.label == label)
                    .cloned()
                    .collect()
            };
            let (gold_of_label, predicted_of_label) = (of_label(&gold), of_label(&predicted));
            if !gold_of_label.is_empty() || !predicted_of_label.is_empty() {
                report
                    .by_label
                    .entry(label)
                    .or_default()
                    .add(&gold_of_label, &predicted_of_label);
            }
        }
    }
    report
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Accuracy {
    pub right: u64,
    pub total: u64,
}

impl Accuracy {
    pub fn add(&mut self, right: bool) {
        self.total += 1;
        self.right += u64::from(right);
    }

    pub fn rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.right as f64 / self.total as f64
        }
    }
}

#[derive(Debug, Default)]
pub struct LinkingReport {
    pub county: Accuracy,
    pub town: Accuracy,
    /// (input, gold code, division code answered).
    pub failures: Vec<(String, String, String)>,
}

/// Linking as `match` reports it: the `division.code` of the best answer, compared
/// by prefix with the gold county (6 digits) and town (9 digits).
pub fn evaluate_linking(matcher: &MatchEngine, addresses: &[GoldAddress]) -> LinkingReport {
    let mut report = LinkingReport::default();
    for address in addresses {
        if address.gold.county.is_none() && address.gold.town.is_none() {
            continue;
        }
        let matches = matcher.match_address(&address.labelled.text, &MatchOptions::default());
        let code = matches
            .first()
            .map(|m| m.division.code.clone())
            .unwrap_or_default();
        for (gold, accuracy) in [
            (&address.gold.county, &mut report.county),
            (&address.gold.town, &mut report.town),
        ] {
            if let Some(gold) = gold {
                let right = code.starts_with(gold.as_str());
                accuracy.add(right);
                if !right {
                    report.failures.push((
                        address.labelled.text.clone(),
                        gold.clone(),
                        code.clone(),
                    ));
                }
            }
        }
    }
    report
}

#[derive(Debug, Default)]
pub struct RegistryReport {
    pub top1: Accuracy,
    pub by_level: BTreeMap<String, Accuracy>,
    /// Answers with confidence ≥ 0.9 and how many of them were right.
    pub confident: Accuracy,
    /// (lower bound of the confidence bin, right, total).
    pub calibration: Vec<(f64, Accuracy)>,
    /// (query, expected standard text, best answer's text, its confidence).
    pub failures: Vec<(String, String, String, f64)>,
}

pub fn evaluate_registry(matcher: &MatchEngine, queries: &[RegistryQuery]) -> RegistryReport {
    let mut report = RegistryReport::default();
    let bins = [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95];
    report.calibration = bins.iter().map(|&b| (b, Accuracy::default())).collect();
    let options = MatchOptions {
        limit: Some(3),
        division: None,
    };
    // source_id → (level, standard text) of the expected row, read once.
    let expected_rows: std::collections::HashMap<String, (&'static str, String)> = {
        let index = matcher
            .addresses()
            .read()
            .unwrap_or_else(|p| p.into_inner());
        index
            .iter()
            .filter_map(|entry| {
                Some((
                    entry.source_id()?.to_owned(),
                    (
                        crate::matching::level_of_entry(entry).as_str(),
                        entry.standard_text().to_owned(),
                    ),
                ))
            })
            .collect()
    };
    for query in queries {
        let matches = matcher.match_address(&query.text, &options);
        let best = matches.first();
        let right = best.and_then(|m| m.source_id.as_deref()) == Some(query.expect.as_str());
        report.top1.add(right);
        let expected = expected_rows.get(&query.expect);
        if !right {
            report.failures.push((
                query.text.clone(),
                expected.map(|(_, text)| text.clone()).unwrap_or_default(),
                matches
                    .iter()
                    .map(|m| format!("{} [{}]", m.address, m.confidence))
                    .collect::<Vec<_>>()
                    .join(" | "),
                best.map_or(0.0, |m| m.confidence),
            ));
        }
        let level = best.map_or("none", |m| m.level.as_str());
        let expected_level = expected.map_or(level, |(level, _)| level).to_owned();
        report
            .by_level
            .entry(expected_level)
            .or_default()
            .add(right);
        if let Some(best) = best {
            if best.confidence >= 0.9 {
                report.confident.add(right);
            }
            if let Some((_, bin)) = report
                .calibration
                .iter_mut()
                .rev()
                .find(|(lower, _)| best.confidence >= *lower)
            {
                bin.add(right);
            }
        }
    }
    report
}

/// Compare scored against the labelled pairs (query as `a`, candidate as `b`).
pub fn evaluate_compare(
    matcher: &MatchEngine,
    pairs: &[LabelledPair],
) -> crate::matching::compare::ConfusionMatrix {
    use crate::matching::compare::{Verdict, evaluate_pairs};
    evaluate_pairs(
        matcher.comparer(),
        pairs.iter().filter_map(|pair| {
            Some((
                pair.query.as_str(),
                pair.candidate.as_str(),
                Verdict::parse(&pair.label)?,
            ))
        }),
    )
}
