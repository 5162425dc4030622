//! Row decoding shared by both backends: the column names and types agree, so one
//! generic function reads an address, a division, a version or an audit entry.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{AddressVersion, AuditEntry, ChangeKind, Role, StoreError, StoredApiKey};
use crate::domain::address::{AddressComponents, AddressStatus, StandardAddress};
use crate::domain::division::{Division, DivisionLevel};

pub(crate) const ADDRESS_COLUMNS: &str = "code, division_code, road, road_no, place, building, unit, floor, room, \
     standard_text, aliases, lon, lat, status, valid_from, valid_to, successor_code, retire_reason, \
     source_id, version, updated_at, identity_key, change_kind, changed_by";

pub(crate) const DIVISION_COLUMNS: &str =
    "code, name, short_name, level, parent_code, aliases, valid_from, valid_to, successor_code";

pub(crate) const AUDIT_COLUMNS: &str = "id, at, actor, action, entity, entity_id, before, after";
/// Every key, oldest first; the same in both dialects (no placeholders).
/// One key by id: the caller binds the id after this text (each dialect its placeholder).
pub(crate) const SELECT_API_KEY_WHERE_ID: &str =
    "SELECT id, secret_sha256_hex, role, label, created_at, revoked_at FROM api_keys WHERE id = ";
pub(crate) const SELECT_ALL_API_KEYS: &str = "SELECT id, secret_sha256_hex, role, label, created_at, revoked_at \
    FROM api_keys ORDER BY created_at, id";

fn get<'r, R, T>(row: &'r R, column: &'static str) -> Result<T, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(column).map_err(StoreError::from)
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::CorruptRow(format!("unexpected {what} {value:?}"))
}

pub(crate) fn address_from_row<'r, R>(row: &'r R) -> Result<StandardAddress, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<f64>: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    Option<DateTime<Utc>>: Decode<'r, R::Database> + Type<R::Database>,
    Json<Vec<String>>: Decode<'r, R::Database> + Type<R::Database>,
{
    let status: String = get(row, "status")?;
    Ok(StandardAddress {
        code: get(row, "code")?,
        division_code: get(row, "division_code")?,
        components: AddressComponents {
            road: get(row, "road")?,
            road_no: get(row, "road_no")?,
            place: get(row, "place")?,
            building: get(row, "building")?,
            unit: get(row, "unit")?,
            floor: get(row, "floor")?,
            room: get(row, "room")?,
        },
        standard_text: get(row, "standard_text")?,
        aliases: get::<R, Json<Vec<String>>>(row, "aliases")?.0,
        lon: get(row, "lon")?,
        lat: get(row, "lat")?,
        status: AddressStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        valid_from: get(row, "valid_from")?,
        valid_to: get(row, "valid_to")?,
        successor_code: get(row, "successor_code")?,
        retire_reason: get(row, "retire_reason")?,
        source_id: get(row, "source_id")?,
        version: get(row, "version")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) fn division_from_row<'r, R>(row: &'r R) -> Result<Division, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<NaiveDate>: Decode<'r, R::Database> + Type<R::Database>,
    Json<Vec<String>>: Decode<'r, R::Database> + Type<R::Database>,
{
    let level: String = get(row, "level")?;
    Ok(Division {
        code: get(row, "code")?,
        name: get(row, "name")?,
        short_name: get(row, "short_name")?,
        level: DivisionLevel::parse(&level).ok_or_else(|| corrupt("level", &level))?,
        parent_code: get(row, "parent_code")?,
        aliases: get::<R, Json<Vec<String>>>(row, "aliases")?.0,
        valid_from: get(row, "valid_from")?,
        valid_to: get(row, "valid_to")?,
        successor_code: get(row, "successor_code")?,
    })
}

pub(crate) fn version_from_row<'r, R>(row: &'r R) -> Result<AddressVersion, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    Json<StandardAddress>: Decode<'r, R::Database> + Type<R::Database>,
{
    let change: String = get(row, "change")?;
    Ok(AddressVersion {
        version: get(row, "version")?,
        change: ChangeKind::parse(&change).ok_or_else(|| corrupt("change", &change))?,
        actor: get(row, "actor")?,
        recorded_at: get(row, "recorded_at")?,
        record: get::<R, Json<StandardAddress>>(row, "record")?.0,
    })
}

/// The current version of an address as its history shows it, read from its row in
/// `addresses`; `None` when the row was last written before migration 0005, whose
/// current version is in `address_versions` already.
pub(crate) fn current_version_from_row<'r, R>(
    row: &'r R,
) -> Result<Option<AddressVersion>, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<f64>: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    Option<DateTime<Utc>>: Decode<'r, R::Database> + Type<R::Database>,
    Json<Vec<String>>: Decode<'r, R::Database> + Type<R::Database>,
{
    let change: Option<String> = get(row, "change_kind")?;
    let actor: Option<String> = get(row, "changed_by")?;
    let (Some(change), Some(actor)) = (change, actor) else {
        return Ok(None);
    };
    let record = address_from_row(row)?;
    Ok(Some(AddressVersion {
        version: record.version,
        change: ChangeKind::parse(&change).ok_or_else(|| corrupt("change", &change))?,
        actor,
        recorded_at: record.updated_at,
        record,
    }))
}

/// An address's whole history: the archived versions and the current one. The
/// current row is read first, so an update committed between the two reads can only
/// add archived versions; each version appears once.
pub(crate) fn history_with_current(
    mut archived: Vec<AddressVersion>,
    current: Option<AddressVersion>,
) -> Vec<AddressVersion> {
    if let Some(current) = current
        && !archived
            .iter()
            .any(|version| version.version == current.version)
    {
        archived.push(current);
    }
    archived.sort_by_key(|version| version.version);
    archived
}

pub(crate) fn audit_from_row<'r, R>(row: &'r R) -> Result<AuditEntry, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    Option<Json<Value>>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(AuditEntry {
        id: get(row, "id")?,
        at: get(row, "at")?,
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        entity: get(row, "entity")?,
        entity_id: get(row, "entity_id")?,
        before: get::<R, Option<Json<Value>>>(row, "before")?.map(|json| json.0),
        after: get::<R, Option<Json<Value>>>(row, "after")?.map(|json| json.0),
    })
}

pub(crate) fn api_key_from_row<'r, R>(row: &'r R) -> Result<StoredApiKey, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    Option<DateTime<Utc>>: Decode<'r, R::Database> + Type<R::Database>,
{
    let role: String = get(row, "role")?;
    Ok(StoredApiKey {
        id: get(row, "id")?,
        secret_sha256_hex: get(row, "secret_sha256_hex")?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        label: get(row, "label")?,
        created_at: get(row, "created_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

/// Exclusive upper bound for a digit-string prefix range scan (':' sorts after '9').
pub(crate) fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}:")
}
