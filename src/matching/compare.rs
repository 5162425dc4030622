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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::index::addresses::{name_key, number_stem};
use crate::text::lexicon::{PlaceLexicon, level_bits};
use crate::text::parse::{AddressParser, Component, Label};

/// The trained weights, built into the binary.
pub const EMBEDDED_COMPARE_MODEL: &str = include_str!("../../data/compare-model.json");

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

/// Softmax regression weights over named features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareModel {
    /// `exact`, `partial`, `none`.
    pub classes: Vec<String>,
    pub features: Vec<String>,
    /// One row per feature, one column per class; class score = Σ value·weight. The
    /// `bias` feature is always 1 and carries the tuned class offsets.
    pub weights: Vec<[f64; 3]>,
    /// How the model was made (command, data, figures); not read.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub provenance: serde_json::Value,
}

impl CompareModel {
    pub fn from_json(text: &str) -> Result<Self, String> {
        let model: CompareModel = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if model.classes != ["exact", "partial", "none"] {
            return Err(format!("unexpected classes {:?}", model.classes));
        }
        if model.features.len() != model.weights.len() {
            return Err("features and weights differ in length".into());
        }
        Ok(model)
    }

    /// Class probabilities (exact, partial, none) of a feature vector.
    pub fn probabilities(&self, features: &Features) -> [f64; 3] {
        let mut scores = [0.0; 3];
        for (name, weights) in self.features.iter().zip(&self.weights) {
            let value = features.get(name);
            if value != 0.0 {
                for class in 0..3 {
                    scores[class] += value * weights[class];
                }
            }
        }
        softmax(scores)
    }
}

pub fn softmax(mut scores: [f64; 3]) -> [f64; 3] {
    let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for score in &mut scores {
        *score = (*score - top).exp();
        total += *score;
    }
    scores.map(|score| score / total)
}

/// Named feature values of one pair, in a fixed order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    pub names: Vec<String>,
    pub values: Vec<f64>,
    index: HashMap<String, usize>,
}

impl Features {
    fn set(&mut self, name: impl Into<String>, value: f64) {
        let name = name.into();
        if let Some(&position) = self.index.get(&name) {
            self.values[position] = value;
            return;
        }
        self.index.insert(name.clone(), self.names.len());
        self.names.push(name);
        self.values.push(value);
    }

    fn flag(&mut self, name: impl Into<String>, value: bool) {
        self.set(name, f64::from(u8::from(value)));
    }

    /// The value of `name`, 0 when the pair does not have it.
    pub fn get(&self, name: &str) -> f64 {
        self.index.get(name).map_or(0.0, |&i| self.values[i])
    }

    fn thermometer(&mut self, prefix: &str, value: f64, edges: &[&str]) {
        for edge in edges {
            let threshold: f64 = edge.parse().unwrap_or(f64::INFINITY);
            self.flag(format!("{prefix}>={edge}"), value >= threshold);
        }
    }
}

/// Compares free-text addresses; cheap to clone.
#[derive(Clone)]
pub struct AddressComparer {
    lexicon: Arc<PlaceLexicon>,
    parser: AddressParser,
    model: Arc<CompareModel>,
}

static EMBEDDED_MODEL: LazyLock<Arc<CompareModel>> = LazyLock::new(|| {
    Arc::new(
        CompareModel::from_json(EMBEDDED_COMPARE_MODEL)
            .expect("data/compare-model.json is a valid compare model"),
    )
});

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

// ------------------------------------------------------------------ normalisation

static PUNCTUATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"[\s·•,，。、"'“”]+"#).unwrap());
static ORDINAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"第([零〇一二两三四五六七八九十百千]+)").unwrap());
static ORDINAL_DIGIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"第(\d)").unwrap());
static NUMERAL_UNIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"([零〇一二两三四五六七八九十百千]+)(号楼|号院|号|幢|栋|座|单元|层|楼|室|期|组|排|门)",
    )
    .unwrap()
});
static BUILDING_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([a-z]?\d+[a-z]?|[a-z])(号楼|栋|座|号幢|幢|号房)").unwrap());
static FLOOR_LOU: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d+)楼").unwrap());
static FLOOR_F: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d+)f\b").unwrap());
static CROSSING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(交叉路口|交叉口|交汇处|交界处|交汇|交叉|交口|路口)").unwrap());

