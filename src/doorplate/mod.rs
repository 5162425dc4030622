//! Digital doorplates: issuing plates, their QR codes and faces, the lifecycle, and
//! the public scan.
//!
//! A scan is answered from memory: the token is checked with the server secret, the
//! plate's state comes from an in-memory map kept in step with every plate write, and
//! the address from the registry's index. The database sees a scan only as a row in
//! the scan log, written in batches.

pub mod page;
pub mod render;
pub mod scans;
pub mod token;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::domain::address::{AddressStatus, StandardAddress};
use crate::domain::code::{AddressCodeError, validate_address_code};
use crate::domain::doorplate::{
    Doorplate, NewDoorplate, PlateEnding, PlateSize, PlateStatus, plate_serial,
};
use crate::matching::DivisionSummary;
use crate::registry::Registry;
use crate::store::{
    Actor, ScanEntry, ScanGroup, ScanRecord, ScanStatisticsQuery, Store, StoreError,
};
use render::{PlateFace, QrMatrix, RenderError};
use scans::{ScanLog, ScanRateLimiter};
use token::{MAX_PLATE_ID, PlateTokens};

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

/// The plate part of a scan: no issuer, no history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicPlate {
    pub serial: String,
    pub status: PlateStatus,
    pub size: PlateSize,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SuccessorAddress {
    pub code: String,
    pub address: String,
}

/// The address part of a scan: the standard record only, never the caller's source id.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicAddress {
    pub code: String,
    pub address: String,
    pub status: AddressStatus,
    pub division: DivisionSummary,
    /// WGS84 / CGCS2000.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// For a retired address: the current address that replaced it.
    pub successor: Option<SuccessorAddress>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScanView {
    pub plate: PublicPlate,
    pub address: PublicAddress,
}

/// The plate in service for an address whose scanned plate has ended.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CurrentPlate {
    pub serial: String,
    pub url: String,
}

pub enum ScanResolution {
    Current(ScanView),
    Ended {
        view: ScanView,
        current: Option<CurrentPlate>,
    },
}

