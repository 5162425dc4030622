//! Candidate generation and structured scoring.
//!
//! Every candidate is compared slot by slot with the query. A number that differs
//! (12号 against 13号, 3幢 against 4幢) is a conflict, because a register holds the
//! neighbours too; a name that differs slightly (a typo, a dropped 小区) is only
//! similar. The confidence is a calibrated function of the comparison and of how far
//! the best candidate stands above the next one.

use serde::Serialize;

use super::link::LinkedDivision;
use super::{MatchLevel, QueryAddress};
use crate::domain::division::{DivisionCode, DivisionLevel};
use crate::index::addresses::{AddressIndex, IndexedAddress, NameId, NumberSlot, name_bigrams};
use crate::text::parse::Label;

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
    /// Explanations are written only for the answers returned, not for every
    /// candidate scored.
    explain: bool,
    explanation: Vec<ComponentExplanation>,
}

impl Evaluation {
    fn explain(
        &mut self,
        component: &'static str,
        input: Option<&str>,
        standard: Option<&str>,
        verdict: ComponentVerdict,
    ) {
        if self.explain {
            self.explanation.push(ComponentExplanation {
                component,
                input: input.map(str::to_owned),
                standard: standard.map(str::to_owned),
                verdict,
            });
        }
    }
}

/// Query names and numbers compared per candidate; an address has far fewer.
const MAX_QUERY_PARTS: usize = 24;

