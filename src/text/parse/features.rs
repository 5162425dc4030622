//! What the sequence tagger sees at each character: the character folded to a
//! canonical form, its neighbours, division names from the lexicon that cover it,
//! and where it sits in a run of numbers.
//!
//! Features are hashed to `u64` so the model is a map from hash to weights and
//! extracting a feature allocates nothing.

use crate::text::lexicon::{LexiconHit, PlaceLexicon};

/// Marks the positions before the first and after the last character.
const BOUNDARY: char = '\u{2}';

/// Folds one character the way the tagger sees it: half width, upper case,
/// simplified, every digit `0` (one of the training sources masks digits, and the
/// value of a number never decides its role).
pub fn fold_for_tagging(characters: &[char]) -> Vec<char> {
    let folded: String = characters.iter().map(|&c| fold_character(c)).collect();
    let simplified = zhconv::zhconv(&folded, zhconv::Variant::ZhHans);
    let simplified: Vec<char> = simplified.chars().collect();
    let mut result = if simplified.len() == characters.len() {
        simplified
    } else {
        // A phrase-level conversion changed the length; convert one character at a
        // time so positions still line up with the input.
        folded
            .chars()
            .map(|c| {
                let converted = zhconv::zhconv(&c.to_string(), zhconv::Variant::ZhHans);
                let mut converted_characters = converted.chars();
                match (converted_characters.next(), converted_characters.next()) {
                    (Some(single), None) => single,
                    _ => c,
                }
            })
            .collect()
    };
    for character in &mut result {
        if character.is_ascii_digit() {
            *character = '0';
        }
    }
    result
}

fn fold_character(character: char) -> char {
    let half_width = match character {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => {
            char::from_u32(character as u32 - 0xFF01 + 0x21).unwrap_or(character)
        }
        other => other,
    };
    match half_width {
        '—' | '–' | '~' | '_' => '-',
        other => other.to_ascii_uppercase(),
    }
}

fn character_class(character: char) -> u32 {
    if character == BOUNDARY {
        0
    } else if character.is_ascii_digit() {
        1
    } else if character.is_ascii_alphabetic() {
        2
    } else if character.is_alphabetic() {
        3
    } else {
        4
    }
}

fn is_number_character(character: char) -> bool {
    character.is_ascii_alphanumeric()
}

/// Words that close a name or a number in an address; the nearest one ahead of a
/// character says much about what the character belongs to.
fn is_keyword(character: char) -> bool {
    matches!(
        character,
        '省' | '市'
            | '区'
            | '县'
            | '镇'
            | '乡'
            | '街'
            | '道'
            | '路'
            | '巷'
            | '弄'
            | '号'
            | '幢'
            | '栋'
            | '座'
            | '单'
            | '元'
            | '门'
            | '层'
            | '楼'
            | '室'
            | '村'
            | '组'
            | '苑'
            | '园'
            | '城'
            | '庭'
            | '院'
            | '厦'
            | '场'
            | '心'
            | '司'
            | '店'
            | '里'
            | '湾'
            | '府'
    )
}

/// A feature hash: FNV-1a over the template number and the characters, finished with
/// a 64-bit mix so the map can use the value directly.
#[derive(Clone, Copy)]
struct FeatureHasher(u64);

impl FeatureHasher {
    fn new(template: u32) -> Self {
        let mut hasher = FeatureHasher(0xcbf2_9ce4_8422_2325);
        hasher.push(template);
        hasher
    }

