//! Reading what an import batch needs to know before its write transaction begins.
//!
//! An import batch first asks which of its source ids and identities are registered
//! already. Inside the write transaction those two lookups held the store's single
//! writer for a tenth of each batch. A file import asks them instead on a reading
//! connection while the batch before is still being written, and the write
//! transaction then reads again only what may have changed since.
//!
//! Why this stays exact: every write of an address takes the next registry generation
//! in its transaction (migration 0004), so the generation a look-ahead read in its
//! snapshot, compared with the one the write transaction finds, says whether anyone
//! wrote in between. If every generation in between is one of the same import's own
//! batches, only two kinds of key can have changed:
//! - keys the look-ahead found registered: their records or holders may have been
//!   rewritten, or their identities given up;
//! - keys those batches' rows carried: a key can only become registered by a row that
//!   carries it.
//!
//! Those are read again in the transaction; a key found absent and carried by none of
//! the batches in between is still absent. If anyone else wrote in between, the
//! transaction reads every key again, as it did before look-aheads existed.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use super::StoreError;
use super::writes::WriteTransaction;
use crate::domain::address::{AddressContent, StandardAddress};

/// What the store held for one import batch's keys at one registry generation.
pub struct ImportLookAhead {
    /// The registry generation the lookups saw.
    as_of_generation: i64,
    registered: RegisteredKeys,
}

impl ImportLookAhead {
    pub fn as_of_generation(&self) -> i64 {
        self.as_of_generation
    }

    /// The identity key of each row, in row order.
    pub fn identity_keys(&self) -> &[String] {
        &self.registered.identity_keys
    }
}

/// What an import batch's keys hold in the store.
pub(crate) struct RegisteredKeys {
    /// One per row, in row order (computing them is part of the work moved out of the write).
    pub identity_keys: Vec<String>,
    pub by_source_id: HashMap<String, StandardAddress>,
    /// The active address holding each identity found.
    pub identity_holders: HashMap<String, String>,
}

/// The keys one batch of an import carried, as hashes: a hash that collides only
/// makes a later batch read a key again that it need not have.
pub struct ImportedKeys {
    /// The batch's registry generation, once it committed a write.
    generation: Option<i64>,
    source_ids: HashSet<u64>,
    identity_keys: HashSet<u64>,
}

impl ImportedKeys {
    /// `identity_keys` are the rows' own, in row order ([`ImportLookAhead::identity_keys`]).
    pub fn of(rows: &[AddressContent], identity_keys: &[String]) -> Self {
        ImportedKeys {
            generation: None,
            source_ids: rows
                .iter()
                .filter_map(|row| row.source_id.as_deref())
                .map(key_hash)
                .collect(),
            identity_keys: identity_keys.iter().map(|key| key_hash(key)).collect(),
        }
    }

    /// The keys of a batch that committed as `generation`.
    pub fn committed_as(mut self, generation: i64) -> Self {
        self.generation = Some(generation);
        self
    }
}

/// A look-ahead and the import's own batches committed after it was read (any order;
/// others may be included).
pub struct ImportHint<'a> {
    pub look_ahead: ImportLookAhead,
    pub own_batches: &'a [ImportedKeys],
}

fn key_hash(key: &str) -> u64 {
    // Random keys, fixed for the process: the hashes are only compared within it.
    static HASHER: std::sync::LazyLock<std::collections::hash_map::RandomState> =
        std::sync::LazyLock::new(std::collections::hash_map::RandomState::new);
    let mut hasher = HASHER.build_hasher();
    key.hash(&mut hasher);
    std::hash::Hasher::finish(&hasher)
}

/// The identity key of each row, in row order.
pub(crate) fn identity_keys_of(rows: &[AddressContent]) -> Vec<String> {
    rows.iter().map(AddressContent::identity_key).collect()
}

/// The two lookups of an import batch and the generation they saw, in one snapshot.
pub(crate) async fn look_ahead(
    snapshot: &mut dyn WriteTransaction,
    rows: &[AddressContent],
) -> Result<ImportLookAhead, StoreError> {
    let as_of_generation = snapshot.current_generation().await?;
    let registered = look_up_every_key(snapshot, rows, identity_keys_of(rows)).await?;
    Ok(ImportLookAhead {
        as_of_generation,
        registered,
    })
}

