//! The division tree in memory: 660k divisions, looked up by code, name, short name or
//! alias without touching the store. Built once from the store at start-up.
//!
//! Entries are kept compact (numeric codes, boxed strings) because the tree is
//! resident in every replica next to the address indexes.

use chrono::NaiveDate;

use crate::domain::division::{Division, DivisionLevel};
use crate::text::lexicon::{PrehashedMap, name_hash};

const NO_PARENT: u32 = u32::MAX;

struct DivisionEntry {
    code: u64,
    parent: u32,
    level: DivisionLevel,
    name: Box<str>,
    short_name: Option<Box<str>>,
    aliases: Box<[Box<str>]>,
    valid_from: Option<NaiveDate>,
    valid_to: Option<NaiveDate>,
    successor: Option<u64>,
}

/// Names of NBS grouping rows that are not real places and never appear in an address.
const GROUPING_NAMES: [&str; 4] = [
    "市辖区",
    "县",
    "省直辖县级行政区划",
    "自治区直辖县级行政区划",
];

/// A division as the linker sees it: its numeric 12-digit code and level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DivisionRef {
    pub code: u64,
    pub level: DivisionLevel,
    pub renamed: bool,
}

impl DivisionRef {
    pub fn code_string(&self) -> String {
        format_code(self.code)
    }

    /// Whether `self` is `other` or one of its ancestors, by the digit groups of
    /// the code.
    pub fn contains(&self, other: &DivisionRef) -> bool {
        let digits = self.level.significant_digits() as u32;
        let divisor = 10u64.pow(12 - digits);
        self.code / divisor == other.code / divisor && other.level >= self.level
    }
}

pub struct DivisionDirectory {
    /// Sorted by code.
    entries: Vec<DivisionEntry>,
    /// (name, entry index), sorted by name, for exact and prefix lookups.
    names: Vec<(Box<str>, u32)>,
    /// Hash of a name → the run of `names` that holds it, for exact lookups without a
    /// binary search over 675k strings (the linker asks several times per query).
    name_runs: PrehashedMap<(u32, u32)>,
    /// Children of each entry as a range into `child_indexes`.
    child_ranges: Vec<(u32, u32)>,
    child_indexes: Vec<u32>,
}

fn numeric_code(code: &str) -> Option<u64> {
    (code.len() == 12).then(|| code.parse().ok()).flatten()
}

/// A numeric division code as its 12 digits. Written out by hand: the formatting
/// machinery costs more than the rest of a reverse lookup's answer.
pub fn format_code(code: u64) -> String {
    format_code_inline(code).into_string()
}

/// The same, held inline instead of allocated.
pub fn format_code_inline(code: u64) -> compact_str::CompactString {
    let mut digits = [b'0'; 12];
    let mut rest = code;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    debug_assert_eq!(rest, 0, "division codes have 12 digits");
    compact_str::CompactString::from_utf8(digits).expect("ASCII digits")
}

impl DivisionDirectory {
    /// Builds the directory. Divisions with malformed codes are skipped (the loader
    /// validates them; the store may hold rows imported by an older version).
    pub fn build(divisions: Vec<Division>) -> Self {
        Self::build_from(&divisions)
    }

    /// [`Self::build`] from borrowed divisions, so that a caller can read them for
    /// something else (the place lexicon) at the same time.
    pub fn build_from(divisions: &[Division]) -> Self {
        let mut divisions: Vec<&Division> = divisions.iter().collect();
        divisions.sort_by(|a, b| a.code.cmp(&b.code));
        divisions.dedup_by(|a, b| a.code == b.code);
        let codes: Vec<u64> = divisions
            .iter()
            .filter_map(|division| numeric_code(&division.code))
            .collect();
        let index_of =
            |code: &str| numeric_code(code).and_then(|code| codes.binary_search(&code).ok());
        let mut entries = Vec::with_capacity(codes.len());
        let mut names = Vec::new();
        for division in divisions {
            let Some(code) = numeric_code(&division.code) else {
                continue;
            };
            let parent = division
                .parent_code
                .as_deref()
                .and_then(index_of)
                .map_or(NO_PARENT, |index| index as u32);
            let index = entries.len() as u32;
            for name in division.lookup_names() {
                names.push((Box::<str>::from(name), index));
            }
            entries.push(DivisionEntry {
                code,
                parent,
                level: division.level,
                name: division.name.as_str().into(),
                short_name: division.short_name.as_deref().map(Into::into),
                aliases: division
                    .aliases
                    .iter()
                    .map(|alias| alias.as_str().into())
                    .collect(),
                valid_from: division.valid_from,
                valid_to: division.valid_to,
                successor: division.successor_code.as_deref().and_then(numeric_code),
            });
        }
        names.sort_unstable();
        let name_runs = Self::name_runs(&names);
        let (child_ranges, child_indexes) = Self::child_lists(&entries);
        DivisionDirectory {
            entries,
            names,
            name_runs,
            child_ranges,
            child_indexes,
        }
    }

