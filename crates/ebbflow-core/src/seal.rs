//! Encryption at rest (feature `seal`): message bodies and attributes sealed
//! with AES-256-GCM before an engine stores them.
//!
//! Keys come from a file or an environment variable, never from the TOML:
//! 64 hex digits per line, the newest last. Every key has an id, the first
//! eight hex digits of its SHA-256, written beside each value sealed with
//! it, so a key can be rotated: the newest seals, every key in the ring
//! opens, and `ebbflow rekey` re-seals what older keys sealed.
//!
//! A sealed text value is `ebbflow:sealed:v1:ID:BASE64` (the nonce, the
//! ciphertext, the tag). What an engine stored before encryption was turned
//! on has no such prefix and reads as it is. The associated data names the
//! message and the field, so a sealed value moved to another message, or
//! from a body to attributes, does not open.
//!
//! ```
//! use ebbflow_core::seal::KeyRing;
//! let ring = KeyRing::from_keys(&[[7u8; 32]], "test");
//! let sealed = ring.seal(b"message-1/body", "card 4242");
//! assert!(!sealed.contains("4242"));
//! assert_eq!(ring.open(b"message-1/body", &sealed).unwrap(), "card 4242");
//! assert!(ring.open(b"message-2/body", &sealed).is_err());
//! // Plain values (stored before encryption was on) read as they are.
//! assert_eq!(ring.open(b"message-1/body", "hello").unwrap(), "hello");
//! ```

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use sha2::Digest;
use std::borrow::Cow;
use std::path::PathBuf;

const NONCE_LEN: usize = 12;
/// What starts every sealed text value.
pub const SEALED_PREFIX: &str = "ebbflow:sealed:v1:";
/// The most keys a ring holds: a rotation needs two; more is a file gone wrong.
pub const MAX_KEYS: usize = 16;

/// Where the keys come from. The keys themselves are never in the TOML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file holding the keys, 64 hex digits per line, the newest last
    /// (blank lines and lines starting with `#` are skipped).
    File(PathBuf),
    /// An environment variable holding the keys, as the file does (one key,
    /// or several separated by newlines or commas).
    Env(String),
}

impl KeySource {
    /// The source as errors name it.
    pub fn name(&self) -> String {
        match self {
            KeySource::File(path) => format!("file {}", path.display()),
            KeySource::Env(var) => format!("environment variable {var}"),
        }
    }
}

/// Why sealing could not be set up, or a value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The keys could not be read, or one is not 64 hex digits.
    #[error("encryption key from {source_name}: {reason}")]
    BadKey {
        /// Where the keys were read from.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A value was sealed with a key the ring lacks.
    #[error("sealed with key {key_id}, which the key ring lacks (keys: {known})")]
    UnknownKey {
        /// The id written beside the value.
        key_id: String,
        /// The ids the ring has.
        known: String,
    },
    /// The engine holds values sealed with keys, and no key was given.
    #[error("the engine holds messages sealed with key(s) {ids}; give the key file with backend.encryption_key_file or backend.encryption_key_env")]
    KeyRequired {
        /// The ids the engine recorded.
        ids: String,
    },
    /// The engine holds values sealed with keys the ring lacks.
    #[error("the engine holds messages sealed with key(s) {missing}, which {source_name} lacks (it has {known}); keep an old key in the file, newest last, until every message it sealed is gone")]
    KeysMissing {
        /// The recorded ids the ring lacks.
        missing: String,
        /// Where the ring came from.
        source_name: String,
        /// The ids the ring has.
        known: String,
    },
    /// A sealed value that does not open: altered, moved from another
    /// message, or cut short.
    #[error("a sealed value does not open with key {key_id}: altered, moved or cut short")]
    Corrupt {
        /// The id written beside the value.
        key_id: String,
    },
}