fn chinese_digit(character: char) -> Option<u64> {
    Some(match character {
        '零' | '〇' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

/// A Chinese numeral below 10000, positional (`一二三`) or with units (`一百零三`).
fn chinese_numeral(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    if text.chars().all(|c| chinese_digit(c).is_some()) {
        return Some(text.chars().fold(0u64, |v, c| {
            v.saturating_mul(10)
                .saturating_add(chinese_digit(c).unwrap_or(0))
        }));
    }
    let (mut total, mut current) = (0u64, 0u64);
    for character in text.chars() {
        if let Some(digit) = chinese_digit(character) {
            current = digit;
        } else {
            let unit = match character {
                '十' => 10,
                '百' => 100,
                '千' => 1000,
                _ => return None,
            };
            let multiplier = if unit == 10 && current == 0 {
                1
            } else {
                current
            };
            total += multiplier * unit;
            current = 0;
        }
    }
    Some(total + current)
}

/// Half width, lower case, no spaces or punctuation, numerals as digits where they
/// count something, building words as `幢`, floors as `层`, crossings as `与`.
pub fn normalize(text: &str) -> String {
    let folded: String = text
        .chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            other => other,
        })
        .collect::<String>()
        .to_lowercase();
    let text = PUNCTUATION.replace_all(&folded, "");
    let text = ORDINAL.replace_all(&text, |caps: &regex::Captures| {
        format!("第{}", chinese_numeral(&caps[1]).unwrap_or(0))
    });
    let text = ORDINAL_DIGIT.replace_all(&text, "$1");
    let text = NUMERAL_UNIT.replace_all(&text, |caps: &regex::Captures| {
        match chinese_numeral(&caps[1]) {
            Some(value) => format!("{value}{}", &caps[2]),
            None => caps[0].to_owned(),
        }
    });
    let text = BUILDING_WORD.replace_all(&text, "${1}幢");
    let text = FLOOR_LOU.replace_all(&text, "${1}层");
    let text = FLOOR_F.replace_all(&text, "${1}层");
    CROSSING.replace_all(&text, "与").into_owned()
}

// ------------------------------------------------------------------ division prefix

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AdminLevel {
    Province,
    City,
    County,
    Town,
    DevelopmentZone,
}

const ADMIN_SUFFIXES: [&str; 16] = [
    "省",
    "市",
    "自治区",
    "特别行政区",
    "自治州",
    "地区",
    "盟",
    "区",
    "县",
    "自治县",
    "旗",
    "镇",
    "乡",
    "街道",
    "街道办事处",
    "苏木",
];
const TOWN_SUFFIXES: [&str; 5] = ["镇", "乡", "街道", "街道办事处", "苏木"];
const LONGEST_ADMIN_NAME: usize = 12;

static DEVELOPMENT_ZONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[\x{4e00}-\x{9fa5}]{0,6}?(经济技术开发区|经济开发区|高新技术产业开发区|高新技术开发区|高新区|开发区|工业园区|工业区|新区)",
    )
    .unwrap()
});

/// The highest level `name` is a division name at; towns only with a town suffix
/// (bare town short names are too often ordinary words).
fn admin_level(lexicon: &PlaceLexicon, name: &[char]) -> Option<AdminLevel> {
    let folded: Vec<char> = name.iter().map(|c| c.to_ascii_uppercase()).collect();
    let bits = lexicon.levels_of(&folded)?;
    if bits & level_bits::PROVINCE != 0 {
        Some(AdminLevel::Province)
    } else if bits & level_bits::CITY != 0 {
        Some(AdminLevel::City)
    } else if bits & level_bits::COUNTY != 0 {
        Some(AdminLevel::County)
    } else if bits & level_bits::TOWN != 0 {
        let name: String = name.iter().collect();
        TOWN_SUFFIXES
            .iter()
            .any(|suffix| name.ends_with(suffix))
            .then_some(AdminLevel::Town)
    } else {
        None
    }
}

/// Strips division names (and a development zone) from the start of `text`: the
/// longest known name each time. Names with a division suffix always go; bare short
/// names (浙江, 杭州) only at province or city level, or at county level right after
/// a city. A name followed by 路/街/道/巷/大/村/里 is part of a road or village name
/// (南京路, 中山大道) and stays.
fn strip_admin(lexicon: &PlaceLexicon, text: &[char]) -> (Vec<char>, Vec<String>) {
    let mut rest = text.to_vec();
    let mut stripped = Vec::new();
    let mut last_level = None;
    let mut changed = true;
    while changed && !rest.is_empty() {
        changed = false;
        let longest = LONGEST_ADMIN_NAME.min(rest.len().saturating_sub(1));
        for length in (2..=longest).rev() {
            let name = &rest[..length];
            let Some(level) = admin_level(lexicon, name) else {
                continue;
            };
            if matches!(rest[length], '路' | '街' | '道' | '巷' | '大' | '村' | '里') {
                continue;
            }
            let name_text: String = name.iter().collect();
            let has_suffix = ADMIN_SUFFIXES.iter().any(|s| name_text.ends_with(s));
            if !has_suffix
                && (level == AdminLevel::Town
                    || (level == AdminLevel::County && last_level != Some(AdminLevel::City)))
            {
                continue;
            }
            last_level = Some(level);
            stripped.push(name_text);
            rest.drain(..length);
            changed = true;
            break;
        }
        if !changed {
            let text: String = rest.iter().collect();
            if let Some(found) = DEVELOPMENT_ZONE.find(&text) {
                let length = found.as_str().chars().count();
                if rest.len() > length + 1 {
                    stripped.push(found.as_str().to_owned());
                    rest.drain(..length);
                    changed = true;
                    last_level = Some(AdminLevel::DevelopmentZone);
                }
            }
        }
    }
    (rest, stripped)
}

// ------------------------------------------------------------------ text helpers

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fa5}').contains(&c)
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn is_lower(c: char) -> bool {
    c.is_ascii_lowercase()
}

fn chars(text: &str) -> Vec<char> {
    text.chars().collect()
}

