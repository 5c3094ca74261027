//! What a shared Redis must survive: a message hash evicted (a server
//! without `maxmemory-policy noeviction`) must not break the queue, and
//! processes creating one queue at once must all get it, whole.

mod common;

use ebbflow_core::{QueueAttributes, QueueBackend, ReceiveRequest, SendMessage};
use std::time::Duration;

/// Deletes the second message's hash, as an eviction would (a blocking
/// connection on the blocking pool: the paused clock does not jump meanwhile).
async fn delete_one_message_hash(url: &str, queue: &str) {
    let (url, pattern) = (url.to_owned(), format!("ebbflow:{{{queue}}}:m:*"));
    tokio::task::spawn_blocking(move || {
        let client = redis::Client::open(url).expect("client");
        let mut conn = client.get_connection().expect("connection");
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut conn)
            .expect("keys");
        keys.sort();
        let _: () = redis::cmd("DEL")
            .arg(&keys[1])
            .query(&mut conn)
            .expect("del");
    })
    .await
    .expect("the blocking task");
}

#[tokio::test(start_paused = true)]
async fn an_evicted_message_is_dropped_and_the_queue_goes_on() {
    let (Some(backend), Some(url)) = (common::shared().await, common::url()) else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    for fifo in [false, true] {
        let base = format!("evicted-{}", fastrand::u64(..));
        let (queue, attrs) = if fifo {
            (format!("{base}.fifo"), QueueAttributes::fifo())
        } else {
            (base, QueueAttributes::standard())
        };
        backend.create_queue(&queue, attrs).await.expect("create");
        for body in ["a", "b", "c"] {
            let mut m = SendMessage::new(body);
            if fifo {
                m.group_id = Some("g".into());
                m.deduplication_id = Some(body.into());
            }
            backend.send(&queue, m).await.expect("send");
        }
        delete_one_message_hash(&url, &queue).await;
        let mut bodies = Vec::new();
        for _ in 0..3 {
            let got = backend
                .receive(&queue, ReceiveRequest::new(10).wait(Duration::ZERO))
                .await
                .expect("receives go on");
            for m in got {
                bodies.push(m.body.clone());
                backend
                    .delete(&queue, &m.receipt_handle)
                    .await
                    .expect("delete");
            }
        }
        bodies.sort();
        assert_eq!(
            bodies.len(),
            2,
            "{fifo}: the two that remain arrive: {bodies:?}"
        );
        backend
            .send(&queue, {
                let mut m = SendMessage::new("d");
                if fifo {
                    m.group_id = Some("g".into());
                    m.deduplication_id = Some("d".into());
                }
                m
            })
            .await
            .expect("send after");
        let got = backend
            .receive(&queue, ReceiveRequest::new(10).wait(Duration::ZERO))
            .await
            .expect("receive after");
        assert_eq!(got.len(), 1, "{fifo}: a new message is delivered");
        backend
            .delete(&queue, &got[0].receipt_handle)
            .await
            .expect("delete");
        backend.delete_queue(&queue).await.expect("delete queue");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_creating_one_queue_at_once_all_get_it_whole() {
    let Some(url) = common::url() else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    let name = format!("racing-{}", fastrand::u64(..));
    let mut creators = Vec::new();
    for _ in 0..8 {
        // A backend each, as separate processes would have.
        let (url, name) = (url.clone(), name.clone());
        creators.push(tokio::spawn(async move {
            let options = ebbflow_redis::RedisOptions::new(url);
            let backend = ebbflow_redis::RedisBackend::connect(&options)
                .await
                .expect("connect");
            backend
                .create_queue(&name, QueueAttributes::standard())
                .await
        }));
    }
    for c in creators {
        c.await.expect("task").expect("every creation succeeds");
    }
    let backend = common::shared().await.expect("backend");
    backend
        .send(&name, SendMessage::new("x"))
        .await
        .expect("send");
    assert_eq!(backend.stats(&name).await.expect("stats").visible, 1);
    assert_eq!(
        backend.list_queues(Some(&name)).await.expect("list"),
        std::slice::from_ref(&name)
    );
    backend.delete_queue(&name).await.expect("delete queue");
}