/// One AES-256-GCM key and its id.
pub struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// The key `bytes`, with its id.
    pub fn new(bytes: [u8; 32]) -> Self {
        let digest = sha2::Sha256::digest(bytes);
        let mut id = String::with_capacity(8);
        crate::push_hex(&mut id, &digest[..4]);
        Self {
            id,
            cipher: Aes256Gcm::new(&aes_gcm::Key::<Aes256Gcm>::from(bytes)),
        }
    }

    /// The first eight hex digits of the key's SHA-256.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `nonce || ciphertext || tag`, with a fresh random nonce.
    pub fn seal_bytes(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = Nonce::generate();
        // AES-GCM fails only past 64 GiB per value; messages are at most 1 MiB.
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext of [`Key::seal_bytes`]'s output, or `None` when it was
    /// not sealed with this key and `aad`.
    pub fn open_bytes(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
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
}

/// The keys an engine seals with (the newest) and opens with (any).
#[derive(Debug)]
pub struct KeyRing {
    /// Oldest first.
    keys: Vec<Key>,
    source_name: String,
}

impl KeyRing {
    /// Reads the keys from `source`: at least one, at most [`MAX_KEYS`],
    /// each 64 hex digits, no two alike.
    pub fn load(source: &KeySource) -> Result<Self, SealError> {
        let source_name = source.name();
        let bad = |reason: String| SealError::BadKey {
            source_name: source_name.clone(),
            reason,
        };
        let text = match source {
            KeySource::File(path) => {
                std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?
            }
            KeySource::Env(var) => {
                std::env::var(var).map_err(|_| bad("not set (or not UTF-8)".to_owned()))?
            }
        };
        let lines: Vec<&str> = text
            .split(['\n', ','])
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if lines.is_empty() {
            return Err(bad("no key: expected 64 hex digits".to_owned()));
        }
        if lines.len() > MAX_KEYS {
            return Err(bad(format!(
                "{} keys; at most {MAX_KEYS} (a rotation needs two)",
                lines.len()
            )));
        }
        let mut keys = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let bytes =
                parse_key(line).map_err(|reason| bad(format!("key {}: {reason}", i + 1)))?;
            keys.push(bytes);
        }
        let ring = Self::from_keys(&keys, &source_name);
        let mut ids: Vec<&str> = ring.keys.iter().map(Key::id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("the same key twice".to_owned()));
        }
        Ok(ring)
    }

    /// The ring `source` names, shared; none without a source (an engine
    /// given no keys).
    pub fn load_optional(
        source: Option<&KeySource>,
    ) -> Result<Option<std::sync::Arc<Self>>, SealError> {
        source
            .map(Self::load)
            .transpose()
            .map(|ring| ring.map(std::sync::Arc::new))
    }

    /// A ring of `keys`, oldest first (at least one).
    pub fn from_keys(keys: &[[u8; 32]], source_name: &str) -> Self {
        Self {
            keys: keys.iter().copied().map(Key::new).collect(),
            source_name: source_name.to_owned(),
        }
    }

    /// The key new values are sealed with: the last one.
    pub fn newest(&self) -> &Key {
        // `load` and `from_keys`' callers give at least one key.
        &self.keys[self.keys.len() - 1]
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The ids of the keys, oldest first, comma-separated.
    pub fn ids(&self) -> String {
        self.keys.iter().map(Key::id).collect::<Vec<_>>().join(",")
    }

    /// Where the keys came from, for messages.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// `text` sealed with the newest key, as a text value.
    pub fn seal(&self, aad: &[u8], text: &str) -> String {
        let key = self.newest();
        let sealed = key.seal_bytes(aad, text.as_bytes());
        let mut out = String::with_capacity(SEALED_PREFIX.len() + 9 + sealed.len() * 4 / 3 + 4);
        out.push_str(SEALED_PREFIX);
        out.push_str(key.id());
        out.push(':');
        base64::engine::general_purpose::STANDARD_NO_PAD.encode_string(&sealed, &mut out);
        out
    }

    /// The text of a value [`KeyRing::seal`] made, or the value itself when
    /// it is not sealed (stored before encryption was on).
    pub fn open<'a>(&self, aad: &[u8], value: &'a str) -> Result<Cow<'a, str>, SealError> {
        let Some(key_id) = sealed_with(value) else {
            return Ok(Cow::Borrowed(value));
        };
        let key =
            self.keys
                .iter()
                .find(|k| k.id() == key_id)
                .ok_or_else(|| SealError::UnknownKey {
                    key_id: key_id.to_owned(),
                    known: self.ids(),
                })?;
        let corrupt = || SealError::Corrupt {
            key_id: key_id.to_owned(),
        };
        let encoded = &value[SEALED_PREFIX.len() + key_id.len() + 1..];
        let sealed = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(encoded)
            .map_err(|_| corrupt())?;
        let plain = key.open_bytes(aad, &sealed).ok_or_else(corrupt)?;
        String::from_utf8(plain)
            .map(Cow::Owned)
            .map_err(|_| corrupt())
    }

    /// Whether `value` needs sealing again: plain, or sealed with an older key.
    pub fn needs_rekey(&self, value: &str) -> bool {
        sealed_with(value) != Some(self.newest().id())
    }
}

