//! `/v1/boundaries`: county lines of the registry's polygons, and addresses on the
//! wrong side of one, on both backends.

use axum::http::StatusCode;
use serde_json::{Value, json};
use yizhitong::store::Role;

use crate::common::{TestApp, TestStore};

/// The county holding a point, as `/v1/reverse` says.
async fn county_at(app: &TestApp, lon: f64, lat: f64) -> Option<String> {
    let (status, body) = app
        .get(&format!("/v1/reverse?lon={lon}&lat={lat}&limit=1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["division"]["code"]
        .as_str()
        .map(|code| code[..6].to_owned())
}

async fn lines_and_misplaced_addresses(store: TestStore) {
    let app = TestApp::start(store).await;
    let (status, body) = app.get("/v1/boundaries?division=330212").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines = body["lines"].as_array().unwrap();
    let yin_feng = lines
        .iter()
        .find(|line| line["id"] == "330212-330213")
        .expect("鄞奉线 between 鄞州区 and 奉化区");
    assert_eq!(yin_feng["a"]["names"][2], "鄞州区");
    assert_eq!(yin_feng["b"]["names"][2], "奉化区");
    assert!(yin_feng["length_m"].as_f64().unwrap() > 10_000.0);
    assert!(
        lines
            .iter()
            .all(|line| line["id"].as_str().unwrap().contains("330212"))
    );

    let (status, line) = app.get("/v1/boundaries/330212-330213").await;
    assert_eq!(status, StatusCode::OK);
    let coordinates: Vec<Value> = match line["geometry"]["type"].as_str().unwrap() {
        "LineString" => line["geometry"]["coordinates"].as_array().unwrap().clone(),
        _ => line["geometry"]["coordinates"][0]
            .as_array()
            .unwrap()
            .clone(),
    };
    let (status, gcj) = app.get("/v1/boundaries/330212-330213?out_crs=gcj02").await;
    assert_eq!(
        (status, gcj["crs"].as_str()),
        (StatusCode::OK, Some("gcj02"))
    );
    let (status, body) = app.get("/v1/boundaries/330212-330999").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("boundary_not_found"))
    );

    // Points about 150 m either side of a vertex in the middle of the line.
    let vertex = &coordinates[coordinates.len() / 2];
    let (lon, lat) = (vertex[0].as_f64().unwrap(), vertex[1].as_f64().unwrap());
    let mut inside_fenghua = None;
    let mut inside_yinzhou = None;
    for step in 0..16 {
        let angle = f64::from(step) * std::f64::consts::TAU / 16.0;
        let point = (lon + 0.0015 * angle.cos(), lat + 0.0015 * angle.sin());
        match county_at(&app, point.0, point.1).await.as_deref() {
            Some("330213") => inside_fenghua = inside_fenghua.or(Some(point)),
            Some("330212") => inside_yinzhou = inside_yinzhou.or(Some(point)),
            _ => {}
        }
    }
    let (wrong, right) = (inside_fenghua.unwrap(), inside_yinzhou.unwrap());
    let editor = app.key(Role::Editor).await;
    let mut codes = Vec::new();
    for (road_no, (lon, lat)) in [("1号", wrong), ("2号", right)] {
        let (status, body) = app
            .call(
                "POST",
                "/v1/addresses",
                Some(&editor),
                Some(
                    json!({"division_code": "330212001", "road": "界边路", "road_no": road_no,
                            "lon": lon, "lat": lat}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        codes.push(body["code"].as_str().unwrap().to_owned());
    }
    let (status, body) = app
        .get("/v1/boundaries/330212-330213/misplaced-addresses?within_m=500")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let misplaced = body["addresses"].as_array().unwrap();
    assert_eq!(misplaced.len(), 1, "{body}");
    assert_eq!(misplaced[0]["code"], codes[0].as_str());
    assert_eq!(misplaced[0]["polygon_county"], "330213000000");
    assert_eq!(misplaced[0]["registered_division"], "330212001000");
    let distance = misplaced[0]["distance_to_line_m"].as_f64().unwrap();
    assert!(distance <= 500.0);
    // Bands narrower than the line's sample spacing still find exactly what lies in
    // them, and a vanishing one neither runs out of memory nor finds anything.
    for (within_m, found) in [(distance + 0.5, 1), (distance / 2.0, 0), (1e-165, 0)] {
        let (status, body) = app
            .get(&format!(
                "/v1/boundaries/330212-330213/misplaced-addresses?within_m={within_m}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["addresses"].as_array().unwrap().len(),
            found,
            "within {within_m} m: {body}"
        );
    }
    let (status, body) = app
        .get("/v1/boundaries/330212-330213/misplaced-addresses?within_m=0")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

crate::on_both_backends!(lines_and_misplaced_addresses);
