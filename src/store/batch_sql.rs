//! The batched statements behind [`super::writes::WriteTransaction`], generated for
//! each backend. The statements are the same in both dialects (QueryBuilder supplies
//! the placeholders), so one macro body serves both instead of two hand-kept copies.

/// Implements `WriteTransaction` for `$write` (a struct with a
/// `transaction: Transaction<'static, $database>` field and a module-level
/// `select_addresses_where` helper).
macro_rules! batched_write_transaction {
    ($write:ty, $database:ty) => {
        impl $write {
            /// Inserts or updates divisions in multi-row statements.
            async fn upsert_division_rows(
                &mut self,
                divisions: &[$crate::domain::division::Division],
            ) -> Result<(), $crate::store::StoreError> {
                use sqlx::types::Json;
                for chunk in divisions.chunks(ROWS_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<$database>::new(format!(
                        "INSERT INTO divisions ({}) ",
                        $crate::store::rows::DIVISION_COLUMNS
                    ));
                    query.push_values(chunk, |mut values, division| {
                        values
                            .push_bind(division.code.clone())
                            .push_bind(division.name.clone())
                            .push_bind(division.short_name.clone())
                            .push_bind(division.level.as_str())
                            .push_bind(division.parent_code.clone())
                            .push_bind(Json(division.aliases.clone()))
                            .push_bind(division.valid_from)
                            .push_bind(division.valid_to)
                            .push_bind(division.successor_code.clone());
                    });
                    query.push($crate::store::batch_sql::UPSERT_DIVISION_TAIL);
                    query.build().execute(&mut *self.transaction).await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::writes::WriteTransaction for $write {
            async fn addresses_by_codes(
                &mut self,
                codes: &[String],
            ) -> Result<Vec<$crate::domain::address::StandardAddress>, $crate::store::StoreError> {
                let mut found = Vec::new();
                for chunk in codes.chunks(ROWS_PER_STATEMENT) {
                    let rows = select_addresses_where("code", chunk).build().fetch_all(&mut *self.transaction).await?;
                    for row in &rows {
                        found.push($crate::store::rows::address_from_row(row)?);
                    }
                }
                Ok(found)
            }

            async fn addresses_by_source_ids(
                &mut self,
                source_ids: &[String],
            ) -> Result<Vec<$crate::domain::address::StandardAddress>, $crate::store::StoreError> {
                let mut found = Vec::new();
                for chunk in source_ids.chunks(ROWS_PER_STATEMENT) {
                    let rows =
                        select_addresses_where("source_id", chunk).build().fetch_all(&mut *self.transaction).await?;
                    for row in &rows {
                        found.push($crate::store::rows::address_from_row(row)?);
                    }
                }
                Ok(found)
            }

            async fn active_codes_by_identity(
                &mut self,
                identity_keys: &[String],
            ) -> Result<Vec<(String, String)>, $crate::store::StoreError> {
                let mut found = Vec::new();
                for chunk in identity_keys.chunks(ROWS_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<$database>::new(
                        "SELECT identity_key, code FROM addresses WHERE status = 'active' AND identity_key IN (",
                    );
                    let mut separated = query.separated(", ");
                    for key in chunk {
                        separated.push_bind(key.clone());
                    }
                    query.push(")");
                    let rows: Vec<(String, String)> =
                        query.build_query_as().fetch_all(&mut *self.transaction).await?;
                    found.extend(rows);
                }
                Ok(found)
            }

            async fn allocate_serials(
                &mut self,
                requests: &[(String, u32)],
            ) -> Result<Vec<u32>, $crate::store::StoreError> {
                let mut last_serials = std::collections::HashMap::with_capacity(requests.len());
                for chunk in requests.chunks(ROWS_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<$database>::new(
                        "INSERT INTO code_serials (division_code, last_serial) ",
                    );
                    query.push_values(chunk, |mut values, (division_code, count)| {
                        values.push_bind(division_code.clone()).push_bind(i64::from(*count));
                    });
                    query.push(
                        " ON CONFLICT (division_code) DO UPDATE \
                         SET last_serial = code_serials.last_serial + excluded.last_serial \
                         RETURNING division_code, last_serial",
                    );
                    let rows: Vec<(String, i64)> = query.build_query_as().fetch_all(&mut *self.transaction).await?;
                    last_serials.extend(rows);
                }
                requests
                    .iter()
                    .map(|(division_code, count)| {
                        let last = *last_serials.get(division_code).ok_or_else(|| {
                            $crate::store::StoreError::Database(format!("no serial counter for {division_code}"))
                        })?;
                        $crate::store::batch_sql::serial_block_start(division_code, last, *count)
                    })
                    .collect()
            }

            async fn current_generation(&mut self) -> Result<i64, $crate::store::StoreError> {
                Ok(sqlx::query_scalar("SELECT generation FROM registry_state WHERE id = 1")
                    .fetch_one(&mut *self.transaction)
                    .await?)
            }

            async fn next_generation(&mut self) -> Result<i64, $crate::store::StoreError> {
                Ok(sqlx::query_scalar(
                    "UPDATE registry_state SET generation = generation + 1 WHERE id = 1 RETURNING generation",
                )
                .fetch_one(&mut *self.transaction)
                .await?)
            }

            async fn upsert_address_rows(
                &mut self,
                rows: &[&$crate::domain::address::StandardAddress],
                generation: i64,
                change: $crate::store::ChangeKind,
                actor: &str,
            ) -> Result<(), $crate::store::StoreError> {
                use sqlx::types::Json;
                let statement = |chunk: &[&$crate::domain::address::StandardAddress]| {
                    let mut query = sqlx::QueryBuilder::<$database>::new(format!(
                        "INSERT INTO addresses ({}, generation) ",
                        $crate::store::rows::ADDRESS_COLUMNS
                    ));
                    query.push_values(chunk, |mut values, record| {
                        let components = &record.components;
                        values
                            .push_bind(record.code.as_str())
                            .push_bind(record.division_code.as_str())
                            .push_bind(components.road.as_deref())
                            .push_bind(components.road_no.as_deref())
                            .push_bind(components.place.as_deref())
                            .push_bind(components.building.as_deref())
                            .push_bind(components.unit.as_deref())
                            .push_bind(components.floor.as_deref())
                            .push_bind(components.room.as_deref())
                            .push_bind(record.standard_text.as_str())
                            .push_bind(Json(&record.aliases))
                            .push_bind(record.lon)
                            .push_bind(record.lat)
                            .push_bind(record.status.as_str())
                            .push_bind(record.valid_from)
                            .push_bind(record.valid_to)
                            .push_bind(record.successor_code.as_deref())
                            .push_bind(record.retire_reason.as_deref())
                            .push_bind(record.source_id.as_deref())
                            .push_bind(record.version)
                            .push_bind(record.updated_at)
                            .push_bind(components.identity_key(&record.division_code))
                            .push_bind(change.as_str())
                            .push_bind(actor)
                            .push_bind(generation);
                    });
                    query.push($crate::store::batch_sql::UPSERT_ADDRESS_TAIL);
                    query
                };
                let mut chunks = rows.chunks(ROWS_PER_STATEMENT);
                let mut next = chunks.next().map(statement);
                while let Some(mut current) = next.take() {
                    let executed;
                    (executed, next) = $crate::store::batch_sql::while_running(
                        current.build().execute(&mut *self.transaction),
                        || chunks.next().map(statement),
                    )
                    .await;
                    executed?;
                }
                Ok(())
            }

            async fn archive_current_versions(
                &mut self,
                current: &[&$crate::domain::address::StandardAddress],
            ) -> Result<(), $crate::store::StoreError> {
                use sqlx::types::Json;
                for chunk in current.chunks(ROWS_PER_STATEMENT) {
                    // The record comes from here, serialised as the API shows it; who
                    // made the version and when comes from the row it is leaving.
                    let mut query = sqlx::QueryBuilder::<$database>::new(
                        "INSERT INTO address_versions (code, version, change, actor, recorded_at, record) \
                         SELECT a.code, a.version, a.change_kind, a.changed_by, a.updated_at, v.column2 FROM (",
                    );
                    query.push_values(chunk, |mut values, record| {
                        values
                            .push_bind(record.code.clone())
                            .push_bind(Json(*record));
                    });
                    query.push(") AS v JOIN addresses a ON a.code = v.column1 WHERE a.change_kind IS NOT NULL");
                    query.build().execute(&mut *self.transaction).await?;
                }
                Ok(())
            }

            async fn mark_api_key_revoked(
                &mut self,
                key_id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$database>::new("UPDATE api_keys SET revoked_at = ");
                query.push_bind(at);
                query.push(" WHERE id = ");
                query.push_bind(key_id.to_owned());
                query.push(" AND revoked_at IS NULL");
                let result = query.build().execute(&mut *self.transaction).await?;
                Ok(result.rows_affected() == 1)
            }

            async fn append_audit(
                &mut self,
                entries: &[$crate::store::NewAuditEntry],
            ) -> Result<(), $crate::store::StoreError> {
                use sqlx::types::Json;
                for chunk in entries.chunks(ROWS_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<$database>::new(
                        "INSERT INTO audit_log (at, actor, action, entity, entity_id, before, after) ",
                    );
                    query.push_values(chunk, |mut values, entry| {
                        values
                            .push_bind(entry.at)
                            .push_bind(entry.actor.clone())
                            .push_bind(entry.action.clone())
                            .push_bind(entry.entity.clone())
                            .push_bind(entry.entity_id.clone())
                            .push_bind(entry.before.clone().map(Json))
                            .push_bind(entry.after.clone().map(Json));
                    });
                    query.build().execute(&mut *self.transaction).await?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use batched_write_transaction;

/// Runs `meanwhile` on this thread while the database runs `statement`, and returns
/// both results. The statement's first poll hands it over (to SQLite's worker thread,
/// or to the PostgreSQL server), so an import binds its next statement while the
/// current one executes instead of taking turns with it.
pub(crate) async fn while_running<Statement: std::future::Future, Meanwhile>(
    statement: Statement,
    meanwhile: impl FnOnce() -> Meanwhile,
) -> (Statement::Output, Meanwhile) {
    let mut statement = std::pin::pin!(statement);
    let first_poll =
        std::future::poll_fn(|context| std::task::Poll::Ready(statement.as_mut().poll(context)))
            .await;
    let meanwhile = meanwhile();
    let output = match first_poll {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => statement.await,
    };
    (output, meanwhile)
}

use super::StoreError;
use crate::domain::code::MAX_SERIAL;

/// The upsert tail that overwrites every mutable column of an address.
pub(crate) const UPSERT_ADDRESS_TAIL: &str = " ON CONFLICT (code) DO UPDATE SET \
    division_code = excluded.division_code, road = excluded.road, road_no = excluded.road_no, \
    place = excluded.place, building = excluded.building, unit = excluded.unit, floor = excluded.floor, \
    room = excluded.room, standard_text = excluded.standard_text, aliases = excluded.aliases, \
    lon = excluded.lon, lat = excluded.lat, status = excluded.status, valid_from = excluded.valid_from, \
    valid_to = excluded.valid_to, successor_code = excluded.successor_code, \
    retire_reason = excluded.retire_reason, source_id = excluded.source_id, version = excluded.version, \
    updated_at = excluded.updated_at, identity_key = excluded.identity_key, \
    change_kind = excluded.change_kind, changed_by = excluded.changed_by, \
    generation = excluded.generation";

pub(crate) const UPSERT_DIVISION_TAIL: &str = " ON CONFLICT (code) DO UPDATE SET name = excluded.name, \
    short_name = excluded.short_name, level = excluded.level, parent_code = excluded.parent_code, \
    aliases = excluded.aliases, valid_from = excluded.valid_from, valid_to = excluded.valid_to, \
    successor_code = excluded.successor_code";

/// Turns the counter after reserving `count` serials into the first serial of the block.
pub(crate) fn serial_block_start(
    division_code: &str,
    last: i64,
    count: u32,
) -> Result<u32, StoreError> {
    if last > i64::from(MAX_SERIAL) {
        return Err(StoreError::Database(format!(
            "division {division_code} has used all {MAX_SERIAL} serials"
        )));
    }
    Ok(u32::try_from(last).expect("checked above") + 1 - count)
}
