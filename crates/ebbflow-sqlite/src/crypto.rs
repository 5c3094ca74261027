//! Encryption at rest: bodies and attributes sealed with AES-256-GCM.
//!
//! Each value gets a fresh random 96-bit nonce, stored in front of its
//! ciphertext; the message id is the associated data, so a sealed body copied
//! onto another row fails to open rather than read as that row's.

use crate::error::OpenError;
use crate::options::KeySource;
use ebbflow_core::seal::{Key, KeyRing, SealError};

/// What the database stores to tell a right key from a wrong one.
const CHECK_PLAINTEXT: &[u8] = b"ebbflow key check";
const CHECK_AAD: &[u8] = b"ebbflow-key-check";

/// Seals and opens values with one key.
pub(crate) struct Sealer {
    ring: KeyRing,
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
    /// Reads the key from its source: one key (a database file keeps no
    /// key id beside its values, so it has no rotation).
    pub(crate) fn load(source: &KeySource) -> Result<Self, OpenError> {
        let ring = KeyRing::load(source).map_err(|e| match e {
            SealError::BadKey {
                source_name,
                reason,
            } => OpenError::BadKey {
                source_name,
                reason,
            },
            other => OpenError::BadKey {
                source_name: source.name(),
                reason: other.to_string(),
            },
        })?;
        if ring.keys().len() != 1 {
            return Err(OpenError::BadKey {
                source_name: source.name(),
                reason: format!(
                    "{} keys; SQLite takes one (key rotation is for Redis and PostgreSQL)",
                    ring.keys().len()
                ),
            });
        }
        Ok(Self {
            ring,
            source_name: source.name(),
        })
    }

    #[cfg(test)]
    pub(crate) fn from_key(key: [u8; 32], source_name: String) -> Self {
        Self {
            ring: KeyRing::from_keys(&[key], &source_name),
            source_name,
        }
    }

    fn key(&self) -> &Key {
        self.ring.newest()
    }

    /// `nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        self.key().seal_bytes(aad, plaintext)
    }

    /// The plaintext, or `None` when the value was not sealed with this key and `aad`.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        self.key().open_bytes(aad, sealed)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
