//! Divisions, code validation, documentation and metrics over HTTP.

use axum::http::StatusCode;
use serde_json::json;
use yizhitong::store::Role;

use crate::common::{TestApp, TestStore};

async fn divisions_by_code_name_and_parent(store: TestStore) {
    let app = TestApp::start(store).await;

    for code in ["330212", "330212000", "330212000000"] {
        let (status, body) = app.get(&format!("/v1/divisions/{code}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["code"], "330212000000");
        assert_eq!(body["name"], "鄞州区");
        assert_eq!(body["short_name"], "鄞州");
    }
    let (status, village) = app.get("/v1/divisions/330212001005").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(village["short_name"], "东兴社区");
    assert_eq!(village["level"], "village");
    let parents: Vec<&str> = village["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(parents, ["浙江省", "宁波市", "鄞州区", "下应街道"]);
    insta::assert_json_snapshot!("division_village", village);

    let (status, jiangdong) = app.get("/v1/divisions/330204").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jiangdong["current"], false);
    assert_eq!(jiangdong["successor_code"], "330212000000");

    let (status, children) = app.get("/v1/divisions/330212001/children").await;
    assert_eq!(status, StatusCode::OK);
    let children = children["divisions"].as_array().unwrap();
    assert!(children.iter().any(|child| child["code"] == "330212001005"));
    assert!(
        children
            .iter()
            .all(|child| child["parent_code"] == "330212001000")
    );

    let (status, found) = app.get("/v1/divisions?q=%E9%84%9E%E5%B7%9E").await; // 鄞州
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["divisions"][0]["code"], "330212000000");

    let (status, body) = app.get("/v1/divisions/9").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_division_code"))
    );
    let (status, body) = app.get("/v1/divisions/110101").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("division_not_found"))
    );
    let (status, body) = app.get("/v1/divisions?q=").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = app.get("/v1/divisions").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

async fn code_validation_is_an_answer_not_an_error(store: TestStore) {
    let app = TestApp::start(store).await;
    let code = yizhitong::domain::code::compose_address_code("330212001005", 7).unwrap();
    let (status, body) = app.get(&format!("/v1/codes/{code}/validate")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["valid"], true);
    assert_eq!(body["parts"]["division_code"], "330212001005");
    assert_eq!(body["parts"]["serial"], 7);

    let mut altered = code.into_bytes();
    altered[15] = if altered[15] == b'9' {
        b'0'
    } else {
        altered[15] + 1
    };
    let altered = String::from_utf8(altered).unwrap();
    let (status, body) = app.get(&format!("/v1/codes/{altered}/validate")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["valid"], false);
    assert_eq!(body["error"]["code"], "invalid_address_code");
}

async fn reads_can_require_a_key(store: TestStore) {
    let app = TestApp::start_with(store, |config| config.require_read_key = true).await;
    let (status, body) = app.get("/v1/divisions/330212").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_api_key"))
    );
    let reader = app.key(Role::Reader).await;
    let (status, _) = app
        .call("GET", "/v1/divisions/330212", Some(&reader), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/healthz").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "health stays open for load balancers"
    );
}

async fn service_documents_and_measures_itself(store: TestStore) {
    let app = TestApp::start(store).await;
    let (status, health) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");

    let (status, document) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/v1/addresses",
        "/v1/addresses/{code}",
        "/v1/addresses/{code}/retire",
        "/v1/divisions/{code}",
        "/v1/audit",
        "/v1/boundaries/{id}/markers/{number}",
        "/v1/boundaries/{id}/inspections/comparison",
        "/v1/inspections/{round}/report",
    ] {
        assert!(
            document["paths"].get(path).is_some(),
            "{path} is documented"
        );
    }
    // A client generated from the document must send each parameter where the server
    // reads it: a path parameter names a segment of its path, the rest go in the query
    // and only those the server needs are required.
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                let placeholder = format!("{{{name}}}");
                let expected_in = if path.contains(&placeholder) {
                    "path"
                } else {
                    "query"
                };
                assert_eq!(
                    parameter["in"], expected_in,
                    "{method} {path}: parameter {name}"
                );
            }
        }
    }
    let parse_text = &document["paths"]["/v1/parse"]["get"]["parameters"][0];
    assert_eq!(parse_text["name"], "q");
    assert_eq!(
        parse_text["required"], true,
        "the server refuses a parse without q"
    );
    assert_eq!(parse_text["schema"]["minLength"], 1);
    assert_eq!(parse_text["schema"]["maxLength"], 500);
    let match_limit = document["paths"]["/v1/match"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|parameter| parameter["name"] == "limit")
        .expect("limit is documented");
    assert_eq!(match_limit["required"], false, "limit has a default");
    assert_eq!(match_limit["schema"]["minimum"], 1);
    assert_eq!(match_limit["schema"]["maximum"], 50);

    let (status, page) = app.get("/docs/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.as_str().unwrap().contains("swagger"),
        "Swagger UI is served from the binary"
    );

    app.get("/v1/divisions/330212").await;
    let (status, metrics) = app.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains(
        "yzt_http_requests_total{method=\"GET\",route=\"/v1/divisions/{code}\",status=\"200\"} 1"
    ));
    assert!(metrics.contains("yzt_addresses 0"));
    assert!(metrics.contains("yzt_doorplate_scans_dropped 0"));

    let (status, body) = app.get("/no/such/route").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("route_not_found"))
    );
    let (status, body) = app
        .call("DELETE", "/v1/divisions/330212", None, Some(json!({})))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
}

crate::on_both_backends!(
    divisions_by_code_name_and_parent,
    code_validation_is_an_answer_not_an_error,
    reads_can_require_a_key,
    service_documents_and_measures_itself,
);
