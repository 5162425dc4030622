//! Parsing and matching over HTTP: single addresses and streamed batches.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use yizhitong::registry::import::import_address_csv;
use yizhitong::store::Actor;

use crate::common::{MATCHING_REGISTRY_CSV, TestApp, TestStore, query_value};

/// The service with the matching registry loaded, and the code of each source_id.
async fn start_with_registry(store: TestStore) -> (TestApp, HashMap<String, String>) {
    let app = TestApp::start(store).await;
    let report = import_address_csv(
        &app.registry,
        MATCHING_REGISTRY_CSV.as_bytes(),
        &Actor::system(),
        |row_error| panic!("fixture row rejected: {}", row_error.message),
        |_| {},
    )
    .await
    .expect("fixture imports");
    assert_eq!(report.created, 5);
    let codes = app
        .registry
        .list(&Default::default(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|record| (record.source_id.unwrap(), record.code))
        .collect();
    (app, codes)
}

fn first_code(body: &Value) -> &str {
    body["matches"][0]["code"].as_str().unwrap_or("<no match>")
}

/// Posts a batch and returns the status, the response Content-Type and the body text.
async fn post_batch(
    app: &TestApp,
    query: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, String, String) {
    let mut request = Request::builder()
        .method("POST")
        .uri(format!("/v1/match/batch{query}"));
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = app
        .router
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).expect("UTF-8 output"),
    )
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn parse_reports_components_with_character_offsets(store: TestStore) {
    let app = TestApp::start(store).await;
    let input = "浙江省宁波市鄞州区玉兰东路3号";
    let (status, body) = app
        .get(&format!("/v1/parse?q={}", query_value(input)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["input"], input);
    let characters: Vec<char> = input.chars().collect();
    let mut labels = Vec::new();
    for component in body["components"].as_array().unwrap() {
        let start = component["start"].as_u64().unwrap() as usize;
        let end = component["end"].as_u64().unwrap() as usize;
        let text: String = characters[start..end].iter().collect();
        assert_eq!(component["text"], text.as_str(), "offsets are characters");
        labels.push(component["label"].as_str().unwrap().to_owned());
    }
    assert_eq!(labels, ["prov", "city", "district", "road", "roadno"]);
    assert_eq!(
        body["components"][3],
        json!({"label": "road", "text": "玉兰东路", "start": 9, "end": 13})
    );

    let (status, body) = app.get("/v1/parse?q=").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

async fn match_finds_the_registered_code_for_standard_and_messy_text(store: TestStore) {
    let (app, codes) = start_with_registry(store).await;
    for (input, source_id) in [
        ("浙江省宁波市鄞州区东胜街道玉兰东路3号", "DEMO-000001"),
        // Full-width digit, no province, short division names.
        ("宁波鄞州玉兰东路３号", "DEMO-000001"),
        (
            "浙江省宁波市鄞州区邱隘镇绿洲苑1幢2单元2层201室",
            "DEMO-000261",
        ),
        // 栋 for 幢, no province or city.
        ("鄞州区邱隘镇绿洲苑1栋2单元2层201室", "DEMO-000261"),
        ("浙江省湖州市德清县下渚湖街道龙溪中巷105号", "DEMO-001891"),
    ] {
        let (status, body) = app
            .get(&format!("/v1/match?q={}", query_value(input)))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["input"], input);
        assert_eq!(first_code(&body), codes[source_id], "GET {input}: {body}");

        let (status, body) = app
            .call(
                "POST",
                "/v1/match",
                None,
                Some(json!({ "address": input, "limit": 1 })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(first_code(&body), codes[source_id], "POST {input}: {body}");
        assert_eq!(body["matches"].as_array().unwrap().len(), 1);
    }

    let (_, body) = app
        .get(&format!(
            "/v1/match?q={}",
            query_value("宁波鄞州玉兰东路３号")
        ))
        .await;
    assert_eq!(body["matches"][0]["source_id"], "DEMO-000001");
    assert_eq!(body["matches"][0]["division"]["code"], "330212009000");
    insta::assert_json_snapshot!("match_messy_doorplate", body, {
        ".matches[].confidence" => "[confidence]",
    });
}

async fn match_division_filter_picks_the_county(store: TestStore) {
    let (app, codes) = start_with_registry(store).await;
    let query = query_value("中山路12号");
    for (division, source_id) in [
        ("330521", "T-DEQING"),
        ("33052100", "<invalid>"),
        ("330212", "T-YINZHOU"),
        ("330212001", "T-YINZHOU"),
    ] {
        let (status, body) = app
            .get(&format!("/v1/match?q={query}&division={division}"))
            .await;
        if source_id == "<invalid>" {
            assert_eq!(body["code"], "invalid_division_code");
            continue;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(first_code(&body), codes[source_id], "{division}: {body}");
        for answer in body["matches"].as_array().unwrap() {
            let code = answer["division"]["code"].as_str().unwrap();
            assert!(code.starts_with(division), "{division}: {answer}");
        }
    }
    let (status, body) = app
        .call(
            "POST",
            "/v1/match",
            None,
            Some(json!({ "address": "中山路12号", "division": "330521004" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(first_code(&body), codes["T-DEQING"]);
}

async fn match_rejects_bad_requests_with_stable_codes(store: TestStore) {
    let app = TestApp::start(store).await;
    let q = query_value("宁波鄞州玉兰东路3号");
    let too_long = query_value(&"路".repeat(501));
    for (path, status, code) in [
        ("/v1/match".to_owned(), 400, "invalid_request"),
        ("/v1/match?q=".to_owned(), 400, "invalid_request"),
        ("/v1/match?q=%20%20".to_owned(), 400, "invalid_request"),
        (format!("/v1/match?q={too_long}"), 400, "text_too_long"),
        (format!("/v1/parse?q={too_long}"), 400, "text_too_long"),
        (format!("/v1/match?q={q}&limit=0"), 400, "invalid_request"),
        (format!("/v1/match?q={q}&limit=51"), 400, "invalid_request"),
        (
            format!("/v1/match?q={q}&limit=many"),
            400,
            "invalid_request",
        ),
        (
            format!("/v1/match?q={q}&division=33021"),
            400,
            "invalid_division_code",
        ),
        (
            format!("/v1/match?q={q}&division=110101"),
            422,
            "unknown_division",
        ),
        // 江东区 was merged into 鄞州区: the error names the successor.
        (
            format!("/v1/match?q={q}&division=330204"),
            422,
            "division_retired",
        ),
    ] {
        let (actual_status, body) = app.get(&path).await;
        assert_eq!(
            (actual_status.as_u16(), body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
    let (_, body) = app.get(&format!("/v1/match?q={q}&division=330204")).await;
    assert_eq!(body["details"]["successor_code"], "330212000000");
    let (status, body) = app.get(&format!("/v1/match?q={q}&limit=50")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for (request, code) in [
        (json!({}), "invalid_request"),
        (json!({ "address": "" }), "invalid_request"),
        (
            json!({ "address": "玉兰东路3号", "limit": 0 }),
            "invalid_request",
        ),
        (
            json!({ "address": "玉兰东路3号", "division": "x" }),
            "invalid_division_code",
        ),
        (json!({ "address": 7 }), "invalid_json"),
    ] {
        let (status, body) = app
            .call("POST", "/v1/match", None, Some(request.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
        assert_eq!(body["code"], code, "{request}: {body}");
    }
}

async fn batch_csv_appends_answers_and_keeps_every_row_in_order(store: TestStore) {
    let (app, codes) = start_with_registry(store).await;
    let too_long = "路".repeat(501);
    let input = format!(
        "id,address,note\n\
         1,浙江省宁波市鄞州区东胜街道玉兰东路3号,standard\n\
         2,鄞州区邱隘镇绿洲苑1栋2单元2层201室,\"messy, quoted\"\n\
         3,,empty\n\
         4,xyz,nonsense\n\
         5,浙江省宁波市,division only\n\
         6,德清中山路12号\n\
         7,{too_long},long\n\
         8,宁波鄞州玉兰东路３号,last\n"
    );
    let (status, content_type, output) =
        post_batch(&app, "", Some("text/csv"), input.clone()).await;
    assert_eq!(status, StatusCode::OK, "{output}");
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let rows = csv_rows(&output);
    let input_rows = csv_rows(&input);
    assert_eq!(rows.len(), input_rows.len(), "one output row per input row");
    assert_eq!(
        rows[0],
        [
            "id",
            "address",
            "note",
            "code",
            "standard_address",
            "level",
            "confidence",
            "division_code",
            "status"
        ]
    );
    for (output_row, input_row) in rows.iter().zip(&input_rows).skip(1) {
        assert_eq!(output_row.len(), 9, "{output_row:?}");
        // Input cells come back unchanged (a ragged row is padded to the header).
        for (index, cell) in input_row.iter().enumerate() {
            assert_eq!(&output_row[index], cell);
        }
    }
    let status_of = |id: &str| {
        let row = rows.iter().find(|row| row[0] == id).unwrap();
        (row[3].as_str(), row[8].as_str())
    };
    assert_eq!(status_of("1"), (codes["DEMO-000001"].as_str(), "matched"));
    assert_eq!(status_of("2"), (codes["DEMO-000261"].as_str(), "matched"));
    assert_eq!(status_of("3"), ("", "error:empty_address"));
    assert_eq!(status_of("4"), ("", "unmatched"));
    assert_eq!(status_of("5"), ("330200000000", "division"));
    assert_eq!(status_of("6"), ("", "error:ragged_row"));
    assert_eq!(status_of("7"), ("", "error:address_too_long"));
    assert_eq!(status_of("8"), (codes["DEMO-000001"].as_str(), "matched"));
    let first = &rows[1];
    assert_eq!(first[4], "浙江省宁波市鄞州区东胜街道玉兰东路3号");
    assert_eq!(first[5], "doorplate");
    assert!(first[6].parse::<f64>().unwrap() > 0.5);
    assert_eq!(first[7], "330212009000");

    // Another column name; CRLF line ends and a byte order mark are accepted.
    let input = "\u{feff}ref,addr\r\nA,宁波鄞州玉兰东路３号\r\n";
    let (status, _, output) =
        post_batch(&app, "?column=addr", Some("text/csv"), input.to_owned()).await;
    assert_eq!(status, StatusCode::OK, "{output}");
    let rows = csv_rows(&output);
    assert_eq!(rows[0][..2], ["ref", "addr"]);
    assert_eq!(
        rows[1][2], codes["DEMO-000001"],
        "code follows the input cells"
    );
}

async fn batch_csv_reads_gbk(store: TestStore) {
    let (app, codes) = start_with_registry(store).await;
    let input = "编号,address\n1,宁波鄞州玉兰东路３号\n2,鄞州区邱隘镇绿洲苑1栋2单元2层201室\n3,\n";
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(input);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&gbk).is_err(), "really not UTF-8");
    for (query, content_type) in [
        ("", "text/csv"),
        ("", "text/csv; charset=GBK"),
        ("?charset=gb18030", "text/csv; charset=utf-8"),
    ] {
        let (status, _, output) = post_batch(&app, query, Some(content_type), gbk.to_vec()).await;
        assert_eq!(status, StatusCode::OK, "{content_type}: {output}");
        let rows = csv_rows(&output);
        assert_eq!(rows.len(), 4, "{output}");
        assert_eq!(rows[0][0], "编号", "the header comes back as UTF-8");
        assert_eq!(rows[1][1], "宁波鄞州玉兰东路３号");
        assert_eq!(rows[1][2], codes["DEMO-000001"]);
        assert_eq!(rows[2][2], codes["DEMO-000261"]);
        assert_eq!(rows[3][7], "error:empty_address");
    }
}

async fn batch_refuses_a_file_without_the_column_before_streaming(store: TestStore) {
    let app = TestApp::start(store).await;
    let (status, _, body) = post_batch(
        &app,
        "",
        Some("text/csv"),
        "id,addr\n1,宁波鄞州玉兰东路3号\n",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "invalid_request");
    assert_eq!(body["details"]["header"], json!(["id", "addr"]));
    assert_eq!(body["details"]["column"], "address");

    let (status, _, body) = post_batch(&app, "", Some("text/csv"), "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    for content_type in [
        None,
        Some("application/json"),
        Some("text/plain"),
        Some("text/csv; charset=latin1"),
    ] {
        let (status, _, body) = post_batch(&app, "", content_type, "address\nx\n").await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], "unsupported_media_type");
    }
    let (status, _, _) = post_batch(&app, "?charset=ebcdic", Some("text/csv"), "address\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = post_batch(&app, "?limit=51", Some("text/csv"), "address\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn batch_json_lines_echo_records_and_report_bad_lines(store: TestStore) {
    let (app, codes) = start_with_registry(store).await;
    let input = concat!(
        r#"{"id": 1, "address": "宁波鄞州玉兰东路３号", "tags": ["a"]}"#,
        "\n",
        r#""鄞州区邱隘镇绿洲苑1栋2单元2层201室""#,
        "\n",
        "\n",
        "{not json\n",
        r#"{"id": 5, "addr": "no address field"}"#,
        "\n",
        r#"{"id": 6, "address": ""}"#,
        "\n",
        r#"{"id": 7, "address": "中山路12号"}"#,
    );
    for content_type in ["application/x-ndjson", "application/jsonl"] {
        let (status, response_type, output) =
            post_batch(&app, "?limit=3", Some(content_type), input).await;
        assert_eq!(status, StatusCode::OK, "{output}");
        assert_eq!(response_type, content_type);
        let lines: Vec<Value> = output
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let rows: Vec<u64> = lines
            .iter()
            .map(|line| line["row"].as_u64().unwrap())
            .collect();
        assert_eq!(rows, [1, 2, 4, 5, 6, 7], "row is the input line number");
        assert_eq!(lines[0]["input"], "宁波鄞州玉兰东路３号");
        assert_eq!(
            lines[0]["matches"][0]["code"],
            codes["DEMO-000001"].as_str()
        );
        assert_eq!(lines[0]["record"], json!({"id": 1, "tags": ["a"]}));
        assert_eq!(
            lines[1]["matches"][0]["code"],
            codes["DEMO-000261"].as_str()
        );
        assert!(
            lines[1].get("record").is_none(),
            "a bare string has no record"
        );
        assert_eq!(lines[2]["error"]["code"], "invalid_json");
        assert_eq!(lines[3]["error"]["code"], "missing_address");
        assert_eq!(lines[4]["error"]["code"], "empty_address");
        assert_eq!(
            lines[5]["matches"].as_array().unwrap().len(),
            2,
            "limit applies"
        );
    }
    // By default a line carries the best answer only.
    let (_, _, output) =
        post_batch(&app, "", Some("application/x-ndjson"), "\"中山路12号\"\n").await;
    let line: Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(line["matches"].as_array().unwrap().len(), 1);
}

/// A new address is matchable as soon as it is written; a retired one answers only
/// through its successor, flagged, and without a successor not at all.
async fn match_follows_writes_and_retirements(store: TestStore) {
    let app = TestApp::start(store).await;
    let editor = app.key(yizhitong::store::Role::Editor).await;
    let create = |road_no: &str| {
        let body = json!({"division_code": "330212009000", "road": "樱花北巷", "road_no": road_no});
        let (app, editor) = (&app, &editor);
        async move {
            let (status, created) = app
                .call("POST", "/v1/addresses", Some(editor), Some(body))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            created["code"].as_str().unwrap().to_owned()
        }
    };
    let best = |text: &str| {
        let path = format!("/v1/match?q={}", query_value(text));
        let app = &app;
        async move { app.get(&path).await.1["matches"][0].clone() }
    };

    let old = create("8号").await;
    assert_eq!(best("鄞州区樱花北巷8号").await["code"], old.as_str());

    let successor = create("8-1号").await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/v1/addresses/{old}/retire"),
            Some(&editor),
            Some(json!({"reason": "门牌整顿", "successor_code": successor})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer = best("鄞州区樱花北巷8号").await;
    assert_eq!(answer["code"], successor.as_str(), "{answer}");
    assert_eq!(answer["replaces"], old.as_str(), "{answer}");

    let lone = create("10号").await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/v1/addresses/{lone}/retire"),
            Some(&editor),
            Some(json!({"reason": "拆除"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer = best("鄞州区樱花北巷10号").await;
    assert_ne!(answer["code"], lone.as_str(), "{answer}");
    assert!(answer.get("replaces").is_none(), "{answer}");
}

crate::on_both_backends!(
    match_follows_writes_and_retirements,
    parse_reports_components_with_character_offsets,
    match_finds_the_registered_code_for_standard_and_messy_text,
    match_division_filter_picks_the_county,
    match_rejects_bad_requests_with_stable_codes,
    batch_csv_appends_answers_and_keeps_every_row_in_order,
    batch_csv_reads_gbk,
    batch_refuses_a_file_without_the_column_before_streaming,
    batch_json_lines_echo_records_and_report_bad_lines,
);

/// A batch far larger than the JSON body limit streams through, row for row.
#[tokio::test]
async fn batch_is_not_held_to_the_json_body_limit() {
    let app = TestApp::start_with(crate::common::sqlite(), |config| {
        config.max_json_body_bytes = 1024;
    })
    .await;
    let mut input = String::from("id,address\n");
    for row in 0..3000 {
        input.push_str(&format!("{row},宁波市鄞州区玉兰东路{}号\n", row % 200 + 1));
    }
    assert!(input.len() > 100 * 1024);
    // A streamed body, in small chunks, as a client upload arrives.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = input
        .as_bytes()
        .chunks(1000)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    let body = Body::from_stream(futures::stream::iter(chunks));
    let (status, _, output) = post_batch(&app, "", Some("text/csv"), body).await;
    assert_eq!(status, StatusCode::OK);
    let rows = csv_rows(&output);
    assert_eq!(rows.len(), 3001);
    for (index, row) in rows.iter().skip(1).enumerate() {
        assert_eq!(row[0], index.to_string(), "order preserved");
    }

    // The batch limit itself still applies.
    let app = TestApp::start_with(crate::common::sqlite(), |config| {
        config.max_batch_body_bytes = 1024;
    })
    .await;
    let (status, _, body) = post_batch(&app, "", Some("text/csv"), input).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}
