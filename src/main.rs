//! The `yizhitong` command line. Every command that touches the store takes the same
//! `--db` and `--data-dir` as `serve` and initialises a fresh data directory the
//! same way, so none of them needs a running server.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use yizhitong::api::matching::{MatchResult, ParseResult};
use yizhitong::api::{AppState, router};
use yizhitong::app::{load_reference, open_registry};
use yizhitong::batch::{BatchFormat, BatchOptions, BatchRun, Charset};
use yizhitong::config::{Config, ProcessEnvironment, StoreArgs};
use yizhitong::domain::division::DivisionLevel;
use yizhitong::geo::{Crs, UnknownCrs};
use yizhitong::matching::batch::{DEFAULT_BATCH_LIMIT, MatchRows};
use yizhitong::matching::{DEFAULT_MATCH_LIMIT, MatchEngine, MatchOptions};
use yizhitong::reference::ReferenceSource;
use yizhitong::registry::import::{IMPORT_BATCH_ROWS, import_address_csv_in_batches};
use yizhitong::store::{Actor, Role, Store, open_store};

#[derive(Parser)]
#[command(
    name = "yizhitong",
    version,
    about = "一址通: standard place names and addresses"
)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve {
        /// Address to listen on, HOST:PORT.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Load data into the registry.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// Split addresses into labelled components: UTF-8 lines on standard input, one
    /// JSON object per line on standard output.
    Parse,
    /// Match addresses to standard codes: lines on standard input to JSON lines on
    /// standard output, or a whole CSV (or JSON-lines) file with --input.
    Match(MatchArgs),
    /// Compare address pairs: JSON lines `{"a": "...", "b": "..."}` on standard input,
    /// `{"verdict": "exact|partial|none", "score": ..., "diff": [...]}` lines out.
    Compare,
    /// Boundary inspection (界线联检) on files, offline: JSON on standard output.
    #[command(subcommand)]
    Inspect(InspectCommand),
    /// Copy the embedded store to FILE while the service keeps running (PostgreSQL:
    /// use pg_dump).
    Backup {
        /// The backup file to create; never overwritten.
        file: PathBuf,
    },
    /// Replace the embedded store with a backup made by `backup`. Stop the service
    /// first; the replaced database is kept beside the new one.
    Restore {
        /// A file made by `yizhitong backup`.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum InspectCommand {
    /// The shared boundary line of every pair of adjacent polygons, with its geodesic length.
    Lines {
        /// A GeoJSON FeatureCollection of division polygons.
        #[arg(long)]
        polygons: PathBuf,
        /// Coordinate system of the file: wgs84 (also cgcs2000), gcj02 or bd09.
        #[arg(long, default_value = "wgs84")]
        crs: String,
        /// The property holding each division's code; found among adcode,
        /// district_adcode and code when not given.
        #[arg(long)]
        code_field: Option<String>,
    },
    /// Marker displacements: registered (number,lon,lat[,type,line]) against observed
    /// (number,lon,lat,condition[,note]) CSV files.
    Markers {
        #[arg(long)]
        registered: PathBuf,
        #[arg(long)]
        observed: PathBuf,
        /// Displacement allowed before a marker is flagged, in metres.
        #[arg(long, default_value_t = yizhitong::inspection::markers::DEFAULT_MARKER_TOLERANCE_M)]
        tolerance_m: f64,
        /// Coordinate system of both files.
        #[arg(long, default_value = "wgs84")]
        crs: String,
    },
    /// Offsets of surveyed tracks (GeoJSON lines) from the official line (GeoJSON).
    Tracks {
        #[arg(long)]
        line: PathBuf,
        #[arg(long)]
        tracks: PathBuf,
        /// Coordinate system of both files.
        #[arg(long, default_value = "wgs84")]
        crs: String,
        /// Offset allowed before a track is flagged, in metres.
        #[arg(long, default_value_t = yizhitong::inspection::tracks::DEFAULT_LINE_TOLERANCE_M)]
        tolerance_m: f64,
    },
    /// Overlaps, gaps and the largest offset between two neighbours' polygons.
    Topology {
        #[arg(long)]
        a: PathBuf,
        #[arg(long)]
        b: PathBuf,
        /// Coordinate system of both files.
        #[arg(long, default_value = "wgs84")]
        crs: String,
        /// Openings narrower than twice this along the common border are gaps (metres).
        #[arg(long, default_value_t = yizhitong::inspection::topology::DEFAULT_GAP_WIDTH_M)]
        gap_width_m: f64,
    },
    /// Writes the stored report of an inspection round from the store (--db), building
    /// and storing it first when the round has none.
    Report {
        /// The round id.
        #[arg(long)]
        round: i64,
        /// Where to write the report; standard output by default.
        #[arg(long)]
        output: Option<PathBuf>,
        #[arg(long, default_value = "html", value_parser = ["html", "json", "geojson"])]
        format: String,
        /// Build the report afresh from the register as it stands, replacing the stored one.
        #[arg(long)]
        rebuild: bool,
    },
}

#[derive(clap::Args)]
struct MatchArgs {
    /// A CSV file with a header row (UTF-8 or GBK), or a .jsonl/.ndjson file, to match
    /// as a batch; the output has the same format as `POST /v1/match/batch`.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Where to write the batch output; standard output by default.
    #[arg(long, requires = "input")]
    output: Option<PathBuf>,
    /// The CSV column (or JSON field) that holds the address.
    #[arg(long, default_value = yizhitong::matching::batch::DEFAULT_ADDRESS_COLUMN, requires = "input")]
    column: String,
    /// Answers per address, 1 to 50: default 5 for standard input, 1 for --input.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=50))]
    limit: Option<u16>,
    /// Charset of --input (utf-8 or gbk); detected from the first 64 KiB by default.
    #[arg(long, requires = "input")]
    charset: Option<String>,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Load reference divisions (divisions.tsv.gz and *.geojson[.gz] polygons) from a directory.
    Divisions { directory: PathBuf },
    /// Import standard addresses from CSV (source_id,division_code,road,road_no,place,building,unit,floor,room,lon,lat).
    Addresses {
        file: PathBuf,
        /// Rows written per transaction (the first few batches are smaller): larger
        /// batches import faster and take more memory; a failure keeps every batch
        /// committed before it.
        #[arg(long, default_value_t = IMPORT_BATCH_ROWS, value_parser = parse_batch_rows)]
        batch_rows: usize,
    },
    /// Import division polygons from a GeoJSON FeatureCollection; a running server
    /// uses them after its next start.
    Boundaries {
        file: PathBuf,
        /// The level of every division in the file.
        #[arg(long, value_parser = ["county", "town", "village"])]
        level: String,
        /// The feature property holding the division code (6, 9 or 12 digits).
        #[arg(long, default_value = "code")]
        code_field: String,
        /// The coordinate system of the file: wgs84 (also cgcs2000), gcj02 or bd09.
        #[arg(long, default_value = "wgs84")]
        crs: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key; the key is printed as the last line of standard output.
    Create {
        #[arg(long, value_parser = ["reader", "editor", "surveyor", "admin"])]
        role: String,
        /// A note saying whose key this is.
        #[arg(long)]
        label: Option<String>,
    },
    /// List keys (id, role, label, created, revoked) as JSON lines; never secrets.
    List,
    /// Revoke a key by its id (the part between `yzt_` and the next `_`). Running
    /// servers refuse it within 30 seconds.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply pending migrations.
    Migrate,
}

// A lookup answers with many small strings (codes, names, texts). With mimalloc instead
// of glibc's allocator, reverse lookups ran 1.27x as fast (docs/geocoding.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// glibc gives each thread that allocates its own arena. When SQLite allocated through
/// the C library, five store connections on five threads freed memory in one arena
/// that was never reused by another, and a server under writes grew by 7 MiB a minute;
/// two arenas held it flat (docs/reliability.md, "Soak"). SQLite now allocates through
/// mimalloc (src/store/sqlite_memory.rs); the limit stays for what else calls malloc.
/// Runs before any thread starts.
fn limit_c_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; no thread allocates yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> ExitCode {
    limit_c_allocator_arenas();
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let listen = match &cli.command {
        Command::Serve { listen } => listen.as_deref(),
        _ => None,
    };
    let config = Config::resolve(&cli.store, listen, &ProcessEnvironment)
        .map_err(|error| error.to_string())?;
    match cli.command {
        Command::Serve { .. } => serve(config).await,
        Command::Import(ImportCommand::Divisions { directory }) => {
            import_divisions(config, directory).await
        }
        Command::Import(ImportCommand::Addresses { file, batch_rows }) => {
            import_addresses(config, file, batch_rows).await
        }
        Command::Import(ImportCommand::Boundaries {
            file,
            level,
            code_field,
            crs,
        }) => import_boundaries(config, file, &level, &code_field, &crs).await,
        Command::Keys(KeysCommand::Create { role, label }) => {
            create_key(config, &role, label).await
        }
        Command::Keys(KeysCommand::List) => list_keys(config).await,
        Command::Keys(KeysCommand::Revoke { id }) => revoke_key(config, &id).await,
        Command::Parse => parse_lines(config).await,
        Command::Compare => compare_lines(config).await,
        Command::Match(arguments) => match arguments.input.clone() {
            None => match_lines(config, arguments.limit).await,
            Some(input) => match_file(config, input, arguments).await,
        },
        Command::Inspect(InspectCommand::Report {
            round,
            output,
            format,
            rebuild,
        }) => inspect_report(config, round, output, &format, rebuild).await,
        Command::Inspect(command) => inspect(command),
        Command::Backup { file } => print_report(
            yizhitong::backup::backup(&config.database_url, &config.data_dir, &file).await,
        ),
        Command::Restore { file } => print_report(
            yizhitong::backup::restore(&config.database_url, &config.data_dir, &file).await,
        ),
        Command::Db(DbCommand::Migrate) => {
            open_migrated_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
    }
}

fn inspect(command: InspectCommand) -> Result<(), String> {
    use yizhitong::inspection::commands;
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))
    };
    let crs_of = |name: &str| {
        name.parse::<yizhitong::geo::Crs>()
            .map_err(|error| error.to_string())
    };
    let output = match command {
        InspectCommand::Lines {
            polygons,
            crs,
            code_field,
        } => commands::lines(&read(&polygons)?, code_field.as_deref(), crs_of(&crs)?),
        InspectCommand::Markers {
            registered,
            observed,
            tolerance_m,
            crs,
        } => {
            if !(tolerance_m.is_finite() && tolerance_m >= 0.0) {
                return Err(format!(
                    "--tolerance-m must be a distance in metres; got {tolerance_m}"
                ));
            }
            commands::markers(
                &read(&registered)?,
                &read(&observed)?,
                tolerance_m,
                crs_of(&crs)?,
            )
        }
        InspectCommand::Tracks {
            line,
            tracks,
            crs,
            tolerance_m,
        } => {
            if !(tolerance_m.is_finite() && tolerance_m >= 0.0) {
                return Err(format!(
                    "--tolerance-m must be a distance in metres; got {tolerance_m}"
                ));
            }
            commands::tracks(&read(&line)?, &read(&tracks)?, crs_of(&crs)?, tolerance_m)
        }
        InspectCommand::Topology {
            a,
            b,
            crs,
            gap_width_m,
        } => {
            if !(gap_width_m.is_finite() && gap_width_m > 0.0) {
                return Err(format!(
                    "--gap-width-m must be a positive distance; got {gap_width_m}"
                ));
            }
            commands::topology(&read(&a)?, &read(&b)?, crs_of(&crs)?, gap_width_m)
        }
        // Reports come from the store; run() sends them to inspect_report.
        InspectCommand::Report { .. } => {
            return Err("inspect report needs the store".into());
        }
    }
    .map_err(|error| error.to_string())?;
    println!("{output}");
    Ok(())
}

