//! Normalisation of a whole free-text address before it is parsed or matched, with a
//! map from every output character back to the input characters it came from, so that
//! components found in the normalised text can be reported at their original offsets.
//!
//! What it does, in order: full width → half width; traditional → simplified; Chinese
//! numerals → Arabic digits, only where they fill a number slot (before 号, 幢, 单元 …);
//! one spelling per unit word after a number (號→号, 栋/号楼/#/座→幢, 门→单元,
//! 楼/F→层, 房→室); brackets, spaces and punctuation dropped.

use super::normalize::{is_chinese_numeral_character, parse_chinese_numeral};

/// Normalised text and, for each of its characters, the half-open range of input
/// characters (Unicode scalar values) it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedText {
    pub text: String,
    pub origins: Vec<(usize, usize)>,
}

impl NormalizedText {
    /// The input character range of the normalised characters `start..end`.
    pub fn original_range(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        if start >= end || end > self.origins.len() {
            return None;
        }
        Some((self.origins[start].0, self.origins[end - 1].1))
    }
}

/// Unit words that mark the number before them as a number slot, longest first. The
/// second element is the canonical spelling.
const UNIT_WORDS: [(&str, &str); 19] = [
    ("号楼", "幢"),
    ("#楼", "幢"),
    ("单元", "单元"),
    ("号", "号"),
    ("幢", "幢"),
    ("栋", "幢"),
    ("座", "幢"),
    ("#", "幢"),
    ("门", "单元"),
    ("层", "层"),
    ("楼", "层"),
    ("F", "层"),
    ("室", "室"),
    ("房", "室"),
    ("弄", "弄"),
    ("组", "组"),
    ("期", "期"),
    ("排", "排"),
    ("户", "户"),
];

/// Characters dropped as noise. `-` stays: it carries the `12-3-1001` shorthand.
fn is_noise(character: char) -> bool {
    character.is_whitespace()
        || matches!(
            character,
            '(' | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '（'
                | '）'
                | '【'
                | '】'
                | '《'
                | '》'
                | '〈'
                | '〉'
                | '「'
                | '」'
                | '『'
                | '』'
                | ','
                | '，'
                | '.'
                | '。'
                | '、'
                | ';'
                | '；'
                | ':'
                | '：'
                | '"'
                | '\''
                | '“'
                | '”'
                | '‘'
                | '’'
                | '!'
                | '！'
                | '?'
                | '？'
                | '·'
                | '•'
                | '…'
                | '~'
                | '～'
                | '*'
                | '/'
                | '\\'
                | '|'
                | '_'
        )
}

fn fold_character(character: char) -> char {
    match character {
        '\u{3000}' => ' ',
        // Full-width letters fold to ASCII and then to upper case like ASCII ones, so
        // ａ座 and A座 read the same.
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(character as u32 - 0xFF01 + 0x21)
            .unwrap_or(character)
            .to_ascii_uppercase(),
        '號' => '号',
        '—' | '–' | '‐' => '-',
        other => other.to_ascii_uppercase(),
    }
}