/// How alike two names are (neither equal to the other): the Dice coefficient of their
/// sorted character bigrams, raised when one contains the other.
fn bigram_similarity(a: &str, bigrams_a: &[u64], b: &str, bigrams_b: &[u64]) -> f64 {
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

/// Addresses worth scoring: those on a road or at a place the query names (in its
/// county when known, anywhere otherwise), else those on similarly named roads and
/// places.
fn candidates(index: &AddressIndex, query: &QueryAddress, county: Option<u64>) -> Vec<u32> {
    let names: Vec<NameId> = query
        .names
        .iter()
        .filter_map(|name| index.name_id(&name.key))
        .collect();
    let mut found: Vec<u32> = Vec::new();
    let scopes: &[u64] = match county {
        Some(county) => &[county, 0],
        None => &[0],
    };
    for &scope in scopes {
        // Narrow by the query's doorplate or building number first, then by any of its
        // numbers (slots are often confused); the whole road or place only when none
        // of them is registered there.
        let site_numbers = query.numbers.iter().filter(|number| {
            !number.loose && matches!(number.slot, NumberSlot::RoadNo | NumberSlot::Building)
        });
        for number in site_numbers {
            for &name in &names {
                found.extend_from_slice(index.with_name_and_number(scope, name, &number.stem));
            }
        }
        if found.is_empty() {
            for &name in &names {
                for number in &query.numbers {
                    found.extend_from_slice(index.with_name_and_number(scope, name, &number.stem));
                }
            }
        }
        if found.is_empty() {
            for &name in &names {
                found.extend_from_slice(index.with_name(scope, name));
            }
        }
        if !found.is_empty() {
            break;
        }
    }
    if found.is_empty() {
        let mut similar: Vec<(NameId, usize)> = Vec::new();
        for name in &query.names {
            let bigrams = name_bigrams(&name.key);
            let minimum = bigrams.len().div_ceil(2).max(1);
            similar.extend(
                index
                    .similar_names(&bigrams, minimum)
                    .into_iter()
                    .take(SIMILAR_NAMES),
            );
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

fn is_road_label(label: Label) -> bool {
    matches!(label, Label::Road | Label::Subroad)
}

fn is_place_label(label: Label) -> bool {
    matches!(
        label,
        Label::Poi | Label::Subpoi | Label::Community | Label::VillageGroup | Label::Devzone
    )
}

fn evaluate(
    index: &AddressIndex,
    entry: &IndexedAddress,
    query: &QueryAddress,
    query_name_ids: &[Option<NameId>],
    linked: Option<&LinkedDivision>,
    explain: bool,
) -> Evaluation {
    let mut evaluation = Evaluation {
        score: 0.0,
        conflicts: 0,
        missing: 0,
        extra: 0,
        similar: 0,
        division_conflict: false,
        explain,
        explanation: Vec::new(),
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
                && !entry.division.is_multiple_of(1_000_000)
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
        if evaluation.explain {
            let input = division.code_string();
            let standard = crate::index::divisions::format_code(entry.division);
            evaluation.explain("division", Some(&input), Some(&standard), verdict);
        }
    }
    score_names(index, entry, query, query_name_ids, &mut evaluation);
    score_numbers(entry, query, &mut evaluation);
    evaluation
}

/// Aligns the candidate's road and place with the names of the query: each takes the
/// most similar unused name, preferring one of the fitting label.
fn score_names(
    index: &AddressIndex,
    entry: &IndexedAddress,
    query: &QueryAddress,
    query_name_ids: &[Option<NameId>],
    evaluation: &mut Evaluation,
) {
    let mut used = [false; MAX_QUERY_PARTS];
    for (component, entry_name, fits) in [
        ("road", entry.road, is_road_label as fn(Label) -> bool),
        ("place", entry.place, is_place_label as fn(Label) -> bool),
    ] {
        let Some(entry_name_id) = entry_name else {
            continue;
        };
        let entry_name = index.name(entry_name_id);
        let entry_bigrams = index.bigrams_of(entry_name_id);
        let best = query
            .names
            .iter()
            .take(MAX_QUERY_PARTS)
            .enumerate()
            .filter(|(position, _)| !used[*position])
            .map(|(position, name)| {
                // Registered names are interned: the same id is the same name.
                let similarity = if query_name_ids[position] == Some(entry_name_id) {
                    1.0
                } else {
                    bigram_similarity(&name.key, &name.bigrams, entry_name, entry_bigrams)
                };
                let preference = if fits(name.label) { 0.01 } else { 0.0 };
                (position, similarity, similarity + preference)
            })
            .max_by(|a, b| a.2.total_cmp(&b.2));
        let query_has_fitting_name = query.names.iter().any(|name| fits(name.label));
        let (verdict, input) = match best {
            Some((position, similarity, _)) if similarity >= 0.5 => {
                used[position] = true;
                let input = Some(query.names[position].key.as_str());
                if similarity >= 1.0 {
                    evaluation.score += 3.0;
                    (ComponentVerdict::Matched, input)
                } else {
                    evaluation.score += 1.5 * similarity;
                    evaluation.similar += 1;
                    (ComponentVerdict::Similar, input)
                }
            }
            _ if query_has_fitting_name => {
                evaluation.score -= 1.5;
                evaluation.conflicts += 1;
                let input = query
                    .names
                    .iter()
                    .find(|name| fits(name.label))
                    .map(|name| name.key.as_str());
                (ComponentVerdict::Conflicting, input)
            }
            _ => {
                evaluation.score -= 1.0;
                evaluation.missing += 1;
                (ComponentVerdict::Missing, None)
            }
        };
        evaluation.explain(component, input, Some(entry_name), verdict);
    }
    // A road or main place the register does not hold makes the query more specific
    // than the candidate (or about somewhere else); sub-places and villages are often
    // left out of standard addresses and cost nothing.
    for (position, name) in query.names.iter().take(MAX_QUERY_PARTS).enumerate() {
        if !used[position] && matches!(name.label, Label::Road | Label::Poi) {
            evaluation.score -= 0.3;
            let component = if name.label == Label::Road {
                "road"
            } else {
                "place"
            };
            evaluation.explain(component, Some(&name.key), None, ComponentVerdict::Extra);
        }
    }
}

/// Aligns the candidate's numbers with the query's: the same number in the same slot
/// is a match, in another slot a weaker match (people write 12号 for building 12); a
/// different number in the slot is a conflict.
fn score_numbers(entry: &IndexedAddress, query: &QueryAddress, evaluation: &mut Evaluation) {
    let numbers = &query.numbers[..query.numbers.len().min(MAX_QUERY_PARTS)];
    let mut used = [false; MAX_QUERY_PARTS];
    let consume = |used: &mut [bool; MAX_QUERY_PARTS], position: usize| {
        let number = &numbers[position];
        for (other, other_number) in numbers.iter().enumerate() {
            // Using the whole excludes its parts; using a part excludes the whole.
            if other_number.group == number.group && (!number.part || !other_number.part) {
                used[other] = true;
            }
        }
        used[position] = true;
    };
    for slot in NumberSlot::ALL {
        let Some(entry_number) = entry.number(slot) else {
            continue;
        };
        let matched_weight = if slot == NumberSlot::RoadNo { 3.0 } else { 2.0 };
        let same_slot = numbers
            .iter()
            .enumerate()
            .find(|(p, n)| !used[*p] && !n.loose && n.slot == slot && n.stem == entry_number);
        let other_slot = || {
            numbers
                .iter()
                .enumerate()
                .find(|(p, n)| !used[*p] && n.stem == entry_number)
        };
        let (verdict, input) = if let Some((position, number)) = same_slot {
            consume(&mut used, position);
            evaluation.score += matched_weight;
            (ComponentVerdict::Matched, Some(number.stem.as_str()))
        } else if let Some((position, number)) = other_slot() {
            consume(&mut used, position);
            evaluation.score += matched_weight - 1.0;
            evaluation.similar += 1;
            (ComponentVerdict::Similar, Some(number.stem.as_str()))
        } else if let Some((position, number)) = numbers
            .iter()
            .enumerate()
            .find(|(p, n)| !used[*p] && !n.loose && n.slot == slot)
        {
            consume(&mut used, position);
            evaluation.score -= 3.0;
            evaluation.conflicts += 1;
            (ComponentVerdict::Conflicting, Some(number.stem.as_str()))
        } else {
            evaluation.score -= 2.0;
            evaluation.missing += 1;
            (ComponentVerdict::Missing, None)
        };
        evaluation.explain(
            NUMBER_SLOT_NAMES[slot as usize],
            input,
            Some(entry_number),
            verdict,
        );
    }
    let mut reported_groups = [usize::MAX; MAX_QUERY_PARTS];
    for (position, number) in numbers.iter().enumerate() {
        if used[position] || number.loose || reported_groups.contains(&number.group) {
            continue;
        }
        reported_groups[position] = number.group;
        evaluation.score -= 1.5;
        evaluation.extra += 1;
        evaluation.explain(
            NUMBER_SLOT_NAMES[number.slot as usize],
            Some(&number.stem),
            None,
            ComponentVerdict::Extra,
        );
    }
}

pub fn level_of(entry: &IndexedAddress) -> MatchLevel {
    if entry.has_number(NumberSlot::Room) {
        MatchLevel::Room
    } else if entry.has_number(NumberSlot::Floor) {
        MatchLevel::Floor
    } else if entry.has_number(NumberSlot::Unit) {
        MatchLevel::Unit
    } else if entry.has_number(NumberSlot::Building) {
        MatchLevel::Building
    } else if entry.has_number(NumberSlot::RoadNo) {
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
    if query.names.is_empty() {
        return Vec::new();
    }
    let county = county_of(linked);
    let query_name_ids: Vec<Option<NameId>> = query
        .names
        .iter()
        .map(|name| index.name_id(&name.key))
        .collect();
    let mut evaluated: Vec<(u32, Evaluation)> = candidates(index, query, county)
        .into_iter()
        .filter_map(|position| {
            let entry = index.get(position)?;
            within(entry.division, constraint).then(|| {
                let evaluation = evaluate(index, entry, query, &query_name_ids, linked, false);
                (position, evaluation)
            })
        })
        .collect();
    evaluated.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));

    let mut results = Vec::new();
    let mut seen: Vec<u32> = Vec::with_capacity(limit);
    for rank in 0..evaluated.len() {
        if results.len() >= limit {
            break;
        }
        let (position, evaluation) = &evaluated[rank];
        // How far this candidate stands above the best of the others.
        let best_other = if rank == 0 {
            evaluated
                .get(1)
                .map_or(f64::NEG_INFINITY, |(_, next)| next.score)
        } else {
            evaluated[0].1.score
        };
        let margin = evaluation.score - best_other;
        let Some(entry) = index.get(*position) else {
            continue;
        };
        // A retired address answers through its successor.
        let (answer_position, replaces) = if entry.retired {
            let successor = entry.successor().and_then(|code| index.position_of(code));
            match successor {
                Some(successor) => (successor, Some(entry.code().to_owned())),
                None => continue,
            }
        } else {
            (*position, None)
        };
        if seen.contains(&answer_position) {
            continue;
        }
        seen.push(answer_position);
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
            explanation: index
                .get(*position)
                .map(|scored| {
                    evaluate(index, scored, query, &query_name_ids, linked, true).explanation
                })
                .unwrap_or_default(),
        });
    }
    // The order is the score's; a lower-ranked answer never claims more confidence
    // than the one above it.
    for position in 1..results.len() {
        let above = results[position - 1].confidence;
        if results[position].confidence > above {
            results[position].confidence = above;
        }
    }
    results
}
