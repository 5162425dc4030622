//! Training the tagger: an averaged structured perceptron over labelled addresses,
//! reproducible from the same data (fixed shuffling seed, fixed feature order).

use std::collections::HashMap;

use serde::Deserialize;

use super::features::{extract_features, fold_for_tagging};
use super::model::{
    START_ROW, TAG_COUNT, TaggerModel, Transitions, WeightCell, begin_tag, inside_tag, viterbi,
};
use super::{Component, Label, components_from_tags};
use crate::text::lexicon::{PlaceLexicon, PrehashedMap};

/// One labelled address as the annotated data files hold it.
#[derive(Debug, Clone, Deserialize)]
pub struct LabelledAddress {
    pub text: String,
    pub spans: Vec<LabelledSpan>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LabelledSpan {
    pub label: String,
    pub start: usize,
    pub end: usize,
}

impl LabelledAddress {
    /// Gold components with labels of this build's set (unknown labels dropped).
    pub fn components(&self) -> Vec<Component> {
        let characters: Vec<char> = self.text.chars().collect();
        self.spans
            .iter()
            .filter(|span| span.start < span.end && span.end <= characters.len())
            .filter_map(|span| {
                Some(Component {
                    label: Label::parse(&span.label)?,
                    text: characters[span.start..span.end].iter().collect(),
                    start: span.start,
                    end: span.end,
                })
            })
            .collect()
    }

    fn gold_tags(&self, length: usize) -> Vec<u8> {
        let mut tags = vec![0u8; length];
        for component in self.components() {
            tags[component.start] = begin_tag(component.label);
            for tag in &mut tags[component.start + 1..component.end] {
                *tag = inside_tag(component.label);
            }
        }
        tags
    }
}

/// The fold (0–9) an address falls in, from a hash of its text. Folds 0–6 train the
/// models and tune the rules; folds 7–9 are held out for reporting.
pub fn fold_of(text: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % 10
}

pub fn is_held_out(text: &str) -> bool {
    fold_of(text) >= 7
}

pub struct TrainingOptions {
    pub epochs: usize,
    /// Features seen fewer times than this in the training data are not learned.
    pub minimum_feature_count: u32,
    pub seed: u64,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        TrainingOptions {
            epochs: 12,
            minimum_feature_count: 2,
            seed: 2026,
        }
    }
}

struct Example {
    features: Vec<Vec<u64>>,
    tags: Vec<u8>,
}

/// Weights with the running sums averaging needs: the averaged weight is
/// `weight - accumulated / updates`.
struct AveragedRow {
    weights: [f32; TAG_COUNT],
    accumulated: [f32; TAG_COUNT],
}

impl AveragedRow {
    fn new() -> Self {
        AveragedRow {
            weights: [0.0; TAG_COUNT],
            accumulated: [0.0; TAG_COUNT],
        }
    }

    fn update(&mut self, tag: u8, delta: f32, step: f32) {
        self.weights[usize::from(tag)] += delta;
        self.accumulated[usize::from(tag)] += step * delta;
    }

    fn averaged(&self, steps: f32) -> [f32; TAG_COUNT] {
        std::array::from_fn(|tag| self.weights[tag] - self.accumulated[tag] / steps)
    }
}

/// A small deterministic generator for shuffling (SplitMix64), so a training run is
/// reproducible whatever random crate version is in the lock file.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut value = self.0;
        value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        value ^ (value >> 31)
    }
}

