//! API keys and roles. A key reads `yzt_<id>_<secret>`; the store keeps the id, the
//! role and the SHA-256 of the secret, never the secret. Verification compares the
//! digests in constant time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Role, Store, StoreError, StoredApiKey};

const KEY_PREFIX: &str = "yzt";
/// How long a verified key is trusted without asking the store again: a key revoked
/// from the command line stops working on every running server within this time.
pub const KEY_CACHE_LIFETIME: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("this request needs an API key: send Authorization: Bearer KEY")]
    MissingKey,
    #[error("the API key is not valid")]
    InvalidKey,
    #[error("this request needs the role {}, the key has {}", role_list(.required), .actual.as_str())]
    InsufficientRole { required: Vec<Role>, actual: Role },
}

fn role_list(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|role| role.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Principal {
    Anonymous,
    Key { id: String, role: Role },
}

impl Principal {
    /// Succeeds if the caller holds one of `roles`. Admin may do everything.
    pub fn require(&self, roles: &[Role]) -> Result<&str, AuthError> {
        match self {
            Principal::Anonymous => Err(AuthError::MissingKey),
            Principal::Key { id, role } if *role == Role::Admin || roles.contains(role) => Ok(id),
            Principal::Key { role, .. } => Err(AuthError::InsufficientRole {
                required: roles.to_vec(),
                actual: *role,
            }),
        }
    }
}

fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A freshly created key: `secret_key` is shown once and never stored.
pub struct CreatedKey {
    pub id: String,
    pub role: Role,
    pub secret_key: String,
}

pub async fn create_key(
    store: &dyn Store,
    role: Role,
    label: Option<String>,
) -> Result<CreatedKey, StoreError> {
    let id = hex::encode(rand::random::<[u8; 6]>());
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    store
        .create_api_key(&StoredApiKey {
            id: id.clone(),
            secret_sha256_hex: sha256_hex(&secret),
            role,
            label,
            created_at: Utc::now(),
            revoked_at: None,
        })
        .await?;
    Ok(CreatedKey {
        secret_key: format!("{KEY_PREFIX}_{id}_{secret}"),
        id,
        role,
    })
}

/// Verifies bearer keys against the store, caching keys it has seen so that a
/// request costs a hash and a map lookup, not a database round trip.
pub struct KeyVerifier {
    store: Arc<dyn Store>,
    /// Key id → (digest, role, when the store was asked).
    known: RwLock<HashMap<String, (String, Role, Instant)>>,
    lifetime: Duration,
}

impl KeyVerifier {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_cache_lifetime(store, KEY_CACHE_LIFETIME)
    }

    pub fn with_cache_lifetime(store: Arc<dyn Store>, lifetime: Duration) -> Self {
        KeyVerifier {
            store,
            known: RwLock::new(HashMap::new()),
            lifetime,
        }
    }

    pub async fn verify(&self, presented: &str) -> Result<Principal, VerifyError> {
        let mut parts = presented.trim().splitn(3, '_');
        let (Some(KEY_PREFIX), Some(id), Some(secret)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Auth(AuthError::InvalidKey));
        };
        let cached = self
            .known
            .read()
            .expect("key cache lock")
            .get(id)
            .filter(|(_, _, fetched)| fetched.elapsed() < self.lifetime)
            .map(|(digest, role, _)| (digest.clone(), *role));
        let (digest, role) = match cached {
            Some(entry) => entry,
            None => {
                let stored = self.store.api_key(id).await.map_err(VerifyError::Store)?;
                let Some(stored) = stored.filter(|key| key.revoked_at.is_none()) else {
                    self.known.write().expect("key cache lock").remove(id);
                    return Err(VerifyError::Auth(AuthError::InvalidKey));
                };
                self.known.write().expect("key cache lock").insert(
                    id.to_owned(),
                    (
                        stored.secret_sha256_hex.clone(),
                        stored.role,
                        Instant::now(),
                    ),
                );
                (stored.secret_sha256_hex, stored.role)
            }
        };
        let presented_digest = sha256_hex(secret);
        if bool::from(presented_digest.as_bytes().ct_eq(digest.as_bytes())) {
            Ok(Principal::Key {
                id: id.to_owned(),
                role,
            })
        } else {
            Err(VerifyError::Auth(AuthError::InvalidKey))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Auth(AuthError),
    #[error(transparent)]
    Store(StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_passes_every_role_check_and_others_only_their_own() {
        let admin = Principal::Key {
            id: "a".into(),
            role: Role::Admin,
        };
        assert!(admin.require(&[Role::Editor]).is_ok());
        let reader = Principal::Key {
            id: "r".into(),
            role: Role::Reader,
        };
        assert_eq!(
            reader.require(&[Role::Editor]),
            Err(AuthError::InsufficientRole {
                required: vec![Role::Editor],
                actual: Role::Reader
            })
        );
        assert_eq!(
            Principal::Anonymous.require(&[Role::Reader]),
            Err(AuthError::MissingKey)
        );
    }
}
