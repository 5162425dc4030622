//! Plain records that cross the store boundary.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::domain::address::{AddressStatus, StandardAddress};

/// Who made a change: an API key, or an operator at the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// `key:<id>` for an API key, `cli:<command>` for the command line, `system` for start-up.
    pub name: String,
}

impl Actor {
    pub fn api_key(key_id: &str) -> Self {
        Actor {
            name: format!("key:{key_id}"),
        }
    }

    pub fn command_line(command: &str) -> Self {
        Actor {
            name: format!("cli:{command}"),
        }
    }

    pub fn system() -> Self {
        Actor {
            name: "system".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Created,
    Updated,
    Retired,
    Imported,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Retired => "retired",
            ChangeKind::Imported => "imported",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "created" => ChangeKind::Created,
            "updated" => ChangeKind::Updated,
            "retired" => ChangeKind::Retired,
            "imported" => ChangeKind::Imported,
            _ => return None,
        })
    }
}

/// One historical version of an address.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AddressVersion {
    pub version: i64,
    pub change: ChangeKind,
    pub actor: String,
    pub recorded_at: DateTime<Utc>,
    pub record: StandardAddress,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retirement {
    pub reason: String,
    pub successor_code: Option<String>,
}

/// A committed write, with the registry generation it took; `None` when the write
/// changed no address (an import batch of unchanged or rejected rows).
#[derive(Debug, Clone, PartialEq)]
pub struct Committed<T> {
    pub value: T,
    pub generation: Option<i64>,
}

/// Which store, and how far its address changes have gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryGeneration {
    /// Random at creation: tells one database from another.
    pub store_id: String,
    /// Raised by every transaction that writes addresses; 0 before the first.
    pub generation: i64,
}

/// A position in the change feed: the changes after `generation`, or, with a code,
/// after that code within `generation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeCursor {
    pub generation: i64,
    pub code: Option<String>,
}

impl ChangeCursor {
    pub fn after_generation(generation: i64) -> Self {
        ChangeCursor {
            generation,
            code: None,
        }
    }
}

/// An address as it stands after its latest change, and that change's generation.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedAddress {
    pub generation: i64,
    pub address: StandardAddress,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressFilter {
    /// Significant prefix of a division code: `330212` selects all of 鄞州区.
    pub division_prefix: Option<String>,
    pub status: Option<AddressStatus>,
}

/// A division outline as GeoJSON geometry text, CGCS2000 lon/lat.
#[derive(Debug, Clone, PartialEq)]
pub struct DivisionPolygon {
    pub code: String,
    pub geometry_geojson: String,
}

/// What happened to one row of an import batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ImportOutcome {
    Created {
        code: String,
        version: i64,
    },
    Updated {
        code: String,
        version: i64,
    },
    Unchanged {
        code: String,
    },
    Rejected {
        error_code: &'static str,
        message: String,
    },
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Reader,
    Editor,
    Surveyor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Editor => "editor",
            Role::Surveyor => "surveyor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "reader" => Role::Reader,
            "editor" => Role::Editor,
            "surveyor" => Role::Surveyor,
            "admin" => Role::Admin,
            _ => return None,
        })
    }
}

/// An API key as stored: the secret itself is never kept, only its SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredApiKey {
    pub id: String,
    pub secret_sha256_hex: String,
    pub role: Role,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

/// An audit entry before the store gives it an id.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    /// Serialised once, as JSON text: audit rows are written by the million on import.
    pub before: Option<Box<RawValue>>,
    pub after: Option<Box<RawValue>>,
}
