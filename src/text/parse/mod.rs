//! Address parsing: segments a free-text address into labelled components with
//! character offsets into the original input.
//!
//! A first-order sequence tagger (averaged perceptron over character, lexicon and
//! number-structure features) does the segmentation; its weights are derived data in
//! `data/parser-model.bin.gz`, trained by `scripts/train-parser`. The division
//! lexicon supplies what a model cannot learn from examples: every division name.

pub mod features;
pub mod model;
pub mod train;

use std::cell::RefCell;
use std::sync::Arc;

use serde::Serialize;

use self::features::{extract_features, fold_for_tagging};
use self::model::{TAG_COUNT, TaggerModel, tag_label};
use super::lexicon::PlaceLexicon;

/// Component labels: the annotation set of the address data the parser is trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    Prov,
    City,
    District,
    Devzone,
    Town,
    Community,
    VillageGroup,
    Road,
    Subroad,
    Roadno,
    Subroadno,
    Intersection,
    Poi,
    Subpoi,
    Houseno,
    Cellno,
    Floorno,
    Roomno,
    Assist,
    Redundant,
    Person,
    Distance,
    Otherinfo,
}

impl Label {
    pub const ALL: [Label; 23] = [
        Label::Prov,
        Label::City,
        Label::District,
        Label::Devzone,
        Label::Town,
        Label::Community,
        Label::VillageGroup,
        Label::Road,
        Label::Subroad,
        Label::Roadno,
        Label::Subroadno,
        Label::Intersection,
        Label::Poi,
        Label::Subpoi,
        Label::Houseno,
        Label::Cellno,
        Label::Floorno,
        Label::Roomno,
        Label::Assist,
        Label::Redundant,
        Label::Person,
        Label::Distance,
        Label::Otherinfo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Prov => "prov",
            Label::City => "city",
            Label::District => "district",
            Label::Devzone => "devzone",
            Label::Town => "town",
            Label::Community => "community",
            Label::VillageGroup => "village_group",
            Label::Road => "road",
            Label::Subroad => "subroad",
            Label::Roadno => "roadno",
            Label::Subroadno => "subroadno",
            Label::Intersection => "intersection",
            Label::Poi => "poi",
            Label::Subpoi => "subpoi",
            Label::Houseno => "houseno",
            Label::Cellno => "cellno",
            Label::Floorno => "floorno",
            Label::Roomno => "roomno",
            Label::Assist => "assist",
            Label::Redundant => "redundant",
            Label::Person => "person",
            Label::Distance => "distance",
            Label::Otherinfo => "otherinfo",
        }
    }

    /// Reads a label of the annotation set. `country` (中国), which some sources
    /// annotate, is read as `redundant`: it never narrows an address.
    pub fn parse(text: &str) -> Option<Label> {
        if text == "country" {
            return Some(Label::Redundant);
        }
        Label::ALL.into_iter().find(|label| label.as_str() == text)
    }

    /// The labels that describe where a place is (prov … roomno); the rest are
    /// noise around it.
    pub fn is_core(self) -> bool {
        self <= Label::Roomno
    }
}

/// One labelled component; `start..end` are characters (Unicode scalar values) of
/// the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Component {
    pub label: Label,
    pub text: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Clone)]
pub struct AddressParser {
    model: Arc<TaggerModel>,
    lexicon: Arc<PlaceLexicon>,
}

#[derive(Default)]
struct Scratch {
    features: Vec<Vec<u64>>,
    scores: Vec<[f32; TAG_COUNT]>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl AddressParser {
    pub fn new(model: Arc<TaggerModel>, lexicon: Arc<PlaceLexicon>) -> Self {
        AddressParser { model, lexicon }
    }

    /// The parser with the model built into the binary (`data/parser-model.bin.gz`).
    pub fn with_shipped_model(lexicon: Arc<PlaceLexicon>) -> Result<Self, model::ModelError> {
        let model = TaggerModel::read_from(crate::reference::EMBEDDED_PARSER_MODEL)?;
        Ok(AddressParser::new(Arc::new(model), lexicon))
    }

    pub fn lexicon(&self) -> &Arc<PlaceLexicon> {
        &self.lexicon
    }

    /// The components of `input`, in input order. Characters the tagger leaves
    /// outside every component (separators such as `_`) are not reported.
    pub fn parse(&self, input: &str) -> Vec<Component> {
        let characters: Vec<char> = input.chars().collect();
        let tags = self.tag(&characters);
        components_from_tags(&characters, &tags)
    }

    /// One tag per character of `characters`.
    pub fn tag(&self, characters: &[char]) -> Vec<u8> {
        if characters.is_empty() {
            return Vec::new();
        }
        let folded = fold_for_tagging(characters);
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let Scratch { features, scores } = &mut *scratch;
            extract_features(&folded, &self.lexicon, features);
            self.model.emissions(features, scores);
            self.model.decode(scores)
        })
    }
}

/// Turns BIO tags into components. Characters that are only white space or
/// punctuation at the edge of a component are trimmed off it.
pub fn components_from_tags(characters: &[char], tags: &[u8]) -> Vec<Component> {
    let mut components = Vec::new();
    let mut position = 0;
    while position < tags.len() {
        let Some((label, _)) = tag_label(tags[position]) else {
            position += 1;
            continue;
        };
        let start = position;
        position += 1;
        while position < tags.len()
            && matches!(tag_label(tags[position]), Some((next, false)) if next == label)
        {
            position += 1;
        }
        let (mut span_start, mut span_end) = (start, position);
        while span_start < span_end && characters[span_start].is_whitespace() {
            span_start += 1;
        }
        while span_end > span_start && characters[span_end - 1].is_whitespace() {
            span_end -= 1;
        }
        if span_start < span_end {
            components.push(Component {
                label,
                text: characters[span_start..span_end].iter().collect(),
                start: span_start,
                end: span_end,
            });
        }
    }
    components
}