async fn inspect_report(
    config: Config,
    round: i64,
    output: Option<PathBuf>,
    format: &str,
    rebuild: bool,
) -> Result<(), String> {
    let opened = open_registry(&config)
        .await
        .map_err(|error| error.to_string())?;
    let actor = Actor::command_line("inspect report");
    let report = if rebuild {
        opened.inspections.build_report(round, &actor).await
    } else {
        opened.inspections.report_or_build(round, &actor).await
    }
    .map_err(|error| error.to_string())?;
    let text = match format {
        "json" => report.json,
        "geojson" => report.geojson,
        _ => report.html,
    };
    match output {
        Some(path) => {
            std::fs::write(&path, text)
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            eprintln!(
                "round {round}: report built {} written to {}",
                report.built_at.format("%Y-%m-%d %H:%M:%S UTC"),
                path.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(())
}

async fn serve(config: Config) -> Result<(), String> {
    let started = Instant::now();
    let opened = open_registry(&config)
        .await
        .map_err(|error| error.to_string())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.listen))?;
    tracing::info!(
        listen = %config.listen,
        store = %redact_url(&config.database_url),
        startup_ms = started.elapsed().as_millis() as u64,
        reference_loaded = opened.reference_loaded,
        demo_rows_loaded = opened.demo_rows_loaded,
        "serving"
    );
    let doorplates = opened.doorplates.clone();
    let registry = opened.registry.clone();
    let app = router(AppState::new(&opened, config));
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|error| error.to_string());
    // Scans still in memory are written before the process ends.
    if let Err(error) = doorplates.flush_scans().await {
        tracing::error!(%error, "scan log not written at shutdown");
    }
    save_address_snapshot(&registry).await;
    registry.store().close().await;
    tracing::info!("stopped");
    served
}

