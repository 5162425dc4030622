//! Evaluation of the comparer on labelled pairs: the confusion matrix of verdicts,
//! per-class precision, recall and F1, and macro-F1.

use serde::Serialize;

use super::{AddressComparer, Verdict};

/// Counts of (gold, predicted) verdicts, for macro-F1 and per-class figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConfusionMatrix {
    /// `counts[gold][predicted]`, classes in `Verdict::ALL` order.
    pub counts: [[u64; 3]; 3],
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassScores {
    pub verdict: Verdict,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Gold pairs of the class.
    pub support: u64,
}

impl ConfusionMatrix {
    pub fn add(&mut self, gold: Verdict, predicted: Verdict) {
        self.counts[gold.index()][predicted.index()] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let right: u64 = (0..3).map(|k| self.counts[k][k]).sum();
        right as f64 / self.total().max(1) as f64
    }

    pub fn per_class(&self) -> [ClassScores; 3] {
        Verdict::ALL.map(|verdict| {
            let k = verdict.index();
            let tp = self.counts[k][k];
            let predicted: u64 = (0..3).map(|g| self.counts[g][k]).sum();
            let gold: u64 = self.counts[k].iter().sum();
            let precision = tp as f64 / predicted.max(1) as f64;
            let recall = tp as f64 / gold.max(1) as f64;
            let f1 = 2.0 * precision * recall / (precision + recall).max(1e-9);
            ClassScores {
                verdict,
                precision,
                recall,
                f1,
                support: gold,
            }
        })
    }

    /// Unweighted mean of the three classes' F1.
    pub fn macro_f1(&self) -> f64 {
        self.per_class().iter().map(|c| c.f1).sum::<f64>() / 3.0
    }
}

/// Compares every `(a, b, gold)` pair and counts the verdicts.
pub fn evaluate_pairs<'p>(
    comparer: &AddressComparer,
    pairs: impl IntoIterator<Item = (&'p str, &'p str, Verdict)>,
) -> ConfusionMatrix {
    let mut matrix = ConfusionMatrix::default();
    for (a, b, gold) in pairs {
        matrix.add(gold, comparer.compare(a, b).verdict);
    }
    matrix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_averages_the_classes() {
        let mut matrix = ConfusionMatrix::default();
        matrix.add(Verdict::Exact, Verdict::Exact);
        matrix.add(Verdict::Partial, Verdict::Exact);
        matrix.add(Verdict::None, Verdict::None);
        let classes = matrix.per_class();
        assert!((classes[0].precision - 0.5).abs() < 1e-9 && classes[0].recall == 1.0);
        assert_eq!(classes[1].f1, 0.0);
        assert_eq!(classes[2].f1, 1.0);
        assert!((matrix.macro_f1() - (2.0 / 3.0 + 0.0 + 1.0) / 3.0).abs() < 1e-9);
    }
}