/// Normalises `input`; see the module documentation.
pub fn normalize_address_text(input: &str) -> NormalizedText {
    // 1. Width, case, 號, dashes: one character for one character.
    let folded: Vec<char> = input.chars().map(fold_character).collect();
    // 2. Traditional → simplified. OpenCC's character table keeps the length of single
    //    characters; where a phrase rule changes the length the offsets fall back to a
    //    per-character conversion.
    let folded_text: String = folded.iter().collect();
    let simplified_text = zhconv::zhconv(&folded_text, zhconv::Variant::ZhHans);
    let simplified: Vec<char> = if simplified_text.chars().count() == folded.len() {
        simplified_text.chars().collect()
    } else {
        folded
            .iter()
            .map(|character| {
                let converted = zhconv::zhconv(&character.to_string(), zhconv::Variant::ZhHans);
                let mut characters = converted.chars();
                match (characters.next(), characters.next()) {
                    (Some(single), None) => single,
                    _ => *character,
                }
            })
            .collect()
    };
    // 3. Drop noise, convert numerals in number slots and unify unit words.
    let mut text = String::with_capacity(input.len());
    let mut origins = Vec::with_capacity(simplified.len());
    // Noise goes first, so what decides a number slot is the same in the output as
    // in the input (一(号 and 一号 both give 1号) and a second pass changes nothing.
    let (characters, input_positions): (Vec<char>, Vec<usize>) = simplified
        .iter()
        .enumerate()
        .filter(|&(_, &character)| !is_noise(character))
        .map(|(input_position, &character)| (character, input_position))
        .unzip();
    let origin_of =
        |start: usize, end: usize| (input_positions[start], input_positions[end - 1] + 1);
    let mut position = 0;
    while position < characters.len() {
        let character = characters[position];
        let previous_is_number = text
            .chars()
            .next_back()
            .is_some_and(|last: char| last.is_ascii_alphanumeric());
        if previous_is_number && let Some((length, canonical)) = unit_word_at(&characters, position)
        {
            push(
                &mut text,
                &mut origins,
                canonical,
                origin_of(position, position + length),
            );
            position += length;
            continue;
        }
        if is_chinese_numeral_character(character) {
            let run_end = position
                + characters[position..]
                    .iter()
                    .take_while(|&&c| is_chinese_numeral_character(c))
                    .count();
            let numeral: String = characters[position..run_end].iter().collect();
            let fills_a_slot = unit_word_at(&characters, run_end).is_some()
                || characters.get(run_end).is_some_and(|&next| next == '-')
                || (position > 0 && characters[position - 1] == '-');
            if fills_a_slot && let Some(value) = parse_chinese_numeral(&numeral) {
                push(
                    &mut text,
                    &mut origins,
                    &value.to_string(),
                    origin_of(position, run_end),
                );
                position = run_end;
                continue;
            }
            // A run that is not a number is kept whole: trying its tails instead would
            // convert part of it, and the next pass would then read the rest differently.
            for (index, &kept) in characters.iter().enumerate().take(run_end).skip(position) {
                text.push(kept);
                origins.push(origin_of(index, index + 1));
            }
            position = run_end;
            continue;
        }
        text.push(character);
        origins.push(origin_of(position, position + 1));
        position += 1;
    }
    NormalizedText { text, origins }
}

/// The unit word starting at `position`, as (length in characters, canonical spelling).
fn unit_word_at(characters: &[char], position: usize) -> Option<(usize, &'static str)> {
    UNIT_WORDS.iter().find_map(|(word, canonical)| {
        let length = word.chars().count();
        let matches = characters
            .get(position..position + length)
            .is_some_and(|slice| slice.iter().copied().eq(word.chars()));
        matches.then_some((length, *canonical))
    })
}

