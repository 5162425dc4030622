//! Matching free-text addresses to standard codes.
//!
//! parse → link the division → structured candidates from the in-memory registry
//! ((county, road) and (county, place) lookups, then similar names by bigram) →
//! score every candidate component by component → calibrated confidence. When no
//! standard address fits, the best answer is the deepest division the text names.

pub mod link;
mod score;

use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::domain::division::{DivisionCode, DivisionLevel};
use crate::index::addresses::{AddressIndex, NumberSlot, name_bigrams, name_key, number_stem};
use crate::index::divisions::{DivisionDirectory, DivisionRef};
use crate::text::parse::{AddressParser, Component, Label};

pub use self::link::{LinkedDivision, link_division};
pub use self::score::{ComponentExplanation, ComponentVerdict, level_of as level_of_entry};

/// The registry index shared by the registry engine (which writes it after every
/// committed change) and the matcher.
pub type LiveAddressIndex = Arc<RwLock<AddressIndex>>;

pub const DEFAULT_MATCH_LIMIT: usize = 5;
pub const MAX_MATCH_LIMIT: usize = 50;

/// How specific a match is: the deepest part of the standard address (or division)
/// that was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchLevel {
    Room,
    Floor,
    Unit,
    Building,
    Doorplate,
    Place,
    Road,
    Village,
    Town,
    County,
    City,
    Province,
}

impl MatchLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchLevel::Room => "room",
            MatchLevel::Floor => "floor",
            MatchLevel::Unit => "unit",
            MatchLevel::Building => "building",
            MatchLevel::Doorplate => "doorplate",
            MatchLevel::Place => "place",
            MatchLevel::Road => "road",
            MatchLevel::Village => "village",
            MatchLevel::Town => "town",
            MatchLevel::County => "county",
            MatchLevel::City => "city",
            MatchLevel::Province => "province",
        }
    }

    fn of_division(level: DivisionLevel) -> Self {
        match level {
            DivisionLevel::Province => MatchLevel::Province,
            DivisionLevel::City => MatchLevel::City,
            DivisionLevel::County => MatchLevel::County,
            DivisionLevel::Town => MatchLevel::Town,
            DivisionLevel::Village => MatchLevel::Village,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DivisionSummary {
    /// 12-digit code.
    pub code: String,
    pub level: DivisionLevel,
    /// Names from the province down.
    pub names: Vec<String>,
}

/// One candidate answer, best first in a result.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AddressMatch {
    /// The 20-character address code, or the 12-digit division code when the best
    /// answer is a division.
    pub code: String,
    pub source_id: Option<String>,
    /// Standard text of the address (or the division chain).
    pub address: String,
    pub level: MatchLevel,
    /// Calibrated: of matches at 0.9 or above, at least nine in ten are right on the
    /// development data (see docs/matching.md).
    pub confidence: f64,
    /// The deepest division the input resolves to.
    pub division: DivisionSummary,
    /// Set when the input matched a retired address and this is its successor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// Component by component: matched, similar, missing, extra or conflicting.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explanation: Vec<ComponentExplanation>,
}

#[derive(Debug, Clone, Default)]
pub struct MatchOptions {
    pub limit: Option<usize>,
    /// Restricts answers to this division (any level) and below.
    pub division: Option<DivisionCode>,
}

/// The parts of a query address that are compared with standard addresses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryAddress {
    pub road: Option<String>,
    pub place: Option<String>,
    pub numbers: [Option<String>; 5],
}

impl QueryAddress {
    pub fn from_components(components: &[Component]) -> Self {
        let mut query = QueryAddress::default();
        for component in components {
            let slot = match component.label {
                Label::Road if query.road.is_none() => {
                    query.road = Some(name_key(&component.text)).filter(|n| !n.is_empty());
                    continue;
                }
                Label::Poi if query.place.is_none() => {
                    query.place = Some(name_key(&component.text)).filter(|n| !n.is_empty());
                    continue;
                }
                Label::Roadno => NumberSlot::RoadNo,
                Label::Houseno => NumberSlot::Building,
                Label::Cellno => NumberSlot::Unit,
                Label::Floorno => NumberSlot::Floor,
                Label::Roomno => NumberSlot::Room,
                _ => continue,
            };
            if query.numbers[slot as usize].is_none() {
                let stem = number_stem(&component.text);
                if !stem.is_empty() {
                    query.numbers[slot as usize] = Some(stem);
                }
            }
        }
        query
    }

    pub fn number(&self, slot: NumberSlot) -> Option<&str> {
        self.numbers[slot as usize].as_deref()
    }

    pub fn is_empty(&self) -> bool {
        self.road.is_none() && self.place.is_none() && self.numbers.iter().all(Option::is_none)
    }
}

#[derive(Clone)]
pub struct MatchEngine {
    parser: AddressParser,
    divisions: Arc<DivisionDirectory>,
    addresses: LiveAddressIndex,
}

/// The deepest division an input resolves to, constrained by the caller's division.
fn resolve_division(
    divisions: &DivisionDirectory,
    components: &[Component],
    constraint: Option<&DivisionCode>,
) -> Option<LinkedDivision> {
    let linked = link_division(divisions, components);
    let Some(constraint) = constraint else {
        return linked;
    };
    let constraint_ref = divisions.named_code(constraint.as_str().parse().ok()?)?;
    match linked {
        Some(linked) if constraint_ref.contains(&linked.division) => Some(linked),
        _ => Some(LinkedDivision {
            division: constraint_ref,
            via_former_name: false,
            supporting_components: 0,
            administrative_components: 0,
        }),
    }
}

