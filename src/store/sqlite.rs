//! The embedded store: one SQLite file in WAL mode.
//!
//! SQLite allows one writer at a time, so writes go through a one-connection pool and
//! start with `BEGIN IMMEDIATE`: a writer never has to upgrade a read lock and fail
//! with SQLITE_BUSY halfway through. Readers use their own pool and never wait.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};

use super::rows::{
    ADDRESS_COLUMNS, AUDIT_COLUMNS, DIVISION_COLUMNS, SELECT_ALL_API_KEYS, SELECT_API_KEY_WHERE_ID,
    address_from_row, api_key_from_row, audit_from_row, current_version_from_row,
    division_from_row, history_with_current, prefix_upper_bound, version_from_row,
};
use super::*;
use super::{import_lookahead, writes};

/// Rows per multi-value statement; stays under SQLite's 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 500;

const READER_CONNECTIONS: u32 = 4;

const NEW_DATABASE_PAGE_SIZE: u32 = 16384;

/// The write-ahead log an import batch may build up before a checkpoint. The pragma
/// counts pages, so the count follows the store's own page size: a store made before
/// 16 KiB pages keeps 4 KiB ones.
const IMPORT_WAL_BYTES: i64 = 256 * 1024 * 1024;
const IMPORT_CACHE: &str = "PRAGMA cache_size = -262144";
const DEFAULT_WAL_AUTOCHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 1000";

/// The page cache of the writing connection and of each reading one, in KiB, from the
/// budget over all of them: half for the writer (imports and upserts walk the indexes),
/// the other half shared by the readers; each at least SQLite's own default of 2 MiB.
fn cache_split_kib(budget_mib: u32) -> (u32, u32) {
    let budget_kib = budget_mib.saturating_mul(1024);
    let writer = (budget_kib / 2).max(2048);
    let reader = (budget_kib / 2 / READER_CONNECTIONS).max(2048);
    (writer, reader)
}

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Restores the writer's page cache after an import batch enlarged it.
    writer_cache_pragma: String,
    /// Sets [`IMPORT_WAL_BYTES`] in this store's pages.
    import_checkpoint_pragma: String,
}

impl SqliteStore {
    pub async fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        super::sqlite_memory::use_mimalloc();
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| {
                StoreError::Unavailable(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        let connect_options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            // Only a new database takes this; an existing one keeps its page size. With
            // 16 KiB pages a 1M-row import took 0.80 of the time it took with SQLite's
            // default 4 KiB (fewer pages to split, write and checkpoint); 64 KiB pages
            // were slower again (docs/performance.md).
            .page_size(NEW_DATABASE_PAGE_SIZE)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged write survives power loss, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // Without a limit the WAL file keeps its largest size forever (174 MB after
            // a 1M-row import); checkpoints then truncate it back to this.
            .pragma("journal_size_limit", "67108864")
            // Statement journals of multi-row upserts went to a temporary file: 8% of
            // an import's time was spent writing them (docs/performance.md).
            .pragma("temp_store", "memory");
        let (writer_cache_kib, reader_cache_kib) = cache_split_kib(options.sqlite_cache_mib);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(
                connect_options
                    .clone()
                    .pragma("cache_size", format!("-{writer_cache_kib}")),
            )
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READER_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(
                connect_options
                    .read_only(true)
                    .pragma("cache_size", format!("-{reader_cache_kib}")),
            );
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&writer)
            .await?;
        let import_checkpoint_pages = IMPORT_WAL_BYTES / page_size.max(512);
        Ok(SqliteStore {
            writer,
            reader,
            writer_cache_pragma: format!("PRAGMA cache_size = -{writer_cache_kib}"),
            import_checkpoint_pragma: format!(
                "PRAGMA wal_autocheckpoint = {import_checkpoint_pages}"
            ),
        })
    }

    /// Undoes what an import batch set on the writing connection.
    async fn restore_writer_settings(&self) -> Result<(), StoreError> {
        sqlx::query(DEFAULT_WAL_AUTOCHECKPOINT)
            .execute(&self.writer)
            .await?;
        // A number formatted into the pragma, which takes no bound parameters.
        sqlx::query(sqlx::AssertSqlSafe(self.writer_cache_pragma.clone()))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    fn read_pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// SQLite has one writer, so the scan log shares the writer connection.
    fn scan_log_pool(&self) -> &SqlitePool {
        &self.writer
    }

    async fn begin_write(&self) -> Result<SqliteWrite, StoreError> {
        Ok(SqliteWrite {
            transaction: self.writer.begin_with("BEGIN IMMEDIATE").await?,
        })
    }
}

struct SqliteWrite {
    transaction: Transaction<'static, Sqlite>,
}

impl SqliteWrite {
    async fn commit(self) -> Result<(), StoreError> {
        self.transaction.commit().await.map_err(StoreError::from)
    }
}

fn select_addresses_where(column: &str, values: &[String]) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::new(format!(
        "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE {column} IN ("
    ));
    let mut separated = query.separated(", ");
    for value in values {
        separated.push_bind(value.clone());
    }
    query.push(")");
    query
}

