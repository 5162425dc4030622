//! Keeps the in-memory address index in step with the store.
//!
//! Every transaction that writes addresses takes the next registry generation and
//! stamps it on its rows (migration 0004), so the store is also a change feed: "the
//! rows with a generation above N". The index records its position in that feed:
//! every change up to the position is in it. From there it
//! - starts from its snapshot file and reads only the changes made since the file
//!   was written, instead of every row (a restart with 1M addresses: about 1 s
//!   instead of 13-30 s);
//! - follows changes written by other processes (a second replica, the `import`
//!   command) as well as its own.
//!
//! Changes are applied by code and version, so reading one twice, or reading an
//! older version after a newer local write, never moves an address backwards.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::index::addresses::{AddressIndex, SnapshotError, SnapshotHeader};
use crate::store::{AddressFilter, ChangeCursor, ChangedAddress, Store, StoreError};

/// Rows per store read while loading or catching up.
const PAGE_ROWS: u32 = 20_000;

/// Where the index's snapshot lives, and the build that may read it.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    pub path: PathBuf,
    /// Identifies this program: another build may derive the indexed keys differently,
    /// so it does not trust this one's file.
    pub build: String,
}

/// The snapshot's name in the data directory.
pub const SNAPSHOT_FILE_NAME: &str = "address-index.snapshot";

impl SnapshotFile {
    /// The snapshot file in `data_dir`, for the running executable; `None` when the
    /// executable cannot be identified.
    pub fn in_data_dir(data_dir: &std::path::Path) -> Option<SnapshotFile> {
        let executable = std::env::current_exe().ok()?;
        let metadata = std::fs::metadata(executable).ok()?;
        let modified = metadata
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(SnapshotFile {
            path: data_dir.join(SNAPSHOT_FILE_NAME),
            build: format!(
                "{} {} {}.{:09}",
                env!("CARGO_PKG_VERSION"),
                metadata.len(),
                modified.as_secs(),
                modified.subsec_nanos()
            ),
        })
    }
}

/// The index's place in the store's change feed.
#[derive(Debug)]
pub(super) struct FeedPosition {
    store_id: String,
    /// Every change up to this generation is in the index.
    generation: i64,
    /// Generations above `generation` that this process wrote and applied already.
    applied_ahead: BTreeSet<i64>,
    /// Generations this process committed and is applying itself (an import batch's
    /// index update takes a while): the follower does not read them back.
    being_applied: BTreeSet<i64>,
    /// The generation of the snapshot file on disk, when it is this store's.
    snapshot_generation: Option<i64>,
}

impl FeedPosition {
    fn new(store_id: String, generation: i64, snapshot_generation: Option<i64>) -> Self {
        FeedPosition {
            store_id,
            generation,
            applied_ahead: BTreeSet::new(),
            being_applied: BTreeSet::new(),
            snapshot_generation,
        }
    }

    /// Records a generation applied to the index; the position moves over every
    /// generation that is now contiguous.
    pub(super) fn applied(&mut self, generation: i64) {
        self.being_applied.remove(&generation);
        if generation <= self.generation {
            return;
        }
        self.applied_ahead.insert(generation);
        self.advance();
    }

    /// Marks a committed generation as being applied by this process.
    pub(super) fn claim(&mut self, generation: i64) {
        if generation > self.generation && !self.applied_ahead.contains(&generation) {
            self.being_applied.insert(generation);
        }
    }

    /// Gives a claimed generation back to the follower, whose next round reads it.
    pub(super) fn release(&mut self, generation: i64) {
        self.being_applied.remove(&generation);
    }

    /// The runs of generations up to `current` that are neither applied nor being
    /// applied, as (after, through) bounds.
    fn unread_ranges(&self, current: i64) -> Vec<(i64, i64)> {
        let mut ranges = Vec::new();
        let mut after = self.generation;
        for &taken in self.applied_ahead.union(&self.being_applied) {
            if taken > current {
                break;
            }
            if taken > after + 1 {
                ranges.push((after, taken - 1));
            }
            after = taken;
        }
        if current > after {
            ranges.push((after, current));
        }
        ranges
    }

