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

mod snapshot;
pub use snapshot::{SnapshotError, SnapshotHeader};

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

/// The parts of an address's text, in the order they are packed.
const CODE: usize = 0;
const SOURCE_ID: usize = 1;
const STANDARD_TEXT: usize = 2;
const SUCCESSOR: usize = 3;
const FIRST_NUMBER: usize = 4;
const PART_COUNT: usize = FIRST_NUMBER + NumberSlot::ALL.len();

#[derive(Debug, Clone)]
pub struct IndexedAddress {
    /// The code, source id, standard text, successor and number stems, one after
    /// another in one allocation. A reverse lookup copies several of them per answer,
    /// and with a million addresses each separate string was a cache and TLB miss of
    /// its own.
    texts: Box<str>,
    /// Where each part ends in `texts`.
    part_ends: [u32; PART_COUNT],
    /// Bit `i` is set when part `i` is present (an absent part is empty).
    present: u16,
    /// Numeric 12-digit division code.
    pub division: u64,
    pub road: Option<NameId>,
    pub place: Option<NameId>,
    pub retired: bool,
    /// The stored version this entry was built from. A change read back from the
    /// store can arrive after a newer local write of the same address; the version
    /// keeps the older one from replacing it.
    pub version: u32,
    /// WGS84 / CGCS2000 (lon, lat), when the registrar recorded one.
    pub point: Option<(f64, f64)>,
}

impl IndexedAddress {
    fn pack(parts: [Option<&str>; PART_COUNT]) -> (Box<str>, [u32; PART_COUNT], u16) {
        let mut texts = String::with_capacity(parts.iter().flatten().map(|part| part.len()).sum());
        let mut part_ends = [0; PART_COUNT];
        let mut present = 0;
        for (index, part) in parts.into_iter().enumerate() {
            if let Some(part) = part {
                texts.push_str(part);
                present |= 1 << index;
            }
            // Registry texts are far below 4 GiB; saturating keeps a corrupt row from
            // wrapping into another part's range.
            part_ends[index] = u32::try_from(texts.len()).unwrap_or(u32::MAX);
        }
        (texts.into_boxed_str(), part_ends, present)
    }

    fn part(&self, index: usize) -> Option<&str> {
        if self.present & (1 << index) == 0 {
            return None;
        }
        let start = if index == 0 {
            0
        } else {
            self.part_ends[index - 1] as usize
        };
        self.texts.get(start..self.part_ends[index] as usize)
    }

    pub fn code(&self) -> &str {
        self.part(CODE).unwrap_or_default()
    }

    pub fn source_id(&self) -> Option<&str> {
        self.part(SOURCE_ID)
    }

    pub fn standard_text(&self) -> &str {
        self.part(STANDARD_TEXT).unwrap_or_default()
    }

    /// The code that replaces a retired address.
    pub fn successor(&self) -> Option<&str> {
        self.part(SUCCESSOR)
    }

    pub fn county(&self) -> u64 {
        self.division / 1_000_000
    }

    pub fn number(&self, slot: NumberSlot) -> Option<&str> {
        self.part(FIRST_NUMBER + slot as usize)
    }

    pub fn has_number(&self, slot: NumberSlot) -> bool {
        self.present & (1 << (FIRST_NUMBER + slot as usize)) != 0
    }

