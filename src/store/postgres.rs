//! The production store: PostgreSQL with PostGIS, geometry in SRID 4490 (CGCS2000).
//!
//! Registry writes take one transaction-scoped advisory lock, so writers are
//! serialised exactly as on SQLite: duplicate checks and serial allocation cannot
//! race, and readers never wait for it.

use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};

use super::rows::{
    ADDRESS_COLUMNS, AUDIT_COLUMNS, DIVISION_COLUMNS, SELECT_ALL_API_KEYS, SELECT_API_KEY_WHERE_ID,
    address_from_row, api_key_from_row, audit_from_row, current_version_from_row,
    division_from_row, history_with_current, prefix_upper_bound, version_from_row,
};
use super::*;
use super::{import_lookahead, writes};

/// Rows per multi-value statement; stays under PostgreSQL's 65,535 bound parameters.
const ROWS_PER_STATEMENT: usize = 2000;

/// Key of the advisory lock that serialises registry writers ("yzt" in ASCII).
const REGISTRY_WRITE_LOCK: i64 = 0x79_7a_74;

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(|error| {
                StoreError::Unavailable(format!("cannot connect to PostgreSQL: {error}"))
            })?;
        Ok(PostgresStore { pool })
    }

    fn read_pool(&self) -> &PgPool {
        &self.pool
    }

    fn scan_log_pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<PostgresWrite, StoreError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(REGISTRY_WRITE_LOCK)
            .execute(&mut *transaction)
            .await?;
        Ok(PostgresWrite { transaction })
    }
}

struct PostgresWrite {
    transaction: Transaction<'static, Postgres>,
}

impl PostgresWrite {
    async fn commit(self) -> Result<(), StoreError> {
        self.transaction.commit().await.map_err(StoreError::from)
    }
}

fn select_addresses_where(column: &str, values: &[String]) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::new(format!(
        "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE {column} = ANY("
    ));
    query.push_bind(values.to_vec()).push(")");
    query
}

super::batch_sql::batched_write_transaction!(PostgresWrite, Postgres);
super::doorplates::doorplate_store!(PostgresStore, PostgresWrite, Postgres);
super::inspections::inspection_store!(
    PostgresStore,
    PostgresWrite,
    Postgres,
    sqlx::postgres::PgRow
);

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
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
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {DIVISION_COLUMNS} FROM divisions ORDER BY code"
        ));
        // Streamed: holding all 665k raw rows next to the decoded ones doubles peak memory.
        let mut rows = sqlx::query(sql).fetch(&self.pool);
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
        for polygon in polygons {
            sqlx::query(
                "INSERT INTO division_polygons (code, geometry) \
                 VALUES ($1, ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON($2), 4490))) \
                 ON CONFLICT (code) DO UPDATE SET geometry = excluded.geometry",
            )
            .bind(&polygon.code)
            .bind(&polygon.geometry_geojson)
            .execute(&mut *write.transaction)
            .await?;
        }
        write.commit().await?;
        Ok(polygons.len() as u64)
    }

    async fn division_polygon(&self, code: &str) -> Result<Option<DivisionPolygon>, StoreError> {
        let geometry: Option<String> = sqlx::query_scalar(
            "SELECT ST_AsGeoJSON(geometry) FROM division_polygons WHERE code = $1",
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await?;
        Ok(geometry.map(|geometry_geojson| DivisionPolygon {
            code: code.to_owned(),
            geometry_geojson,
        }))
    }

    async fn all_division_polygons(&self) -> Result<Vec<DivisionPolygon>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT code, ST_AsGeoJSON(geometry) FROM division_polygons ORDER BY code",
        )
        .fetch_all(&self.pool)
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
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn set_division_snapshot(&self, version: &str, data: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO division_snapshot (id, version, data) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, data = excluded.data",
        )
        .bind(version)
        .bind(data)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn address(&self, code: &str) -> Result<Option<StandardAddress>, StoreError> {
        let row = select_addresses_where("code", &[code.to_owned()])
            .build()
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(address_from_row).transpose()
    }

    async fn address_history(&self, code: &str) -> Result<Vec<AddressVersion>, StoreError> {
        let current_row = select_addresses_where("code", &[code.to_owned()])
            .build()
            .fetch_optional(&self.pool)
            .await?;
        let current = match &current_row {
            Some(row) => current_version_from_row(row)?,
            None => None,
        };
        let rows = sqlx::query(
            "SELECT version, change, actor, recorded_at, record FROM address_versions WHERE code = $1",
        )
        .bind(code)
        .fetch_all(&self.pool)
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
        let mut query = QueryBuilder::<Postgres>::new(format!(
            "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE true"
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
        // COLLATE "C": byte order, the same order as SQLite and as the cursor.
        query
            .push(" ORDER BY code COLLATE \"C\" LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(address_from_row).collect()
    }

    async fn registry_generation(&self) -> Result<RegistryGeneration, StoreError> {
        let (store_id, generation): (String, i64) =
            sqlx::query_as("SELECT store_id, generation FROM registry_state WHERE id = 1")
                .fetch_one(&self.pool)
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
        let mut query = QueryBuilder::<Postgres>::new(format!(
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
        let rows = query.build().fetch_all(&self.pool).await?;
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
            .fetch_one(&self.pool)
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
        let outcomes =
            writes::import_addresses(&mut write, rows, hint, actor, on_generation).await?;
        write.commit().await?;
        Ok(outcomes)
    }

    async fn look_ahead_import(
        &self,
        rows: &[AddressContent],
    ) -> Result<ImportLookAhead, StoreError> {
        // Repeatable read: the generation and both lookups see one snapshot.
        let mut snapshot = PostgresWrite {
            transaction: self
                .pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?,
        };
        let look_ahead = import_lookahead::look_ahead(&mut snapshot, rows).await?;
        snapshot.transaction.rollback().await?;
        Ok(look_ahead)
    }

    async fn create_api_key(&self, key: &StoredApiKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, secret_sha256_hex, role, label, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(&key.secret_sha256_hex)
        .bind(key.role.as_str())
        .bind(&key.label)
        .bind(key.created_at)
        .bind(key.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn api_key(&self, key_id: &str) -> Result<Option<StoredApiKey>, StoreError> {
        let row = sqlx::QueryBuilder::new(SELECT_API_KEY_WHERE_ID)
            .push_bind(key_id)
            .build()
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StoreError> {
        let rows = sqlx::query(SELECT_ALL_API_KEYS)
            .fetch_all(&self.pool)
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
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"
        ));
        let rows = sqlx::query(sql)
            .bind(after_id.unwrap_or(0))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }
}