/// What an engine decides at connect, from the ids of the keys it recorded
/// as having sealed its messages: a ring is needed when any did, and must
/// hold each of them. A wrong key is a missing one (ids come from the keys).
///
/// ```
/// use ebbflow_core::seal::{check_ring, KeyRing};
/// let ring = KeyRing::from_keys(&[[1; 32]], "test");
/// let id = ring.newest().id().to_owned();
/// assert!(check_ring(Some(&ring), &[id.clone()]).is_ok());
/// assert!(check_ring(None, &[id]).is_err());
/// assert!(check_ring(Some(&ring), &["0badc0de".to_owned()]).is_err());
/// assert!(check_ring(None, &[]).is_ok());
/// ```
pub fn check_ring(ring: Option<&KeyRing>, recorded: &[String]) -> Result<(), SealError> {
    match ring {
        None if recorded.is_empty() => Ok(()),
        None => Err(SealError::KeyRequired {
            ids: recorded.join(","),
        }),
        Some(ring) => {
            let missing: Vec<&str> = recorded
                .iter()
                .map(String::as_str)
                .filter(|id| !ring.keys().iter().any(|k| k.id() == *id))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(SealError::KeysMissing {
                    missing: missing.join(","),
                    source_name: ring.source_name().to_owned(),
                    known: ring.ids(),
                })
            }
        }
    }
}

