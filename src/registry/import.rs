//! Streaming import of the address CSV of the design:
//! `source_id,division_code,road,road_no,place,building,unit,floor,room,lon,lat`.
//!
//! Rows are read and written in batches, so memory stays flat however long the file
//! is; every rejected row is reported with its line number and the rest are kept.

use std::io::Read;
use std::sync::Arc;

use serde::Serialize;

use super::{AddressDraft, Registry, RegistryError};
use crate::domain::address::{AddressComponents, AddressContent};
use crate::store::{Actor, Committed, ImportHint, ImportOutcome, ImportedKeys};

pub const IMPORT_COLUMNS: [&str; 11] = [
    "source_id",
    "division_code",
    "road",
    "road_no",
    "place",
    "building",
    "unit",
    "floor",
    "room",
    "lon",
    "lat",
];

/// Rows per store transaction, unless the caller says otherwise. A batch spreads over
/// the whole registry (rows arrive in no particular order), so each commit writes
/// nearly every page of the code-ordered indexes again, and larger batches write each
/// page fewer times: at 1M rows, batches of 100,000 took 38 s where batches of 10,000
/// took 53 s, and later 200,000 took 0.86 of the time of 100,000
/// (docs/performance.md). Three batches are under way at once (read, written, indexed),
/// about 200 MB each at this size.
pub const IMPORT_BATCH_ROWS: usize = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the CSV header lacks the columns {missing:?}; expected {IMPORT_COLUMNS:?}")]
    MissingColumns { missing: Vec<&'static str> },
    #[error("cannot read the CSV: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    pub line: u64,
    pub source_id: Option<String>,
    pub error_code: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

/// Column positions of the required fields in this file's header.
struct ColumnMap([usize; 11]);

impl ColumnMap {
    fn from_header(header: &csv::StringRecord) -> Result<Self, ImportError> {
        let names: Vec<String> = header
            .iter()
            .map(|name| {
                name.trim_start_matches('\u{feff}')
                    .trim()
                    .to_ascii_lowercase()
            })
            .collect();
        let mut positions = [0usize; 11];
        let mut missing = Vec::new();
        for (slot, column) in IMPORT_COLUMNS.iter().enumerate() {
            match names.iter().position(|name| name == column) {
                Some(position) => positions[slot] = position,
                None => missing.push(*column),
            }
        }
        if missing.is_empty() {
            Ok(ColumnMap(positions))
        } else {
            Err(ImportError::MissingColumns { missing })
        }
    }

    fn cell<'r>(&self, record: &'r csv::StringRecord, slot: usize) -> Option<&'r str> {
        record
            .get(self.0[slot])
            .map(str::trim)
            .filter(|cell| !cell.is_empty())
    }

    fn draft(&self, record: &csv::StringRecord) -> Result<AddressDraft, String> {
        let text = |slot| self.cell(record, slot).map(str::to_owned);
        let number = |slot: usize| -> Result<Option<f64>, String> {
            self.cell(record, slot)
                .map(|cell| {
                    cell.parse::<f64>()
                        .map_err(|_| format!("{} {cell:?} is not a number", IMPORT_COLUMNS[slot]))
                })
                .transpose()
        };
        Ok(AddressDraft {
            source_id: text(0),
            division_code: text(1).unwrap_or_default(),
            components: AddressComponents {
                road: text(2),
                road_no: text(3),
                place: text(4),
                building: text(5),
                unit: text(6),
                floor: text(7),
                room: text(8),
            },
            aliases: Vec::new(),
            lon: number(9)?,
            lat: number(10)?,
        })
    }
}

/// Imports a CSV. `on_row_error` sees each rejected row as it happens and
/// `on_progress` the bytes consumed so far, after each batch.
pub async fn import_address_csv(
    registry: &Arc<Registry>,
    input: impl Read,
    actor: &Actor,
    on_row_error: impl FnMut(&RowError),
    on_progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    import_address_csv_in_batches(
        registry,
        input,
        actor,
        IMPORT_BATCH_ROWS,
        on_row_error,
        on_progress,
    )
    .await
}