/// How a scan was asked for and by whom, for the log and the limit.
pub struct ScanClient<'a> {
    pub address: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    pub format: &'static str,
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

    /// The address a new plate goes on: it exists and is current.
    fn plate_target(&self, address_code: &str) -> Result<NewDoorplate, DoorplateError> {
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
                successor_code: address.successor.as_deref().map(str::to_owned),
                code,
            });
        }
        Ok(NewDoorplate {
            division_code: format!("{:012}", address.division),
            address_code: code,
            size: PlateSize::Medium,
            replaces: None,
        })
    }

    fn check_id_space(&self, plates: usize) -> Result<(), DoorplateError> {
        let highest = self
            .plates
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .max()
            .copied()
            .unwrap_or(0);
        if highest + plates as i64 > MAX_PLATE_ID {
            return Err(StoreError::Database("the plate id space is exhausted".into()).into());
        }
        Ok(())
    }

    pub async fn issue(
        &self,
        request: &PlateRequest,
        actor: &Actor,
    ) -> Result<PlateView, DoorplateError> {
        let mut plate = self.plate_target(&request.address_code)?;
        plate.size = request.size;
        self.check_id_space(1)?;
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
            match self.plate_target(&request.address_code) {
                Ok(mut plate) => {
                    plate.size = request.size;
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
            self.check_id_space(valid.len())?;
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
        self.plate_target(&current.address_code)?;
        self.check_id_space(1)?;
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

    /// The QR symbol of a plate: its URL, at error-correction level Q.
    pub async fn qr(&self, id: i64) -> Result<(PlateView, QrMatrix), DoorplateError> {
        let plate = self.plate(id).await?;
        let matrix = QrMatrix::encode(&plate.url)?;
        Ok((plate, matrix))
    }

    async fn face_parts(&self, id: i64) -> Result<(PlateView, QrMatrix, FaceText), DoorplateError> {
        let (plate, matrix) = self.qr(id).await?;
        let address = self
            .store
            .address(&plate.plate.address_code)
            .await?
            .ok_or_else(|| DoorplateError::UnknownAddress {
                code: plate.plate.address_code.clone(),
            })?;
        let text = self.face_text(&address);
        Ok((plate, matrix, text))
    }

    fn face_text(&self, address: &StandardAddress) -> FaceText {
        let parts = &address.components;
        let name = match (&parts.road, &parts.road_no, &parts.place) {
            (Some(road), road_no, _) => format!("{road}{}", road_no.as_deref().unwrap_or("")),
            (None, _, Some(place)) => place.clone(),
            _ => address.standard_text.clone(),
        };
        let number: String = [&parts.building, &parts.unit, &parts.floor, &parts.room]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let names = self
            .registry
            .divisions()
            .address_names(&address.division_code, true);
        FaceText {
            name,
            number: (!number.is_empty()).then_some(number),
            // Province and city are understood on a plate; county and below are printed.
            division: names.iter().skip(2).cloned().collect::<Vec<_>>().join(" "),
        }
    }

    /// The printable plate face (SVG, millimetres).
    pub async fn plate_svg(&self, id: i64) -> Result<String, DoorplateError> {
        let (plate, matrix, text) = self.face_parts(id).await?;
        Ok(render::plate_svg(&text.face(&plate, &matrix), None))
    }

    /// A manufacturer's sheet of plate faces, as one SVG or an HTML page.
    pub async fn sheet(&self, ids: &[i64], html: bool) -> Result<String, DoorplateError> {
        if ids.is_empty() || ids.len() > MAX_SHEET_PLATES {
            return Err(DoorplateError::BatchSize {
                given: ids.len(),
                maximum: MAX_SHEET_PLATES,
            });
        }
        let mut parts = Vec::with_capacity(ids.len());
        for id in ids {
            parts.push(self.face_parts(*id).await?);
        }
        let faces: Vec<PlateFace<'_>> = parts
            .iter()
            .map(|(plate, matrix, text)| text.face(plate, matrix))
            .collect();
        if !html {
            return Ok(render::sheet_svg(&faces));
        }
        let mut body = String::new();
        for (face, (plate, _, _)) in faces.iter().zip(&parts) {
            body.push_str(&format!(
                "<figure>{}<figcaption>{} · {} · {}</figcaption></figure>",
                render::plate_svg(face, None),
                render::escape_xml(&plate.plate.serial),
                render::escape_xml(&plate.plate.address_code),
                plate.plate.size.as_str(),
            ));
        }
        Ok(format!(
            "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>门牌制作清单</title>\
             <style>@page{{margin:10mm}}figure{{margin:0 0 10mm;break-inside:avoid}}\
             figcaption{{font:12px sans-serif;color:#444}}</style></head><body>{body}</body></html>"
        ))
    }

    /// Resolves a scanned token. Forged and mistyped tokens fail before any lookup.
    pub async fn resolve(&self, token: &str) -> Result<(i64, ScanResolution), DoorplateError> {
        let id = self
            .tokens
            .verify(token)
            .ok_or(DoorplateError::InvalidToken)?;
        let cached = self
            .plates
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned();
        let state = match cached {
            Some(state) => state,
            // Issued through another replica since this one started.
            None => {
                let plate = self
                    .store
                    .doorplate(id)
                    .await?
                    .ok_or(DoorplateError::InvalidToken)?;
                self.remember(&[&plate]);
                PlateState::from(&plate)
            }
        };
        let view = self.scan_view(id, &state).await?;
        if state.status == PlateStatus::Issued {
            return Ok((id, ScanResolution::Current(view)));
        }
        let current = self.current_plate_for(id, &state).await?;
        Ok((id, ScanResolution::Ended { view, current }))
    }

    /// Follows replacements to the plate in service, or, for a revoked plate, finds
    /// another plate of the same address that is in service.
    async fn current_plate_for(
        &self,
        id: i64,
        state: &PlateState,
    ) -> Result<Option<CurrentPlate>, DoorplateError> {
        let current = {
            let plates = self.plates.read().unwrap_or_else(|p| p.into_inner());
            let mut next = state.replaced_by;
            let mut found = None;
            while let Some(candidate) = next {
                match plates.get(&candidate) {
                    Some(plate) if plate.status == PlateStatus::Issued => {
                        found = Some((candidate, plate.division_code.clone()));
                        break;
                    }
                    Some(plate) => next = plate.replaced_by,
                    None => break,
                }
            }
            found
        };
        let current = match current {
            Some(found) => Some(found),
            None => self
                .store
                .doorplates_of_address(&state.address_code)
                .await?
                .into_iter()
                .rev()
                .find(|plate| plate.status == PlateStatus::Issued && plate.id != id)
                .map(|plate| (plate.id, plate.division_code.into_boxed_str())),
        };
        Ok(current.map(|(id, division)| CurrentPlate {
            serial: plate_serial(&division, id),
            url: self.url_of(&self.tokens.sign(id)),
        }))
    }

    async fn scan_view(&self, id: i64, state: &PlateState) -> Result<ScanView, DoorplateError> {
        let plate = PublicPlate {
            serial: plate_serial(&state.division_code, id),
            status: state.status,
            size: state.size,
        };
        let from_index = {
            let index = self
                .registry
                .address_index()
                .read()
                .unwrap_or_else(|p| p.into_inner());
            index.by_code(&state.address_code).map(|address| {
                let mut successor = None;
                let mut next = address.successor.as_deref();
                for _ in 0..MAX_SUCCESSOR_HOPS {
                    let Some(entry) = next.and_then(|code| index.by_code(code)) else {
                        break;
                    };
                    successor = Some(SuccessorAddress {
                        code: entry.code.to_string(),
                        address: entry.standard_text.to_string(),
                    });
                    if !entry.retired {
                        break;
                    }
                    next = entry.successor.as_deref();
                }
                (
                    address.standard_text.to_string(),
                    format!("{:012}", address.division),
                    address.retired,
                    address.point,
                    successor,
                )
            })
        };
        let (text, division_code, retired, point, successor) = match from_index {
            Some(found) => found,
            None => {
                let address = self
                    .store
                    .address(&state.address_code)
                    .await?
                    .ok_or_else(|| {
                        StoreError::CorruptRow(format!(
                            "plate {id} names address {} which the store does not hold",
                            state.address_code
                        ))
                    })?;
                (
                    address.standard_text,
                    address.division_code,
                    address.status == AddressStatus::Retired,
                    address.lon.zip(address.lat),
                    None,
                )
            }
        };
        Ok(ScanView {
            plate,
            address: PublicAddress {
                code: state.address_code.to_string(),
                address: text,
                status: if retired {
                    AddressStatus::Retired
                } else {
                    AddressStatus::Active
                },
                division: self.division_summary(&division_code),
                lon: point.map(|(lon, _)| lon),
                lat: point.map(|(_, lat)| lat),
                successor,
            },
        })
    }

    fn division_summary(&self, code: &str) -> DivisionSummary {
        let directory = self.registry.divisions();
        let level = code
            .parse::<u64>()
            .ok()
            .and_then(|numeric| directory.named_code(numeric))
            .map(|division| division.level)
            .unwrap_or(crate::domain::division::DivisionLevel::Village);
        DivisionSummary {
            code: code.to_owned(),
            level,
            names: directory.address_names(code, true),
        }
    }

    /// Applies the per-client limit to a public scan.
    pub fn admit_scan(&self, client: Option<IpAddr>) -> Result<(), DoorplateError> {
        let Some(client) = client else { return Ok(()) };
        self.limiter
            .check(client, Instant::now())
            .map_err(|wait: Duration| DoorplateError::RateLimited {
                retry_after_seconds: wait.as_secs().max(1),
            })
    }

    /// Logs a scan of a genuine plate.
    pub fn log_scan(&self, id: i64, resolution: &ScanResolution, client: &ScanClient<'_>) {
        let (view, outcome) = match resolution {
            ScanResolution::Current(view) => (view, "shown"),
            ScanResolution::Ended { view, .. } => (view, "ended"),
        };
        let now = Utc::now();
        self.scan_log.record(ScanRecord {
            plate_id: id,
            division_code: view.address.division.code.clone(),
            scanned_at_ms: now.timestamp_millis(),
            outcome,
            format: client.format,
            client_kind: scans::client_kind(client.user_agent),
            client_hash: self
                .scan_log
                .client_hash(client.address, now.timestamp().div_euclid(86_400)),
        });
    }

    /// Writes buffered scans now (reads of the log call this first, and so does shutdown).
    pub async fn flush_scans(&self) -> Result<usize, StoreError> {
        self.scan_log.flush().await
    }

    pub fn scans_dropped(&self) -> u64 {
        self.scan_log.dropped()
    }

    pub async fn scans(
        &self,
        id: i64,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ScanEntry>, DoorplateError> {
        self.store
            .doorplate(id)
            .await?
            .ok_or(StoreError::DoorplateNotFound { id })?;
        self.flush_scans().await?;
        Ok(self.store.doorplate_scans(id, after_id, limit).await?)
    }

    pub async fn scan_statistics(
        &self,
        query: &ScanStatisticsQuery,
    ) -> Result<Vec<(ScanGroup, Option<DivisionSummary>)>, DoorplateError> {
        self.flush_scans().await?;
        let groups = self.store.scan_statistics(query).await?;
        Ok(groups
            .into_iter()
            .map(|group| {
                let code = format!("{:0<12}", group.division_prefix);
                let known = self.registry.divisions().get(&code).is_some();
                let summary = known.then(|| self.division_summary(&code));
                (group, summary)
            })
            .collect())
    }
}

struct FaceText {
    name: String,
    number: Option<String>,
    division: String,
}

impl FaceText {
    fn face<'a>(&'a self, plate: &'a PlateView, matrix: &'a QrMatrix) -> PlateFace<'a> {
        PlateFace {
            size: plate.plate.size,
            name: &self.name,
            number: self.number.as_deref(),
            division: &self.division,
            serial: &plate.plate.serial,
            qr: matrix,
        }
    }
}
