//! Streaming import of the address CSV of the design:
//! `source_id,division_code,road,road_no,place,building,unit,floor,room,lon,lat`.
//!
//! Rows are read and written in batches, so memory stays flat however long the file
//! is; every rejected row is reported with its line number and the rest are kept.

use std::io::Read;
use std::sync::Arc;

use serde::Serialize;

use super::{AddressDraft, Registry, RegistryError};
use crate::domain::address::AddressComponents;
use crate::store::{Actor, ImportOutcome};

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
/// nearly every page of the code-ordered tables and indexes again: at 1M rows,
/// batches of 100,000 took 38 s where batches of 10,000 took 53 s
/// (docs/performance.md). A batch of 100,000 holds about 100 MB while it is written.
pub const IMPORT_BATCH_ROWS: usize = 100_000;

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

/// [`import_address_csv`] with `batch_rows` rows (at least one) per store transaction.
///
/// While the store writes one batch (on a task of its own), this reads and prepares
/// the next. Reading and preparing is about a tenth of an import's CPU, so this buys
/// little on its own (docs/performance.md), but it keeps that work off the path of
/// the store's single writer.
pub async fn import_address_csv_in_batches(
    registry: &Arc<Registry>,
    input: impl Read,
    actor: &Actor,
    batch_rows: usize,
    mut on_row_error: impl FnMut(&RowError),
    mut on_progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let batch_rows = batch_rows.max(1);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header = reader
        .headers()
        .map_err(|error| ImportError::Unreadable(error.to_string()))?
        .clone();
    let columns = ColumnMap::from_header(&header)?;
    // The spatial index takes the file's points in one bulk load at the end.
    let _bulk = registry.bulk_indexing();
    let mut report = ImportReport::default();
    let mut batch: Vec<(u64, AddressDraft)> = Vec::with_capacity(batch_rows);
    let mut writing: Option<BatchInFlight> = None;
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() + 1;
        let more = match reader.read_record(&mut record) {
            Ok(more) => more,
            Err(error) if error.is_io_error() => {
                // The batch already in the store still commits and is counted.
                if let Some(previous) = writing.take() {
                    previous
                        .finish(&mut report, &mut on_row_error, &mut on_progress)
                        .await?;
                }
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
        if batch.len() >= batch_rows || (!more && !batch.is_empty()) {
            let prepared = registry.prepare_import(batch.iter().map(|(_, draft)| draft));
            // One batch in the store at a time: each commits before the next begins.
            if let Some(previous) = writing.take() {
                previous
                    .finish(&mut report, &mut on_row_error, &mut on_progress)
                    .await?;
            }
            let registry = Arc::clone(registry);
            let actor = actor.clone();
            writing = Some(BatchInFlight {
                rows: std::mem::replace(&mut batch, Vec::with_capacity(batch_rows)),
                bytes_read: reader.position().byte(),
                write: tokio::spawn(
                    async move { registry.import_prepared(prepared, &actor).await },
                ),
            });
        }
        if !more {
            if let Some(last) = writing.take() {
                last.finish(&mut report, &mut on_row_error, &mut on_progress)
                    .await?;
            }
            return Ok(report);
        }
    }
}

/// A batch the store is writing, with what is needed to report on it.
struct BatchInFlight {
    rows: Vec<(u64, AddressDraft)>,
    /// Where the reader stood after the batch's last row.
    bytes_read: u64,
    write: tokio::task::JoinHandle<Result<Vec<ImportOutcome>, RegistryError>>,
}

impl BatchInFlight {
    async fn finish(
        self,
        report: &mut ImportReport,
        on_row_error: &mut impl FnMut(&RowError),
        on_progress: &mut impl FnMut(u64),
    ) -> Result<(), ImportError> {
        let outcomes = match self.write.await {
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