fn string(characters: &[char]) -> String {
    characters.iter().collect()
}

fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// Han characters and lower-case letters only.
fn only_han(text: &[char]) -> Vec<char> {
    text.iter()
        .copied()
        .filter(|&c| is_han(c) || is_lower(c))
        .collect()
}

fn contains(haystack: &[char], needle: &[char]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// Longest common substring.
pub fn longest_common_substring(a: &[char], b: &[char]) -> usize {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    let mut best = 0;
    let mut previous = vec![0usize; b.len() + 1];
    let mut current = vec![0usize; b.len() + 1];
    for &x in a {
        for (j, &y) in b.iter().enumerate() {
            current[j + 1] = if x == y { previous[j] + 1 } else { 0 };
            best = best.max(current[j + 1]);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    best
}

/// Longest common subsequence.
pub fn longest_common_subsequence(a: &[char], b: &[char]) -> usize {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    let mut previous = vec![0usize; b.len() + 1];
    let mut current = vec![0usize; b.len() + 1];
    for &x in a {
        for (j, &y) in b.iter().enumerate() {
            current[j + 1] = if x == y {
                previous[j] + 1
            } else {
                previous[j + 1].max(current[j])
            };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

type Bigrams = HashSet<[char; 2]>;

/// Character bigrams; a single character stands for itself.
fn bigrams(text: &[char]) -> Bigrams {
    if text.len() > 1 {
        text.windows(2).map(|w| [w[0], w[1]]).collect()
    } else {
        text.iter().map(|&c| [c, '\0']).collect()
    }
}

fn jaccard<T: Eq + std::hash::Hash>(a: &HashSet<T>, b: &HashSet<T>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// Share of `a` found in `b`.
fn cover<T: Eq + std::hash::Hash>(a: &HashSet<T>, b: &HashSet<T>) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.intersection(b).count() as f64 / a.len() as f64
}

static BRACKET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\(([^()]*)\)").unwrap());

/// The text outside brackets and the bracketed parts.
fn split_brackets(text: &str) -> (String, Vec<String>) {
    let inner = BRACKET
        .captures_iter(text)
        .map(|caps| caps[1].to_owned())
        .collect();
    let outer = BRACKET
        .replace_all(text, "")
        .chars()
        .filter(|&c| c != '(' && c != ')')
        .collect();
    (outer, inner)
}

static NUMBER_UNIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([a-z]?\d+(?:-\d+)*[a-z]?)(号院|号|弄|幢|单元|层|室|期|区|组|排|门|支弄|巷)?")
        .unwrap()
});

/// Numbers by the unit written after them (`bare` without one).
fn number_units(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut units: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for caps in NUMBER_UNIT.captures_iter(text) {
        let unit = match caps.get(2).map_or("", |m| m.as_str()) {
            "号院" => "号",
            "" => "bare",
            other => other,
        };
        units
            .entry(unit.to_owned())
            .or_default()
            .insert(caps[1].to_owned());
    }
    units
}

const ROAD_SUFFIXES: [&str; 8] = ["大道", "大街", "路", "街", "巷", "胡同", "公路", "里"];

/// Road names (`…路`, `…大道`): one to eight Han characters or digits and the
/// shortest road suffix that is followed by a Han character, a digit, a letter or
/// the end. Character spans.
fn road_spans(text: &[char]) -> Vec<(usize, usize)> {
    let suffixes: Vec<Vec<char>> = ROAD_SUFFIXES.iter().map(|s| chars(s)).collect();
    let in_name = |c: char| is_han(c) || is_digit(c);
    let follows = |c: char| is_han(c) || is_digit(c) || is_lower(c);
    let mut spans = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut found = None;
        'length: for length in 1..=8 {
            let Some(&last) = text.get(start + length - 1) else {
                break;
            };
            if !in_name(last) {
                break;
            }
            let after = start + length;
            for suffix in &suffixes {
                if text[after..].starts_with(suffix) {
                    let end = after + suffix.len();
                    if end == text.len() || follows(text[end]) {
                        found = Some(end);
                        break 'length;
                    }
                }
            }
        }
        match found {
            Some(end) => {
                spans.push((start, end));
                start = end;
            }
            None => start += 1,
        }
    }
    spans
}

fn roads(text: &[char]) -> HashSet<String> {
    road_spans(text)
        .into_iter()
        .map(|(s, e)| string(&text[s..e]))
        .collect()
}

fn without_roads(text: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut position = 0;
    for (start, end) in road_spans(text) {
        out.extend_from_slice(&text[position..start]);
        position = end;
    }
    out.extend_from_slice(&text[position..]);
    out
}

static GATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[东西南北中正侧后前]*\d*[东西南北]?\d*门$").unwrap());
static LEAD_CROSSING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^.*?与.*?(?:大道|路|街|巷|道|线)与?(?:[东西南北]+角?)?(?:\d+米)?(?:附近|处)?")
        .unwrap()
});
static LEAD_DISTANCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^.*?[东西南北]+\d+米").unwrap());
static LEAD_ROAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[\x{4e00}-\x{9fa5}a-z\d]{1,10}?(?:大道|大街|路|街|巷|胡同)(?:\d+(?:-\d+)*号?(?:院|附近)?)?",
    )
    .unwrap()
});
static TRAILING_NUMBERS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:[a-z]?\d+[a-z]?(?:-\d+)*(?:幢|单元|层|室|号|期|区|门)?)+$").unwrap()
});

