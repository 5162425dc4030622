//! Boundary joint inspection through the API, on both backends: a line registered with
//! its markers, a round observed in the field, the stored report in its three forms,
//! and two rounds compared.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use geo::{Destination, Distance, Geodesic, Point};
use serde_json::{Value, json};
use yizhitong::store::Role;

use crate::common::{TestApp, TestStore};

pub const LINE: &str = "330212-330213";

/// Sends a text body (CSV or GeoJSON) and returns the status and the JSON answer.
pub async fn send_text(
    app: &TestApp,
    method: &str,
    path: &str,
    key: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, Value) {
    app.send(
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

/// Posts a CSV file.
pub async fn post_csv(app: &TestApp, path: &str, key: &str, csv: String) -> (StatusCode, Value) {
    send_text(app, "POST", path, key, "text/csv", csv).await
}

/// Vertices of the shared edge of 鄞州区 and 奉化区, WGS84.
async fn line_vertices(app: &TestApp) -> Vec<(f64, f64)> {
    let (status, line) = app.get(&format!("/v1/boundaries/{LINE}")).await;
    assert_eq!(status, StatusCode::OK, "{line}");
    let part = match line["geometry"]["type"].as_str().unwrap() {
        "LineString" => line["geometry"]["coordinates"].clone(),
        _ => line["geometry"]["coordinates"][0].clone(),
    };
    part.as_array()
        .unwrap()
        .iter()
        .map(|position| (position[0].as_f64().unwrap(), position[1].as_f64().unwrap()))
        .collect()
}

fn offset((lon, lat): (f64, f64), bearing_deg: f64, metres: f64) -> (f64, f64) {
    let moved = Geodesic.destination(Point::new(lon, lat), bearing_deg, metres);
    (moved.x(), moved.y())
}

fn geodesic_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    Geodesic.distance(Point::new(a.0, a.1), Point::new(b.0, b.1))
}

/// A registered line with four markers and one round observed: the state the report
/// and browser tests start from.
pub struct InspectedLine {
    pub surveyor: String,
    pub round_id: i64,
    /// Where 鄞奉01 was registered and where the team found it.
    pub moved_from: (f64, f64),
    pub moved_to: (f64, f64),
    pub vertices: Vec<(f64, f64)>,
}

pub async fn inspected_line(app: &TestApp) -> InspectedLine {
    let surveyor = app.key(Role::Surveyor).await;
    let (status, body) = app
        .call(
            "PUT",
            &format!("/v1/boundaries/{LINE}"),
            Some(&surveyor),
            Some(
                json!({"name": "鄞奉线", "agreement": "鄞州区与奉化区行政区域界线协议书（2016）",
                        "marker_tolerance_m": 1.0, "line_tolerance_m": 5.0}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "鄞奉线");

    let vertices = line_vertices(app).await;
    let at = |fraction: f64| vertices[((vertices.len() - 1) as f64 * fraction) as usize];
    let (m01, m02, m03) = (at(0.2), at(0.5), at(0.8));
    let m02b = offset(m02, 90.0, 12.0);
    let csv = format!(
        "number,lon,lat,type,line\n鄞奉01,{},{},,{LINE}\n鄞奉02A,{},{},,\n鄞奉02B,{},{},,\n鄞奉03,{},{},single,\n",
        m01.0, m01.1, m02.0, m02.1, m02b.0, m02b.1, m03.0, m03.1
    );
    let (status, body) = post_csv(
        app,
        &format!("/v1/boundaries/{LINE}/markers"),
        &surveyor,
        csv,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let types: Vec<&str> = body["markers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|marker| marker["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["single", "pair", "pair", "single"]);

    let (status, body) = app
        .call(
            "PUT",
            &format!("/v1/boundaries/{LINE}/markers/鄞奉03"),
            Some(&surveyor),
            Some(json!({"lon": m03.0, "lat": m03.1,
                        "landmarks": [{"name": "高压线塔", "bearing_deg": 45.0, "distance_m": 35.5}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["number"]["sequence"], 3);
    assert_eq!(body["number"]["prefix"], "鄞奉");

    let (status, round) = app
        .call(
            "POST",
            &format!("/v1/boundaries/{LINE}/inspections"),
            Some(&surveyor),
            Some(json!({"date": "2026-10-15", "teams": ["鄞州区联检组", "奉化区联检组"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{round}");
    let round_id = round["id"].as_i64().unwrap();

    let moved_to = offset(m01, 60.0, 2.345);
    let slightly = offset(m02, 200.0, 0.3);
    let csv = format!(
        "number,lon,lat,condition,note,photos\n\
         鄞奉01,{},{},moved,桩体倾斜,IMG_0101.jpg;IMG_0102.jpg\n\
         鄞奉02A,{},{},intact,,\n\
         鄞奉02B,,,missing,河岸冲毁,\n\
         鄞奉03,{},{},damaged,,\n\
         鄞奉99,{},{},intact,,\n",
        moved_to.0, moved_to.1, slightly.0, slightly.1, m03.0, m03.1, m03.0, m03.1
    );
    let (status, body) = post_csv(
        app,
        &format!("/v1/inspections/{round_id}/observations"),
        &surveyor,
        csv,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["observations"].as_array().unwrap().len(), 5);

    // A track walked along the middle of the line, 3 m off it at most.
    let start = vertices.len() * 2 / 5;
    let walked: Vec<[f64; 2]> = vertices[start..start + 6]
        .iter()
        .map(|vertex| {
            let shifted = offset(*vertex, 0.0, 3.0);
            [shifted.0, shifted.1]
        })
        .collect();
    let tracks = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "第一组轨迹"},
         "geometry": {"type": "LineString", "coordinates": walked}}]});
    let (status, body) = send_text(
        app,
        "PUT",
        &format!("/v1/inspections/{round_id}/tracks"),
        &surveyor,
        "application/geo+json",
        tracks.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tracks"], json!(["第一组轨迹"]));

    InspectedLine {
        surveyor,
        round_id,
        moved_from: m01,
        moved_to,
        vertices,
    }
}

pub async fn build_report(app: &TestApp, surveyor: &str, round_id: i64) {
    let (status, body) = app
        .call(
            "POST",
            &format!("/v1/inspections/{round_id}/report"),
            Some(surveyor),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn a_round_from_register_to_report(store: TestStore) {
    let app = TestApp::start(store).await;
    let line = inspected_line(&app).await;
    let round_id = line.round_id;

    let (status, body) = app.get(&format!("/v1/inspections/{round_id}/report")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("report_not_found"))
    );
    build_report(&app, &line.surveyor, round_id).await;
    let (status, report) = app.get(&format!("/v1/inspections/{round_id}/report")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["line"]["name"], "鄞奉线");
    assert_eq!(report["round"]["teams"][1], "奉化区联检组");
    insta::assert_json_snapshot!("inspection_report", report, {
        ".built_at" => "[time]",
        ".built_by" => "[key]",
        ".round.created_at" => "[time]",
        ".round.created_by" => "[key]",
        ".round.report_built_at" => "[time]",
        ".line.geometry" => "[the line]",
    });

    let marker = |number: &str| -> Value {
        report["markers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|marker| marker["number"] == number)
            .cloned()
            .unwrap_or_else(|| panic!("no {number} in {report}"))
    };
    let moved = marker("鄞奉01");
    let expected = geodesic_m(line.moved_from, line.moved_to);
    let reported = moved["displacement_m"].as_f64().unwrap();
    assert!(
        (reported - expected).abs() < 0.001,
        "{reported} vs {expected}"
    );
    assert!((reported - 2.345).abs() < 0.01);
    assert_eq!(moved["verdict"], "displaced");
    assert_eq!(moved["photos"], json!(["IMG_0101.jpg", "IMG_0102.jpg"]));
    assert_eq!(marker("鄞奉02A")["verdict"], "sound");
    assert!((marker("鄞奉02A")["displacement_m"].as_f64().unwrap() - 0.3).abs() < 0.001);
    assert_eq!(marker("鄞奉02B")["verdict"], "missing");
    assert_eq!(marker("鄞奉02B")["displacement_m"], Value::Null);
    assert_eq!(marker("鄞奉03")["verdict"], "needs_repair");
    assert_eq!(marker("鄞奉99")["verdict"], "unregistered");
    assert_eq!(report["summary"]["registered"], 4);
    assert_eq!(report["summary"]["inspected"], 4);

    let track = &report["tracks"][0];
    assert_eq!(track["track"], "第一组轨迹");
    let offset_m = track["max_offset_m"].as_f64().unwrap();
    assert!((2.5..=3.01).contains(&offset_m), "{track}");
    assert_eq!(track["exceeds_tolerance"], false);
    // The registry's own polygons share their edge exactly.
    assert_eq!(report["topology"]["source"], "registry");
    assert!(report["topology"]["overlap_m2"].as_f64().unwrap() < 1.0);

    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "marker_displaced",
        "marker_missing",
        "marker_needs_repair",
        "marker_unregistered",
    ] {
        assert!(kinds.contains(&kind), "{kinds:?} lacks {kind}");
    }

    let (status, headers, geojson) = app
        .send_raw(
            Request::get(format!("/v1/inspections/{round_id}/report?format=geojson"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/geo+json");
    let features = valid_feature_collection(&String::from_utf8(geojson).unwrap());
    let displaced = features
        .iter()
        .find(|feature| {
            feature.property("kind") == Some(&json!("marker"))
                && feature.property("number") == Some(&json!("鄞奉01"))
        })
        .expect("the moved marker is a feature");
    assert_eq!(displaced.property("verdict"), Some(&json!("displaced")));
    assert_eq!(displaced.property("marker-color"), Some(&json!("#c62828")));
    let landmark = features
        .iter()
        .find(|feature| feature.property("kind") == Some(&json!("landmark")))
        .expect("the pylon is placed by bearing and distance");
    let geo::Geometry::Point(pylon) =
        geo::Geometry::<f64>::try_from(landmark.geometry.clone().unwrap()).unwrap()
    else {
        panic!("a landmark is a point")
    };
    let m03 = line.vertices[((line.vertices.len() - 1) as f64 * 0.8) as usize];
    assert!((geodesic_m(m03, (pylon.x(), pylon.y())) - 35.5).abs() < 0.05);

    let (status, headers, html) = app
        .send_raw(
            Request::get(format!("/v1/inspections/{round_id}/report?format=html"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = String::from_utf8(html).unwrap();
    for expected in [
        "鄞奉线界线联合检查报告",
        "<svg",
        "鄞奉02B",
        "丢失，需补设",
        "高压线塔",
    ] {
        assert!(html.contains(expected), "the HTML lacks {expected}");
    }

    // A later round finds 鄞奉01 farther off; the comparison shows it creeping.
    let (status, second) = app
        .call(
            "POST",
            &format!("/v1/boundaries/{LINE}/inspections"),
            Some(&line.surveyor),
            Some(json!({"date": "2031-10-20", "teams": ["鄞州区联检组", "奉化区联检组"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second_id = second["id"].as_i64().unwrap();
    let farther = offset(line.moved_from, 60.0, 3.5);
    let (status, body) = post_csv(
        &app,
        &format!("/v1/inspections/{second_id}/observations"),
        &line.surveyor,
        format!(
            "number,lon,lat,condition\n鄞奉01,{},{},moved\n",
            farther.0, farther.1
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    build_report(&app, &line.surveyor, second_id).await;
    let (status, comparison) = app
        .get(&format!("/v1/boundaries/{LINE}/inspections/comparison"))
        .await;
    assert_eq!(status, StatusCode::OK, "{comparison}");
    let dates: Vec<&str> = comparison["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|round| round["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-10-15", "2031-10-20"]);
    let history = comparison["markers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|marker| marker["number"] == "鄞奉01")
        .unwrap();
    let change = history["displacement_change_m"].as_f64().unwrap();
    assert!((change - (3.5 - 2.345)).abs() < 0.002, "{history}");
    assert_eq!(history["rounds"][1]["condition"], "moved");
    assert_eq!(
        comparison["rounds"][1]["summary"]["not_inspected"], 3,
        "{comparison}"
    );
}

/// Parses a FeatureCollection with the geojson crate and checks every geometry with
/// geo's validity rules (closed rings, no self-intersection, finite coordinates).
pub fn valid_feature_collection(text: &str) -> Vec<geojson::Feature> {
    use geo::Validation;
    let parsed: geojson::GeoJson = text.parse().expect("the report is GeoJSON");
    let geojson::GeoJson::FeatureCollection(collection) = parsed else {
        panic!("the report is a FeatureCollection")
    };
    for feature in &collection.features {
        let geometry = feature
            .geometry
            .clone()
            .expect("every feature has a geometry");
        let shape = geo::Geometry::<f64>::try_from(geometry).expect("a simple-features geometry");
        assert!(
            shape.is_valid(),
            "invalid {:?} geometry: {:?}",
            feature.property("kind"),
            shape.validation_errors()
        );
    }
    collection.features
}

async fn bad_input_is_refused_and_nothing_is_written(store: TestStore) {
    let app = TestApp::start(store).await;
    let surveyor = app.key(Role::Surveyor).await;
    let reader = app.key(Role::Reader).await;
    let markers = format!("/v1/boundaries/{LINE}/markers");

    let (status, body) = post_csv(
        &app,
        &markers,
        &reader,
        "number,lon,lat\nA1,121.5,29.7\n".into(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_role"))
    );

    let csv = "number,lon,lat,type\nA1,121.5,29.7,\nA2,121.5,north,\nA3,121.6,29.7,quad\nA1,121.7,29.7,\n";
    let (status, body) = post_csv(&app, &markers, &surveyor, csv.into()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_rows")),
        "{body}"
    );
    let lines: Vec<i64> = body["details"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{body}");
    let (status, body) = post_csv(
        &app,
        &markers,
        &surveyor,
        "number,lon,lat\nA1,121.5,29.7\nA1,121.5,29.8\n".into(),
    )
    .await;
    assert_eq!(body["details"]["rows"][0]["line"], 3, "{body}");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = post_csv(&app, &markers, &surveyor, "lon,lat\n1,2\n".into()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_csv"))
    );
    let (_, listed) = app.get(&markers).await;
    assert_eq!(
        listed["markers"],
        json!([]),
        "a refused file writes nothing"
    );

    let (status, body) = app
        .call(
            "PUT",
            &format!("/v1/boundaries/{LINE}"),
            Some(&surveyor),
            Some(json!({"marker_tolerance_m": -1})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = app.get(&format!("{markers}/A9")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("marker_not_found"))
    );
    let (status, body) = app.get("/v1/boundaries/330212-330999/markers").await;
    assert_eq!(body["code"], "boundary_not_found", "{status}");
    let (status, body) = app.get("/v1/inspections/999999").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("inspection_not_found"))
    );
    let (status, body) = app
        .call(
            "POST",
            &format!("/v1/boundaries/{LINE}/inspections"),
            Some(&surveyor),
            Some(json!({"date": "2026-13-40", "teams": ["甲"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .call(
            "POST",
            &format!("/v1/boundaries/{LINE}/inspections"),
            Some(&surveyor),
            Some(json!({"date": "2026-10-15", "teams": []})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (_, round) = app
        .call(
            "POST",
            &format!("/v1/boundaries/{LINE}/inspections"),
            Some(&surveyor),
            Some(json!({"date": "2026-10-15", "teams": ["甲组"]})),
        )
        .await;
    let round_id = round["id"].as_i64().unwrap();
    let (status, body) = post_csv(
        &app,
        &format!("/v1/inspections/{round_id}/observations"),
        &surveyor,
        "number,lon,lat,condition\nA1,,,intact\nA2,121.5,29.7,gone\n".into(),
    )
    .await;
    assert_eq!(body["code"], "invalid_rows", "{body}");
    assert_eq!(body["details"]["rows"].as_array().unwrap().len(), 2);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = send_text(
        &app,
        "PUT",
        &format!("/v1/inspections/{round_id}/tracks"),
        &surveyor,
        "application/geo+json",
        r#"{"type": "Point", "coordinates": [121.5, 29.7]}"#.into(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_geojson"))
    );
    let (status, body) = send_text(
        &app,
        "PUT",
        &format!("/v1/inspections/{round_id}/outlines/330203"),
        &surveyor,
        "application/geo+json",
        r#"{"type": "Polygon", "coordinates": [[[121.5, 29.7], [121.6, 29.7], [121.6, 29.8], [121.5, 29.7]]]}"#.into(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "海曙区 is not on 鄞奉线"
    );
    let (status, body) = app
        .get(&format!("/v1/inspections/{round_id}/report?format=pdf"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// A lettered marker registered alone is single; when its partner is registered, the
/// two are a pair, the earlier one included.
async fn same_number_markers_become_a_pair(store: TestStore) {
    let app = TestApp::start(store).await;
    let surveyor = app.key(Role::Surveyor).await;
    let put = |number: &'static str, lon: f64| {
        let (app, surveyor) = (&app, surveyor.clone());
        async move {
            app.call(
                "PUT",
                &format!("/v1/boundaries/{LINE}/markers/{number}"),
                Some(&surveyor),
                Some(json!({"lon": lon, "lat": 29.7})),
            )
            .await
        }
    };
    let (status, first) = put("07A", 121.5).await;
    assert_eq!(
        (status, first["type"].as_str()),
        (StatusCode::OK, Some("single")),
        "{first}"
    );
    let (status, second) = put("07B", 121.5001).await;
    assert_eq!(
        (status, second["type"].as_str()),
        (StatusCode::OK, Some("pair")),
        "{second}"
    );
    let (_, listed) = app.get(&format!("/v1/boundaries/{LINE}/markers")).await;
    let types: Vec<(&str, &str)> = listed["markers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|marker| {
            (
                marker["number"]["printed"].as_str().unwrap(),
                marker["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(types, [("07A", "pair"), ("07B", "pair")]);
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/v1/boundaries/{LINE}/markers/07B"),
            Some(&surveyor),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .call(
            "DELETE",
            &format!("/v1/boundaries/{LINE}/markers/07B"),
            Some(&surveyor),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("marker_not_found"))
    );
}

crate::on_both_backends!(
    a_round_from_register_to_report,
    bad_input_is_refused_and_nothing_is_written,
    same_number_markers_become_a_pair
);