    fn name_runs(names: &[(Box<str>, u32)]) -> PrehashedMap<(u32, u32)> {
        let mut runs = PrehashedMap::default();
        let mut start = 0;
        while start < names.len() {
            let mut end = start + 1;
            while end < names.len() && names[end].0 == names[start].0 {
                end += 1;
            }
            runs.insert(name_hash(&names[start].0), (start as u32, end as u32));
            start = end;
        }
        runs
    }

    fn child_lists(entries: &[DivisionEntry]) -> (Vec<(u32, u32)>, Vec<u32>) {
        let mut pairs: Vec<(u32, u32)> = entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.parent != NO_PARENT)
            .map(|(index, entry)| (entry.parent, index as u32))
            .collect();
        pairs.sort_unstable();
        let mut ranges = vec![(0u32, 0u32); entries.len()];
        let mut child_indexes = Vec::with_capacity(pairs.len());
        let mut position = 0;
        while position < pairs.len() {
            let parent = pairs[position].0;
            let start = child_indexes.len() as u32;
            while position < pairs.len() && pairs[position].0 == parent {
                child_indexes.push(pairs[position].1);
                position += 1;
            }
            ranges[parent as usize] = (start, child_indexes.len() as u32);
        }
        (ranges, child_indexes)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn index_of(&self, code: &str) -> Option<usize> {
        let code = numeric_code(code)?;
        self.entries
            .binary_search_by_key(&code, |entry| entry.code)
            .ok()
    }

    fn to_division(&self, index: usize) -> Division {
        let entry = &self.entries[index];
        Division {
            code: format_code(entry.code),
            name: entry.name.to_string(),
            short_name: entry.short_name.as_deref().map(str::to_owned),
            level: entry.level,
            parent_code: (entry.parent != NO_PARENT)
                .then(|| format_code(self.entries[entry.parent as usize].code)),
            aliases: entry
                .aliases
                .iter()
                .map(|alias| alias.to_string())
                .collect(),
            valid_from: entry.valid_from,
            valid_to: entry.valid_to,
            successor_code: entry.successor.map(format_code),
        }
    }

    /// Divisions whose official name, short name or alias is exactly `name`, as
    /// lightweight references, retired divisions resolved to their current successor.
    pub fn named(&self, name: &str) -> Vec<DivisionRef> {
        let Some(&(start, end)) = self.name_runs.get(&name_hash(name)) else {
            return Vec::new();
        };
        let mut found: Vec<DivisionRef> = self.names[start as usize..end as usize]
            .iter()
            .take_while(|(known, _)| known.as_ref() == name)
            .filter_map(|(_, index)| self.current_ref(*index as usize))
            .collect();
        found.sort_unstable_by_key(|division| division.code);
        found.dedup_by_key(|division| division.code);
        found
    }

    /// The division with this numeric code, if known.
    pub fn named_code(&self, code: u64) -> Option<DivisionRef> {
        let index = self
            .entries
            .binary_search_by_key(&code, |entry| entry.code)
            .ok()?;
        let entry = &self.entries[index];
        Some(DivisionRef {
            code: entry.code,
            level: entry.level,
            renamed: false,
        })
    }

    /// The division, or the current division that took it over, following at most a
    /// few successor links.
    fn current_ref(&self, mut index: usize) -> Option<DivisionRef> {
        for followed in 0..4 {
            let entry = &self.entries[index];
            if entry.valid_to.is_none() {
                return Some(DivisionRef {
                    code: entry.code,
                    level: entry.level,
                    renamed: followed > 0,
                });
            }
            let successor = entry.successor?;
            index = self
                .entries
                .binary_search_by_key(&successor, |entry| entry.code)
                .ok()?;
        }
        None
    }

    pub fn get(&self, code: &str) -> Option<Division> {
        self.index_of(code).map(|index| self.to_division(index))
    }

    /// The division and its ancestors, province first.
    pub fn chain(&self, code: &str) -> Vec<Division> {
        let mut chain = Vec::new();
        let mut current = self.index_of(code);
        while let Some(index) = current {
            chain.push(self.to_division(index));
            let parent = self.entries[index].parent;
            current = (parent != NO_PARENT).then_some(parent as usize);
        }
        chain.reverse();
        chain
    }

    /// Names to write in a standard address, province first: grouping rows such as
    /// 市辖区 are left out, and a village is written by its short name.
    pub fn address_names(&self, code: &str, include_village: bool) -> Vec<String> {
        let mut names = Vec::with_capacity(5);
        let mut current = self.index_of(code);
        while let Some(index) = current {
            let entry = &self.entries[index];
            let skipped = (!include_village && entry.level == DivisionLevel::Village)
                || GROUPING_NAMES.contains(&entry.name.as_ref());
            if !skipped {
                let name = match (entry.level, &entry.short_name) {
                    (DivisionLevel::Village, Some(short_name)) => short_name.as_ref(),
                    _ => entry.name.as_ref(),
                };
                names.push(name.to_owned());
            }
            current = (entry.parent != NO_PARENT).then_some(entry.parent as usize);
        }
        names.reverse();
        names
    }

