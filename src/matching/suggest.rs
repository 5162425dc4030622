//! Autocomplete over standard addresses and divisions: what the caller is typing is
//! parsed, the divisions it already names narrow the search, and the name being typed
//! (the last road or place, possibly unfinished) is completed from the registry's
//! road and place names and from the division tree.

use serde::Serialize;

use super::{MatchEngine, MatchLevel, level_of_entry};
use crate::domain::division::DivisionLevel;
use crate::index::addresses::{NumberSlot, name_bigrams, name_key, number_stem};
use crate::index::divisions::DivisionRef;
use crate::text::parse::Label;

pub const DEFAULT_SUGGEST_LIMIT: usize = 10;
pub const MAX_SUGGEST_LIMIT: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    Address,
    Division,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub kind: SuggestionKind,
    /// Address code (20 characters) or division code (12 digits).
    pub code: String,
    /// Standard text of the address, or the division chain.
    pub text: String,
    pub level: MatchLevel,
}

/// Numeric order for stems such as `12`, `12-1`, `A`: numbers first by value.
fn number_order(stem: Option<&str>) -> (u8, u64, String) {
    match stem {
        None => (0, 0, String::new()),
        Some(stem) => {
            let digits: String = stem.chars().take_while(char::is_ascii_digit).collect();
            match digits.parse::<u64>() {
                Ok(value) => (1, value, stem.to_owned()),
                Err(_) => (2, 0, stem.to_owned()),
            }
        }
    }
}

impl MatchEngine {
    pub fn suggest(&self, input: &str, limit: usize) -> Vec<Suggestion> {
        let limit = limit.clamp(1, MAX_SUGGEST_LIMIT);
        let components = self.parse(input);
        let Some(last) = components.last() else {
            return Vec::new();
        };
        let linked = super::link_division(self.divisions(), &components);
        let typed_number = components
            .iter()
            .rev()
            .take_while(|c| !matches!(c.label, Label::Road | Label::Poi | Label::Subpoi))
            .find(|c| c.label == Label::Roadno || c.label == Label::Houseno)
            .map(|c| number_stem(&c.text));
        let typed_name = components
            .iter()
            .rev()
            .find(|c| {
                matches!(
                    c.label,
                    Label::Road | Label::Subroad | Label::Poi | Label::Subpoi | Label::Community
                )
            })
            .map(|c| name_key(&c.text));

        let mut suggestions = Vec::with_capacity(limit);
        if let Some(name) = typed_name.filter(|name| name.chars().count() >= 2) {
            let within = linked.as_ref().map(|linked| &linked.division);
            self.suggest_addresses(
                &name,
                typed_number.as_deref(),
                within,
                limit,
                &mut suggestions,
            );
        }
        if suggestions.len() < limit {
            let administrative = matches!(
                last.label,
                Label::Prov | Label::City | Label::District | Label::Town | Label::Community
            );
            let query = name_key(&last.text);
            if administrative || suggestions.is_empty() {
                let within = linked.as_ref().map(|linked| &linked.division);
                self.suggest_divisions(&query, within, limit, &mut suggestions);
            }
        }
        suggestions.truncate(limit);
        suggestions
    }

    fn suggest_addresses(
        &self,
        name: &str,
        typed_number: Option<&str>,
        within: Option<&DivisionRef>,
        limit: usize,
        suggestions: &mut Vec<Suggestion>,
    ) {
        let index = self.addresses().read().unwrap_or_else(|p| p.into_inner());
        let bigrams = name_bigrams(name);
        let mut names: Vec<u32> = index
            .similar_names(&bigrams, bigrams.len())
            .into_iter()
            .map(|(id, _)| id)
            .filter(|&id| index.name(id).contains(name))
            .collect();
        // Names that start with what is typed come before names that merely contain it.
        names.sort_by_key(|&id| {
            (
                !index.name(id).starts_with(name),
                index.name(id).chars().count(),
            )
        });
        let county = within
            .filter(|division| division.level >= DivisionLevel::County)
            .map_or(0, |division| division.code / 1_000_000);
        let mut found = Vec::new();
        for id in names.into_iter().take(20) {
            for &position in index.with_name(county, id) {
                let Some(entry) = index.get(position) else {
                    continue;
                };
                let entry_division = DivisionRef {
                    code: entry.division,
                    level: DivisionLevel::Village,
                    renamed: false,
                };
                if entry.retired || within.is_some_and(|w| !w.contains(&entry_division)) {
                    continue;
                }
                let first_number = entry
                    .number(NumberSlot::RoadNo)
                    .or(entry.number(NumberSlot::Building));
                if let Some(typed) = typed_number
                    && !first_number.is_some_and(|number| number.starts_with(typed))
                {
                    continue;
                }
                let specificity = entry.number_count();
                found.push((specificity, number_order(first_number), position));
            }
            if found.len() >= limit * 20 {
                break;
            }
        }
        found.sort();
        for (_, _, position) in found.into_iter().take(limit) {
            if let Some(entry) = index.get(position) {
                suggestions.push(Suggestion {
                    kind: SuggestionKind::Address,
                    code: entry.code().to_owned(),
                    text: entry.standard_text().to_owned(),
                    level: level_of_entry(entry),
                });
            }
        }
    }

    fn suggest_divisions(
        &self,
        query: &str,
        within: Option<&DivisionRef>,
        limit: usize,
        suggestions: &mut Vec<Suggestion>,
    ) {
        for division in self.divisions().search(query, limit * 4) {
            if suggestions.len() >= limit {
                break;
            }
            let Ok(code) = division.code.parse::<u64>() else {
                continue;
            };
            let Some(reference) = self.divisions().named_code(code) else {
                continue;
            };
            // Under what is already named, unless what is typed is that division.
            if let Some(within) = within
                && within.code != reference.code
                && !within.contains(&reference)
            {
                continue;
            }
            if !division.is_current() || suggestions.iter().any(|s| s.code == division.code) {
                continue;
            }
            suggestions.push(Suggestion {
                kind: SuggestionKind::Division,
                text: self
                    .divisions()
                    .address_names(&division.code, true)
                    .concat(),
                level: MatchLevel::of_division(division.level),
                code: division.code,
            });
        }
    }
}