/// The core name of an address: without a leading crossing, distance or road and
/// number, and without trailing building numbers.
fn core_name(text: &str) -> String {
    let mut name = text.to_owned();
    for lead in [&*LEAD_CROSSING, &*LEAD_DISTANCE, &*LEAD_ROAD] {
        if let Some(found) = lead.find(&name)
            && char_len(&name[found.end()..]) >= 2
        {
            name = name[found.end()..].to_owned();
        }
    }
    let trimmed = TRAILING_NUMBERS.replace_all(&name, "");
    if char_len(&trimmed) >= 2 {
        name = trimmed.into_owned();
    }
    name
}

static BUILDING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([a-z]?\d+[a-z]?(?:-\d+)?|[a-z])幢").unwrap());
static HAO_AT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([a-z]?\d+[a-z]?)(?:-\d+)*号").unwrap());
const ROAD_ENDS: [char; 12] = [
    '路', '街', '道', '巷', '弄', '里', '线', '村', '组', '社', '队', '院',
];

/// A bare `N-M(-K)` at `start`: the first part, when the compound is not followed
/// by a digit, 号, 幢 or 弄 (a shorter compound followed by `-` also counts).
fn hyphenated_at(text: &[char], start: usize) -> Option<String> {
    let mut j = start;
    if text.get(j).is_some_and(|&c| is_lower(c)) {
        j += 1;
    }
    let digits = j;
    while text.get(j).is_some_and(|&c| is_digit(c)) {
        j += 1;
    }
    if j == digits {
        return None;
    }
    if text.get(j).is_some_and(|&c| is_lower(c)) {
        j += 1;
    }
    let first = string(&text[start..j]);
    let mut segments = 0;
    while text.get(j) == Some(&'-') && text.get(j + 1).is_some_and(|&c| is_digit(c)) {
        j += 1;
        while text.get(j).is_some_and(|&c| is_digit(c)) {
            j += 1;
        }
        segments += 1;
    }
    if segments == 0 {
        return None;
    }
    let blocked = text
        .get(j)
        .is_some_and(|&c| is_digit(c) || matches!(c, '号' | '幢' | '弄'));
    (!blocked || segments >= 2).then_some(first)
}

/// Building identifiers: `N幢`; `N号` after a name that is not a road, lane or
/// village word; the first part of a bare `N-M(-K)`.
fn buildings(text: &[char]) -> HashSet<String> {
    let joined = string(text);
    let mut found: HashSet<String> = BUILDING
        .captures_iter(&joined)
        .map(|caps| caps[1].to_owned())
        .collect();
    for start in 1..text.len() {
        let previous = text[start - 1];
        if is_han(previous) && !ROAD_ENDS.contains(&previous) {
            let rest = string(&text[start..]);
            if let Some(caps) = HAO_AT.captures(&rest) {
                let end = caps[0].chars().count();
                if text.get(start + end) != Some(&'院') {
                    found.insert(caps[1].to_owned());
                }
            }
        }
        let lookbehind_ok = !(is_digit(previous) || is_lower(previous) || previous == '-');
        if lookbehind_ok
            && !ROAD_ENDS.contains(&previous)
            && !matches!(previous, '东' | '西' | '南' | '北')
            && let Some(first) = hyphenated_at(text, start)
        {
            found.insert(first);
        }
    }
    found
}

/// A building identifier without its letter prefix (`a3` → `3`).
fn building_key(identifier: &str) -> String {
    let trimmed = identifier.trim_start_matches(|c: char| c.is_ascii_lowercase());
    if trimmed.is_empty() {
        identifier.to_owned()
    } else {
        trimmed.to_owned()
    }
}

static ROAD_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(大道|大街|路|街|巷|胡同|公路)").unwrap());
const POI_SUFFIX: &str = "(小区|花园|花苑|家园|新村|公寓|大厦|广场|中心|大楼|村|苑|园|城|府|庭|居|湾|阁|里|坊|湖|郡|邸|墅|庄|院|医院|学校|中学|小学|大学|学院|幼儿园|公司|酒店|宾馆|超市|市场|商场|银行|店)";
static POI_WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(POI_SUFFIX).unwrap());
static POI_AT_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("{POI_SUFFIX}$")).unwrap());

fn char_index(text: &str, byte: usize) -> usize {
    text[..byte].chars().count()
}

/// The two Han characters before each road word (skipping one direction).
fn road_keys(text: &[char]) -> HashSet<String> {
    let joined = string(text);
    let mut keys = HashSet::new();
    for found in ROAD_WORD.find_iter(&joined) {
        let mut i = char_index(&joined, found.start());
        if i >= 3 && matches!(text[i - 1], '东' | '西' | '南' | '北' | '中') {
            i -= 1;
        }
        let before = &text[i.saturating_sub(2)..i];
        if before.len() == 2 && before.iter().all(|&c| is_han(c)) && !before.contains(&'与') {
            keys.insert(string(before));
        }
    }
    keys
}

