//! The surveyors' `inspect` commands, run as the binary, checked against geodesics
//! computed here independently (Vincenty's formulae on WGS84, not the `geo` crate's
//! Karney algorithm the service uses).

use std::path::Path;
use std::process::Command;

use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::common::shared_data_file;

const A: f64 = 6_378_137.0;
const F: f64 = 1.0 / 298.257_223_563;
const B: f64 = A * (1.0 - F);

/// Vincenty's inverse problem: metres between two (lon, lat) points.
fn vincenty_distance(from: (f64, f64), to: (f64, f64)) -> f64 {
    let l = (to.0 - from.0).to_radians();
    let u1 = ((1.0 - F) * from.1.to_radians().tan()).atan();
    let u2 = ((1.0 - F) * to.1.to_radians().tan()).atan();
    let (sin_u1, cos_u1, sin_u2, cos_u2) = (u1.sin(), u1.cos(), u2.sin(), u2.cos());
    let mut lambda = l;
    for _ in 0..200 {
        let (sin_l, cos_l) = lambda.sin_cos();
        let sin_sigma =
            ((cos_u2 * sin_l).powi(2) + (cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_l).powi(2)).sqrt();
        if sin_sigma == 0.0 {
            return 0.0;
        }
        let cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_l;
        let sigma = sin_sigma.atan2(cos_sigma);
        let sin_alpha = cos_u1 * cos_u2 * sin_l / sin_sigma;
        let cos2_alpha = 1.0 - sin_alpha * sin_alpha;
        let cos_2sm = cos_sigma - 2.0 * sin_u1 * sin_u2 / cos2_alpha;
        let c = F / 16.0 * cos2_alpha * (4.0 + F * (4.0 - 3.0 * cos2_alpha));
        let previous = lambda;
        lambda = l
            + (1.0 - c)
                * F
                * sin_alpha
                * (sigma
                    + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1.0 + 2.0 * cos_2sm * cos_2sm)));
        if (lambda - previous).abs() < 1e-13 {
            let u_sq = cos2_alpha * (A * A - B * B) / (B * B);
            let big_a =
                1.0 + u_sq / 16384.0 * (4096.0 + u_sq * (-768.0 + u_sq * (320.0 - 175.0 * u_sq)));
            let big_b = u_sq / 1024.0 * (256.0 + u_sq * (-128.0 + u_sq * (74.0 - 47.0 * u_sq)));
            let delta_sigma = big_b
                * sin_sigma
                * (cos_2sm
                    + big_b / 4.0
                        * (cos_sigma * (-1.0 + 2.0 * cos_2sm * cos_2sm)
                            - big_b / 6.0
                                * cos_2sm
                                * (-3.0 + 4.0 * sin_sigma * sin_sigma)
                                * (-3.0 + 4.0 * cos_2sm * cos_2sm)));
            return B * big_a * (sigma - delta_sigma);
        }
    }
    panic!("Vincenty did not converge");
}

