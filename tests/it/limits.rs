//! Limits: each refusal is a 4xx with a stable code, and the service keeps answering
//! monitoring while it refuses work.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tower::ServiceExt;
use yizhitong::store::Role;

use crate::common::{TestApp, sqlite};

fn get_from(path: &str, client: &str, key: Option<&str>) -> Request<Body> {
    let peer: SocketAddr = format!("{client}:40000").parse().unwrap();
    let mut request = Request::builder().uri(path);
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let mut request = request.body(Body::empty()).unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

async fn json_of(response: Response) -> (StatusCode, Option<String>, Value) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|value| value.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        retry_after,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn send(app: &TestApp, request: Request<Body>) -> Response {
    app.router.clone().oneshot(request).await.unwrap()
}

/// A batch request whose body the test feeds (or holds back) chunk by chunk.
fn fed_batch() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, Request<Body>) {
    let (sender, receiver) = mpsc::channel(4);
    let chunks = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let request = Request::builder()
        .method("POST")
        .uri("/v1/match/batch")
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from_stream(chunks))
        .unwrap();
    (sender, request)
}

#[tokio::test]
async fn a_key_past_its_rate_is_refused_with_the_wait() {
    let app = TestApp::start_with(sqlite(), |config| {
        config.limits.rate_per_key_per_minute = 3;
    })
    .await;
    let busy = app.key(Role::Reader).await;
    let other = app.key(Role::Reader).await;
    for _ in 0..3 {
        let response = send(&app, get_from("/v1/divisions/33", "192.0.2.1", Some(&busy))).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = send(&app, get_from("/v1/divisions/33", "192.0.2.1", Some(&busy))).await;
    let (status, retry_after, body) = json_of(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(body["details"]["scope"], "key");
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!(
        (1..=20).contains(&wait),
        "a third of a minute at most: {wait}"
    );
    assert_eq!(body["details"]["retry_after_seconds"], wait);

    let response = send(
        &app,
        get_from("/v1/divisions/33", "192.0.2.1", Some(&other)),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "each key has its own budget"
    );
    let response = send(&app, get_from("/healthz", "192.0.2.1", Some(&busy))).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "health checks are never limited"
    );
}

#[tokio::test]
async fn an_anonymous_client_is_limited_by_its_address() {
    let app = TestApp::start_with(sqlite(), |config| {
        config.limits.rate_per_client_per_minute = 2;
    })
    .await;
    for _ in 0..2 {
        let response = send(&app, get_from("/v1/divisions/33", "198.51.100.7", None)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let (status, retry_after, body) =
        json_of(send(&app, get_from("/v1/divisions/33", "198.51.100.7", None)).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(body["details"]["scope"], "client");
    assert!(retry_after.is_some());

    let response = send(&app, get_from("/v1/divisions/33", "198.51.100.8", None)).await;
    assert_eq!(response.status(), StatusCode::OK, "another client");
    let key = app.key(Role::Reader).await;
    let response = send(
        &app,
        get_from("/v1/divisions/33", "198.51.100.7", Some(&key)),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a key spends its own budget"
    );
}

#[tokio::test]
async fn past_the_concurrency_limit_requests_are_refused_not_queued() {
    let app = TestApp::start_with(sqlite(), |config| {
        config.limits.max_concurrent_requests = 1;
    })
    .await;
    // A batch waits for its header before it answers, so it holds its place.
    let (feed, request) = fed_batch();
    let router = app.router.clone();
    let waiting = tokio::spawn(async move { router.oneshot(request).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (status, retry_after, body) =
        json_of(send(&app, get_from("/v1/divisions/33", "192.0.2.1", None)).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "overloaded");
    assert_eq!(retry_after.as_deref(), Some("1"));
    let response = send(&app, get_from("/healthz", "192.0.2.1", None)).await;
    assert_eq!(response.status(), StatusCode::OK);

    feed.send(Ok(Bytes::from_static("address\n宁波市鄞州区\n".as_bytes())))
        .await
        .unwrap();
    drop(feed);
    let answered = waiting.await.unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    let response = send(&app, get_from("/v1/divisions/33", "192.0.2.1", None)).await;
    assert_eq!(response.status(), StatusCode::OK, "the place is free again");
}

#[tokio::test]
async fn batches_streaming_at_once_are_limited_on_their_own() {
    let app = TestApp::start_with(sqlite(), |config| {
        config.limits.max_concurrent_batches = 1;
    })
    .await;
    let (feed, request) = fed_batch();
    // The charset is told from the first 64 KiB, so the answer starts after them.
    let opening = format!("address\n{}", "宁波市\n".repeat(7_000));
    feed.send(Ok(Bytes::from(opening))).await.unwrap();
    let streaming = send(&app, request).await;
    assert_eq!(
        streaming.status(),
        StatusCode::OK,
        "the first batch streams"
    );

    let (_second_feed, second) = fed_batch();
    let (status, _, body) = json_of(send(&app, second).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "overloaded");
    let response = send(&app, get_from("/v1/divisions/33", "192.0.2.1", None)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "other requests still run"
    );

    drop(feed);
    let output = streaming.into_body().collect().await.unwrap().to_bytes();
    assert!(output.starts_with(b"address,code"));
    // The worker leaves the gate just after its last output.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (third_feed, third) = fed_batch();
        third_feed
            .send(Ok(Bytes::from_static(b"address\n")))
            .await
            .unwrap();
        drop(third_feed);
        let status = send(&app, third).await.status();
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the batch gate never reopened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_request_past_its_time_is_stopped_with_408() {
    let app = TestApp::start_with(sqlite(), |config| {
        config.limits.request_timeout = Some(Duration::from_millis(300));
    })
    .await;
    let (_feed, request) = fed_batch();
    let started = Instant::now();
    let (status, _, body) = json_of(send(&app, request).await).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(body["code"], "request_timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_batch_past_its_row_limit_ends_with_a_row_saying_so() {
    let app = TestApp::start_with(sqlite(), |config| {
        config.limits.max_batch_rows = 2;
    })
    .await;
    let request = Request::builder()
        .method("POST")
        .uri("/v1/match/batch")
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(
            "id,address\n1,宁波市\n2,湖州市\n3,德清县\n4,鄞州区\n",
        ))
        .unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut received = Vec::new();
    let mut broken = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => received.extend_from_slice(frame.data_ref().unwrap()),
            Err(_) => {
                broken = true;
                break;
            }
        }
    }
    assert!(
        broken,
        "the transfer breaks off, so the output cannot pass for whole"
    );
    let text = String::from_utf8(received).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[3].starts_with("3,德清县,") && lines[3].ends_with(",error:batch_too_large"));
}
