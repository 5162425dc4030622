//! The address lifecycle over HTTP, on both backends.

use axum::http::StatusCode;
use serde_json::{Value, json};
use yizhitong::domain::code::validate_address_code;
use yizhitong::store::Role;

use crate::common::{TestApp, TestStore};

fn draft() -> Value {
    json!({
        "division_code": "330212001",
        "road": "天童南路",
        "road_no": "五百八十八号",
        "place": "宁波文化广场",
        "building": "3栋",
        "unit": "二单元",
        "floor": "5F",
        "room": "501",
        "lon": 121.5486,
        "lat": 29.8113,
        "source_id": "GA-0001",
        "aliases": ["文化广场3号楼"]
    })
}

async fn lifecycle(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let reader = app.key(Role::Reader).await;

    // Writes need a key, and the right role.
    let (status, body) = app.call("POST", "/v1/addresses", None, Some(draft())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "missing_api_key");
    let (status, body) = app
        .call("POST", "/v1/addresses", None, Some(json!({})))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_api_key")),
        "auth before body"
    );
    let (status, body) = app
        .call("POST", "/v1/addresses", Some(&reader), Some(draft()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "insufficient_role");
    let (status, body) = app
        .call(
            "POST",
            "/v1/addresses",
            Some("yzt_000000000000_forged"),
            Some(draft()),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "invalid_api_key");

    // Create: canonical components, composed text, a valid 20-character code.
    let (status, created) = app
        .call("POST", "/v1/addresses", Some(&editor), Some(draft()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let code = created["code"].as_str().unwrap().to_owned();
    let parts = validate_address_code(&code).expect("check character is valid");
    assert_eq!(parts.division_code, "330212001000");
    assert_eq!(created["road_no"], "588号");
    assert_eq!(created["building"], "3幢");
    assert_eq!(created["unit"], "2单元");
    assert_eq!(created["floor"], "5层");
    assert_eq!(created["room"], "501室");
    assert_eq!(
        created["standard_text"],
        "浙江省宁波市鄞州区下应街道天童南路588号宁波文化广场3幢2单元5层501室"
    );
    assert_eq!(created["version"], 1);
    assert_eq!(created["status"], "active");

    // The same address again, in other spellings, is a conflict naming the existing code.
    let mut same = draft();
    same["building"] = json!("3号楼");
    same["source_id"] = json!("GA-0002");
    let (status, body) = app
        .call("POST", "/v1/addresses", Some(&editor), Some(same))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "duplicate_address");
    assert_eq!(body["details"]["existing_code"], code.as_str());

    let (status, fetched) = app.get(&format!("/v1/addresses/{code}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);

    // Patch: a new version, same code.
    let patch = json!({ "room": "502室", "aliases": [] });
    let (status, patched) = app
        .call(
            "PATCH",
            &format!("/v1/addresses/{code}"),
            Some(&editor),
            Some(patch),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["code"], code.as_str());
    assert_eq!(patched["room"], "502室");
    assert_eq!(patched["version"], 2);
    assert!(
        patched["standard_text"]
            .as_str()
            .unwrap()
            .ends_with("502室")
    );

    // Retire with a reason and a successor.
    let mut successor = draft();
    successor["room"] = json!("601");
    successor["floor"] = json!("6");
    successor["source_id"] = json!("GA-0003");
    let (status, successor) = app
        .call("POST", "/v1/addresses", Some(&editor), Some(successor))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let retire = json!({ "reason": "楼层重新编号", "successor_code": successor["code"] });
    let (status, retired) = app
        .call(
            "POST",
            &format!("/v1/addresses/{code}/retire"),
            Some(&editor),
            Some(retire),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retired}");
    assert_eq!(retired["status"], "retired");
    assert_eq!(retired["successor_code"], successor["code"]);
    assert_eq!(retired["version"], 3);

    // A retired address does not change any more.
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/v1/addresses/{code}"),
            Some(&editor),
            Some(json!({ "room": "1" })),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "address_retired");

    let (status, history) = app.get(&format!("/v1/addresses/{code}/history")).await;
    assert_eq!(status, StatusCode::OK);
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3);
    let changes: Vec<&str> = versions
        .iter()
        .map(|version| version["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["created", "updated", "retired"]);
    assert_eq!(versions[0]["record"]["room"], "501室");
    assert_eq!(versions[1]["record"]["room"], "502室");
    assert!(
        versions
            .iter()
            .all(|version| version["actor"].as_str().unwrap().starts_with("key:"))
    );

    // Every write is in the audit log, which only an admin may read.
    let (status, _) = app.call("GET", "/v1/audit", Some(&editor), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = app.key(Role::Admin).await;
    let (status, audit) = app.call("GET", "/v1/audit", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "address.created",
            "address.updated",
            "address.created",
            "address.retired"
        ]
    );
    assert_eq!(audit["entries"][1]["before"]["room"], "501室");
    assert_eq!(audit["entries"][1]["after"]["room"], "502室");
}

async fn division_rules(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;

    let mut retired_division = draft();
    retired_division["division_code"] = json!("330204");
    let (status, body) = app
        .call(
            "POST",
            "/v1/addresses",
            Some(&editor),
            Some(retired_division),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "division_retired");
    assert_eq!(body["details"]["successor_code"], "330212000000");

    let mut unknown = draft();
    unknown["division_code"] = json!("330299");
    let (status, body) = app
        .call("POST", "/v1/addresses", Some(&editor), Some(unknown))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "unknown_division");

    let mut malformed = draft();
    malformed["division_code"] = json!("33A212");
    let (status, body) = app
        .call("POST", "/v1/addresses", Some(&editor), Some(malformed))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_division_code");

    let (status, body) = app
        .call(
            "POST",
            "/v1/addresses",
            Some(&editor),
            Some(json!({ "division_code": "330212001", "room": "1" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_address");

    let mut bad_point = draft();
    bad_point["lat"] = json!(95.0);
    let (status, body) = app
        .call("POST", "/v1/addresses", Some(&editor), Some(bad_point))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_coordinates");
}

async fn malformed_requests_get_stable_errors(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/addresses")
        .header("authorization", format!("Bearer {editor}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    let (status, body) = app.send(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_json");

    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/addresses")
        .header("authorization", format!("Bearer {editor}"))
        .body(axum::body::Body::from("{}"))
        .unwrap();
    let (status, body) = app.send(request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["code"], "unsupported_media_type");

    let huge = json!({ "division_code": "330212001", "road": "路".repeat(2 * 1024 * 1024) });
    let (status, body) = app
        .call("POST", "/v1/addresses", Some(&editor), Some(huge))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["code"], "payload_too_large");

    let (status, body) = app.get("/v1/addresses/123").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_address_code");
    let (status, body) = app.get("/v1/addresses/33021200100000000010").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_address_code"))
    );
    let unknown = yizhitong::domain::code::compose_address_code("330212001000", 999).unwrap();
    let (status, body) = app.get(&format!("/v1/addresses/{unknown}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "address_not_found");
    let (status, body) = app.get("/v1/addresses?limit=5000").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "page_size_too_large");
    let (status, body) = app.get("/v1/addresses?cursor=%%%").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["code"] == "invalid_cursor" || body["code"] == "invalid_request");
    let (status, body) = app.get("/v1/addresses?limit=abc").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

async fn listing_pages_by_code(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let mut codes = Vec::new();
    for (division, number) in [
        ("330212001", 1),
        ("330212001", 2),
        ("330212002", 3),
        ("330203", 4),
        ("330212001", 5),
    ] {
        let body =
            json!({ "division_code": division, "road": "中山路", "road_no": number.to_string() });
        let (status, created) = app
            .call("POST", "/v1/addresses", Some(&editor), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        codes.push(created["code"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut path = "/v1/addresses?division=330212&limit=2".to_owned();
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["code"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/addresses?division=330212&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let mut expected: Vec<String> = codes
        .iter()
        .filter(|code| code.starts_with("330212"))
        .cloned()
        .collect();
    expected.sort();
    assert_eq!(seen, expected, "every 鄞州 address once, in code order");
    let (_, retired) = app.get("/v1/addresses?status=retired").await;
    assert_eq!(retired["addresses"].as_array().unwrap().len(), 0);
}

crate::on_both_backends!(
    lifecycle,
    division_rules,
    malformed_requests_get_stable_errors,
    listing_pages_by_code
);
