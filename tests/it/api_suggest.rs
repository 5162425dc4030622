//! Autocomplete over the demo registry.

use axum::http::StatusCode;
use serde_json::{Value, json};
use yizhitong::store::Role;

use crate::common::{TestApp, TestStore, query_value};

fn texts(body: &Value) -> Vec<String> {
    body["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn suggestions_complete_roads_numbers_and_divisions(store: TestStore) {
    let app = TestApp::start(store).await;
    assert!(app.load_demo_registry().await > 3000);

    let (status, body) = app
        .get(&format!(
            "/v1/suggest?q={}&limit=5",
            query_value("宁波市鄞州区玉兰东")
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let found = texts(&body);
    assert_eq!(found.len(), 5, "{found:?}");
    assert!(
        found.iter().all(|text| text.contains("玉兰东路")),
        "{found:?}"
    );
    assert_eq!(found[0], "浙江省宁波市鄞州区东胜街道玉兰东路3号");
    assert_eq!(body["suggestions"][0]["kind"], "address");
    assert_eq!(body["suggestions"][0]["level"], "doorplate");

    // A typed number narrows the doorplates.
    let (_, body) = app
        .get(&format!("/v1/suggest?q={}", query_value("鄞州区玉兰东路2")))
        .await;
    let found = texts(&body);
    assert!(!found.is_empty());
    assert!(
        found.iter().all(|text| text.contains("玉兰东路2")),
        "{found:?}"
    );

    // An unfinished division name completes to divisions under what is named.
    let (_, body) = app
        .get(&format!("/v1/suggest?q={}", query_value("宁波市鄞")))
        .await;
    let first = &body["suggestions"][0];
    assert_eq!(first["kind"], "division", "{body}");
    assert_eq!(first["code"], "330212000000");
    assert_eq!(first["text"], "浙江省宁波市鄞州区");
}

async fn suggestions_see_a_new_address_at_once(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let (status, created) = app
        .call(
            "POST",
            "/v1/addresses",
            Some(&editor),
            Some(json!({"division_code": "330212009000", "road": "樱花北巷", "road_no": "8号"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, body) = app
        .get(&format!("/v1/suggest?q={}", query_value("鄞州樱花北")))
        .await;
    assert_eq!(body["suggestions"][0]["code"], created["code"], "{body}");
}

async fn suggest_rejects_bad_parameters(store: TestStore) {
    let app = TestApp::start(store).await;
    for (path, code) in [
        ("/v1/suggest?q=", "invalid_request"),
        ("/v1/suggest", "invalid_request"),
        ("/v1/suggest?q=%E5%AE%81&limit=0", "invalid_request"),
        ("/v1/suggest?q=%E5%AE%81&limit=51", "page_size_too_large"),
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}");
    }
    let long = query_value(&"路".repeat(201));
    let (status, body) = app.get(&format!("/v1/suggest?q={long}")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("text_too_long"))
    );
    assert_eq!(body["details"]["maximum"], 200);
}

crate::on_both_backends!(
    suggestions_complete_roads_numbers_and_divisions,
    suggestions_see_a_new_address_at_once,
    suggest_rejects_bad_parameters,
);