    /// How many of the number slots are filled.
    pub fn number_count(&self) -> usize {
        (self.present >> FIRST_NUMBER).count_ones() as usize
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

    /// Starts a bulk load of about `expected` addresses; points are indexed in one pass
    /// by [`Self::finish_loading`]. Sizing the large tables up front spares them
    /// repeated doubling: each doubling copies the table into fresh memory, which the
    /// kernel must first zero.
    pub fn begin_loading(&mut self, expected: usize) {
        self.entries.reserve(expected);
        self.by_code.reserve(expected);
        self.points.defer_changes(expected);
    }

    pub fn finish_loading(&mut self) {
        self.points.finish_deferred_changes();
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

    /// Asks the memory system for the addresses' entries without waiting for them.
    /// At a million addresses each is a cache miss; requested together, they are
    /// fetched side by side instead of one after another.
    pub fn prefetch_entries(&self, positions: impl Iterator<Item = u32>) {
        for position in positions {
            if let Some(slot) = self.entries.get(position as usize) {
                crate::prefetch::read(slot);
            }
        }
    }

    /// The same for the entries' texts, once the entries themselves have arrived.
    pub fn prefetch_texts(&self, positions: impl Iterator<Item = u32>) {
        for position in positions {
            if let Some(entry) = self.get(position) {
                crate::prefetch::read(entry.texts.as_ptr());
            }
        }
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
            address.version,
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
        version: i64,
    ) {
        let version = u32::try_from(version).unwrap_or(u32::MAX);
        // A version names one content, so the version held already needs nothing: the
        // change feed brings back this process's own writes.
        if self
            .by_code(code)
            .is_some_and(|held| held.version >= version)
        {
            return;
        }
        let freed = self.remove_at(code).filter(|_| !self.points.is_deferring());
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
        let stem = |value: &Option<String>| -> Option<String> {
            value
                .as_deref()
                .map(number_stem)
                .filter(|stem| !stem.is_empty())
        };
        let stems = [
            stem(&components.road_no),
            stem(&components.building),
            stem(&components.unit),
            stem(&components.floor),
            stem(&components.room),
        ];
        let (texts, part_ends, present) = IndexedAddress::pack([
            Some(code),
            source_id,
            Some(standard_text),
            successor,
            stems[0].as_deref(),
            stems[1].as_deref(),
            stems[2].as_deref(),
            stems[3].as_deref(),
            stems[4].as_deref(),
        ]);
        let entry = IndexedAddress {
            texts,
            part_ends,
            present,
            division: numeric_division(division_code),
            road,
            place,
            retired,
            version,
            point: point.map(|point| (point.lon, point.lat)),
        };
        self.file_entry(entry, freed);
    }

    /// Appends an entry and files it under its code, names, numbers and point.
    fn push_entry(&mut self, entry: IndexedAddress) {
        self.file_entry(entry, None);
    }

    /// Files an entry in the slot a previous version of it left (so that a long run
    /// of changes does not grow the index), or at the end.
    fn file_entry(&mut self, entry: IndexedAddress, slot: Option<u32>) {
        let position = slot.unwrap_or(self.entries.len() as u32);
        if let (Some((lon, lat)), false) = (entry.point, entry.retired) {
            self.points.insert(position, lon, lat);
        }
        let county = entry.county();
        for name in [entry.road, entry.place].into_iter().flatten() {
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
        self.by_code.insert(entry.code().into(), position);
        match self.entries.get_mut(position as usize) {
            Some(free) => *free = Some(entry),
            None => self.entries.push(Some(entry)),
        }
        self.live += 1;
    }

    /// Drops an address.
    pub fn remove(&mut self, code: &str) {
        self.remove_at(code);
    }

    /// Drops an address and gives back the slot it held, empty.
    fn remove_at(&mut self, code: &str) -> Option<u32> {
        let position = self.by_code.remove(code)?;
        let entry = self.entries[position as usize].take()?;
        self.live -= 1;
        if let (Some((lon, lat)), false) = (entry.point, entry.retired) {
            self.points.remove(position, lon, lat);
        }
        let county = entry.county();
        for name in [entry.road, entry.place].into_iter().flatten() {
            for scope in [county, 0] {
                let key = county_name_key(scope, name);
                if let Some(positions) = self.by_county_name.get_mut(&key) {
                    positions.retain(|&p| p != position);
                    if positions.is_empty() {
                        self.by_county_name.remove(&key);
                    }
                }
                for stem in entry.first_numbers() {
                    let key = county_name_number_key(scope, name, stem);
                    if let Some(positions) = self.by_county_name_number.get_mut(&key) {
                        positions.retain(|&p| p != position);
                        if positions.is_empty() {
                            self.by_county_name_number.remove(&key);
                        }
                    }
                }
            }
        }
        Some(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components(road: &str, road_no: &str, room: Option<&str>) -> AddressComponents {
        AddressComponents {
            road: Some(road.to_owned()),
            road_no: Some(road_no.to_owned()),
            room: room.map(str::to_owned),
            ..AddressComponents::default()
        }
    }

    #[test]
    fn packed_entries_give_back_each_part_and_tell_absent_from_empty() {
        let mut index = AddressIndex::new();
        index.upsert_parts(
            "33021200100000012X",
            None,
            "330212001000",
            &components("天童南路", "588号", Some("501室")),
            "浙江省宁波市鄞州区天童南路588号501室",
            true,
            Some("330212001000000020"),
            None,
            1,
        );
        let entry = index.by_code("33021200100000012X").unwrap();
        assert_eq!(entry.code(), "33021200100000012X");
        assert_eq!(entry.source_id(), None);
        assert_eq!(
            entry.standard_text(),
            "浙江省宁波市鄞州区天童南路588号501室"
        );
        assert_eq!(entry.successor(), Some("330212001000000020"));
        assert_eq!(entry.number(NumberSlot::RoadNo), Some("588"));
        assert_eq!(entry.number(NumberSlot::Room), Some("501"));
        assert_eq!(entry.number(NumberSlot::Building), None);
        assert!(entry.has_number(NumberSlot::Room) && !entry.has_number(NumberSlot::Unit));
        assert_eq!(entry.number_count(), 2);

        index.upsert_parts(
            "330212001000000037",
            Some(""),
            "330212001000",
            &AddressComponents::default(),
            "",
            false,
            None,
            None,
            1,
        );
        let entry = index.by_code("330212001000000037").unwrap();
        assert_eq!(entry.source_id(), Some(""));
        assert_eq!(entry.standard_text(), "");
        assert_eq!(entry.successor(), None);
        assert_eq!(entry.number_count(), 0);
    }

    #[test]
    fn a_replaced_address_leaves_no_stale_number_keys() {
        let mut index = AddressIndex::new();
        let upsert = |index: &mut AddressIndex, road_no: &str, version: i64| {
            index.upsert_parts(
                "330212001000000010",
                Some("R1"),
                "330212001000",
                &components("天童南路", road_no, None),
                "天童南路",
                false,
                None,
                None,
                version,
            );
        };
        upsert(&mut index, "588号", 1);
        upsert(&mut index, "590号", 2);
        let road = index.name_id(&name_key("天童南路")).unwrap();
        let county = 330_212;
        assert!(index.with_name_and_number(county, road, "588").is_empty());
        assert_eq!(index.with_name_and_number(county, road, "590").len(), 1);
        assert_eq!(index.with_name(county, road).len(), 1);
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let mut index = AddressIndex::new();
        let upsert = |index: &mut AddressIndex, road_no: &str, version: i64| {
            index.upsert_parts(
                "330212001000000010",
                None,
                "330212001000",
                &components("天童南路", road_no, None),
                "天童南路",
                false,
                None,
                None,
                version,
            );
        };
        upsert(&mut index, "590号", 2);
        upsert(&mut index, "588号", 1);
        let entry = index.by_code("330212001000000010").unwrap();
        assert_eq!(
            (entry.version, entry.number(NumberSlot::RoadNo)),
            (2, Some("590"))
        );
        // The same version read again (the change feed brings back this process's own
        // writes) is the same content and changes nothing.
        upsert(&mut index, "590号", 2);
        assert_eq!(index.len(), 1);
    }

    /// Found by the soak test: every change used to leave an empty slot behind and
    /// empty lists under numbers no address had any more, so memory grew with writes.
    #[test]
    fn a_long_run_of_changes_reuses_the_slot_and_drops_empty_keys() {
        let mut index = AddressIndex::new();
        for version in 1..=1_000 {
            index.upsert_parts(
                "330212001000000010",
                None,
                "330212001000",
                &components("天童南路", &format!("{version}号"), None),
                "天童南路",
                false,
                None,
                Some(GeoPoint {
                    lon: 121.5,
                    lat: 29.8,
                }),
                version,
            );
        }
        assert_eq!(index.entries.len(), 1);
        assert_eq!(
            index.by_county_name_number.len(),
            2,
            "county and province scope"
        );
        let road = index.name_id(&name_key("天童南路")).unwrap();
        assert_eq!(index.with_name_and_number(330_212, road, "1000").len(), 1);
        assert_eq!(index.nearest(121.5, 29.8, 10.0, 5).len(), 1);
    }

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
