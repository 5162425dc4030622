//! Reverse geocoding, geocoding and coordinate systems through the API.

use std::io::Read;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use geo::{Contains, Coord, MultiPolygon, Point};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use yizhitong::geo::Crs;

use crate::common::{TestApp, TestStore, query_value, sqlite};

/// Every Zhejiang county polygon, read straight from the bundled file (not through
/// the service), with its code.
fn bundled_county_polygons() -> Vec<(String, MultiPolygon<f64>)> {
    let compressed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/zhejiang_counties.geojson.gz"
    ))
    .expect("bundled polygons");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .expect("gzip");
    let collection: geojson::FeatureCollection = text.parse().expect("GeoJSON");
    collection
        .features
        .into_iter()
        .map(|feature| {
            let code = feature.properties.as_ref().expect("properties")["code"]
                .as_str()
                .expect("code")
                .to_owned();
            let shape: geo::Geometry<f64> = (&feature.geometry.expect("geometry").value)
                .try_into()
                .expect("shape");
            let shape = match shape {
                geo::Geometry::Polygon(polygon) => MultiPolygon::new(vec![polygon]),
                geo::Geometry::MultiPolygon(shape) => shape,
                other => panic!("unexpected {other:?}"),
            };
            (code, shape)
        })
        .collect()
}

/// Distance in metres from a point to the nearest edge of the shape, in a local
/// plane around the point (counties are small enough for the plane to be exact to
/// a fraction of a percent).
fn distance_to_outline_m(shape: &MultiPolygon<f64>, point: Coord<f64>) -> f64 {
    let metres_per_degree_lat = 111_132.0;
    let metres_per_degree_lon = 111_320.0 * point.y.to_radians().cos();
    let to_plane = |coord: Coord<f64>| {
        (
            (coord.x - point.x) * metres_per_degree_lon,
            (coord.y - point.y) * metres_per_degree_lat,
        )
    };
    let mut nearest = f64::INFINITY;
    for polygon in shape {
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            for line in ring.lines() {
                let (ax, ay) = to_plane(line.start);
                let (bx, by) = to_plane(line.end);
                let (dx, dy) = (bx - ax, by - ay);
                let length_squared = dx * dx + dy * dy;
                let t = if length_squared == 0.0 {
                    0.0
                } else {
                    (-(ax * dx + ay * dy) / length_squared).clamp(0.0, 1.0)
                };
                nearest = nearest.min((ax + t * dx).hypot(ay + t * dy));
            }
        }
    }
    nearest
}

fn interior_samples(
    shape: &MultiPolygon<f64>,
    count: usize,
    random: &mut impl Rng,
) -> Vec<(f64, f64)> {
    use geo::BoundingRect;
    let bounds = shape.bounding_rect().expect("bounds");
    let mut samples = Vec::new();
    for _ in 0..100_000 {
        if samples.len() == count {
            break;
        }
        let coord = Coord {
            x: random.random_range(bounds.min().x..bounds.max().x),
            y: random.random_range(bounds.min().y..bounds.max().y),
        };
        if shape.contains(&Point::from(coord)) && distance_to_outline_m(shape, coord) >= 300.0 {
            samples.push((coord.x, coord.y));
        }
    }
    assert_eq!(samples.len(), count, "could not sample the polygon");
    samples
}

async fn reverse(app: &TestApp, lon: f64, lat: f64, extra: &str) -> (StatusCode, Value) {
    app.get(&format!("/v1/reverse?lon={lon}&lat={lat}{extra}"))
        .await
}