impl MatchEngine {
    pub fn new(
        parser: AddressParser,
        divisions: Arc<DivisionDirectory>,
        addresses: LiveAddressIndex,
    ) -> Self {
        MatchEngine {
            parser,
            divisions,
            addresses,
        }
    }

    pub fn parser(&self) -> &AddressParser {
        &self.parser
    }

    pub fn divisions(&self) -> &DivisionDirectory {
        &self.divisions
    }

    pub fn addresses(&self) -> &LiveAddressIndex {
        &self.addresses
    }

    pub fn parse(&self, input: &str) -> Vec<Component> {
        self.parser.parse(input)
    }

    /// The deepest division `input` resolves to.
    pub fn link(&self, input: &str) -> Option<LinkedDivision> {
        link_division(&self.divisions, &self.parser.parse(input))
    }

    pub fn summary(&self, division: &DivisionRef) -> DivisionSummary {
        let code = division.code_string();
        DivisionSummary {
            names: self.divisions.address_names(&code, true),
            level: division.level,
            code,
        }
    }

    /// Standard addresses (or, failing those, the division) `input` most likely
    /// means, best first.
    pub fn match_address(&self, input: &str, options: &MatchOptions) -> Vec<AddressMatch> {
        let limit = options
            .limit
            .unwrap_or(DEFAULT_MATCH_LIMIT)
            .clamp(1, MAX_MATCH_LIMIT);
        let components = self.parser.parse(input);
        let linked = resolve_division(&self.divisions, &components, options.division.as_ref());
        let query = QueryAddress::from_components(&components);
        let index = self.addresses.read().unwrap_or_else(|p| p.into_inner());
        let scored = score::rank_candidates(
            &index,
            &query,
            linked.as_ref(),
            options.division.as_ref(),
            limit,
        );
        let division_match = linked.as_ref().map(|linked| self.division_match(linked));
        let mut matches = Vec::with_capacity(limit);
        for candidate in scored {
            let Some(entry) = index.get(candidate.position) else {
                continue;
            };
            let division = match &linked {
                Some(linked) if linked.division.level >= DivisionLevel::Town => {
                    self.deeper_division(&linked.division, entry.division)
                }
                _ => self
                    .divisions
                    .named_code(entry.division)
                    .map(|division| self.summary(&division))
                    .unwrap_or_else(|| self.unknown_division(entry.division)),
            };
            matches.push(AddressMatch {
                code: entry.code.to_string(),
                source_id: entry.source_id.as_deref().map(str::to_owned),
                address: entry.standard_text.to_string(),
                level: candidate.level,
                confidence: candidate.confidence,
                division,
                replaces: candidate.replaces,
                explanation: candidate.explanation,
            });
        }
        let best_address_confidence = matches.first().map_or(0.0, |m| m.confidence);
        if let Some(division_match) = division_match
            && best_address_confidence < 0.5
        {
            matches.insert(0, division_match);
        }
        matches.truncate(limit);
        matches
    }

    /// The linked division, or the matched address's division when that lies below it.
    fn deeper_division(&self, linked: &DivisionRef, address_division: u64) -> DivisionSummary {
        match self.divisions.named_code(address_division) {
            Some(address) if linked.contains(&address) => self.summary(&address),
            _ => self.summary(linked),
        }
    }

    fn unknown_division(&self, code: u64) -> DivisionSummary {
        DivisionSummary {
            code: format!("{code:012}"),
            level: DivisionCode::parse(&format!("{code:012}"))
                .map(|code| code.implied_level())
                .unwrap_or(DivisionLevel::County),
            names: Vec::new(),
        }
    }

    fn division_match(&self, linked: &LinkedDivision) -> AddressMatch {
        let summary = self.summary(&linked.division);
        // A division named by several consistent components is near certain; one
        // name alone (or names that disagree) less so.
        let agreement =
            linked.supporting_components as f64 / linked.administrative_components.max(1) as f64;
        let confidence = if linked.administrative_components == 0 {
            0.6
        } else if linked.supporting_components >= 2 && agreement >= 0.99 {
            0.95
        } else if agreement >= 0.99 {
            0.85
        } else {
            0.6 * agreement + 0.2
        };
        AddressMatch {
            code: summary.code.clone(),
            source_id: None,
            address: summary.names.concat(),
            level: MatchLevel::of_division(linked.division.level),
            confidence,
            division: summary,
            replaces: None,
            explanation: Vec::new(),
        }
    }

    /// Names known to the registry that look like `name` (for suggestions).
    pub fn similar_names(&self, name: &str, limit: usize) -> Vec<String> {
        let key = name_key(name);
        let bigrams = name_bigrams(&key);
        let index = self.addresses.read().unwrap_or_else(|p| p.into_inner());
        index
            .similar_names(&bigrams, bigrams.len().div_ceil(2).max(1))
            .into_iter()
            .take(limit)
            .map(|(id, _)| index.name(id).to_owned())
            .collect()
    }
}
