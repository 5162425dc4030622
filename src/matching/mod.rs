//! Matching free-text addresses to standard codes.
//!
//! parse → link the division → structured candidates from the in-memory registry
//! ((county, road) and (county, place) lookups, then similar names by bigram) →
//! score every candidate component by component → calibrated confidence. When no
//! standard address fits, the best answer is the deepest division the text names.

pub mod batch;
pub mod compare;
pub mod link;
mod score;
pub mod suggest;

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

    pub fn of_division(level: DivisionLevel) -> Self {
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

/// A road or place name written in the query, with the label the parser gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryName {
    pub key: String,
    pub label: Label,
    /// Sorted character bigrams of `key`, computed once per query.
    pub bigrams: Vec<u64>,
}

impl QueryName {
    fn new(key: String, label: Label) -> Self {
        QueryName {
            bigrams: name_bigrams(&key),
            key,
            label,
        }
    }
}

/// A number written in the query: its stem and the slot its label suggests.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryNumber {
    pub stem: String,
    pub slot: NumberSlot,
    /// Numbers read from one component share a group: `84-66` is the whole and its
    /// two parts, and only one reading may be used.
    pub group: usize,
    /// Whether this is a part of a dash compound rather than the component as written.
    pub part: bool,
    /// A number found outside every number component (in a name, in noise): it may
    /// fill any slot, and costs nothing when unused.
    pub loose: bool,
}

/// The parts of a query address that are compared with standard addresses. Parsers
/// and people disagree about which name is the road and which the place, and about
/// which number is the doorplate and which the building, so every name and number
/// is kept and the scorer aligns them with each candidate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryAddress {
    pub names: Vec<QueryName>,
    pub numbers: Vec<QueryNumber>,
}

impl QueryAddress {
    pub fn from_components(input: &str, components: &[Component]) -> Self {
        let mut query = Self::from_labelled_components(components);
        query.add_joined_numbers(input, components);
        query.add_joined_names(components);
        query.add_loose_numbers(components);
        query
    }

    /// Two number components with only a dash between them (`28` `-` `2号`) may be one
    /// 附号 (`28-2号`): the joined reading is offered beside the two parts.
    fn add_joined_numbers(&mut self, input: &str, components: &[Component]) {
        let characters: Vec<char> = input.chars().collect();
        let number_components: Vec<&Component> = components
            .iter()
            .filter(|c| number_slot(c.label).is_some())
            .collect();
        for pair in number_components.windows(2) {
            let (first, second) = (pair[0], pair[1]);
            let joined_by_dash = second.start == first.end + 1
                && matches!(characters.get(first.end), Some('-' | '—' | '－'));
            if !joined_by_dash {
                continue;
            }
            let (first_stem, second_stem) = (number_stem(&first.text), number_stem(&second.text));
            let positions: Vec<usize> = self
                .numbers
                .iter()
                .enumerate()
                .filter(|(_, n)| !n.part && (n.stem == first_stem || n.stem == second_stem))
                .map(|(position, _)| position)
                .collect();
            if positions.len() != 2 || first_stem.is_empty() || second_stem.is_empty() {
                continue;
            }
            let group = self.numbers.len() + 1000;
            for position in positions {
                self.numbers[position].group = group;
                self.numbers[position].part = true;
            }
            self.numbers.push(QueryNumber {
                stem: format!("{first_stem}-{second_stem}"),
                slot: number_slot(first.label).unwrap_or(NumberSlot::RoadNo),
                group,
                part: false,
                loose: false,
            });
        }
    }

    /// A place is often written in two pieces the parser labels apart (`丹溪` `五区`):
    /// adjacent names are also offered joined.
    fn add_joined_names(&mut self, components: &[Component]) {
        for pair in components.windows(2) {
            let (first, second) = (&pair[0], &pair[1]);
            let is_name = |label: Label| {
                matches!(
                    label,
                    Label::Poi | Label::Subpoi | Label::Community | Label::Devzone
                )
            };
            if is_name(first.label) && is_name(second.label) && second.start == first.end {
                let key = name_key(&format!("{}{}", first.text, second.text));
                if !self.names.iter().any(|name| name.key == key) {
                    self.names.push(QueryName::new(key, Label::Subpoi));
                }
            }
        }
    }

    /// Digit runs inside components that are not numbers (`1222弄` read as a road,
    /// `477号门面` as noise).
    fn add_loose_numbers(&mut self, components: &[Component]) {
        for component in components {
            if number_slot(component.label).is_some()
                || matches!(
                    component.label,
                    Label::Prov | Label::City | Label::District | Label::Town
                )
            {
                continue;
            }
            let folded = crate::text::normalize::fold_width(&component.text);
            let mut run = String::new();
            for character in folded.chars().chain(std::iter::once(' ')) {
                if character.is_ascii_digit() {
                    run.push(character);
                } else if !run.is_empty() {
                    let group = self.numbers.len();
                    self.numbers.push(QueryNumber {
                        stem: std::mem::take(&mut run),
                        slot: NumberSlot::RoadNo,
                        group,
                        part: false,
                        loose: true,
                    });
                }
            }
        }
    }