/// What the batch's keys hold now, inside the write transaction: from the hint where it
/// is still exact, otherwise read here.
pub(crate) async fn registered_now(
    transaction: &mut dyn WriteTransaction,
    rows: &[AddressContent],
    hint: Option<ImportHint<'_>>,
) -> Result<RegisteredKeys, StoreError> {
    // A hint read for other rows (it has one identity key per row) is no hint.
    let Some(ImportHint {
        look_ahead,
        own_batches,
    }) = hint.filter(|hint| hint.look_ahead.registered.identity_keys.len() == rows.len())
    else {
        return look_up_every_key(transaction, rows, identity_keys_of(rows)).await;
    };
    let ImportLookAhead {
        as_of_generation,
        mut registered,
    } = look_ahead;
    let current = transaction.current_generation().await?;
    if current == as_of_generation {
        // Nobody wrote since the look-ahead: it is the transaction's own view.
        return Ok(registered);
    }
    let since: Vec<&ImportedKeys> = own_batches
        .iter()
        .filter(|batch| {
            batch
                .generation
                .is_some_and(|generation| generation > as_of_generation && generation <= current)
        })
        .collect();
    let own_generations: HashSet<i64> = since.iter().filter_map(|batch| batch.generation).collect();
    if own_generations.len() as i64 != current - as_of_generation {
        // Someone else wrote in between (or the store went back in time): read it all.
        return look_up_every_key(transaction, rows, registered.identity_keys).await;
    }
    let carried_since = |key: &str, keys_of: fn(&ImportedKeys) -> &HashSet<u64>| {
        let hash = key_hash(key);
        since.iter().any(|batch| keys_of(batch).contains(&hash))
    };
    let mut stale_source_ids: Vec<String> = rows
        .iter()
        .filter_map(|row| row.source_id.as_deref())
        .filter(|source_id| {
            registered.by_source_id.contains_key(*source_id)
                || carried_since(source_id, |batch| &batch.source_ids)
        })
        .map(str::to_owned)
        .collect();
    stale_source_ids.sort_unstable();
    stale_source_ids.dedup();
    let stale_identity_keys: Vec<String> = registered
        .identity_keys
        .iter()
        .filter(|key| {
            registered.identity_holders.contains_key(*key)
                || carried_since(key, |batch| &batch.identity_keys)
        })
        .cloned()
        .collect();
    for source_id in &stale_source_ids {
        registered.by_source_id.remove(source_id);
    }
    for key in &stale_identity_keys {
        registered.identity_holders.remove(key);
    }
    let (fresh_by_source_id, fresh_holders) =
        look_up(transaction, stale_source_ids, &stale_identity_keys).await?;
    registered.by_source_id.extend(fresh_by_source_id);
    registered.identity_holders.extend(fresh_holders);
    Ok(registered)
}

async fn look_up_every_key(
    transaction: &mut dyn WriteTransaction,
    rows: &[AddressContent],
    identity_keys: Vec<String>,
) -> Result<RegisteredKeys, StoreError> {
    let (by_source_id, identity_holders) =
        look_up(transaction, source_ids_sorted(rows), &identity_keys).await?;
    Ok(RegisteredKeys {
        identity_keys,
        by_source_id,
        identity_holders,
    })
}

fn source_ids_sorted(rows: &[AddressContent]) -> Vec<String> {
    let mut source_ids: Vec<String> = rows
        .iter()
        .filter_map(|row| row.source_id.clone())
        .collect();
    source_ids.sort_unstable();
    source_ids
}

/// Both lookups. They go in key order, not file order: a batch then walks each index
/// from one end to the other instead of seeking all over it.
async fn look_up(
    transaction: &mut dyn WriteTransaction,
    sorted_source_ids: Vec<String>,
    identity_keys: &[String],
) -> Result<(HashMap<String, StandardAddress>, HashMap<String, String>), StoreError> {
    let mut by_source_id = HashMap::new();
    if !sorted_source_ids.is_empty() {
        by_source_id = transaction
            .addresses_by_source_ids(&sorted_source_ids)
            .await?
            .into_iter()
            .filter_map(|record| Some((record.source_id.clone()?, record)))
            .collect();
    }
    let mut identity_holders = HashMap::new();
    if !identity_keys.is_empty() {
        let mut sorted_identity_keys = identity_keys.to_vec();
        sorted_identity_keys.sort_unstable();
        sorted_identity_keys.dedup();
        identity_holders = transaction
            .active_codes_by_identity(&sorted_identity_keys)
            .await?
            .into_iter()
            .collect();
    }
    Ok((by_source_id, identity_holders))
}
