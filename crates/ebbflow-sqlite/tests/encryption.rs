//! Encryption at rest: what reaches the disk, and what a wrong or missing key does.

use ebbflow_core::{
    MessageAttributeValue, QueueAttributes, QueueBackend, ReceiveRequest, SendMessage,
};
use ebbflow_sqlite::{KeySource, OpenError, SqliteBackend, SqliteOptions};
use std::path::{Path, PathBuf};

const KEY_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const KEY_B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn key_file(dir: &Path, name: &str, key: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{key}\n")).expect("write key");
    path
}

fn options(dir: &Path, key: Option<&Path>) -> SqliteOptions {
    let options = SqliteOptions::new(dir.join("queues.db"));
    match key {
        Some(k) => options.encryption(KeySource::File(k.to_path_buf())),
        None => options,
    }
}

/// Every byte SQLite wrote: the database file and its write-ahead log.
fn bytes_on_disk(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["queues.db", "queues.db-wal"] {
        all.extend(std::fs::read(dir.join(name)).unwrap_or_default());
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn send_secret(backend: &SqliteBackend) {
    backend
        .create_queue("payments", QueueAttributes::standard())
        .await
        .expect("create");
    let message = SendMessage::new("card 4111-SECRET-BODY").attribute(
        "customer",
        MessageAttributeValue::string("SECRET-ATTRIBUTE"),
    );
    backend.send("payments", message).await.expect("send");
}

#[tokio::test]
async fn bodies_and_attributes_are_unreadable_on_disk_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "key", KEY_A);
    let backend = SqliteBackend::open(&options(dir.path(), Some(&key))).unwrap();
    send_secret(&backend).await;
    let disk = bytes_on_disk(dir.path());
    assert!(
        !contains(&disk, "SECRET-BODY"),
        "the body is on disk in clear"
    );
    assert!(
        !contains(&disk, "SECRET-ATTRIBUTE"),
        "an attribute is on disk in clear"
    );
    drop(backend);

    let reopened = SqliteBackend::open(&options(dir.path(), Some(&key))).unwrap();
    let got = reopened
        .receive("payments", ReceiveRequest::new(1))
        .await
        .unwrap();
    assert_eq!(got[0].body, "card 4111-SECRET-BODY");
    assert_eq!(
        got[0].attributes["customer"],
        MessageAttributeValue::string("SECRET-ATTRIBUTE")
    );
    assert_eq!(
        got[0].md5_of_body,
        ebbflow_core::md5_hex("card 4111-SECRET-BODY")
    );
}

#[tokio::test]
async fn without_a_key_bodies_are_stored_as_sent() {
    // The control for the test above: its search would find a clear body.
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(&options(dir.path(), None)).unwrap();
    send_secret(&backend).await;
    assert!(contains(&bytes_on_disk(dir.path()), "SECRET-BODY"));
}

#[tokio::test]
async fn a_wrong_key_is_refused_when_the_file_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let right = key_file(dir.path(), "right", KEY_A);
    let wrong = key_file(dir.path(), "wrong", KEY_B);
    send_secret(&SqliteBackend::open(&options(dir.path(), Some(&right))).unwrap()).await;
    let err = SqliteBackend::open(&options(dir.path(), Some(&wrong))).unwrap_err();
    assert!(matches!(err, OpenError::WrongKey { .. }), "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains("does not match") && shown.contains("wrong"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_missing_key_is_refused_when_the_file_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "key", KEY_A);
    send_secret(&SqliteBackend::open(&options(dir.path(), Some(&key))).unwrap()).await;
    let err = SqliteBackend::open(&options(dir.path(), None)).unwrap_err();
    assert!(matches!(err, OpenError::KeyRequired { .. }), "{err}");
    assert!(err.to_string().contains("encryption_key_file"), "{err}");
}

#[test]
fn a_key_that_is_not_64_hex_digits_is_refused_naming_its_source() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("short", "abcd"), ("not-hex", &"zz".repeat(32))] {
        let key = key_file(dir.path(), name, text);
        let err = SqliteBackend::open(&options(dir.path(), Some(&key))).unwrap_err();
        assert!(matches!(err, OpenError::BadKey { .. }), "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    let missing = dir.path().join("no-such-key");
    let err = SqliteBackend::open(&options(dir.path(), Some(&missing))).unwrap_err();
    assert!(err.to_string().contains("no-such-key"), "{err}");
}

#[tokio::test]
async fn the_key_may_come_from_an_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    // A variable only this test uses: tests share the process environment.
    std::env::set_var("EBBFLOW_TEST_KEY_FROM_ENV", KEY_A);
    let with_env = |var: &str| {
        SqliteOptions::new(dir.path().join("queues.db")).encryption(KeySource::Env(var.into()))
    };
    send_secret(&SqliteBackend::open(&with_env("EBBFLOW_TEST_KEY_FROM_ENV")).unwrap()).await;
    let file = key_file(dir.path(), "same", KEY_A);
    assert!(SqliteBackend::open(&options(dir.path(), Some(&file))).is_ok());
    let err = SqliteBackend::open(&with_env("EBBFLOW_TEST_KEY_UNSET")).unwrap_err();
    assert!(err.to_string().contains("EBBFLOW_TEST_KEY_UNSET"), "{err}");
}

#[tokio::test]
async fn encryption_cannot_be_turned_on_over_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    send_secret(&SqliteBackend::open(&options(dir.path(), None)).unwrap()).await;
    let key = key_file(dir.path(), "key", KEY_A);
    let err = SqliteBackend::open(&options(dir.path(), Some(&key))).unwrap_err();
    assert!(matches!(err, OpenError::NotEncrypted { .. }), "{err}");
}