/// Two Han characters and the place word after them (`阳光花园`).
fn place_keys(text: &[char]) -> HashSet<String> {
    let joined = string(text);
    let mut keys = HashSet::new();
    for found in POI_WORD.find_iter(&joined) {
        let i = char_index(&joined, found.start());
        let before = &text[i.saturating_sub(2)..i];
        if before.len() == 2 && before.iter().all(|&c| is_han(c)) {
            keys.insert(format!("{}{}", string(before), found.as_str()));
        }
    }
    keys
}

static BRACKET_ROAD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(路|街|道|巷)$").unwrap());
static OUTER_GATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[东西南北]\d*门$").unwrap());
static IS_ROAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[\x{4e00}-\x{9fa5}\d]{1,10}(大道|大街|路|街|巷|胡同|道)(\d+号)?$").unwrap()
});
static DETAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(单元|层|室)").unwrap());
static GENERIC_PLACE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(小区|花园|家园|新村|社区|公寓|广场|大厦|园区|苑|村|城)$").unwrap()
});

/// The hand features of the research prototype; `q` is the query, `c` the candidate.
pub fn text_features(lexicon: &PlaceLexicon, q: &str, c: &str) -> Features {
    let mut f = Features::default();
    let qn = normalize(q);
    let cn = normalize(c);
    let (qo, _) = split_brackets(&qn);
    let (co, cin) = split_brackets(&cn);
    let (qs, q_admin) = strip_admin(lexicon, &chars(&qo));
    let (cs, c_admin) = strip_admin(lexicon, &chars(&co));
    let qs_text = string(&qs);
    let cs_text = string(&cs);
    let qn_chars = chars(&qn);
    f.set("bias", 1.0);
    f.flag("eq_norm", qs == cs);
    f.flag("c_in_q", !cs.is_empty() && contains(&qs, &cs));
    f.flag("q_in_c", !qs.is_empty() && contains(&cs, &qs));
    let lcs = longest_common_substring(&qs, &cs);
    let lcs_over_c = lcs as f64 / cs.len().max(1) as f64;
    let lcs_over_q = lcs as f64 / qs.len().max(1) as f64;
    f.set("lcs_over_c", lcs_over_c);
    f.set("lcs_over_q", lcs_over_q);
    f.flag("lcs_ge4", lcs >= 4);
    let lcseq = longest_common_subsequence(&qs, &cs);
    f.set("lcseq_over_c", lcseq as f64 / cs.len().max(1) as f64);
    f.set("lcseq_over_q", lcseq as f64 / qs.len().max(1) as f64);
    let q_han = only_han(&qs);
    let c_han = only_han(&cs);
    let (qb, cb) = (bigrams(&q_han), bigrams(&c_han));
    let bigram_jaccard = jaccard(&qb, &cb);
    f.set("bi_jacc", bigram_jaccard);
    f.set("bi_cov_c", cover(&cb, &qb));
    f.set("bi_cov_q", cover(&qb, &cb));
    let qh = only_han(&qn_chars);
    f.flag("c_has_br", !cin.is_empty());
    f.set(
        "cbr_cov",
        if cin.is_empty() {
            0.0
        } else {
            cover(&bigrams(&only_han(&chars(&cin.concat()))), &bigrams(&qh))
        },
    );
    let (qr, cr) = (roads(&qs), roads(&cs));
    let road_same = qr.intersection(&cr).next().is_some();
    f.flag("road_both", !qr.is_empty() && !cr.is_empty());
    f.flag("road_same", road_same);
    f.flag("road_conf", !qr.is_empty() && !cr.is_empty() && !road_same);
    f.flag("road_c_only", !cr.is_empty() && qr.is_empty());
    f.flag("road_q_only", !qr.is_empty() && cr.is_empty());
    let (qnu, cnu) = (number_units(&qs_text), number_units(&cs_text));
    let empty = BTreeSet::new();
    for unit in ["号", "弄", "幢", "单元", "层", "室", "期", "区", "bare"] {
        let a = qnu.get(unit).unwrap_or(&empty);
        let b = cnu.get(unit).unwrap_or(&empty);
        let shared = a.intersection(b).next().is_some();
        f.flag(format!("n_{unit}_same"), shared);
        f.flag(
            format!("n_{unit}_conf"),
            !a.is_empty() && !b.is_empty() && !shared,
        );
        f.flag(format!("n_{unit}_q_only"), !a.is_empty() && b.is_empty());
        f.flag(format!("n_{unit}_c_only"), !b.is_empty() && a.is_empty());
    }
    let q_all: HashSet<&String> = qnu.values().flatten().collect();
    let c_all: HashSet<&String> = cnu.values().flatten().collect();
    f.flag("num_any_same", q_all.intersection(&c_all).next().is_some());
    f.set("num_c_cov", cover(&c_all, &q_all));
    f.flag("num_c_none", c_all.is_empty());
    f.set("len_q", qs.len().min(40) as f64 / 40.0);
    f.set("len_c", cs.len().min(40) as f64 / 40.0);
    f.set(
        "len_ratio",
        cs.len().min(qs.len()) as f64 / cs.len().max(qs.len()).max(1) as f64,
    );
    let bracket_gate = cin.iter().any(|x| GATE.is_match(x));
    f.flag("cbr_gate", bracket_gate);
    f.flag("cbr_shop", cin.iter().any(|x| x.ends_with('店')));
    f.flag("cbr_road", cin.iter().any(|x| BRACKET_ROAD.is_match(x)));
    f.flag("c_gate_outer", OUTER_GATE.is_match(&cs_text));

    let name = core_name(&cs_text);
    let nmh = only_han(&chars(&name));
    let name_in_q = nmh.len() >= 2 && contains(&qh, &nmh);
    let name_lcs = longest_common_substring(&nmh, &qh) as f64 / nmh.len().max(1) as f64;
    f.flag("name_in_q", name_in_q);
    f.set("name_lcs", name_lcs);
    f.set(
        "name_lcseq",
        longest_common_subsequence(&nmh, &qh) as f64 / nmh.len().max(1) as f64,
    );
    f.set("name_bicov", cover(&bigrams(&nmh), &bigrams(&qh)));
    f.set("name_len", nmh.len().min(20) as f64 / 20.0);
    let name_is_road = IS_ROAD.is_match(&cs_text);
    f.flag("name_is_road", name_is_road);
    f.flag("name_suffix_poi", POI_AT_END.is_match(&string(&nmh)));
    f.flag(
        "name_last2_in_q",
        nmh.len() >= 2 && contains(&qh, &nmh[nmh.len() - 2..]),
    );
    f.flag(
        "name_first2_in_q",
        nmh.len() >= 2 && contains(&qh, &nmh[..2]),
    );
    let qa: HashSet<&String> = q_admin.iter().collect();
    let ca: HashSet<&String> = c_admin.iter().collect();
    f.flag("adm_same", qa.intersection(&ca).next().is_some());
    f.flag(
        "adm_c_not_in_q",
        c_admin.iter().any(|x| !qn.contains(x.as_str())),
    );

    let qk: HashSet<String> = buildings(&qs).iter().map(|b| building_key(b)).collect();
    let ck: HashSet<String> = buildings(&cs).iter().map(|b| building_key(b)).collect();
    let shared = qk.intersection(&ck).next().is_some();
    let building_flags = [
        ("b_same", shared),
        ("b_conf", !qk.is_empty() && !ck.is_empty() && !shared),
        ("b_q_only", !qk.is_empty() && ck.is_empty()),
        ("b_c_only", !ck.is_empty() && qk.is_empty()),
        ("b_none", qk.is_empty() && ck.is_empty()),
    ];
    for (key, value) in building_flags {
        f.flag(key, value);
    }
    let strong = name_in_q || name_lcs >= 0.8;
    let weak = !strong && name_lcs >= 0.5;
    f.flag("nm_strong", strong);
    f.flag("nm_weak", weak);
    for (key, value) in building_flags {
        f.flag(format!("strong_x_{key}"), strong && value);
        f.flag(format!("weak_x_{key}"), weak && value);
    }
    f.flag("strong_x_gate", strong && bracket_gate);
    let q_detail = DETAIL.is_match(&qs_text);
    f.flag("q_detail", q_detail);
    f.flag("strong_x_qdetail", strong && q_detail);
    let c_generic = GENERIC_PLACE.is_match(&string(&only_han(&chars(&co)))) && ck.is_empty();
    f.flag("c_generic", c_generic);
    f.flag("c_generic_x_qb", c_generic && !qk.is_empty());
    f.flag("c_is_road_x_qmore", name_is_road && qs.len() > cs.len() + 2);

    let (rq, rc) = (road_keys(&qs), road_keys(&cs));
    let road_key_same = rq.intersection(&rc).next().is_some();
    f.flag("rk_same", road_key_same);
    f.flag(
        "rk_conf",
        !rq.is_empty() && !rc.is_empty() && !road_key_same,
    );
    f.flag(
        "rk_c_in_q_text",
        rc.iter().any(|k| qs_text.contains(k.as_str())),
    );
    let hao_same = f.get("n_号_same") > 0.0;
    let hao_conf = f.get("n_号_conf") > 0.0;
    f.flag("rk_same_x_hao_same", road_key_same && hao_same);
    f.flag("rk_same_x_hao_conf", road_key_same && hao_conf);
    let (pq, pc) = (place_keys(&q_han), place_keys(&c_han));
    let place_same = pq.intersection(&pc).next().is_some();
    let place_conf = !pq.is_empty() && !pc.is_empty() && !place_same;
    f.flag("pk_same", place_same);
    f.flag("pk_conf", place_conf);
    f.flag("pk_c_only", !pc.is_empty() && pq.is_empty());
    f.flag("pk_conf_x_bsame", place_conf && shared);
    f.flag("nm_first3_in_q", nmh.len() >= 3 && contains(&qh, &nmh[..3]));
    f.flag(
        "nm_first2_miss",
        nmh.len() >= 2 && !contains(&qh, &nmh[..2]),
    );
    let residue = c_han.len() - longest_common_subsequence(&c_han, &q_han);
    f.thermometer("c_resid", residue as f64, &["1", "3", "6", "10"]);
    f.thermometer("lcs_abs", lcs as f64, &["2", "3", "4", "5", "6", "8", "10"]);
    f.thermometer("lcs_c", lcs_over_c, &["0.3", "0.5", "0.7", "0.9"]);
    f.thermometer("lcs_q", lcs_over_q, &["0.3", "0.5", "0.7", "0.9"]);
    f.thermometer("nmlcs", name_lcs, &["0.4", "0.6", "0.8", "1.0"]);
    f.thermometer(
        "bjac",
        bigram_jaccard,
        &["0.1", "0.2", "0.35", "0.5", "0.7"],
    );

    let qnm = only_han(&chars(&core_name(&qs_text)));
    let ch = only_han(&chars(&cn));
    f.flag("qname_in_c", qnm.len() >= 2 && contains(&ch, &qnm));
    f.thermometer(
        "qnmlcs",
        longest_common_substring(&qnm, &ch) as f64 / qnm.len().max(1) as f64,
        &["0.3", "0.5", "0.7", "0.9"],
    );
    f.flag(
        "qnm_first2_in_c",
        qnm.len() >= 2 && contains(&ch, &qnm[..2]),
    );
    let lcs_without_roads = longest_common_substring(
        &only_han(&without_roads(&qs)),
        &only_han(&without_roads(&cs)),
    );
    f.thermometer(
        "lcs_noroad",
        lcs_without_roads as f64,
        &["2", "3", "4", "6"],
    );
    f.flag("road_same_x_hao_conf", road_same && hao_conf);
    f.flag("road_same_x_hao_same", road_same && hao_same);
    f
}

