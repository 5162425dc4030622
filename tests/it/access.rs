//! Who may do what: every route of the OpenAPI document against every role, and
//! routes that take a path from the caller against traversal.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use yizhitong::store::Role;

use crate::common::{TestApp, TestStore};

/// Who may call an operation. Admin keys may do everything a role may.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Needs {
    /// Anyone, with or without a key (unless the service requires a key for reads).
    Anyone,
    /// Anyone, always, whatever the configuration: monitoring and the scan page.
    Public,
    Role(Role),
}

/// The access policy, written out: the test fails when a route is added to the API
/// without a line here, so no route is ever open by omission.
const POLICY: &[(&str, &str, Needs)] = &[
    ("GET", "/healthz", Needs::Public),
    ("GET", "/metrics", Needs::Public),
    ("GET", "/d/{token}", Needs::Public),
    ("GET", "/v1/divisions", Needs::Anyone),
    ("GET", "/v1/divisions/{code}", Needs::Anyone),
    ("GET", "/v1/divisions/{code}/children", Needs::Anyone),
    ("GET", "/v1/addresses", Needs::Anyone),
    ("POST", "/v1/addresses", Needs::Role(Role::Editor)),
    ("GET", "/v1/addresses/{code}", Needs::Anyone),
    ("PATCH", "/v1/addresses/{code}", Needs::Role(Role::Editor)),
    ("GET", "/v1/addresses/{code}/history", Needs::Anyone),
    (
        "POST",
        "/v1/addresses/{code}/retire",
        Needs::Role(Role::Editor),
    ),
    ("GET", "/v1/codes/{code}/validate", Needs::Anyone),
    ("GET", "/v1/parse", Needs::Anyone),
    ("GET", "/v1/match", Needs::Anyone),
    ("POST", "/v1/match", Needs::Anyone),
    ("POST", "/v1/match/batch", Needs::Anyone),
    ("GET", "/v1/reverse", Needs::Anyone),
    ("POST", "/v1/reverse/batch", Needs::Anyone),
    ("GET", "/v1/geocode", Needs::Anyone),
    ("POST", "/v1/geocode/batch", Needs::Anyone),
    ("GET", "/v1/suggest", Needs::Anyone),
    ("POST", "/v1/compare", Needs::Anyone),
    ("GET", "/v1/doorplates", Needs::Anyone),
    ("POST", "/v1/doorplates", Needs::Role(Role::Editor)),
    ("POST", "/v1/doorplates/batch", Needs::Role(Role::Editor)),
    ("GET", "/v1/doorplates/sheet", Needs::Anyone),
    (
        "GET",
        "/v1/doorplates/scan-statistics",
        Needs::Role(Role::Admin),
    ),
    ("GET", "/v1/doorplates/{id}", Needs::Anyone),
    (
        "POST",
        "/v1/doorplates/{id}/revoke",
        Needs::Role(Role::Editor),
    ),
    (
        "POST",
        "/v1/doorplates/{id}/replace",
        Needs::Role(Role::Editor),
    ),
    ("GET", "/v1/doorplates/{id}/qr.svg", Needs::Anyone),
    ("GET", "/v1/doorplates/{id}/qr.png", Needs::Anyone),
    ("GET", "/v1/doorplates/{id}/plate.svg", Needs::Anyone),
    ("GET", "/v1/doorplates/{id}/scans", Needs::Role(Role::Admin)),
    ("GET", "/v1/boundaries", Needs::Anyone),
    ("GET", "/v1/boundaries/{id}", Needs::Anyone),
    ("PUT", "/v1/boundaries/{id}", Needs::Role(Role::Surveyor)),
    (
        "PUT",
        "/v1/boundaries/{id}/geometry",
        Needs::Role(Role::Surveyor),
    ),
    ("GET", "/v1/boundaries/{id}/markers", Needs::Anyone),
    (
        "POST",
        "/v1/boundaries/{id}/markers",
        Needs::Role(Role::Surveyor),
    ),
    ("GET", "/v1/boundaries/{id}/markers/{number}", Needs::Anyone),
    (
        "PUT",
        "/v1/boundaries/{id}/markers/{number}",
        Needs::Role(Role::Surveyor),
    ),
    (
        "DELETE",
        "/v1/boundaries/{id}/markers/{number}",
        Needs::Role(Role::Surveyor),
    ),
    ("GET", "/v1/boundaries/{id}/inspections", Needs::Anyone),
    (
        "POST",
        "/v1/boundaries/{id}/inspections",
        Needs::Role(Role::Surveyor),
    ),
    (
        "GET",
        "/v1/boundaries/{id}/inspections/comparison",
        Needs::Anyone,
    ),
    (
        "GET",
        "/v1/boundaries/{id}/misplaced-addresses",
        Needs::Anyone,
    ),
    ("GET", "/v1/inspections/{round}", Needs::Anyone),
    ("GET", "/v1/inspections/{round}/observations", Needs::Anyone),
    (
        "POST",
        "/v1/inspections/{round}/observations",
        Needs::Role(Role::Surveyor),
    ),
    (
        "PUT",
        "/v1/inspections/{round}/tracks",
        Needs::Role(Role::Surveyor),
    ),
    (
        "PUT",
        "/v1/inspections/{round}/outlines/{county}",
        Needs::Role(Role::Surveyor),
    ),
    ("GET", "/v1/inspections/{round}/report", Needs::Anyone),
    (
        "POST",
        "/v1/inspections/{round}/report",
        Needs::Role(Role::Surveyor),
    ),
    ("GET", "/v1/audit", Needs::Role(Role::Admin)),
];

