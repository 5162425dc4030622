//! `yizhitong backup` while the service runs, and `yizhitong restore` after it stops.

use axum::http::StatusCode;
use serde_json::json;
use yizhitong::store::Role;

use crate::cli::{summary, text, yizhitong};
use crate::common::{TestApp, TestStore, postgres, sqlite};

#[tokio::test]
async fn a_backup_taken_while_serving_restores_to_exactly_that_registry() {
    let app = TestApp::start(sqlite()).await;
    let created = app.load_demo_registry().await as i64;
    assert!(created > 100);
    let editor = app.key(Role::Editor).await;
    let backup_file = app.store.data_dir.path().join("backups/registry-1.db");
    std::fs::create_dir_all(backup_file.parent().unwrap()).unwrap();

    // Writes keep going while the backup is taken.
    let writer = {
        let router = app.router.clone();
        let editor = editor.clone();
        tokio::spawn(async move {
            let mut acknowledged = 0;
            for number in 1..=20 {
                let request = axum::http::Request::builder()
                    .method("POST")
                    .uri("/v1/addresses")
                    .header("authorization", format!("Bearer {editor}"))
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(
                        json!({"division_code": "330212001000", "road": "备份测试路",
                               "road_no": format!("{number}号")})
                        .to_string(),
                    ))
                    .unwrap();
                let response = tower::ServiceExt::oneshot(router.clone(), request)
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
                acknowledged += 1;
            }
            acknowledged
        })
    };
    let output = yizhitong(&app.store, &["backup", backup_file.to_str().unwrap()]);
    let report = summary(&output);
    assert_eq!(writer.await.unwrap(), 20);
    let in_backup = report["addresses"].as_i64().unwrap();
    assert!(
        (created..=created + 20).contains(&in_backup),
        "a consistent point between the writes: {report}"
    );
    assert!(report["bytes"].as_u64().unwrap() > 0);

    let again = yizhitong(&app.store, &["backup", backup_file.to_str().unwrap()]);
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
    assert!(text(&again.stderr).contains("already exists"));

    // A restore under a running service is refused and changes nothing.
    let refused = yizhitong(&app.store, &["restore", backup_file.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("stop the service"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(
        app.registry.store().count_addresses().await.unwrap(),
        created + 20
    );
    let before = app.registry.store().registry_generation().await.unwrap();
    app.registry.store().close().await;
    let TestApp { store, .. } = app;

    let restored = summary(&yizhitong(
        &store,
        &["restore", backup_file.to_str().unwrap()],
    ));
    assert_eq!(restored["addresses"], in_backup);
    assert_ne!(restored["store_id"], before.store_id.as_str());
    let kept = std::path::PathBuf::from(restored["previous_kept_as"].as_str().unwrap());
    assert!(kept.exists(), "the replaced database is kept");

    let app = TestApp::start(store).await;
    assert_eq!(
        app.registry.store().count_addresses().await.unwrap(),
        in_backup
    );
    let (status, body) = app
        .get(&format!(
            "/v1/match?q={}",
            crate::common::query_value("宁波市鄞州区玉兰东路3号")
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["matches"][0]["level"], "doorplate", "{body}");
}

#[tokio::test]
async fn a_backup_that_is_not_one_is_refused_before_anything_changes() {
    let store = sqlite();
    let app = TestApp::start(store).await;
    app.load_demo_registry().await;
    let count = app.registry.store().count_addresses().await.unwrap();
    app.registry.store().close().await;
    let TestApp { store, .. } = app;
    let bogus = store.data_dir.path().join("not-a-backup.db");
    std::fs::write(&bogus, b"this is not a database").unwrap();
    let output = yizhitong(&store, &["restore", bogus.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("not a usable registry backup"));
    let app = TestApp::start(store).await;
    assert_eq!(app.registry.store().count_addresses().await.unwrap(), count);
}

#[tokio::test]
async fn postgres_operators_are_pointed_to_pg_dump() {
    let Some(store) = postgres().await else {
        return;
    };
    let output = yizhitong(&store, &["backup", "/tmp/never-written.db"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("pg_dump"));
    let _: &TestStore = &store;
}
