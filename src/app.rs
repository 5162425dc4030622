//! Start-up shared by `serve` and every store command: open and migrate the store,
//! load reference data and the demo registry when (and only when) they are new, and
//! build the in-memory indexes from the store.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::domain::division::Division;
use crate::doorplate::DoorplateService;
use crate::geocoding::Geocoder;
use crate::index::divisions::DivisionDirectory;
use crate::index::polygons::DivisionPolygons;
use crate::inspection::county_lines::CountyLines;
use crate::inspection::service::InspectionService;
use crate::matching::MatchEngine;
use crate::reference::{
    EMBEDDED_DEMO_SEED, ReferenceData, ReferenceError, ReferenceSource, decode_division_snapshot,
    encode_division_snapshot,
};
use crate::registry::import::{ImportError, import_address_csv};
use crate::registry::{IndexLoad, Registry, SnapshotFile};
use crate::store::{Actor, Store, StoreError, open_store};
use crate::text::lexicon::PlaceLexicon;
use crate::text::parse::AddressParser;

const REFERENCE_VERSION_KEY: &str = "reference_data_version";
const REFERENCE_ORIGIN_KEY: &str = "reference_data_origin";
const EMBEDDED_ORIGIN: &str = "embedded";
const DEMO_SEED_KEY: &str = "demo_seed_version";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reference data: {0}")]
    Reference(#[from] ReferenceError),
    #[error("demo registry: {0}")]
    DemoSeed(#[from] ImportError),
    #[error("address index: {0}")]
    AddressIndex(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    ParserModel(#[from] crate::text::parse::model::ModelError),
    #[error("start-up task failed: {0}")]
    Task(String),
}

/// The opened registry and what start-up did.
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub matcher: Arc<MatchEngine>,
    pub geocoder: Arc<Geocoder>,
    pub doorplates: Arc<DoorplateService>,
    pub boundaries: Arc<CountyLines>,
    pub inspections: Arc<InspectionService>,
    pub reference_loaded: bool,
    /// How the address index was read: from its snapshot file or from every row.
    pub index_load: IndexLoad,
    pub demo_rows_loaded: u64,
}

pub async fn open_registry(config: &Config) -> Result<Opened, StartupError> {
    let started = Instant::now();
    let store = open_store(
        &config.database_url,
        &config.data_dir,
        &config.store_options,
    )
    .await?;
    store.migrate().await?;
    let source = match &config.reference_data_dir {
        Some(directory) => ReferenceSource::Directory(directory.clone()),
        None => ReferenceSource::Embedded,
    };
    let loaded = load_reference_if_new(store.as_ref(), &source).await?;
    let reference_loaded = loaded.is_some();
    // The division tree and the address index need about a core each and nothing from
    // each other, so they are built side by side.
    let divisions_built = tokio::spawn(build_divisions(store.clone(), loaded));
    let snapshot = SnapshotFile::in_data_dir(&config.data_dir);
    let loaded_index = Registry::load_index(store.as_ref(), snapshot.as_ref()).await?;
    let index_load = loaded_index.report().clone();
    tracing::info!(
        addresses = index_load.addresses,
        from_snapshot = index_load.from_snapshot,
        caught_up = index_load.caught_up,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "address index built"
    );
    let (lexicon, directory) = divisions_built
        .await
        .map_err(|error| StartupError::Task(error.to_string()))??;
    tracing::info!(
        divisions = directory.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "division tree built"
    );
    let directory = Arc::new(directory);
    let directory_for_polygons = directory.clone();
    let registry = Arc::new(Registry::new(
        store.clone(),
        directory.clone(),
        loaded_index,
        snapshot,
    ));
    if needs_new_snapshot(&index_load)
        && let Err(error) = registry.save_snapshot().await
    {
        tracing::warn!(%error, "address index snapshot not written; the next start reads every row");
    }
    registry.spawn_change_follower();
    let parser = AddressParser::with_shipped_model(Arc::new(lexicon))?;
    let matcher = Arc::new(MatchEngine::new(
        parser,
        directory,
        registry.address_index().clone(),
    ));
    let polygons = DivisionPolygons::build(
        &store.all_division_polygons().await?,
        &directory_for_polygons,
    );
    tracing::info!(polygons = polygons.len(), "division polygons indexed");
    let polygons = Arc::new(polygons);
    let boundaries = Arc::new(CountyLines::new(polygons.clone()));
    let geocoder = Arc::new(Geocoder::new(matcher.clone(), polygons));
    let inspections = Arc::new(InspectionService::new(
        store.clone(),
        boundaries.clone(),
        registry.clone(),
    ));
    let doorplates = DoorplateService::open(store.clone(), registry.clone(), config).await?;
    let demo_rows_loaded = if config.load_demo_seed {
        load_demo_seed_if_empty(&registry).await?
    } else {
        0
    };
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "registry ready"
    );
    Ok(Opened {
        store,
        registry,
        matcher,
        geocoder,
        doorplates,
        boundaries,
        inspections,
        reference_loaded,
        index_load,
        demo_rows_loaded,
    })
}

/// Loads reference data into the store when it has none, or when it has an older copy
/// of the same origin. Data an operator imported from a directory is never replaced
/// by the copy built into the binary. After a load, returns every division the store holds.
pub async fn load_reference_if_new(
    store: &dyn Store,
    source: &ReferenceSource,
) -> Result<Option<Vec<Division>>, StartupError> {
    let version = source.version()?;
    let stored_version = store.meta(REFERENCE_VERSION_KEY).await?;
    let stored_origin = store.meta(REFERENCE_ORIGIN_KEY).await?;
    if stored_version.as_deref() == Some(version.as_str()) {
        return Ok(None);
    }
    if stored_version.is_some()
        && matches!(source, ReferenceSource::Embedded)
        && stored_origin.as_deref() != Some(EMBEDDED_ORIGIN)
    {
        tracing::info!(origin = ?stored_origin, "keeping reference data imported by an operator");
        return Ok(None);
    }
    Ok(Some(load_reference(store, source).await?.divisions))
}

/// Loads reference data unconditionally (the `import divisions` command) and returns
/// every division the store then holds.
pub async fn load_reference(
    store: &dyn Store,
    source: &ReferenceSource,
) -> Result<ReferenceData, StartupError> {
    let started = Instant::now();
    let mut data = source.load()?;
    let total = store.upsert_divisions(&data.divisions).await?;
    store.upsert_division_polygons(&data.polygons).await?;
    if total != data.divisions.len() as u64 {
        // The store also holds divisions this data lacks: the tree is the union.
        data.divisions = store.all_divisions().await?;
    }
    store
        .set_division_snapshot(&data.version, &encode_division_snapshot(&data.divisions))
        .await?;
    let origin = match source {
        ReferenceSource::Embedded => EMBEDDED_ORIGIN.to_owned(),
        ReferenceSource::Directory(directory) => format!("directory:{}", directory.display()),
    };
    store.set_meta(REFERENCE_ORIGIN_KEY, &origin).await?;
    // Written last: a load interrupted before this point is simply redone.
    store.set_meta(REFERENCE_VERSION_KEY, &data.version).await?;
    tracing::info!(
        divisions = data.divisions.len(),
        polygons = data.polygons.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "reference data loaded"
    );
    Ok(data)
}

/// Whether the index just read is worth a new snapshot file: it was read from every
/// row, or many changes had to be read after the snapshot.
fn needs_new_snapshot(load: &IndexLoad) -> bool {
    !load.from_snapshot || load.caught_up >= 10_000.max(load.addresses / 100)
}

/// The division tree and the lexicon of division names, from the divisions a fresh
/// reference load returned or else from the store.
async fn build_divisions(
    store: Arc<dyn Store>,
    loaded: Option<Vec<Division>>,
) -> Result<(PlaceLexicon, DivisionDirectory), StartupError> {
    let divisions = match loaded {
        Some(divisions) => divisions,
        None => stored_divisions(store.as_ref()).await?,
    };
    tokio::task::spawn_blocking(move || {
        // Both read the divisions and nothing from each other. Side by side they take
        // the time of the longer one where a core is free: the command line, and a
        // small registry whose address index loads at once.
        std::thread::scope(|scope| {
            let directory = scope.spawn(|| DivisionDirectory::build_from(&divisions));
            let lexicon = PlaceLexicon::from_divisions(&divisions);
            let directory = directory
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (lexicon, directory)
        })
    })
    .await
    .map_err(|error| StartupError::Task(error.to_string()))
}

/// The divisions the store holds: from the snapshot when it matches the loaded
/// version (one row), otherwise from the table (one row per division), after which
/// the snapshot is rewritten for the next start.
async fn stored_divisions(store: &dyn Store) -> Result<Vec<Division>, StartupError> {
    let version = store.meta(REFERENCE_VERSION_KEY).await?;
    if let (Some(version), Some((snapshot_version, bytes))) =
        (&version, store.division_snapshot().await?)
        && *version == snapshot_version
    {
        let decoded = tokio::task::spawn_blocking(move || decode_division_snapshot(&bytes))
            .await
            .map_err(|error| StartupError::Task(error.to_string()))?;
        match decoded {
            Ok(divisions) => return Ok(divisions),
            Err(error) => tracing::warn!(%error, "division snapshot unreadable; reading the table"),
        }
    }
    let divisions = store.all_divisions().await?;
    if let Some(version) = version {
        store
            .set_division_snapshot(&version, &encode_division_snapshot(&divisions))
            .await?;
    }
    Ok(divisions)
}

/// The demo registry goes only into a store that has never held addresses, so a
/// real register is never mixed with demo data.
async fn load_demo_seed_if_empty(registry: &Arc<Registry>) -> Result<u64, StartupError> {
    let store = registry.store();
    if store.meta(DEMO_SEED_KEY).await?.is_some() || store.count_addresses().await? > 0 {
        return Ok(0);
    }
    let actor = Actor::system();
    let report = import_address_csv(
        registry,
        EMBEDDED_DEMO_SEED,
        &actor,
        |row_error| tracing::warn!(line = row_error.line, message = %row_error.message, "demo row rejected"),
        |_| {},
    )
    .await?;
    store
        .set_meta(DEMO_SEED_KEY, "seeds/demo_addresses.csv")
        .await?;
    tracing::info!(
        created = report.created,
        rejected = report.rejected,
        "demo registry loaded (synthetic data)"
    );
    Ok(report.created)
}
