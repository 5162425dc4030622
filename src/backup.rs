//! Online backup and restore of the embedded store. PostgreSQL has its own tools
//! (`pg_dump`, `pg_restore`; docs/operations.md), which this does not replace.
//!
//! A backup is a consistent copy taken by `VACUUM INTO` inside one read transaction,
//! so the service keeps serving and writing while it runs. A restore checks the copy
//! before it touches anything, keeps the database it replaces, and gives the restored
//! store a new identity so no index snapshot or follower mistakes it for the old one.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use crate::registry::SNAPSHOT_FILE_NAME;
use crate::store::sqlite_path;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "backup and restore cover the embedded store; for PostgreSQL use pg_dump and pg_restore (docs/operations.md)"
    )]
    NotEmbedded,
    #[error("{0} already exists; a backup never overwrites a file")]
    TargetExists(PathBuf),
    #[error("{0} does not exist")]
    MissingFile(PathBuf),
    #[error("{path} is not a usable registry backup: {reason}")]
    NotABackup { path: PathBuf, reason: String },
    #[error("the store is in use; stop the service before restoring ({0})")]
    InUse(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Serialize)]
pub struct BackupReport {
    pub file: PathBuf,
    pub bytes: u64,
    pub addresses: i64,
    pub generation: i64,
}

#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub restored_from: PathBuf,
    pub database: PathBuf,
    /// The database that was replaced, kept beside it; `None` when there was none.
    pub previous_kept_as: Option<PathBuf>,
    pub addresses: i64,
    pub generation: i64,
    pub store_id: String,
}

fn database_file(url: &str, data_dir: &Path) -> Result<PathBuf, BackupError> {
    sqlite_path(url, data_dir).ok_or(BackupError::NotEmbedded)
}

async fn connect(path: &Path, read_only: bool) -> Result<SqliteConnection, sqlx::Error> {
    crate::store::sqlite_memory::use_mimalloc();
    SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .read_only(read_only)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
}

/// What a database file holds, after SQLite's own integrity check passes.
async fn inspect(path: &Path) -> Result<(i64, i64), BackupError> {
    let not_a_backup = |reason: String| BackupError::NotABackup {
        path: path.to_owned(),
        reason,
    };
    let mut connection = connect(path, true)
        .await
        .map_err(|error| not_a_backup(error.to_string()))?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut connection)
        .await
        .map_err(|error| not_a_backup(error.to_string()))?;
    if check != "ok" {
        return Err(not_a_backup(format!("integrity check: {check}")));
    }
    let counts: Result<(i64, i64), sqlx::Error> = sqlx::query_as(
        "SELECT (SELECT count(*) FROM addresses), (SELECT generation FROM registry_state WHERE id = 1)",
    )
    .fetch_one(&mut connection)
    .await;
    connection.close().await.ok();
    counts.map_err(|error| not_a_backup(format!("not a registry database: {error}")))
}

/// Copies the live store to `target` while it keeps serving.
pub async fn backup(
    url: &str,
    data_dir: &Path,
    target: &Path,
) -> Result<BackupReport, BackupError> {
    let source = database_file(url, data_dir)?;
    if !source.exists() {
        return Err(BackupError::MissingFile(source));
    }
    if target.exists() {
        return Err(BackupError::TargetExists(target.to_owned()));
    }
    let mut connection = connect(&source, false).await?;
    sqlx::query("VACUUM INTO ?")
        .bind(target.to_string_lossy().as_ref())
        .execute(&mut connection)
        .await?;
    connection.close().await.ok();
    std::fs::File::open(target)?.sync_all()?;
    let (addresses, generation) = inspect(target).await?;
    Ok(BackupReport {
        file: target.to_owned(),
        bytes: std::fs::metadata(target)?.len(),
        addresses,
        generation,
    })
}

/// Replaces the store with the backup in `source`. The service must be stopped.
pub async fn restore(
    url: &str,
    data_dir: &Path,
    source: &Path,
) -> Result<RestoreReport, BackupError> {
    let database = database_file(url, data_dir)?;
    if !source.exists() {
        return Err(BackupError::MissingFile(source.to_owned()));
    }
    inspect(source).await?;

    // The copy is prepared beside the database so the final step is one rename.
    let staged = sibling(&database, "restoring");
    remove_if_present(&staged)?;
    std::fs::copy(source, &staged)?;
    let store_id = {
        let mut connection = connect(&staged, false).await?;
        let store_id: String = sqlx::query_scalar(
            "UPDATE registry_state SET store_id = lower(hex(randomblob(16))) WHERE id = 1 RETURNING store_id",
        )
        .fetch_one(&mut connection)
        .await?;
        sqlx::query("PRAGMA journal_mode = DELETE")
            .execute(&mut connection)
            .await?;
        connection.close().await?;
        store_id
    };
    std::fs::File::open(&staged)?.sync_all()?;

    let previous_kept_as = if database.exists() {
        fold_write_ahead_log(&database).await?;
        let kept = sibling(
            &database,
            &format!(
                "before-restore-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ),
        );
        std::fs::rename(&database, &kept)?;
        Some(kept)
    } else {
        None
    };
    for suffix in ["-wal", "-shm"] {
        remove_if_present(&with_suffix(&database, suffix))?;
    }
    std::fs::rename(&staged, &database)?;
    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)?.sync_all()?;
    }
    // The index snapshot describes the replaced store; the next start rebuilds it.
    remove_if_present(&data_dir.join(SNAPSHOT_FILE_NAME))?;
    let (addresses, generation) = inspect(&database).await?;
    Ok(RestoreReport {
        restored_from: source.to_owned(),
        database,
        previous_kept_as,
        addresses,
        generation,
        store_id,
    })
}

/// Moves every committed page of the old database out of its write-ahead log, so
/// the file kept aside is whole on its own. A running service holds the log open,
/// and then this cannot finish.
async fn fold_write_ahead_log(database: &Path) -> Result<(), BackupError> {
    crate::store::sqlite_memory::use_mimalloc();
    let mut connection = SqliteConnectOptions::from_str("sqlite:")?
        .filename(database)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .map_err(|error| BackupError::InUse(error.to_string()))?;
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut connection)
        .await
        .map_err(|error| BackupError::InUse(error.to_string()))?;
    if busy != 0 {
        return Err(BackupError::InUse(
            "its write-ahead log is held open".into(),
        ));
    }
    sqlx::query("PRAGMA journal_mode = DELETE")
        .execute(&mut connection)
        .await
        .map_err(|error| BackupError::InUse(error.to_string()))?;
    connection.close().await?;
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn sibling(path: &Path, tag: &str) -> PathBuf {
    with_suffix(path, &format!(".{tag}"))
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}
