//! Trains the address-pair comparer and writes `data/compare-model.json`.
//!
//! `cargo run --release --example train_compare -- PAIRS.jsonl OUTPUT [--features parser|prototype|all]`
//! `cargo run --release --example train_compare -- PAIRS.jsonl --evaluate MODEL.json`
//!
//! Pairs are `{"query", "candidate", "label": "exact|partial|none"}`; the fold of a
//! pair is `fold_of(query)`. Folds 0–6 train, 7–9 are held out and only reported.
//! Multinomial softmax regression on standardised features, full-batch gradient
//! descent (400 epochs, rate 0.5, L2 1e-4, class weights √(balanced)); class
//! offsets tuned for macro-F1 on out-of-fold predictions within folds 0–6 are folded
//! into the bias. Deterministic: the same data give the same bytes. Run through
//! `scripts/train-compare`.

use std::io::BufRead;
use std::sync::Arc;

use serde::Deserialize;
use yizhitong::matching::compare::{
    AddressComparer, CompareModel, ConfusionMatrix, Verdict, softmax,
};
use yizhitong::reference::ReferenceSource;
use yizhitong::text::lexicon::PlaceLexicon;
use yizhitong::text::parse::AddressParser;
use yizhitong::text::parse::train::fold_of;

const EPOCHS: usize = 400;
const LEARNING_RATE: f64 = 0.5;
const L2: f64 = 1e-4;

/// The research prototype's feature selection (keep_small.txt).
const PROTOTYPE_FEATURES: &[&str] = &[
    "bias",
    "cbr_gate",
    "name_bicov",
    "lcseq_over_q",
    "lcseq_over_c",
    "strong_x_gate",
    "n_幢_q_only",
    "n_幢_conf",
    "n_幢_same",
    "n_幢_c_only",
    "n_弄_conf",
    "n_弄_same",
    "lcs_over_c",
    "lcs_over_q",
    "qnm_first2_in_c",
    "qname_in_c",
    "lcs_noroad>=2",
    "lcs_noroad>=6",
    "name_lcseq",
    "name_lcs",
    "num_c_cov",
    "eq_norm",
    "cbr_cov",
    "name_last2_in_q",
    "nm_first3_in_q",
    "nm_first2_miss",
    "lcs_abs>=6",
    "lcs_abs>=3",
    "n_号_same",
    "n_号_conf",
    "n_号_q_only",
    "pk_same",
    "pk_c_only",
    "rk_conf",
    "rk_same",
    "rk_c_in_q_text",
    "rk_same_x_hao_conf",
    "rk_same_x_hao_same",
    "adm_c_not_in_q",
    "adm_same",
    "bi_cov_q",
    "bi_cov_c",
    "bi_jacc",
    "b_same",
    "b_conf",
    "b_q_only",
    "b_c_only",
    "strong_x_b_q_only",
    "strong_x_b_same",
    "strong_x_b_none",
    "name_suffix_poi",
    "c_is_road_x_qmore",
    "nmlcs>=0.6",
    "nmlcs>=1.0",
    "lcs_q>=0.9",
    "lcs_c>=0.9",
    "c_resid>=1",
    "c_resid>=10",
    "c_resid>=3",
    "qnmlcs>=0.3",
    "qnmlcs>=0.7",
];

#[derive(Deserialize)]
struct Pair {
    query: String,
    candidate: String,
    label: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: train_compare PAIRS.jsonl (OUTPUT [--features prototype|parser|all] | --evaluate MODEL.json)";
    let data_path = arguments.first().ok_or(usage)?.clone();
    let option = |name: &str| {
        arguments
            .iter()
            .position(|a| a == name)
            .and_then(|p| arguments.get(p + 1))
            .cloned()
    };
    let evaluate_path = option("--evaluate");
    let output_path = match &evaluate_path {
        Some(_) => None,
        None => Some(arguments.get(1).ok_or(usage)?.clone()),
    };
    let selection = option("--features").unwrap_or_else(|| "parser".into());

