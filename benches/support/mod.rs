//! Shared by the benchmarks: the synthetic registry file and small statistics.

// Each benchmark uses part of this module; the rest is dead code in that binary.
#![allow(dead_code)]

use std::io::BufRead;
use std::path::{Path, PathBuf};

use yizhitong::domain::address::{AddressComponents, GeoPoint};
use yizhitong::index::addresses::AddressIndex;
use yizhitong::index::divisions::DivisionDirectory;

// The benchmarks measure the allocator the service binary runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The synthetic registry CSV of `scripts/generate-synthetic-addresses` with `rows`
/// rows, generated once into the temporary directory and reused (or the file named
/// by YZT_BENCH_REGISTRY).
pub fn registry_csv(rows: usize) -> PathBuf {
    if let Some(path) = std::env::var_os("YZT_BENCH_REGISTRY") {
        return PathBuf::from(path);
    }
    let path = std::env::temp_dir().join(format!("yzt-bench-registry-{rows}.csv"));
    if !path.exists() {
        let output = std::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/generate-synthetic-addresses"
            ))
            .args(["--rows", &rows.to_string(), "--seed", "7"])
            .output()
            .expect("run scripts/generate-synthetic-addresses");
        assert!(output.status.success(), "generator failed");
        std::fs::write(&path, output.stdout).expect("write registry csv");
    }
    path
}

pub fn optional(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One registry row as it was indexed.
pub struct IndexedRow<'a> {
    pub line_number: usize,
    pub source_id: &'a str,
    pub standard_text: &'a str,
    pub point: Option<(f64, f64)>,
}

/// Reads the synthetic registry into an address index (points bulk-loaded),
/// showing each row to `visit`.
pub fn index_registry(
    path: &Path,
    directory: &DivisionDirectory,
    mut visit: impl FnMut(&IndexedRow<'_>),
) -> AddressIndex {
    let mut index = AddressIndex::new();
    index.begin_loading(0);
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("registry csv"));
    for (line_number, line) in file.lines().enumerate().skip(1) {
        let line = line.expect("csv line");
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() < 11 {
            continue;
        }
        let components = AddressComponents {
            road: optional(cells[2]),
            road_no: optional(cells[3]),
            place: optional(cells[4]),
            building: optional(cells[5]),
            unit: optional(cells[6]),
            floor: optional(cells[7]),
            room: optional(cells[8]),
        }
        .canonicalized()
        .expect("synthetic rows are canonical");
        let names = directory.address_names(cells[1], components.road.is_none());
        let standard_text = components.compose_standard_text(names.iter().map(String::as_str));
        let code = format!("{}{:07}X", cells[1], line_number);
        let point = cells[9].parse().ok().zip(cells[10].parse().ok());
        index.upsert_parts(
            &code,
            Some(cells[0]),
            cells[1],
            &components,
            &standard_text,
            false,
            None,
            point.map(|(lon, lat)| GeoPoint { lon, lat }),
            1,
        );
        visit(&IndexedRow {
            line_number,
            source_id: cells[0],
            standard_text: &standard_text,
            point,
        });
    }
    index.finish_loading();
    index
}