    /// Records that every change in (after, through] is in the index.
    fn read_through(&mut self, after: i64, through: i64) {
        if after <= self.generation {
            self.generation = self.generation.max(through);
            self.applied_ahead = self.applied_ahead.split_off(&(self.generation + 1));
            self.advance();
        } else {
            // Only a run between this process's own batches lands here: a few
            // generations, written by others while one batch was being indexed.
            self.applied_ahead.extend(after + 1..=through);
        }
    }

    fn advance(&mut self) {
        while self.applied_ahead.remove(&(self.generation + 1)) {
            self.generation += 1;
        }
    }
}

/// How the index was loaded at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexLoad {
    pub addresses: usize,
    /// Read from the snapshot file rather than from every stored row.
    pub from_snapshot: bool,
    /// Changes read from the store after the snapshot.
    pub caught_up: usize,
}

/// An index read for a store, ready to become a [`super::Registry`]'s.
pub struct LoadedIndex {
    pub(super) index: AddressIndex,
    pub(super) position: FeedPosition,
    pub(super) report: IndexLoad,
}

impl LoadedIndex {
    pub fn report(&self) -> &IndexLoad {
        &self.report
    }
}

/// Builds the index: from the snapshot when it belongs to this store and this build,
/// then the changes since; otherwise from every stored row.
pub(super) async fn load(
    store: &dyn Store,
    snapshot: Option<&SnapshotFile>,
) -> Result<LoadedIndex, StoreError> {
    // Read before any row: a change committed while the rows are read is then either
    // in what was read or above the position, and is read again later. Both are safe.
    let current = store.registry_generation().await?;
    if let Some(file) = snapshot
        && let Some((header, mut index)) = read_snapshot(file).await
    {
        if header.store_id == current.store_id
            && header.build == file.build
            && header.generation <= current.generation
        {
            let caught_up = apply_changes_after(store, header.generation, None, |changes| {
                for change in changes {
                    index.upsert(&change.address);
                }
            })
            .await?;
            return Ok(LoadedIndex {
                report: IndexLoad {
                    addresses: index.len(),
                    from_snapshot: true,
                    caught_up,
                },
                index,
                position: FeedPosition::new(
                    current.store_id,
                    current.generation,
                    Some(header.generation),
                ),
            });
        }
        tracing::info!(
            snapshot_generation = header.generation,
            store_generation = current.generation,
            "the address index snapshot is from another store, build or history; reading every row"
        );
    }
    let index = load_every_row(store).await?;
    Ok(LoadedIndex {
        report: IndexLoad {
            addresses: index.len(),
            from_snapshot: false,
            caught_up: 0,
        },
        index,
        position: FeedPosition::new(current.store_id, current.generation, None),
    })
}

async fn read_snapshot(file: &SnapshotFile) -> Option<(SnapshotHeader, AddressIndex)> {
    let path = file.path.clone();
    let started = Instant::now();
    let read = tokio::task::spawn_blocking(move || -> Result<_, SnapshotError> {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        AddressIndex::read_snapshot(&bytes).map(Some)
    })
    .await;
    match read {
        Ok(Ok(Some(read))) => {
            tracing::info!(
                addresses = read.1.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "address index snapshot read"
            );
            Some(read)
        }
        Ok(Ok(None)) => None,
        Ok(Err(error)) => {
            tracing::warn!(%error, "address index snapshot not used");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "address index snapshot not used");
            None
        }
    }
}