    let reference = ReferenceSource::Embedded.load()?;
    let lexicon = Arc::new(PlaceLexicon::from_divisions(&reference.divisions));
    drop(reference);
    let parser = AddressParser::with_shipped_model(lexicon.clone())?;
    let comparer = AddressComparer::new(lexicon, parser);

    let mut pairs = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(&data_path)?).lines() {
        let pair: Pair = serde_json::from_str(&line?)?;
        pairs.push(pair);
    }
    let labels: Vec<usize> = pairs
        .iter()
        .map(|p| {
            Verdict::parse(&p.label)
                .map(|v| Verdict::ALL.iter().position(|&x| x == v).unwrap_or(2))
                .ok_or_else(|| format!("unknown label {}", p.label))
        })
        .collect::<Result<_, _>>()?;
    let folds: Vec<u32> = pairs.iter().map(|p| fold_of(&p.query)).collect();
    let started = std::time::Instant::now();
    let all_features: Vec<_> = pairs
        .iter()
        .map(|p| comparer.features(&p.query, &p.candidate))
        .collect();
    eprintln!(
        "{} pairs, features in {:.1}s",
        pairs.len(),
        started.elapsed().as_secs_f64()
    );

    if let Some(model_path) = evaluate_path {
        let model = CompareModel::from_json(&std::fs::read_to_string(&model_path)?)?;
        let predictions: Vec<usize> = all_features
            .iter()
            .map(|f| argmax(model.probabilities(f)))
            .collect();
        report(&labels, &folds, &predictions);
        return Ok(());
    }

    let names: Vec<String> = match selection.as_str() {
        "prototype" => PROTOTYPE_FEATURES.iter().map(|s| s.to_string()).collect(),
        "parser" => PROTOTYPE_FEATURES
            .iter()
            .map(|s| s.to_string())
            .chain(
                all_features[0]
                    .names
                    .iter()
                    .filter(|n| n.starts_with("p_"))
                    .cloned(),
            )
            .collect(),
        "all" => all_features[0].names.clone(),
        other => return Err(format!("unknown feature set {other}").into()),
    };
    let d = names.len();
    let x: Vec<f64> = all_features
        .iter()
        .flat_map(|f| names.iter().map(|n| f.get(n)).collect::<Vec<_>>())
        .collect();
    drop(all_features);

    let training: Vec<usize> = (0..pairs.len()).filter(|&i| folds[i] < 7).collect();
    let mut counts = [0f64; 3];
    for &i in &training {
        counts[labels[i]] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    let class_weights = counts.map(|c| (total / (3.0 * c)).sqrt());

    // Out-of-fold probabilities within the training folds, to tune class offsets.
    let mut out_of_fold = vec![[0.0; 3]; pairs.len()];
    for fold in 0..7 {
        let fit: Vec<usize> = training
            .iter()
            .copied()
            .filter(|&i| folds[i] != fold)
            .collect();
        let (mean, deviation) = standardize_fit(&x, d, &fit);
        let weights = train_softmax(&x, d, &labels, &fit, &mean, &deviation, class_weights);
        for &i in training.iter().filter(|&&i| folds[i] == fold) {
            out_of_fold[i] = softmax(scores(&x[i * d..(i + 1) * d], &weights, &mean, &deviation));
        }
        eprintln!("fold {fold} done ({:.1}s)", started.elapsed().as_secs_f64());
    }
    let (offsets, tuned) = tune_offsets(&training, &out_of_fold, &labels);
    let untuned = macro_f1_of(&training, &labels, |i| argmax(out_of_fold[i]));
    eprintln!(
        "out-of-fold macro-F1 {untuned:.4}, with offsets {tuned:.4} (exact {:+.2}, partial {:+.2})",
        offsets[0], offsets[1]
    );

    let (mean, deviation) = standardize_fit(&x, d, &training);
    let weights = train_softmax(&x, d, &labels, &training, &mean, &deviation, class_weights);
    // Fold the standardisation and offsets into weights on raw features.
    let mut raw: Vec<[f64; 3]> = (0..d)
        .map(|j| weights[j].map(|w| w / deviation[j]))
        .collect();
    for k in 0..3 {
        raw[0][k] = weights[0][k]
            - (0..d)
                .map(|j| mean[j] / deviation[j] * weights[j][k])
                .sum::<f64>()
            + offsets[k];
    }
    let predictions: Vec<usize> = (0..pairs.len())
        .map(|i| {
            let row = &x[i * d..(i + 1) * d];
            argmax((0..3).fold([0.0; 3], |mut s, k| {
                s[k] = row.iter().zip(&raw).map(|(v, w)| v * w[k]).sum();
                s
            }))
        })
        .collect();
    let (train_matrix, held_out_matrix) = report(&labels, &folds, &predictions);

    let figures = |m: &ConfusionMatrix| {
        let mut value = serde_json::json!({ "macro_f1": round4(m.macro_f1()) });
        for class in m.per_class() {
            value[class.verdict.as_str()] = serde_json::json!({
                "precision": round4(class.precision),
                "recall": round4(class.recall),
                "f1": round4(class.f1),
                "support": class.support,
            });
        }
        value
    };
    let model = CompareModel {
        classes: Verdict::ALL.iter().map(|v| v.as_str().to_owned()).collect(),
        features: names,
        weights: raw,
        provenance: serde_json::json!({
            "command": "scripts/train-compare",
            "data": "../shared/data/pairs/dev.jsonl (CCKS 2021 track 3), folds 0-6 of fold_of(query)",
            "method": format!("softmax regression, full-batch gradient descent, {EPOCHS} epochs, rate {LEARNING_RATE}, L2 {L2}, sqrt-balanced class weights, macro-F1 class offsets from out-of-fold predictions"),
            "feature_set": selection,
            "offsets": [round4(offsets[0]), round4(offsets[1]), 0.0],
            "training_folds": figures(&train_matrix),
            "held_out_folds": figures(&held_out_matrix),
        }),
    };
    let output_path = output_path.ok_or(usage)?;
    std::fs::write(&output_path, serde_json::to_string_pretty(&model)? + "\n")?;
    eprintln!("wrote {output_path}");
    Ok(())
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// First index of the largest value.
fn argmax(values: [f64; 3]) -> usize {
    let mut best = 0;
    for k in 1..3 {
        if values[k] > values[best] {
            best = k;
        }
    }
    best
}

fn macro_f1_of(rows: &[usize], labels: &[usize], predict: impl Fn(usize) -> usize) -> f64 {
    let mut matrix = ConfusionMatrix::default();
    for &i in rows {
        matrix.add(Verdict::ALL[labels[i]], Verdict::ALL[predict(i)]);
    }
    matrix.macro_f1()
}

fn report(
    labels: &[usize],
    folds: &[u32],
    predictions: &[usize],
) -> (ConfusionMatrix, ConfusionMatrix) {
    let mut matrices = (ConfusionMatrix::default(), ConfusionMatrix::default());
    for i in 0..labels.len() {
        let matrix = if folds[i] < 7 {
            &mut matrices.0
        } else {
            &mut matrices.1
        };
        matrix.add(Verdict::ALL[labels[i]], Verdict::ALL[predictions[i]]);
    }
    for (name, matrix) in [
        ("training folds 0-6", &matrices.0),
        ("held-out folds 7-9", &matrices.1),
    ] {
        let classes: Vec<String> = matrix
            .per_class()
            .iter()
            .map(|c| {
                format!(
                    "{}: P={:.3} R={:.3} F1={:.3} (n={})",
                    c.verdict.as_str(),
                    c.precision,
                    c.recall,
                    c.f1,
                    c.support
                )
            })
            .collect();
        println!(
            "{name}: macro-F1 {:.4}  {}",
            matrix.macro_f1(),
            classes.join("  ")
        );
    }
    matrices
}

/// Mean and population standard deviation of each column over `rows`; the bias
/// column (0) is left as it is.
fn standardize_fit(x: &[f64], d: usize, rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len() as f64;
    let mut mean = vec![0.0; d];
    for &i in rows {
        for j in 0..d {
            mean[j] += x[i * d + j];
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut deviation = vec![0.0; d];
    for &i in rows {
        for j in 0..d {
            let delta = x[i * d + j] - mean[j];
            deviation[j] += delta * delta;
        }
    }
    for value in deviation.iter_mut() {
        *value = (*value / n).sqrt();
        if *value < 1e-9 {
            *value = 1.0;
        }
    }
    mean[0] = 0.0;
    deviation[0] = 1.0;
    (mean, deviation)
}

fn scores(row: &[f64], weights: &[[f64; 3]], mean: &[f64], deviation: &[f64]) -> [f64; 3] {
    let mut s = [0.0; 3];
    for j in 0..row.len() {
        let v = (row[j] - mean[j]) / deviation[j];
        for k in 0..3 {
            s[k] += v * weights[j][k];
        }
    }
    s
}

/// Class-weighted softmax cross-entropy with L2 (not on the bias), full-batch
/// gradient descent from zero.
fn train_softmax(
    x: &[f64],
    d: usize,
    labels: &[usize],
    rows: &[usize],
    mean: &[f64],
    deviation: &[f64],
    class_weights: [f64; 3],
) -> Vec<[f64; 3]> {
    let n = rows.len();
    let standardized: Vec<f64> = rows
        .iter()
        .flat_map(|&i| (0..d).map(move |j| (x[i * d + j] - mean[j]) / deviation[j]))
        .collect();
    let mean_weight = rows.iter().map(|&i| class_weights[labels[i]]).sum::<f64>() / n as f64;
    let mut weights = vec![[0.0; 3]; d];
    let mut gradient = vec![[0.0; 3]; d];
    for _ in 0..EPOCHS {
        gradient.iter_mut().for_each(|g| *g = [0.0; 3]);
        for (r, &i) in rows.iter().enumerate() {
            let row = &standardized[r * d..(r + 1) * d];
            let mut z = [0.0; 3];
            for j in 0..d {
                for k in 0..3 {
                    z[k] += row[j] * weights[j][k];
                }
            }
            let p = softmax(z);
            let sample_weight = class_weights[labels[i]] / mean_weight;
            let residual: [f64; 3] = std::array::from_fn(|k| {
                (p[k] - if labels[i] == k { 1.0 } else { 0.0 }) * sample_weight
            });
            for j in 0..d {
                for k in 0..3 {
                    gradient[j][k] += row[j] * residual[k];
                }
            }
        }
        for j in 0..d {
            let l2 = if j == 0 { 0.0 } else { L2 };
            for k in 0..3 {
                weights[j][k] -= LEARNING_RATE * (gradient[j][k] / n as f64 + l2 * weights[j][k]);
            }
        }
    }
    weights
}

/// Offsets added to log P(exact) and log P(partial) that maximise macro-F1 over
/// `rows`, on a grid from -1.5 to 1.5 in steps of 0.05.
fn tune_offsets(rows: &[usize], probabilities: &[[f64; 3]], labels: &[usize]) -> ([f64; 3], f64) {
    let logs: Vec<[f64; 3]> = probabilities
        .iter()
        .map(|p| p.map(|v| (v + 1e-12).ln()))
        .collect();
    let mut best = ([0.0; 3], -1.0);
    for a in 0..61 {
        for b in 0..61 {
            let offsets = [-1.5 + 0.05 * a as f64, -1.5 + 0.05 * b as f64, 0.0];
            let f1 = macro_f1_of(rows, labels, |i| {
                argmax(std::array::from_fn(|k| logs[i][k] + offsets[k]))
            });
            if f1 > best.1 {
                best = (offsets, f1);
            }
        }
    }
    best
}
