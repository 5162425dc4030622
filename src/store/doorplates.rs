//! Doorplate persistence: plates, their lifecycle and the scan log. The statements are
//! the same in both dialects, so one macro body implements [`DoorplateStore`] for
//! each backend.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::StoreError;
use super::{Actor, NewAuditEntry};
use crate::domain::doorplate::{Doorplate, NewDoorplate, PlateEnding, PlateSize, PlateStatus};

pub(crate) const DOORPLATE_COLUMNS: &str = "id, serial, address_code, division_code, size, status, \
     issued_at, issued_by, replaces, replaced_by, ended_at, end_reason";

/// One scan of a genuine plate, as the scan log writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRecord {
    pub plate_id: i64,
    pub division_code: String,
    pub scanned_at_ms: i64,
    /// `shown` (a current plate) or `ended` (a replaced or revoked one).
    pub outcome: &'static str,
    /// `html` or `json`.
    pub format: &'static str,
    pub client_kind: &'static str,
    pub client_hash: String,
}

/// One logged scan, as admins read it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScanEntry {
    pub id: i64,
    pub plate_id: i64,
    pub scanned_at: DateTime<Utc>,
    pub outcome: String,
    pub format: String,
    /// Coarse client family from the User-Agent: wechat, alipay, android, ios, desktop, bot, other.
    pub client_kind: String,
    /// Keyed hash of the client address and the day; never the address itself.
    pub client_hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScanStatisticsQuery {
    /// Significant digits of a division code to restrict to (`3302` = 宁波市).
    pub division_prefix: Option<String>,
    /// Digits of the division code to group by: 2, 4, 6, 9 or 12.
    pub group_digits: usize,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// Scans of the plates in one division.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanGroup {
    /// The group's division code prefix.
    pub division_prefix: String,
    pub scans: i64,
    pub plates: i64,
    pub clients: i64,
}

#[async_trait]
pub trait DoorplateStore: Send + Sync {
    /// Issues new plates in one transaction, with ids allocated in order.
    async fn issue_doorplates(
        &self,
        plates: &[NewDoorplate],
        actor: &Actor,
    ) -> Result<Vec<Doorplate>, StoreError>;
    /// Revokes a current plate, or replaces it with a new one for the same address;
    /// returns the ended plate and the replacement.
    async fn end_doorplate(
        &self,
        id: i64,
        ending: &PlateEnding,
        actor: &Actor,
    ) -> Result<(Doorplate, Option<Doorplate>), StoreError>;
    async fn doorplate(&self, id: i64) -> Result<Option<Doorplate>, StoreError>;
    /// The plates of an address, oldest first.
    async fn doorplates_of_address(&self, code: &str) -> Result<Vec<Doorplate>, StoreError>;
    /// A keyset page of every plate by id, for the in-memory scan index.
    async fn doorplates_after(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<Doorplate>, StoreError>;
    /// The id of the newest audit entry (0 when there is none).
    async fn last_audit_id(&self) -> Result<i64, StoreError>;
    /// Plate states written after audit entry `after_audit_id`, oldest first, with the
    /// id of the entry that wrote each: the change feed replicas follow.
    async fn plate_changes_after(
        &self,
        after_audit_id: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Doorplate)>, StoreError>;
    async fn record_scans(&self, scans: &[ScanRecord]) -> Result<(), StoreError>;
    /// Scans of one plate after `after_id`, oldest first.
    async fn doorplate_scans(
        &self,
        plate_id: i64,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ScanEntry>, StoreError>;
    async fn scan_statistics(
        &self,
        query: &ScanStatisticsQuery,
    ) -> Result<Vec<ScanGroup>, StoreError>;
}

pub(crate) fn doorplate_from_row<'r, R>(row: &'r R) -> Result<Doorplate, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    Option<DateTime<Utc>>: Decode<'r, R::Database> + Type<R::Database>,
{
    let size: String = row.try_get("size")?;
    let status: String = row.try_get("status")?;
    Ok(Doorplate {
        id: row.try_get("id")?,
        serial: row.try_get("serial")?,
        address_code: row.try_get("address_code")?,
        division_code: row.try_get("division_code")?,
        size: PlateSize::parse(&size)
            .ok_or_else(|| StoreError::CorruptRow(format!("unexpected plate size {size:?}")))?,
        status: PlateStatus::parse(&status)
            .ok_or_else(|| StoreError::CorruptRow(format!("unexpected plate status {status:?}")))?,
        issued_at: row.try_get("issued_at")?,
        issued_by: row.try_get("issued_by")?,
        replaces: row.try_get("replaces")?,
        replaced_by: row.try_get("replaced_by")?,
        ended_at: row.try_get("ended_at")?,
        end_reason: row.try_get("end_reason")?,
    })
}

pub(crate) fn scan_from_row<'r, R>(row: &'r R) -> Result<ScanEntry, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    let scanned_at_ms: i64 = row.try_get("scanned_at_ms")?;
    Ok(ScanEntry {
        id: row.try_get("id")?,
        plate_id: row.try_get("plate_id")?,
        scanned_at: DateTime::from_timestamp_millis(scanned_at_ms).ok_or_else(|| {
            StoreError::CorruptRow(format!("scan time {scanned_at_ms} out of range"))
        })?,
        outcome: row.try_get("outcome")?,
        format: row.try_get("format")?,
        client_kind: row.try_get("client_kind")?,
        client_hash: row.try_get("client_hash")?,
    })
}

