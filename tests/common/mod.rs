//! Starts the service in-process on a fresh store of either backend.
//!
//! PostGIS tests connect to `YZT_TEST_POSTGRES_URL` (default: the local server the
//! README describes) and create a database per test. Without a reachable PostGIS they
//! are skipped with a message, except under `CI=true`, where that is a failure.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::Connection;
use tempfile::TempDir;
use tower::ServiceExt;
use yizhitong::api::{AppState, router};
use yizhitong::app::open_registry;
use yizhitong::config::Config;
use yizhitong::registry::Registry;
use yizhitong::store::Role;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// A file of the shared research data (`../shared/data/<relative>`), or `None` with a
/// `SKIPPED` message when it is absent; under CI=true its absence is a failure.
pub fn shared_data_file(relative: &str, purpose: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(relative);
    if path.exists() {
        return Some(path);
    }
    assert!(
        !in_ci(),
        "CI=true but {} is missing: {purpose} must run in CI",
        path.display()
    );
    eprintln!(
        "SKIPPED: {} not found; {purpose} needs the shared research data",
        path.display()
    );
    None
}

/// Whether the environment demands every backend (CI) rather than skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// A store for one test: a temporary data directory and, for PostGIS, a database that
/// is dropped when the test ends.
pub struct TestStore {
    pub url: String,
    pub data_dir: TempDir,
    pub backend: &'static str,
    database: Option<PostgresDatabase>,
}

pub fn sqlite() -> TestStore {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", data_dir.path().join("registry.db").display());
    TestStore {
        url,
        data_dir,
        backend: "sqlite",
        database: None,
    }
}

fn postgres_admin_url() -> String {
    std::env::var("YZT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// A fresh PostGIS database, or `None` (with a message) when there is none outside CI.
pub async fn postgres() -> Option<TestStore> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let admin_url = postgres_admin_url();
    let name = format!(
        "yzt_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let created = async {
        let mut admin = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::PgConnection::connect(&admin_url),
        )
        .await
        .map_err(|_| "timed out connecting".to_owned())?
        .map_err(|error| error.to_string())?;
        let postgis: Option<String> = sqlx::query_scalar(
            "SELECT name::text FROM pg_available_extensions WHERE name = 'postgis'",
        )
        .fetch_optional(&mut admin)
        .await
        .map_err(|error| error.to_string())?;
        if postgis.is_none() {
            return Err("the PostGIS extension is not installed".to_owned());
        }
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .map_err(|error| error.to_string())?;
        Ok::<_, String>(())
    }
    .await;
    match created {
        Ok(()) => {
            let url = replace_database(&admin_url, &name);
            let data_dir = tempfile::tempdir().expect("temporary directory");
            let database = PostgresDatabase { admin_url, name };
            Some(TestStore {
                url,
                data_dir,
                backend: "postgres",
                database: Some(database),
            })
        }
        Err(reason) if in_ci() => panic!("CI=true requires PostGIS at {admin_url}: {reason}"),
        Err(reason) => {
            eprintln!(
                "SKIPPED: PostGIS test, no PostGIS at {admin_url} ({reason}); set YZT_TEST_POSTGRES_URL"
            );
            None
        }
    }
}

fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(base, query)| (base, Some(query)));
    let base = match base.rfind('/') {
        Some(slash) if slash > base.find("://").map_or(0, |scheme| scheme + 2) => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

struct PostgresDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // The test's runtime may be shutting down; drop the database from a runtime of our own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// The configuration tests run with: the small Ningbo/Huzhou reference fixture, no
/// demo registry.
pub fn test_config(store: &TestStore) -> Config {
    let mut config = Config::for_store(&store.url, store.data_dir.path());
    config.reference_data_dir = Some(fixture("reference"));
    config.load_demo_seed = false;
    config
}

/// The service, started in-process.
pub struct TestApp {
    pub router: Router,
    pub registry: Arc<Registry>,
    matcher: Arc<yizhitong::matching::MatchEngine>,
    pub geocoder: Arc<yizhitong::geocoding::Geocoder>,
    pub store: TestStore,
}

impl TestApp {
    pub async fn start(store: TestStore) -> Self {
        Self::start_with(store, |_| {}).await
    }

    pub async fn start_with(store: TestStore, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(&store);
        adjust(&mut config);
        let opened = open_registry(&config).await.expect("registry opens");
        let router = router(AppState::new(&opened, config));
        TestApp {
            router,
            matcher: opened.matcher,
            geocoder: opened.geocoder,
            registry: opened.registry,
            store,
        }
    }

    /// Imports the demo registry (seeds/demo_addresses.csv, synthetic rows in Ningbo
    /// and Huzhou) and returns how many rows were created.
    pub async fn load_demo_registry(&self) -> u64 {
        let report = yizhitong::registry::import::import_address_csv(
            &self.registry,
            yizhitong::reference::EMBEDDED_DEMO_SEED,
            &yizhitong::store::Actor::system(),
            |_| {},
            |_| {},
        )
        .await
        .expect("demo registry imports");
        report.created
    }

    pub fn matcher(&self) -> Arc<yizhitong::matching::MatchEngine> {
        self.matcher.clone()
    }

    pub async fn key(&self, role: Role) -> String {
        yizhitong::auth::create_key(self.registry.store().as_ref(), role, Some("test".into()))
            .await
            .expect("key created")
            .secret_key
    }

    /// Sends a request and returns the status and the JSON body (Null when empty,
    /// a string when the body is not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&body).unwrap())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.send(request).await
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, _, bytes) = self.send_raw(request).await;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, body)
    }

    /// Sends a request and returns the status, the headers and the raw body.
    pub async fn send_raw(
        &self,
        request: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, headers, bytes)
    }

    /// Serves the app on `listener` the way `yizhitong serve` does (with the peer
    /// address available to handlers), in the background.
    pub fn serve_on(&self, listener: tokio::net::TcpListener) {
        let service = self
            .router
            .clone()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, service).await.expect("test server");
        });
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, None, None).await
    }
}

/// Runs each named async test body (taking a `TestStore`) once per backend:
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::common::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some(store) = $crate::common::postgres().await {
                        super::$test(store).await;
                    }
                }
            )*
        }
    };
}

/// Standard addresses the matching tests register: rows of the demo seed (a road
/// doorplate, a room in a compound, a Huzhou doorplate) and one road number that
/// exists in both 鄞州区 and 德清县, for the division filter.
pub const MATCHING_REGISTRY_CSV: &str = "\
source_id,division_code,road,road_no,place,building,unit,floor,room,lon,lat
DEMO-000001,330212009000,玉兰东路,3号,,,,,,121.691690,29.716915
DEMO-000261,330212106000,,,绿洲苑,1幢,2单元,2层,201室,121.821399,29.652433
DEMO-001891,330521004000,龙溪中巷,105号,,,,,,119.981354,30.461019
T-YINZHOU,330212001000,中山路,12号,,,,,,,
T-DEQING,330521004000,中山路,12号,,,,,,,
";

/// Percent-encodes a query-string value (every byte outside the unreserved set).
pub fn query_value(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
