//! The `yizhitong` command line. Every command that touches the store takes the same
//! `--db` and `--data-dir` as `serve` and initialises a fresh data directory the
//! same way, so none of them needs a running server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use yizhitong::api::{AppState, router};
use yizhitong::app::{load_reference, open_registry};
use yizhitong::config::{Config, ProcessEnvironment, StoreArgs};
use yizhitong::reference::ReferenceSource;
use yizhitong::registry::import::import_address_csv;
use yizhitong::store::{Actor, Role, open_store};

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
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Load reference divisions (divisions.tsv.gz and *.geojson[.gz] polygons) from a directory.
    Divisions { directory: PathBuf },
    /// Import standard addresses from CSV (source_id,division_code,road,road_no,place,building,unit,floor,room,lon,lat).
    Addresses { file: PathBuf },
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
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply pending migrations.
    Migrate,
}

fn main() -> ExitCode {
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
        Command::Import(ImportCommand::Addresses { file }) => import_addresses(config, file).await,
        Command::Keys(KeysCommand::Create { role, label }) => {
            create_key(config, &role, label).await
        }
        Command::Db(DbCommand::Migrate) => {
            let store = open_store(&config.database_url, &config.data_dir)
                .await
                .map_err(|e| e.to_string())?;
            store.migrate().await.map_err(|error| error.to_string())?;
            println!("migrations applied");
            Ok(())
        }
    }
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
    let app = router(AppState::new(opened.registry, opened.matcher, config));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|error| error.to_string())
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

async fn import_divisions(config: Config, directory: PathBuf) -> Result<(), String> {
    let store = open_store(&config.database_url, &config.data_dir)
        .await
        .map_err(|error| error.to_string())?;
    store.migrate().await.map_err(|error| error.to_string())?;
    let data = load_reference(store.as_ref(), &ReferenceSource::Directory(directory))
        .await
        .map_err(|error| error.to_string())?;
    let summary =
        serde_json::json!({ "divisions": data.divisions.len(), "polygons": data.polygons.len() });
    println!("{summary}");
    Ok(())
}

async fn import_addresses(config: Config, file: PathBuf) -> Result<(), String> {
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
    let report = import_address_csv(
        &opened.registry,
        std::io::BufReader::with_capacity(1 << 20, input),
        &actor,
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