async fn load_every_row(store: &dyn Store) -> Result<AddressIndex, StoreError> {
    let expected = store.count_addresses().await?;
    let mut index = AddressIndex::new();
    index.begin_loading(usize::try_from(expected).unwrap_or(0));
    let filter = AddressFilter::default();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_addresses(&filter, after.as_deref(), PAGE_ROWS)
            .await?;
        for address in &page {
            index.upsert(address);
        }
        match page.last() {
            Some(last) if page.len() == PAGE_ROWS as usize => after = Some(last.code.clone()),
            _ => break,
        }
    }
    index.finish_loading();
    Ok(index)
}

/// Reads the addresses changed after `generation` (and no later than `through`, when
/// given), a page at a time, and hands each page to `apply`; returns how many were read.
async fn apply_changes_after(
    store: &dyn Store,
    generation: i64,
    through: Option<i64>,
    mut apply: impl FnMut(&[ChangedAddress]),
) -> Result<usize, StoreError> {
    let mut cursor = ChangeCursor::after_generation(generation);
    let mut read = 0;
    loop {
        let page = store
            .addresses_changed_after(&cursor, through, PAGE_ROWS)
            .await?;
        apply(&page);
        read += page.len();
        match page.last() {
            Some(last) if page.len() == PAGE_ROWS as usize => {
                cursor = ChangeCursor {
                    generation: last.generation,
                    code: Some(last.address.code.clone()),
                }
            }
            _ => return Ok(read),
        }
    }
}

impl super::Registry {
    /// Applies the changes committed since the index's position that this process
    /// has not applied and is not applying itself: other processes' writes, and its
    /// own single-address writes when the follower looks between their commit and
    /// their index update (an import batch claims its generation before its commit).
    /// Returns how many addresses were read.
    pub async fn follow_changes(&self) -> Result<usize, StoreError> {
        let current = self.store.registry_generation().await?;
        let unread = {
            let position = self.feed();
            if position.store_id != current.store_id {
                return Err(StoreError::Database(format!(
                    "the store's identity changed from {} to {} while serving; restart to reload",
                    position.store_id, current.store_id
                )));
            }
            position.unread_ranges(current.generation)
        };
        let mut read = 0;
        for (after, through) in unread {
            let changes =
                apply_changes_after(self.store.as_ref(), after, Some(through), |changes| {
                    let mut index = self.write_index();
                    for change in changes {
                        index.upsert(&change.address);
                    }
                })
                .await?;
            tracing::debug!(after, through, changes, "read address changes");
            read += changes;
            self.feed().read_through(after, through);
        }
        Ok(read)
    }

    /// Writes the snapshot file when the index has moved since the last one. The
    /// index stays readable meanwhile; writers wait (about a second per million).
    pub async fn save_snapshot(&self) -> Result<bool, SnapshotError> {
        let Some(file) = self.snapshot.clone() else {
            return Ok(false);
        };
        let header = {
            let position = self.feed();
            if position.snapshot_generation == Some(position.generation) {
                return Ok(false);
            }
            SnapshotHeader {
                store_id: position.store_id.clone(),
                generation: position.generation,
                build: file.build.clone(),
            }
        };
        let generation = header.generation;
        let addresses: crate::matching::LiveAddressIndex = Arc::clone(&self.addresses);
        let started = Instant::now();
        tokio::task::spawn_blocking(move || {
            let index = addresses
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            index.write_snapshot(&file.path, &header)
        })
        .await
        .map_err(|error| SnapshotError::Io(std::io::Error::other(error)))??;
        tracing::info!(
            generation,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "address index snapshot written"
        );
        let mut position = self.feed();
        position.snapshot_generation = Some(generation);
        Ok(true)
    }

    /// Follows the store once a second until the registry is dropped, so writes made
    /// elsewhere reach matching and geocoding within about a second.
    pub fn spawn_change_follower(self: &Arc<Self>) {
        let registry = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                if let Err(error) = registry.follow_changes().await {
                    tracing::warn!(%error, "following address changes failed; will retry");
                }
            }
        });
    }
}
