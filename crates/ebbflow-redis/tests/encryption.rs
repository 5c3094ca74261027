//! Encryption at rest on Redis (issue 35): what the server holds is sealed,
//! a missing or wrong key is an error at connect, and a rotated key ring
//! reads what the older key sealed.

mod common;

use ebbflow_core::testkit::services::rekey_all;
use ebbflow_core::{
    MessageAttributeValue, QueueAttributes, QueueBackend, ReceiveRequest, SendMessage,
};
use ebbflow_redis::{KeySource, RedisBackend, RedisOptions};

/// Its own logical database: the rotation records a second key id, which
/// the sealed suite's process (one key) must not meet.
const ROTATION_DB: u8 = 10;

async fn connect(
    keys: Option<&[&str]>,
    name: &str,
) -> Result<RedisBackend, ebbflow_redis::ConnectError> {
    let mut options = RedisOptions::new(common::database_url(ROTATION_DB).expect("url"));
    if let Some(keys) = keys {
        options = options.encryption(KeySource::File(common::key_file(name, keys)));
    }
    RedisBackend::connect(&options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_messages_hold_no_plaintext_and_keys_are_checked_at_connect() {
    let Some(url) = common::database_url(ROTATION_DB) else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    let b = connect(Some(&[common::KEY]), "one").await.expect("connect");
    let q = format!("sealed-{}", fastrand::u64(..));
    b.create_queue(&q, QueueAttributes::standard())
        .await
        .expect("queue");
    let m = SendMessage::new("card 4242-4242 for order 77").attribute(
        "customer",
        MessageAttributeValue::string("alice@example.com"),
    );
    b.send(&q, m).await.expect("send");

    // Every value the server holds for the queue, read raw.
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("ebbflow:{{{q}}}:*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    let mut raw = String::new();
    for key in &keys {
        let kind: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("type");
        if kind == "hash" {
            let fields: Vec<String> = redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .expect("hgetall");
            raw.push_str(&fields.join(" "));
        }
    }
    assert!(
        raw.contains("ebbflow:sealed:v1:"),
        "a sealed value is stored: {raw}"
    );
    for secret in ["4242", "order 77", "alice", "customer"] {
        assert!(!raw.contains(secret), "`{secret}` is in the clear: {raw}");
    }

    // Read back whole, with the key.
    let got = b
        .receive(&q, ReceiveRequest::new(1))
        .await
        .expect("receive");
    assert_eq!(got[0].body, "card 4242-4242 for order 77");
    assert_eq!(
        got[0].attributes["customer"].as_str(),
        Some("alice@example.com")
    );

    // No key, or another key: refused at connect, naming what is missing.
    let Err(none) = connect(None, "none").await else {
        panic!("no key refused")
    };
    let none = none.to_string();
    assert!(none.contains("encryption_key_file"), "{none}");
    let Err(wrong) = connect(Some(&[common::NEWER_KEY]), "wrong").await else {
        panic!("a wrong key refused")
    };
    let wrong = wrong.to_string();
    assert!(wrong.contains("lacks"), "{wrong}");

    // A rotated ring (old, then new) reads what the old key sealed and
    // seals with the new one.
    let rotated = connect(Some(&[common::KEY, common::NEWER_KEY]), "rotated")
        .await
        .expect("rotated");
    rotated
        .send(&q, SendMessage::new("second"))
        .await
        .expect("send");
    b.change_visibility(&q, &got[0].receipt_handle, std::time::Duration::ZERO)
        .await
        .expect("release");
    let mut bodies: Vec<String> = rotated
        .receive(&q, ReceiveRequest::new(10))
        .await
        .expect("receive")
        .into_iter()
        .map(|m| m.body)
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["card 4242-4242 for order 77", "second"]);

    // `ebbflow rekey`, one message a step: the older key's body and
    // attributes are sealed again with the newer; a second run finds nothing.
    let sealed_with = |conn: &mut redis::aio::MultiplexedConnection, keys: Vec<String>| {
        let mut conn = conn.clone();
        async move {
            let mut ids = Vec::new();
            for key in keys.iter().filter(|k| k.contains(":m:")) {
                let (body, attrs): (String, Option<String>) = redis::cmd("HMGET")
                    .arg(key)
                    .arg("body")
                    .arg("attrs")
                    .query_async(&mut conn)
                    .await
                    .expect("hmget");
                for value in std::iter::once(body).chain(attrs) {
                    ids.push(ebbflow_core::seal::sealed_with(&value).map(str::to_owned));
                }
            }
            ids.sort();
            ids.dedup();
            ids
        }
    };
    let message_keys = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        let pattern = format!("ebbflow:{{{q}}}:m:*");
        async move {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query_async(&mut conn)
                .await
                .expect("keys");
            keys
        }
    };
    let keys_now = message_keys(&mut conn).await;
    let before = sealed_with(&mut conn, keys_now).await;
    assert_eq!(before.len(), 2, "two keys sealed: {before:?}");
    let (resealed, steps) = rekey_all(&rotated, &q, 1).await;
    assert_eq!(resealed, 1, "only the older key's message");
    assert!(steps >= 2, "one message a step: {steps}");
    let keys_now = message_keys(&mut conn).await;
    let now = sealed_with(&mut conn, keys_now).await;
    assert_eq!(now.len(), 1, "one key now: {now:?}");
    assert_eq!(
        rotated.rekey(&q, None, 100).await.expect("again").resealed,
        0
    );
    rotated.delete_queue(&q).await.expect("delete");
    // Leave the database as found: the ids recorded here go too.
    let _: () = redis::cmd("DEL")
        .arg("ebbflow:seal-keys")
        .query_async(&mut conn)
        .await
        .expect("del");
}
