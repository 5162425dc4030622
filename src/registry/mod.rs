//! The registry engine: turns what a registrar submits into canonical address
//! content, enforces the division rules, and writes through the store. It knows
//! nothing of HTTP; the API and the CLI both call it.

pub mod boundaries;
pub mod import;
mod live_index;

pub use live_index::{IndexLoad, LoadedIndex, SNAPSHOT_FILE_NAME, SnapshotFile};

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Deserialize;

use crate::domain::address::{
    AddressComponents, AddressContent, AddressStatus, ComponentError, GeoPoint, StandardAddress,
};
use crate::domain::division::{Division, DivisionCode, DivisionCodeError};
use crate::index::addresses::AddressIndex;
use crate::index::divisions::DivisionDirectory;
use crate::matching::LiveAddressIndex;
use crate::store::{
    Actor, AddressFilter, AddressVersion, Committed, Retirement, Store, StoreError,
};

const MAX_ALIASES: usize = 20;
const MAX_FREE_TEXT_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("division {division_code} does not exist")]
    UnknownDivision { division_code: String },
    #[error("division {division_code} ({name}) no longer exists{}", successor_hint(.successor_code))]
    DivisionRetired {
        division_code: String,
        name: String,
        successor_code: Option<String>,
    },
    #[error("no division with code {division_code}")]
    DivisionNotFound { division_code: String },
    #[error("no address with code {code}")]
    AddressNotFound { code: String },
    #[error("address {code} is retired and cannot change")]
    AlreadyRetired {
        code: String,
        successor_code: Option<String>,
    },
    #[error("invalid successor: {reason}")]
    InvalidSuccessor { reason: String },
    #[error("an address needs a road or a place")]
    EmptyAddress,
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error(transparent)]
    DivisionCode(#[from] DivisionCodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn successor_hint(successor_code: &Option<String>) -> String {
    successor_code
        .as_ref()
        .map(|code| format!("; its successor is {code}"))
        .unwrap_or_default()
}

impl RegistryError {
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            RegistryError::UnknownDivision { division_code } => {
                Some(serde_json::json!({ "division_code": division_code }))
            }
            RegistryError::DivisionRetired {
                division_code,
                successor_code,
                ..
            } => Some(
                serde_json::json!({ "division_code": division_code, "successor_code": successor_code }),
            ),
            RegistryError::AlreadyRetired { successor_code, .. } => {
                Some(serde_json::json!({ "successor_code": successor_code }))
            }
            RegistryError::InvalidField { field, .. } => {
                Some(serde_json::json!({ "field": field }))
            }
            _ => None,
        }
    }
}

/// An address as a registrar submits it: components in any accepted spelling.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct AddressDraft {
    /// Division code, 6, 9 or 12 digits.
    pub division_code: String,
    #[serde(flatten)]
    pub components: AddressComponents,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// WGS84 / CGCS2000 longitude.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// The registering department's own identifier; unique.
    pub source_id: Option<String>,
}

/// A JSON merge patch of an address: an absent field is kept, `null` clears it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct AddressPatch {
    pub division_code: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub road: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub road_no: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub place: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub building: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub unit: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub floor: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub room: Option<Option<String>>,
    pub aliases: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub lon: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub lat: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub source_id: Option<Option<String>>,
    /// Optimistic concurrency: refuse the patch if the stored version differs.
    pub expected_version: Option<i64>,
}

/// Distinguishes a field sent as `null` (Some(None)) from one not sent (None).
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

fn merged<T: Clone>(patch: &Option<Option<T>>, current: &Option<T>) -> Option<T> {
    match patch {
        Some(value) => value.clone(),
        None => current.clone(),
    }
}

pub struct Registry {
    store: Arc<dyn Store>,
    divisions: Arc<DivisionDirectory>,
    /// Kept in step with the store: every committed write is applied here before the
    /// call returns, so matching sees it at once.
    addresses: LiveAddressIndex,
    /// How far into the store's change feed the index is (see `live_index`).
    feed: Mutex<live_index::FeedPosition>,
    snapshot: Option<SnapshotFile>,
}

impl Registry {
    /// Reads the address index for `store`: from the snapshot file when it matches,
    /// otherwise from every stored row. Needs no divisions, so start-up can build
    /// those meanwhile.
    pub async fn load_index(
        store: &dyn Store,
        snapshot: Option<&SnapshotFile>,
    ) -> Result<LoadedIndex, RegistryError> {
        Ok(live_index::load(store, snapshot).await?)
    }

