//! One configuration for every command: command-line flags, then `YZT_*`
//! environment variables, then an optional TOML file, then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::store::StoreOptions;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./var";
/// 4 GiB: tens of millions of address rows, far more than any one registry holds.
pub const DEFAULT_MAX_BATCH_BODY_BYTES: u64 = 4 << 30;

/// The flags shared by every command that touches the store. clap reads the flag or,
/// failing that, the environment variable.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreArgs {
    /// Database URL: sqlite://PATH (default: a file in the data directory) or postgres://…
    #[arg(long = "db", env = "YZT_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory for the embedded database and other local state.
    #[arg(long, env = "YZT_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Optional TOML configuration file.
    #[arg(long = "config", env = "YZT_CONFIG", global = true)]
    pub config_file: Option<PathBuf>,
}

/// Settings that only have an environment variable or a file entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    require_read_key: Option<bool>,
    load_demo_seed: Option<bool>,
    reference_data_dir: Option<PathBuf>,
    cors_allowed_origins: Option<Vec<String>>,
    max_json_body_bytes: Option<usize>,
    max_batch_body_bytes: Option<u64>,
    public_base_url: Option<String>,
    doorplate_secret: Option<String>,
    scan_rate_per_minute: Option<u32>,
    trust_forwarded_for: Option<bool>,
    sqlite_cache_mib: Option<u32>,
    limits: Option<FileLimits>,
}

/// The `[limits]` table of the file; each has a `YZT_*` variable too (see [`Limits`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    request_timeout_seconds: Option<u64>,
    max_concurrent_requests: Option<usize>,
    max_concurrent_batches: Option<usize>,
    max_batch_rows: Option<u64>,
    rate_limit_per_key_per_minute: Option<u32>,
    rate_limit_per_client_per_minute: Option<u32>,
}

/// What one caller, or all of them together, may ask of the service. A request over a
/// limit gets a 4xx with a stable code (see `error.rs`) before it costs anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Time a request may take up to the head of its response (`YZT_REQUEST_TIMEOUT_SECONDS`,
    /// 0 for none); batch bodies stream on after it and are not cut.
    pub request_timeout: Option<Duration>,
    /// Requests handled at once (`YZT_MAX_CONCURRENT_REQUESTS`); more are refused.
    pub max_concurrent_requests: usize,
    /// Batches streaming at once (`YZT_MAX_CONCURRENT_BATCHES`): each holds a worker thread.
    pub max_concurrent_batches: usize,
    /// Rows one batch request may hold (`YZT_MAX_BATCH_ROWS`).
    pub max_batch_rows: u64,
    /// Requests per minute for one API key (`YZT_RATE_LIMIT_PER_KEY`, 0 for none).
    pub rate_per_key_per_minute: u32,
    /// Requests per minute for one client address without a key
    /// (`YZT_RATE_LIMIT_PER_CLIENT`, 0 for none).
    pub rate_per_client_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Some(Duration::from_secs(30)),
            max_concurrent_requests: 1024,
            max_concurrent_batches: 8,
            max_batch_rows: 10_000_000,
            rate_per_key_per_minute: 60_000,
            rate_per_client_per_minute: 6_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// When true, every `/v1` read needs at least a reader key.
    pub require_read_key: bool,
    /// Load the demo registry in `seeds/` into an empty store on first start.
    pub load_demo_seed: bool,
    /// Load reference data from this directory instead of the copy built into the binary.
    pub reference_data_dir: Option<PathBuf>,
    pub cors_allowed_origins: Vec<String>,
    pub max_json_body_bytes: usize,
    /// Upper bound on one `/v1/match/batch` upload, which is streamed rather than
    /// buffered and so is not held to `max_json_body_bytes`.
    pub max_batch_body_bytes: u64,
    /// The scheme and host printed into plate QR codes (`https://dm.example.gov.cn`);
    /// defaults to `http://` and the listen address.
    pub public_base_url: String,
    /// Secret for plate tokens; when unset one is generated on first start and kept
    /// in the store, so every replica of one registry signs alike.
    pub doorplate_secret: Option<String>,
    /// Public scans (`/d/…`) allowed per client per minute; 0 turns the limit off.
    pub scan_rate_per_minute: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// How the store is opened (`YZT_SQLITE_CACHE_MIB`).
    pub store_options: StoreOptions,
    pub limits: Limits,
}

pub const DEFAULT_SCAN_RATE_PER_MINUTE: u32 = 60;
/// Shorter secrets are refused: the plate MAC is only as strong as its key.
pub const MIN_DOORPLATE_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{name}={value:?} is not valid: {reason}")]
    Value {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// Where environment-only settings are read from; tests pass their own.
pub trait Environment {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }
}

