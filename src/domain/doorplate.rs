//! Digital doorplates (数字门牌): a physical plate bound to one standard address.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The plate classes of GB 17733 and the QR code printed on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlateSize {
    Large,
    Medium,
    Small,
}

impl PlateSize {
    pub const ALL: [PlateSize; 3] = [PlateSize::Large, PlateSize::Medium, PlateSize::Small];

    pub fn as_str(self) -> &'static str {
        match self {
            PlateSize::Large => "large",
            PlateSize::Medium => "medium",
            PlateSize::Small => "small",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        PlateSize::ALL
            .into_iter()
            .find(|size| size.as_str() == text)
    }

    /// Plate face width and height in millimetres.
    pub fn plate_mm(self) -> (u32, u32) {
        match self {
            PlateSize::Large => (570, 370),
            PlateSize::Medium => (270, 170),
            PlateSize::Small => (150, 90),
        }
    }

    /// Side of the printed QR symbol in millimetres, quiet zone included.
    pub fn qr_mm(self) -> u32 {
        match self {
            PlateSize::Large => 120,
            PlateSize::Medium => 75,
            PlateSize::Small => 40,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlateStatus {
    Issued,
    Replaced,
    Revoked,
}

impl PlateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlateStatus::Issued => "issued",
            PlateStatus::Replaced => "replaced",
            PlateStatus::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "issued" => PlateStatus::Issued,
            "replaced" => PlateStatus::Replaced,
            "revoked" => PlateStatus::Revoked,
            _ => return None,
        })
    }

    /// The wording residents read on the scan page.
    pub fn label_zh(self) -> &'static str {
        match self {
            PlateStatus::Issued => "有效",
            PlateStatus::Replaced => "已更换",
            PlateStatus::Revoked => "已注销",
        }
    }
}

/// Plate ids fit in 40 bits: the QR token carries the id in five bytes.
pub const MAX_PLATE_ID: i64 = (1 << 40) - 1;

/// A stored plate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Doorplate {
    pub id: i64,
    /// Printed on the plate: the county code of the address and the plate id.
    pub serial: String,
    pub address_code: String,
    /// The division of the address when the plate was issued (12 digits).
    pub division_code: String,
    pub size: PlateSize,
    pub status: PlateStatus,
    pub issued_at: DateTime<Utc>,
    pub issued_by: String,
    /// The plate this one replaced.
    pub replaces: Option<i64>,
    /// The plate that replaced this one.
    pub replaced_by: Option<i64>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
}

/// The serial printed on a plate: the county part of the division code and the plate
/// id, so a clerk can read where a plate belongs without a lookup.
pub fn plate_serial(division_code: &str, id: i64) -> String {
    let county = division_code.get(..6).unwrap_or(division_code);
    format!("{county}-{id:08}")
}

/// A plate to issue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDoorplate {
    pub address_code: String,
    pub division_code: String,
    pub size: PlateSize,
    pub replaces: Option<i64>,
}

/// How a plate leaves service.
#[derive(Debug, Clone, PartialEq)]
pub enum PlateEnding {
    Revoke {
        reason: String,
    },
    Replace {
        reason: Option<String>,
        size: PlateSize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_carries_the_county_and_the_padded_id() {
        assert_eq!(plate_serial("330212001000", 42), "330212-00000042");
        assert_eq!(
            plate_serial("330212001000", 123_456_789),
            "330212-123456789"
        );
    }

    #[test]
    fn sizes_follow_the_standard_plate_classes() {
        assert_eq!(PlateSize::Large.plate_mm(), (570, 370));
        assert_eq!(PlateSize::Medium.qr_mm(), 75);
        assert_eq!(PlateSize::parse("small"), Some(PlateSize::Small));
        assert_eq!(PlateSize::parse("huge"), None);
    }
}
