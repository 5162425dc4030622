//! `/v1/compare`: are two addresses the same place?

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

use crate::common::{TestApp, TestStore};

async fn compare_gives_a_verdict_a_score_and_the_differences(store: TestStore) {
    let app = TestApp::start(store).await;
    let compare = |a: &str, b: &str| {
        let body = json!({"a": a, "b": b});
        let app = &app;
        async move { app.call("POST", "/v1/compare", None, Some(body)).await }
    };

    let (status, same) = compare("宁波鄞州玉兰东路３号", "浙江省宁波市鄞州区玉兰东路3号").await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["verdict"], "exact", "{same}");

    let (_, elsewhere) = compare(
        "鄞州区绿洲苑1幢2单元201室",
        "湖州市德清县武康街道英溪北路88号",
    )
    .await;
    assert_eq!(elsewhere["verdict"], "none", "{elsewhere}");
    assert!(same["score"].as_f64().unwrap() > elsewhere["score"].as_f64().unwrap());

    // Another building of the same compound is not the same place; the diff says why.
    let (_, building) = compare("鄞州区绿洲苑1幢2单元201室", "鄞州区绿洲苑3幢").await;
    assert_ne!(building["verdict"], "exact", "{building}");
    let diff = building["diff"].as_array().unwrap();
    assert!(
        diff.iter()
            .any(|d| d["label"] == "houseno" && d["status"] == "different"),
        "{building}"
    );
}

async fn compare_rejects_bad_requests(store: TestStore) {
    let app = TestApp::start(store).await;
    for body in [
        json!({"a": "", "b": "中山路1号"}),
        json!({"a": "中山路1号"}),
        json!({}),
    ] {
        let (status, answer) = app.call("POST", "/v1/compare", None, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["code"], "invalid_request");
    }
    let long = "路".repeat(501);
    let (status, answer) = app
        .call(
            "POST",
            "/v1/compare",
            None,
            Some(json!({"a": long, "b": "中山路1号"})),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("text_too_long"))
    );
    let request = Request::builder()
        .method("POST")
        .uri("/v1/compare")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("a=1"))
        .unwrap();
    let (status, answer) = app.send(request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    assert_eq!(answer["code"], "unsupported_media_type");
}

crate::on_both_backends!(
    compare_gives_a_verdict_a_score_and_the_differences,
    compare_rejects_bad_requests,
);