/// Brings the address index level with the store and writes its snapshot, so the next
/// start reads the file instead of every row. A failure costs only that next start.
async fn save_address_snapshot(registry: &yizhitong::registry::Registry) {
    if let Err(error) = registry.follow_changes().await {
        tracing::warn!(%error, "address index not brought up to date; no snapshot written");
        return;
    }
    if let Err(error) = registry.save_snapshot().await {
        tracing::warn!(%error, "address index snapshot not written");
    }
}

/// Resolves on Ctrl-C or SIGTERM so in-flight requests can finish.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Database URLs may carry a password; logs get the URL without it.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://…@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The configured store, migrated to this build's schema.
async fn open_migrated_store(config: &Config) -> Result<Arc<dyn Store>, String> {
    let store = open_store(
        &config.database_url,
        &config.data_dir,
        &config.store_options,
    )
    .await
    .map_err(|error| error.to_string())?;
    store.migrate().await.map_err(|error| error.to_string())?;
    Ok(store)
}

async fn import_divisions(config: Config, directory: PathBuf) -> Result<(), String> {
    let store = open_migrated_store(&config).await?;
    let data = load_reference(store.as_ref(), &ReferenceSource::Directory(directory))
        .await
        .map_err(|error| error.to_string())?;
    let summary =
        serde_json::json!({ "divisions": data.divisions.len(), "polygons": data.polygons.len() });
    println!("{summary}");
    Ok(())
}