/// A number from the environment variable `name`, else the file, else `default`.
fn number<T: FromStr>(
    environment: &dyn Environment,
    name: &'static str,
    from_file: Option<T>,
    default: T,
) -> Result<T, ConfigError> {
    match environment.get(name) {
        Some(value) => value.trim().parse().map_err(|_| ConfigError::Value {
            name,
            value,
            reason: "expected a whole number".into(),
        }),
        None => Ok(from_file.unwrap_or(default)),
    }
}

impl Limits {
    fn resolve(environment: &dyn Environment, file: FileLimits) -> Result<Self, ConfigError> {
        let default = Limits::default();
        let timeout_seconds = number(
            environment,
            "YZT_REQUEST_TIMEOUT_SECONDS",
            file.request_timeout_seconds,
            default
                .request_timeout
                .map_or(0, |timeout| timeout.as_secs()),
        )?;
        let at_least_one = |name: &'static str, value: usize| {
            if value == 0 {
                Err(ConfigError::Value {
                    name,
                    value: "0".into(),
                    reason: "must be at least 1".into(),
                })
            } else {
                Ok(value)
            }
        };
        Ok(Limits {
            request_timeout: (timeout_seconds > 0).then(|| Duration::from_secs(timeout_seconds)),
            max_concurrent_requests: at_least_one(
                "YZT_MAX_CONCURRENT_REQUESTS",
                number(
                    environment,
                    "YZT_MAX_CONCURRENT_REQUESTS",
                    file.max_concurrent_requests,
                    default.max_concurrent_requests,
                )?,
            )?,
            max_concurrent_batches: at_least_one(
                "YZT_MAX_CONCURRENT_BATCHES",
                number(
                    environment,
                    "YZT_MAX_CONCURRENT_BATCHES",
                    file.max_concurrent_batches,
                    default.max_concurrent_batches,
                )?,
            )?,
            max_batch_rows: number(
                environment,
                "YZT_MAX_BATCH_ROWS",
                file.max_batch_rows,
                default.max_batch_rows,
            )?,
            rate_per_key_per_minute: number(
                environment,
                "YZT_RATE_LIMIT_PER_KEY",
                file.rate_limit_per_key_per_minute,
                default.rate_per_key_per_minute,
            )?,
            rate_per_client_per_minute: number(
                environment,
                "YZT_RATE_LIMIT_PER_CLIENT",
                file.rate_limit_per_client_per_minute,
                default.rate_per_client_per_minute,
            )?,
        })
    }
}

fn parse_bool(name: &'static str, value: String) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Value {
            name,
            value,
            reason: "expected true or false".into(),
        }),
    }
}

