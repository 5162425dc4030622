//! Single-thread reverse-geocoding throughput on a large registry.
//!
//! `cargo bench --bench geocoding`. The registry is the synthetic CSV of
//! `scripts/generate-synthetic-addresses` (1,000,000 rows unless YZT_BENCH_ROWS says
//! otherwise). Query points are registered points moved by up to about 150 m in a
//! random direction (a phone standing near a door), plus one in ten uniform over
//! Zhejiang's bounding box (fields, hills and sea, where little or nothing is near).
//!
//! Reported, as the median of five rounds in one process: the exact point-in-polygon
//! test alone (the baseline), the polygon lookup with its cell table, the
//! nearest-address search alone, and the whole reverse lookup
//! (deepest division + up to 10 addresses within 200 m, as `GET /v1/reverse` answers
//! it, and with limit 1), plus the time to bulk-load the R-tree.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use yizhitong::geo::Crs;
use yizhitong::geocoding::{DEFAULT_REVERSE_LIMIT, DEFAULT_REVERSE_RADIUS_M, Geocoder};
use yizhitong::index::divisions::DivisionDirectory;
use yizhitong::index::points::AddressPoints;
use yizhitong::index::polygons::DivisionPolygons;
use yizhitong::matching::MatchEngine;
use yizhitong::reference::ReferenceSource;
use yizhitong::text::lexicon::PlaceLexicon;
use yizhitong::text::parse::AddressParser;

#[path = "support/mod.rs"]
mod support;

use support::{index_registry, median, registry_csv};

const QUERIES: usize = 200_000;
const ROUNDS: usize = 5;