/// The id of the key `value` was sealed with; `None` for a plain value.
pub fn sealed_with(value: &str) -> Option<&str> {
    let rest = value.strip_prefix(SEALED_PREFIX)?;
    let (id, _) = rest.split_once(':')?;
    (id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// The associated data of one field of one message: a sealed value opens
/// only as that field of that message.
pub fn aad(message_id: &str, field: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message_id.len() + field.len() + 1);
    out.extend_from_slice(message_id.as_bytes());
    out.push(b'/');
    out.extend_from_slice(field.as_bytes());
    out
}

/// What an engine stores for `field` of message `message_id`: `text`
/// sealed with the ring's newest key, or as it is without a ring (and when
/// empty, which stands for none).
pub fn seal_stored(ring: Option<&KeyRing>, message_id: &str, field: &str, text: String) -> String {
    match ring {
        Some(ring) if !text.is_empty() => ring.seal(&aad(message_id, field), &text),
        _ => text,
    }
}

/// What an engine reads back for `field` of `message_id`: opened with the
/// ring, plain values as they are. A sealed value without a ring, or one
/// that does not open, is an error naming the message, never its bytes.
///
/// ```
/// use ebbflow_core::seal::{open_stored, seal_stored, KeyRing};
/// let ring = KeyRing::from_keys(&[[3; 32]], "test");
/// let stored = seal_stored(Some(&ring), "m1", "body", "hi".into());
/// assert_eq!(open_stored(Some(&ring), "m1", "body", stored.clone()).unwrap(), "hi");
/// assert!(open_stored(None, "m1", "body", stored).is_err());
/// assert_eq!(open_stored(None, "m1", "body", "hi".into()).unwrap(), "hi");
/// ```
pub fn open_stored(
    ring: Option<&KeyRing>,
    message_id: &str,
    field: &str,
    value: String,
) -> Result<String, String> {
    match ring {
        Some(ring) => match ring.open(&aad(message_id, field), &value) {
            Ok(Cow::Borrowed(_)) => Ok(value),
            Ok(Cow::Owned(text)) => Ok(text),
            Err(e) => Err(format!("the {field} of message {message_id}: {e}")),
        },
        None if sealed_with(&value).is_some() => Err(format!(
            "the {field} of message {message_id} is sealed, and no key was given"
        )),
        None => Ok(value),
    }
}

/// `value` (`field` of `message_id`) sealed again with the ring's newest
/// key, or `None` when it needs nothing (already the newest's, or empty).
/// A plain value (stored before encryption was on) is sealed.
///
/// ```
/// use ebbflow_core::seal::{reseal, sealed_with, KeyRing};
/// let old = KeyRing::from_keys(&[[1; 32]], "old");
/// let both = KeyRing::from_keys(&[[1; 32], [2; 32]], "both");
/// let stored = old.seal(b"m1/body", "hi");
/// let again = reseal(&both, "m1", "body", &stored).unwrap().unwrap();
/// assert_eq!(sealed_with(&again), Some(both.newest().id()));
/// assert_eq!(reseal(&both, "m1", "body", &again).unwrap(), None);
/// ```
pub fn reseal(
    ring: &KeyRing,
    message_id: &str,
    field: &str,
    value: &str,
) -> Result<Option<String>, String> {
    if value.is_empty() || !ring.needs_rekey(value) {
        return Ok(None);
    }
    let aad = aad(message_id, field);
    let text = ring
        .open(&aad, value)
        .map_err(|e| format!("the {field} of message {message_id}: {e}"))?;
    Ok(Some(ring.seal(&aad, &text)))
}

/// 64 hex digits as 32 bytes.
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
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

    fn ring(keys: &[u8]) -> KeyRing {
        let keys: Vec<[u8; 32]> = keys.iter().map(|b| [*b; 32]).collect();
        KeyRing::from_keys(&keys, "test")
    }

    #[test]
    fn a_non_ascii_key_is_an_error_not_a_panic() {
        let key = format!("a{}{}", "é", "0".repeat(61));
        assert_eq!(key.len(), 64);
        assert!(parse_key(&key).unwrap_err().contains("non-ASCII"));
        assert_eq!(parse_key(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        assert!(parse_key("abc").unwrap_err().contains("64 hex digits"));
        assert!(parse_key(&"zz".repeat(32))
            .unwrap_err()
            .contains("other characters"));
    }

    #[test]
    fn sealed_values_open_only_with_their_key_message_and_field() {
        let r = ring(&[1]);
        let sealed = r.seal(&aad("m1", "body"), "secret order");
        assert!(!sealed.contains("secret"));
        assert_eq!(r.open(&aad("m1", "body"), &sealed).unwrap(), "secret order");
        assert!(
            r.open(&aad("m2", "body"), &sealed).is_err(),
            "another message"
        );
        assert!(
            r.open(&aad("m1", "attributes"), &sealed).is_err(),
            "another field"
        );
        assert!(matches!(
            ring(&[2]).open(&aad("m1", "body"), &sealed),
            Err(SealError::UnknownKey { .. })
        ));
        let cut = &sealed[..sealed.len() - 3];
        assert!(matches!(
            r.open(&aad("m1", "body"), cut),
            Err(SealError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_rotated_ring_opens_old_values_and_seals_with_the_newest() {
        let old = ring(&[1]);
        let sealed = old.seal(b"a", "x");
        let rotated = ring(&[1, 2]);
        assert_eq!(rotated.open(b"a", &sealed).unwrap(), "x");
        assert!(rotated.needs_rekey(&sealed));
        assert!(rotated.needs_rekey("plain"));
        let again = rotated.seal(b"a", "x");
        assert!(!rotated.needs_rekey(&again));
        assert_eq!(sealed_with(&again), Some(rotated.newest().id()));
        assert_ne!(sealed_with(&sealed), sealed_with(&again));
    }

    #[test]
    fn key_files_hold_one_key_per_line_newest_last() {
        let dir = std::env::temp_dir().join(format!("ebbflow-seal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("keys");
        std::fs::write(
            &file,
            format!("# old\n{}\n\n{}\n", "01".repeat(32), "02".repeat(32)),
        )
        .unwrap();
        let r = KeyRing::load(&KeySource::File(file.clone())).unwrap();
        assert_eq!(r.keys().len(), 2);
        assert_eq!(r.newest().id(), Key::new([2; 32]).id());
        std::fs::write(&file, format!("{}\n{}\n", "01".repeat(32), "01".repeat(32))).unwrap();
        assert!(KeyRing::load(&KeySource::File(file.clone()))
            .unwrap_err()
            .to_string()
            .contains("the same key twice"));
        std::fs::write(&file, "# nothing\n").unwrap();
        assert!(KeyRing::load(&KeySource::File(file.clone())).is_err());
        std::fs::write(&file, format!("{}\nnot a key\n", "01".repeat(32))).unwrap();
        let e = KeyRing::load(&KeySource::File(file))
            .unwrap_err()
            .to_string();
        assert!(e.contains("key 2"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