/// Appends `replacement`, every character of which stands for the input range `origin`.
fn push(
    text: &mut String,
    origins: &mut Vec<(usize, usize)>,
    replacement: &str,
    origin: (usize, usize),
) {
    for character in replacement.chars() {
        text.push(character);
        origins.push(origin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(input: &str) -> String {
        normalize_address_text(input).text
    }

    #[test]
    fn number_slots_become_arabic_and_names_keep_their_numerals() {
        assert_eq!(normalized("天童南路五百八十八号"), "天童南路588号");
        assert_eq!(
            normalized("九州花园三幢二单元五楼五零一室"),
            "九州花园3幢2单元5层501室"
        );
        assert_eq!(normalized("十里铺村十二组"), "十里铺村12组");
        assert_eq!(normalized("三里屯"), "三里屯");
        assert_eq!(normalized("两千零五号"), "2005号");
    }

    #[test]
    fn unit_words_get_one_spelling_after_a_number() {
        assert_eq!(normalized("12栋3门1001房"), "12幢3单元1001室");
        assert_eq!(normalized("3号楼5F"), "3幢5层");
        assert_eq!(normalized("A座"), "A幢");
        assert_eq!(normalized("5#楼"), "5幢");
        assert_eq!(normalized("5#"), "5幢");
        assert_eq!(
            normalized("世纪大楼"),
            "世纪大楼",
            "楼 in a name is not a floor"
        );
    }

    #[test]
    fn width_script_and_punctuation_are_folded() {
        assert_eq!(
            normalized("浙江省寧波市（鄞州區）　中山東路１２號"),
            "浙江省宁波市鄞州区中山东路12号"
        );
        assert_eq!(normalized("58弄11－802"), "58弄11-802");
        assert_eq!(normalized("a座 , 3-1-1001"), "A幢3-1-1001");
    }

    #[test]
    fn every_output_character_maps_back_to_the_input() {
        let input = "（寧波）天童南路五百八十八號";
        let normalized = normalize_address_text(input);
        assert_eq!(normalized.text, "宁波天童南路588号");
        assert_eq!(normalized.origins.len(), normalized.text.chars().count());
        let road = normalized.original_range(2, 6).unwrap();
        let input_chars: Vec<char> = input.chars().collect();
        assert_eq!(
            input_chars[road.0..road.1].iter().collect::<String>(),
            "天童南路"
        );
        let number = normalized.original_range(6, 10).unwrap();
        assert_eq!(
            input_chars[number.0..number.1].iter().collect::<String>(),
            "五百八十八號"
        );
        assert_eq!(normalized.original_range(3, 3), None);
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for input in [
            "浙江省寧波市鄞州區中山東路十二號三棟",
            "12-3-1001",
            "九州花园A座五楼",
            "",
        ] {
            let once = normalized(input);
            assert_eq!(normalized(&once), once, "{input}");
        }
    }
}

#[cfg(test)]
mod idempotence_properties {
    #[test]
    fn a_numeral_run_too_long_for_a_number_is_kept_whole() {
        // Found by fuzzing: the tail of a long run was converted, and the next pass
        // then converted the head that was left.
        for length in 1..40 {
            for text in [
                format!("-{}层", "七".repeat(length)),
                format!("Y-{}7层", "七".repeat(length)),
            ] {
                let once = super::normalize_address_text(&text).text;
                assert_eq!(super::normalize_address_text(&once).text, once, "{text}");
            }
        }
    }

    use proptest::prelude::*;

    use super::*;

    /// Text drawn from what addresses are written with: names, numerals of both
    /// kinds, unit words in all their spellings, full-width forms, traditional
    /// characters and punctuation noise.
    fn address_like_text() -> impl Strategy<Value = String> {
        const PIECES: &[&str] = &[
            "浙江",
            "宁波市",
            "鄞州区",
            "江東區",
            "九州花园",
            "天童南路",
            "中山東路",
            "村",
            "组",
            "一",
            "二",
            "两",
            "三",
            "十",
            "十二",
            "一百零三",
            "〇",
            "零",
            "百",
            "千",
            "1",
            "2",
            "0",
            "12",
            "５８",
            "１２",
            "号",
            "號",
            "幢",
            "栋",
            "号楼",
            "#",
            "座",
            "单元",
            "门",
            "层",
            "楼",
            "F",
            "f",
            "室",
            "房",
            "弄",
            "支弄",
            "之",
            "附",
            "-",
            "—",
            "－",
            "(",
            ")",
            "（",
            "）",
            " ",
            "\u{3000}",
            "，",
            "、",
            ".",
            "·",
            "A",
            "ａ",
            "旁边",
            "对面",
        ];
        prop::collection::vec(prop::sample::select(PIECES), 0..24)
            .prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        #[test]
        fn normalising_twice_changes_nothing(text in address_like_text()) {
            let once = normalize_address_text(&text);
            let twice = normalize_address_text(&once.text);
            prop_assert_eq!(&twice.text, &once.text, "input {:?}", text);
            prop_assert_eq!(once.origins.len(), once.text.chars().count());
        }

        #[test]
        fn every_output_character_points_into_the_input(text in "\\PC{0,40}") {
            let normalized = normalize_address_text(&text);
            let input_length = text.chars().count();
            for &(start, end) in &normalized.origins {
                prop_assert!(start < end && end <= input_length, "{:?} in {:?}", (start, end), text);
            }
        }
    }
}
