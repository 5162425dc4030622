//! The normalisers on their own: what every query and every registered row pays
//! before any lookup.
//!
//! `cargo bench --bench text`. Inputs are rows of the synthetic registry (see
//! `benches/matching.rs`; YZT_BENCH_REGISTRY names an existing file), spelt the way
//! callers write them: Chinese numerals, 栋 for 幢, full-width digits. Reported:
//! items per second, median of five rounds, for
//! - the width fold every text goes through (`fold_width`);
//! - a registrar's components brought to canonical form (`canonicalized`: numerals,
//!   unit words, `3栋` → `3幢`);
//! - the compare normaliser (`compare::normalize`);
//! - the number stems the index keys on (`number_stem`).
//!
//! The baseline in the same process is copying each text (`to_owned`), so the ratios
//! hold across machines.

use std::io::BufRead;
use std::time::Instant;

use yizhitong::domain::address::AddressComponents;
use yizhitong::index::addresses::number_stem;
use yizhitong::matching::compare;
use yizhitong::text::normalize::fold_width;

#[path = "support/mod.rs"]
mod support;

use support::{median, optional, registry_csv};

const ROWS: usize = 50_000;
const ROUNDS: usize = 5;

/// A registered component spelt the way a caller might: Chinese numerals for small
/// numbers, 栋 for 幢, full-width digits.
fn respelt(value: &str, row: usize) -> String {
    const NUMERALS: [&str; 10] = ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match row % 3 {
        0 => value.replace('幢', "栋"),
        1 => value
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(digit) => NUMERALS[digit as usize].to_owned(),
                None => c.to_string(),
            })
            .collect(),
        _ => value
            .chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(c as u32 - 0x30 + 0xFF10).unwrap_or(c),
                _ => c,
            })
            .collect(),
    }
}

fn main() {
    let path = registry_csv(1_000_000);
    let file = std::io::BufReader::new(std::fs::File::open(&path).expect("registry csv"));
    let mut components = Vec::with_capacity(ROWS);
    let mut texts = Vec::with_capacity(ROWS);
    for (row, line) in file.lines().skip(1).take(ROWS).enumerate() {
        let line = line.expect("csv line");
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() < 11 {
            continue;
        }
        let spelt = |index: usize| optional(cells[index]).map(|value| respelt(&value, row));
        let written = AddressComponents {
            road: optional(cells[2]),
            road_no: spelt(3),
            place: optional(cells[4]),
            building: spelt(5),
            unit: spelt(6),
            floor: spelt(7),
            room: spelt(8),
        };
        texts.push(
            [2, 3, 4, 5, 6, 7, 8]
                .iter()
                .filter_map(|&index| spelt(index).or_else(|| optional(cells[index])))
                .collect::<String>(),
        );
        components.push(written);
    }
    let numbers: Vec<&str> = components
        .iter()
        .flat_map(|written| {
            [
                &written.road_no,
                &written.building,
                &written.unit,
                &written.floor,
                &written.room,
            ]
        })
        .filter_map(|value| value.as_deref())
        .collect();

    let rate = |items: usize, work: &dyn Fn()| -> f64 {
        let mut rates = Vec::new();
        for _ in 0..ROUNDS {
            let started = Instant::now();
            work();
            rates.push(items as f64 / started.elapsed().as_secs_f64());
        }
        median(rates)
    };
    let copy = rate(texts.len(), &|| {
        for text in &texts {
            std::hint::black_box(text.to_owned());
        }
    });
    let fold = rate(texts.len(), &|| {
        for text in &texts {
            std::hint::black_box(fold_width(text));
        }
    });
    let canonical = rate(components.len(), &|| {
        for written in &components {
            std::hint::black_box(written.canonicalized().ok());
        }
    });
    let compare_normalised = rate(texts.len(), &|| {
        for text in &texts {
            std::hint::black_box(compare::normalize(text));
        }
    });
    let stems = rate(numbers.len(), &|| {
        for number in &numbers {
            std::hint::black_box(number_stem(number));
        }
    });
    println!(
        "{} texts, {} component sets, {} numbers from {}",
        texts.len(),
        components.len(),
        numbers.len(),
        path.display()
    );
    println!("copy (baseline):      {copy:>11.0} texts/s");
    let report = |name: &str, value: f64, unit: &str| {
        println!(
            "{name:<21} {value:>11.0} {unit}/s ({:.3} of the copy)",
            value / copy
        );
    };
    report("fold_width:", fold, "texts");
    report("canonicalized:", canonical, "rows");
    report("compare::normalize:", compare_normalised, "texts");
    report("number_stem:", stems, "numbers");
}
