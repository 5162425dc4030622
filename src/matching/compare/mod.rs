//! Address comparison: are two free-text addresses the same place?
//!
//! `compare(a, b)` answers `exact` (the same place), `partial` (one contains the
//! other or they share the place but differ below it) or `none` (different places),
//! with a score and the component-level differences the parser sees.
//!
//! The verdict comes from a multinomial softmax regression over hand-made features
//! of the two texts (normalised, with the administrative prefix stripped by the
//! division lexicon): longest common substring and subsequence, bigram overlap,
//! roads, numbers by unit, buildings, the candidate's core name, and agreement of
//! the parser's components. The weights are derived data in
//! `data/compare-model.json`, trained by `scripts/train-compare` on folds 0–6 of the
//! CCKS 2021 address-pair data (see data/README.md).
//!
//! The model was trained with the free-text query as `a` and the candidate as `b`;
//! the features are not symmetric, so `compare(a, b)` and `compare(b, a)` may differ.
//!
//! This module holds the public types and `AddressComparer`; the work is in
//! `normalize` (text normalisation, division prefix), `pieces` (roads, numbers,
//! buildings, names and string measures), `features` (the feature vector), `model`
//! (the softmax weights) and `evaluate` (confusion matrix and macro-F1).

mod evaluate;
mod features;
mod model;
mod normalize;
mod pieces;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::index::addresses::{name_key, number_stem};
use crate::text::lexicon::PlaceLexicon;
use crate::text::parse::{AddressParser, Component, Label};

pub use evaluate::{ClassScores, ConfusionMatrix, evaluate_pairs};
pub use features::{Features, text_features};
pub use model::{CompareModel, EMBEDDED_COMPARE_MODEL, softmax};
pub use normalize::normalize;
pub use pieces::{longest_common_subsequence, longest_common_substring};

use features::parser_features;
use model::EMBEDDED_MODEL;
use normalize::ADMIN_SUFFIXES;

/// Are the two addresses the same place?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The same place.
    Exact,
    /// Related: one is inside the other, or they share a place but differ below it.
    Partial,
    /// Different places.
    None,
}

impl Verdict {
    /// In the model's class order.
    pub const ALL: [Verdict; 3] = [Verdict::Exact, Verdict::Partial, Verdict::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Exact => "exact",
            Verdict::Partial => "partial",
            Verdict::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == text)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How one component compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceStatus {
    Same,
    Different,
    OnlyA,
    OnlyB,
}

/// One component (as the parser labels it) on either side.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ComponentDifference {
    pub label: Label,
    /// The component's text in `a`, when `a` has it.
    pub a: Option<String>,
    /// The component's text in `b`, when `b` has it.
    pub b: Option<String>,
    pub status: DifferenceStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    pub verdict: Verdict,
    /// `P(exact) + 0.5·P(partial)` under the model (class offsets tuned for macro-F1
    /// are part of its bias, so this is a ranking score in 0..1 rather than a
    /// calibrated probability): near 1 for the same place, near 0 for unrelated ones.
    pub score: f64,
    /// Core components (prov … roomno) of either side, in label order; numbers are
    /// compared by stem (`12号` = `十二号`), names by key (width, case, brackets).
    pub diff: Vec<ComponentDifference>,
}

/// Compares free-text addresses; cheap to clone.
#[derive(Clone)]
pub struct AddressComparer {
    lexicon: Arc<PlaceLexicon>,
    parser: AddressParser,
    model: Arc<CompareModel>,
}

impl AddressComparer {
    /// A comparer with the built-in model. `lexicon` is the division lexicon (the one
    /// the parser uses).
    pub fn new(lexicon: Arc<PlaceLexicon>, parser: AddressParser) -> Self {
        Self::with_model(lexicon, parser, EMBEDDED_MODEL.clone())
    }

    pub fn with_model(
        lexicon: Arc<PlaceLexicon>,
        parser: AddressParser,
        model: Arc<CompareModel>,
    ) -> Self {
        AddressComparer {
            lexicon,
            parser,
            model,
        }
    }

