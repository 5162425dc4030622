//! The decision logic of registry writes, written once for both backends.
//!
//! Each operation runs inside one backend transaction and talks to it only through
//! batched statements, because on this hardware a statement round trip costs far
//! more than the row it carries (design: "Performance facts").

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};

use super::import_lookahead::{ImportHint, RegisteredKeys, registered_now};
use super::{Actor, ChangeKind, Committed, ImportOutcome, NewAuditEntry, Retirement, StoreError};
use crate::domain::address::{AddressContent, AddressStatus, StandardAddress};
use crate::domain::code::compose_address_code;

/// The batched statements a backend supplies inside one open transaction.
#[async_trait]
pub(crate) trait WriteTransaction: Send {
    async fn addresses_by_codes(
        &mut self,
        codes: &[String],
    ) -> Result<Vec<StandardAddress>, StoreError>;
    async fn addresses_by_source_ids(
        &mut self,
        source_ids: &[String],
    ) -> Result<Vec<StandardAddress>, StoreError>;
    /// `(identity_key, code)` of the active addresses holding any of the keys.
    async fn active_codes_by_identity(
        &mut self,
        identity_keys: &[String],
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// Reserves `count` consecutive serials in each division, in one statement;
    /// returns the first serial of each block, in the order asked.
    async fn allocate_serials(
        &mut self,
        requests: &[(String, u32)],
    ) -> Result<Vec<u32>, StoreError>;
    /// The registry generation of the last committed write this transaction sees.
    async fn current_generation(&mut self) -> Result<i64, StoreError>;
    /// Takes the next registry generation (see migration 0004); the transaction holds it
    /// until it ends.
    async fn next_generation(&mut self) -> Result<i64, StoreError>;
    /// Inserts new rows and overwrites existing ones (by code), stamped with `generation`
    /// and with the change and actor that made this version (migration 0005).
    async fn upsert_address_rows(
        &mut self,
        rows: &[&StandardAddress],
        generation: i64,
        change: ChangeKind,
        actor: &str,
    ) -> Result<(), StoreError>;
    /// Copies the current versions of these addresses, which are about to be
    /// overwritten, into the version history, with the change and actor their rows
    /// hold. A row last written before migration 0005 has its version there already and
    /// is skipped. `current` must be the rows as they stand in this transaction.
    async fn archive_current_versions(
        &mut self,
        current: &[&StandardAddress],
    ) -> Result<(), StoreError>;
    async fn append_audit(&mut self, entries: &[NewAuditEntry]) -> Result<(), StoreError>;
    /// Sets `revoked_at` on a key not revoked yet; false when there is no such key.
    async fn mark_api_key_revoked(
        &mut self,
        key_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// Revokes a key and records who did it; false (and no audit entry) when the key does
/// not exist or was revoked before.
pub(crate) async fn revoke_api_key(
    transaction: &mut dyn WriteTransaction,
    key_id: &str,
    at: DateTime<Utc>,
    actor: &Actor,
) -> Result<bool, StoreError> {
    let revoked = transaction.mark_api_key_revoked(key_id, at).await?;
    if revoked {
        transaction
            .append_audit(&[NewAuditEntry {
                at,
                actor: actor.name.clone(),
                action: "api_key.revoke".into(),
                entity: "api_key".into(),
                entity_id: key_id.to_owned(),
                before: None,
                after: None,
            }])
            .await?;
    }
    Ok(revoked)
}

/// The time of a write, at the microsecond precision both backends store, so that
/// what a write returns equals what a later read returns.
fn write_time() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn raw_json(record: &StandardAddress) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(record).expect("an address always serialises")
}

fn audit_entry(
    actor: &Actor,
    action: &str,
    before: Option<&StandardAddress>,
    after: &StandardAddress,
    after_json: Box<serde_json::value::RawValue>,
) -> NewAuditEntry {
    NewAuditEntry {
        at: after.updated_at,
        actor: actor.name.clone(),
        action: action.to_owned(),
        entity: "address".to_owned(),
        entity_id: after.code.clone(),
        before: before.map(raw_json),
        after: Some(after_json),
    }
}

fn new_record(code: String, content: &AddressContent, now: DateTime<Utc>) -> StandardAddress {
    StandardAddress {
        code,
        division_code: content.division_code.clone(),
        components: content.components.clone(),
        standard_text: content.standard_text.clone(),
        aliases: content.aliases.clone(),
        lon: content.point.map(|point| point.lon),
        lat: content.point.map(|point| point.lat),
        status: AddressStatus::Active,
        valid_from: now,
        valid_to: None,
        successor_code: None,
        retire_reason: None,
        source_id: content.source_id.clone(),
        version: 1,
        updated_at: now,
    }
}

fn with_content(
    current: &StandardAddress,
    content: &AddressContent,
    now: DateTime<Utc>,
) -> StandardAddress {
    StandardAddress {
        division_code: content.division_code.clone(),
        components: content.components.clone(),
        standard_text: content.standard_text.clone(),
        aliases: content.aliases.clone(),
        lon: content.point.map(|point| point.lon),
        lat: content.point.map(|point| point.lat),
        source_id: content.source_id.clone(),
        version: current.version + 1,
        updated_at: now,
        ..current.clone()
    }
}

fn same_content(record: &StandardAddress, content: &AddressContent) -> bool {
    record.division_code == content.division_code
        && record.components == content.components
        && record.standard_text == content.standard_text
        && record.aliases == content.aliases
        && record.lon == content.point.map(|point| point.lon)
        && record.lat == content.point.map(|point| point.lat)
        && record.source_id == content.source_id
}

async fn current_version(
    transaction: &mut dyn WriteTransaction,
    code: &str,
    expected_version: i64,
) -> Result<StandardAddress, StoreError> {
    let current = transaction
        .addresses_by_codes(&[code.to_owned()])
        .await?
        .pop()
        .ok_or_else(|| StoreError::AddressNotFound {
            code: code.to_owned(),
        })?;
    if current.version != expected_version {
        return Err(StoreError::VersionConflict {
            code: code.to_owned(),
            expected: expected_version,
            found: current.version,
        });
    }
    Ok(current)
}

/// Rejects a content whose identity or source_id belongs to another address.
async fn check_uniqueness(
    transaction: &mut dyn WriteTransaction,
    content: &AddressContent,
    own_code: Option<&str>,
) -> Result<(), StoreError> {
    if let Some(source_id) = &content.source_id {
        let holders = transaction
            .addresses_by_source_ids(std::slice::from_ref(source_id))
            .await?;
        if let Some(holder) = holders
            .into_iter()
            .find(|holder| Some(holder.code.as_str()) != own_code)
        {
            return Err(StoreError::DuplicateSourceId {
                source_id: source_id.clone(),
                existing_code: holder.code,
            });
        }
    }
    let holders = transaction
        .active_codes_by_identity(&[content.identity_key()])
        .await?;
    if let Some((_, existing_code)) = holders
        .into_iter()
        .find(|(_, code)| Some(code.as_str()) != own_code)
    {
        return Err(StoreError::DuplicateAddress { existing_code });
    }
    Ok(())
}

async fn write_change(
    transaction: &mut dyn WriteTransaction,
    before: Option<&StandardAddress>,
    after: &StandardAddress,
    change: ChangeKind,
    actor: &Actor,
) -> Result<i64, StoreError> {
    let generation = transaction.next_generation().await?;
    if let Some(before) = before {
        transaction.archive_current_versions(&[before]).await?;
    }
    transaction
        .upsert_address_rows(&[after], generation, change, &actor.name)
        .await?;
    let after_json = raw_json(after);
    let action = format!("address.{}", change.as_str());
    transaction
        .append_audit(&[audit_entry(actor, &action, before, after, after_json)])
        .await?;
    Ok(generation)
}

fn committed(record: StandardAddress, generation: i64) -> Committed<StandardAddress> {
    Committed {
        value: record,
        generation: Some(generation),
    }
}

pub(crate) async fn create_address(
    transaction: &mut dyn WriteTransaction,
    content: &AddressContent,
    actor: &Actor,
) -> Result<Committed<StandardAddress>, StoreError> {
    check_uniqueness(transaction, content, None).await?;
    let serial = transaction
        .allocate_serials(&[(content.division_code.clone(), 1)])
        .await?[0];
    let code = compose_address_code(&content.division_code, serial)
        .map_err(|error| StoreError::Database(format!("serial allocation: {error}")))?;
    let record = new_record(code, content, write_time());
    let generation = write_change(transaction, None, &record, ChangeKind::Created, actor).await?;
    Ok(committed(record, generation))
}

pub(crate) async fn update_address(
    transaction: &mut dyn WriteTransaction,
    code: &str,
    expected_version: i64,
    content: &AddressContent,
    actor: &Actor,
) -> Result<Committed<StandardAddress>, StoreError> {
    let current = current_version(transaction, code, expected_version).await?;
    check_uniqueness(transaction, content, Some(code)).await?;
    let record = with_content(&current, content, write_time());
    let generation = write_change(
        transaction,
        Some(&current),
        &record,
        ChangeKind::Updated,
        actor,
    )
    .await?;
    Ok(committed(record, generation))
}

pub(crate) async fn retire_address(
    transaction: &mut dyn WriteTransaction,
    code: &str,
    expected_version: i64,
    retirement: &Retirement,
    actor: &Actor,
) -> Result<Committed<StandardAddress>, StoreError> {
    let current = current_version(transaction, code, expected_version).await?;
    let now = write_time();
    let record = StandardAddress {
        status: AddressStatus::Retired,
        valid_to: Some(now),
        successor_code: retirement.successor_code.clone(),
        retire_reason: Some(retirement.reason.clone()),
        version: current.version + 1,
        updated_at: now,
        ..current.clone()
    };
    let generation = write_change(
        transaction,
        Some(&current),
        &record,
        ChangeKind::Retired,
        actor,
    )
    .await?;
    Ok(committed(record, generation))
}

/// What the import decided for one row before codes are known.
enum Plan {
    Create,
    Update(Box<StandardAddress>),
    Done(ImportOutcome),
}

fn rejected(error_code: &'static str, message: String) -> Plan {
    Plan::Done(ImportOutcome::Rejected {
        error_code,
        message,
    })
}

pub(crate) async fn import_addresses(
    transaction: &mut dyn WriteTransaction,
    rows: &[AddressContent],
    hint: Option<ImportHint<'_>>,
    actor: &Actor,
    on_generation: &(dyn Fn(i64) + Send + Sync),
) -> Result<Committed<Vec<ImportOutcome>>, StoreError> {
    let RegisteredKeys {
        identity_keys,
        by_source_id: mut existing_by_source,
        // Who holds each identity, updated as the batch claims and releases identities.
        identity_holders: mut identity_holder,
    } = registered_now(transaction, rows, hint).await?;
    let mut source_ids_seen: HashMap<&str, usize> = HashMap::new();

    let mut plans = Vec::with_capacity(rows.len());
    for (index, (row, identity_key)) in rows.iter().zip(&identity_keys).enumerate() {
        if let Some(source_id) = row.source_id.as_deref()
            && let Some(first) = source_ids_seen.insert(source_id, index)
        {
            source_ids_seen.insert(source_id, first);
            plans.push(rejected(
                "duplicate_source_id",
                format!("source_id {source_id:?} repeats an earlier row of this import"),
            ));
            continue;
        }
        let existing = row
            .source_id
            .as_ref()
            .and_then(|source_id| existing_by_source.remove(source_id));
        let holder = identity_holder.get(identity_key).cloned();
        let plan = match existing {
            Some(existing) if existing.status == AddressStatus::Retired => rejected(
                "address_retired",
                format!(
                    "source_id belongs to retired address {}; register a new source_id",
                    existing.code
                ),
            ),
            Some(existing) if same_content(&existing, row) => {
                Plan::Done(ImportOutcome::Unchanged {
                    code: existing.code,
                })
            }
            Some(existing) => match holder {
                Some(holder) if holder != existing.code => rejected(
                    "duplicate_address",
                    format!("the same address is already registered as {holder}"),
                ),
                _ => {
                    // The address gives up its old identity to later rows of the batch.
                    let old_identity = existing.components.identity_key(&existing.division_code);
                    if identity_holder.get(&old_identity) == Some(&existing.code) {
                        identity_holder.remove(&old_identity);
                    }
                    identity_holder.insert(identity_key.clone(), existing.code.clone());
                    Plan::Update(Box::new(existing))
                }
            },
            None => match holder {
                Some(holder) => rejected("duplicate_address", duplicate_message(&holder)),
                None => {
                    identity_holder.insert(identity_key.clone(), format!("row:{index}"));
                    Plan::Create
                }
            },
        };
        plans.push(plan);
    }

    let now = write_time();
    let mut next_serial = allocate_for_creations(transaction, rows, &plans).await?;
    let mut outcomes = Vec::with_capacity(rows.len());
    // Sized up front: grown push by push, this vector of whole records was 9% of an
    // import's samples (reallocation copies and the kernel zeroing fresh pages). The
    // record an update supersedes stays boxed: most rows of an import are new, and an
    // unboxed `None` takes the room of a whole record.
    let mut written: Vec<(Option<Box<StandardAddress>>, StandardAddress)> =
        Vec::with_capacity(rows.len());
    for (row, plan) in rows.iter().zip(plans) {
        match plan {
            Plan::Done(outcome) => outcomes.push(outcome),
            Plan::Create => {
                let serial = next_serial
                    .get_mut(&row.division_code)
                    .expect("allocated above");
                let code = compose_address_code(&row.division_code, *serial)
                    .map_err(|error| StoreError::Database(format!("serial allocation: {error}")))?;
                *serial += 1;
                outcomes.push(ImportOutcome::Created {
                    code: code.clone(),
                    version: 1,
                });
                written.push((None, new_record(code, row, now)));
            }
            Plan::Update(existing) => {
                let record = with_content(&existing, row, now);
                outcomes.push(ImportOutcome::Updated {
                    code: existing.code.clone(),
                    version: record.version,
                });
                written.push((Some(existing), record));
            }
        }
    }
    if written.is_empty() {
        return Ok(Committed {
            value: outcomes,
            generation: None,
        });
    }
    let mut records: Vec<&StandardAddress> = written.iter().map(|(_, after)| after).collect();
    records.sort_unstable_by(|left, right| left.code.cmp(&right.code));
    let mut superseded: Vec<&StandardAddress> = written
        .iter()
        .filter_map(|(before, _)| before.as_deref())
        .collect();
    superseded.sort_unstable_by(|left, right| left.code.cmp(&right.code));
    let generation = transaction.next_generation().await?;
    on_generation(generation);
    transaction.archive_current_versions(&superseded).await?;
    transaction
        .upsert_address_rows(&records, generation, ChangeKind::Imported, &actor.name)
        .await?;
    let audit = [import_audit_entry(actor, now, generation, &written)];
    transaction.append_audit(&audit).await?;
    Ok(Committed {
        value: outcomes,
        generation: Some(generation),
    })
}

/// One audit entry per import batch: who imported which codes, and when. Each row's
/// content is its current version (change `imported`, with the same actor and time,
/// and in its version history once superseded), so the entry lists codes instead of
/// repeating every record: at a million
/// rows that repetition was a sixth of the import's time (docs/performance.md).
/// The entity id is the batch's registry generation, which its rows also carry.
fn import_audit_entry(
    actor: &Actor,
    at: DateTime<Utc>,
    generation: i64,
    written: &[(Option<Box<StandardAddress>>, StandardAddress)],
) -> NewAuditEntry {
    #[derive(serde::Serialize)]
    struct ImportSummary<'a> {
        created: Vec<&'a str>,
        updated: Vec<&'a str>,
    }
    let mut summary = ImportSummary {
        created: Vec::new(),
        updated: Vec::new(),
    };
    // Serialised straight from the records: a `serde_json::Value` of a batch's codes
    // copied every code into its own allocation first.
    for (before, after) in written {
        match before {
            Some(_) => summary.updated.push(&after.code),
            None => summary.created.push(&after.code),
        }
    }
    NewAuditEntry {
        at,
        actor: actor.name.clone(),
        action: "address.import".to_owned(),
        entity: "address_import".to_owned(),
        entity_id: generation.to_string(),
        before: None,
        after: Some(
            serde_json::value::to_raw_value(&summary).expect("a list of codes always serialises"),
        ),
    }
}

fn duplicate_message(holder: &str) -> String {
    match holder.strip_prefix("row:") {
        Some(_) => "the same address appears earlier in this import".to_owned(),
        None => format!("the same address is already registered as {holder}"),
    }
}

/// One serial block per division, sized to the rows being created there, reserved in a
/// single statement: an import batch spans hundreds of divisions.
async fn allocate_for_creations(
    transaction: &mut dyn WriteTransaction,
    rows: &[AddressContent],
    plans: &[Plan],
) -> Result<HashMap<String, u32>, StoreError> {
    let mut counts: Vec<(String, u32)> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (row, plan) in rows.iter().zip(plans) {
        if matches!(plan, Plan::Create) {
            let slot = *position.entry(&row.division_code).or_insert_with(|| {
                counts.push((row.division_code.clone(), 0));
                counts.len() - 1
            });
            counts[slot].1 += 1;
        }
    }
    let first_serials = transaction.allocate_serials(&counts).await?;
    Ok(counts
        .into_iter()
        .map(|(division_code, _)| division_code)
        .zip(first_serials)
        .collect())
}
