//! Crash safety: the process is killed with SIGKILL in the middle of an import and in
//! the middle of concurrent writes. After a restart the store is consistent, every
//! acknowledged write is there, no row is half-written, and the index agrees.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use yizhitong::registry::import::import_batch_sizes;

use crate::cli::{command, text, yizhitong};
use crate::common::{TestApp, TestStore, query_value};

const IMPORT_ROWS: usize = 100_000;
/// Rows the import commits together (`--batch-rows`), smaller than the default so the
/// kill lands between batches of a short file.
const IMPORT_BATCH: i64 = 10_000;

fn spawn(store: &TestStore, arguments: &[&str]) -> Child {
    command(store, arguments)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs")
}

fn kill_hard(child: &mut Child) {
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    child.wait().unwrap();
}

/// A second connection to the store, for checks the API does not expose.
enum Inspector {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Inspector {
    async fn open(store: &TestStore) -> Inspector {
        if store.backend == "sqlite" {
            let path = store.url.trim_start_matches("sqlite://");
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .read_only(true);
            Inspector::Sqlite(
                sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap(),
            )
        } else {
            Inspector::Postgres(sqlx::PgConnection::connect(&store.url).await.unwrap())
        }
    }

    async fn number(&mut self, sql: &'static str) -> i64 {
        match self {
            Inspector::Sqlite(connection) => sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(connection)
                .await
                .unwrap(),
            Inspector::Postgres(connection) => sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(connection)
                .await
                .unwrap(),
        }
    }

    /// Rows in the store, or 0 before the import has created its tables.
    async fn addresses_so_far(&mut self) -> i64 {
        let sql = "SELECT count(*) FROM addresses";
        match self {
            Inspector::Sqlite(connection) => sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(connection)
                .await
                .unwrap_or(0),
            Inspector::Postgres(connection) => sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(connection)
                .await
                .unwrap_or(0),
        }
    }

