//! Encryption at rest on PostgreSQL (issue 35): what the table holds is
//! sealed, a missing or wrong key is an error at connect, and a rotated key
//! ring reads what the older key sealed.

mod common;

use ebbflow_core::testkit::services::rekey_all;
use ebbflow_core::{
    MessageAttributeValue, QueueAttributes, QueueBackend, ReceiveRequest, SendMessage,
};
use ebbflow_postgres::{KeySource, PostgresBackend, PostgresOptions};

/// A key no sealed test records.
const OTHER_KEY: &str = "5555555555555555555555555555555555555555555555555555555555555555";

async fn connect(
    url: &str,
    keys: Option<&[&str]>,
    name: &str,
) -> Result<PostgresBackend, ebbflow_postgres::ConnectError> {
    let mut options = PostgresOptions::new(url);
    if let Some(keys) = keys {
        options = options.encryption(KeySource::File(common::key_file(name, keys)));
    }
    PostgresBackend::connect(&options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_rows_hold_no_plaintext_and_keys_are_checked_at_connect() {
    let Some(url) = common::sealed_url().await else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    // The older key seals here (it is the newest of this ring).
    let old = connect(&url, Some(&[common::NEWER_KEY, common::KEY]), "old")
        .await
        .expect("connect");
    let q = format!("sealed-{}", fastrand::u64(..));
    old.create_queue(&q, QueueAttributes::standard())
        .await
        .expect("queue");
    let m = SendMessage::new("card 4242-4242 for order 77").attribute(
        "customer",
        MessageAttributeValue::string("alice@example.com"),
    );
    old.send(&q, m).await.expect("send");

    // The row as the table holds it.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT m.body, m.attributes FROM ebbflow_messages m JOIN ebbflow_queues q ON q.id = m.queue WHERE q.name = $1",
            &[&q],
        )
        .await
        .expect("row");
    let raw = format!("{} {}", row.get::<_, String>(0), row.get::<_, String>(1));
    assert!(raw.starts_with("ebbflow:sealed:v1:"), "{raw}");
    for secret in ["4242", "order 77", "alice", "customer"] {
        assert!(!raw.contains(secret), "`{secret}` is in the clear: {raw}");
    }

    // No key, or a key that never sealed here: refused at connect.
    let Err(none) = connect(&url, None, "none").await else {
        panic!("no key refused")
    };
    let none = none.to_string();
    assert!(none.contains("encryption_key_file"), "{none}");
    let Err(wrong) = connect(&url, Some(&[OTHER_KEY]), "wrong").await else {
        panic!("a wrong key refused")
    };
    let wrong = wrong.to_string();
    assert!(wrong.contains("lacks"), "{wrong}");

    // The rotated ring (old, then new) reads what the old key sealed, and
    // seals with the new one.
    let rotated = connect(&url, Some(&[common::KEY, common::NEWER_KEY]), "rotated")
        .await
        .expect("rotated");
    rotated
        .send(&q, SendMessage::new("second"))
        .await
        .expect("send");
    let mut got: Vec<(String, Option<String>)> = rotated
        .receive(&q, ReceiveRequest::new(10))
        .await
        .expect("receive")
        .into_iter()
        .map(|m| {
            let customer = m
                .attributes
                .get("customer")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            (m.body, customer)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "card 4242-4242 for order 77".to_owned(),
                Some("alice@example.com".to_owned())
            ),
            ("second".to_owned(), None)
        ]
    );
    // The key ids of every stored body and attributes of the queue.
    let sealed_with = || async {
        let mut ids: Vec<Option<String>> = client
            .query(
                "SELECT m.body, m.attributes FROM ebbflow_messages m JOIN ebbflow_queues q ON q.id = m.queue WHERE q.name = $1",
                &[&q],
            )
            .await
            .expect("rows")
            .iter()
            .flat_map(|r| {
                let body: String = r.get(0);
                let attrs: Option<String> = r.get(1);
                std::iter::once(body).chain(attrs)
            })
            .map(|v| ebbflow_core::seal::sealed_with(&v).map(str::to_owned))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let before = sealed_with().await;
    assert_eq!(
        before.len(),
        2,
        "the second message is sealed with the newer key: {before:?}"
    );

    // `ebbflow rekey`, one message a step: the older key's body and
    // attributes are sealed again with the newer; a second run finds nothing.
    let (resealed, steps) = rekey_all(&rotated, &q, 1).await;
    assert_eq!(resealed, 1, "only the older key's message");
    assert!(steps >= 2, "one message a step: {steps}");
    let now = sealed_with().await;
    assert_eq!(now.len(), 1, "one key now: {now:?}");
    assert_eq!(
        rotated.rekey(&q, None, 100).await.expect("again").resealed,
        0
    );
    rotated.delete_queue(&q).await.expect("delete");
}