async fn import_boundaries(
    config: Config,
    file: PathBuf,
    level: &str,
    code_field: &str,
    crs: &str,
) -> Result<(), String> {
    let level = DivisionLevel::parse(level).ok_or_else(|| format!("unknown level {level}"))?;
    let crs: Crs = crs.parse().map_err(|error: UnknownCrs| error.to_string())?;
    let text = std::fs::read_to_string(&file)
        .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
    let opened = open_registry(&config)
        .await
        .map_err(|error| error.to_string())?;
    let report = yizhitong::registry::boundaries::import_boundaries(
        opened.store.as_ref(),
        opened.registry.divisions(),
        &text,
        level,
        code_field,
        crs,
        |rejected| {
            eprintln!(
                "feature {}: [{}] {}",
                rejected.feature, rejected.error_code, rejected.message
            )
        },
    )
    .await
    .map_err(|error| error.to_string())?;
    println!(
        "{}",
        serde_json::to_string(&report).map_err(|error| error.to_string())?
    );
    Ok(())
}

fn parse_batch_rows(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(rows) if rows > 0 => Ok(rows),
        _ => Err(format!("{text:?} is not a positive number of rows")),
    }
}

async fn import_addresses(config: Config, file: PathBuf, batch_rows: usize) -> Result<(), String> {
    let opened = open_registry(&config)
        .await
        .map_err(|error| error.to_string())?;
    let input = std::fs::File::open(&file)
        .map_err(|error| format!("cannot open {}: {error}", file.display()))?;
    let total_bytes = input.metadata().map(|metadata| metadata.len()).unwrap_or(0);
    // indicatif draws only when standard error is a terminal.
    let progress = indicatif::ProgressBar::new(total_bytes);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {elapsed} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let actor = Actor::command_line("import addresses");
    let report = import_address_csv_in_batches(
        &opened.registry,
        std::io::BufReader::with_capacity(1 << 20, input),
        &actor,
        batch_rows,
        |row_error| {
            progress.suspend(|| {
                eprintln!(
                    "line {}: [{}] {}",
                    row_error.line, row_error.error_code, row_error.message
                );
            })
        },
        |bytes| progress.set_position(bytes),
    )
    .await
    .map_err(|error| error.to_string())?;
    progress.finish_and_clear();
    save_address_snapshot(&opened.registry).await;
    let mut summary = serde_json::to_value(&report).map_err(|error| error.to_string())?;
    summary["seconds"] =
        serde_json::json!((started.elapsed().as_secs_f64() * 100.0).round() / 100.0);
    println!("{summary}");
    Ok(())
}

