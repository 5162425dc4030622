//! The public scan: resolving a token to the record it stands for, the per-client
//! limit and the scan log.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;

use super::scans;
use super::{DoorplateError, DoorplateService, MAX_SUCCESSOR_HOPS, PlateState};
use crate::domain::address::AddressStatus;
use crate::domain::doorplate::{PlateSize, PlateStatus, plate_serial};
use crate::matching::DivisionSummary;
use crate::store::{ScanEntry, ScanGroup, ScanRecord, ScanStatisticsQuery, StoreError};

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

impl DoorplateService {
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
                let mut next = address.successor();
                for _ in 0..MAX_SUCCESSOR_HOPS {
                    let Some(entry) = next.and_then(|code| index.by_code(code)) else {
                        break;
                    };
                    successor = Some(SuccessorAddress {
                        code: entry.code().to_owned(),
                        address: entry.standard_text().to_owned(),
                    });
                    if !entry.retired {
                        break;
                    }
                    next = entry.successor();
                }
                (
                    address.standard_text().to_owned(),
                    crate::index::divisions::format_code(address.division),
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
