//! Division linking: from the administrative components of a parsed address to the
//! deepest division the text resolves to.
//!
//! Every administrative component proposes the divisions known by its name (retired
//! names resolved to their successors). A proposal is supported by every component
//! that proposes it or one of its ancestors, weighted by how much that level says
//! (a county name says most). The best-supported, deepest proposal wins; same-name
//! divisions (鼓楼区 in four cities) are told apart by the city or province that
//! supports only one of them.

use crate::domain::division::DivisionLevel;
use crate::index::divisions::{DivisionDirectory, DivisionRef};
use crate::text::parse::{Component, Label};

/// Suffixes an administrative name may be written with or without.
const ADMIN_SUFFIXES: [&str; 12] = [
    "特别行政区",
    "自治区",
    "自治州",
    "自治县",
    "街道办事处",
    "街道",
    "省",
    "市",
    "区",
    "县",
    "镇",
    "乡",
];

#[derive(Debug, Clone, PartialEq)]
pub struct LinkedDivision {
    pub division: DivisionRef,
    /// Whether a retired name (江东区) was read as its successor.
    pub via_former_name: bool,
    /// The administrative components that agree with the result, out of all of them.
    pub supporting_components: usize,
    pub administrative_components: usize,
}

fn label_weight(label: Label) -> u32 {
    match label {
        // A county named outright outweighs a town and a village that the current
        // tree files under a neighbour (towns move between counties in reforms).
        Label::District => 8,
        Label::City => 4,
        Label::Town => 4,
        Label::Prov => 2,
        Label::Community => 2,
        _ => 0,
    }
}

/// The levels a component of `label` may name. People write a county-level city
/// (余姚市) where a city belongs and a city where a county belongs, so neighbours
/// are allowed.
fn plausible_levels(label: Label) -> &'static [DivisionLevel] {
    use DivisionLevel::*;
    match label {
        Label::Prov => &[Province],
        Label::City => &[City, County, Province],
        Label::District => &[County, City],
        Label::Town => &[Town],
        Label::Community => &[Village, Town],
        _ => &[],
    }
}

/// Divisions known by `name`, also tried without a suffix (宁波市 → 宁波) and with the
/// suffixes of the level its label implies (鄞州 → 鄞州区).
fn named_divisions(directory: &DivisionDirectory, name: &str, label: Label) -> Vec<DivisionRef> {
    let levels = plausible_levels(label);
    let keep = |found: Vec<DivisionRef>| -> Vec<DivisionRef> {
        found
            .into_iter()
            .filter(|division| levels.contains(&division.level))
            .collect()
    };
    let found = keep(directory.named(name));
    if !found.is_empty() {
        return found;
    }
    for suffix in ADMIN_SUFFIXES {
        if let Some(stem) = name.strip_suffix(suffix)
            && stem.chars().count() >= 2
        {
            let found = keep(directory.named(stem));
            if !found.is_empty() {
                return found;
            }
            for other_suffix in ["市", "区", "县", "镇", "乡", "街道"] {
                if other_suffix != suffix {
                    let found = keep(directory.named(&format!("{stem}{other_suffix}")));
                    if !found.is_empty() {
                        return found;
                    }
                }
            }
        }
    }
    Vec::new()
}

/// Links the administrative components of `components` to a division. `None` when
/// there are none, or when they name nothing known.
pub fn link_division(
    directory: &DivisionDirectory,
    components: &[Component],
) -> Option<LinkedDivision> {
    let administrative: Vec<(&Component, Vec<DivisionRef>)> = components
        .iter()
        .filter(|component| label_weight(component.label) > 0)
        .map(|component| {
            let name = crate::text::normalize::clean_component(&component.text);
            (
                component,
                named_divisions(directory, &name, component.label),
            )
        })
        .collect();
    let mut best: Option<((u32, DivisionLevel, usize), DivisionRef)> = None;
    for (_, candidates) in &administrative {
        for candidate in candidates {
            let support: u32 = administrative
                .iter()
                .filter(|(_, proposals)| proposals.iter().any(|p| p.contains(candidate)))
                .map(|(component, _)| label_weight(component.label))
                .sum();
            // Among equals, deeper wins, then a name that means one division beats
            // an ambiguous one.
            let key = (support, candidate.level, usize::MAX - candidates.len());
            if best.as_ref().is_none_or(|(best_key, _)| key > *best_key) {
                best = Some((key, *candidate));
            }
        }
    }
    let (_, division) = best?;
    let mut supporting_components = 0;
    let mut ambiguous = false;
    for (_, proposals) in &administrative {
        if proposals
            .iter()
            .any(|proposal| proposal.contains(&division))
        {
            supporting_components += 1;
        }
    }
    // A lone name shared by several divisions (龙山镇) resolves only to what they
    // have in common.
    if supporting_components == 1 {
        let (_, proposals) = administrative
            .iter()
            .find(|(_, proposals)| proposals.iter().any(|p| p.contains(&division)))?;
        if proposals.len() > 1 {
            ambiguous = true;
        }
    }
    let division = if ambiguous {
        common_ancestor(directory, &administrative, &division)?
    } else {
        division
    };
    let division = if division.level == DivisionLevel::County {
        town_named_inside(directory, components, &division).unwrap_or(division)
    } else {
        division
    };
    Some(LinkedDivision {
        via_former_name: division.renamed,
        division,
        supporting_components,
        administrative_components: administrative.len(),
    })
}

/// The deepest division containing every proposal of the component that proposed
/// `division`.
fn common_ancestor(
    directory: &DivisionDirectory,
    administrative: &[(&Component, Vec<DivisionRef>)],
    division: &DivisionRef,
) -> Option<DivisionRef> {
    let (_, proposals) = administrative
        .iter()
        .find(|(_, proposals)| proposals.contains(division))?;
    for level in [
        DivisionLevel::County,
        DivisionLevel::City,
        DivisionLevel::Province,
    ] {
        let digits = level.significant_digits() as u32;
        let divisor = 10u64.pow(12 - digits);
        let prefix = division.code / divisor;
        if proposals
            .iter()
            .all(|proposal| proposal.code / divisor == prefix)
        {
            let code = prefix * divisor;
            return directory
                .named_code(code)
                .filter(|ancestor| ancestor.level == level);
        }
    }
    None
}

/// A town of `county` whose name (with or without its suffix) is written somewhere
/// the parser did not label as a town: `仁和镇工业区`, `坦头誉尚`. Only an unambiguous
/// hit counts, and never one inside a road name (留下路 is not 留下街道).
fn town_named_inside(
    directory: &DivisionDirectory,
    components: &[Component],
    county: &DivisionRef,
) -> Option<DivisionRef> {
    let searchable: Vec<&str> = components
        .iter()
        .filter(|component| {
            !matches!(
                component.label,
                Label::Road | Label::Subroad | Label::Prov | Label::City | Label::District
            )
        })
        .map(|component| component.text.as_str())
        .collect();
    if searchable.is_empty() {
        return None;
    }
    let mut found: Option<DivisionRef> = None;
    for (town, name) in directory.current_child_names(county.code) {
        if town.level != DivisionLevel::Town {
            continue;
        }
        let stem = ["街道办事处", "街道", "镇", "乡"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        if stem.chars().count() < 2 {
            continue;
        }
        if searchable.iter().any(|text| text.contains(stem)) {
            if found.is_some() {
                return None;
            }
            found = Some(town);
        }
    }
    found
}
