//! Text normalisation before features are taken: width, case, punctuation and
//! numerals folded (`normalize`), and the division names at the start of an address
//! stripped with the division lexicon (`strip_admin`).

use std::sync::LazyLock;

use regex::Regex;

use crate::text::lexicon::{PlaceLexicon, level_bits};

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

pub(super) const ADMIN_SUFFIXES: [&str; 16] = [
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
pub(super) fn strip_admin(lexicon: &PlaceLexicon, text: &[char]) -> (Vec<char>, Vec<String>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::compare::pieces::{chars, string};
    use crate::matching::compare::tests::lexicon;

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
}
