//! The pieces of a normalised address that the features compare (roads, numbers by
//! unit, buildings, the core name, road and place keys) and the string measures
//! over them (common substring and subsequence, bigram overlap).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::LazyLock;

use regex::Regex;

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fa5}').contains(&c)
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn is_lower(c: char) -> bool {
    c.is_ascii_lowercase()
}

pub(super) fn chars(text: &str) -> Vec<char> {
    text.chars().collect()
}

pub(super) fn string(characters: &[char]) -> String {
    characters.iter().collect()
}

fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// Han characters and lower-case letters only.
pub(super) fn only_han(text: &[char]) -> Vec<char> {
    text.iter()
        .copied()
        .filter(|&c| is_han(c) || is_lower(c))
        .collect()
}

pub(super) fn contains(haystack: &[char], needle: &[char]) -> bool {
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
pub(super) fn bigrams(text: &[char]) -> Bigrams {
    if text.len() > 1 {
        text.windows(2).map(|w| [w[0], w[1]]).collect()
    } else {
        text.iter().map(|&c| [c, '\0']).collect()
    }
}

pub(super) fn jaccard<T: Eq + std::hash::Hash>(a: &HashSet<T>, b: &HashSet<T>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// Share of `a` found in `b`.
pub(super) fn cover<T: Eq + std::hash::Hash>(a: &HashSet<T>, b: &HashSet<T>) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.intersection(b).count() as f64 / a.len() as f64
}

static BRACKET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\(([^()]*)\)").unwrap());

/// The text outside brackets and the bracketed parts.
pub(super) fn split_brackets(text: &str) -> (String, Vec<String>) {
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
pub(super) fn number_units(text: &str) -> BTreeMap<String, BTreeSet<String>> {
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

pub(super) fn roads(text: &[char]) -> HashSet<String> {
    road_spans(text)
        .into_iter()
        .map(|(s, e)| string(&text[s..e]))
        .collect()
}

pub(super) fn without_roads(text: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut position = 0;
    for (start, end) in road_spans(text) {
        out.extend_from_slice(&text[position..start]);
        position = end;
    }
    out.extend_from_slice(&text[position..]);
    out
}

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
pub(super) fn core_name(text: &str) -> String {
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
pub(super) fn buildings(text: &[char]) -> HashSet<String> {
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
pub(super) fn building_key(identifier: &str) -> String {
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
pub(super) static POI_AT_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("{POI_SUFFIX}$")).unwrap());

fn char_index(text: &str, byte: usize) -> usize {
    text[..byte].chars().count()
}

/// The two Han characters before each road word (skipping one direction).
pub(super) fn road_keys(text: &[char]) -> HashSet<String> {
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
pub(super) fn place_keys(text: &[char]) -> HashSet<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