#[tokio::test]
async fn points_inside_every_zhejiang_county_resolve_to_it_in_every_crs() {
    // The service's own bundled reference data (every Zhejiang county), not the
    // small test fixture.
    let app = TestApp::start_with(sqlite(), |config| config.reference_data_dir = None).await;
    let counties = bundled_county_polygons();
    assert_eq!(counties.len(), 90);
    let mut random = rand::rngs::StdRng::seed_from_u64(4490);
    let mut checked = 0;
    for (code, shape) in &counties {
        for (lon, lat) in interior_samples(shape, 3, &mut random) {
            for crs in Crs::ALL {
                let (given_lon, given_lat) = crs.from_wgs84(lon, lat);
                let (status, body) = reverse(
                    &app,
                    given_lon,
                    given_lat,
                    &format!("&crs={}", crs.as_str()),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                assert_eq!(
                    body["division"]["code"],
                    code.as_str(),
                    "({lon}, {lat}) given in {crs}: {body}"
                );
                assert_eq!(body["division"]["level"], "county");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 90 * 3 * 3);
}

/// The demo registry's rows that carry a point.
fn demo_points() -> Vec<(String, f64, f64)> {
    let mut reader = csv::Reader::from_reader(yizhitong::reference::EMBEDDED_DEMO_SEED);
    reader
        .records()
        .map(|record| record.expect("row"))
        .filter(|record| !record[9].is_empty())
        .map(|record| {
            (
                record[0].to_owned(),
                record[9].parse().unwrap(),
                record[10].parse().unwrap(),
            )
        })
        .collect()
}

async fn nearest_address_at_its_own_point(store: TestStore) {
    let app = TestApp::start(store).await;
    assert!(app.load_demo_registry().await > 3_000);
    let points = demo_points();
    for (source_id, lon, lat) in points.iter().step_by(97) {
        let (status, body) = reverse(&app, *lon, *lat, "&limit=100&radius=1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let addresses = body["addresses"].as_array().unwrap();
        // Rooms of one building share its point, so several addresses may sit at
        // distance 0: the registered one is among them, and nothing is nearer.
        assert_eq!(addresses[0]["distance_m"], 0.0, "{body}");
        let at_zero: Vec<&str> = addresses
            .iter()
            .take_while(|address| address["distance_m"] == 0.0)
            .map(|address| address["source_id"].as_str().unwrap())
            .collect();
        assert!(at_zero.contains(&source_id.as_str()), "{source_id}: {body}");
        let distances: Vec<f64> = addresses
            .iter()
            .map(|address| address["distance_m"].as_f64().unwrap())
            .collect();
        assert!(distances.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(distances.iter().all(|&distance| distance <= 1.0));
        // Ningbo and Huzhou county polygons are in the fixture.
        assert_eq!(body["division"]["level"], "county", "{body}");
    }
}

async fn reverse_answers_in_the_requested_crs(store: TestStore) {
    let app = TestApp::start(store).await;
    app.load_demo_registry().await;
    let (_, lon, lat) = demo_points()[0].clone();
    let (gcj_lon, gcj_lat) = Crs::Gcj02.from_wgs84(lon, lat);
    let (status, body) = reverse(&app, gcj_lon, gcj_lat, "&crs=gcj02&out_crs=bd09&limit=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["crs"], "bd09");
    let nearest = &body["addresses"][0];
    assert!(nearest["distance_m"].as_f64().unwrap() < 0.5, "{body}");
    let (bd_lon, bd_lat) = Crs::Bd09.from_wgs84(lon, lat);
    assert!((nearest["lon"].as_f64().unwrap() - bd_lon).abs() < 1e-6);
    assert!((nearest["lat"].as_f64().unwrap() - bd_lat).abs() < 1e-6);
    insta::assert_json_snapshot!("reverse_shape", body, {
        ".addresses[].distance_m" => "[distance]",
        ".addresses[].code" => "[code]",
    });
}

async fn bad_coordinates_are_refused_with_stable_codes(store: TestStore) {
    let app = TestApp::start(store).await;
    for (query, code) in [
        ("lon=121.5&lat=91", "invalid_coordinates"),
        ("lon=181&lat=29", "invalid_coordinates"),
        ("lon=NaN&lat=29", "invalid_coordinates"),
        ("lon=121.5&lat=inf", "invalid_coordinates"),
        ("lon=east&lat=29", "invalid_coordinates"),
        ("lat=29", "invalid_coordinates"),
        ("lon=121.5&lat=29&crs=mercator", "unknown_crs"),
        ("lon=121.5&lat=29&out_crs=utm", "unknown_crs"),
        ("lon=121.5&lat=29&radius=0", "radius_out_of_range"),
        ("lon=121.5&lat=29&radius=5001", "radius_out_of_range"),
        ("lon=121.5&lat=29&radius=NaN", "radius_out_of_range"),
        ("lon=121.5&lat=29&radius=far", "radius_out_of_range"),
        ("lon=121.5&lat=29&limit=0", "invalid_request"),
        ("lon=121.5&lat=29&limit=101", "invalid_request"),
    ] {
        let (status, body) = app.get(&format!("/v1/reverse?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["code"], code, "{query}: {body}");
    }
    let (_, body) = app.get("/v1/reverse?lon=1&lat=1&crs=mercator").await;
    assert_eq!(body["details"]["supported"][1], "gcj02");
    let (status, body) = app.get("/v1/geocode?q=x&out_crs=mercator").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_crs"))
    );
    // Outside every polygon: no division, and no 500.
    let (status, body) = app.get("/v1/reverse?lon=2.35&lat=48.85").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["division"], Value::Null);
    assert_eq!(body["addresses"], serde_json::json!([]));
}

async fn geocode_gives_the_registered_point_or_a_point_in_the_division(store: TestStore) {
    let app = TestApp::start(store).await;
    app.load_demo_registry().await;
    let (status, body) = app
        .get(&format!(
            "/v1/geocode?q={}",
            query_value("宁波市鄞州区玉兰东路3号")
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = &body["result"];
    assert_eq!(result["source_id"], "DEMO-000001", "{body}");
    assert_eq!(result["point_source"], "address");
    assert_eq!(
        (result["lon"].as_f64(), result["lat"].as_f64()),
        (Some(121.69169), Some(29.716915))
    );

    let (_, body) = app
        .get(&format!(
            "/v1/geocode?q={}&out_crs=gcj02",
            query_value("宁波市鄞州区玉兰东路3号")
        ))
        .await;
    let (gcj_lon, gcj_lat) = Crs::Gcj02.from_wgs84(121.69169, 29.716915);
    assert!((body["result"]["lon"].as_f64().unwrap() - gcj_lon).abs() < 1e-6);
    assert!((body["result"]["lat"].as_f64().unwrap() - gcj_lat).abs() < 1e-6);

    // Only the division is known: the point lies inside its polygon.
    let (_, body) = app
        .get(&format!(
            "/v1/geocode?q={}",
            query_value("浙江省宁波市奉化区")
        ))
        .await;
    let result = &body["result"];
    assert_eq!(result["code"], "330213000000", "{body}");
    assert_eq!(result["point_source"], "division");
    assert_eq!(result["point_division"], "330213000000");
    let (_, inside) = reverse(
        &app,
        result["lon"].as_f64().unwrap(),
        result["lat"].as_f64().unwrap(),
        "",
    )
    .await;
    assert_eq!(inside["division"]["code"], "330213000000");

    let (status, body) = app
        .get(&format!(
            "/v1/geocode?q={}&format=geojson",
            query_value("宁波市鄞州区玉兰东路3号")
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], "FeatureCollection");
    assert_eq!(
        body["features"][0]["geometry"]["coordinates"],
        serde_json::json!([121.69169, 29.716915])
    );
    assert_eq!(
        body["features"][0]["properties"]["source_id"],
        "DEMO-000001"
    );

    let (status, body) = app.get("/v1/geocode?q=%20").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, _) = app.get("/v1/geocode?q=x&format=kml").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn post_batch(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: &str,
) -> (StatusCode, String) {
    let request = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.router.clone(), request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn batches_answer_every_row_in_order(store: TestStore) {
    let app = TestApp::start(store).await;
    app.load_demo_registry().await;
    let (status, output) = post_batch(
        &app,
        "/v1/reverse/batch?lon_column=x&lat_column=y",
        "text/csv",
        "id,x,y\n1,121.691690,29.716915\n2,east,29\n3,2.35,48.85\n4,121.691018,29.717582\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(
        lines[0],
        "id,x,y,division_code,division,code,standard_address,distance_m,level,status"
    );
    assert!(
        lines[1].starts_with("1,121.691690,29.716915,330212000000,浙江省宁波市鄞州区,"),
        "{output}"
    );
    assert!(lines[1].ends_with(",0,doorplate,matched"), "{output}");
    assert_eq!(lines[2], "2,east,29,,,,,,,error:invalid_coordinates");
    assert_eq!(lines[3], "3,2.35,48.85,,,,,,,unmatched");
    assert!(lines[4].contains("玉兰东路27号"), "{output}");
    assert_eq!(lines.len(), 5);

    let (status, output) = post_batch(
        &app,
        "/v1/reverse/batch?crs=gcj02&limit=2",
        "application/x-ndjson",
        "[121.7, 29.7]\n{\"lon\": 121.69169, \"lat\": 29.716915, \"id\": 9}\n{\"lat\": 1}\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0]["input"],
        serde_json::json!({"lon": 121.7, "lat": 29.7})
    );
    assert_eq!(lines[0]["division"]["code"], "330212000000");
    assert_eq!(lines[1]["record"]["id"], 9);
    assert!(lines[1]["addresses"].as_array().unwrap().len() <= 2);
    assert_eq!(lines[2]["error"]["code"], "missing_coordinates");

    let (status, output) = post_batch(
        &app,
        "/v1/geocode/batch",
        "text/csv",
        "address\n宁波市鄞州区玉兰东路3号\n\n\"\"\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(
        lines[0],
        "address,code,standard_address,level,confidence,lon,lat,status"
    );
    assert!(
        lines[1].ends_with(",121.69169,29.716915,matched"),
        "{output}"
    );
    assert_eq!(lines[2], ",,,,,,,error:empty_address");

    let (status, body) = post_batch(&app, "/v1/reverse/batch", "text/csv", "a,b\n1,2\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = post_batch(
        &app,
        "/v1/reverse/batch?radius=9000",
        "text/csv",
        "lon,lat\n",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn division_geometry_on_request(store: TestStore) {
    let app = TestApp::start(store).await;
    let (status, body) = app.get("/v1/divisions/330212").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("geometry").is_none());
    let (_, wgs84) = app.get("/v1/divisions/330212?geometry=true").await;
    assert_eq!(wgs84["geometry"]["type"], "MultiPolygon");
    let first = &wgs84["geometry"]["coordinates"][0][0][0];
    let (_, gcj02) = app
        .get("/v1/divisions/330212?geometry=true&out_crs=gcj02")
        .await;
    let shifted = &gcj02["geometry"]["coordinates"][0][0][0];
    let expected = Crs::Gcj02.from_wgs84(first[0].as_f64().unwrap(), first[1].as_f64().unwrap());
    assert!((shifted[0].as_f64().unwrap() - expected.0).abs() < 1e-6);
    assert!((shifted[1].as_f64().unwrap() - expected.1).abs() < 1e-6);
    // A town without a polygon says so.
    let (_, town) = app.get("/v1/divisions/330212001?geometry=true").await;
    assert_eq!(town["geometry"], Value::Null);
}

async fn the_spatial_index_follows_every_write(store: TestStore) {
    use yizhitong::store::Role;
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let near = |address: &Value, lon: f64, lat: f64| {
        let code = address["code"].as_str().unwrap().to_owned();
        let app = &app;
        async move {
            let (_, body) = reverse(app, lon, lat, "&radius=5&limit=100").await;
            body["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .any(|found| found["code"] == code.as_str())
        }
    };
    let (status, created) = app
        .call(
            "POST",
            "/v1/addresses",
            Some(&editor),
            Some(serde_json::json!({
                "division_code": "330212001", "road": "天童南路", "road_no": "588号",
                "lon": 121.5486, "lat": 29.8113,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        near(&created, 121.5486, 29.8113).await,
        "found once created"
    );

    let code = created["code"].as_str().unwrap();
    let (status, moved) = app
        .call(
            "PATCH",
            &format!("/v1/addresses/{code}"),
            Some(&editor),
            Some(serde_json::json!({ "lon": 121.5586, "lat": 29.8113 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert!(
        !near(&created, 121.5486, 29.8113).await,
        "gone from the old point"
    );
    assert!(
        near(&created, 121.5586, 29.8113).await,
        "found at the new point"
    );

    let (status, retired) = app
        .call(
            "POST",
            &format!("/v1/addresses/{code}/retire"),
            Some(&editor),
            Some(serde_json::json!({ "reason": "拆迁" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retired}");
    assert!(
        !near(&created, 121.5586, 29.8113).await,
        "retired addresses are not returned"
    );
}

crate::on_both_backends!(
    the_spatial_index_follows_every_write,
    nearest_address_at_its_own_point,
    reverse_answers_in_the_requested_crs,
    bad_coordinates_are_refused_with_stable_codes,
    geocode_gives_the_registered_point_or_a_point_in_the_division,
    batches_answer_every_row_in_order,
    division_geometry_on_request,
);