impl Config {
    /// Resolves the configuration. `listen_flag` is the `--listen` of `serve`.
    pub fn resolve(
        store_args: &StoreArgs,
        listen_flag: Option<&str>,
        environment: &dyn Environment,
    ) -> Result<Self, ConfigError> {
        let file = match &store_args.config_file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = store_args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = store_args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("yizhitong.db").display()));
        let listen_text = listen_flag
            .map(str::to_owned)
            .or_else(|| environment.get("YZT_LISTEN"))
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse().map_err(|_| ConfigError::Value {
            name: "listen",
            value: listen_text.clone(),
            reason: "expected HOST:PORT, e.g. 127.0.0.1:8080".into(),
        })?;
        let require_read_key = match environment.get("YZT_REQUIRE_READ_KEY") {
            Some(value) => parse_bool("YZT_REQUIRE_READ_KEY", value)?,
            None => file.require_read_key.unwrap_or(false),
        };
        let load_demo_seed = match environment.get("YZT_LOAD_DEMO_SEED") {
            Some(value) => parse_bool("YZT_LOAD_DEMO_SEED", value)?,
            None => file.load_demo_seed.unwrap_or(true),
        };
        let reference_data_dir = environment
            .get("YZT_REFERENCE_DATA_DIR")
            .map(PathBuf::from)
            .or(file.reference_data_dir);
        let cors_allowed_origins = match environment.get("YZT_CORS_ALLOWED_ORIGINS") {
            Some(value) => value
                .split(',')
                .map(|origin| origin.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            None => file.cors_allowed_origins.unwrap_or_default(),
        };
        let max_json_body_bytes = match environment.get("YZT_MAX_JSON_BODY_BYTES") {
            Some(value) => value.parse().map_err(|_| ConfigError::Value {
                name: "YZT_MAX_JSON_BODY_BYTES",
                value,
                reason: "expected a number of bytes".into(),
            })?,
            None => file.max_json_body_bytes.unwrap_or(1024 * 1024),
        };
        let max_batch_body_bytes = match environment.get("YZT_MAX_BATCH_BODY_BYTES") {
            Some(value) => value.parse().map_err(|_| ConfigError::Value {
                name: "YZT_MAX_BATCH_BODY_BYTES",
                value,
                reason: "expected a number of bytes".into(),
            })?,
            None => file
                .max_batch_body_bytes
                .unwrap_or(DEFAULT_MAX_BATCH_BODY_BYTES),
        };
        let public_base_url = environment
            .get("YZT_PUBLIC_BASE_URL")
            .or(file.public_base_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        let public_base_url = checked_base_url(public_base_url)?;
        let doorplate_secret = environment
            .get("YZT_DOORPLATE_SECRET")
            .or(file.doorplate_secret);
        if let Some(secret) = &doorplate_secret
            && secret.len() < MIN_DOORPLATE_SECRET_BYTES
        {
            return Err(ConfigError::Value {
                name: "YZT_DOORPLATE_SECRET",
                value: "(hidden)".into(),
                reason: format!("use at least {MIN_DOORPLATE_SECRET_BYTES} characters"),
            });
        }
        let scan_rate_per_minute = match environment.get("YZT_SCAN_RATE_PER_MINUTE") {
            Some(value) => value.parse().map_err(|_| ConfigError::Value {
                name: "YZT_SCAN_RATE_PER_MINUTE",
                value,
                reason: "expected a whole number of scans".into(),
            })?,
            None => file
                .scan_rate_per_minute
                .unwrap_or(DEFAULT_SCAN_RATE_PER_MINUTE),
        };
        let trust_forwarded_for = match environment.get("YZT_TRUST_FORWARDED_FOR") {
            Some(value) => parse_bool("YZT_TRUST_FORWARDED_FOR", value)?,
            None => file.trust_forwarded_for.unwrap_or(false),
        };
        let store_options = StoreOptions {
            sqlite_cache_mib: number(
                environment,
                "YZT_SQLITE_CACHE_MIB",
                file.sqlite_cache_mib,
                StoreOptions::default().sqlite_cache_mib,
            )?,
        };
        let limits = Limits::resolve(environment, file.limits.unwrap_or_default())?;
        Ok(Config {
            database_url,
            data_dir,
            listen,
            require_read_key,
            load_demo_seed,
            reference_data_dir,
            cors_allowed_origins,
            max_json_body_bytes,
            max_batch_body_bytes,
            public_base_url,
            doorplate_secret,
            scan_rate_per_minute,
            trust_forwarded_for,
            store_options,
            limits,
        })
    }

    /// A configuration for tests and embedding: the given store URL and data directory,
    /// everything else at its default.
    pub fn for_store(database_url: &str, data_dir: &Path) -> Self {
        Config {
            database_url: database_url.to_owned(),
            data_dir: data_dir.to_owned(),
            listen: DEFAULT_LISTEN.parse().expect("default listen address"),
            require_read_key: false,
            load_demo_seed: true,
            reference_data_dir: None,
            cors_allowed_origins: Vec::new(),
            max_json_body_bytes: 1024 * 1024,
            max_batch_body_bytes: DEFAULT_MAX_BATCH_BODY_BYTES,
            public_base_url: format!("http://{DEFAULT_LISTEN}"),
            doorplate_secret: None,
            scan_rate_per_minute: DEFAULT_SCAN_RATE_PER_MINUTE,
            trust_forwarded_for: false,
            store_options: StoreOptions::default(),
            limits: Limits::default(),
        }
    }
}

/// Longer base URLs make the QR symbol on a small plate too dense to scan reliably.
const MAX_PUBLIC_BASE_URL_BYTES: usize = 64;

