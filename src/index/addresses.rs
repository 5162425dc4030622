//! The registry in memory for matching: every standard address reduced to the keys a
//! matcher compares (division, road or place name, number stems), with lookups by
//! (county, road) and (county, place), and a character-bigram index over the distinct
//! road and place names for what exact keys cannot find.
//!
//! Road and place names are interned: a million addresses share far fewer names.

use std::collections::HashMap;

use crate::domain::address::{AddressComponents, AddressStatus, GeoPoint, StandardAddress};
use crate::index::points::{AddressPoints, NearbyAddress};
use crate::text::lexicon::{PrehashedMap, name_hash};
use crate::text::normalize::{arabic_number_prefix, fold_width};

/// The number-like slots, compared by stem (`12号` and `12弄` both read `12`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NumberSlot {
    RoadNo = 0,
    Building = 1,
    Unit = 2,
    Floor = 3,
    Room = 4,
}

impl NumberSlot {
    pub const ALL: [NumberSlot; 5] = [
        NumberSlot::RoadNo,
        NumberSlot::Building,
        NumberSlot::Unit,
        NumberSlot::Floor,
        NumberSlot::Room,
    ];
}

/// Words written after a number that say which slot it fills; removed to get its stem.
const NUMBER_WORDS: [&str; 16] = [
    "号楼", "单元", "号", "號", "弄", "幢", "栋", "座", "单", "门", "层", "楼", "室", "房", "铺",
    "#",
];

/// The comparable core of a number component: half width, Arabic digits, upper case,
/// without the unit word. `十二号` → `12`, `B座` → `B`, `15F` → `15`, `附1号` → `附1`.
pub fn number_stem(text: &str) -> String {
    let folded: String = fold_width(text)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut stem = arabic_number_prefix(&folded).to_ascii_uppercase();
    if let Some(rest) = stem.strip_prefix('F')
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_digit())
    {
        stem = rest.to_owned();
    }
    loop {
        let before = stem.len();
        for word in NUMBER_WORDS {
            if let Some(rest) = stem.strip_suffix(word)
                && !rest.is_empty()
            {
                stem = rest.to_owned();
                break;
            }
        }
        if let Some(rest) = stem.strip_suffix('F')
            && rest.chars().last().is_some_and(|c| c.is_ascii_digit())
        {
            stem = rest.to_owned();
        }
        if stem.len() == before {
            return stem;
        }
    }
}

/// A road or place name as compared: half width, no spaces, no brackets.
pub fn name_key(text: &str) -> String {
    fold_width(text)
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | '（' | '）' | '-' | '_'))
        .collect::<String>()
        .to_ascii_uppercase()
}

pub type NameId = u32;

#[derive(Debug, Clone)]
pub struct IndexedAddress {
    pub code: Box<str>,
    pub source_id: Option<Box<str>>,
    /// Numeric 12-digit division code.
    pub division: u64,
    pub road: Option<NameId>,
    pub place: Option<NameId>,
    pub numbers: [Option<Box<str>>; 5],
    pub standard_text: Box<str>,
    pub retired: bool,
    pub successor: Option<Box<str>>,
    /// WGS84 / CGCS2000 (lon, lat), when the registrar recorded one.
    pub point: Option<(f64, f64)>,
}

impl IndexedAddress {
    pub fn county(&self) -> u64 {
        self.division / 1_000_000
    }

    pub fn number(&self, slot: NumberSlot) -> Option<&str> {
        self.numbers[slot as usize].as_deref()
    }

    /// The doorplate and building stems: the numbers that pick a site's building.
    fn first_numbers(&self) -> impl Iterator<Item = &str> {
        [NumberSlot::RoadNo, NumberSlot::Building]
            .into_iter()
            .filter_map(|slot| self.number(slot))
    }
}

#[derive(Default)]
pub struct AddressIndex {
    entries: Vec<Option<IndexedAddress>>,
    by_code: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    /// Sorted bigrams of each name, for similarity without recomputing them.
    bigrams_by_name: Vec<Box<[u64]>>,
    /// Hash of a name → its id (the name itself is checked on lookup).
    name_ids: PrehashedMap<NameId>,
    /// Character bigram → names containing it.
    names_by_bigram: PrehashedMap<Vec<NameId>>,
    /// (county, name) → addresses with that road or place; county 0 holds them all.
    by_county_name: PrehashedMap<Vec<u32>>,
    /// (county, name, stem of the doorplate or building number) → addresses.
    by_county_name_number: PrehashedMap<Vec<u32>>,
    /// Points of the current (not retired) addresses.
    points: AddressPoints,
    live: usize,
}

