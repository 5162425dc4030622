//! Persistence. One [`Store`] trait, two backends chosen by URL scheme:
//! `sqlite://` (embedded default) and `postgres://` (PostgreSQL + PostGIS).
//!
//! The decision logic of every registry write (duplicate checks, serial allocation,
//! versions, audit) lives once in [`writes`]; a backend only supplies batched
//! statements through [`writes::WriteTransaction`].

mod batch_sql;
pub mod doorplates;
pub mod import_lookahead;
pub mod inspections;
pub mod models;
pub mod postgres;
mod rows;
pub mod sqlite;
pub(crate) mod sqlite_memory;
mod writes;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::address::{AddressContent, StandardAddress};
use crate::domain::division::Division;
use crate::domain::doorplate::PlateStatus;
pub use doorplates::{DoorplateStore, ScanEntry, ScanGroup, ScanRecord, ScanStatisticsQuery};
pub use import_lookahead::{ImportHint, ImportLookAhead, ImportedKeys};
pub use inspections::{InspectionStore, NewRound};
pub use models::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("an active address with the same division and components exists: {existing_code}")]
    DuplicateAddress { existing_code: String },
    #[error("source_id {source_id:?} already belongs to address {existing_code}")]
    DuplicateSourceId {
        source_id: String,
        existing_code: String,
    },
    #[error("address {code} changed meanwhile: expected version {expected}, found {found}")]
    VersionConflict {
        code: String,
        expected: i64,
        found: i64,
    },
    #[error("no address with code {code}")]
    AddressNotFound { code: String },
    #[error("no doorplate with id {id}")]
    DoorplateNotFound { id: i64 },
    #[error("doorplate {id} is {} and can no longer be changed", .status.as_str())]
    DoorplateNotCurrent {
        id: i64,
        status: PlateStatus,
        replaced_by: Option<i64>,
    },
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("a stored row could not be read: {0}")]
    CorruptRow(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(error.to_string())
            }
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_) => StoreError::CorruptRow(error.to_string()),
            _ => StoreError::Database(error.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(error.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[async_trait]
pub trait Store: DoorplateStore + InspectionStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Applies pending migrations. Idempotent.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Waits for the connections in use to be returned, then closes them all: the
    /// last step of a shutdown (SQLite folds its write-ahead log back in as the last
    /// connection closes). Any later call fails with `Unavailable`.
    async fn close(&self);

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Inserts or updates the given divisions and rebuilds their name index, in one
    /// transaction. Divisions not in the list are kept.
    async fn upsert_divisions(&self, divisions: &[Division]) -> Result<u64, StoreError>;
    /// Every division, ordered by code.
    async fn all_divisions(&self) -> Result<Vec<Division>, StoreError>;
    /// Replaces the polygons of the given divisions (GeoJSON geometry, CGCS2000).
    async fn upsert_division_polygons(
        &self,
        polygons: &[DivisionPolygon],
    ) -> Result<u64, StoreError>;
    async fn division_polygon(&self, code: &str) -> Result<Option<DivisionPolygon>, StoreError>;
    /// Every stored polygon, ordered by code (GeoJSON geometry, CGCS2000).
    async fn all_division_polygons(&self) -> Result<Vec<DivisionPolygon>, StoreError>;
    /// The compressed snapshot of the division table and its version, if any.
    async fn division_snapshot(&self) -> Result<Option<(String, Vec<u8>)>, StoreError>;
    async fn set_division_snapshot(&self, version: &str, data: &[u8]) -> Result<(), StoreError>;

    async fn address(&self, code: &str) -> Result<Option<StandardAddress>, StoreError>;
    async fn address_history(&self, code: &str) -> Result<Vec<AddressVersion>, StoreError>;
    /// Keyset page ordered by code: the addresses after `after_code`.
    async fn list_addresses(
        &self,
        filter: &AddressFilter,
        after_code: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StandardAddress>, StoreError>;
    async fn count_addresses(&self) -> Result<i64, StoreError>;

    /// The store's identity and the generation of its latest committed address change.
    async fn registry_generation(&self) -> Result<RegistryGeneration, StoreError>;
    /// Addresses whose latest change came after `after` (and in a generation no later
    /// than `through_generation`, when given), in (generation, code) order: the change
    /// feed that in-memory indexes catch up from.
    async fn addresses_changed_after(
        &self,
        after: &ChangeCursor,
        through_generation: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ChangedAddress>, StoreError>;

    /// Creates an address: duplicate checks, a new code, version 1 and an audit entry,
    /// all in one transaction.
    async fn create_address(
        &self,
        content: &AddressContent,
        actor: &Actor,
    ) -> Result<Committed<StandardAddress>, StoreError>;
    /// Writes a new version if the stored one is still `expected_version`.
    async fn update_address(
        &self,
        code: &str,
        expected_version: i64,
        content: &AddressContent,
        actor: &Actor,
    ) -> Result<Committed<StandardAddress>, StoreError>;
    async fn retire_address(
        &self,
        code: &str,
        expected_version: i64,
        retirement: &Retirement,
        actor: &Actor,
    ) -> Result<Committed<StandardAddress>, StoreError>;
    /// Creates or updates (by `source_id`) a batch in one transaction and reports each
    /// row; rows that conflict are reported, the others written. `on_generation` hears
    /// the batch's generation before the commit, so that the caller can claim it
    /// before anyone can read it.
    ///
    /// `hint`, from [`Store::look_ahead_import`] on the same rows, spares the write the
    /// lookups it made; the outcome is the same with or without it.
    async fn import_addresses(
        &self,
        rows: &[AddressContent],
        hint: Option<ImportHint<'_>>,
        actor: &Actor,
        on_generation: &(dyn Fn(i64) + Send + Sync),
    ) -> Result<Committed<Vec<ImportOutcome>>, StoreError>;

    /// Reads, in one snapshot and outside any write, which of an import batch's source
    /// ids and identities are registered, for [`Store::import_addresses`] to take as
    /// its hint (see `import_lookahead`).
    async fn look_ahead_import(
        &self,
        rows: &[AddressContent],
    ) -> Result<ImportLookAhead, StoreError>;

    async fn create_api_key(&self, key: &StoredApiKey) -> Result<(), StoreError>;
    async fn api_key(&self, key_id: &str) -> Result<Option<StoredApiKey>, StoreError>;
    /// Oldest first, revoked ones included; digests only, never secrets.
    async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StoreError>;
    /// Marks a key revoked, with an audit entry. `false` when there is no such key
    /// or it was revoked already.
    async fn revoke_api_key(
        &self,
        key_id: &str,
        at: chrono::DateTime<chrono::Utc>,
        actor: &Actor,
    ) -> Result<bool, StoreError>;

    /// Audit entries after `after_id`, oldest first.
    async fn audit_entries(
        &self,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

/// The database file of a `sqlite:` URL; `None` for any other scheme.
pub fn sqlite_path(url: &str, data_dir: &Path) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("sqlite:")?.trim_start_matches("//");
    Some(if path.is_empty() {
        data_dir.join("yizhitong.db")
    } else {
        Path::new(path).to_path_buf()
    })
}

/// How a store is opened, beyond its URL.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// The embedded store's page-cache budget over all its connections, in MiB. Half
    /// goes to the writing connection, the rest is shared by the readers. The operating
    /// system caches the file as well, so this buys fewer copies, not fewer reads.
    pub sqlite_cache_mib: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sqlite_cache_mib: 64,
        }
    }
}

/// Opens the store a URL names, like quickwit's metastore resolver: the scheme picks
/// the backend. `sqlite://` with no path means the default file in `data_dir`.
pub async fn open_store(
    url: &str,
    data_dir: &Path,
    options: &StoreOptions,
) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = sqlite_path(url, data_dir) {
        Ok(Arc::new(sqlite::SqliteStore::open(&path, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}
