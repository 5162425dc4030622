//! Digital doorplates over HTTP, on both backends: issue, QR, the public scan,
//! forged, replaced and revoked plates, batches, printables and the scan log.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use yizhitong::domain::code::compose_address_code;
use yizhitong::store::Role;

use crate::common::{TestApp, TestStore};

pub const PHONE_USER_AGENT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49";

/// Registers an address on 天童南路 in 鄞州区 and returns (code, standard text).
pub async fn registered_address(app: &TestApp, editor: &str, road_no: &str) -> (String, String) {
    let (status, body) = app
        .call(
            "POST",
            "/v1/addresses",
            Some(editor),
            Some(json!({
                "division_code": "330212001",
                "road": "天童南路",
                "road_no": road_no,
                "lon": 121.5486,
                "lat": 29.8113,
                "source_id": format!("GA-{road_no}"),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["code"].as_str().unwrap().to_owned(),
        body["standard_text"].as_str().unwrap().to_owned(),
    )
}

pub async fn issue(app: &TestApp, editor: &str, code: &str, size: &str) -> Value {
    let (status, body) = app
        .call(
            "POST",
            "/v1/doorplates",
            Some(editor),
            Some(json!({"address_code": code, "size": size})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// A scan as a phone sends it: from a client address, with an Accept header.
pub fn scan_request(path: &str, accept: &str, client: &str, user_agent: &str) -> Request<Body> {
    let mut request = Request::get(path)
        .header(header::ACCEPT, accept)
        .header(header::USER_AGENT, user_agent)
        .body(Body::empty())
        .unwrap();
    let client: SocketAddr = client.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(client));
    request
}

async fn scan_html(app: &TestApp, path: &str) -> (StatusCode, String) {
    let (status, headers, body) = app
        .send_raw(scan_request(
            path,
            "text/html",
            "203.0.113.7:5000",
            PHONE_USER_AGENT,
        ))
        .await;
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    (status, String::from_utf8(body).unwrap())
}

async fn scan_json(app: &TestApp, path: &str) -> (StatusCode, Value) {
    app.send(scan_request(
        path,
        "application/json",
        "203.0.113.7:5000",
        "curl/8.5",
    ))
    .await
}

/// The path part of a plate URL.
pub fn scan_path(url: &str) -> String {
    let start = url.find("/d/").expect("a plate URL");
    url[start..].to_owned()
}

pub fn decode_qr_png(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    let frame = reader.next_frame(&mut pixels).expect("PNG frame");
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    let width = frame.width as usize;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, frame.height as usize, |x, y| {
            pixels[y * width + x]
        });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR symbol in the image");
    let (_, content) = grids[0].decode().expect("QR decodes");
    content
}

async fn issue_decode_and_scan(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let reader = app.key(Role::Reader).await;
    let (code, text) = registered_address(&app, &editor, "588号").await;

    let request = json!({"address_code": code, "size": "medium"});
    let (status, body) = app
        .call("POST", "/v1/doorplates", None, Some(request.clone()))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_api_key"))
    );
    let (status, body) = app
        .call("POST", "/v1/doorplates", Some(&reader), Some(request))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_role"))
    );

    let plate = issue(&app, &editor, &code, "medium").await;
    assert_eq!(plate["status"], "issued");
    assert_eq!(plate["address_code"], code.as_str());
    assert!(plate["serial"].as_str().unwrap().starts_with("330212-"));
    let token = plate["token"].as_str().unwrap();
    assert_eq!(plate["url"], format!("http://127.0.0.1:8080/d/{token}"));

    // The printed QR code carries exactly the plate URL.
    let id = plate["id"].as_i64().unwrap();
    let (status, headers, png) = app
        .send_raw(
            Request::get(format!("/v1/doorplates/{id}/qr.png"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    let url = decode_qr_png(&png);
    assert_eq!(url, plate["url"].as_str().unwrap());

    // Following it: the page shows the standard address, JSON shows the code.
    let (status, html) = scan_html(&app, &scan_path(&url)).await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        text.as_str(),
        code.as_str(),
        "有效",
        "鄞州区",
        "geo:29.811300,121.548600",
    ] {
        assert!(html.contains(expected), "page lacks {expected}: {html}");
    }
    assert!(
        !html.contains("GA-588"),
        "the caller's source id is not shown"
    );
    assert!(!html.contains("<script"), "the page needs no JavaScript");
    let (status, record) = scan_json(&app, &scan_path(&url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["address"]["code"], code.as_str());
    assert_eq!(record["address"]["address"], text.as_str());
    insta::assert_json_snapshot!("scan_record", record);

    let (status, body) = app.get(&format!("/v1/doorplates/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token"], token);
    let (status, body) = app.get("/v1/doorplates/abc").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = app.get("/v1/doorplates/999").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("doorplate_not_found"))
    );
}

/// Changes one character of the token in a plate URL.
pub fn tampered(path: &str) -> String {
    let mut characters: Vec<char> = path.chars().collect();
    let last = characters.len() - 1;
    characters[last] = if characters[last] == 'A' { 'B' } else { 'A' };
    characters.into_iter().collect()
}

async fn forged_replaced_and_revoked_plates(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let admin = app.key(Role::Admin).await;
    let (code, _) = registered_address(&app, &editor, "12号").await;
    let first = issue(&app, &editor, &code, "small").await;
    let first_path = scan_path(first["url"].as_str().unwrap());

    let forged = tampered(&first_path);
    let (status, html) = scan_html(&app, &forged).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("无效的门牌二维码"));
    let (status, body) = scan_json(&app, &forged).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("invalid_doorplate_token"))
    );
    let (status, _) = scan_json(&app, "/d/not-a-token").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Replacing issues a new token; the old one answers 410 naming the new plate.
    let first_id = first["id"].as_i64().unwrap();
    let (status, replaced) = app
        .call(
            "POST",
            &format!("/v1/doorplates/{first_id}/replace"),
            Some(&editor),
            Some(json!({"reason": "褪色"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{replaced}");
    let second = &replaced["plate"];
    assert_eq!(replaced["replaced"]["status"], "replaced");
    assert_eq!(replaced["replaced"]["replaced_by"], second["id"]);
    assert_eq!(second["replaces"], first_id);
    assert_eq!(second["size"], "small", "the size carries over");
    assert_ne!(second["token"], first["token"]);
    let (status, html) = scan_html(&app, &first_path).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("此门牌已更换"));
    assert!(html.contains(second["serial"].as_str().unwrap()));
    let (status, body) = scan_json(&app, &first_path).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::GONE, Some("doorplate_replaced"))
    );
    assert_eq!(body["details"]["current_plate"]["serial"], second["serial"]);
    assert_eq!(body["details"]["current_plate"]["url"], second["url"]);
    assert_eq!(body["details"]["address"]["code"], code.as_str());
    let second_path = scan_path(second["url"].as_str().unwrap());
    assert_eq!(scan_json(&app, &second_path).await.0, StatusCode::OK);

    // Revoking: 410 with no plate in service; a second revoke is a conflict.
    let second_id = second["id"].as_i64().unwrap();
    let revoke = format!("/v1/doorplates/{second_id}/revoke");
    let (status, body) = app
        .call(
            "POST",
            &revoke,
            Some(&editor),
            Some(json!({"reason": "  "})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = app
        .call(
            "POST",
            &revoke,
            Some(&editor),
            Some(json!({"reason": "门牌被盗"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "revoked");
    assert_eq!(body["end_reason"], "门牌被盗");
    let (status, body) = scan_json(&app, &second_path).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::GONE, Some("doorplate_revoked"))
    );
    assert_eq!(body["details"]["current_plate"], Value::Null);
    let (status, html) = scan_html(&app, &second_path).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("此门牌已注销"));
    assert!(html.contains("该地址目前没有有效门牌"));
    let (status, body) = app
        .call(
            "POST",
            &revoke,
            Some(&editor),
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("doorplate_not_current"))
    );
    assert_eq!(body["details"]["status"], "revoked");
    let (status, body) = app
        .call(
            "POST",
            &format!("/v1/doorplates/{first_id}/replace"),
            Some(&editor),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("doorplate_not_current"))
    );

    // A third plate for the address: the revoked plate's page now points to it.
    let third = issue(&app, &editor, &code, "large").await;
    let (_, body) = scan_json(&app, &second_path).await;
    assert_eq!(body["details"]["current_plate"]["serial"], third["serial"]);

    let (status, body) = app
        .get(&format!("/v1/doorplates?address_code={code}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<&str> = body["plates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|plate| plate["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["replaced", "revoked", "issued"]);

    let (_, audit) = app
        .call("GET", "/v1/audit?limit=1000", Some(&admin), None)
        .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["entity"] == "doorplate")
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "doorplate.issue",
            "doorplate.replace",
            "doorplate.issue",
            "doorplate.revoke",
            "doorplate.issue"
        ]
    );
}

async fn retired_address_shows_its_successor(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let (old_code, _) = registered_address(&app, &editor, "7号").await;
    let (new_code, new_text) = registered_address(&app, &editor, "9号").await;
    let plate = issue(&app, &editor, &old_code, "medium").await;
    let (status, body) = app
        .call(
            "POST",
            &format!("/v1/addresses/{old_code}/retire"),
            Some(&editor),
            Some(json!({"reason": "门牌整顿", "successor_code": new_code})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let path = scan_path(plate["url"].as_str().unwrap());
    let (status, html) = scan_html(&app, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("此地址已停用"));
    assert!(html.contains(&new_text) && html.contains(&new_code));
    let (_, record) = scan_json(&app, &path).await;
    assert_eq!(record["address"]["status"], "retired");
    assert_eq!(record["address"]["successor"]["code"], new_code.as_str());

    let (status, body) = app
        .call(
            "POST",
            "/v1/doorplates",
            Some(&editor),
            Some(json!({"address_code": old_code, "size": "small"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("address_retired"))
    );
    assert_eq!(body["details"]["successor_code"], new_code.as_str());
}

async fn batches_report_each_row_and_print(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(Role::Editor).await;
    let (first, _) = registered_address(&app, &editor, "1号").await;
    let (second, _) = registered_address(&app, &editor, "3号").await;
    let unregistered = compose_address_code("330212001000", 9_999_999).unwrap();
    let (status, body) = app
        .call(
            "POST",
            "/v1/doorplates/batch",
            Some(&editor),
            Some(json!({"plates": [
                {"address_code": first, "size": "large"},
                {"address_code": unregistered, "size": "small"},
                {"address_code": "123", "size": "small"},
                {"address_code": second, "size": "medium"},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["issued"].as_u64(), body["rejected"].as_u64()),
        (Some(2), Some(2))
    );
    let results = body["results"].as_array().unwrap();
    let outcomes: Vec<(&str, Option<&str>)> = results
        .iter()
        .map(|row| (row["outcome"].as_str().unwrap(), row["error_code"].as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("issued", None),
            ("rejected", Some("unknown_address")),
            ("rejected", Some("invalid_address_code")),
            ("issued", None)
        ]
    );
    let large = results[0]["plate"]["id"].as_i64().unwrap();
    let medium = results[3]["plate"]["id"].as_i64().unwrap();
    let (status, body) = app
        .call(
            "POST",
            "/v1/doorplates/batch",
            Some(&editor),
            Some(json!({"plates": []})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    let fetch = |path: String| {
        let app = &app;
        async move {
            let (status, headers, body) = app
                .send_raw(Request::get(path).body(Body::empty()).unwrap())
                .await;
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .map(|value| value.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (
                status,
                content_type,
                String::from_utf8_lossy(&body).into_owned(),
            )
        }
    };
    let (status, content_type, svg) = fetch(format!("/v1/doorplates/{large}/plate.svg")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("image/svg+xml"));
    assert!(svg.contains(r#"width="570mm" height="370mm""#));
    assert!(svg.contains("天童南路1号") && svg.contains("#0b4ea2"));
    let (_, _, qr) = fetch(format!("/v1/doorplates/{medium}/qr.svg")).await;
    assert!(
        qr.contains(r#"width="75mm""#),
        "the QR of a medium plate is 75 mm"
    );

    let (status, content_type, sheet) =
        fetch(format!("/v1/doorplates/sheet?ids={large},{medium}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"));
    assert_eq!(sheet.matches("<figure>").count(), 2);
    let (_, content_type, sheet) = fetch(format!(
        "/v1/doorplates/sheet?ids={large},{medium}&format=svg"
    ))
    .await;
    assert!(content_type.starts_with("image/svg+xml"));
    assert!(sheet.contains("570mm") && sheet.contains("270mm"));
    for (path, expected) in [
        (
            "/v1/doorplates/sheet?ids=x".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        ("/v1/doorplates/sheet".to_owned(), StatusCode::BAD_REQUEST),
        (
            format!("/v1/doorplates/sheet?ids={large}&format=pdf"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v1/doorplates/sheet?ids=424242".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/v1/doorplates/{large}/qr.png?scale=0"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_eq!(fetch(path.clone()).await.0, expected, "{path}");
    }
}

crate::on_both_backends!(
    issue_decode_and_scan,
    forged_replaced_and_revoked_plates,
    retired_address_shows_its_successor,
    batches_report_each_row_and_print,
);
