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

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::division::Division;

    fn division(
        code: &str,
        name: &str,
        level: DivisionLevel,
        short_name: Option<&str>,
    ) -> Division {
        let parent = crate::domain::division::DivisionCode::parse(code)
            .ok()
            .and_then(|code| code.structural_parent())
            .map(|parent| parent.as_str().to_owned());
        Division {
            code: code.into(),
            name: name.into(),
            short_name: short_name.map(Into::into),
            level,
            parent_code: parent,
            aliases: vec![],
            valid_from: None,
            valid_to: None,
            successor_code: None,
        }
    }

    fn directory() -> DivisionDirectory {
        use DivisionLevel::*;
        let mut jiangdong = division("330204000000", "江东区", County, Some("江东"));
        jiangdong.valid_to = NaiveDate::from_ymd_opt(2016, 9, 30);
        jiangdong.successor_code = Some("330212000000".into());
        DivisionDirectory::build(vec![
            division("320000000000", "江苏省", Province, Some("江苏")),
            division("320100000000", "南京市", City, Some("南京")),
            division("320106000000", "鼓楼区", County, Some("鼓楼")),
            division("350000000000", "福建省", Province, Some("福建")),
            division("350100000000", "福州市", City, Some("福州")),
            division("350102000000", "鼓楼区", County, Some("鼓楼")),
            division("330000000000", "浙江省", Province, Some("浙江")),
            division("330200000000", "宁波市", City, Some("宁波")),
            division("330212000000", "鄞州区", County, Some("鄞州")),
            division("330212001000", "下应街道", Town, Some("下应")),
            division("330282000000", "慈溪市", County, Some("慈溪")),
            division("330282106000", "龙山镇", Town, Some("龙山")),
            division("330781000000", "兰溪市", County, Some("兰溪")),
            division("330781200000", "龙山镇", Town, Some("龙山")),
            jiangdong,
        ])
    }

    fn component(label: Label, text: &str) -> Component {
        Component {
            label,
            text: text.into(),
            start: 0,
            end: text.chars().count(),
        }
    }

    fn linked(components: &[Component]) -> Option<String> {
        link_division(&directory(), components).map(|linked| linked.division.code_string())
    }

    #[test]
    fn same_name_counties_are_told_apart_by_their_city() {
        let nanjing = [
            component(Label::City, "南京"),
            component(Label::District, "鼓楼区"),
        ];
        assert_eq!(linked(&nanjing).as_deref(), Some("320106000000"));
        let fuzhou = [
            component(Label::Prov, "福建省"),
            component(Label::District, "鼓楼"),
        ];
        assert_eq!(linked(&fuzhou).as_deref(), Some("350102000000"));
        // Alone, 鼓楼区 names two counties in two provinces: nothing they share is
        // below the country, so nothing is claimed.
        assert_eq!(linked(&[component(Label::District, "鼓楼区")]), None);
    }

    #[test]
    fn a_retired_name_links_to_its_successor() {
        let result = link_division(
            &directory(),
            &[
                component(Label::City, "宁波市"),
                component(Label::District, "江东区"),
            ],
        )
        .unwrap();
        assert_eq!(result.division.code_string(), "330212000000");
        assert!(result.via_former_name);
    }

    #[test]
    fn the_deepest_consistent_division_wins_and_suffixes_are_optional() {
        let town = [
            component(Label::City, "宁波"),
            component(Label::District, "鄞州"),
            component(Label::Town, "下应街道"),
        ];
        assert_eq!(linked(&town).as_deref(), Some("330212001000"));
        // A town name shared across counties is settled by the county named with it.
        let cixi = [
            component(Label::District, "慈溪市"),
            component(Label::Town, "龙山镇"),
        ];
        assert_eq!(linked(&cixi).as_deref(), Some("330282106000"));
    }

    #[test]
    fn a_town_written_inside_a_place_name_is_found_under_the_county() {
        let components = [
            component(Label::District, "鄞州区"),
            component(Label::Poi, "下应工业园"),
        ];
        assert_eq!(linked(&components).as_deref(), Some("330212001000"));
    }
}