/// The audit entry of a plate change.
pub(crate) fn plate_audit(
    actor: &Actor,
    action: &str,
    before: Option<&Doorplate>,
    after: &Doorplate,
    at: DateTime<Utc>,
) -> NewAuditEntry {
    let json = |plate: &Doorplate| {
        serde_json::value::to_raw_value(plate).expect("a doorplate always serialises")
    };
    NewAuditEntry {
        at,
        actor: actor.name.clone(),
        action: action.to_owned(),
        entity: "doorplate".to_owned(),
        entity_id: after.id.to_string(),
        before: before.map(json),
        after: Some(json(after)),
    }
}

/// Implements [`DoorplateStore`] for `$store`, whose `begin_write()` gives a `$write`
/// with a `transaction` field, `commit()` and the `WriteTransaction` statements, and
/// whose `read_pool()` gives the pool for reads.
macro_rules! doorplate_store {
    ($store:ty, $write:ty, $database:ty) => {
        /// `SELECT` of every plate column, ending in `WHERE {condition}` for a bind.
        fn select_doorplates_where(condition: &str) -> sqlx::QueryBuilder<$database> {
            sqlx::QueryBuilder::new(format!(
                "SELECT {} FROM doorplates WHERE {condition}",
                $crate::store::doorplates::DOORPLATE_COLUMNS
            ))
        }

        impl $write {
            async fn doorplate_for_update(
                &mut self,
                id: i64,
            ) -> Result<Option<$crate::domain::doorplate::Doorplate>, $crate::store::StoreError>
            {
                let mut query = select_doorplates_where("id = ");
                query.push_bind(id);
                let row = query.build().fetch_optional(&mut *self.transaction).await?;
                row.as_ref()
                    .map($crate::store::doorplates::doorplate_from_row)
                    .transpose()
            }

            /// The first of `count` new plate ids. Allocation is safe: every registry
            /// writer holds the backend's write lock.
            async fn next_doorplate_ids(
                &mut self,
                count: usize,
            ) -> Result<i64, $crate::store::StoreError> {
                let last: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM doorplates")
                    .fetch_one(&mut *self.transaction)
                    .await?;
                let first = last.unwrap_or(0) + 1;
                if first - 1 + count as i64 > $crate::domain::doorplate::MAX_PLATE_ID {
                    return Err($crate::store::StoreError::Database(
                        "the plate id space is exhausted".into(),
                    ));
                }
                Ok(first)
            }

            async fn insert_doorplates(
                &mut self,
                plates: &[$crate::domain::doorplate::Doorplate],
            ) -> Result<(), $crate::store::StoreError> {
                for chunk in plates.chunks(ROWS_PER_STATEMENT / 12) {
                    let mut query = sqlx::QueryBuilder::<$database>::new(format!(
                        "INSERT INTO doorplates ({}) ",
                        $crate::store::doorplates::DOORPLATE_COLUMNS
                    ));
                    query.push_values(chunk, |mut values, plate| {
                        values
                            .push_bind(plate.id)
                            .push_bind(plate.serial.clone())
                            .push_bind(plate.address_code.clone())
                            .push_bind(plate.division_code.clone())
                            .push_bind(plate.size.as_str())
                            .push_bind(plate.status.as_str())
                            .push_bind(plate.issued_at)
                            .push_bind(plate.issued_by.clone())
                            .push_bind(plate.replaces)
                            .push_bind(plate.replaced_by)
                            .push_bind(plate.ended_at)
                            .push_bind(plate.end_reason.clone());
                    });
                    query.build().execute(&mut *self.transaction).await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::doorplates::DoorplateStore for $store {
            async fn issue_doorplates(
                &self,
                plates: &[$crate::domain::doorplate::NewDoorplate],
                actor: &$crate::store::Actor,
            ) -> Result<Vec<$crate::domain::doorplate::Doorplate>, $crate::store::StoreError> {
                use $crate::store::writes::WriteTransaction;
                let mut write = self.begin_write().await?;
                let first_id = write.next_doorplate_ids(plates.len()).await?;
                let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
                let issued: Vec<_> = plates
                    .iter()
                    .enumerate()
                    .map(|(offset, plate)| {
                        $crate::store::doorplates::new_plate(plate, first_id + offset as i64, actor, now)
                    })
                    .collect();
                write.insert_doorplates(&issued).await?;
                let audit: Vec<_> = issued
                    .iter()
                    .map(|plate| {
                        $crate::store::doorplates::plate_audit(actor, "doorplate.issue", None, plate, now)
                    })
                    .collect();
                write.append_audit(&audit).await?;
                write.commit().await?;
                Ok(issued)
            }

            async fn end_doorplate(
                &self,
                id: i64,
                ending: &$crate::domain::doorplate::PlateEnding,
                actor: &$crate::store::Actor,
            ) -> Result<
                (
                    $crate::domain::doorplate::Doorplate,
                    Option<$crate::domain::doorplate::Doorplate>,
                ),
                $crate::store::StoreError,
            > {
                use $crate::domain::doorplate::{NewDoorplate, PlateEnding, PlateStatus};
                use $crate::store::writes::WriteTransaction;
                let mut write = self.begin_write().await?;
                let before = write
                    .doorplate_for_update(id)
                    .await?
                    .ok_or($crate::store::StoreError::DoorplateNotFound { id })?;
                if before.status != PlateStatus::Issued {
                    return Err($crate::store::StoreError::DoorplateNotCurrent {
                        id,
                        status: before.status,
                        replaced_by: before.replaced_by,
                    });
                }
                let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
                let mut ended = before.clone();
                ended.ended_at = Some(now);
                let replacement = match ending {
                    PlateEnding::Revoke { reason } => {
                        ended.status = PlateStatus::Revoked;
                        ended.end_reason = Some(reason.clone());
                        None
                    }
                    PlateEnding::Replace { reason, size } => {
                        let new_id = write.next_doorplate_ids(1).await?;
                        let plate = $crate::store::doorplates::new_plate(
                            &NewDoorplate {
                                address_code: before.address_code.clone(),
                                division_code: before.division_code.clone(),
                                size: *size,
                                replaces: Some(id),
                            },
                            new_id,
                            actor,
                            now,
                        );
                        ended.status = PlateStatus::Replaced;
                        ended.end_reason = reason.clone();
                        ended.replaced_by = Some(new_id);
                        Some(plate)
                    }
                };
                let mut update = sqlx::QueryBuilder::<$database>::new("UPDATE doorplates SET status = ");
                update
                    .push_bind(ended.status.as_str())
                    .push(", replaced_by = ")
                    .push_bind(ended.replaced_by)
                    .push(", ended_at = ")
                    .push_bind(ended.ended_at)
                    .push(", end_reason = ")
                    .push_bind(ended.end_reason.clone())
                    .push(" WHERE id = ")
                    .push_bind(id);
                update.build().execute(&mut *write.transaction).await?;
                let action = match ending {
                    PlateEnding::Revoke { .. } => "doorplate.revoke",
                    PlateEnding::Replace { .. } => "doorplate.replace",
                };
                let mut audit = vec![$crate::store::doorplates::plate_audit(
                    actor,
                    action,
                    Some(&before),
                    &ended,
                    now,
                )];
                if let Some(plate) = &replacement {
                    write.insert_doorplates(std::slice::from_ref(plate)).await?;
                    audit.push($crate::store::doorplates::plate_audit(
                        actor,
                        "doorplate.issue",
                        None,
                        plate,
                        now,
                    ));
                }
                write.append_audit(&audit).await?;
                write.commit().await?;
                Ok((ended, replacement))
            }

            async fn doorplate(
                &self,
                id: i64,
            ) -> Result<Option<$crate::domain::doorplate::Doorplate>, $crate::store::StoreError>
            {
                let mut query = select_doorplates_where("id = ");
                query.push_bind(id);
                let row = query.build().fetch_optional(self.read_pool()).await?;
                row.as_ref()
                    .map($crate::store::doorplates::doorplate_from_row)
                    .transpose()
            }

            async fn doorplates_of_address(
                &self,
                code: &str,
            ) -> Result<Vec<$crate::domain::doorplate::Doorplate>, $crate::store::StoreError> {
                let mut query = select_doorplates_where("address_code = ");
                query.push_bind(code.to_owned()).push(" ORDER BY id");
                let rows = query.build().fetch_all(self.read_pool()).await?;
                rows.iter()
                    .map($crate::store::doorplates::doorplate_from_row)
                    .collect()
            }

            async fn doorplates_after(
                &self,
                after_id: i64,
                limit: u32,
            ) -> Result<Vec<$crate::domain::doorplate::Doorplate>, $crate::store::StoreError> {
                let mut query = select_doorplates_where("id > ");
                query
                    .push_bind(after_id)
                    .push(" ORDER BY id LIMIT ")
                    .push_bind(i64::from(limit));
                let rows = query.build().fetch_all(self.read_pool()).await?;
                rows.iter()
                    .map($crate::store::doorplates::doorplate_from_row)
                    .collect()
            }

            async fn last_audit_id(&self) -> Result<i64, $crate::store::StoreError> {
                let last: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM audit_log")
                    .fetch_one(self.read_pool())
                    .await?;
                Ok(last.unwrap_or(0))
            }

            async fn plate_changes_after(
                &self,
                after_audit_id: i64,
                limit: u32,
            ) -> Result<Vec<(i64, $crate::domain::doorplate::Doorplate)>, $crate::store::StoreError>
            {
                let mut query = sqlx::QueryBuilder::<$database>::new(format!(
                    "SELECT {} FROM audit_log WHERE id > ",
                    $crate::store::rows::AUDIT_COLUMNS
                ));
                query
                    .push_bind(after_audit_id)
                    .push(" AND entity = 'doorplate' ORDER BY id LIMIT ")
                    .push_bind(i64::from(limit));
                let rows = query.build().fetch_all(self.read_pool()).await?;
                rows.iter()
                    .map(|row| {
                        let entry = $crate::store::rows::audit_from_row(row)?;
                        let plate = entry
                            .after
                            .map(serde_json::from_value)
                            .transpose()
                            .map_err(|error| {
                                $crate::store::StoreError::CorruptRow(format!(
                                    "audit entry {} holds no plate: {error}",
                                    entry.id
                                ))
                            })?
                            .ok_or_else(|| {
                                $crate::store::StoreError::CorruptRow(format!(
                                    "audit entry {} holds no plate",
                                    entry.id
                                ))
                            })?;
                        Ok((entry.id, plate))
                    })
                    .collect()
            }

            async fn record_scans(
                &self,
                scans: &[$crate::store::doorplates::ScanRecord],
            ) -> Result<(), $crate::store::StoreError> {
                if scans.is_empty() {
                    return Ok(());
                }
                // The scan log is not registry data: it needs no registry write lock,
                // only its own transaction so a flush lands whole or not at all.
                let mut transaction = self.scan_log_pool().begin().await?;
                for chunk in scans.chunks(ROWS_PER_STATEMENT / 7) {
                    let mut query = sqlx::QueryBuilder::<$database>::new(
                        "INSERT INTO doorplate_scans (plate_id, division_code, scanned_at_ms, outcome, format, client_kind, client_hash) ",
                    );
                    query.push_values(chunk, |mut values, scan| {
                        values
                            .push_bind(scan.plate_id)
                            .push_bind(scan.division_code.clone())
                            .push_bind(scan.scanned_at_ms)
                            .push_bind(scan.outcome)
                            .push_bind(scan.format)
                            .push_bind(scan.client_kind)
                            .push_bind(scan.client_hash.clone());
                    });
                    query.build().execute(&mut *transaction).await?;
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn doorplate_scans(
                &self,
                plate_id: i64,
                after_id: Option<i64>,
                limit: u32,
            ) -> Result<Vec<$crate::store::doorplates::ScanEntry>, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$database>::new(
                    "SELECT id, plate_id, scanned_at_ms, outcome, format, client_kind, client_hash \
                     FROM doorplate_scans WHERE plate_id = ",
                );
                query
                    .push_bind(plate_id)
                    .push(" AND id > ")
                    .push_bind(after_id.unwrap_or(0))
                    .push(" ORDER BY id LIMIT ")
                    .push_bind(i64::from(limit));
                let rows = query.build().fetch_all(self.read_pool()).await?;
                rows.iter()
                    .map($crate::store::doorplates::scan_from_row)
                    .collect()
            }

            async fn scan_statistics(
                &self,
                statistics: &$crate::store::doorplates::ScanStatisticsQuery,
            ) -> Result<Vec<$crate::store::doorplates::ScanGroup>, $crate::store::StoreError> {
                use sqlx::Row;
                // group_digits is one of a fixed set checked by the caller, never text
                // from the request, so it may be written into the statement.
                let group = format!("substr(division_code, 1, {})", statistics.group_digits);
                let mut query = sqlx::QueryBuilder::<$database>::new(format!(
                    "SELECT {group} AS division_prefix, count(*) AS scans, \
                     count(DISTINCT plate_id) AS plates, count(DISTINCT client_hash) AS clients \
                     FROM doorplate_scans WHERE 1 = 1"
                ));
                if let Some(prefix) = &statistics.division_prefix {
                    query
                        .push(" AND division_code >= ")
                        .push_bind(prefix.clone())
                        .push(" AND division_code < ")
                        .push_bind($crate::store::rows::prefix_upper_bound(prefix));
                }
                if let Some(from) = statistics.from_ms {
                    query.push(" AND scanned_at_ms >= ").push_bind(from);
                }
                if let Some(to) = statistics.to_ms {
                    query.push(" AND scanned_at_ms < ").push_bind(to);
                }
                query.push(format!(" GROUP BY {group} ORDER BY {group}"));
                let rows = query.build().fetch_all(self.read_pool()).await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::store::doorplates::ScanGroup {
                            division_prefix: row.try_get("division_prefix")?,
                            scans: row.try_get("scans")?,
                            plates: row.try_get("plates")?,
                            clients: row.try_get("clients")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use doorplate_store;

pub(crate) fn new_plate(
    plate: &NewDoorplate,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Doorplate {
    Doorplate {
        id,
        serial: crate::domain::doorplate::plate_serial(&plate.division_code, id),
        address_code: plate.address_code.clone(),
        division_code: plate.division_code.clone(),
        size: plate.size,
        status: PlateStatus::Issued,
        issued_at: now,
        issued_by: actor.name.clone(),
        replaces: plate.replaces,
        replaced_by: None,
        ended_at: None,
        end_reason: None,
    }
}