    fn from_labelled_components(components: &[Component]) -> Self {
        let mut query = QueryAddress::default();
        for component in components {
            let slot = match component.label {
                Label::Road
                | Label::Subroad
                | Label::Poi
                | Label::Subpoi
                | Label::Community
                | Label::Devzone
                | Label::VillageGroup => {
                    let key = name_key(&component.text);
                    if !key.is_empty() && !query.names.iter().any(|name| name.key == key) {
                        query.names.push(QueryName::new(key, component.label));
                    }
                    continue;
                }
                label => match number_slot(label) {
                    Some(slot) => slot,
                    None => continue,
                },
            };
            let stem = number_stem(&component.text);
            if stem.is_empty() {
                continue;
            }
            let group = query.numbers.len();
            query.numbers.push(QueryNumber {
                stem: stem.clone(),
                slot,
                group,
                part: false,
                loose: false,
            });
            // `84-66号` may be doorplate 84 and building 66 as well as 附号 84-66.
            if let Some((first, second)) = stem.split_once('-')
                && !first.is_empty()
                && !second.is_empty()
                && !second.contains('-')
            {
                let next_slot = NumberSlot::ALL
                    .get(slot as usize + 1)
                    .copied()
                    .unwrap_or(slot);
                query.numbers.push(QueryNumber {
                    stem: first.to_owned(),
                    slot,
                    group,
                    part: true,
                    loose: false,
                });
                query.numbers.push(QueryNumber {
                    stem: second.to_owned(),
                    slot: next_slot,
                    group,
                    part: true,
                    loose: false,
                });
            }
        }
        query
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.numbers.is_empty()
    }
}

pub(crate) fn number_slot(label: Label) -> Option<NumberSlot> {
    Some(match label {
        Label::Roadno | Label::Subroadno => NumberSlot::RoadNo,
        Label::Houseno => NumberSlot::Building,
        Label::Cellno => NumberSlot::Unit,
        Label::Floorno => NumberSlot::Floor,
        Label::Roomno => NumberSlot::Room,
        _ => return None,
    })
}

#[derive(Clone)]
pub struct MatchEngine {
    parser: AddressParser,
    comparer: compare::AddressComparer,
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
            comparer: compare::AddressComparer::new(parser.lexicon().clone(), parser.clone()),
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

    /// Whether `a` (free text) and `b` (a candidate or reference text) are the same
    /// place: exact, partial (one contains the other, or a part of it) or none.
    pub fn compare(&self, a: &str, b: &str) -> compare::Comparison {
        self.comparer.compare(a, b)
    }

    pub fn comparer(&self) -> &compare::AddressComparer {
        &self.comparer
    }

    pub fn parse(&self, input: &str) -> Vec<Component> {
        self.parser.parse(input)
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
        let components = self.parser.parse(input);
        self.match_components(input, &components, options)
    }

    /// [`Self::match_address`] for an input already parsed into `components`.
    pub fn match_components(
        &self,
        input: &str,
        components: &[Component],
        options: &MatchOptions,
    ) -> Vec<AddressMatch> {
        let limit = options
            .limit
            .unwrap_or(DEFAULT_MATCH_LIMIT)
            .clamp(1, MAX_MATCH_LIMIT);
        let linked = resolve_division(&self.divisions, components, options.division.as_ref());
        let query = QueryAddress::from_components(input, components);
        let index = self.addresses.read().unwrap_or_else(|p| p.into_inner());
        let scored = score::rank_candidates(
            &index,
            &query,
            linked.as_ref(),
            options.division.as_ref(),
            limit,
        );
        let division_match = |linked: &LinkedDivision| {
            let mut division_match = self.division_match(linked);
            // The input names something more specific that is not registered: the
            // division is right, but it is not all the caller asked for.
            if !query.is_empty() {
                division_match.confidence = division_match.confidence.min(0.6);
            }
            division_match
        };
        let mut matches = Vec::with_capacity(limit);
        for candidate in scored {
            let Some(entry) = index.get(candidate.position) else {
                continue;
            };
            let division = match &linked {
                Some(linked) => self.deeper_division(&linked.division, entry.division),
                None => self
                    .divisions
                    .named_code(entry.division)
                    .map(|division| self.summary(&division))
                    .unwrap_or_else(|| self.unknown_division(entry.division)),
            };
            matches.push(AddressMatch {
                code: entry.code().to_owned(),
                source_id: entry.source_id().map(str::to_owned),
                address: entry.standard_text().to_owned(),
                level: candidate.level,
                confidence: candidate.confidence,
                division,
                replaces: candidate.replaces,
                explanation: candidate.explanation,
            });
        }
        // The division comes first only when no address is a plausible answer;
        // otherwise it follows the addresses, as the fallback it is.
        let best_address_confidence = matches.first().map_or(0.0, |m| m.confidence);
        let best_address_elsewhere = matches.first().is_some_and(|m| {
            m.explanation.iter().any(|explained| {
                explained.component == "division"
                    && explained.verdict == ComponentVerdict::Conflicting
            })
        });
        if let Some(linked) = &linked {
            if best_address_confidence < 0.1 || best_address_elsewhere {
                matches.insert(0, division_match(linked));
            } else if matches.len() < limit {
                matches.push(division_match(linked));
            }
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
}