    pub fn new(
        store: Arc<dyn Store>,
        divisions: Arc<DivisionDirectory>,
        loaded: LoadedIndex,
        snapshot: Option<SnapshotFile>,
    ) -> Self {
        Registry {
            store,
            divisions,
            addresses: Arc::new(std::sync::RwLock::new(loaded.index)),
            feed: Mutex::new(loaded.position),
            snapshot,
        }
    }

    pub fn address_index(&self) -> &LiveAddressIndex {
        &self.addresses
    }

    fn feed(&self) -> MutexGuard<'_, live_index::FeedPosition> {
        self.feed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Defers spatial index changes until the guard is dropped, for a long run of
    /// writes (an import): one bulk load instead of an R-tree insert per address.
    pub fn bulk_indexing(&self) -> BulkIndexing<'_> {
        self.write_index().begin_loading(0);
        BulkIndexing { registry: self }
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, AddressIndex> {
        self.addresses
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn indexed(&self, committed: Committed<StandardAddress>) -> StandardAddress {
        self.write_index().upsert(&committed.value);
        if let Some(generation) = committed.generation {
            self.feed().applied(generation);
        }
        committed.value
    }

    pub fn divisions(&self) -> &DivisionDirectory {
        &self.divisions
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn division(&self, code: &str) -> Result<Division, RegistryError> {
        let code = DivisionCode::parse(code)?;
        self.divisions
            .get(code.as_str())
            .ok_or_else(|| RegistryError::DivisionNotFound {
                division_code: code.to_string(),
            })
    }

    /// A division that addresses may be registered under: it exists and is current.
    fn current_division(&self, code: &str) -> Result<Division, RegistryError> {
        let code = DivisionCode::parse(code)?;
        let division =
            self.divisions
                .get(code.as_str())
                .ok_or_else(|| RegistryError::UnknownDivision {
                    division_code: code.to_string(),
                })?;
        if !division.is_current() {
            return Err(RegistryError::DivisionRetired {
                division_code: division.code.clone(),
                name: division.name.clone(),
                successor_code: division.successor_code.clone(),
            });
        }
        Ok(division)
    }

    /// Validates and canonicalises a draft into what the store writes.
    pub fn prepare(&self, draft: &AddressDraft) -> Result<AddressContent, RegistryError> {
        let division = self.current_division(&draft.division_code)?;
        let components = draft.components.canonicalized()?;
        if components.road.is_none() && components.place.is_none() {
            return Err(RegistryError::EmptyAddress);
        }
        let point = GeoPoint::from_optional(draft.lon, draft.lat).map_err(ComponentError::from)?;
        let include_village = components.road.is_none();
        let names = self
            .divisions
            .address_names(&division.code, include_village);
        let standard_text = components.compose_standard_text(names.iter().map(String::as_str));
        Ok(AddressContent {
            division_code: division.code,
            components,
            standard_text,
            aliases: clean_aliases(&draft.aliases)?,
            point,
            source_id: clean_source_id(draft.source_id.as_deref())?,
        })
    }

    pub async fn create(
        &self,
        draft: &AddressDraft,
        actor: &Actor,
    ) -> Result<StandardAddress, RegistryError> {
        let content = self.prepare(draft)?;
        Ok(self.indexed(self.store.create_address(&content, actor).await?))
    }

    pub async fn address(&self, code: &str) -> Result<StandardAddress, RegistryError> {
        self.store
            .address(code)
            .await?
            .ok_or_else(|| RegistryError::AddressNotFound {
                code: code.to_owned(),
            })
    }

    pub async fn patch(
        &self,
        code: &str,
        patch: &AddressPatch,
        actor: &Actor,
    ) -> Result<StandardAddress, RegistryError> {
        let current = self.address(code).await?;
        if current.status == AddressStatus::Retired {
            return Err(RegistryError::AlreadyRetired {
                code: code.to_owned(),
                successor_code: current.successor_code,
            });
        }
        let components = &current.components;
        let draft = AddressDraft {
            division_code: patch
                .division_code
                .clone()
                .unwrap_or_else(|| current.division_code.clone()),
            components: AddressComponents {
                road: merged(&patch.road, &components.road),
                road_no: merged(&patch.road_no, &components.road_no),
                place: merged(&patch.place, &components.place),
                building: merged(&patch.building, &components.building),
                unit: merged(&patch.unit, &components.unit),
                floor: merged(&patch.floor, &components.floor),
                room: merged(&patch.room, &components.room),
            },
            aliases: patch
                .aliases
                .clone()
                .unwrap_or_else(|| current.aliases.clone()),
            lon: merged(&patch.lon, &current.lon),
            lat: merged(&patch.lat, &current.lat),
            source_id: merged(&patch.source_id, &current.source_id),
        };
        let content = self.prepare(&draft)?;
        let expected_version = patch.expected_version.unwrap_or(current.version);
        Ok(self.indexed(
            self.store
                .update_address(code, expected_version, &content, actor)
                .await?,
        ))
    }

    pub async fn retire(
        &self,
        code: &str,
        reason: &str,
        successor_code: Option<&str>,
        actor: &Actor,
    ) -> Result<StandardAddress, RegistryError> {
        let current = self.address(code).await?;
        if current.status == AddressStatus::Retired {
            return Err(RegistryError::AlreadyRetired {
                code: code.to_owned(),
                successor_code: current.successor_code,
            });
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_FREE_TEXT_CHARS {
            return Err(RegistryError::InvalidField {
                field: "reason",
                reason: format!("a reason of 1 to {MAX_FREE_TEXT_CHARS} characters is required"),
            });
        }
        if let Some(successor_code) = successor_code {
            if successor_code == code {
                return Err(RegistryError::InvalidSuccessor {
                    reason: "an address cannot succeed itself".into(),
                });
            }
            let successor = self.store.address(successor_code).await?.ok_or_else(|| {
                RegistryError::InvalidSuccessor {
                    reason: format!("no address with code {successor_code}"),
                }
            })?;
            if successor.status != AddressStatus::Active {
                return Err(RegistryError::InvalidSuccessor {
                    reason: format!("{successor_code} is itself retired"),
                });
            }
        }
        let retirement = Retirement {
            reason: reason.to_owned(),
            successor_code: successor_code.map(str::to_owned),
        };
        Ok(self.indexed(
            self.store
                .retire_address(code, current.version, &retirement, actor)
                .await?,
        ))
    }

    pub async fn history(&self, code: &str) -> Result<Vec<AddressVersion>, RegistryError> {
        let versions = self.store.address_history(code).await?;
        if versions.is_empty() {
            return Err(RegistryError::AddressNotFound {
                code: code.to_owned(),
            });
        }
        Ok(versions)
    }

    pub async fn list(
        &self,
        filter: &AddressFilter,
        after_code: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StandardAddress>, RegistryError> {
        Ok(self.store.list_addresses(filter, after_code, limit).await?)
    }
}

/// See [`Registry::bulk_indexing`].
pub struct BulkIndexing<'a> {
    registry: &'a Registry,
}

impl Drop for BulkIndexing<'_> {
    fn drop(&mut self) {
        self.registry.write_index().finish_loading();
    }
}

fn clean_aliases(aliases: &[String]) -> Result<Vec<String>, RegistryError> {
    let mut cleaned: Vec<String> = Vec::new();
    for alias in aliases {
        let alias = crate::text::normalize::fold_width(alias).trim().to_owned();
        if alias.is_empty() || cleaned.contains(&alias) {
            continue;
        }
        if alias.chars().count() > MAX_FREE_TEXT_CHARS || alias.chars().any(char::is_control) {
            return Err(RegistryError::InvalidField {
                field: "aliases",
                reason: format!(
                    "an alias has at most {MAX_FREE_TEXT_CHARS} characters and no control characters"
                ),
            });
        }
        cleaned.push(alias);
    }
    if cleaned.len() > MAX_ALIASES {
        return Err(RegistryError::InvalidField {
            field: "aliases",
            reason: format!("at most {MAX_ALIASES} aliases"),
        });
    }
    Ok(cleaned)
}

fn clean_source_id(source_id: Option<&str>) -> Result<Option<String>, RegistryError> {
    let Some(source_id) = source_id
        .map(str::trim)
        .filter(|source_id| !source_id.is_empty())
    else {
        return Ok(None);
    };
    if source_id.chars().count() > 128 || source_id.chars().any(char::is_control) {
        return Err(RegistryError::InvalidField {
            field: "source_id",
            reason: "at most 128 characters and no control characters".into(),
        });
    }
    Ok(Some(source_id.to_owned()))
}