/// The rows of each store transaction of a file import, in order. The first batch is
/// an eighth of `batch_rows` and each next one twice the last, up to `batch_rows`: the
/// store's writer, the busiest part of an import, then starts once a few rows are
/// ready instead of waiting while a whole batch is read and prepared (docs/performance.md,
/// the sixth import step).
pub fn import_batch_sizes(batch_rows: usize) -> impl Iterator<Item = usize> {
    let batch_rows = batch_rows.max(1);
    std::iter::successors(Some((batch_rows / 8).max(1)), move |&size| {
        Some(size.saturating_mul(2).min(batch_rows))
    })
}

/// [`import_address_csv`] with at most `batch_rows` rows (at least one) per store
/// transaction.
///
/// Three batches are under way at once: this task reads and prepares one while the
/// store writes the one before, and the one before that goes into the in-memory
/// index. The store's single writer, the busiest part of an import, then never waits
/// for the index or for the file.
pub async fn import_address_csv_in_batches(
    registry: &Arc<Registry>,
    input: impl Read,
    actor: &Actor,
    batch_rows: usize,
    mut on_row_error: impl FnMut(&RowError),
    mut on_progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let mut batch_sizes = import_batch_sizes(batch_rows);
    let mut next_batch_rows = batch_sizes.next().unwrap_or(1);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header = reader
        .headers()
        .map_err(|error| ImportError::Unreadable(error.to_string()))?
        .clone();
    let columns = ColumnMap::from_header(&header)?;
    // The spatial index takes the file's points in one bulk load at the end.
    let _bulk = registry.bulk_indexing();
    let mut report = ImportReport::default();
    // Reserved up to the default size only: a mistyped `--batch-rows` of billions
    // must not ask for terabytes before the first row is read.
    let reserve = |rows: usize| rows.min(IMPORT_BATCH_ROWS);
    let mut batch: Vec<(u64, AddressDraft)> = Vec::with_capacity(reserve(next_batch_rows));
    let mut pipeline = BatchPipeline::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() + 1;
        let more = match reader.read_record(&mut record) {
            Ok(more) => more,
            Err(error) if error.is_io_error() => {
                // The batches already in the store still commit and are counted.
                pipeline
                    .drain(&mut report, &mut on_row_error, &mut on_progress)
                    .await?;
                return Err(ImportError::Unreadable(error.to_string()));
            }
            Err(error) => {
                // A malformed row (bad UTF-8, broken quoting) is reported; the file goes on.
                report.rows += 1;
                report.rejected += 1;
                on_row_error(&RowError {
                    line,
                    source_id: None,
                    error_code: "invalid_request".into(),
                    message: format!("unreadable row: {error}"),
                });
                continue;
            }
        };
        if more {
            let line = record.position().map_or(line, |position| position.line());
            report.rows += 1;
            match columns.draft(&record) {
                Ok(draft) => batch.push((line, draft)),
                Err(message) => {
                    report.rejected += 1;
                    let source_id = columns.cell(&record, 0).map(str::to_owned);
                    on_row_error(&RowError {
                        line,
                        source_id,
                        error_code: "invalid_address".into(),
                        message,
                    });
                }
            }
        }
        if batch.len() >= next_batch_rows || (!more && !batch.is_empty()) {
            next_batch_rows = batch_sizes.next().unwrap_or(next_batch_rows);
            let prepared = registry.prepare_import(batch.iter().map(|(_, draft)| draft));
            let rows = std::mem::replace(&mut batch, Vec::with_capacity(reserve(next_batch_rows)));
            pipeline
                .submit(
                    registry,
                    actor,
                    prepared,
                    rows,
                    reader.position().byte(),
                    (&mut report, &mut on_row_error, &mut on_progress),
                )
                .await?;
        }
        if !more {
            pipeline
                .drain(&mut report, &mut on_row_error, &mut on_progress)
                .await?;
            return Ok(report);
        }
    }
}