async fn create_key(config: Config, role: &str, label: Option<String>) -> Result<(), String> {
    let role = Role::parse(role).ok_or_else(|| format!("unknown role {role:?}"))?;
    let opened = open_registry(&config)
        .await
        .map_err(|error| error.to_string())?;
    let created = yizhitong::auth::create_key(opened.store.as_ref(), role, label)
        .await
        .map_err(|error| error.to_string())?;
    eprintln!(
        "created {} key {} (shown once; store it safely)",
        created.role.as_str(),
        created.id
    );
    println!("{}", created.secret_key);
    Ok(())
}

/// A command's report as one JSON line on standard output.
fn print_report<T: serde::Serialize, E: std::fmt::Display>(
    report: Result<T, E>,
) -> Result<(), String> {
    let report = report.map_err(|error| error.to_string())?;
    println!(
        "{}",
        serde_json::to_string(&report).expect("report serialises")
    );
    Ok(())
}

async fn list_keys(config: Config) -> Result<(), String> {
    let store = open_registry(&config)
        .await
        .map_err(|error| error.to_string())?
        .store;
    for key in store.api_keys().await.map_err(|error| error.to_string())? {
        let line = serde_json::json!({
            "id": key.id,
            "role": key.role.as_str(),
            "label": key.label,
            "created_at": key.created_at,
            "revoked_at": key.revoked_at,
        });
        println!("{line}");
    }
    Ok(())
}

async fn revoke_key(config: Config, id: &str) -> Result<(), String> {
    let store = open_registry(&config)
        .await
        .map_err(|error| error.to_string())?
        .store;
    let revoked = store
        .revoke_api_key(id, chrono::Utc::now(), &Actor::command_line("keys revoke"))
        .await
        .map_err(|error| error.to_string())?;
    if !revoked {
        return Err(format!(
            "no key {id:?} in service (unknown, or revoked already)"
        ));
    }
    eprintln!("revoked key {id}; running servers refuse it within 30 s");
    Ok(())
}

/// Opens the registry as `serve` does and hands the matcher to blocking work: the
/// commands below read standard input or files synchronously.
async fn with_matcher<T: Send + 'static>(
    config: Config,
    work: impl FnOnce(&MatchEngine) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let opened = open_registry(&config)
        .await
        .map_err(|error| error.to_string())?;
    let matcher = opened.matcher.clone();
    tokio::task::spawn_blocking(move || work(&matcher))
        .await
        .map_err(|error| error.to_string())?
}

/// Calls `answer` for every line of standard input and writes its JSON on a line of
/// its own. Each line is flushed at once, so a program can hold a pipe open and
/// exchange one line at a time; blank lines get an answer too, keeping the output
/// in step with the input.
fn for_each_stdin_line<T: serde::Serialize>(
    mut answer: impl FnMut(&str) -> T,
) -> Result<(), String> {
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.split(b'\n') {
        let line = line.map_err(|error| format!("cannot read standard input: {error}"))?;
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let written = serde_json::to_writer(&mut stdout, &answer(text))
            .map_err(std::io::Error::from)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush());
        written.map_err(|error| format!("cannot write standard output: {error}"))?;
    }
    Ok(())
}

async fn parse_lines(config: Config) -> Result<(), String> {
    with_matcher(config, |matcher| {
        for_each_stdin_line(|input| ParseResult {
            input: input.to_owned(),
            components: matcher.parse(input),
        })
    })
    .await
}