/// A base URL for plate QR codes: http or https, a host, no path, query or trailing slash.
fn checked_base_url(url: String) -> Result<String, ConfigError> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && !host.contains(['/', '?', '#', ' '])
                && trimmed.len() <= MAX_PUBLIC_BASE_URL_BYTES =>
        {
            Ok(trimmed.to_owned())
        }
        _ => Err(ConfigError::Value {
            name: "YZT_PUBLIC_BASE_URL",
            value: url,
            reason: format!(
                "expected http(s)://HOST[:PORT] with no path, at most {MAX_PUBLIC_BASE_URL_BYTES} bytes"
            ),
        }),
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::File {
        path: path.to_owned(),
        reason: error.to_string(),
    })?;
    toml::from_str(&text).map_err(|error| ConfigError::File {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct FakeEnvironment(HashMap<&'static str, &'static str>);

    impl Environment for FakeEnvironment {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|value| value.to_string())
        }
    }

    #[test]
    fn defaults_put_the_embedded_store_in_the_data_directory() {
        let config = Config::resolve(
            &StoreArgs::default(),
            None,
            &FakeEnvironment(HashMap::new()),
        )
        .unwrap();
        assert_eq!(config.database_url, "sqlite://./var/yizhitong.db");
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert!(!config.require_read_key);
        assert!(config.load_demo_seed);
    }

    #[test]
    fn flags_beat_environment_and_environment_beats_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("yzt.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nrequire_read_key = false\ndata_dir = \"/srv/yzt\"\n",
        )
        .unwrap();
        let arguments = StoreArgs {
            config_file: Some(file),
            ..Default::default()
        };
        let environment = FakeEnvironment(HashMap::from([("YZT_REQUIRE_READ_KEY", "true")]));
        let config = Config::resolve(&arguments, Some("127.0.0.1:7000"), &environment).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        assert!(config.require_read_key);
        assert_eq!(config.database_url, "sqlite:///srv/yzt/yizhitong.db");
    }

    #[test]
    fn plate_settings_are_checked() {
        let environment = FakeEnvironment(HashMap::from([
            ("YZT_PUBLIC_BASE_URL", "https://dm.example.cn/"),
            ("YZT_SCAN_RATE_PER_MINUTE", "0"),
        ]));
        let config = Config::resolve(&StoreArgs::default(), None, &environment).unwrap();
        assert_eq!(config.public_base_url, "https://dm.example.cn");
        assert_eq!(config.scan_rate_per_minute, 0);
        for (name, value) in [
            ("YZT_PUBLIC_BASE_URL", "dm.example.cn"),
            ("YZT_PUBLIC_BASE_URL", "https://dm.example.cn/d"),
            (
                "YZT_PUBLIC_BASE_URL",
                "https://a-very-long-host-name-that-would-make-the-plate-qr-far-too-dense.example.gov.cn",
            ),
            ("YZT_DOORPLATE_SECRET", "short"),
        ] {
            let environment = FakeEnvironment(HashMap::from([(name, value)]));
            let error = Config::resolve(&StoreArgs::default(), None, &environment).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn limits_come_from_the_environment_or_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("yzt.toml");
        std::fs::write(
            &file,
            "[limits]\nrequest_timeout_seconds = 0\nmax_batch_rows = 5000\nrate_limit_per_key_per_minute = 10\n",
        )
        .unwrap();
        let arguments = StoreArgs {
            config_file: Some(file),
            ..Default::default()
        };
        let environment = FakeEnvironment(HashMap::from([
            ("YZT_RATE_LIMIT_PER_KEY", "20"),
            ("YZT_MAX_CONCURRENT_BATCHES", "2"),
        ]));
        let limits = Config::resolve(&arguments, None, &environment)
            .unwrap()
            .limits;
        assert_eq!(limits.request_timeout, None);
        assert_eq!(limits.max_batch_rows, 5000);
        assert_eq!(limits.rate_per_key_per_minute, 20);
        assert_eq!(limits.max_concurrent_batches, 2);
        assert_eq!(
            limits.rate_per_client_per_minute,
            Limits::default().rate_per_client_per_minute
        );
        for (name, value) in [
            ("YZT_MAX_CONCURRENT_REQUESTS", "0"),
            ("YZT_MAX_BATCH_ROWS", "many"),
        ] {
            let environment = FakeEnvironment(HashMap::from([(name, value)]));
            let error = Config::resolve(&StoreArgs::default(), None, &environment).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn the_sqlite_cache_budget_comes_from_the_environment_or_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("yzt.toml");
        std::fs::write(&file, "sqlite_cache_mib = 256\n").unwrap();
        let arguments = StoreArgs {
            config_file: Some(file),
            ..Default::default()
        };
        let from_file = Config::resolve(&arguments, None, &FakeEnvironment(HashMap::new()));
        assert_eq!(from_file.unwrap().store_options.sqlite_cache_mib, 256);
        let environment = FakeEnvironment(HashMap::from([("YZT_SQLITE_CACHE_MIB", "16")]));
        let from_environment = Config::resolve(&arguments, None, &environment).unwrap();
        assert_eq!(from_environment.store_options.sqlite_cache_mib, 16);
        let environment = FakeEnvironment(HashMap::from([("YZT_SQLITE_CACHE_MIB", "lots")]));
        let error = Config::resolve(&StoreArgs::default(), None, &environment).unwrap_err();
        assert!(
            error.to_string().contains("YZT_SQLITE_CACHE_MIB"),
            "{error}"
        );
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        let environment = FakeEnvironment(HashMap::from([("YZT_REQUIRE_READ_KEY", "maybe")]));
        let error = Config::resolve(&StoreArgs::default(), None, &environment).unwrap_err();
        assert!(error.to_string().contains("YZT_REQUIRE_READ_KEY"));
        let error = Config::resolve(
            &StoreArgs::default(),
            Some("nowhere"),
            &FakeEnvironment(HashMap::new()),
        );
        assert!(error.is_err());
    }
}
