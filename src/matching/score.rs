//! Candidate generation and structured scoring.
//!
//! Every candidate is compared slot by slot with the query. A number that differs
//! (12号 against 13号, 3幢 against 4幢) is a conflict, because a register holds the
//! neighbours too; a name that differs slightly (a typo, a dropped 小区) is only
//! similar. The confidence is a calibrated function of the comparison and of how far
//! the best candidate stands above the next one.

use std::collections::HashSet;

use serde::Serialize;

use super::link::LinkedDivision;
use super::{MatchLevel, QueryAddress};
use crate::domain::division::{DivisionCode, DivisionLevel};
use crate::index::addresses::{AddressIndex, IndexedAddress, NameId, NumberSlot, name_bigrams};

/// Past this many candidates from exact name keys, the rest are not scored.
const MAX_CANDIDATES: usize = 20_000;
/// Names taken from the bigram index when no exact name is registered.
const SIMILAR_NAMES: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComponentVerdict {
    /// Same on both sides.
    Matched,
    /// Written differently but close (a typo, a suffix left off).
    Similar,
    /// In the standard address, not in the input: the input is less specific.
    Missing,
    /// In the input, not in the standard address: the input is more specific.
    Extra,
    /// Both have it and they differ.
    Conflicting,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ComponentExplanation {
    /// division, road, place, road_no, building, unit, floor or room.
    pub component: &'static str,
    pub input: Option<String>,
    pub standard: Option<String>,
    pub verdict: ComponentVerdict,
}

pub(super) struct ScoredCandidate {
    pub position: u32,
    pub level: MatchLevel,
    pub confidence: f64,
    pub replaces: Option<String>,
    pub explanation: Vec<ComponentExplanation>,
}

struct Evaluation {
    score: f64,
    conflicts: u32,
    missing: u32,
    extra: u32,
    similar: u32,
    division_conflict: bool,
    explanation: Vec<ComponentExplanation>,
}

/// How alike two names are: 1 for equal, else the Dice coefficient of their
/// character bigrams, raised when one contains the other.
pub fn name_similarity(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let (bigrams_a, bigrams_b) = (name_bigrams(a), name_bigrams(b));
    let shared = bigrams_a
        .iter()
        .filter(|bigram| bigrams_b.binary_search(bigram).is_ok())
        .count();
    let dice = 2.0 * shared as f64 / (bigrams_a.len() + bigrams_b.len()).max(1) as f64;
    if a.contains(b) || b.contains(a) {
        dice.max(0.75)
    } else {
        dice
    }
}

const NUMBER_SLOT_NAMES: [&str; 5] = ["road_no", "building", "unit", "floor", "room"];

fn county_of(linked: Option<&LinkedDivision>) -> Option<u64> {
    linked
        .filter(|linked| linked.division.level >= DivisionLevel::County)
        .map(|linked| linked.division.code / 1_000_000)
}

fn within(code: u64, constraint: Option<&DivisionCode>) -> bool {
    let Some(constraint) = constraint else {
        return true;
    };
    let digits = constraint.implied_level().significant_digits() as u32;
    let divisor = 10u64.pow(12 - digits);
    constraint
        .as_str()
        .parse::<u64>()
        .is_ok_and(|prefix| prefix / divisor == code / divisor)
}

/// Addresses worth scoring: those on the query's road or at its place (in its county
/// when known, anywhere otherwise), else those on similarly named roads and places.
fn candidates(index: &AddressIndex, query: &QueryAddress, county: Option<u64>) -> Vec<u32> {
    let names: Vec<NameId> = [query.road.as_deref(), query.place.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(|name| index.name_id(name))
        .collect();
    let mut found: Vec<u32> = Vec::new();
    let scopes: &[u64] = match county {
        Some(county) => &[county, 0],
        None => &[0],
    };
    for &scope in scopes {
        for &name in &names {
            found.extend_from_slice(index.with_name(scope, name));
        }
        if !found.is_empty() {
            break;
        }
    }
    if found.is_empty() {
        let mut similar: Vec<(NameId, usize)> = Vec::new();
        for name in [query.road.as_deref(), query.place.as_deref()]
            .into_iter()
            .flatten()
        {
            let bigrams = name_bigrams(name);
            let minimum = bigrams.len().div_ceil(2).max(1);
            similar.extend(index.similar_names(&bigrams, minimum).into_iter().take(SIMILAR_NAMES));
        }
        for &scope in scopes {
            for (name, _) in &similar {
                found.extend_from_slice(index.with_name(scope, *name));
            }
            if !found.is_empty() {
                break;
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    found.truncate(MAX_CANDIDATES);
    found
}

fn evaluate(
    index: &AddressIndex,
    entry: &IndexedAddress,
    query: &QueryAddress,
    linked: Option<&LinkedDivision>,
) -> Evaluation {
    let mut evaluation = Evaluation {
        score: 0.0,
        conflicts: 0,
        missing: 0,
        extra: 0,
        similar: 0,
        division_conflict: false,
        explanation: Vec::with_capacity(8),
    };
    if let Some(linked) = linked {
        let division = &linked.division;
        let digits = division.level.significant_digits().min(6) as u32;
        let divisor = 10u64.pow(12 - digits);
        let same = division.code / divisor == entry.division / divisor;
        let verdict = if same {
            evaluation.score += 2.0;
            // A town named in the input and a different town in the register is a
            // weak conflict: towns are often out of date in both.
            if division.level >= DivisionLevel::Town
                && entry.division % 1_000_000 != 0
                && division.code / 1000 != entry.division / 1000
            {
                evaluation.score -= 0.5;
            }
            ComponentVerdict::Matched
        } else {
            evaluation.score -= 4.0;
            evaluation.conflicts += 1;
            evaluation.division_conflict = true;
            ComponentVerdict::Conflicting
        };
        evaluation.explanation.push(ComponentExplanation {
            component: "division",
            input: Some(division.code_string()),
            standard: Some(format!("{:012}", entry.division)),
            verdict,
        });
    }
    for (component, query_name, entry_name, weights) in [
        ("road", query.road.as_deref(), entry.road, (3.0, 1.5, -2.0, -1.0, -0.5)),
        ("place", query.place.as_deref(), entry.place, (3.0, 1.5, -1.5, -0.3, -1.0)),
    ] {
        let (matched, similar, conflicting, extra, missing) = weights;
        let entry_name = entry_name.map(|id| index.name(id));
        let verdict = match (query_name, entry_name) {
            (None, None) => continue,
            (Some(a), Some(b)) => {
                let similarity = name_similarity(a, b);
                if similarity >= 1.0 {
                    evaluation.score += matched;
                    ComponentVerdict::Matched
                } else if similarity >= 0.5 {
                    evaluation.score += similar * similarity;
                    evaluation.similar += 1;
                    ComponentVerdict::Similar
                } else {
                    evaluation.score += conflicting;
                    evaluation.conflicts += 1;
                    ComponentVerdict::Conflicting
                }
            }
            (Some(_), None) => {
                evaluation.score += extra;
                evaluation.extra += 1;
                ComponentVerdict::Extra
            }
            (None, Some(_)) => {
                evaluation.score += missing;
                evaluation.missing += 1;
                ComponentVerdict::Missing
            }
        };
        evaluation.explanation.push(ComponentExplanation {
            component,
            input: query_name.map(str::to_owned),
            standard: entry_name.map(str::to_owned),
            verdict,
        });
    }
    for slot in NumberSlot::ALL {
        let (query_number, entry_number) = (query.number(slot), entry.number(slot));
        let matched_weight = if slot == NumberSlot::RoadNo { 3.0 } else { 2.0 };
        let verdict = match (query_number, entry_number) {
            (None, None) => continue,
            (Some(a), Some(b)) if a == b => {
                evaluation.score += matched_weight;
                ComponentVerdict::Matched
            }
            (Some(_), Some(_)) => {
                evaluation.score -= 3.0;
                evaluation.conflicts += 1;
                ComponentVerdict::Conflicting
            }
            (Some(_), None) => {
                evaluation.score -= 1.5;
                evaluation.extra += 1;
                ComponentVerdict::Extra
            }
            (None, Some(_)) => {
                evaluation.score -= 2.0;
                evaluation.missing += 1;
                ComponentVerdict::Missing
            }
        };
        evaluation.explanation.push(ComponentExplanation {
            component: NUMBER_SLOT_NAMES[slot as usize],
            input: query_number.map(str::to_owned),
            standard: entry_number.map(str::to_owned),
            verdict,
        });
    }
    evaluation
}

pub fn level_of(entry: &IndexedAddress) -> MatchLevel {
    if entry.number(NumberSlot::Room).is_some() {
        MatchLevel::Room
    } else if entry.number(NumberSlot::Floor).is_some() {
        MatchLevel::Floor
    } else if entry.number(NumberSlot::Unit).is_some() {
        MatchLevel::Unit
    } else if entry.number(NumberSlot::Building).is_some() {
        MatchLevel::Building
    } else if entry.number(NumberSlot::RoadNo).is_some() {
        MatchLevel::Doorplate
    } else if entry.place.is_some() {
        MatchLevel::Place
    } else {
        MatchLevel::Road
    }
}

/// Confidence from the comparison and the margin over the runner-up. The constants
/// are calibrated on the development folds (docs/matching.md): of answers at 0.9 or
/// above, at least nine in ten are right.
fn confidence(evaluation: &Evaluation, margin: f64, division_known: bool) -> f64 {
    let mut confidence: f64 = if evaluation.conflicts == 0 {
        0.98
    } else if evaluation.conflicts == 1 && !evaluation.division_conflict {
        0.45
    } else {
        0.25
    };
    confidence *= 0.93f64.powi(evaluation.similar as i32);
    confidence *= 0.8f64.powi(evaluation.extra as i32);
    confidence *= 0.75f64.powi(evaluation.missing as i32);
    if !division_known {
        confidence *= 0.93;
    }
    if margin < 0.01 {
        confidence *= 0.5;
    } else if margin < 1.0 {
        confidence *= 0.8;
    }
    confidence.clamp(0.0, 1.0)
}

pub(super) fn rank_candidates(
    index: &AddressIndex,
    query: &QueryAddress,
    linked: Option<&LinkedDivision>,
    constraint: Option<&DivisionCode>,
    limit: usize,
) -> Vec<ScoredCandidate> {
    if query.road.is_none() && query.place.is_none() {
        return Vec::new();
    }
    let county = county_of(linked);
    let mut evaluated: Vec<(u32, Evaluation)> = candidates(index, query, county)
        .into_iter()
        .filter_map(|position| {
            let entry = index.get(position)?;
            within(entry.division, constraint)
                .then(|| (position, evaluate(index, entry, query, linked)))
        })
        .collect();
    evaluated.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));

    let mut results = Vec::new();
    let mut seen: HashSet<u32> = HashSet::new();
    for rank in 0..evaluated.len() {
        if results.len() >= limit {
            break;
        }
        let (position, evaluation) = &evaluated[rank];
        let next_score = evaluated
            .get(rank + 1)
            .map_or(f64::NEG_INFINITY, |(_, next)| next.score);
        let margin = evaluation.score - next_score;
        let Some(entry) = index.get(*position) else {
            continue;
        };
        // A retired address answers through its successor.
        let (answer_position, replaces) = if entry.retired {
            let successor = entry
                .successor
                .as_deref()
                .and_then(|code| index.position_of(code));
            match successor {
                Some(successor) => (successor, Some(entry.code.to_string())),
                None => continue,
            }
        } else {
            (*position, None)
        };
        if !seen.insert(answer_position) {
            continue;
        }
        let Some(answer) = index.get(answer_position) else {
            continue;
        };
        let mut confidence = confidence(evaluation, margin, linked.is_some());
        if replaces.is_some() {
            confidence *= 0.9;
        }
        results.push(ScoredCandidate {
            position: answer_position,
            level: level_of(answer),
            confidence: (confidence * 1000.0).round() / 1000.0,
            replaces,
            explanation: evaluation.explanation.clone(),
        });
    }
    results
}
