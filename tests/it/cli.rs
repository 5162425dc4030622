//! The `yizhitong` binary as operators run it, on both backends.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use yizhitong::app::open_registry;
use yizhitong::auth::{KeyVerifier, Principal};
use yizhitong::store::Role;

use crate::common::{MATCHING_REGISTRY_CSV, TestApp, TestStore, fixture, test_config};

/// The binary on `store` with the test reference data, as an operator runs it.
pub(crate) fn command(store: &TestStore, arguments: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yizhitong"));
    command
        .args(arguments)
        .args(["--db", &store.url, "--data-dir"])
        .arg(store.data_dir.path())
        .env("YZT_REFERENCE_DATA_DIR", fixture("reference"))
        .env("YZT_LOAD_DEMO_SEED", "false")
        .env_remove("YZT_DATABASE_URL")
        .env_remove("YZT_DATA_DIR");
    command
}

pub(crate) fn yizhitong(store: &TestStore, arguments: &[&str]) -> Output {
    command(store, arguments).output().expect("the binary runs")
}

/// Runs the binary with `input` on standard input.
fn yizhitong_with_stdin(store: &TestStore, arguments: &[&str], input: &[u8]) -> Output {
    let mut child = command(store, arguments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread so a large answer cannot block the write.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}

fn register_matching_addresses(store: &TestStore) {
    let path = store.data_dir.path().join("matching-registry.csv");
    std::fs::write(&path, MATCHING_REGISTRY_CSV).unwrap();
    let report = summary(&yizhitong(
        store,
        &["import", "addresses", path.to_str().unwrap()],
    ));
    assert_eq!(report["created"], 5);
}

fn json_lines(output: &Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn keys_create_prints_a_working_key_last(store: TestStore) {
    let output = yizhitong(
        &store,
        &["keys", "create", "--role", "editor", "--label", "户籍科"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let key = stdout.lines().last().expect("a line").trim().to_owned();
    assert!(key.starts_with("yzt_"), "{stdout}");

    // The command initialised the fresh store as `serve` would, and the key verifies.
    let opened = open_registry(&test_config(&store)).await.unwrap();
    assert!(
        !opened.reference_loaded,
        "reference data was loaded by the command already"
    );
    let verifier = KeyVerifier::new(opened.store.clone());
    match verifier.verify(&key).await {
        Ok(Principal::Key { role, .. }) => assert_eq!(role, Role::Editor),
        other => panic!("{other:?}"),
    }

    let output = yizhitong(&store, &["keys", "create", "--role", "superuser"]);
    assert!(!output.status.success());
}

const HEADER: &str = "source_id,division_code,road,road_no,place,building,unit,floor,room,lon,lat";

fn write_csv(store: &TestStore, name: &str, rows: &[&str]) -> std::path::PathBuf {
    let path = store.data_dir.path().join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "{HEADER}").unwrap();
    for row in rows {
        writeln!(file, "{row}").unwrap();
    }
    path
}

pub(crate) fn summary(output: &Output) -> Value {
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_str(text(&output.stdout).lines().last().unwrap()).unwrap()
}

async fn import_keeps_valid_rows_and_reports_the_rest_by_line(store: TestStore) {
    let csv = write_csv(
        &store,
        "first.csv",
        &[
            "GA-1,330212001,中山路,12,,,,,,121.55,29.81", // line 2
            "GA-2,330204,中山路,13,,,,,,121.55,29.81",    // line 3: retired division
            "GA-3,330212001005,,18号,东兴新村,3栋,2,5,501,,", // line 4
            "GA-4,330212001,中山路,十二号,,,,,,,",        // line 5: same as GA-1
            "GA-5,330212001,中山路,14,,,,,,east,29.81",   // line 6: lon not a number
            "GA-6,33021,中山路,15,,,,,,,",                // line 7: malformed code
            "GA-7,330212001,,,,3幢,,,,,",                 // line 8: no road or place
            "\"GA-8\",330213,\"惠风,西路\",8,,,,,,121.4,29.6", // line 9: quoted comma
        ],
    );
    let output = yizhitong(&store, &["import", "addresses", csv.to_str().unwrap()]);
    let report = summary(&output);
    assert_eq!(report["rows"], 8);
    assert_eq!(report["created"], 3);
    assert_eq!(report["rejected"], 5);
    let stderr = text(&output.stderr);
    for expected in [
        "line 3: [division_retired]",
        "line 5: [duplicate_address]",
        "line 6: [invalid_address]",
        "line 7: [invalid_division_code]",
        "line 8: [invalid_address]",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected} missing from:\n{stderr}"
        );
    }

    // A re-import by source_id updates instead of duplicating.
    let csv = write_csv(
        &store,
        "second.csv",
        &[
            "GA-1,330212001,中山路,12,,,,,,121.55,29.81",
            "GA-3,330212001005,,18号,东兴新村,3栋,2,6,601,,",
        ],
    );
    let report = summary(&yizhitong(
        &store,
        &["import", "addresses", csv.to_str().unwrap()],
    ));
    assert_eq!(
        (report["unchanged"].as_u64(), report["updated"].as_u64()),
        (Some(1), Some(1))
    );
    let opened = open_registry(&test_config(&store)).await.unwrap();
    assert_eq!(opened.store.count_addresses().await.unwrap(), 3);
    let listed = opened
        .registry
        .list(&Default::default(), None, 10)
        .await
        .unwrap();
    let updated = listed
        .iter()
        .find(|record| record.source_id.as_deref() == Some("GA-3"))
        .unwrap();
    assert_eq!(updated.components.room.as_deref(), Some("601室"));
    assert_eq!(updated.version, 2);
    let quoted = listed
        .iter()
        .find(|record| record.source_id.as_deref() == Some("GA-8"))
        .unwrap();
    assert_eq!(quoted.components.road.as_deref(), Some("惠风,西路"));
}

async fn import_refuses_a_file_without_the_columns(store: TestStore) {
    let path = store.data_dir.path().join("wrong.csv");
    std::fs::write(&path, "id,address\n1,宁波市鄞州区中山路1号\n").unwrap();
    let output = yizhitong(&store, &["import", "addresses", path.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("division_code"),
        "{}",
        text(&output.stderr)
    );
    let missing = yizhitong(&store, &["import", "addresses", "/nonexistent/file.csv"]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("cannot open"));
}

async fn import_divisions_and_migrate(store: TestStore) {
    let output = yizhitong(&store, &["db", "migrate"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = yizhitong(
        &store,
        &[
            "import",
            "divisions",
            fixture("reference").to_str().unwrap(),
        ],
    );
    let report = summary(&output);
    assert_eq!(report["polygons"], 15);
    let imported = report["divisions"].as_u64().unwrap();
    assert!(imported > 4000);

    // A later start on the built-in data keeps what the operator imported.
    let mut config = test_config(&store);
    config.reference_data_dir = None;
    let opened = open_registry(&config).await.unwrap();
    assert!(!opened.reference_loaded);
    assert_eq!(opened.registry.divisions().len() as u64, imported);
}

async fn parse_and_match_answer_line_for_line(store: TestStore) {
    register_matching_addresses(&store);
    let lines = json_lines(&yizhitong_with_stdin(
        &store,
        &["parse"],
        "浙江省宁波市鄞州区玉兰东路3号\n\n宁波鄞州玉兰东路３号\r\n".as_bytes(),
    ));
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["input"], "浙江省宁波市鄞州区玉兰东路3号");
    assert_eq!(
        lines[0]["components"][3],
        serde_json::json!({"label": "road", "text": "玉兰东路", "start": 9, "end": 13})
    );
    assert_eq!(lines[1], serde_json::json!({"input": "", "components": []}));
    assert_eq!(lines[2]["input"], "宁波鄞州玉兰东路３号");
    assert_eq!(lines[2]["components"][3]["text"], "３号");

    let lines = json_lines(&yizhitong_with_stdin(
        &store,
        &["match"],
        "宁波鄞州玉兰东路３号\n鄞州区邱隘镇绿洲苑1栋2单元2层201室\n\n浙江省宁波市\n".as_bytes(),
    ));
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0]["input"], "宁波鄞州玉兰东路３号");
    assert_eq!(lines[0]["matches"][0]["source_id"], "DEMO-000001");
    assert_eq!(lines[0]["matches"][0]["division"]["code"], "330212009000");
    assert_eq!(lines[1]["matches"][0]["source_id"], "DEMO-000261");
    assert_eq!(lines[1]["matches"][0]["level"], "room");
    assert_eq!(lines[2]["matches"], serde_json::json!([]));
    // With no standard address named, the best answer is the division.
    assert_eq!(lines[3]["matches"][0]["code"], "330200000000");
    assert_eq!(lines[3]["matches"][0]["division"]["code"], "330200000000");
}

async fn match_input_file_writes_the_batch_csv(store: TestStore) {
    register_matching_addresses(&store);
    let directory = store.data_dir.path();
    let input = "编号,address,备注\n1,宁波鄞州玉兰东路３号,甲\n2,,乙\n3,鄞州区邱隘镇绿洲苑1栋2单元2层201室,丙\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(input);
    let input_path = directory.join("queries-gbk.csv");
    std::fs::write(&input_path, &gbk).unwrap();
    let output_path = directory.join("answers.csv");
    let output = yizhitong(
        &store,
        &[
            "match",
            "--input",
            input_path.to_str().unwrap(),
            "--output",
            output_path.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: Value = serde_json::from_str(text(&output.stderr).lines().last().unwrap()).unwrap();
    assert_eq!(
        (
            report["rows"].as_u64(),
            report["matched"].as_u64(),
            report["errors"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(report["charset"], "gb18030");
    let answers = std::fs::read_to_string(&output_path).expect("UTF-8 output");
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(answers.as_bytes())
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert!(answers.starts_with(
        "编号,address,备注,code,standard_address,level,confidence,division_code,status\n"
    ));
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][..3], ["1", "宁波鄞州玉兰东路３号", "甲"]);
    assert_eq!(rows[0][4], "浙江省宁波市鄞州区东胜街道玉兰东路3号");
    assert_eq!(rows[0][8], "matched");
    assert_eq!(rows[1][8], "error:empty_address");
    assert_eq!(rows[2][4], "浙江省宁波市鄞州区邱隘镇绿洲苑1幢2单元2层201室");

    // JSON lines by extension, to standard output.
    let jsonl_path = directory.join("queries.jsonl");
    std::fs::write(
        &jsonl_path,
        "{\"id\": \"a\", \"addr\": \"宁波鄞州玉兰东路３号\"}\n",
    )
    .unwrap();
    let lines = json_lines(&yizhitong(
        &store,
        &[
            "match",
            "--input",
            jsonl_path.to_str().unwrap(),
            "--column",
            "addr",
        ],
    ));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["row"], 1);
    assert_eq!(lines[0]["record"]["id"], "a");
    assert_eq!(lines[0]["matches"][0]["source_id"], "DEMO-000001");

    // A wrong column fails before anything is written.
    let missing_path = directory.join("never-written.csv");
    let output = yizhitong(
        &store,
        &[
            "match",
            "--input",
            input_path.to_str().unwrap(),
            "--column",
            "地址",
            "--output",
            missing_path.to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("地址"),
        "{}",
        text(&output.stderr)
    );
    assert!(!missing_path.exists());
}

async fn compare_answers_pair_for_pair(store: TestStore) {
    let input = concat!(
        r#"{"a": "宁波市鄞州区玉兰东路3号", "b": "浙江省宁波市鄞州区玉兰东路3号"}"#,
        "\n",
        "not json\n",
        r#"{"a": "鄞州区绿洲苑1幢2单元201室", "b": "湖州市德清县武康街道英溪北路88号"}"#,
        "\n",
    );
    let lines = json_lines(&yizhitong_with_stdin(
        &store,
        &["compare"],
        input.as_bytes(),
    ));
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["verdict"], "exact", "{}", lines[0]);
    assert!(lines[0]["score"].as_f64().unwrap() > lines[2]["score"].as_f64().unwrap());
    assert_eq!(lines[1]["error"]["code"], "invalid_json");
    assert_eq!(lines[2]["verdict"], "none", "{}", lines[2]);
    assert!(
        lines[2]["diff"]
            .as_array()
            .is_some_and(|diff| !diff.is_empty())
    );
}

async fn import_boundaries_converts_checks_and_reports_each_feature(store: TestStore) {
    use yizhitong::geo::Crs;
    // A square of about 1 km around a point of 首南街道 (330212009), in GCJ-02.
    let (lon, lat) = (121.69169, 29.716915);
    let ring: Vec<[f64; 2]> = [
        (-1.0, -1.0),
        (1.0, -1.0),
        (1.0, 1.0),
        (-1.0, 1.0),
        (-1.0, -1.0),
    ]
    .iter()
    .map(|(east, north)| {
        let (x, y) = Crs::Gcj02.from_wgs84(lon + east * 0.005, lat + north * 0.005);
        [x, y]
    })
    .collect();
    let square = serde_json::json!({ "type": "Polygon", "coordinates": [ring] });
    let collection = serde_json::json!({
        "type": "FeatureCollection",
        "features": [
            { "type": "Feature", "properties": { "adcode": 330212009 }, "geometry": square },
            { "type": "Feature", "properties": { "adcode": "330212" }, "geometry": square },
            { "type": "Feature", "properties": { "adcode": "330299001" }, "geometry": square },
            { "type": "Feature", "properties": { "adcode": "330212010" },
              "geometry": { "type": "Point", "coordinates": [121.7, 29.7] } },
            { "type": "Feature", "properties": { "name": "no code" }, "geometry": square },
        ]
    });
    let file = store.data_dir.path().join("towns.geojson");
    std::fs::write(&file, collection.to_string()).unwrap();
    let output = yizhitong(
        &store,
        &[
            "import",
            "boundaries",
            file.to_str().unwrap(),
            "--level",
            "town",
            "--code-field",
            "adcode",
            "--crs",
            "gcj02",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(
        report,
        serde_json::json!({ "features": 5, "imported": 1, "rejected": 4 })
    );
    let errors = text(&output.stderr);
    for expected in [
        "feature 2: [wrong_level]",
        "feature 3: [unknown_division]",
        "feature 4: [invalid_geometry]",
        "feature 5: [missing_code]",
    ] {
        assert!(errors.contains(expected), "{expected}: {errors}");
    }

    // The next start indexes the town polygon, stored in CGCS2000: the point at the
    // square's centre is in the town, and a point outside it only in the county.
    let app = TestApp::start(store).await;
    let (_, body) = app.get(&format!("/v1/reverse?lon={lon}&lat={lat}")).await;
    assert_eq!(body["division"]["code"], "330212009000", "{body}");
    assert_eq!(body["division"]["level"], "town");
    let (_, body) = app
        .get(&format!("/v1/reverse?lon={}&lat={lat}", lon + 0.0049))
        .await;
    assert_eq!(body["division"]["code"], "330212009000", "{body}");
    let (_, body) = app
        .get(&format!("/v1/reverse?lon={}&lat={lat}", lon + 0.0052))
        .await;
    assert_eq!(body["division"]["code"], "330212000000", "{body}");

    let output = yizhitong(
        &app.store,
        &[
            "import",
            "boundaries",
            "/nonexistent.geojson",
            "--level",
            "town",
        ],
    );
    assert!(!output.status.success());
}

/// `inspect report` builds a round's report from the store without a server, stores
/// it, and writes it; the service then serves the same report.
async fn inspect_report_writes_the_stored_report(store: TestStore) {
    let app = TestApp::start(store).await;
    let line = super::inspections::inspected_line(&app).await;
    let output_path = app.store.data_dir.path().join("report.html");
    let round = line.round_id.to_string();
    let output = yizhitong(
        &app.store,
        &[
            "inspect",
            "report",
            "--round",
            &round,
            "--output",
            output_path.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let html = std::fs::read_to_string(&output_path).unwrap();
    assert!(html.contains("鄞奉线界线联合检查报告") && html.contains("<svg"));
    let (status, report) = app.get(&format!("/v1/inspections/{round}/report")).await;
    assert_eq!(
        status,
        axum::http::StatusCode::OK,
        "the command stored the report"
    );
    assert_eq!(report["summary"]["displaced"], 1);

    let output = yizhitong(
        &app.store,
        &[
            "inspect", "report", "--round", &round, "--format", "geojson",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let features = super::inspections::valid_feature_collection(&text(&output.stdout));
    assert!(features.len() > 5);

    let output = yizhitong(&app.store, &["inspect", "report", "--round", "424242"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("no inspection round 424242"));
}

crate::on_both_backends!(
    inspect_report_writes_the_stored_report,
    import_boundaries_converts_checks_and_reports_each_feature,
    compare_answers_pair_for_pair,
    parse_and_match_answer_line_for_line,
    match_input_file_writes_the_batch_csv,
    keys_create_prints_a_working_key_last,
    import_keeps_valid_rows_and_reports_the_rest_by_line,
    import_refuses_a_file_without_the_columns,
    import_divisions_and_migrate,
);

#[test]
fn an_unsupported_database_url_is_a_clear_error() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_yizhitong"))
        .args(["db", "migrate", "--db", "mysql://localhost/x", "--data-dir"])
        .arg(data_dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("unsupported database URL"),
        "{}",
        text(&output.stderr)
    );
}