pub fn train(
    addresses: &[LabelledAddress],
    lexicon: &PlaceLexicon,
    options: &TrainingOptions,
    mut progress: impl FnMut(usize, usize),
) -> TaggerModel {
    let mut examples: Vec<Example> = addresses
        .iter()
        .filter_map(|address| {
            let characters: Vec<char> = address.text.chars().collect();
            if characters.is_empty() {
                return None;
            }
            let folded = fold_for_tagging(&characters);
            let mut features = Vec::new();
            extract_features(&folded, lexicon, &mut features);
            Some(Example {
                features,
                tags: address.gold_tags(characters.len()),
            })
        })
        .collect();

    let mut counts: HashMap<u64, u32> = HashMap::new();
    for example in &examples {
        for feature in example.features.iter().flatten() {
            *counts.entry(*feature).or_default() += 1;
        }
    }
    for example in &mut examples {
        for position_features in &mut example.features {
            position_features.retain(|feature| counts[feature] >= options.minimum_feature_count);
        }
    }

    let mut rows: PrehashedMap<AveragedRow> = PrehashedMap::default();
    let mut transitions: Vec<AveragedRow> = (0..=TAG_COUNT).map(|_| AveragedRow::new()).collect();
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut random = SplitMix(options.seed);
    let mut step: f32 = 1.0;
    let mut scores: Vec<[f32; TAG_COUNT]> = Vec::new();
    for epoch in 0..options.epochs {
        for index in (1..order.len()).rev() {
            let other = (random.next() % (index as u64 + 1)) as usize;
            order.swap(index, other);
        }
        let mut mistakes = 0;
        for &index in &order {
            let example = &examples[index];
            scores.clear();
            for position_features in &example.features {
                let mut row = [0.0f32; TAG_COUNT];
                for feature in position_features {
                    if let Some(weights) = rows.get(feature) {
                        for (tag, weight) in weights.weights.iter().enumerate() {
                            row[tag] += weight;
                        }
                    }
                }
                scores.push(row);
            }
            let transition_weights =
                Transitions::new(transitions.iter().map(|row| row.weights).collect());
            let predicted = viterbi(&scores, &transition_weights);
            if predicted != example.tags {
                mistakes += 1;
                for (position, (&gold, &guess)) in example.tags.iter().zip(&predicted).enumerate() {
                    if gold != guess {
                        for feature in &example.features[position] {
                            let row = rows.entry(*feature).or_insert_with(AveragedRow::new);
                            row.update(gold, 1.0, step);
                            row.update(guess, -1.0, step);
                        }
                    }
                    let gold_previous = if position == 0 {
                        START_ROW
                    } else {
                        usize::from(example.tags[position - 1])
                    };
                    let guess_previous = if position == 0 {
                        START_ROW
                    } else {
                        usize::from(predicted[position - 1])
                    };
                    if gold_previous != guess_previous || gold != guess {
                        transitions[gold_previous].update(gold, 1.0, step);
                        transitions[guess_previous].update(guess, -1.0, step);
                    }
                }
            }
            step += 1.0;
        }
        progress(epoch + 1, mistakes);
    }

    let mut features: Vec<(u64, Vec<WeightCell>)> = rows
        .iter()
        .map(|(feature, row)| {
            let averaged = row.averaged(step);
            let cells = averaged
                .iter()
                .enumerate()
                .filter(|(_, weight)| weight.abs() > 1e-4)
                .map(|(tag, weight)| WeightCell {
                    tag: tag as u8,
                    weight: *weight,
                })
                .collect();
            (*feature, cells)
        })
        .collect();
    features.sort_unstable_by_key(|(feature, _)| *feature);
    let transitions = transitions.iter().map(|row| row.averaged(step)).collect();
    TaggerModel::from_parts(features, transitions)
}

/// Tags `address` with `model` and returns the predicted components (for
/// evaluation without a full parser).
pub fn predict(model: &TaggerModel, lexicon: &PlaceLexicon, text: &str) -> Vec<Component> {
    let characters: Vec<char> = text.chars().collect();
    if characters.is_empty() {
        return Vec::new();
    }
    let folded = fold_for_tagging(&characters);
    let mut features = Vec::new();
    extract_features(&folded, lexicon, &mut features);
    let mut scores = Vec::new();
    model.emissions(&features, &mut scores);
    let tags = model.decode(&scores);
    components_from_tags(&characters, &tags)
}

/// Exact-match span counts (label and both offsets) for precision, recall and F1.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpanCounts {
    pub true_positives: u64,
    pub predicted: u64,
    pub gold: u64,
}

impl SpanCounts {
    pub fn add(&mut self, gold: &[Component], predicted: &[Component]) {
        self.gold += gold.len() as u64;
        self.predicted += predicted.len() as u64;
        self.true_positives += predicted
            .iter()
            .filter(|guess| {
                gold.iter().any(|truth| {
                    truth.label == guess.label
                        && truth.start == guess.start
                        && truth.end == guess.end
                })
            })
            .count() as u64;
    }

    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.predicted)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.gold)
    }

    pub fn f1(&self) -> f64 {
        let (precision, recall) = (self.precision(), self.recall());
        if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        }
    }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}