fn county_name_key(county: u64, name: NameId) -> u64 {
    let mixed = (county << 32 | u64::from(name)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    mixed ^ (mixed >> 31)
}

/// Key of (county, name, doorplate or building stem): a compound of thousands of rooms
/// narrows to one building before anything is scored.
fn county_name_number_key(county: u64, name: NameId, stem: &str) -> u64 {
    let mut hash = county_name_key(county, name) ^ 0x5bd1_e995_5bd1_e995;
    for byte in stem.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^ (hash >> 29)
}

pub fn bigram_key(first: char, second: char) -> u64 {
    let mixed = (u64::from(first as u32) << 21 | u64::from(second as u32))
        .wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed ^ (mixed >> 29)
}

/// The bigrams of a name; a one-character name is its own (padded) bigram.
pub fn name_bigrams(name: &str) -> Vec<u64> {
    let characters: Vec<char> = name.chars().collect();
    if characters.len() == 1 {
        return vec![bigram_key(characters[0], '\0')];
    }
    let mut bigrams: Vec<u64> = characters
        .windows(2)
        .map(|pair| bigram_key(pair[0], pair[1]))
        .collect();
    bigrams.sort_unstable();
    bigrams.dedup();
    bigrams
}

fn numeric_division(code: &str) -> u64 {
    code.parse().unwrap_or(0)
}

impl AddressIndex {
    pub fn new() -> Self {
        AddressIndex::default()
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Current addresses within `radius_m` metres of the WGS84 point, nearest first.
    pub fn nearest(&self, lon: f64, lat: f64, radius_m: f64, limit: usize) -> Vec<NearbyAddress> {
        self.points.nearest(lon, lat, radius_m, limit)
    }

    /// Addresses that carry a point and are current.
    pub fn located_len(&self) -> usize {
        self.points.len()
    }

    /// Start of a bulk load: points are indexed in one pass by [`Self::finish_loading`].
    pub fn begin_loading(&mut self) {
        self.points.defer_inserts();
    }

    pub fn finish_loading(&mut self) {
        self.points.finish_deferred_inserts();
    }

    pub fn name(&self, id: NameId) -> &str {
        &self.names[id as usize]
    }

    pub fn bigrams_of(&self, id: NameId) -> &[u64] {
        &self.bigrams_by_name[id as usize]
    }

    pub fn name_id(&self, name: &str) -> Option<NameId> {
        let id = *self.name_ids.get(&name_hash(name))?;
        (self.names[id as usize].as_ref() == name).then_some(id)
    }

    pub fn get(&self, position: u32) -> Option<&IndexedAddress> {
        self.entries.get(position as usize)?.as_ref()
    }

    pub fn iter(&self) -> impl Iterator<Item = &IndexedAddress> {
        self.entries.iter().flatten()
    }

    pub fn position_of(&self, code: &str) -> Option<u32> {
        self.by_code.get(code).copied()
    }

    pub fn by_code(&self, code: &str) -> Option<&IndexedAddress> {
        self.get(*self.by_code.get(code)?)
    }

    /// Addresses whose road or place is `name`, in `county` (0: anywhere).
    pub fn with_name(&self, county: u64, name: NameId) -> &[u32] {
        self.by_county_name
            .get(&county_name_key(county, name))
            .map_or(&[], Vec::as_slice)
    }

    /// Addresses whose road or place is `name` and whose doorplate or building number
    /// has the stem `stem`, in `county` (0: anywhere).
    pub fn with_name_and_number(&self, county: u64, name: NameId, stem: &str) -> &[u32] {
        self.by_county_name_number
            .get(&county_name_number_key(county, name, stem))
            .map_or(&[], Vec::as_slice)
    }

    /// Names sharing at least `minimum_shared` bigrams with `bigrams`, with the
    /// count shared.
    pub fn similar_names(&self, bigrams: &[u64], minimum_shared: usize) -> Vec<(NameId, usize)> {
        // Keyed by the id spread over 64 bits (the map trusts its keys to be mixed).
        let key = |name: NameId| u64::from(name).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut shared: PrehashedMap<(NameId, usize)> = PrehashedMap::default();
        for bigram in bigrams {
            if let Some(names) = self.names_by_bigram.get(bigram) {
                // Bigrams in a large share of names (花园, 小区) say little.
                if names.len() > 20_000 {
                    continue;
                }
                for &name in names {
                    shared.entry(key(name)).or_insert((name, 0)).1 += 1;
                }
            }
        }
        let mut similar: Vec<(NameId, usize)> = shared
            .into_values()
            .filter(|(_, count)| *count >= minimum_shared)
            .collect();
        similar.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        similar
    }

    fn intern(&mut self, name: &str) -> NameId {
        if let Some(id) = self.name_id(name) {
            return id;
        }
        let id = self.names.len() as NameId;
        self.names.push(name.into());
        // A hash shared by two names (never seen at 64 bits) would only cost the
        // second name its exact lookups; the bigram index still finds it.
        self.name_ids.entry(name_hash(name)).or_insert(id);
        let bigrams = name_bigrams(name);
        for &bigram in &bigrams {
            self.names_by_bigram.entry(bigram).or_default().push(id);
        }
        self.bigrams_by_name.push(bigrams.into_boxed_slice());
        id
    }

    /// Adds or replaces the indexed form of `address`.
    pub fn upsert(&mut self, address: &StandardAddress) {
        self.upsert_parts(
            &address.code,
            address.source_id.as_deref(),
            &address.division_code,
            &address.components,
            &address.standard_text,
            address.status == AddressStatus::Retired,
            address.successor_code.as_deref(),
            address
                .lon
                .zip(address.lat)
                .map(|(lon, lat)| GeoPoint { lon, lat }),
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub fn upsert_parts(
        &mut self,
        code: &str,
        source_id: Option<&str>,
        division_code: &str,
        components: &AddressComponents,
        standard_text: &str,
        retired: bool,
        successor: Option<&str>,
        point: Option<GeoPoint>,
    ) {
        self.remove(code);
        let road = components
            .road
            .as_deref()
            .map(name_key)
            .filter(|name| !name.is_empty())
            .map(|name| self.intern(&name));
        let place = components
            .place
            .as_deref()
            .map(name_key)
            .filter(|name| !name.is_empty())
            .map(|name| self.intern(&name));
        let stem = |value: &Option<String>| -> Option<Box<str>> {
            value
                .as_deref()
                .map(number_stem)
                .filter(|stem| !stem.is_empty())
                .map(Into::into)
        };
        let entry = IndexedAddress {
            code: code.into(),
            source_id: source_id.map(Into::into),
            division: numeric_division(division_code),
            road,
            place,
            numbers: [
                stem(&components.road_no),
                stem(&components.building),
                stem(&components.unit),
                stem(&components.floor),
                stem(&components.room),
            ],
            standard_text: standard_text.into(),
            retired,
            successor: successor.map(Into::into),
            point: point.map(|point| (point.lon, point.lat)),
        };
        let position = self.entries.len() as u32;
        if let (Some((lon, lat)), false) = (entry.point, retired) {
            self.points.insert(position, lon, lat);
        }
        let county = entry.county();
        for name in [road, place].into_iter().flatten() {
            for scope in [county, 0] {
                self.by_county_name
                    .entry(county_name_key(scope, name))
                    .or_default()
                    .push(position);
                for stem in entry.first_numbers() {
                    self.by_county_name_number
                        .entry(county_name_number_key(scope, name, stem))
                        .or_default()
                        .push(position);
                }
            }
        }
        self.by_code.insert(code.into(), position);
        self.entries.push(Some(entry));
        self.live += 1;
    }

    /// Drops an address (before re-adding a new version of it).
    pub fn remove(&mut self, code: &str) {
        let Some(position) = self.by_code.remove(code) else {
            return;
        };
        let Some(entry) = self.entries[position as usize].take() else {
            return;
        };
        self.live -= 1;
        if let (Some((lon, lat)), false) = (entry.point, entry.retired) {
            self.points.remove(position, lon, lat);
        }
        let county = entry.county();
        for name in [entry.road, entry.place].into_iter().flatten() {
            for scope in [county, 0] {
                if let Some(positions) = self.by_county_name.get_mut(&county_name_key(scope, name))
                {
                    positions.retain(|&p| p != position);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_stems_drop_unit_words_and_read_numerals() {
        for (input, stem) in [
            ("12号", "12"),
            ("553弄", "553"),
            ("十二号", "12"),
            ("B座", "B"),
            ("15楼", "15"),
            ("15F", "15"),
            ("F15", "15"),
            ("3号楼", "3"),
            ("1131铺", "1131"),
            ("12-1号", "12-1"),
            ("２单元", "2"),
            ("501室", "501"),
        ] {
            assert_eq!(number_stem(input), stem, "{input}");
        }
    }
}