    pub fn model(&self) -> &CompareModel {
        &self.model
    }

    /// Whether `a` and `b` name the same place.
    pub fn compare(&self, a: &str, b: &str) -> Comparison {
        let components_a = self.parser.parse(a);
        let components_b = self.parser.parse(b);
        let features = self.features_with(a, b, &components_a, &components_b);
        let probabilities = self.model.probabilities(&features);
        let best = (0..3)
            .max_by(|&x, &y| {
                probabilities[x]
                    .total_cmp(&probabilities[y])
                    .then(y.cmp(&x))
            })
            .unwrap_or(2);
        Comparison {
            verdict: Verdict::ALL[best],
            score: (probabilities[0] + 0.5 * probabilities[1]).clamp(0.0, 1.0),
            diff: component_differences(&components_a, &components_b),
        }
    }

    /// Every feature of the pair (the model uses a subset).
    pub fn features(&self, a: &str, b: &str) -> Features {
        let components_a = self.parser.parse(a);
        let components_b = self.parser.parse(b);
        self.features_with(a, b, &components_a, &components_b)
    }

    fn features_with(
        &self,
        a: &str,
        b: &str,
        components_a: &[Component],
        components_b: &[Component],
    ) -> Features {
        let mut features = text_features(&self.lexicon, a, b);
        parser_features(&mut features, components_a, components_b);
        features
    }
}

// ------------------------------------------------------------------ parser components

fn is_admin_label(label: Label) -> bool {
    matches!(
        label,
        Label::Prov | Label::City | Label::District | Label::Town
    )
}

/// The key a component is compared by: number stem, division name without its
/// level word, or name key.
fn component_key(component: &Component) -> String {
    if super::number_slot(component.label).is_some() {
        let stem = number_stem(&component.text);
        if !stem.is_empty() {
            return stem;
        }
    }
    let key = name_key(&component.text);
    if is_admin_label(component.label) {
        for suffix in ADMIN_SUFFIXES.iter().rev() {
            if let Some(rest) = key.strip_suffix(suffix)
                && rest.chars().count() >= 2
            {
                return rest.to_owned();
            }
        }
    }
    key
}