fn main() {
    let rows: usize = std::env::var("YZT_BENCH_ROWS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let reference = ReferenceSource::Embedded
        .load()
        .expect("embedded reference data");
    let lexicon = Arc::new(PlaceLexicon::from_divisions(&reference.divisions));
    let directory = Arc::new(DivisionDirectory::build(reference.divisions));
    let started = Instant::now();
    let polygons = DivisionPolygons::build(&reference.polygons, &directory);
    let polygon_seconds = started.elapsed().as_secs_f64();
    let parser = AddressParser::with_shipped_model(lexicon).expect("parser model");

    let path = registry_csv(rows);
    let mut points: Vec<(f64, f64)> = Vec::with_capacity(rows);
    let started = Instant::now();
    let index = index_registry(&path, &directory, |row| points.extend(row.point));
    let index_seconds = started.elapsed().as_secs_f64();
    assert_eq!(index.located_len(), points.len());

    // The R-tree alone, bulk-loaded from the same points.
    let started = Instant::now();
    let mut tree = AddressPoints::default();
    tree.defer_changes(points.len());
    for (position, &(lon, lat)) in points.iter().enumerate() {
        tree.insert(position as u32, lon, lat);
    }
    tree.finish_deferred_changes();
    let bulk_load_seconds = started.elapsed().as_secs_f64();
    drop(tree);

    let mut random = rand::rngs::StdRng::seed_from_u64(2000);
    let queries: Vec<(f64, f64)> = (0..QUERIES)
        .map(|query| {
            if query % 10 == 9 {
                (
                    random.random_range(118.0..123.2),
                    random.random_range(27.0..31.2),
                )
            } else {
                let (lon, lat) = points[random.random_range(0..points.len())];
                let angle = random.random_range(0.0..std::f64::consts::TAU);
                let metres = random.random_range(0.0..150.0);
                (
                    lon + metres * angle.cos() / (111_320.0 * lat.to_radians().cos()),
                    lat + metres * angle.sin() / 111_132.0,
                )
            }
        })
        .collect();

    let geocoder = Geocoder::new(
        Arc::new(MatchEngine::new(
            parser,
            directory,
            Arc::new(RwLock::new(index)),
        )),
        Arc::new(polygons),
    );
    let index = geocoder.matcher().addresses().read().expect("index lock");

    let measure = |work: &dyn Fn(f64, f64) -> usize| -> (f64, usize) {
        let mut rates = Vec::new();
        let mut found = 0;
        for _ in 0..ROUNDS {
            found = 0;
            let started = Instant::now();
            for &(lon, lat) in &queries {
                found += work(lon, lat);
            }
            rates.push(queries.len() as f64 / started.elapsed().as_secs_f64());
        }
        (median(rates), found)
    };
    // The exact point-in-polygon test is the yardstick: it runs the same code on
    // every machine, so the ratios to it compare across machines and sessions.
    let (polygon_rate, inside) = measure(&|lon, lat| {
        usize::from(
            std::hint::black_box(geocoder.polygons().deepest_containing_exact(lon, lat)).is_some(),
        )
    });
    let (cell_rate, _) = measure(&|lon, lat| {
        usize::from(
            std::hint::black_box(geocoder.polygons().deepest_containing(lon, lat)).is_some(),
        )
    });
    let (nearest_rate, nearest_found) = measure(&|lon, lat| {
        std::hint::black_box(index.nearest(
            lon,
            lat,
            DEFAULT_REVERSE_RADIUS_M,
            DEFAULT_REVERSE_LIMIT,
        ))
        .len()
    });
    drop(index);
    let (reverse_rate, reverse_found) = measure(&|lon, lat| {
        std::hint::black_box(geocoder.reverse(
            lon,
            lat,
            DEFAULT_REVERSE_RADIUS_M,
            DEFAULT_REVERSE_LIMIT,
            Crs::Wgs84,
        ))
        .addresses
        .len()
    });
    let (reverse_one_rate, _) = measure(&|lon, lat| {
        std::hint::black_box(geocoder.reverse(lon, lat, DEFAULT_REVERSE_RADIUS_M, 1, Crs::Wgs84))
            .addresses
            .len()
    });
    // The same places as Amap would give them: converted before the clock starts,
    // and back to WGS84 inside the lookup, as the API does.
    let gcj_queries: Vec<(f64, f64)> = queries
        .iter()
        .map(|&(lon, lat)| Crs::Gcj02.from_wgs84(lon, lat))
        .collect();
    let mut gcj_rates = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for &(lon, lat) in &gcj_queries {
            let (lon, lat) = Crs::Gcj02.to_wgs84(lon, lat);
            std::hint::black_box(geocoder.reverse(
                lon,
                lat,
                DEFAULT_REVERSE_RADIUS_M,
                1,
                Crs::Gcj02,
            ));
        }
        gcj_rates.push(gcj_queries.len() as f64 / started.elapsed().as_secs_f64());
    }
    let reverse_gcj_rate = median(gcj_rates);

    println!(
        "registry: {rows} synthetic addresses, {} with a point; indexed in {index_seconds:.1} s",
        points.len()
    );
    println!(
        "{} county polygons with their edge trees and cell table built in {polygon_seconds:.2} s",
        geocoder.polygons().len()
    );
    println!(
        "R-tree bulk load of {} points: {bulk_load_seconds:.2} s",
        points.len()
    );
    println!(
        "queries: {} points; {:.3} inside a county polygon; {:.2} addresses within 200 m on average (limit 10)",
        queries.len(),
        inside as f64 / queries.len() as f64,
        nearest_found as f64 / queries.len() as f64
    );
    println!(
        "county polygon, exact test only: {polygon_rate:>10.0} lookups/s (median of {ROUNDS})"
    );
    println!("county polygon, cell table:      {cell_rate:>10.0} lookups/s");
    println!("nearest 10 within 200 m only:   {nearest_rate:>10.0} lookups/s");
    println!(
        "reverse, limit 10 (the default): {reverse_rate:>10.0} lookups/s ({:.3} of the exact polygon test; {} addresses returned per round)",
        reverse_rate / polygon_rate,
        reverse_found
    );
    println!("reverse, limit 1:                {reverse_one_rate:>10.0} lookups/s");
    println!("reverse, limit 1, GCJ-02 in/out: {reverse_gcj_rate:>10.0} lookups/s");
}
