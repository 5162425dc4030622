//! The tagger's weights and its decoder: a first-order linear-chain model over
//! BIO tags, decoded with Viterbi. Trained by `train.rs` (averaged perceptron).

use std::io::{Read, Write};

use super::Label;

/// `O`, then `B-label` and `I-label` for each label.
pub const TAG_COUNT: usize = 1 + 2 * Label::ALL.len();
/// Row of the transition table used for the first character.
pub const START_ROW: usize = TAG_COUNT;

const MAGIC: &[u8; 8] = b"YZTTAG01";

pub fn begin_tag(label: Label) -> u8 {
    1 + 2 * label as u8
}

pub fn inside_tag(label: Label) -> u8 {
    2 + 2 * label as u8
}

/// The label of a tag and whether it begins a span; `None` for `O`.
pub fn tag_label(tag: u8) -> Option<(Label, bool)> {
    if tag == 0 {
        return None;
    }
    let label = Label::ALL[usize::from((tag - 1) / 2)];
    Some((label, (tag - 1).is_multiple_of(2)))
}

/// Whether `tag` may follow `previous` (`None` at the first character): an inside tag
/// only continues a span of its own label.
pub fn transition_allowed(previous: Option<u8>, tag: u8) -> bool {
    match tag_label(tag) {
        Some((label, false)) => previous
            .is_some_and(|previous| previous == begin_tag(label) || previous == inside_tag(label)),
        _ => true,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightCell {
    pub tag: u8,
    pub weight: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("parser model: {0}")]
    Io(#[from] std::io::Error),
    #[error("parser model: not a tagger model file")]
    BadMagic,
    #[error("parser model: built for labels {found:?}, this build has {expected:?}")]
    LabelMismatch {
        expected: Vec<String>,
        found: Vec<String>,
    },
}

/// Feature hash → (first cell, cell count) packed as `first << 8 | count`, in one
/// open-addressing array: a lookup touches one cache line, and the tagger makes
/// several hundred of them per address.
#[derive(Default, Clone)]
struct FeatureTable {
    slots: Vec<(u64, u64)>,
    len: usize,
    /// One bit per 2^21 buckets of the hash (256 KiB, cache-resident): most features of
    /// an unseen text are not in the model, and this answers "absent" for them without
    /// touching the large slot array.
    presence: Vec<u64>,
}

const PRESENCE_BITS: u32 = 21;

fn presence_bit(key: u64) -> (usize, u64) {
    // The slot index uses the low bits; the filter uses the high ones.
    let bucket = (key >> (64 - PRESENCE_BITS)) as usize;
    (bucket / 64, 1u64 << (bucket % 64))
}

impl FeatureTable {
    /// Key 0 marks an empty slot; a feature that hashes to 0 is stored as 1.
    fn key(feature: u64) -> u64 {
        feature.max(1)
    }

    fn with_capacity(count: usize) -> Self {
        let size = (count * 2).next_power_of_two().max(16);
        FeatureTable {
            slots: vec![(0, 0); size],
            len: 0,
            presence: vec![0; (1 << PRESENCE_BITS) / 64],
        }
    }

    fn insert(&mut self, feature: u64, value: u64) {
        let key = Self::key(feature);
        let (word, bit) = presence_bit(key);
        self.presence[word] |= bit;
        let mask = self.slots.len() - 1;
        let mut slot = (key as usize) & mask;
        loop {
            if self.slots[slot].0 == 0 {
                self.slots[slot] = (key, value);
                self.len += 1;
                return;
            }
            if self.slots[slot].0 == key {
                self.slots[slot].1 = value;
                return;
            }
            slot = (slot + 1) & mask;
        }
    }

    fn get(&self, feature: u64) -> Option<u64> {
        if self.slots.is_empty() {
            return None;
        }
        let key = Self::key(feature);
        let (word, bit) = presence_bit(key);
        if self.presence[word] & bit == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut slot = (key as usize) & mask;
        loop {
            let (stored, value) = self.slots[slot];
            if stored == key {
                return Some(value);
            }
            if stored == 0 {
                return None;
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Asks for the feature's slot without waiting for it (absent features, known
    /// from the presence filter, are not asked for).
    fn prefetch(&self, feature: u64) {
        if self.slots.is_empty() {
            return;
        }
        let key = Self::key(feature);
        let (word, bit) = presence_bit(key);
        if self.presence[word] & bit != 0 {
            let slot = (key as usize) & (self.slots.len() - 1);
            crate::prefetch::read(&self.slots[slot]);
        }
    }

    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.slots.iter().copied().filter(|(key, _)| *key != 0)
    }
}

#[derive(Clone)]
pub struct TaggerModel {
    cells_by_feature: FeatureTable,
    cells: Vec<WeightCell>,
    transitions: Transitions,
}

impl TaggerModel {
    pub fn from_parts(
        features: impl IntoIterator<Item = (u64, Vec<WeightCell>)>,
        transitions: Vec<[f32; TAG_COUNT]>,
    ) -> Self {
        let features: Vec<(u64, Vec<WeightCell>)> = features.into_iter().collect();
        let mut model = TaggerModel {
            transitions: Transitions::new(transitions),
            cells_by_feature: FeatureTable::with_capacity(features.len()),
            cells: Vec::new(),
        };
        for (feature, cells) in features {
            if cells.is_empty() {
                continue;
            }
            let first = model.cells.len() as u64;
            let count = cells.len().min(255);
            model.cells.extend_from_slice(&cells[..count]);
            model
                .cells_by_feature
                .insert(feature, (first << 8) | count as u64);
        }
        model
    }

    pub fn feature_count(&self) -> usize {
        self.cells_by_feature.len
    }

    fn feature_cells(&self, feature: u64) -> &[WeightCell] {
        match self.cells_by_feature.get(feature) {
            Some(packed) => {
                let first = (packed >> 8) as usize;
                let count = (packed & 0xff) as usize;
                &self.cells[first..first + count]
            }
            None => &[],
        }
    }

    /// Emission scores of every tag at every position.
    pub fn emissions(&self, features: &[Vec<u64>], scores: &mut Vec<[f32; TAG_COUNT]>) {
        scores.clear();
        // The slot array is megabytes and most lookups miss the cache: the next
        // character's slots are requested while this one's are summed.
        for &feature in features.first().into_iter().flatten() {
            self.cells_by_feature.prefetch(feature);
        }
        for (position, position_features) in features.iter().enumerate() {
            for &feature in features.get(position + 1).into_iter().flatten() {
                self.cells_by_feature.prefetch(feature);
            }
            let mut row = [0.0f32; TAG_COUNT];
            for &feature in position_features {
                for cell in self.feature_cells(feature) {
                    row[usize::from(cell.tag)] += cell.weight;
                }
            }
            scores.push(row);
        }
    }

    /// The best tag sequence for the given emission scores.
    pub fn decode(&self, scores: &[[f32; TAG_COUNT]]) -> Vec<u8> {
        viterbi(scores, &self.transitions)
    }

    pub fn write_to(&self, writer: impl Write) -> Result<(), ModelError> {
        let mut encoder = flate2::write::GzEncoder::new(writer, flate2::Compression::best());
        encoder.write_all(MAGIC)?;
        let labels: Vec<&str> = Label::ALL.iter().map(|label| label.as_str()).collect();
        let labels = labels.join(",");
        encoder.write_all(&(labels.len() as u32).to_le_bytes())?;
        encoder.write_all(labels.as_bytes())?;
        for row in self.transitions.rows() {
            for weight in row {
                encoder.write_all(&weight.to_le_bytes())?;
            }
        }
        let mut features: Vec<(u64, u64)> = self.cells_by_feature.iter().collect();
        features.sort_unstable();
        encoder.write_all(&(features.len() as u32).to_le_bytes())?;
        for (feature, _) in features {
            let cells = self.feature_cells(feature);
            encoder.write_all(&feature.to_le_bytes())?;
            encoder.write_all(&[cells.len() as u8])?;
            for cell in cells {
                encoder.write_all(&[cell.tag])?;
                encoder.write_all(&cell.weight.to_le_bytes())?;
            }
        }
        encoder.finish()?;
        Ok(())
    }

    pub fn read_from(reader: impl Read) -> Result<Self, ModelError> {
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(reader).read_to_end(&mut bytes)?;
        let mut cursor = ByteCursor {
            bytes: &bytes,
            at: 0,
        };
        if cursor.take(8)? != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let label_length = cursor.u32()? as usize;
        let found = String::from_utf8_lossy(cursor.take(label_length)?).into_owned();
        let expected: Vec<String> = Label::ALL.iter().map(|l| l.as_str().to_owned()).collect();
        let found: Vec<String> = found.split(',').map(str::to_owned).collect();
        if found != expected {
            return Err(ModelError::LabelMismatch { expected, found });
        }
        let mut transitions = vec![[0.0f32; TAG_COUNT]; TAG_COUNT + 1];
        for row in &mut transitions {
            for weight in row.iter_mut() {
                *weight = cursor.f32()?;
            }
        }
        let feature_count = cursor.u32()? as usize;
        let mut features = Vec::with_capacity(feature_count);
        for _ in 0..feature_count {
            let feature = u64::from_le_bytes(cursor.take(8)?.try_into().expect("8 bytes"));
            let count = cursor.take(1)?[0];
            let mut cells = Vec::with_capacity(usize::from(count));
            for _ in 0..count {
                let tag = cursor.take(1)?[0];
                if usize::from(tag) >= TAG_COUNT {
                    return Err(ModelError::BadMagic);
                }
                cells.push(WeightCell {
                    tag,
                    weight: cursor.f32()?,
                });
            }
            features.push((feature, cells));
        }
        Ok(TaggerModel::from_parts(features, transitions))
    }
}

struct ByteCursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> ByteCursor<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], ModelError> {
        let end = self.at + count;
        if end > self.bytes.len() {
            return Err(ModelError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn f32(&mut self) -> Result<f32, ModelError> {
        Ok(f32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
}

/// Tags rounded up to a multiple of eight: the width the decoder's rows are padded to,
/// so the inner loop runs in whole vector registers.
const LANES: usize = TAG_COUNT.next_multiple_of(8);

/// The transition weights, with what the decoder derives from them once.
#[derive(Debug, Clone, PartialEq)]
pub struct Transitions {
    /// `[previous][tag]`, with row `START_ROW` for the first character.
    rows: Vec<[f32; TAG_COUNT]>,
    /// `rows` with the columns of inside tags (and the padding) at -inf: the moves
    /// open to any predecessor. An inside tag only continues its own label's span
    /// and is decoded apart.
    open_rows: Vec<[f32; LANES]>,
    /// Highest minus lowest weight between tags (start row excluded).
    spread: f32,
}

impl Transitions {
    pub fn new(rows: Vec<[f32; TAG_COUNT]>) -> Self {
        assert_eq!(rows.len(), TAG_COUNT + 1, "a row per tag and the start row");
        let open_rows = rows
            .iter()
            .map(|row| {
                let mut open = [f32::NEG_INFINITY; LANES];
                for (tag, weight) in row.iter().enumerate() {
                    if !matches!(tag_label(tag as u8), Some((_, false))) {
                        open[tag] = *weight;
                    }
                }
                open
            })
            .collect();
        let (lowest, highest) = rows[..TAG_COUNT].iter().flatten().fold(
            (f32::INFINITY, f32::NEG_INFINITY),
            |(low, high), &weight| (low.min(weight), high.max(weight)),
        );
        Transitions {
            rows,
            open_rows,
            spread: highest - lowest,
        }
    }

    pub fn rows(&self) -> &[[f32; TAG_COUNT]] {
        &self.rows
    }
}

/// Viterbi over BIO tags with the inside-continues-its-own-span constraint.
///
/// The moves into `O` and `B-` tags are a max-plus product of the previous scores and
/// the transition rows, computed predecessor by predecessor over all tags at once
/// (contiguous rows: the compiler vectorises the loop). Each `I-` tag has two possible
/// predecessors and is computed on its own. Ties go to the lowest predecessor.
pub fn viterbi(scores: &[[f32; TAG_COUNT]], transitions: &Transitions) -> Vec<u8> {
    let length = scores.len();
    if length == 0 {
        return Vec::new();
    }
    let mut best = [f32::NEG_INFINITY; TAG_COUNT];
    for tag in 0..TAG_COUNT {
        if transition_allowed(None, tag as u8) {
            best[tag] = transitions.rows[START_ROW][tag] + scores[0][tag];
        }
    }
    // A previous tag whose score trails the leader by more than the spread of the
    // transition weights can never be the best predecessor of an `O` or `B-` tag (the
    // leader may precede any of them): it is left out of that product, which keeps the
    // result exactly the same (a pruned tag is strictly worse, never tied).
    let mut live: Vec<usize> = Vec::with_capacity(TAG_COUNT);
    let mut back_pointers: Vec<[u8; TAG_COUNT]> = vec![[0; TAG_COUNT]; length];
    for position in 1..length {
        let leader = best.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        live.clear();
        live.extend(
            (0..TAG_COUNT).filter(|&previous| best[previous] >= leader - transitions.spread),
        );
        let mut next = [f32::NEG_INFINITY; LANES];
        // Predecessors as i32 lanes, the width of the f32 comparison that selects them.
        let mut from = [0i32; LANES];
        for &previous in &live {
            let base = best[previous];
            let row = &transitions.open_rows[previous];
            // Written with a bit mask rather than branches, so that it compiles to vector
            // code even on the baseline x86-64 instruction set (which has no blend).
            let previous_lane = previous as i32;
            for ((next, from), &weight) in next.iter_mut().zip(from.iter_mut()).zip(row) {
                let candidate = base + weight;
                let mask = -i32::from(candidate > *next);
                *from = (previous_lane & mask) | (*from & !mask);
                *next = next.max(candidate);
            }
        }
        let pointers = &mut back_pointers[position];
        for tag in 0..TAG_COUNT {
            pointers[tag] = from[tag] as u8;
        }
        for label in Label::ALL {
            let inside = usize::from(inside_tag(label));
            let (mut best_score, mut best_previous) = (f32::NEG_INFINITY, 0u8);
            for previous in [begin_tag(label), inside_tag(label)] {
                let score =
                    best[usize::from(previous)] + transitions.rows[usize::from(previous)][inside];
                if score > best_score {
                    best_score = score;
                    best_previous = previous;
                }
            }
            next[inside] = best_score;
            pointers[inside] = best_previous;
        }
        for tag in 0..TAG_COUNT {
            best[tag] = next[tag] + scores[position][tag];
        }
    }
    let mut tag = (0..TAG_COUNT)
        .max_by(|&a, &b| best[a].total_cmp(&best[b]))
        .unwrap_or(0) as u8;
    let mut tags = vec![0u8; length];
    for position in (0..length).rev() {
        tags[position] = tag;
        tag = back_pointers[position][usize::from(tag)];
    }
    tags
}