/// Vincenty's direct problem: the point `distance` metres from `from` at `azimuth_deg`.
fn vincenty_destination(from: (f64, f64), azimuth_deg: f64, distance: f64) -> (f64, f64) {
    let alpha1 = azimuth_deg.to_radians();
    let (sin_a1, cos_a1) = alpha1.sin_cos();
    let tan_u1 = (1.0 - F) * from.1.to_radians().tan();
    let cos_u1 = 1.0 / (1.0 + tan_u1 * tan_u1).sqrt();
    let sin_u1 = tan_u1 * cos_u1;
    let sigma1 = tan_u1.atan2(cos_a1);
    let sin_alpha = cos_u1 * sin_a1;
    let cos2_alpha = 1.0 - sin_alpha * sin_alpha;
    let u_sq = cos2_alpha * (A * A - B * B) / (B * B);
    let big_a = 1.0 + u_sq / 16384.0 * (4096.0 + u_sq * (-768.0 + u_sq * (320.0 - 175.0 * u_sq)));
    let big_b = u_sq / 1024.0 * (256.0 + u_sq * (-128.0 + u_sq * (74.0 - 47.0 * u_sq)));
    let mut sigma = distance / (B * big_a);
    let (mut cos_2sm, mut sin_sigma, mut cos_sigma);
    loop {
        cos_2sm = (2.0 * sigma1 + sigma).cos();
        sin_sigma = sigma.sin();
        cos_sigma = sigma.cos();
        let delta = big_b
            * sin_sigma
            * (cos_2sm
                + big_b / 4.0
                    * (cos_sigma * (-1.0 + 2.0 * cos_2sm * cos_2sm)
                        - big_b / 6.0
                            * cos_2sm
                            * (-3.0 + 4.0 * sin_sigma * sin_sigma)
                            * (-3.0 + 4.0 * cos_2sm * cos_2sm)));
        let next = distance / (B * big_a) + delta;
        if (next - sigma).abs() < 1e-14 {
            break;
        }
        sigma = next;
    }
    let x = sin_u1 * sin_sigma - cos_u1 * cos_sigma * cos_a1;
    let lat = (sin_u1 * cos_sigma + cos_u1 * sin_sigma * cos_a1)
        .atan2((1.0 - F) * (sin_alpha * sin_alpha + x * x).sqrt());
    let lambda = (sin_sigma * sin_a1).atan2(cos_u1 * cos_sigma - sin_u1 * sin_sigma * cos_a1);
    let c = F / 16.0 * cos2_alpha * (4.0 + F * (4.0 - 3.0 * cos2_alpha));
    let l = lambda
        - (1.0 - c)
            * F
            * sin_alpha
            * (sigma
                + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1.0 + 2.0 * cos_2sm * cos_2sm)));
    (from.0 + l.to_degrees(), lat.to_degrees())
}

fn inspect(arguments: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_yizhitong"))
        .arg("inspect")
        .args(arguments)
        .output()
        .expect("yizhitong runs");
    assert!(
        output.status.success(),
        "inspect {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on standard output")
}

