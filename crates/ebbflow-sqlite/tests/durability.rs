//! What a reopened database holds: the state of every message as the last
//! acknowledged call left it.

use ebbflow_core::{QueueAttributes, QueueBackend, ReceiveRequest, SendMessage};
use ebbflow_sqlite::{SqliteBackend, SqliteOptions};
use std::path::Path;
use std::time::Duration;

fn open(dir: &Path) -> SqliteBackend {
    SqliteBackend::open(&SqliteOptions::new(dir.join("q.db")).paused_clock(true)).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_reopened_database_keeps_sends_forgets_deletes_and_releases_in_flight_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path());
    let attrs = QueueAttributes::standard().with_visibility_timeout(Duration::from_secs(30));
    backend.create_queue("jobs", attrs.clone()).await.unwrap();
    let attrs = backend.get_queue_attributes("jobs").await.unwrap();
    for body in ["deleted", "in-flight", "waiting"] {
        backend.send("jobs", SendMessage::new(body)).await.unwrap();
    }
    let got = backend
        .receive("jobs", ReceiveRequest::new(2))
        .await
        .unwrap();
    let (deleted, in_flight) = (&got[0], &got[1]);
    assert_eq!(
        (deleted.body.as_str(), in_flight.body.as_str()),
        ("deleted", "in-flight")
    );
    backend
        .delete("jobs", &deleted.receipt_handle)
        .await
        .unwrap();
    drop(backend);

    let reopened = open(dir.path());
    assert_eq!(reopened.get_queue_attributes("jobs").await.unwrap(), attrs);
    let stats = reopened.stats("jobs").await.unwrap();
    assert_eq!((stats.visible, stats.in_flight), (1, 1), "{stats:?}");
    let now = reopened
        .receive("jobs", ReceiveRequest::new(10))
        .await
        .unwrap();
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].body, "waiting");
    tokio::time::advance(Duration::from_secs(31)).await;
    let later = reopened
        .receive("jobs", ReceiveRequest::new(10))
        .await
        .unwrap();
    let bodies: Vec<&str> = later.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["in-flight", "waiting"]);
    assert_eq!(later[0].system.approximate_receive_count, 2);
}

#[tokio::test(start_paused = true)]
async fn a_handle_from_before_a_reopen_still_deletes_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path());
    backend
        .create_queue("jobs", QueueAttributes::standard())
        .await
        .unwrap();
    backend.send("jobs", SendMessage::new("x")).await.unwrap();
    let got = backend
        .receive("jobs", ReceiveRequest::new(1))
        .await
        .unwrap();
    drop(backend);
    let reopened = open(dir.path());
    reopened
        .delete("jobs", &got[0].receipt_handle)
        .await
        .unwrap();
    assert_eq!(reopened.stats("jobs").await.unwrap().total(), 0);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "not a database, just some text that is long enough").unwrap();
    let err = SqliteBackend::open(&SqliteOptions::new(&path)).unwrap_err();
    assert!(err.to_string().contains("notes.txt"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_row_is_left_to_the_dead_letter_queue_and_the_rest_of_its_receive_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path());
    backend
        .create_queue("jobs-dlq", QueueAttributes::standard())
        .await
        .unwrap();
    let attrs = QueueAttributes::standard()
        .with_visibility_timeout(Duration::from_secs(30))
        .with_redrive_policy(ebbflow_core::RedrivePolicy::new("jobs-dlq", 2));
    backend.create_queue("jobs", attrs).await.unwrap();
    let mut bad_id = String::new();
    for body in ["a", "corrupt", "c"] {
        let mut m = SendMessage::new(body);
        m.attributes
            .insert("k".into(), ebbflow_core::MessageAttributeValue::string("v"));
        let receipt = backend.send("jobs", m).await.unwrap();
        if body == "corrupt" {
            bad_id = receipt.message_id;
        }
    }
    // Damage one row's attributes behind the backend's back.
    let conn = rusqlite::Connection::open(dir.path().join("q.db")).unwrap();
    conn.execute(
        "UPDATE messages SET attributes = x'7b7b' WHERE message_id = ?1",
        [&bad_id],
    )
    .unwrap();
    drop(conn);

    let got = backend
        .receive("jobs", ReceiveRequest::new(10))
        .await
        .unwrap();
    let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["a", "c"],
        "the readable messages of the receive arrive"
    );
    for m in &got {
        backend.delete("jobs", &m.receipt_handle).await.unwrap();
    }
    assert_eq!(backend.stats("jobs").await.unwrap().in_flight, 1);
    // It comes back after its timeout, still unreadable, and the redrive takes it.
    for _ in 0..2 {
        tokio::time::advance(Duration::from_secs(31)).await;
        let again = backend
            .receive("jobs", ReceiveRequest::new(10))
            .await
            .unwrap();
        assert!(again.is_empty());
    }
    assert_eq!(backend.stats("jobs").await.unwrap().total(), 0);
    assert_eq!(backend.stats("jobs-dlq").await.unwrap().total(), 1);
}