// ------------------------------------------------------------------ parser components

fn is_number_label(label: Label) -> bool {
    matches!(
        label,
        Label::Roadno
            | Label::Subroadno
            | Label::Houseno
            | Label::Cellno
            | Label::Floorno
            | Label::Roomno
    )
}

fn is_admin_label(label: Label) -> bool {
    matches!(
        label,
        Label::Prov | Label::City | Label::District | Label::Town
    )
}

/// The key a component is compared by: number stem, division name without its
/// level word, or name key.
fn component_key(component: &Component) -> String {
    if is_number_label(component.label) {
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

/// Agreement of the parser's components, label group by label group: same (some
/// key shared), conflicting (both have the group, no key shared), only in a, only
/// in b.
fn parser_features(f: &mut Features, a: &[Component], b: &[Component]) {
    let groups: [(&str, &[Label]); 9] = [
        ("district", &[Label::District]),
        ("town", &[Label::Town]),
        ("community", &[Label::Community, Label::VillageGroup]),
        ("road", &[Label::Road, Label::Subroad]),
        ("roadno", &[Label::Roadno, Label::Subroadno]),
        ("poi", &[Label::Poi, Label::Subpoi, Label::Devzone]),
        ("houseno", &[Label::Houseno]),
        ("cellno", &[Label::Cellno]),
        ("floorroom", &[Label::Floorno, Label::Roomno]),
    ];
    for (name, labels) in groups {
        let keys = |components: &[Component]| -> HashSet<String> {
            components
                .iter()
                .filter(|c| labels.contains(&c.label))
                .map(component_key)
                .filter(|k| !k.is_empty())
                .collect()
        };
        let (ka, kb) = (keys(a), keys(b));
        let shared = ka.intersection(&kb).next().is_some();
        f.flag(format!("p_{name}_same"), shared);
        f.flag(
            format!("p_{name}_conf"),
            !ka.is_empty() && !kb.is_empty() && !shared,
        );
        f.flag(format!("p_{name}_a_only"), !ka.is_empty() && kb.is_empty());
        f.flag(format!("p_{name}_b_only"), !kb.is_empty() && ka.is_empty());
        // Names written slightly differently (阳光花园 / 阳光花苑): the best share of
        // the shorter name in a common substring.
        if matches!(name, "community" | "road" | "poi") {
            let similarity = ka
                .iter()
                .flat_map(|x| kb.iter().map(move |y| (chars(x), chars(y))))
                .map(|(x, y)| {
                    longest_common_substring(&x, &y) as f64 / x.len().min(y.len()).max(1) as f64
                })
                .fold(0.0, f64::max);
            f.thermometer(&format!("p_{name}_sim"), similarity, &["0.5", "0.8"]);
        }
    }
    let flag = |f: &Features, name: &str| f.get(name) > 0.0;
    let poi_close = flag(f, "p_poi_same") || flag(f, "p_poi_sim>=0.8");
    f.flag(
        "p_poi_close_x_houseno_conf",
        poi_close && flag(f, "p_houseno_conf"),
    );
    f.flag(
        "p_poi_close_x_houseno_same",
        poi_close && flag(f, "p_houseno_same"),
    );
    f.flag(
        "p_poi_close_x_houseno_a_only",
        poi_close && flag(f, "p_houseno_a_only"),
    );
    f.flag(
        "p_poi_close_x_houseno_b_only",
        poi_close && flag(f, "p_houseno_b_only"),
    );
    let road_close = flag(f, "p_road_same") || flag(f, "p_road_sim>=0.8");
    f.flag(
        "p_road_close_x_roadno_conf",
        road_close && flag(f, "p_roadno_conf"),
    );
    f.flag(
        "p_road_close_x_roadno_same",
        road_close && flag(f, "p_roadno_same"),
    );
}

// ------------------------------------------------------------------ evaluation

/// Counts of (gold, predicted) verdicts, for macro-F1 and per-class figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConfusionMatrix {
    /// `counts[gold][predicted]`, classes in `Verdict::ALL` order.
    pub counts: [[u64; 3]; 3],
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassScores {
    pub verdict: Verdict,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Gold pairs of the class.
    pub support: u64,
}

impl ConfusionMatrix {
    pub fn add(&mut self, gold: Verdict, predicted: Verdict) {
        self.counts[gold.index()][predicted.index()] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let right: u64 = (0..3).map(|k| self.counts[k][k]).sum();
        right as f64 / self.total().max(1) as f64
    }

    pub fn per_class(&self) -> [ClassScores; 3] {
        Verdict::ALL.map(|verdict| {
            let k = verdict.index();
            let tp = self.counts[k][k];
            let predicted: u64 = (0..3).map(|g| self.counts[g][k]).sum();
            let gold: u64 = self.counts[k].iter().sum();
            let precision = tp as f64 / predicted.max(1) as f64;
            let recall = tp as f64 / gold.max(1) as f64;
            let f1 = 2.0 * precision * recall / (precision + recall).max(1e-9);
            ClassScores {
                verdict,
                precision,
                recall,
                f1,
                support: gold,
            }
        })
    }

    /// Unweighted mean of the three classes' F1.
    pub fn macro_f1(&self) -> f64 {
        self.per_class().iter().map(|c| c.f1).sum::<f64>() / 3.0
    }
}

/// Compares every `(a, b, gold)` pair and counts the verdicts.
pub fn evaluate_pairs<'p>(
    comparer: &AddressComparer,
    pairs: impl IntoIterator<Item = (&'p str, &'p str, Verdict)>,
) -> ConfusionMatrix {
    let mut matrix = ConfusionMatrix::default();
    for (a, b, gold) in pairs {
        matrix.add(gold, comparer.compare(a, b).verdict);
    }
    matrix
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::EMBEDDED_PARSER_MODEL;
    use crate::text::parse::model::TaggerModel;

    fn lexicon() -> Arc<PlaceLexicon> {
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
        let model = TaggerModel::read_from(EMBEDDED_PARSER_MODEL).expect("parser model");
        AddressComparer::new(
            lexicon.clone(),
            AddressParser::new(Arc::new(model), lexicon),
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

    #[test]
    fn normalises_numerals_buildings_and_crossings() {
        assert_eq!(normalize("第三幢 ５０２室"), "3幢502室");
        assert_eq!(normalize("十二号楼三楼"), "12幢3层");
        assert_eq!(normalize("文三路与学院路交叉口"), "文三路与学院路与");
        assert_eq!(chinese_numeral("一百零三"), Some(103));
        assert_eq!(chinese_numeral("十二"), Some(12));
        assert_eq!(chinese_numeral("五零一"), Some(501));
    }

    #[test]
    fn strips_division_names_but_not_road_names() {
        let lexicon = lexicon();
        let (rest, stripped) = strip_admin(&lexicon, &chars("浙江省杭州市西湖区文三路"));
        assert_eq!(string(&rest), "文三路");
        assert_eq!(stripped, ["浙江省", "杭州市", "西湖区"]);
        // A county short name alone is not stripped; before 路 no name is.
        assert_eq!(
            string(&strip_admin(&lexicon, &chars("西湖文化广场")).0),
            "西湖文化广场"
        );
        assert_eq!(
            string(&strip_admin(&lexicon, &chars("杭州路8号")).0),
            "杭州路8号"
        );
    }

    #[test]
    fn finds_roads_and_buildings() {
        let text = chars("文三路90号阳光花园3幢");
        assert_eq!(roads(&text), HashSet::from(["文三路".to_owned()]));
        assert_eq!(buildings(&text), HashSet::from(["3".to_owned()]));
        // A bare compound after a place name is a building; 1-2-3号 reads 1 too.
        assert_eq!(
            buildings(&chars("阳光花园5-2-301")),
            HashSet::from(["5".to_owned()])
        );
        assert_eq!(
            buildings(&chars("阳光花园1-2-3号")),
            HashSet::from(["1".to_owned()])
        );
        assert!(buildings(&chars("文三路5-2号")).is_empty());
    }

    #[test]
    fn macro_f1_averages_the_classes() {
        let mut matrix = ConfusionMatrix::default();
        matrix.add(Verdict::Exact, Verdict::Exact);
        matrix.add(Verdict::Partial, Verdict::Exact);
        matrix.add(Verdict::None, Verdict::None);
        let classes = matrix.per_class();
        assert!((classes[0].precision - 0.5).abs() < 1e-9 && classes[0].recall == 1.0);
        assert_eq!(classes[1].f1, 0.0);
        assert_eq!(classes[2].f1, 1.0);
        assert!((matrix.macro_f1() - (2.0 / 3.0 + 0.0 + 1.0) / 3.0).abs() < 1e-9);
    }
}
