//! The compare model: softmax regression weights over named features, read from
//! `data/compare-model.json` (built into the binary), and the class probabilities
//! of a feature vector.

use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

use super::Features;

/// The trained weights, built into the binary.
pub const EMBEDDED_COMPARE_MODEL: &str = include_str!("../../../data/compare-model.json");

pub(super) static EMBEDDED_MODEL: LazyLock<Arc<CompareModel>> = LazyLock::new(|| {
    Arc::new(
        CompareModel::from_json(EMBEDDED_COMPARE_MODEL)
            .expect("data/compare-model.json is a valid compare model"),
    )
});

/// Softmax regression weights over named features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareModel {
    /// `exact`, `partial`, `none`.
    pub classes: Vec<String>,
    pub features: Vec<String>,
    /// One row per feature, one column per class; class score = Σ value·weight. The
    /// `bias` feature is always 1 and carries the tuned class offsets.
    pub weights: Vec<[f64; 3]>,
    /// How the model was made (command, data, figures); not read.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub provenance: serde_json::Value,
}

impl CompareModel {
    pub fn from_json(text: &str) -> Result<Self, String> {
        let model: CompareModel = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if model.classes != ["exact", "partial", "none"] {
            return Err(format!("unexpected classes {:?}", model.classes));
        }
        if model.features.len() != model.weights.len() {
            return Err("features and weights differ in length".into());
        }
        Ok(model)
    }

    /// Class probabilities (exact, partial, none) of a feature vector.
    pub fn probabilities(&self, features: &Features) -> [f64; 3] {
        let mut scores = [0.0; 3];
        for (name, weights) in self.features.iter().zip(&self.weights) {
            let value = features.get(name);
            if value != 0.0 {
                for class in 0..3 {
                    scores[class] += value * weights[class];
                }
            }
        }
        softmax(scores)
    }
}

pub fn softmax(mut scores: [f64; 3]) -> [f64; 3] {
    let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for score in &mut scores {
        *score = (*score - top).exp();
        total += *score;
    }
    scores.map(|score| score / total)
}