    /// The current children of a division with their official names, without
    /// building full records (the linker calls this per query).
    pub fn current_child_names(&self, code: u64) -> impl Iterator<Item = (DivisionRef, &str)> {
        let range = self
            .entries
            .binary_search_by_key(&code, |entry| entry.code)
            .map(|index| self.child_ranges[index])
            .unwrap_or((0, 0));
        self.child_indexes[range.0 as usize..range.1 as usize]
            .iter()
            .map(|&child| &self.entries[child as usize])
            .filter(|entry| entry.valid_to.is_none())
            .map(|entry| {
                (
                    DivisionRef {
                        code: entry.code,
                        level: entry.level,
                        renamed: false,
                    },
                    entry.name.as_ref(),
                )
            })
    }

    pub fn children(&self, code: &str) -> Option<Vec<Division>> {
        let index = self.index_of(code)?;
        let (start, end) = self.child_ranges[index];
        Some(
            self.child_indexes[start as usize..end as usize]
                .iter()
                .map(|&child| self.to_division(child as usize))
                .collect(),
        )
    }

    /// Divisions known by `query`: exact names (official, short, alias) first, then
    /// names that start with it; current divisions before retired ones, higher
    /// levels before lower ones.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Division> {
        let query = query.trim();
        if query.is_empty() || limit == 0 {
            return Vec::new();
        }
        let start = self
            .names
            .partition_point(|(name, _)| name.as_ref() < query);
        let mut exact = Vec::new();
        let mut prefixed = Vec::new();
        for (name, index) in self.names[start..]
            .iter()
            .take_while(|(name, _)| name.starts_with(query))
        {
            if name.as_ref() == query {
                exact.push(*index);
            } else {
                prefixed.push(*index);
            }
            if exact.len() >= limit && prefixed.len() >= limit {
                break;
            }
        }
        let rank = |index: &u32| {
            let entry = &self.entries[*index as usize];
            (entry.valid_to.is_some(), entry.level, entry.code)
        };
        exact.sort_by_key(rank);
        prefixed.sort_by_key(rank);
        let mut seen = std::collections::HashSet::new();
        exact
            .into_iter()
            .chain(prefixed)
            .filter(|index| seen.insert(*index))
            .take(limit)
            .map(|index| self.to_division(index as usize))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_written_with_twelve_digits() {
        assert_eq!(format_code(330212001000), "330212001000");
        assert_eq!(format_code(110000000000), "110000000000");
        assert_eq!(format_code(42), "000000000042");
    }

    fn division(code: &str, name: &str, level: DivisionLevel, parent: Option<&str>) -> Division {
        Division {
            code: code.into(),
            name: name.into(),
            short_name: None,
            level,
            parent_code: parent.map(Into::into),
            aliases: vec![],
            valid_from: None,
            valid_to: None,
            successor_code: None,
        }
    }

    fn ningbo() -> DivisionDirectory {
        let mut yinzhou = division(
            "330212000000",
            "鄞州区",
            DivisionLevel::County,
            Some("330200000000"),
        );
        yinzhou.short_name = Some("鄞州".into());
        let mut jiangdong = division(
            "330204000000",
            "江东区",
            DivisionLevel::County,
            Some("330200000000"),
        );
        jiangdong.valid_to = NaiveDate::from_ymd_opt(2016, 9, 21);
        jiangdong.successor_code = Some("330212000000".into());
        let mut community = division(
            "330212001005",
            "东兴社区居委会",
            DivisionLevel::Village,
            Some("330212001000"),
        );
        community.short_name = Some("东兴社区".into());
        DivisionDirectory::build(vec![
            community,
            division("330000000000", "浙江省", DivisionLevel::Province, None),
            division(
                "330200000000",
                "宁波市",
                DivisionLevel::City,
                Some("330000000000"),
            ),
            yinzhou,
            jiangdong,
            division(
                "330212001000",
                "梅墟街道",
                DivisionLevel::Town,
                Some("330212000000"),
            ),
        ])
    }

    #[test]
    fn lookups_by_code_chain_and_children() {
        let directory = ningbo();
        assert_eq!(directory.len(), 6);
        assert_eq!(directory.get("330212000000").unwrap().name, "鄞州区");
        let chain: Vec<String> = directory
            .chain("330212001005")
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(
            chain,
            ["浙江省", "宁波市", "鄞州区", "梅墟街道", "东兴社区居委会"]
        );
        let children = directory.children("330200000000").unwrap();
        assert_eq!(children.len(), 2);
        assert!(directory.children("990000000000").is_none());
        assert_eq!(
            directory
                .address_names("330212001005", true)
                .last()
                .unwrap(),
            "东兴社区"
        );
        assert_eq!(directory.address_names("330212001005", false).len(), 4);
    }

    #[test]
    fn search_ranks_exact_current_names_first() {
        let directory = ningbo();
        let found = directory.search("鄞州", 10);
        assert_eq!(found[0].code, "330212000000", "short name matches exactly");
        let found = directory.search("江东区", 10);
        assert_eq!(found[0].successor_code.as_deref(), Some("330212000000"));
        assert!(directory.search("", 10).is_empty());
        assert_eq!(
            directory.search("东兴", 10)[0].code,
            "330212001005",
            "prefix of a name"
        );
    }
}
