//! Character-level normalisation shared by registration and matching.

/// Folds full-width ASCII (`１２Ａ`) and the ideographic space to their half-width forms.
pub fn fold_width(text: &str) -> String {
    text.chars()
        .map(|character| match character {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => {
                char::from_u32(character as u32 - 0xFF01 + 0x21).unwrap_or(character)
            }
            other => other,
        })
        .collect()
}

/// Width-folds, trims, and collapses runs of white space to nothing: Chinese address
/// components carry no meaningful spaces (`中山 东路` is `中山东路`).
pub fn clean_component(text: &str) -> String {
    fold_width(text)
        .chars()
        .filter(|character| !character.is_whitespace())
        .collect()
}

fn chinese_digit(character: char) -> Option<u64> {
    Some(match character {
        '〇' | '零' | 'O' => 0,
        '一' | '壹' | '幺' => 1,
        '二' | '两' | '贰' | '兩' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' | '陸' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

fn chinese_unit(character: char) -> Option<u64> {
    Some(match character {
        '十' | '拾' => 10,
        '百' | '佰' => 100,
        '千' | '仟' => 1000,
        '万' | '萬' => 10_000,
        _ => return None,
    })
}

pub fn is_chinese_numeral_character(character: char) -> bool {
    character != 'O' && (chinese_digit(character).is_some() || chinese_unit(character).is_some())
}

/// Reads a Chinese numeral written either positionally (`五零一` = 501) or with
/// units (`一百零三` = 103, `十二` = 12, `两千` = 2000). Returns `None` for anything
/// that is not entirely a numeral.
pub fn parse_chinese_numeral(text: &str) -> Option<u64> {
    let characters: Vec<char> = text.chars().collect();
    if characters.is_empty() || !characters.iter().all(|&c| is_chinese_numeral_character(c)) {
        return None;
    }
    if characters
        .iter()
        .all(|&character| chinese_digit(character).is_some())
    {
        // Positional digits, the way room and plate numbers are read aloud.
        return characters.iter().try_fold(0u64, |value, &character| {
            value
                .checked_mul(10)?
                .checked_add(chinese_digit(character)?)
        });
    }
    let mut total: u64 = 0;
    let mut section: u64 = 0;
    let mut pending_digit: Option<u64> = None;
    for character in characters {
        if let Some(digit) = chinese_digit(character) {
            pending_digit = Some(digit);
        } else if let Some(unit) = chinese_unit(character) {
            if unit == 10_000 {
                section += pending_digit.take().unwrap_or(0);
                total = total.checked_add(section.checked_mul(unit)?)?;
                section = 0;
            } else {
                // A bare unit at the start means one of it: 十二 = 12.
                section += pending_digit.take().unwrap_or(1) * unit;
            }
        }
    }
    Some(total + section + pending_digit.unwrap_or(0))
}

/// Converts a leading number slot to Arabic digits: `十二号` → `12号`, `５０１` → `501`.
/// Only a numeral that fills the slot before a unit word is converted, so names that
/// contain numerals (九州花园) are left alone by callers that pass whole names.
pub fn arabic_number_prefix(text: &str) -> String {
    let folded = fold_width(text);
    let numeral_length = folded
        .chars()
        .take_while(|&c| is_chinese_numeral_character(c))
        .count();
    if numeral_length == 0 {
        return folded;
    }
    let numeral: String = folded.chars().take(numeral_length).collect();
    match parse_chinese_numeral(&numeral) {
        Some(value) => {
            let rest: String = folded.chars().skip(numeral_length).collect();
            format!("{value}{rest}")
        }
        None => folded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_characters_fold_to_half_width() {
        assert_eq!(fold_width("１２号Ａ座　"), "12号A座 ");
        assert_eq!(clean_component(" 中山 东路 "), "中山东路");
    }

    #[test]
    fn chinese_numerals_in_both_styles_are_read() {
        assert_eq!(parse_chinese_numeral("一百零三"), Some(103));
        assert_eq!(parse_chinese_numeral("十二"), Some(12));
        assert_eq!(parse_chinese_numeral("两"), Some(2));
        assert_eq!(parse_chinese_numeral("五零一"), Some(501));
        assert_eq!(parse_chinese_numeral("一〇二"), Some(102));
        assert_eq!(parse_chinese_numeral("二十"), Some(20));
        assert_eq!(parse_chinese_numeral("两千零五"), Some(2005));
        assert_eq!(parse_chinese_numeral("一万二千"), Some(12_000));
        assert_eq!(parse_chinese_numeral("九州"), None);
        assert_eq!(parse_chinese_numeral(""), None);
    }

    #[test]
    fn only_the_leading_number_slot_is_converted() {
        assert_eq!(arabic_number_prefix("十二号"), "12号");
        assert_eq!(arabic_number_prefix("三幢"), "3幢");
        assert_eq!(arabic_number_prefix("１２号"), "12号");
        assert_eq!(arabic_number_prefix("A座"), "A座");
    }
}