/// The batches of a file import that are in the store or on their way to the index,
/// oldest first.
#[derive(Default)]
struct BatchPipeline {
    in_flight: std::collections::VecDeque<BatchInFlight>,
    /// Fires when the newest batch is in the index: the next one waits for it, so
    /// batches reach the index in the order they were written.
    newest_indexed: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// How the store finished with a batch.
enum Stored {
    Failed,
    /// With the batch's generation, if it wrote anything.
    Committed(Option<i64>),
}

impl BatchPipeline {
    async fn submit(
        &mut self,
        registry: &Arc<Registry>,
        actor: &Actor,
        prepared: PreparedImport,
        rows: Vec<(u64, AddressDraft)>,
        bytes_read: u64,
        (report, on_row_error, on_progress): (
            &mut ImportReport,
            &mut impl FnMut(&RowError),
            &mut impl FnMut(u64),
        ),
    ) -> Result<(), ImportError> {
        // Asked while the store still writes the batch before, on a reading connection:
        // the write then reads again only what may have changed (`import_lookahead`).
        // Without it the write reads everything itself, so a failure here costs time only.
        let look_ahead = match registry.store().look_ahead_import(prepared.rows()).await {
            Ok(look_ahead) => Some(look_ahead),
            Err(error) => {
                tracing::warn!(%error, "import look-ahead failed; the write looks up every key");
                None
            }
        };
        let carried_keys = look_ahead
            .as_ref()
            .map(|look_ahead| ImportedKeys::of(prepared.rows(), look_ahead.identity_keys()));
        // The store writes one batch at a time: each commits before the next begins.
        let previous_stored = match self.in_flight.back_mut() {
            Some(previous) => match previous.stored.take() {
                Some(stored) => stored.await.unwrap_or(Stored::Failed),
                None => Stored::Committed(None),
            },
            None => Stored::Committed(None),
        };
        // The batch before is the only one that can have committed after the look-ahead
        // read: the one before it had committed when this submit began.
        let mut own_batches = Vec::new();
        match previous_stored {
            Stored::Failed => {
                // The failed batch's error comes out of its task; nothing more is written.
                self.drain(report, on_row_error, on_progress).await?;
            }
            Stored::Committed(generation) => {
                let previous_keys = self
                    .in_flight
                    .back_mut()
                    .and_then(|previous| previous.carried_keys.take());
                if let (Some(generation), Some(keys)) = (generation, previous_keys) {
                    own_batches.push(keys.committed_as(generation));
                }
            }
        }
        while self.in_flight.len() > 1 {
            let oldest = self.in_flight.pop_front().expect("more than one");
            oldest.finish(report, on_row_error, on_progress).await?;
        }
        let (stored_sender, stored) = tokio::sync::oneshot::channel();
        let (indexed_sender, indexed) = tokio::sync::oneshot::channel();
        let previous_indexed = self.newest_indexed.replace(indexed);
        let registry = Arc::clone(registry);
        let actor = actor.clone();
        let task = tokio::spawn(async move {
            let hint = look_ahead.map(|look_ahead| ImportHint {
                look_ahead,
                own_batches: &own_batches,
            });
            let written = registry.store_import(prepared, hint, &actor).await;
            let _ = stored_sender.send(match &written {
                Ok(written) => Stored::Committed(written.generation()),
                Err(_) => Stored::Failed,
            });
            let written = written?;
            if let Some(previous) = previous_indexed {
                // An error means that batch failed and will never be indexed.
                let _ = previous.await;
            }
            let outcomes = written.apply_to_index_off_runtime().await;
            let _ = indexed_sender.send(());
            outcomes
        });
        self.in_flight.push_back(BatchInFlight {
            rows,
            bytes_read,
            stored: Some(stored),
            carried_keys,
            task,
        });
        Ok(())
    }

