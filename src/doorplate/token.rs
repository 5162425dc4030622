//! The token in a plate's QR URL.
//!
//! 15 bytes, base64url without padding (20 characters): a format byte, the plate id
//! in 5 bytes, and the first 9 bytes of HMAC-SHA256 over both under the server secret.
//! The id makes the token specific to one plate (a replacement gets a new id and so a
//! new token), and the MAC lets the service reject a forged or mistyped token before
//! it looks anything up. 15 bytes is a multiple of 3, so every character carries data
//! and no two spellings decode to the same token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const FORMAT_V1: u8 = 1;
const ID_BYTES: usize = 5;
const MAC_BYTES: usize = 9;
const _: () = assert!(MAX_PLATE_ID == (1 << (8 * ID_BYTES)) - 1);
const TOKEN_BYTES: usize = 1 + ID_BYTES + MAC_BYTES;
pub const TOKEN_CHARS: usize = TOKEN_BYTES / 3 * 4;
pub use crate::domain::doorplate::MAX_PLATE_ID;
/// Keeps plate MACs apart from anything else the same secret might sign.
const DOMAIN: &[u8] = b"yizhitong doorplate v1";

/// Signs and verifies plate tokens with one server secret.
#[derive(Clone)]
pub struct PlateTokens {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for PlateTokens {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("PlateTokens { .. }")
    }
}

impl PlateTokens {
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
        mac.update(DOMAIN);
        PlateTokens { mac }
    }

    fn tag(&self, signed: &[u8]) -> [u8; MAC_BYTES] {
        let mut mac = self.mac.clone();
        mac.update(signed);
        let digest = mac.finalize().into_bytes();
        let mut tag = [0u8; MAC_BYTES];
        tag.copy_from_slice(&digest[..MAC_BYTES]);
        tag
    }

    /// The token of plate `id`. Ids above [`MAX_PLATE_ID`] are a programming error:
    /// the store allocates ids from 1 upwards.
    pub fn sign(&self, id: i64) -> String {
        assert!(
            (1..=MAX_PLATE_ID).contains(&id),
            "plate id {id} out of range"
        );
        let mut bytes = [0u8; TOKEN_BYTES];
        bytes[0] = FORMAT_V1;
        bytes[1..1 + ID_BYTES].copy_from_slice(&id.to_be_bytes()[8 - ID_BYTES..]);
        let tag = self.tag(&bytes[..1 + ID_BYTES]);
        bytes[1 + ID_BYTES..].copy_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The plate id a genuine token names, or `None` for anything this server did not sign.
    pub fn verify(&self, token: &str) -> Option<i64> {
        if token.len() != TOKEN_CHARS {
            return None;
        }
        let mut bytes = [0u8; TOKEN_BYTES];
        let decoded = URL_SAFE_NO_PAD
            .decode_slice(token.as_bytes(), &mut bytes)
            .ok()?;
        if decoded != TOKEN_BYTES || bytes[0] != FORMAT_V1 {
            return None;
        }
        let tag = self.tag(&bytes[..1 + ID_BYTES]);
        if !bool::from(tag.ct_eq(&bytes[1 + ID_BYTES..])) {
            return None;
        }
        let mut id = [0u8; 8];
        id[8 - ID_BYTES..].copy_from_slice(&bytes[1..1 + ID_BYTES]);
        Some(i64::from_be_bytes(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_to_its_plate_and_is_short() {
        let tokens = PlateTokens::new(b"a test secret of some length");
        for id in [1, 2, 999, 123_456_789, MAX_PLATE_ID] {
            let token = tokens.sign(id);
            assert_eq!(token.len(), TOKEN_CHARS);
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert_eq!(tokens.verify(&token), Some(id));
        }
        assert_eq!(TOKEN_CHARS, 20);
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let tokens = PlateTokens::new(b"secret");
        let token = tokens.sign(4242);
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for position in 0..token.len() {
            for replacement in alphabet.chars() {
                let mut changed: Vec<char> = token.chars().collect();
                if changed[position] == replacement {
                    continue;
                }
                changed[position] = replacement;
                let changed: String = changed.into_iter().collect();
                assert_eq!(tokens.verify(&changed), None, "{changed}");
            }
        }
    }

    #[test]
    fn another_secret_or_a_malformed_token_does_not_verify() {
        let token = PlateTokens::new(b"one").sign(7);
        assert_eq!(PlateTokens::new(b"two").verify(&token), None);
        let tokens = PlateTokens::new(b"one");
        for bad in [
            "",
            "short",
            "!!!!!!!!!!!!!!!!!!!!",
            &format!("{token}A"),
            "你好你好你好你",
        ] {
            assert_eq!(tokens.verify(bad), None, "{bad}");
        }
    }
}
