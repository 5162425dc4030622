//! The place lexicon: every division name, short name and alias, keyed by a hash of
//! its characters, with the levels it is known at. The parser asks it which
//! substrings of an address are division names.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::domain::division::{Division, DivisionLevel};

/// Level bits of a lexicon entry.
pub mod level_bits {
    pub const PROVINCE: u8 = 1;
    pub const CITY: u8 = 2;
    pub const COUNTY: u8 = 4;
    pub const TOWN: u8 = 8;
    pub const VILLAGE: u8 = 16;
    /// The name belongs to a division that no longer exists.
    pub const RETIRED: u8 = 32;
}

const LONGEST_NAME: usize = 12;

/// Hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Default)]
pub struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

pub type PrehashedMap<V> = HashMap<u64, V, BuildHasherDefault<PrehashedKey>>;

/// A well-mixed 64-bit hash of a string (FNV-1a, then a finaliser), for the keys of a
/// [`PrehashedMap`] that holds names.
pub fn name_hash(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^ (hash >> 33)
}

/// A division name found in a text: characters `start..end` and its level bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LexiconHit {
    pub start: usize,
    pub end: usize,
    pub levels: u8,
}

#[derive(Default)]
pub struct PlaceLexicon {
    levels_by_name: PrehashedMap<u8>,
    /// Bit `n` set when some name has `n` characters.
    name_lengths: u32,
}

const HASH_START: u64 = 0xcbf2_9ce4_8422_2325;

fn extend_hash(hash: u64, character: char) -> u64 {
    (hash ^ u64::from(character as u32)).wrapping_mul(0x0100_0000_01b3)
}

fn finish_hash(mut hash: u64) -> u64 {
    hash ^= hash >> 31;
    hash = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    hash ^ (hash >> 29)
}

fn hash_characters(characters: &[char]) -> u64 {
    finish_hash(
        characters
            .iter()
            .fold(HASH_START, |hash, &c| extend_hash(hash, c)),
    )
}

fn fold_name_character(character: char) -> char {
    match character {
        '\u{FF01}'..='\u{FF5E}' => {
            char::from_u32(character as u32 - 0xFF01 + 0x21).unwrap_or(character)
        }
        other => other.to_ascii_uppercase(),
    }
}

impl PlaceLexicon {
    pub fn new() -> Self {
        PlaceLexicon::default()
    }

    /// Adds a name known at `levels`. Names shorter than two or longer than twelve
    /// characters are not useful for tagging and are left out.
    pub fn insert(&mut self, name: &str, levels: u8) {
        let characters: Vec<char> = name.chars().map(fold_name_character).collect();
        if characters.len() < 2 || characters.len() > LONGEST_NAME {
            return;
        }
        self.name_lengths |= 1 << characters.len();
        *self
            .levels_by_name
            .entry(hash_characters(&characters))
            .or_default() |= levels;
    }

    /// The lexicon of every name, short name and alias of `divisions`.
    pub fn from_divisions<'a>(divisions: impl IntoIterator<Item = &'a Division>) -> Self {
        let mut lexicon = PlaceLexicon::new();
        for division in divisions {
            let mut levels = match division.level {
                DivisionLevel::Province => level_bits::PROVINCE,
                DivisionLevel::City => level_bits::CITY,
                DivisionLevel::County => level_bits::COUNTY,
                DivisionLevel::Town => level_bits::TOWN,
                DivisionLevel::Village => level_bits::VILLAGE,
            };
            if !division.is_current() {
                levels |= level_bits::RETIRED;
            }
            for name in division.lookup_names() {
                lexicon.insert(name, levels);
            }
        }
        lexicon
    }

    pub fn len(&self) -> usize {
        self.levels_by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels_by_name.is_empty()
    }

    /// Level bits of `characters` if it is a known name.
    pub fn levels_of(&self, characters: &[char]) -> Option<u8> {
        if characters.len() > LONGEST_NAME || self.name_lengths & (1 << characters.len()) == 0 {
            return None;
        }
        self.levels_by_name
            .get(&hash_characters(characters))
            .copied()
    }

    /// Every known name in `folded` (characters folded as the parser folds them).
    pub fn hits(&self, folded: &[char]) -> Vec<LexiconHit> {
        let mut hits = Vec::new();
        for start in 0..folded.len() {
            let longest = LONGEST_NAME.min(folded.len() - start);
            // One running hash per start, extended a character at a time.
            let mut hash = extend_hash(HASH_START, folded[start]);
            for length in 2..=longest {
                hash = extend_hash(hash, folded[start + length - 1]);
                if self.name_lengths & (1 << length) == 0 {
                    continue;
                }
                if let Some(&levels) = self.levels_by_name.get(&finish_hash(hash)) {
                    hits.push(LexiconHit {
                        start,
                        end: start + length,
                        levels,
                    });
                }
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_known_name_with_its_levels() {
        let mut lexicon = PlaceLexicon::new();
        lexicon.insert("宁波市", level_bits::CITY);
        lexicon.insert("宁波", level_bits::CITY);
        lexicon.insert("鄞州区", level_bits::COUNTY);
        lexicon.insert("江东区", level_bits::COUNTY | level_bits::RETIRED);
        let text: Vec<char> = "宁波市江东区中山路".chars().collect();
        let hits = lexicon.hits(&text);
        assert_eq!(
            hits,
            vec![
                LexiconHit {
                    start: 0,
                    end: 2,
                    levels: level_bits::CITY
                },
                LexiconHit {
                    start: 0,
                    end: 3,
                    levels: level_bits::CITY
                },
                LexiconHit {
                    start: 3,
                    end: 6,
                    levels: level_bits::COUNTY | level_bits::RETIRED
                },
            ]
        );
    }
}