    fn push(&mut self, value: u32) {
        for byte in value.to_le_bytes() {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn push_char(mut self, character: char) -> Self {
        self.push(character as u32);
        self
    }

    fn push_value(mut self, value: u32) -> Self {
        self.push(value);
        self
    }

    fn finish(self) -> u64 {
        let mut value = self.0;
        value ^= value >> 33;
        value = value.wrapping_mul(0xff51_afd7_ed55_8ccd);
        value ^= value >> 33;
        value
    }
}

/// Feature hashes for every position of `folded`, one list per character, written
/// into `output` (reused across calls to avoid allocation).
pub fn extract_features(folded: &[char], lexicon: &PlaceLexicon, output: &mut Vec<Vec<u64>>) {
    let length = folded.len();
    output.iter_mut().for_each(Vec::clear);
    output.resize_with(length.max(output.len()), Vec::new);
    output.truncate(length);
    let at = |position: isize| -> char {
        if position < 0 || position as usize >= length {
            BOUNDARY
        } else {
            folded[position as usize]
        }
    };

    let lexicon_hits = lexicon.hits(folded);
    let number_runs = number_runs(folded);

    for (position, features) in output.iter_mut().enumerate() {
        let i = position as isize;
        let (c_2, c_1, c0, c1, c2) = (at(i - 2), at(i - 1), at(i), at(i + 1), at(i + 2));
        features.push(FeatureHasher::new(0).finish());
        features.push(FeatureHasher::new(1).push_char(c0).finish());
        features.push(FeatureHasher::new(2).push_char(c_1).finish());
        features.push(FeatureHasher::new(3).push_char(c1).finish());
        features.push(FeatureHasher::new(4).push_char(c_2).finish());
        features.push(FeatureHasher::new(5).push_char(c2).finish());
        features.push(FeatureHasher::new(6).push_char(c_1).push_char(c0).finish());
        features.push(FeatureHasher::new(7).push_char(c0).push_char(c1).finish());
        features.push(FeatureHasher::new(8).push_char(c_2).push_char(c_1).finish());
        features.push(FeatureHasher::new(9).push_char(c1).push_char(c2).finish());
        features.push(
            FeatureHasher::new(10)
                .push_char(c_1)
                .push_char(c0)
                .push_char(c1)
                .finish(),
        );
        features.push(
            FeatureHasher::new(11)
                .push_char(c_2)
                .push_char(c_1)
                .push_char(c0)
                .finish(),
        );
        features.push(
            FeatureHasher::new(12)
                .push_char(c0)
                .push_char(c1)
                .push_char(c2)
                .finish(),
        );

        features.push(FeatureHasher::new(17).push_char(at(i - 3)).finish());
        features.push(FeatureHasher::new(18).push_char(at(i + 3)).finish());
        features.push(
            FeatureHasher::new(19)
                .push_char(at(i - 3))
                .push_char(c_2)
                .push_char(c_1)
                .push_char(c0)
                .finish(),
        );
        features.push(
            FeatureHasher::new(23)
                .push_char(c0)
                .push_char(c1)
                .push_char(c2)
                .push_char(at(i + 3))
                .finish(),
        );
        let shape = (-2..=2).fold(FeatureHasher::new(24), |hasher, offset| {
            hasher.push_value(character_class(at(i + offset)))
        });
        features.push(shape.finish());

        // The nearest keyword ahead and behind, with a distance bucket, and the word
        // it ends (小区 is not 区).
        if let Some(distance) = (1..=8).find(|&d| is_keyword(at(i + d))) {
            features.push(
                FeatureHasher::new(13)
                    .push_char(at(i + distance))
                    .push_value(distance.min(4) as u32)
                    .finish(),
            );
            features.push(
                FeatureHasher::new(25)
                    .push_char(at(i + distance - 1))
                    .push_char(at(i + distance))
                    .push_value(distance.min(4) as u32)
                    .finish(),
            );
        }
        if let Some(distance) = (1..=8).find(|&d| is_keyword(at(i - d))) {
            features.push(
                FeatureHasher::new(14)
                    .push_char(at(i - distance))
                    .push_value(distance.min(4) as u32)
                    .finish(),
            );
        }
        if position == 0 {
            features.push(FeatureHasher::new(15).finish());
        }
        if position + 1 == length {
            features.push(FeatureHasher::new(16).finish());
        }
    }

    for hit in &lexicon_hits {
        add_lexicon_features(hit, output);
    }
    for run in &number_runs {
        add_number_features(run, folded, output);
    }
}

fn add_lexicon_features(hit: &LexiconHit, output: &mut [Vec<u64>]) {
    let length_bucket = (hit.end - hit.start).min(6) as u32;
    let levels = u32::from(hit.levels);
    for (position, features) in output.iter_mut().enumerate().take(hit.end).skip(hit.start) {
        let role = if position == hit.start {
            0
        } else if position + 1 == hit.end {
            2
        } else {
            1
        };
        features.push(
            FeatureHasher::new(20)
                .push_value(role)
                .push_value(levels)
                .finish(),
        );
        features.push(
            FeatureHasher::new(21)
                .push_value(role)
                .push_value(levels)
                .push_value(length_bucket)
                .finish(),
        );
    }
    // What follows a division name tells a name used as an address part (鄞州区)
    // from one that starts a longer name (鄞州大道).
    if let Some(next) = output.get_mut(hit.end) {
        next.push(FeatureHasher::new(22).push_value(levels).finish());
    }
}

/// A run of letters and digits, and its place in a dash-joined group such as
/// `12-3-1001`.
struct NumberRun {
    start: usize,
    end: usize,
    group_index: u32,
    group_size: u32,
}

fn number_runs(folded: &[char]) -> Vec<NumberRun> {
    let mut runs: Vec<NumberRun> = Vec::new();
    let mut position = 0;
    while position < folded.len() {
        if !is_number_character(folded[position]) {
            position += 1;
            continue;
        }
        let start = position;
        while position < folded.len() && is_number_character(folded[position]) {
            position += 1;
        }
        let joined_to_previous = runs
            .last()
            .is_some_and(|previous| previous.end + 1 == start && folded[previous.end] == '-');
        let group_index = if joined_to_previous {
            runs.last().map_or(0, |previous| previous.group_index + 1)
        } else {
            0
        };
        runs.push(NumberRun {
            start,
            end: position,
            group_index,
            group_size: 1,
        });
    }
    let mut group_start = 0;
    for index in 1..=runs.len() {
        if index == runs.len() || runs[index].group_index == 0 {
            let size = (index - group_start) as u32;
            for run in &mut runs[group_start..index] {
                run.group_size = size;
            }
            group_start = index;
        }
    }
    runs
}

fn add_number_features(run: &NumberRun, folded: &[char], output: &mut [Vec<u64>]) {
    let after = folded.get(run.end).copied().unwrap_or(BOUNDARY);
    let after_next = folded.get(run.end + 1).copied().unwrap_or(BOUNDARY);
    let before = if run.start == 0 {
        BOUNDARY
    } else {
        folded[run.start - 1]
    };
    let group = run.group_index.min(3) * 8 + run.group_size.min(4);
    let shape = run_shape(&folded[run.start..run.end]);
    let mut push_all = |position: usize| {
        let features = &mut output[position];
        features.push(FeatureHasher::new(30).push_char(after).finish());
        features.push(
            FeatureHasher::new(31)
                .push_char(after)
                .push_char(after_next)
                .finish(),
        );
        features.push(FeatureHasher::new(32).push_char(before).finish());
        features.push(FeatureHasher::new(33).push_value(group).finish());
        features.push(
            FeatureHasher::new(34)
                .push_value(group)
                .push_char(after)
                .finish(),
        );
        features.push(FeatureHasher::new(35).push_value(shape).finish());
    };
    for position in run.start..run.end {
        push_all(position);
    }
    // The dash after a number belongs to the same structure.
    if after == '-' {
        output[run.end].push(FeatureHasher::new(36).push_value(group).finish());
    }
}

/// Digits count (capped) and whether letters are mixed in.
fn run_shape(run: &[char]) -> u32 {
    let digits = run.iter().filter(|c| c.is_ascii_digit()).count().min(5) as u32;
    let letters = run
        .iter()
        .filter(|c| c.is_ascii_alphabetic())
        .count()
        .min(2) as u32;
    digits * 4 + letters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_one_character_per_input_character() {
        let input: Vec<char> = "浙江省杭州市濱江區１２－３".chars().collect();
        let folded = fold_for_tagging(&input);
        assert_eq!(folded.len(), input.len());
        let folded: String = folded.into_iter().collect();
        assert_eq!(folded, "浙江省杭州市滨江区00-0");
    }

    #[test]
    fn dash_groups_number_their_members() {
        let folded: Vec<char> = "00-0-000室0".chars().collect();
        let runs = number_runs(&folded);
        let shape: Vec<(u32, u32)> = runs
            .iter()
            .map(|run| (run.group_index, run.group_size))
            .collect();
        assert_eq!(shape, vec![(0, 3), (1, 3), (2, 3), (0, 1)]);
    }
}