super::batch_sql::batched_write_transaction!(SqliteWrite, Sqlite);
super::doorplates::doorplate_store!(SqliteStore, SqliteWrite, Sqlite);
super::inspections::inspection_store!(SqliteStore, SqliteWrite, Sqlite, sqlx::sqlite::SqliteRow);

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.reader)
            .await?)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn upsert_divisions(&self, divisions: &[Division]) -> Result<u64, StoreError> {
        let mut write = self.begin_write().await?;
        write.upsert_division_rows(divisions).await?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM divisions")
            .fetch_one(&mut *write.transaction)
            .await?;
        write.commit().await?;
        Ok(total as u64)
    }

    async fn all_divisions(&self) -> Result<Vec<Division>, StoreError> {
        // Streamed: holding all 665k raw rows next to the decoded ones doubles peak memory.
        let mut rows = sqlx::query(AssertSqlSafeStatic::divisions_ordered()).fetch(&self.reader);
        let mut divisions = Vec::new();
        while let Some(row) = rows.try_next().await? {
            divisions.push(division_from_row(&row)?);
        }
        Ok(divisions)
    }

    async fn upsert_division_polygons(
        &self,
        polygons: &[DivisionPolygon],
    ) -> Result<u64, StoreError> {
        let mut write = self.begin_write().await?;
        for chunk in polygons.chunks(ROWS_PER_STATEMENT) {
            let mut query =
                QueryBuilder::<Sqlite>::new("INSERT INTO division_polygons (code, geometry) ");
            query.push_values(chunk, |mut values, polygon| {
                values
                    .push_bind(polygon.code.clone())
                    .push_bind(polygon.geometry_geojson.clone());
            });
            query.push(" ON CONFLICT (code) DO UPDATE SET geometry = excluded.geometry");
            query.build().execute(&mut *write.transaction).await?;
        }
        write.commit().await?;
        Ok(polygons.len() as u64)
    }

    async fn division_polygon(&self, code: &str) -> Result<Option<DivisionPolygon>, StoreError> {
        let geometry: Option<String> =
            sqlx::query_scalar("SELECT geometry FROM division_polygons WHERE code = ?1")
                .bind(code)
                .fetch_optional(&self.reader)
                .await?;
        Ok(geometry.map(|geometry_geojson| DivisionPolygon {
            code: code.to_owned(),
            geometry_geojson,
        }))
    }

    async fn all_division_polygons(&self) -> Result<Vec<DivisionPolygon>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT code, geometry FROM division_polygons ORDER BY code")
                .fetch_all(&self.reader)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(code, geometry_geojson)| DivisionPolygon {
                code,
                geometry_geojson,
            })
            .collect())
    }

    async fn division_snapshot(&self) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT version, data FROM division_snapshot WHERE id = 1")
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    async fn set_division_snapshot(&self, version: &str, data: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO division_snapshot (id, version, data) VALUES (1, ?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, data = excluded.data",
        )
        .bind(version)
        .bind(data)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn address(&self, code: &str) -> Result<Option<StandardAddress>, StoreError> {
        let row = select_addresses_where("code", &[code.to_owned()])
            .build()
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(address_from_row).transpose()
    }

    async fn address_history(&self, code: &str) -> Result<Vec<AddressVersion>, StoreError> {
        let current_row = select_addresses_where("code", &[code.to_owned()])
            .build()
            .fetch_optional(&self.reader)
            .await?;
        let current = match &current_row {
            Some(row) => current_version_from_row(row)?,
            None => None,
        };
        let rows = sqlx::query(
            "SELECT version, change, actor, recorded_at, record FROM address_versions WHERE code = ?1",
        )
        .bind(code)
        .fetch_all(&self.reader)
        .await?;
        let archived = rows
            .iter()
            .map(version_from_row)
            .collect::<Result<_, _>>()?;
        Ok(history_with_current(archived, current))
    }

    async fn list_addresses(
        &self,
        filter: &AddressFilter,
        after_code: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StandardAddress>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE 1 = 1"
        ));
        if let Some(prefix) = &filter.division_prefix {
            query
                .push(" AND division_code >= ")
                .push_bind(prefix.clone());
            query
                .push(" AND division_code < ")
                .push_bind(prefix_upper_bound(prefix));
        }
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(after) = after_code {
            query.push(" AND code > ").push_bind(after.to_owned());
        }
        query
            .push(" ORDER BY code LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(address_from_row).collect()
    }

    async fn registry_generation(&self) -> Result<RegistryGeneration, StoreError> {
        let (store_id, generation): (String, i64) =
            sqlx::query_as("SELECT store_id, generation FROM registry_state WHERE id = 1")
                .fetch_one(&self.reader)
                .await?;
        Ok(RegistryGeneration {
            store_id,
            generation,
        })
    }

    async fn addresses_changed_after(
        &self,
        after: &ChangeCursor,
        through_generation: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ChangedAddress>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {ADDRESS_COLUMNS}, generation FROM addresses WHERE "
        ));
        match &after.code {
            Some(code) => query
                .push("(generation, code) > (")
                .push_bind(after.generation)
                .push(", ")
                .push_bind(code.clone())
                .push(")"),
            None => query.push("generation > ").push_bind(after.generation),
        };
        if let Some(through) = through_generation {
            query.push(" AND generation <= ").push_bind(through);
        }
        query
            .push(" ORDER BY generation, code LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter()
            .map(|row| {
                Ok(ChangedAddress {
                    generation: sqlx::Row::try_get(row, "generation")?,
                    address: address_from_row(row)?,
                })
            })
            .collect()
    }

    async fn count_addresses(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM addresses")
            .fetch_one(&self.reader)
            .await?)
    }

    async fn create_address(
        &self,
        content: &AddressContent,
        actor: &Actor,
    ) -> Result<Committed<StandardAddress>, StoreError> {
        let mut write = self.begin_write().await?;
        let record = writes::create_address(&mut write, content, actor).await?;
        write.commit().await?;
        Ok(record)
    }

    async fn update_address(
        &self,
        code: &str,
        expected_version: i64,
        content: &AddressContent,
        actor: &Actor,
    ) -> Result<Committed<StandardAddress>, StoreError> {
        let mut write = self.begin_write().await?;
        let record =
            writes::update_address(&mut write, code, expected_version, content, actor).await?;
        write.commit().await?;
        Ok(record)
    }

    async fn retire_address(
        &self,
        code: &str,
        expected_version: i64,
        retirement: &Retirement,
        actor: &Actor,
    ) -> Result<Committed<StandardAddress>, StoreError> {
        let mut write = self.begin_write().await?;
        let record =
            writes::retire_address(&mut write, code, expected_version, retirement, actor).await?;
        write.commit().await?;
        Ok(record)
    }

    async fn import_addresses(
        &self,
        rows: &[AddressContent],
        hint: Option<ImportHint<'_>>,
        actor: &Actor,
        on_generation: &(dyn Fn(i64) + Send + Sync),
    ) -> Result<Committed<Vec<ImportOutcome>>, StoreError> {
        let mut write = self.begin_write().await?;
        // An import batch dirties pages all over the tables; checkpointing after each
        // batch copied the same pages into the database file again and again, and a
        // cache smaller than the batch's dirty pages spilled them early. The pragmas
        // are not part of the transaction, so they are put back however it ends.
        let written = async move {
            // A number formatted into the pragma, which takes no bound parameters.
            sqlx::query(sqlx::AssertSqlSafe(self.import_checkpoint_pragma.clone()))
                .execute(&mut *write.transaction)
                .await?;
            sqlx::query(IMPORT_CACHE)
                .execute(&mut *write.transaction)
                .await?;
            let outcomes =
                writes::import_addresses(&mut write, rows, hint, actor, on_generation).await?;
            write.commit().await?;
            Ok(outcomes)
        }
        .await;
        if let Err(error) = self.restore_writer_settings().await {
            tracing::warn!(%error, "the writer's cache and checkpoint settings were not restored");
        }
        written
    }

    async fn look_ahead_import(
        &self,
        rows: &[AddressContent],
    ) -> Result<ImportLookAhead, StoreError> {
        // A transaction of the reading pool: its first statement fixes the snapshot,
        // and the writer is left to the batch before.
        let mut snapshot = SqliteWrite {
            transaction: self.reader.begin().await?,
        };
        let look_ahead = import_lookahead::look_ahead(&mut snapshot, rows).await?;
        snapshot.transaction.rollback().await?;
        Ok(look_ahead)
    }

    async fn create_api_key(&self, key: &StoredApiKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, secret_sha256_hex, role, label, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&key.id)
        .bind(&key.secret_sha256_hex)
        .bind(key.role.as_str())
        .bind(&key.label)
        .bind(key.created_at)
        .bind(key.revoked_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn api_key(&self, key_id: &str) -> Result<Option<StoredApiKey>, StoreError> {
        let row = sqlx::QueryBuilder::new(SELECT_API_KEY_WHERE_ID)
            .push_bind(key_id)
            .build()
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StoreError> {
        let rows = sqlx::query(SELECT_ALL_API_KEYS)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_api_key(
        &self,
        key_id: &str,
        at: chrono::DateTime<chrono::Utc>,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut write = self.begin_write().await?;
        let revoked = writes::revoke_api_key(&mut write, key_id, at, actor).await?;
        write.commit().await?;
        Ok(revoked)
    }

    async fn audit_entries(
        &self,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(AssertSqlSafeStatic::audit_page())
            .bind(after_id.unwrap_or(0))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }
}

/// Statements assembled from the column constants; no caller input reaches them.
struct AssertSqlSafeStatic;

impl AssertSqlSafeStatic {
    fn divisions_ordered() -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(format!(
            "SELECT {DIVISION_COLUMNS} FROM divisions ORDER BY code"
        ))
    }

    fn audit_page() -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn cache_size(pool: &SqlitePool) -> i64 {
        sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_cache_budget_is_split_between_writer_and_readers() {
        let directory = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            sqlite_cache_mib: 32,
        };
        let store = SqliteStore::open(&directory.path().join("store.db"), &options)
            .await
            .unwrap();
        // Negative sizes are KiB: 16 MiB for the writer, 16 MiB over four readers.
        assert_eq!(cache_size(&store.writer).await, -16384);
        assert_eq!(cache_size(&store.reader).await, -4096);
        // A tiny budget still leaves every connection SQLite's own default.
        assert_eq!(cache_split_kib(1), (2048, 2048));
    }

    #[tokio::test]
    async fn an_import_batch_gives_the_writer_its_own_cache_back() {
        let directory = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&directory.path().join("store.db"), &StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let actor = Actor::command_line("test");
        store
            .import_addresses(&[], None, &actor, &|_| {})
            .await
            .unwrap();
        assert_writer_has_its_own_settings(&store).await;
    }

    /// The default budget's writer cache and SQLite's checkpoint interval.
    async fn assert_writer_has_its_own_settings(store: &SqliteStore) {
        assert_eq!(cache_size(&store.writer).await, -32768);
        let checkpoint_pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(checkpoint_pages, 1000);
    }

    #[tokio::test]
    async fn a_failed_import_batch_also_gives_the_writer_its_settings_back() {
        let directory = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&directory.path().join("store.db"), &StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        // The database itself refuses the batch halfway, after the import's pragmas.
        sqlx::query(
            "CREATE TRIGGER refuse_addresses BEFORE INSERT ON addresses \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
        .execute(&store.writer)
        .await
        .unwrap();
        let row = crate::domain::address::AddressContent {
            division_code: "330212001000".into(),
            components: crate::domain::address::AddressComponents {
                road: Some("中山路".into()),
                road_no: Some("1号".into()),
                ..Default::default()
            },
            standard_text: "中山路1号".into(),
            aliases: Vec::new(),
            point: None,
            source_id: None,
        };
        let actor = Actor::command_line("test");
        let error = store
            .import_addresses(&[row], None, &actor, &|_| {})
            .await
            .unwrap_err();
        assert!(error.to_string().contains("refused by the test"), "{error}");
        assert_writer_has_its_own_settings(&store).await;
        assert_eq!(store.count_addresses().await.unwrap(), 0);
    }

    async fn page_size(pool: &SqlitePool) -> i64 {
        sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_new_store_has_large_pages_and_an_old_one_keeps_its_own() {
        let directory = tempfile::tempdir().unwrap();
        let options = StoreOptions::default();
        let store = SqliteStore::open(&directory.path().join("new.db"), &options)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        assert_eq!(page_size(&store.writer).await, 16384);
        // An import's checkpoint interval is 256 MiB whatever the page size.
        assert_eq!(
            store.import_checkpoint_pragma,
            "PRAGMA wal_autocheckpoint = 16384"
        );

        // A store made before the page size was set: SQLite's default 4 KiB pages.
        let old_path = directory.path().join("old.db");
        let old = sqlx::sqlite::SqlitePoolOptions::new()
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(&old_path)
                    .create_if_missing(true)
                    .page_size(4096)
                    .journal_mode(SqliteJournalMode::Wal),
            )
            .await
            .unwrap();
        sqlx::query("CREATE TABLE before_the_change (x INTEGER)")
            .execute(&old)
            .await
            .unwrap();
        old.close().await;
        let reopened = SqliteStore::open(&old_path, &options).await.unwrap();
        reopened.migrate().await.unwrap();
        assert_eq!(page_size(&reopened.writer).await, 4096);
        assert_eq!(
            reopened.import_checkpoint_pragma,
            "PRAGMA wal_autocheckpoint = 65536"
        );
        let actor = Actor::command_line("test");
        reopened
            .import_addresses(&[], None, &actor, &|_| {})
            .await
            .unwrap();
    }
}