/// The core components (prov … roomno) of `a` and `b` side by side: by label in
/// label order, the n-th component of a label in `a` against the n-th in `b`.
pub fn component_differences(a: &[Component], b: &[Component]) -> Vec<ComponentDifference> {
    let mut by_label: BTreeMap<Label, (Vec<&Component>, Vec<&Component>)> = BTreeMap::new();
    for component in a.iter().filter(|c| c.label.is_core()) {
        by_label
            .entry(component.label)
            .or_default()
            .0
            .push(component);
    }
    for component in b.iter().filter(|c| c.label.is_core()) {
        by_label
            .entry(component.label)
            .or_default()
            .1
            .push(component);
    }
    let mut differences = Vec::new();
    for (label, (in_a, in_b)) in by_label {
        for position in 0..in_a.len().max(in_b.len()) {
            let (x, y) = (in_a.get(position), in_b.get(position));
            let status = match (x, y) {
                (Some(x), Some(y)) if component_key(x) == component_key(y) => {
                    DifferenceStatus::Same
                }
                (Some(_), Some(_)) => DifferenceStatus::Different,
                (Some(_), None) => DifferenceStatus::OnlyA,
                _ => DifferenceStatus::OnlyB,
            };
            differences.push(ComponentDifference {
                label,
                a: x.map(|c| c.text.clone()),
                b: y.map(|c| c.text.clone()),
                status,
            });
        }
    }
    differences
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;
    use crate::text::lexicon::level_bits;

    /// A small division lexicon (Zhejiang names) for the tests here and in the
    /// submodules.
    pub(super) fn lexicon() -> Arc<PlaceLexicon> {
        let mut lexicon = PlaceLexicon::new();
        for (name, level) in [
            ("浙江省", level_bits::PROVINCE),
            ("浙江", level_bits::PROVINCE),
            ("杭州市", level_bits::CITY),
            ("杭州", level_bits::CITY),
            ("宁波市", level_bits::CITY),
            ("宁波", level_bits::CITY),
            ("温州市", level_bits::CITY),
            ("西湖区", level_bits::COUNTY),
            ("西湖", level_bits::COUNTY),
            ("鄞州区", level_bits::COUNTY),
            ("鹿城区", level_bits::COUNTY),
            ("首南街道", level_bits::TOWN),
            ("首南", level_bits::TOWN),
        ] {
            lexicon.insert(name, level);
        }
        Arc::new(lexicon)
    }

    static COMPARER: LazyLock<AddressComparer> = LazyLock::new(|| {
        let lexicon = lexicon();
        AddressComparer::new(
            lexicon.clone(),
            AddressParser::with_shipped_model(lexicon).expect("parser model"),
        )
    });

    #[test]
    fn the_same_address_written_differently_is_exact() {
        let result = COMPARER.compare("浙江省杭州市西湖区文三路90号", "杭州西湖区文三路九十号");
        assert_eq!(result.verdict, Verdict::Exact, "{result:?}");
        assert!(result.score > 0.5, "{result:?}");
    }

    #[test]
    fn another_building_of_the_same_compound_is_not_exact() {
        let result = COMPARER.compare("宁波市鄞州区阳光花园3幢2单元", "鄞州区阳光花园5幢");
        assert_ne!(result.verdict, Verdict::Exact, "{result:?}");
        let same = COMPARER.compare("宁波市鄞州区阳光花园3幢2单元", "鄞州区阳光花园3幢");
        assert!(same.score > result.score, "{same:?} {result:?}");
    }

    #[test]
    fn unrelated_addresses_are_none() {
        let result = COMPARER.compare("杭州市西湖区文三路90号", "温州市鹿城区人民东路18号");
        assert_eq!(result.verdict, Verdict::None, "{result:?}");
        assert!(result.score < 0.3, "{result:?}");
    }

    #[test]
    fn diff_lists_components_by_label() {
        let result = COMPARER.compare("杭州市西湖区文三路90号", "西湖区文三路92号");
        let status = |label: Label| {
            result
                .diff
                .iter()
                .find(|d| d.label == label)
                .map(|d| d.status)
        };
        assert_eq!(
            status(Label::City),
            Some(DifferenceStatus::OnlyA),
            "{result:?}"
        );
        assert_eq!(
            status(Label::District),
            Some(DifferenceStatus::Same),
            "{result:?}"
        );
        assert_eq!(
            status(Label::Road),
            Some(DifferenceStatus::Same),
            "{result:?}"
        );
        let number = result
            .diff
            .iter()
            .find(|d| d.label == Label::Roadno)
            .unwrap();
        assert_eq!(number.status, DifferenceStatus::Different);
        assert_eq!(number.a.as_deref(), Some("90号"));
        assert_eq!(number.b.as_deref(), Some("92号"));
        let labels: Vec<Label> = result.diff.iter().map(|d| d.label).collect();
        assert!(labels.is_sorted(), "{labels:?}");
        let json = serde_json::to_value(&result).unwrap();
        assert!(json["verdict"].is_string() && json["score"].is_number());
        assert_eq!(json["diff"][0]["status"], "only_a");
    }

    #[test]
    fn numbers_compare_by_stem_and_admin_names_without_level_word() {
        let component = |label, text: &str| Component {
            label,
            text: text.into(),
            start: 0,
            end: 0,
        };
        let a = [
            component(Label::City, "杭州市"),
            component(Label::Houseno, "十二幢"),
        ];
        let b = [
            component(Label::City, "杭州"),
            component(Label::Houseno, "12栋"),
        ];
        let diff = component_differences(&a, &b);
        assert!(
            diff.iter().all(|d| d.status == DifferenceStatus::Same),
            "{diff:?}"
        );
    }
}