/// Placeholder values that are well-formed, so a request gets past its path and
/// reaches the access check and then the handler.
fn concrete(path: &str) -> String {
    path.replace("{code}", "33021200100000000010")
        .replace("{id}", "330212-330282")
        .replace("{number}", "1")
        .replace("{round}", "1")
        .replace("{county}", "330212")
        .replace("{token}", "not-a-token")
}

fn operations_in_the_api_document(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            operations.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    operations
}

async fn call(app: &TestApp, method: &str, path: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(concrete(path));
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let request = if matches!(method, "POST" | "PUT" | "PATCH") {
        request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
    } else {
        request.body(Body::empty())
    }
    .unwrap();
    app.send(request).await
}

fn allows(needs: Needs, role: Option<Role>) -> bool {
    match (needs, role) {
        (Needs::Anyone | Needs::Public, _) => true,
        (Needs::Role(_), None) => false,
        (Needs::Role(needed), Some(role)) => role == needed || role == Role::Admin,
    }
}

async fn every_route_against_every_role(store: TestStore) {
    let app = TestApp::start(store).await;
    let (status, document) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let documented = operations_in_the_api_document(&document);
    let in_policy: BTreeSet<(String, String)> = POLICY
        .iter()
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(
        documented, in_policy,
        "the policy table and the API document list the same operations"
    );

    let mut keys = Vec::new();
    for role in [Role::Reader, Role::Editor, Role::Surveyor, Role::Admin] {
        keys.push((Some(role), Some(app.key(role).await)));
    }
    keys.push((None, None));
    let mut cells = 0;
    for &(method, path, needs) in POLICY {
        for (role, key) in &keys {
            let (status, body) = call(&app, method, path, key.as_deref()).await;
            let who = role.map_or("anonymous", Role::as_str);
            assert!(
                !status.is_server_error(),
                "{method} {path} as {who}: {status} {body}"
            );
            if allows(needs, *role) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path} as {who} must be allowed: {status} {body}"
                );
            } else if role.is_none() {
                assert_eq!(
                    (status, body["code"].as_str()),
                    (StatusCode::UNAUTHORIZED, Some("missing_api_key")),
                    "{method} {path} as {who}"
                );
            } else {
                assert_eq!(
                    (status, body["code"].as_str()),
                    (StatusCode::FORBIDDEN, Some("insufficient_role")),
                    "{method} {path} as {who}"
                );
            }
            cells += 1;
        }
    }
    assert_eq!(cells, POLICY.len() * 5);

    // A revoked or made-up key is refused everywhere, even where no key is needed.
    for &(method, path, needs) in POLICY {
        if needs == Needs::Public {
            continue;
        }
        let (status, body) = call(&app, method, path, Some("yzt_nosuchkey_secret")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_api_key")),
            "{method} {path}"
        );
    }
}

async fn with_keys_required_only_public_routes_answer_without_one(store: TestStore) {
    let app = TestApp::start_with(store, |config| config.require_read_key = true).await;
    let reader = app.key(Role::Reader).await;
    for &(method, path, needs) in POLICY {
        let (status, body) = call(&app, method, path, None).await;
        if needs == Needs::Public {
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        } else {
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("missing_api_key")),
                "{method} {path}"
            );
        }
        if needs == Needs::Anyone {
            let (status, body) = call(&app, method, path, Some(&reader)).await;
            assert!(
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                "{method} {path} with a reader key: {status} {body}"
            );
        }
    }
}

/// Paths built to climb out of the served tree, raw and percent-encoded; none may
/// reach a file outside it.
async fn no_path_climbs_out_of_the_static_or_scan_routes(store: TestStore) {
    let app = TestApp::start(store).await;
    let secret_file = app.store.data_dir.path().join("registry.db");
    assert!(secret_file.exists());
    for prefix in ["/docs/", "/d/"] {
        for climb in [
            "../../../../etc/passwd",
            "..%2f..%2f..%2f..%2fetc%2fpasswd",
            "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "..%5c..%5c..%5cetc%5cpasswd",
            "....//....//etc/passwd",
            "%252e%252e%252fetc%252fpasswd",
            "..%c0%af..%c0%afetc%c0%afpasswd",
            "registry.db",
            "../registry.db",
        ] {
            let request = Request::builder()
                .uri(format!("{prefix}{climb}"))
                .body(Body::empty())
                .unwrap();
            let (status, _, body) = app.send_raw(request).await;
            let text = String::from_utf8_lossy(&body);
            assert!(
                status.is_client_error(),
                "{prefix}{climb}: {status} must be refused"
            );
            assert!(
                !text.contains("root:") && !text.contains("SQLite format"),
                "{prefix}{climb} leaked a file"
            );
        }
    }
}