    /// Waits for every batch under way and counts it; the first error after all of
    /// them are done, so none is left writing when the import returns.
    async fn drain(
        &mut self,
        report: &mut ImportReport,
        on_row_error: &mut impl FnMut(&RowError),
        on_progress: &mut impl FnMut(u64),
    ) -> Result<(), ImportError> {
        let mut first_error = None;
        while let Some(batch) = self.in_flight.pop_front() {
            if let Err(error) = batch.finish(report, on_row_error, on_progress).await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A batch the store is writing or the index is taking, with what is needed to
/// report on it.
struct BatchInFlight {
    rows: Vec<(u64, AddressDraft)>,
    /// Where the reader stood after the batch's last row.
    bytes_read: u64,
    /// Whether the store committed the batch, once it has finished with it.
    stored: Option<tokio::sync::oneshot::Receiver<Stored>>,
    /// The keys the batch's rows carry, for the batch after it.
    carried_keys: Option<ImportedKeys>,
    task: tokio::task::JoinHandle<Result<Vec<ImportOutcome>, RegistryError>>,
}

impl BatchInFlight {
    async fn finish(
        self,
        report: &mut ImportReport,
        on_row_error: &mut impl FnMut(&RowError),
        on_progress: &mut impl FnMut(u64),
    ) -> Result<(), ImportError> {
        let outcomes = match self.task.await {
            Ok(written) => written?,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => {
                return Err(ImportError::from(RegistryError::from(
                    crate::store::StoreError::Unavailable(format!(
                        "import batch cancelled: {error}"
                    )),
                )));
            }
        };
        for ((line, draft), outcome) in self.rows.iter().zip(outcomes) {
            match outcome {
                ImportOutcome::Created { .. } => report.created += 1,
                ImportOutcome::Updated { .. } => report.updated += 1,
                ImportOutcome::Unchanged { .. } => report.unchanged += 1,
                ImportOutcome::Rejected {
                    error_code,
                    message,
                } => {
                    report.rejected += 1;
                    on_row_error(&RowError {
                        line: *line,
                        source_id: draft.source_id.clone(),
                        error_code: error_code.to_owned(),
                        message,
                    });
                }
            }
        }
        on_progress(self.bytes_read);
        Ok(())
    }
}

impl Registry {
    /// Prepares, writes and indexes one batch; rows that fail preparation are
    /// reported in place.
    pub async fn import_batch(
        self: &Arc<Self>,
        drafts: &[AddressDraft],
        actor: &Actor,
    ) -> Result<Vec<ImportOutcome>, RegistryError> {
        let stored = self
            .store_import(self.prepare_import(drafts), None, actor)
            .await?;
        stored.apply_to_index_off_runtime().await
    }

    /// The checks and composition of an import batch, which need no store: a file
    /// import runs them on the next batch while the store writes this one.
    pub fn prepare_import<'a>(
        &self,
        drafts: impl IntoIterator<Item = &'a AddressDraft>,
    ) -> PreparedImport {
        let drafts = drafts.into_iter();
        let mut outcomes: Vec<Option<ImportOutcome>> = Vec::with_capacity(drafts.size_hint().0);
        let mut prepared = Vec::with_capacity(drafts.size_hint().0);
        for draft in drafts {
            match self.prepare(draft) {
                Ok(content) => {
                    prepared.push(content);
                    outcomes.push(None);
                }
                Err(error) => {
                    let error_code = crate::error::Error::from(error);
                    outcomes.push(Some(ImportOutcome::Rejected {
                        error_code: error_code.code().as_str(),
                        message: error_code.to_string(),
                    }));
                }
            }
        }
        PreparedImport { prepared, outcomes }
    }

    /// Writes a prepared batch in one transaction. Its generation is this process's
    /// to apply to the index (the change follower skips it) until the returned batch
    /// is applied or dropped.
    pub async fn store_import(
        self: &Arc<Self>,
        batch: PreparedImport,
        hint: Option<ImportHint<'_>>,
        actor: &Actor,
    ) -> Result<StoredImport, RegistryError> {
        let PreparedImport { prepared, outcomes } = batch;
        let claim = GenerationClaim {
            registry: self,
            generation: std::sync::atomic::AtomicI64::new(0),
        };
        // Claimed before the commit: once committed, the follower could read the
        // whole batch back before this process got round to claiming it.
        let Committed { value: written, .. } = self
            .store
            .import_addresses(&prepared, hint, actor, &|generation| claim.take(generation))
            .await?;
        Ok(StoredImport {
            registry: Arc::clone(self),
            prepared,
            outcomes,
            written,
            generation: claim.into_generation(),
        })
    }
}

/// A generation this process is writing and will apply to the index itself; given
/// back to the follower if the write fails or is abandoned.
struct GenerationClaim<'a> {
    registry: &'a Registry,
    /// 0 until the store reports the generation (generations start at 1).
    generation: std::sync::atomic::AtomicI64,
}

impl GenerationClaim<'_> {
    fn take(&self, generation: i64) {
        self.registry.feed().claim(generation);
        self.generation
            .store(generation, std::sync::atomic::Ordering::Relaxed);
    }

