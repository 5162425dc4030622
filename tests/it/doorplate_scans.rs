//! The scan log, its statistics, the per-client limit, and replicas following plate
//! changes, on both backends.

use axum::http::{StatusCode, header};
use serde_json::json;
use yizhitong::doorplate::ScanResolution;
use yizhitong::store::Role;

use super::doorplates::{
    PHONE_USER_AGENT, issue, registered_address, scan_path, scan_request, tampered,
};
use crate::common::{TestApp, TestStore};

async fn scans_are_logged_without_addresses(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let admin = app.key(Role::Admin).await;
    let (code, _) = registered_address(&app, &editor, "20号").await;
    let plate = issue(&app, &editor, &code, "medium").await;
    let id = plate["id"].as_i64().unwrap();
    let path = scan_path(plate["url"].as_str().unwrap());
    let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Mobile";
    for (client, agent) in [
        ("203.0.113.7:1000", PHONE_USER_AGENT),
        ("203.0.113.7:1001", android),
        ("198.51.100.3:1000", android),
    ] {
        let (status, _, _) = app
            .send_raw(scan_request(&path, "text/html", client, agent))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    // A forged token belongs to no plate and is not logged against one.
    app.send_raw(scan_request(
        &tampered(&path),
        "text/html",
        "203.0.113.7:1",
        android,
    ))
    .await;

    let scans_path = format!("/v1/doorplates/{id}/scans");
    let (status, _) = app.call("GET", &scans_path, Some(&editor), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.call("GET", &scans_path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let scans = body["scans"].as_array().unwrap();
    let kinds: Vec<&str> = scans
        .iter()
        .map(|s| s["client_kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["wechat", "android", "android"]);
    assert_eq!(
        scans[0]["client_hash"], scans[1]["client_hash"],
        "one client, one day"
    );
    assert_ne!(scans[0]["client_hash"], scans[2]["client_hash"]);
    assert!(!body.to_string().contains("203.0.113") && !body.to_string().contains("198.51.100"));

    let statistics = |query: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.call(
                "GET",
                &format!("/v1/doorplates/scan-statistics{query}"),
                Some(&admin),
                None,
            )
            .await
        }
    };
    let (status, body) = statistics("").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let group = &body["groups"][0];
    assert_eq!(group["division_prefix"], "330212");
    assert_eq!(group["division"]["names"][2], "鄞州区");
    assert_eq!(
        (
            group["scans"].as_i64(),
            group["plates"].as_i64(),
            group["clients"].as_i64()
        ),
        (Some(3), Some(1), Some(2))
    );
    let (_, body) = statistics("?level=town").await;
    assert_eq!(body["groups"][0]["division_prefix"], "330212001");
    let (_, body) = statistics("?division=3305").await;
    assert_eq!(body["groups"], json!([]));
    let (_, body) = statistics("?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z").await;
    assert_eq!(body["groups"], json!([]));
    assert_eq!(statistics("?level=street").await.0, StatusCode::BAD_REQUEST);
}

/// Two replicas on one store: a revocation through one reaches the other's scans.
async fn revocations_reach_other_replicas(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let (code, _) = registered_address(&app, &editor, "40号").await;
    let plate = issue(&app, &editor, &code, "medium").await;
    let other = yizhitong::app::open_registry(&crate::common::test_config(&app.store))
        .await
        .expect("second replica opens");
    let replica = other.doorplates.clone();
    let token = plate["token"].as_str().unwrap();
    let is_current = |resolution: &ScanResolution| matches!(resolution, ScanResolution::Current(_));
    assert!(is_current(&replica.resolve(token).await.unwrap().1));

    let id = plate["id"].as_i64().unwrap();
    let (status, _) = app
        .call(
            "POST",
            &format!("/v1/doorplates/{id}/revoke"),
            Some(&editor),
            Some(json!({"reason": "门牌被盗"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The replica's own follower may have applied it already; this makes it certain.
    replica.follow_changes().await.unwrap();
    assert!(!is_current(&replica.resolve(token).await.unwrap().1));

    // A plate issued through the first replica is found by the second on first scan.
    let fresh = issue(&app, &editor, &code, "small").await;
    let resolved = replica
        .resolve(fresh["token"].as_str().unwrap())
        .await
        .unwrap();
    assert!(is_current(&resolved.1));
}

crate::on_both_backends!(
    scans_are_logged_without_addresses,
    revocations_reach_other_replicas,
);

#[tokio::test]
async fn public_scans_are_limited_per_client() {
    let app = TestApp::start_with(crate::common::sqlite(), |config| {
        config.scan_rate_per_minute = 3;
    })
    .await;
    let editor = app.key(Role::Editor).await;
    let (code, _) = registered_address(&app, &editor, "30号").await;
    let plate = issue(&app, &editor, &code, "medium").await;
    let path = scan_path(plate["url"].as_str().unwrap());
    for _ in 0..3 {
        let (status, _, _) = app
            .send_raw(scan_request(
                &path,
                "text/html",
                "203.0.113.50:1",
                PHONE_USER_AGENT,
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, body) = app
        .send_raw(scan_request(
            &path,
            "text/html",
            "203.0.113.50:2",
            PHONE_USER_AGENT,
        ))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert!(String::from_utf8(body).unwrap().contains("请稍后再试"));
    let (status, body) = app
        .send(scan_request(
            &path,
            "application/json",
            "203.0.113.50:3",
            "curl/8",
        ))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    let (status, _, _) = app
        .send_raw(scan_request(
            &path,
            "text/html",
            "198.51.100.9:1",
            PHONE_USER_AGENT,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "another client is not limited");
}