/// The edges two counties' rings have in common, read straight from the file.
fn shared_edges(path: &Path, a: u64, b: u64) -> Vec<((f64, f64), (f64, f64))> {
    let document: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let edges_of = |code: u64| {
        let feature = document["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|feature| feature["properties"]["district_adcode"] == code)
            .expect("county in file");
        let geometry = &feature["geometry"];
        let polygons = match geometry["type"].as_str().unwrap() {
            "Polygon" => vec![geometry["coordinates"].clone()],
            _ => geometry["coordinates"].as_array().unwrap().clone(),
        };
        let mut edges = std::collections::HashMap::new();
        for polygon in polygons {
            for ring in polygon.as_array().unwrap() {
                let points: Vec<(f64, f64)> = ring
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
                    .collect();
                for pair in points.windows(2) {
                    let key =
                        |p: (f64, f64)| ((p.0 * 1e7).round() as i64, (p.1 * 1e7).round() as i64);
                    let (ka, kb) = (key(pair[0]), key(pair[1]));
                    if ka != kb {
                        edges.insert((ka.min(kb), ka.max(kb)), (pair[0], pair[1]));
                    }
                }
            }
        }
        edges
    };
    let (first, second) = (edges_of(a), edges_of(b));
    first
        .into_iter()
        .filter(|(key, _)| second.contains_key(key))
        .map(|(_, edge)| edge)
        .collect()
}

#[test]
fn lines_between_zhejiang_counties_have_geodesic_lengths() {
    let Some(path) = shared_data_file(
        "boundaries/zhejiang_counties_wgs84.geojson",
        "the boundary-line test",
    ) else {
        return;
    };
    let lines = inspect(&["lines", "--polygons", path.to_str().unwrap()]);
    let lines = lines.as_array().unwrap();
    assert!(
        lines.len() > 150,
        "Zhejiang has about 200 county neighbours"
    );
    // 鄞州–奉化 (鄞奉线), 海曙–鄞州 (海鄞线), 南浔–德清, 吴兴–南浔.
    for (a, b) in [
        ("330212", "330213"),
        ("330203", "330212"),
        ("330503", "330521"),
        ("330502", "330503"),
    ] {
        let line = lines
            .iter()
            .find(|line| line["a"] == a && line["b"] == b)
            .unwrap_or_else(|| panic!("no line {a}–{b}"));
        let independent: f64 = shared_edges(&path, a.parse().unwrap(), b.parse().unwrap())
            .into_iter()
            .map(|(from, to)| vincenty_distance(from, to))
            .sum();
        let length = line["length_m"].as_f64().unwrap();
        assert!(independent > 10_000.0, "{a}–{b}: {independent} m");
        assert!(
            (length / independent - 1.0).abs() < 0.005,
            "{a}–{b}: {length} m against {independent} m"
        );
        assert!(matches!(
            line["geometry"]["type"].as_str(),
            Some("LineString" | "MultiLineString")
        ));
    }
}

#[test]
fn marker_displacements_match_constructed_geodesic_offsets() {
    let directory = tempfile::tempdir().unwrap();
    let mut random = rand::rngs::StdRng::seed_from_u64(17);
    let mut registered = String::from("number,lon,lat,type,line\n");
    let mut observed = String::from("number,lon,lat,condition,note\n");
    let mut constructed = Vec::new();
    for index in 0..200 {
        let home = (
            random.random_range(118.0..123.0),
            random.random_range(27.0..31.0),
        );
        let distance = match index % 4 {
            0 => random.random_range(0.001..0.05),
            1 => random.random_range(0.05..2.0),
            2 => random.random_range(2.0..50.0),
            _ => random.random_range(50.0..2000.0),
        };
        let moved = vincenty_destination(home, random.random_range(0.0..360.0), distance);
        let number = format!("鄞奉{index:03}");
        registered.push_str(&format!(
            "{number},{:.10},{:.10},single,鄞奉线\n",
            home.0, home.1
        ));
        observed.push_str(&format!(
            "{number},{:.10},{:.10},moved,\n",
            moved.0, moved.1
        ));
        constructed.push(distance);
    }
    registered.push_str("鄞奉900,121.5,29.7,single,鄞奉线\n");
    observed.push_str("鄞奉900,,,missing,not found\n");
    let (registered_path, observed_path) = (
        directory.path().join("registered.csv"),
        directory.path().join("observed.csv"),
    );
    std::fs::write(&registered_path, registered).unwrap();
    std::fs::write(&observed_path, observed).unwrap();
    let findings = inspect(&[
        "markers",
        "--registered",
        registered_path.to_str().unwrap(),
        "--observed",
        observed_path.to_str().unwrap(),
        "--tolerance-m",
        "1.0",
    ]);
    let findings = findings.as_array().unwrap();
    assert_eq!(findings.len(), constructed.len() + 1);
    for (finding, distance) in findings.iter().zip(&constructed) {
        let displacement = finding["displacement_m"].as_f64().unwrap();
        assert!(
            (displacement - distance).abs() < 0.01,
            "{finding} against {distance} m"
        );
        assert_eq!(
            finding["exceeds_tolerance"],
            *distance > 1.0 + 0.0005,
            "{finding}"
        );
        assert_eq!(finding["condition"], "moved");
    }
    let missing = findings.last().unwrap();
    assert_eq!(missing["number"], "鄞奉900");
    assert_eq!(
        (
            missing["displacement_m"].clone(),
            missing["condition"].clone()
        ),
        (Value::Null, Value::from("missing"))
    );
}

#[test]
fn topology_of_nanxun_and_tongxiang_in_gcj02() {
    let (Some(nanxun), Some(tongxiang)) = (
        shared_data_file("boundaries/gcj02/v3c_330503.json", "the topology test"),
        shared_data_file("boundaries/gcj02/v3c_330483.json", "the topology test"),
    ) else {
        return;
    };
    let report = inspect(&[
        "topology",
        "--a",
        nanxun.to_str().unwrap(),
        "--b",
        tongxiang.to_str().unwrap(),
        "--crs",
        "gcj02",
    ]);
    // scripts/crosscheck-topology (shapely/GEOS in an azimuthal equidistant plane,
    // pyproj geodesic areas, its own GCJ-02 inversion) gives 2,374.9 m² of overlap in
    // 51 pieces and 19,238.2 m² of gaps in 96, whose vertices lie at most 736.1 m from
    // the farther outline.
    let overlap = report["overlap_m2"].as_f64().unwrap();
    let gap = report["gap_m2"].as_f64().unwrap();
    assert!(
        (overlap / 2_374.9 - 1.0).abs() < 0.01,
        "overlap {overlap} m²"
    );
    assert!((gap / 19_238.2 - 1.0).abs() < 0.03, "gap {gap} m²");
    let offset = report["max_offset_m"].as_f64().unwrap();
    assert!(
        offset > 0.0 && offset < 2.0 * 200.0 * 2.0,
        "max offset {offset} m"
    );
    for (kind, collection) in [("overlap", &report["overlaps"]), ("gap", &report["gaps"])] {
        let parsed: geojson::FeatureCollection =
            collection.to_string().parse().expect("valid GeoJSON");
        assert!(!parsed.features.is_empty(), "{kind}s found");
        let summed: f64 = parsed
            .features
            .iter()
            .map(|feature| {
                feature.properties.as_ref().unwrap()["area_m2"]
                    .as_f64()
                    .unwrap()
            })
            .sum();
        let total = if kind == "overlap" { overlap } else { gap };
        assert!(
            (summed - total).abs() < 0.1 * parsed.features.len() as f64,
            "{kind}: {summed} vs {total}"
        );
    }
}

#[test]
fn track_offsets_match_constructed_perpendicular_offsets() {
    let start = (121.55, 29.75);
    let line: Vec<(f64, f64)> = (0..=20)
        .map(|step| vincenty_destination(start, 30.0, f64::from(step) * 100.0))
        .collect();
    let offset_point = |index: usize, metres: f64| vincenty_destination(line[index], 120.0, metres);
    let full: Vec<(f64, f64)> = (0..=20)
        .map(|index| {
            let metres = match index {
                10 => 7.5,
                9 | 11 => 3.0,
                _ => 0.0,
            };
            offset_point(index, metres)
        })
        .collect();
    let half: Vec<(f64, f64)> = (0..=10).map(|index| offset_point(index, 2.0)).collect();
    let coordinates = |points: &[(f64, f64)]| {
        Value::from(
            points
                .iter()
                .map(|&(lon, lat)| Value::from(vec![lon, lat]))
                .collect::<Vec<_>>(),
        )
    };
    let directory = tempfile::tempdir().unwrap();
    let line_path = directory.path().join("line.geojson");
    let tracks_path = directory.path().join("tracks.geojson");
    std::fs::write(
        &line_path,
        serde_json::json!({"type": "LineString", "coordinates": coordinates(&line)}).to_string(),
    )
    .unwrap();
    std::fs::write(
        &tracks_path,
        serde_json::json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": "whole line"},
             "geometry": {"type": "LineString", "coordinates": coordinates(&full)}},
            {"type": "Feature", "properties": {"name": "first half"},
             "geometry": {"type": "LineString", "coordinates": coordinates(&half)}},
        ]})
        .to_string(),
    )
    .unwrap();
    let offsets = inspect(&[
        "tracks",
        "--line",
        line_path.to_str().unwrap(),
        "--tracks",
        tracks_path.to_str().unwrap(),
    ]);
    let whole = &offsets[0];
    assert_eq!(whole["track"], "whole line");
    assert!(
        (whole["max_offset_m"].as_f64().unwrap() - 7.5).abs() < 0.05,
        "{whole}"
    );
    assert!(
        (whole["hausdorff_m"].as_f64().unwrap() - 7.5).abs() < 0.05,
        "{whole}"
    );
    assert_eq!(whole["exceeds_tolerance"], true);
    let first_half = &offsets[1];
    assert!(
        (first_half["max_offset_m"].as_f64().unwrap() - 2.0).abs() < 0.05,
        "{first_half}"
    );
    // Not charged for the half of the line it did not walk.
    assert!(
        (first_half["hausdorff_m"].as_f64().unwrap() - 2.0).abs() < 0.05,
        "{first_half}"
    );
    assert!(
        (first_half["length_m"].as_f64().unwrap() - 1000.0).abs() < 1.0,
        "{first_half}"
    );
    assert_eq!(first_half["exceeds_tolerance"], false);
}