    fn into_generation(self) -> Option<i64> {
        let generation = self
            .generation
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        (generation > 0).then_some(generation)
    }
}

impl Drop for GenerationClaim<'_> {
    fn drop(&mut self) {
        let generation = *self.generation.get_mut();
        if generation > 0 {
            self.registry.feed().release(generation);
        }
    }
}

/// An import batch checked and composed by [`Registry::prepare_import`].
pub struct PreparedImport {
    prepared: Vec<AddressContent>,
    /// One per draft: the rejection, or `None` for a row in `prepared`.
    outcomes: Vec<Option<ImportOutcome>>,
}

impl PreparedImport {
    /// The rows that go to the store.
    pub fn rows(&self) -> &[AddressContent] {
        &self.prepared
    }
}

/// An import batch committed by [`Registry::store_import`], not yet in the index.
pub struct StoredImport {
    registry: Arc<Registry>,
    prepared: Vec<AddressContent>,
    outcomes: Vec<Option<ImportOutcome>>,
    /// One per row of `prepared`.
    written: Vec<ImportOutcome>,
    /// Claimed from the change follower until applied.
    generation: Option<i64>,
}

impl StoredImport {
    /// The registry generation the batch committed as; `None` if it wrote nothing.
    pub fn generation(&self) -> Option<i64> {
        self.generation
    }

    /// [`Self::apply_to_index`] on the blocking pool. A batch takes the index for a
    /// few hundred milliseconds; on a runtime worker that stalled every task queued
    /// behind it, among them the return of the store's writer connection, so the next
    /// batch's transaction waited for this batch's indexing (docs/performance.md).
    pub async fn apply_to_index_off_runtime(self) -> Result<Vec<ImportOutcome>, RegistryError> {
        match tokio::task::spawn_blocking(move || self.apply_to_index()).await {
            Ok(outcomes) => Ok(outcomes),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // Only a runtime shutting down cancels it; the batch is committed, and the
            // change follower of the next process to open the store indexes it.
            Err(error) => Err(RegistryError::from(crate::store::StoreError::Unavailable(
                format!("indexing an import batch was cancelled: {error}"),
            ))),
        }
    }

    /// Applies what the batch wrote to the index; one outcome per draft, in order.
    pub fn apply_to_index(mut self) -> Vec<ImportOutcome> {
        let written = std::mem::take(&mut self.written);
        {
            let mut index = self.registry.write_index();
            for (content, outcome) in self.prepared.iter().zip(&written) {
                if let ImportOutcome::Created { code, version }
                | ImportOutcome::Updated { code, version } = outcome
                {
                    index.upsert_parts(
                        code,
                        content.source_id.as_deref(),
                        &content.division_code,
                        &content.components,
                        &content.standard_text,
                        false,
                        None,
                        content.point,
                        *version,
                    );
                }
            }
        }
        if let Some(generation) = self.generation.take() {
            self.registry.feed().applied(generation);
        }
        let mut written = written.into_iter();
        std::mem::take(&mut self.outcomes)
            .into_iter()
            .map(|outcome| outcome.unwrap_or_else(|| written.next().expect("one per row")))
            .collect()
    }
}

impl Drop for StoredImport {
    fn drop(&mut self) {
        // Never applied (a panic or a cancelled task): the follower reads it instead.
        if let Some(generation) = self.generation.take() {
            self.registry.feed().release(generation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::import_batch_sizes;

    #[test]
    fn batches_start_at_an_eighth_and_double_up_to_the_size_asked() {
        let sizes: Vec<usize> = import_batch_sizes(200_000).take(6).collect();
        assert_eq!(sizes, [25_000, 50_000, 100_000, 200_000, 200_000, 200_000]);
        let sizes: Vec<usize> = import_batch_sizes(20).take(4).collect();
        assert_eq!(sizes, [2, 4, 8, 16]);
        let sizes: Vec<usize> = import_batch_sizes(5).take(5).collect();
        assert_eq!(sizes, [1, 2, 4, 5, 5]);
        // Zero is read as one.
        assert_eq!(import_batch_sizes(0).take(2).collect::<Vec<_>>(), [1, 1]);
        let largest = import_batch_sizes(usize::MAX).nth(5);
        assert_eq!(largest, Some(usize::MAX), "no overflow at the top");
    }
}
