//! Encryption at rest: bodies and attributes sealed with AES-256-GCM.
//!
//! Each value gets a fresh random 96-bit nonce, stored in front of its
//! ciphertext; the message id is the associated data, so a sealed body copied
//! onto another row fails to open rather than read as that row's.

use crate::error::OpenError;
use crate::options::KeySource;
use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

const NONCE_LEN: usize = 12;

/// What the database stores to tell a right key from a wrong one.
const CHECK_PLAINTEXT: &[u8] = b"ebbflow key check";
const CHECK_AAD: &[u8] = b"ebbflow-key-check";

/// Seals and opens values with one key.
pub(crate) struct Sealer {
    cipher: Aes256Gcm,
    /// Where the key came from, for error messages.
    pub(crate) source_name: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("source_name", &self.source_name)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Reads the key from its source.
    pub(crate) fn load(source: &KeySource) -> Result<Self, OpenError> {
        let (source_name, text) = match source {
            KeySource::File(path) => {
                let name = format!("file {}", path.display());
                let text = std::fs::read_to_string(path).map_err(|e| OpenError::BadKey {
                    source_name: name.clone(),
                    reason: e.to_string(),
                })?;
                (name, text)
            }
            KeySource::Env(var) => {
                let name = format!("environment variable {var}");
                let text = std::env::var(var).map_err(|_| OpenError::BadKey {
                    source_name: name.clone(),
                    reason: "not set (or not UTF-8)".into(),
                })?;
                (name, text)
            }
        };
        let key = parse_key(text.trim()).map_err(|reason| OpenError::BadKey {
            source_name: source_name.clone(),
            reason,
        })?;
        Ok(Self::from_key(key, source_name))
    }

    pub(crate) fn from_key(key: [u8; 32], source_name: String) -> Self {
        Self {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)),
            source_name,
        }
    }

    /// `nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = Nonce::generate();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // AES-GCM fails only past 64 GiB per value; messages are at most 1 MiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext, or `None` when the value was not sealed with this key and `aad`.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).ok()?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
    }

    /// The value the database keeps to recognise this key.
    pub(crate) fn key_check(&self) -> Vec<u8> {
        self.seal(CHECK_AAD, CHECK_PLAINTEXT)
    }

    /// Whether `check` was made by [`Sealer::key_check`] with this key.
    pub(crate) fn matches(&self, check: &[u8]) -> bool {
        self.open(CHECK_AAD, check).as_deref() == Some(CHECK_PLAINTEXT)
    }
}

fn parse_key(text: &str) -> Result<[u8; 32], String> {
    // Checked first: the digits below are sliced by byte.
    if !text.is_ascii() {
        return Err("expected 64 hex digits (32 bytes), found non-ASCII characters".to_owned());
    }
    if text.len() != 64 {
        return Err(format!(
            "expected 64 hex digits (32 bytes), found {} characters",
            text.len()
        ));
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .map_err(|_| "expected 64 hex digits (32 bytes), found other characters".to_owned())?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_ascii_key_is_an_error_not_a_panic() {
        // 64 bytes, with a two-byte character across a digit pair.
        let key = format!("a{}{}", "é", "0".repeat(61));
        assert_eq!(key.len(), 64);
        assert!(parse_key(&key).unwrap_err().contains("non-ASCII"));
    }

    fn sealer(byte: u8) -> Sealer {
        Sealer::from_key([byte; 32], "test".into())
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_id() {
        let s = sealer(1);
        let sealed = s.seal(b"id-1", b"secret order");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            s.open(b"id-1", &sealed).as_deref(),
            Some(&b"secret order"[..])
        );
        assert_eq!(s.open(b"id-2", &sealed), None, "another row's id");
        assert_eq!(sealer(2).open(b"id-1", &sealed), None, "another key");
        assert_eq!(s.open(b"id-1", &sealed[..5]), None, "truncated");
    }

    #[test]
    fn the_key_check_tells_keys_apart() {
        let check = sealer(1).key_check();
        assert!(sealer(1).matches(&check));
        assert!(!sealer(2).matches(&check));
    }

    #[test]
    fn keys_must_be_64_hex_digits() {
        assert_eq!(parse_key(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        assert!(parse_key("abc").unwrap_err().contains("64 hex digits"));
        assert!(parse_key(&"zz".repeat(32))
            .unwrap_err()
            .contains("other characters"));
    }
}