/// The audit log and the address history refuse edits in the database itself, so not
/// even a bug or an operator with SQL access can rewrite them quietly.
async fn the_audit_log_and_history_are_append_only(store: TestStore) {
    use sqlx::Connection;

    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let draft =
        serde_json::json!({"division_code": "330212001000", "road": "审计路", "road_no": "1号"});
    let (status, created) = app
        .call("POST", "/v1/addresses", Some(&editor), Some(draft))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // The change archives version 1, so the history has a row to protect.
    let path = format!("/v1/addresses/{}", created["code"].as_str().unwrap());
    let (status, _) = app
        .call(
            "PATCH",
            &path,
            Some(&editor),
            Some(serde_json::json!({"road_no": "2号"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let statements = [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "UPDATE address_versions SET actor = 'someone else'",
        "DELETE FROM address_versions",
    ];
    for statement in statements {
        let refused = if app.store.backend == "sqlite" {
            let path = app.store.url.trim_start_matches("sqlite://");
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let mut connection = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            sqlx::query(statement)
                .execute(&mut connection)
                .await
                .is_err()
        } else {
            let mut connection = sqlx::PgConnection::connect(&app.store.url).await.unwrap();
            sqlx::query(statement)
                .execute(&mut connection)
                .await
                .is_err()
        };
        assert!(refused, "{statement} must be refused");
    }
    let (_, audit) = app
        .call("GET", "/v1/audit", Some(&app.key(Role::Admin).await), None)
        .await;
    assert!(!audit["entries"].as_array().unwrap().is_empty(), "{audit}");
}

/// A revoked key stops working on a running server once its cache entry expires; the
/// revocation is audited and listed, and secrets never are.
async fn a_revoked_key_is_refused(store: TestStore) {
    use yizhitong::auth::{KeyVerifier, Principal};

    let app = TestApp::start(store).await;
    let key = app.key(Role::Editor).await;
    let id = key.split('_').nth(1).unwrap().to_owned();
    let verifier =
        KeyVerifier::with_cache_lifetime(app.registry.store().clone(), std::time::Duration::ZERO);
    assert!(matches!(
        verifier.verify(&key).await,
        Ok(Principal::Key { .. })
    ));

    let output = crate::cli::yizhitong(&app.store, &["keys", "revoke", &id]);
    assert!(
        output.status.success(),
        "{}",
        crate::cli::text(&output.stderr)
    );
    assert!(verifier.verify(&key).await.is_err(), "refused once revoked");
    let again = crate::cli::yizhitong(&app.store, &["keys", "revoke", &id]);
    assert!(!again.status.success(), "revoking twice is an error");

    let listed = crate::cli::yizhitong(&app.store, &["keys", "list"]);
    let listing = crate::cli::text(&listed.stdout);
    let line: Value = listing
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|line| line["id"] == id.as_str())
        .expect("the key is listed");
    assert!(line["revoked_at"].is_string(), "{line}");
    assert!(
        !listing.contains(key.rsplit('_').next().unwrap()),
        "no secret is listed"
    );
    let (_, audit) = app
        .call(
            "GET",
            "/v1/audit?limit=100",
            Some(&app.key(Role::Admin).await),
            None,
        )
        .await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["action"] == "api_key.revoke" && entry["entity_id"] == id.as_str()),
        "{audit}"
    );
}

crate::on_both_backends!(
    a_revoked_key_is_refused,
    every_route_against_every_role,
    with_keys_required_only_public_routes_answer_without_one,
    the_audit_log_and_history_are_append_only,
);

#[tokio::test]
async fn paths_never_climb_out() {
    no_path_climbs_out_of_the_static_or_scan_routes(crate::common::sqlite()).await;
}

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method("OPTIONS")
        .uri("/v1/match?q=x")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn browsers_may_call_only_from_the_configured_origins() {
    const ALLOWED: &str = "https://dm.mca.example.gov.cn";
    let app = TestApp::start_with(crate::common::sqlite(), |config| {
        config.cors_allowed_origins = vec![ALLOWED.to_owned()];
    })
    .await;
    let (_, headers, _) = app.send_raw(preflight(ALLOWED)).await;
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], ALLOWED);
    let (_, headers, _) = app.send_raw(preflight("https://evil.example.com")).await;
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

    let closed = TestApp::start(crate::common::sqlite()).await;
    let (_, headers, _) = closed.send_raw(preflight(ALLOWED)).await;
    assert!(
        !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "no origin is allowed unless configured"
    );
}
