//! Digital doorplates: issuing plates, their QR codes and faces, the lifecycle, and
//! the public scan.
//!
//! A scan is answered from memory: the token is checked with the server secret, the
//! plate's state comes from an in-memory map kept in step with every plate write, and
//! the address from the registry's index. The database sees a scan only as a row in
//! the scan log, written in batches.

pub mod page;
mod printing;
pub mod render;
mod scanning;
pub mod scans;
pub mod token;

pub use scanning::{
    CurrentPlate, PublicAddress, PublicPlate, ScanClient, ScanResolution, ScanView,
    SuccessorAddress,
};

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::domain::code::{AddressCodeError, validate_address_code};
use crate::domain::doorplate::{Doorplate, NewDoorplate, PlateEnding, PlateSize, PlateStatus};
use crate::registry::Registry;
use crate::store::{Actor, Store, StoreError};
use render::RenderError;
use scans::{ScanLog, ScanRateLimiter};
use token::PlateTokens;

const SECRET_META_KEY: &str = "doorplate_secret";
pub const MAX_BATCH_PLATES: usize = 10_000;
pub const MAX_SHEET_PLATES: usize = 200;
/// Successor links followed from a retired address before giving up (a cycle guard).
const MAX_SUCCESSOR_HOPS: usize = 16;
/// How often plate changes written through other replicas are picked up.
pub const PLATE_CHANGE_POLL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum DoorplateError {
    #[error(transparent)]
    AddressCode(#[from] AddressCodeError),
    #[error("no standard address has code {code}")]
    UnknownAddress { code: String },
    #[error("address {code} is retired; issue plates for its successor instead")]
    AddressRetired {
        code: String,
        successor_code: Option<String>,
    },
    #[error("a batch holds 1 to {maximum} plates, this one {given}")]
    BatchSize { given: usize, maximum: usize },
    #[error("{0}")]
    InvalidRequest(String),
    #[error("this QR code is not a valid doorplate")]
    InvalidToken,
    #[error("too many scans from this client; retry in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// A plate as the API returns it: the record, its token and the URL in its QR code.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlateView {
    #[serde(flatten)]
    pub plate: Doorplate,
    pub token: String,
    pub url: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlateRequest {
    pub address_code: String,
    pub size: PlateSize,
}

/// What happened to one row of a batch issue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BatchPlateOutcome {
    Issued {
        index: usize,
        plate: Box<PlateView>,
    },
    Rejected {
        index: usize,
        address_code: String,
        error_code: &'static str,
        message: String,
    },
}

/// What a scan needs of a plate, held for every plate.
#[derive(Debug, Clone)]
struct PlateState {
    address_code: Box<str>,
    division_code: Box<str>,
    size: PlateSize,
    status: PlateStatus,
    replaced_by: Option<i64>,
}

impl From<&Doorplate> for PlateState {
    fn from(plate: &Doorplate) -> Self {
        PlateState {
            address_code: plate.address_code.as_str().into(),
            division_code: plate.division_code.as_str().into(),
            size: plate.size,
            status: plate.status,
            replaced_by: plate.replaced_by,
        }
    }
}

pub struct DoorplateService {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    tokens: PlateTokens,
    public_base_url: String,
    plates: RwLock<HashMap<i64, PlateState>>,
    scan_log: Arc<ScanLog>,
    limiter: ScanRateLimiter,
    /// The last audit entry whose plate change this replica has applied.
    followed_audit_id: AtomicI64,
}

/// Whether a base URL names this machine or every interface (the default `http://{listen}`),
/// which a phone scanning a plate on the street cannot open.
fn only_reachable_here(base_url: &str) -> bool {
    let host = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(host, "localhost" | "0.0.0.0" | "[::]" | "[::1]") || host.starts_with("127.")
}

/// The configured secret, or the one kept in the store, generated on first start.
async fn plate_secret(store: &dyn Store, config: &Config) -> Result<Vec<u8>, StoreError> {
    if let Some(secret) = &config.doorplate_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    if let Some(stored) = store.meta(SECRET_META_KEY).await? {
        return hex::decode(stored.trim())
            .map_err(|_| StoreError::CorruptRow("the stored doorplate secret is not hex".into()));
    }
    store
        .set_meta(SECRET_META_KEY, &hex::encode(rand::random::<[u8; 32]>()))
        .await?;
    // Read back: if another replica started at the same moment, both use what is stored.
    let stored = store.meta(SECRET_META_KEY).await?.unwrap_or_default();
    hex::decode(stored.trim())
        .map_err(|_| StoreError::CorruptRow("the stored doorplate secret is not hex".into()))
}

impl DoorplateService {
    /// Loads every plate's state and starts the scan log's background writer.
    pub async fn open(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        config: &Config,
    ) -> Result<Arc<Self>, StoreError> {
        let secret = plate_secret(store.as_ref(), config).await?;
        // Read before the plates: a change made while they load is then replayed, and
        // replaying a plate's latest state is harmless.
        let followed_audit_id = store.last_audit_id().await?;
        let mut plates = HashMap::new();
        let mut after = 0;
        loop {
            let page = store.doorplates_after(after, 50_000).await?;
            for plate in &page {
                plates.insert(plate.id, PlateState::from(plate));
            }
            match page.last() {
                Some(last) if page.len() == 50_000 => after = last.id,
                _ => break,
            }
        }
        let service = Arc::new(DoorplateService {
            scan_log: Arc::new(ScanLog::new(store.clone(), &secret)),
            tokens: PlateTokens::new(&secret),
            store,
            registry,
            public_base_url: config.public_base_url.clone(),
            plates: RwLock::new(plates),
            limiter: ScanRateLimiter::new(config.scan_rate_per_minute),
            followed_audit_id: AtomicI64::new(followed_audit_id),
        });
        if only_reachable_here(&config.public_base_url) {
            tracing::warn!(
                public_base_url = %config.public_base_url,
                "plate QR codes will point at an address phones cannot reach; set YZT_PUBLIC_BASE_URL before printing plates"
            );
        }
        service.scan_log.spawn_flusher();
        service.spawn_change_follower();
        Ok(service)
    }

    /// Applies plate changes written since the last call, by this replica or another
    /// one sharing the store (revocations above all); returns how many it applied.
    pub async fn follow_changes(&self) -> Result<usize, StoreError> {
        const PAGE: u32 = 1_000;
        let mut applied = 0;
        loop {
            let after = self.followed_audit_id.load(Ordering::Acquire);
            let changes = self.store.plate_changes_after(after, PAGE).await?;
            if let Some((last, _)) = changes.last() {
                self.remember(&changes.iter().map(|(_, plate)| plate).collect::<Vec<_>>());
                self.followed_audit_id.fetch_max(*last, Ordering::AcqRel);
            }
            applied += changes.len();
            if changes.len() < PAGE as usize {
                return Ok(applied);
            }
        }
    }

    fn spawn_change_follower(self: &Arc<Self>) {
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(PLATE_CHANGE_POLL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(service) = service.upgrade() else {
                    return;
                };
                if let Err(error) = service.follow_changes().await {
                    tracing::warn!(%error, "following plate changes failed; will retry");
                }
            }
        });
    }

    pub fn url_of(&self, token: &str) -> String {
        format!("{}/d/{token}", self.public_base_url)
    }

    fn view(&self, plate: Doorplate) -> PlateView {
        let token = self.tokens.sign(plate.id);
        PlateView {
            url: self.url_of(&token),
            token,
            plate,
        }
    }

    fn remember(&self, plates: &[&Doorplate]) {
        let mut states = self.plates.write().unwrap_or_else(|p| p.into_inner());
        for plate in plates {
            states.insert(plate.id, PlateState::from(*plate));
        }
    }

    /// A new plate of `size` for the address, which must exist and be current.
    fn plate_target(
        &self,
        address_code: &str,
        size: PlateSize,
    ) -> Result<NewDoorplate, DoorplateError> {
        let code = validate_address_code(address_code.trim())?.code;
        let index = self
            .registry
            .address_index()
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let address = index
            .by_code(&code)
            .ok_or_else(|| DoorplateError::UnknownAddress { code: code.clone() })?;
        if address.retired {
            return Err(DoorplateError::AddressRetired {
                successor_code: address.successor().map(str::to_owned),
                code,
            });
        }
        Ok(NewDoorplate {
            division_code: crate::index::divisions::format_code(address.division),
            address_code: code,
            size,
            replaces: None,
        })
    }

    pub async fn issue(
        &self,
        request: &PlateRequest,
        actor: &Actor,
    ) -> Result<PlateView, DoorplateError> {
        let plate = self.plate_target(&request.address_code, request.size)?;
        let issued = self.store.issue_doorplates(&[plate], actor).await?;
        self.remember(&issued.iter().collect::<Vec<_>>());
        let plate = issued.into_iter().next().expect("one plate issued");
        Ok(self.view(plate))
    }

    /// Issues every valid row in one transaction and reports each row.
    pub async fn issue_batch(
        &self,
        requests: &[PlateRequest],
        actor: &Actor,
    ) -> Result<Vec<BatchPlateOutcome>, DoorplateError> {
        if requests.is_empty() || requests.len() > MAX_BATCH_PLATES {
            return Err(DoorplateError::BatchSize {
                given: requests.len(),
                maximum: MAX_BATCH_PLATES,
            });
        }
        let mut outcomes = Vec::with_capacity(requests.len());
        let mut valid = Vec::new();
        let mut valid_rows = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            match self.plate_target(&request.address_code, request.size) {
                Ok(plate) => {
                    valid.push(plate);
                    valid_rows.push(index);
                    outcomes.push(None);
                }
                Err(error) => {
                    let error = crate::error::Error::from(error);
                    outcomes.push(Some(BatchPlateOutcome::Rejected {
                        index,
                        address_code: request.address_code.clone(),
                        error_code: error.code().as_str(),
                        message: error.to_string(),
                    }));
                }
            }
        }
        if !valid.is_empty() {
            let issued = self.store.issue_doorplates(&valid, actor).await?;
            self.remember(&issued.iter().collect::<Vec<_>>());
            for (index, plate) in valid_rows.into_iter().zip(issued) {
                outcomes[index] = Some(BatchPlateOutcome::Issued {
                    index,
                    plate: Box::new(self.view(plate)),
                });
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.expect("every row decided"))
            .collect())
    }

    pub async fn plate(&self, id: i64) -> Result<PlateView, DoorplateError> {
        let plate = self
            .store
            .doorplate(id)
            .await?
            .ok_or(StoreError::DoorplateNotFound { id })?;
        Ok(self.view(plate))
    }

    pub async fn plates_of_address(&self, code: &str) -> Result<Vec<PlateView>, DoorplateError> {
        let code = validate_address_code(code.trim())?.code;
        let plates = self.store.doorplates_of_address(&code).await?;
        Ok(plates.into_iter().map(|plate| self.view(plate)).collect())
    }

    pub async fn revoke(
        &self,
        id: i64,
        reason: &str,
        actor: &Actor,
    ) -> Result<PlateView, DoorplateError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(DoorplateError::InvalidRequest(
                "revoking a plate needs a reason".into(),
            ));
        }
        let ending = PlateEnding::Revoke {
            reason: reason.to_owned(),
        };
        let (ended, _) = self.store.end_doorplate(id, &ending, actor).await?;
        self.remember(&[&ended]);
        Ok(self.view(ended))
    }

    /// Issues a new plate for the same address and marks this one replaced; returns
    /// (the old plate, the new plate).
    pub async fn replace(
        &self,
        id: i64,
        size: Option<PlateSize>,
        reason: Option<String>,
        actor: &Actor,
    ) -> Result<(PlateView, PlateView), DoorplateError> {
        let current = self
            .store
            .doorplate(id)
            .await?
            .ok_or(StoreError::DoorplateNotFound { id })?;
        // The address must still be current for a new plate to go on it.
        self.plate_target(&current.address_code, current.size)?;
        let ending = PlateEnding::Replace {
            reason: reason
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty()),
            size: size.unwrap_or(current.size),
        };
        let (ended, replacement) = self.store.end_doorplate(id, &ending, actor).await?;
        let replacement = replacement.expect("a replacement is issued");
        self.remember(&[&ended, &replacement]);
        Ok((self.view(ended), self.view(replacement)))
    }
}

#[cfg(test)]
mod tests {
    use super::only_reachable_here;

    #[test]
    fn local_base_urls_are_recognised() {
        for url in [
            "http://127.0.0.1:8080",
            "http://0.0.0.0:8080",
            "http://localhost",
            "http://[::1]:80",
        ] {
            assert!(only_reachable_here(url), "{url}");
        }
        for url in [
            "https://dm.mca.gov.cn",
            "http://10.2.3.4:8080",
            "https://dm.example.cn:8443",
        ] {
            assert!(!only_reachable_here(url), "{url}");
        }
    }
}