    /// The invariants of the schema that a torn write would break.
    async fn assert_consistent(&mut self) {
        if let Inspector::Sqlite(connection) = self {
            let check: String = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_one(connection)
                .await
                .unwrap();
            assert_eq!(check, "ok");
        }
        let without_history = self
            .number(
                "SELECT count(*) FROM addresses a WHERE a.change_kind IS NULL AND NOT EXISTS \
                 (SELECT 1 FROM address_versions v WHERE v.code = a.code AND v.version = a.version)",
            )
            .await;
        assert_eq!(
            without_history, 0,
            "every address has its current version, in its row or archived"
        );
        let missing_archive = self
            .number(
                "SELECT count(*) FROM addresses a WHERE a.version > 1 AND NOT EXISTS \
                 (SELECT 1 FROM address_versions v WHERE v.code = a.code AND v.version = a.version - 1)",
            )
            .await;
        assert_eq!(missing_archive, 0, "every superseded version is archived");
        let orphaned = self
            .number(
                "SELECT count(*) FROM address_versions v WHERE NOT EXISTS \
                 (SELECT 1 FROM addresses a WHERE a.code = v.code AND a.version >= v.version)",
            )
            .await;
        assert_eq!(orphaned, 0, "no version exists beyond its address");
        let ahead = self
            .number(
                "SELECT count(*) FROM addresses \
                 WHERE generation > (SELECT generation FROM registry_state WHERE id = 1)",
            )
            .await;
        assert_eq!(ahead, 0, "no row is ahead of the registry's generation");
    }
}

fn write_import_file(store: &TestStore) -> std::path::PathBuf {
    let path = store.data_dir.path().join("crash-import.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(
        file,
        "source_id,division_code,road,road_no,place,building,unit,floor,room,lon,lat"
    )
    .unwrap();
    for row in 0..IMPORT_ROWS {
        let (road, number) = (row / 500, row % 500 + 1);
        writeln!(
            file,
            "CRASH-{row:06},330212001000,试{road}路,{number}号,,,,,,{:.6},{:.6}",
            121.50 + (road as f64) * 0.001,
            29.80 + (number as f64) * 0.0001,
        )
        .unwrap();
    }
    file.flush().unwrap();
    path
}

async fn killed_in_the_middle_of_an_import(store: TestStore) {
    let file = write_import_file(&store);
    let file_argument = file.to_str().unwrap();
    let batch_rows = IMPORT_BATCH.to_string();
    let mut import = spawn(
        &store,
        &[
            "import",
            "addresses",
            "--batch-rows",
            &batch_rows,
            file_argument,
        ],
    );
    let mut inspector = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    let committed_before_kill = loop {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if let Some(status) = import.try_wait().unwrap() {
            panic!("the import ended ({status}) before it could be killed");
        }
        if inspector.is_none() && store.backend == "sqlite" && !store_file_exists(&store) {
            continue;
        }
        let inspector = match &mut inspector {
            Some(inspector) => inspector,
            None => inspector.insert(Inspector::open(&store).await),
        };
        let committed = inspector.addresses_so_far().await;
        if committed >= IMPORT_BATCH {
            kill_hard(&mut import);
            break committed;
        }
        assert!(Instant::now() < deadline, "the import made no progress");
    };
    drop(inspector);

    let mut inspector = Inspector::open(&store).await;
    inspector.assert_consistent().await;
    let committed = inspector.number("SELECT count(*) FROM addresses").await;
    assert!(committed >= committed_before_kill);
    assert!(committed < IMPORT_ROWS as i64, "the kill came mid-import");
    // Batches are all or nothing: the count is where one of them ended.
    let batch_ends: Vec<i64> = import_batch_sizes(IMPORT_BATCH as usize)
        .scan(0, |end, size| {
            *end += size as i64;
            Some(*end)
        })
        .take_while(|end| *end <= IMPORT_ROWS as i64)
        .collect();
    let batches_committed = batch_ends
        .iter()
        .position(|end| *end == committed)
        .unwrap_or_else(|| panic!("{committed} rows is not the end of a batch: {batch_ends:?}"))
        + 1;
    let audit_entries = inspector
        .number("SELECT count(*) FROM audit_log WHERE action = 'address.import'")
        .await;
    assert_eq!(
        audit_entries, batches_committed as i64,
        "one audit entry per batch"
    );
    drop(inspector);
    eprintln!(
        "{}: import killed with {committed_before_kill} rows seen, {committed} committed",
        store.backend
    );

    // The index a restart builds holds exactly what the store holds.
    let app = TestApp::start(store).await;
    assert_eq!(
        app.registry.address_index().read().unwrap().len() as i64,
        committed
    );
    let store = stop(app).await;

    // Running the same import again completes it without duplicates.
    let output = yizhitong(&store, &["import", "addresses", file_argument]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut inspector = Inspector::open(&store).await;
    inspector.assert_consistent().await;
    assert_eq!(
        inspector.number("SELECT count(*) FROM addresses").await,
        IMPORT_ROWS as i64
    );
    drop(inspector);
    let app = TestApp::start(store).await;
    assert_eq!(
        app.registry.address_index().read().unwrap().len(),
        IMPORT_ROWS
    );
    let last = IMPORT_ROWS - 1;
    let (status, body) = app
        .get(&format!(
            "/v1/match?q={}",
            query_value(&format!(
                "鄞州区下应街道试{}路{}号",
                last / 500,
                last % 500 + 1
            ))
        ))
        .await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(body["matches"][0]["source_id"], format!("CRASH-{last:06}"));
}

fn store_file_exists(store: &TestStore) -> bool {
    std::path::Path::new(store.url.trim_start_matches("sqlite://")).exists()
}

async fn stop(app: TestApp) -> TestStore {
    app.registry.store().close().await;
    let TestApp { store, .. } = app;
    store
}

/// One HTTP/1.1 exchange on a fresh connection; `None` when the connection fails
/// (as it does once the server is killed).
async fn http(
    port: u16,
    method: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> Option<(u16, Value)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let body = body.to_string();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let response = String::from_utf8(response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, serde_json::from_str(body).ok()?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a client was told: the address's version and its house number at that version.
type Acknowledged = BTreeMap<String, (i64, String)>;

async fn write_until_the_server_dies(port: u16, key: String, writer: usize) -> Acknowledged {
    let mut acknowledged = Acknowledged::new();
    for number in 1.. {
        let road_no = format!("{}号", writer * 100_000 + number);
        let draft =
            json!({"division_code": "330212001000", "road": "崩溃测试路", "road_no": road_no});
        let Some((status, body)) = http(port, "POST", "/v1/addresses", &key, &draft).await else {
            break;
        };
        assert_eq!(status, 201, "{body}");
        let code = body["code"].as_str().unwrap().to_owned();
        acknowledged.insert(code.clone(), (body["version"].as_i64().unwrap(), road_no));
        // Every other address is changed once more, so updates are in flight too.
        if number % 2 == 0 {
            let changed = format!("{}号", writer * 100_000 + number + 50_000);
            let patch = json!({"expected_version": 1, "road_no": changed});
            let Some((status, body)) = http(
                port,
                "PATCH",
                &format!("/v1/addresses/{code}"),
                &key,
                &patch,
            )
            .await
            else {
                break;
            };
            assert_eq!(status, 200, "{body}");
            acknowledged.insert(code, (body["version"].as_i64().unwrap(), changed));
        }
    }
    acknowledged
}

async fn killed_in_the_middle_of_concurrent_writes(store: TestStore) {
    let output = yizhitong(&store, &["keys", "create", "--role", "editor"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let key = text(&output.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = spawn(&store, &["serve", "--listen", &listen]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the server never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let writers: Vec<_> = (1..=4)
        .map(|writer| tokio::spawn(write_until_the_server_dies(port, key.clone(), writer)))
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kill_hard(&mut server);
    let mut acknowledged = Acknowledged::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(
        acknowledged.len() >= 10,
        "writes were under way when the server died"
    );
    eprintln!(
        "{}: server killed after {} acknowledged writes",
        store.backend,
        acknowledged.len()
    );

    let mut inspector = Inspector::open(&store).await;
    inspector.assert_consistent().await;
    drop(inspector);
    let app = TestApp::start(store).await;
    let index_size = app.registry.address_index().read().unwrap().len() as i64;
    assert_eq!(
        index_size,
        app.registry.store().count_addresses().await.unwrap(),
        "the index holds what the store holds"
    );
    let mut as_told = None;
    for (code, (version, road_no)) in &acknowledged {
        let (status, body) = app.get(&format!("/v1/addresses/{code}")).await;
        assert_eq!(status.as_u16(), 200, "acknowledged {code} is lost: {body}");
        let stored_version = body["version"].as_i64().unwrap();
        // A write can commit and die before its answer is sent: one version more.
        assert!(
            stored_version == *version || stored_version == version + 1,
            "{code}: told version {version}, stored {stored_version}"
        );
        if stored_version == *version {
            assert_eq!(body["road_no"], road_no.as_str(), "{code}");
            as_told = Some((code, road_no));
        }
    }
    let (code, road_no) = as_told.expect("most addresses are as their clients were told");
    let (_, body) = app
        .get(&format!(
            "/v1/match?q={}",
            query_value(&format!("鄞州区下应街道崩溃测试路{road_no}"))
        ))
        .await;
    assert_eq!(body["matches"][0]["code"], code.as_str(), "{body}");
}

crate::on_both_backends!(
    killed_in_the_middle_of_an_import,
    killed_in_the_middle_of_concurrent_writes,
);