#[derive(serde::Deserialize)]
struct ComparePair {
    a: String,
    b: String,
}

/// A line that is not a pair gets an error object in its place, so output lines stay
/// in step with input lines.
async fn compare_lines(config: Config) -> Result<(), String> {
    with_matcher(config, |matcher| {
        for_each_stdin_line(|line| {
            if line.trim().is_empty() {
                return serde_json::json!({});
            }
            match serde_json::from_str::<ComparePair>(line) {
                Ok(pair) => {
                    serde_json::to_value(matcher.compare(&pair.a, &pair.b)).unwrap_or_default()
                }
                Err(error) => serde_json::json!({
                    "error": {"code": "invalid_json", "message": error.to_string()}
                }),
            }
        })
    })
    .await
}

async fn match_lines(config: Config, limit: Option<u16>) -> Result<(), String> {
    let options = MatchOptions {
        limit: Some(limit.map_or(DEFAULT_MATCH_LIMIT, usize::from)),
        division: None,
    };
    with_matcher(config, move |matcher| {
        for_each_stdin_line(|input| MatchResult {
            input: input.to_owned(),
            matches: if input.trim().is_empty() {
                Vec::new()
            } else {
                matcher.match_address(input.trim(), &options)
            },
        })
    })
    .await
}

/// Counts the bytes read so the progress bar can show how far through the file
/// the batch is (the row count is not known in advance).
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

fn batch_format_of(path: &Path) -> BatchFormat {
    match path.extension().and_then(|extension| extension.to_str()) {
        Some(extension)
            if extension.eq_ignore_ascii_case("jsonl")
                || extension.eq_ignore_ascii_case("ndjson") =>
        {
            BatchFormat::JsonLines
        }
        _ => BatchFormat::Csv,
    }
}

async fn match_file(config: Config, input: PathBuf, arguments: MatchArgs) -> Result<(), String> {
    let mut options = BatchOptions {
        format: batch_format_of(&input),
        charset: None,
        max_rows: None,
    };
    let column = arguments.column;
    let limit = arguments
        .limit
        .map(usize::from)
        .unwrap_or(DEFAULT_BATCH_LIMIT);
    if let Some(label) = &arguments.charset {
        options.charset = Some(
            Charset::from_label(label)
                .ok_or_else(|| format!("charset {label:?} is not supported; use utf-8 or gbk"))?,
        );
    }
    let file = std::fs::File::open(&input)
        .map_err(|error| format!("cannot open {}: {error}", input.display()))?;
    let total_bytes = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
    let output = arguments.output;
    with_matcher(config, move |matcher| {
        let started = Instant::now();
        let bytes_read = Arc::new(AtomicU64::new(0));
        let reader = CountingReader {
            inner: std::io::BufReader::with_capacity(1 << 20, file),
            count: bytes_read.clone(),
        };
        // The header is checked before the output file is created, so a wrong
        // --column leaves nothing behind.
        let rows = MatchRows::new(matcher, column, limit);
        let run = BatchRun::open(rows, reader, options).map_err(|error| error.to_string())?;
        let sink: Box<dyn Write> = match &output {
            Some(path) => Box::new(
                std::fs::File::create(path)
                    .map_err(|error| format!("cannot create {}: {error}", path.display()))?,
            ),
            None => Box::new(std::io::stdout().lock()),
        };
        // indicatif draws only when standard error is a terminal.
        let progress = indicatif::ProgressBar::new(total_bytes);
        progress.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {msg} {elapsed} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let summary = run
            .write_to(sink, |rows| {
                if rows.is_multiple_of(256) {
                    progress.set_position(bytes_read.load(Ordering::Relaxed));
                    progress.set_message(format!("{rows} rows"));
                }
            })
            .map_err(|error| error.to_string())?;
        progress.finish_and_clear();
        let mut report = serde_json::to_value(&summary).map_err(|error| error.to_string())?;
        report["seconds"] =
            serde_json::json!((started.elapsed().as_secs_f64() * 100.0).round() / 100.0);
        // Standard output may be carrying the batch itself, so the report goes to
        // standard error.
        eprintln!("{report}");
        Ok(())
    })
    .await
}
