//! The rules, one async function each, named as the tests the suite generates.
//!
//! Each function checks one row (or one clause of a row) of the semantics
//! table in DESIGN.md, against any backend, through [`Harness`].

use super::Harness;
use crate::{
    limits, md5_hex, BatchResult, BrowsePage, BrowseRequest, BrowsedMessage,
    ChangeVisibilityBatchEntry, DeleteBatchEntry, MessageAttributeValue, MessageState,
    QueueAttributes, QueueAttributesUpdate, QueueBackend, QueueError, ReceiveRequest,
    ReceivedMessage, RedriveAllowPolicy, RedrivePolicy, Result, SendBatchEntry, SendMessage,
};
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SEC: Duration = Duration::from_secs(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A queue name no other test uses, even across processes sharing one server.
fn unique(base: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let salt = *SALT.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish() & 0xff_ffff
    });
    format!(
        "{base}-{salt:06x}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

tokio::task_local! {
    /// The queues the running rule created, deleted when it has passed.
    static CREATED: std::cell::RefCell<Vec<String>>;
}

/// Runs one rule, then deletes the queues it created: a suite run against a
/// shared server leaves nothing behind (a failing rule leaves its queues to
/// look at).
pub async fn clean_after(h: &dyn Harness, rule: impl std::future::Future<Output = ()>) {
    let created = CREATED
        .scope(std::cell::RefCell::new(Vec::new()), async {
            rule.await;
            CREATED.with(|c| c.take())
        })
        .await;
    let b = h.backend().await;
    // Sources before their dead-letter queues, which refuse to go while named.
    for name in created.iter().rev() {
        match b.delete_queue(name).await {
            Ok(()) | Err(QueueError::QueueDoesNotExist(_)) => {}
            Err(e) => panic!("deleting queue {name} after the rule: {e}"),
        }
    }
}

async fn create(b: &dyn QueueBackend, base: &str, attrs: QueueAttributes) -> String {
    let name = if attrs.fifo {
        format!("{}{}", unique(base), limits::FIFO_SUFFIX)
    } else {
        unique(base)
    };
    if let Err(e) = b.create_queue(&name, attrs).await {
        panic!("creating queue {name}: {e}");
    }
    clean_later(&name);
    name
}

/// Deletes `name` when the running rule has passed (see [`clean_after`]).
fn clean_later(name: &str) {
    // Outside a rule's scope (a caller of its own) there is nothing to clean.
    let _ = CREATED.try_with(|c| c.borrow_mut().push(name.to_owned()));
}

/// Checks that creating a queue with `attrs` fails with `InvalidParameterValue`.
async fn assert_rejected(b: &dyn QueueBackend, attrs: QueueAttributes) {
    let name = if attrs.fifo {
        format!("{}{}", unique("bad"), limits::FIFO_SUFFIX)
    } else {
        unique("bad")
    };
    let result = b.create_queue(&name, attrs.clone()).await;
    assert_eq!(
        code(result),
        "InvalidParameterValue",
        "attributes {attrs:?}"
    );
}

fn code<T: std::fmt::Debug>(result: Result<T>) -> &'static str {
    match result {
        Err(e) => e.code(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

fn ok<T>(what: &str, result: Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn send(b: &dyn QueueBackend, q: &str, body: &str) -> String {
    ok("send", b.send(q, SendMessage::new(body)).await).message_id
}

async fn send_fifo(b: &dyn QueueBackend, q: &str, group: &str, body: &str) -> String {
    let msg = SendMessage::new(body)
        .group_id(group)
        .deduplication_id(unique("d"));
    ok("send", b.send(q, msg).await).message_id
}

/// Receives up to `n`, long polling briefly so that servers which sample (SQS) still answer.
async fn recv(b: &dyn QueueBackend, q: &str, n: u32) -> Vec<ReceivedMessage> {
    ok(
        "receive",
        b.receive(q, ReceiveRequest::new(n).wait(SEC)).await,
    )
}

/// Receives without waiting; for checks that nothing is receivable now.
async fn recv_now(b: &dyn QueueBackend, q: &str, n: u32) -> Vec<ReceivedMessage> {
    ok(
        "receive",
        b.receive(q, ReceiveRequest::new(n).wait(Duration::ZERO))
            .await,
    )
}

async fn recv_vis(b: &dyn QueueBackend, q: &str, n: u32, vis: Duration) -> Vec<ReceivedMessage> {
    let req = ReceiveRequest::new(n).wait(SEC).visibility_timeout(vis);
    ok("receive", b.receive(q, req).await)
}

/// Receives until a receive comes back empty; deletes nothing.
async fn drain(b: &dyn QueueBackend, q: &str) -> Vec<ReceivedMessage> {
    let mut all = Vec::new();
    loop {
        let got = recv(b, q, 10).await;
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

fn bodies(msgs: &[ReceivedMessage]) -> Vec<&str> {
    msgs.iter().map(|m| m.body.as_str()).collect()
}

fn entries(bodies: &[&str]) -> Vec<SendBatchEntry> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| SendBatchEntry {
            id: format!("e{i}"),
            message: SendMessage::new(*body),
        })
        .collect()
}

fn failed_ids<T>(r: &BatchResult<T>) -> Vec<&str> {
    r.failed.iter().map(|f| f.id.as_str()).collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------- queue names

/// Queue names: 1–80 of `[A-Za-z0-9_-]`; FIFO names end in `.fifo`.
pub async fn queue_names_are_validated(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let base = unique("n");
    let longest = format!("{base}{}", "x".repeat(80 - base.len()));
    ok(
        "80-character name",
        b.create_queue(&longest, QueueAttributes::standard()).await,
    );
    clean_later(&longest);
    let too_long = format!("{longest}y");
    assert_eq!(
        code(b.create_queue(&too_long, QueueAttributes::standard()).await),
        "InvalidParameterValue"
    );
    for bad in ["", "has space", "dot.ted", "sl/ash", "ümlaut"] {
        assert_eq!(
            code(b.create_queue(bad, QueueAttributes::standard()).await),
            "InvalidParameterValue",
            "name {bad:?}"
        );
    }
    let fifo = format!("{}.fifo", unique("n"));
    ok(
        "FIFO name",
        b.create_queue(&fifo, QueueAttributes::fifo()).await,
    );
    clean_later(&fifo);
    let plain = unique("n");
    assert_eq!(
        code(b.create_queue(&plain, QueueAttributes::fifo()).await),
        "InvalidParameterValue",
        "a FIFO queue without the .fifo suffix"
    );
    let suffixed = format!("{}.fifo", unique("n"));
    assert_eq!(
        code(b.create_queue(&suffixed, QueueAttributes::standard()).await),
        "InvalidParameterValue",
        "a standard queue with the .fifo suffix"
    );
}

/// Create is idempotent for equal attributes, `QueueAlreadyExists` otherwise;
/// URL, list, attributes and delete behave as in SQS.
pub async fn queue_lifecycle_and_attributes(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let attrs = QueueAttributes::standard().with_visibility_timeout(secs(45));
    let before = now_ms() / 1000;
    let q = create(b, "life", attrs.clone()).await;
    let url = ok("create again", b.create_queue(&q, attrs.clone()).await);
    assert_eq!(ok("url", b.get_queue_url(&q).await), url);
    let other = attrs.clone().with_visibility_timeout(secs(46));
    assert_eq!(code(b.create_queue(&q, other).await), "QueueAlreadyExists");
    let got = ok("attributes", b.get_queue_attributes(&q).await);
    let created = got.created_timestamp;
    assert_eq!(
        QueueAttributes {
            created_timestamp: None,
            last_modified_timestamp: None,
            ..got.clone()
        },
        attrs
    );
    // Stamped by the engine when it made the queue, in seconds; a create
    // that finds the queue there keeps the first stamp.
    assert!(
        created.is_some_and(|t| t >= before && t <= now_ms() / 1000 + 1),
        "CreatedTimestamp {created:?} is not the time of creation (from {before})"
    );
    assert_eq!(got.last_modified_timestamp, created);

    // SQS's server-side encryption settings are kept as set.
    let kms = QueueAttributes {
        encryption: crate::ServerSideEncryption::Kms {
            key_id: "alias/orders".into(),
            data_key_reuse_period: secs(600),
        },
        ..QueueAttributes::standard()
    };
    let encrypted = create(b, "life-kms", kms.clone()).await;
    let got = ok("attributes", b.get_queue_attributes(&encrypted).await);
    assert_eq!(got.encryption, kms.encryption);

    let update = QueueAttributesUpdate {
        visibility_timeout: Some(secs(90)),
        delay: Some(secs(3)),
        ..Default::default()
    };
    ok("set attributes", b.set_queue_attributes(&q, update).await);
    let now = ok("attributes", b.get_queue_attributes(&q).await);
    assert_eq!((now.visibility_timeout, now.delay), (secs(90), secs(3)));
    assert_eq!(
        now.created_timestamp, created,
        "an update keeps the creation stamp"
    );
    assert!(
        now.last_modified_timestamp >= created,
        "LastModifiedTimestamp {:?} is before the creation {created:?}",
        now.last_modified_timestamp
    );
    let bad = QueueAttributesUpdate {
        message_retention_period: Some(secs(59)),
        ..Default::default()
    };
    assert_eq!(
        code(b.set_queue_attributes(&q, bad).await),
        "InvalidParameterValue"
    );

    let prefix = &q[..q.len() - 1];
    assert!(ok("list", b.list_queues(Some(prefix)).await).contains(&q));
    assert!(ok("list", b.list_queues(Some(&q)).await)
        .iter()
        .all(|n| n.starts_with(&q)));

    ok("delete queue", b.delete_queue(&q).await);
    assert_eq!(code(b.get_queue_url(&q).await), "QueueDoesNotExist");
    assert_eq!(
        code(b.send(&q, SendMessage::new("x")).await),
        "QueueDoesNotExist"
    );
    assert!(!ok("list", b.list_queues(Some(&q)).await).contains(&q));
}

// ---------------------------------------------------------------- body

/// Body: 1 byte up to `MaximumMessageSize`; attributes count toward it.
pub async fn body_size_is_limited(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(
        b,
        "size",
        QueueAttributes::standard().with_maximum_message_size(1024),
    )
    .await;
    assert_eq!(
        code(b.send(&q, SendMessage::new("")).await),
        "InvalidMessageContents"
    );
    let exact = "a".repeat(1024);
    ok(
        "1,024-byte body",
        b.send(&q, SendMessage::new(exact.clone())).await,
    );
    assert_eq!(
        code(b.send(&q, SendMessage::new(format!("{exact}a"))).await),
        "MessageTooLong"
    );
    let with_attr =
        SendMessage::new("a".repeat(1024 - 8)).attribute("k", MessageAttributeValue::string("vv"));
    assert_eq!(
        code(b.send(&q, with_attr).await),
        "MessageTooLong",
        "attributes count toward the size"
    );

    let big = create(b, "size", QueueAttributes::standard()).await;
    let max = "b".repeat(limits::MAX_MESSAGE_SIZE);
    ok(
        "1 MiB body",
        b.send(&big, SendMessage::new(max.clone())).await,
    );
    assert_eq!(
        code(b.send(&big, SendMessage::new(format!("{max}b"))).await),
        "MessageTooLong"
    );
    let got = recv(b, &big, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body.len(), limits::MAX_MESSAGE_SIZE);
}

/// Body characters: only #x9 #xA #xD #x20–#xD7FF #xE000–#xFFFD #x10000–#x10FFFF.
pub async fn body_characters_are_validated(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "chars", QueueAttributes::standard()).await;
    for bad in ["nul\u{0}", "bell\u{7}", "\u{1F}", "\u{FFFE}", "\u{FFFF}"] {
        assert_eq!(
            code(b.send(&q, SendMessage::new(bad)).await),
            "InvalidMessageContents",
            "body {bad:?}"
        );
    }
    let good = "tab\t nl\n cr\r é \u{D7FF} \u{E000} \u{FFFD} \u{10000} 🦀 \u{10FFFF}";
    ok(
        "allowed characters",
        b.send(&q, SendMessage::new(good)).await,
    );
    let got = recv(b, &q, 10).await;
    assert_eq!(
        bodies(&got),
        vec![good],
        "the body comes back byte for byte"
    );
}

// ---------------------------------------------------------------- attributes

/// Attributes: ≤ 10; String, Number, Binary and custom types round-trip; no `AWS.`/`Amazon.` names.
pub async fn message_attributes_round_trip_and_are_limited(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "attrs", QueueAttributes::standard()).await;
    let msg = SendMessage::new("with attributes")
        .attribute("s", MessageAttributeValue::string("text ✓"))
        .attribute("n", MessageAttributeValue::number("-12.5"))
        .attribute("b", MessageAttributeValue::binary(vec![0u8, 1, 2, 255]))
        .attribute(
            "custom",
            MessageAttributeValue {
                data_type: "String.json".into(),
                value: crate::AttributeValue::Text("{}".into()),
            },
        );
    let sent = msg.attributes.clone();
    ok("send with attributes", b.send(&q, msg).await);
    let got = recv(b, &q, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attributes, sent);

    let mut eleven = SendMessage::new("x");
    for i in 0..11 {
        eleven = eleven.attribute(format!("a{i}"), MessageAttributeValue::number(i));
    }
    assert_eq!(code(b.send(&q, eleven).await), "InvalidParameterValue");
    let mut ten = SendMessage::new("x");
    for i in 0..10 {
        ten = ten.attribute(format!("a{i}"), MessageAttributeValue::number(i));
    }
    ok("ten attributes", b.send(&q, ten).await);
    for name in ["AWS.trace", "amazon.x", "", "sp ace", ".lead", "two..dots"] {
        let m = SendMessage::new("x").attribute(name, MessageAttributeValue::string("v"));
        assert_eq!(
            code(b.send(&q, m).await),
            "InvalidAttributeName",
            "name {name:?}"
        );
    }
    let long = "a".repeat(257);
    let m = SendMessage::new("x").attribute(long, MessageAttributeValue::string("v"));
    assert_eq!(code(b.send(&q, m).await), "InvalidAttributeName");
    let bad_number = SendMessage::new("x").attribute("n", MessageAttributeValue::number("twelve"));
    assert_eq!(code(b.send(&q, bad_number).await), "InvalidAttributeName");
    let empty = SendMessage::new("x").attribute("e", MessageAttributeValue::string(""));
    assert_eq!(code(b.send(&q, empty).await), "InvalidAttributeName");
}

// ---------------------------------------------------------------- batches

/// Batches: ≤ 10 entries, ids unique and `[A-Za-z0-9_-]{1,80}`, total ≤ the size limit.
pub async fn batches_are_validated(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(
        b,
        "batch",
        QueueAttributes::standard().with_maximum_message_size(1024),
    )
    .await;
    assert_eq!(code(b.send_batch(&q, vec![]).await), "EmptyBatchRequest");
    let eleven: Vec<&str> = vec!["m"; 11];
    assert_eq!(
        code(b.send_batch(&q, entries(&eleven)).await),
        "TooManyEntriesInBatchRequest"
    );
    let mut dup = entries(&["a", "b"]);
    dup[1].id = dup[0].id.clone();
    assert_eq!(
        code(b.send_batch(&q, dup).await),
        "BatchEntryIdsNotDistinct"
    );
    for bad_id in ["", "has space", &"x".repeat(81)] {
        let mut e = entries(&["a"]);
        e[0].id = bad_id.to_owned();
        assert_eq!(
            code(b.send_batch(&q, e).await),
            "InvalidBatchEntryId",
            "id {bad_id:?}"
        );
    }
    let half = "h".repeat(600);
    assert_eq!(
        code(b.send_batch(&q, entries(&[&half, &half])).await),
        "BatchRequestTooLong"
    );
    assert_eq!(code(b.delete_batch(&q, vec![]).await), "EmptyBatchRequest");
    let ten: Vec<&str> = vec!["m"; 10];
    let sent = ok("ten entries", b.send_batch(&q, entries(&ten)).await);
    assert_eq!(sent.successful.len(), 10);
}

/// Batches: each entry succeeds or fails on its own.
pub async fn batches_report_each_entry(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "partial", QueueAttributes::standard()).await;
    let sent = ok(
        "send batch",
        b.send_batch(&q, entries(&["one", "", "three"])).await,
    );
    assert_eq!(failed_ids(&sent), vec!["e1"]);
    assert_eq!(sent.failed[0].error.code(), "InvalidMessageContents");
    let ids: Vec<&str> = sent.successful.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec!["e0", "e2"]);
    assert_eq!(sent.successful[0].value.md5_of_body, md5_hex("one"));

    let got = drain(b, &q).await;
    assert_eq!(got.len(), 2);
    let vis = vec![
        ChangeVisibilityBatchEntry {
            id: "good".into(),
            receipt_handle: got[0].receipt_handle.clone(),
            visibility_timeout: secs(100),
        },
        ChangeVisibilityBatchEntry {
            id: "bad".into(),
            receipt_handle: "not-a-handle".into(),
            visibility_timeout: secs(100),
        },
    ];
    let changed = ok(
        "change visibility batch",
        b.change_visibility_batch(&q, vis).await,
    );
    assert_eq!(failed_ids(&changed), vec!["bad"]);
    assert_eq!(changed.failed[0].error.code(), "ReceiptHandleIsInvalid");

    let del = got
        .iter()
        .enumerate()
        .map(|(i, m)| DeleteBatchEntry {
            id: format!("d{i}"),
            receipt_handle: m.receipt_handle.clone(),
        })
        .chain([DeleteBatchEntry {
            id: "bad".into(),
            receipt_handle: "not-a-handle".into(),
        }])
        .collect();
    let deleted = ok("delete batch", b.delete_batch(&q, del).await);
    assert_eq!(failed_ids(&deleted), vec!["bad"]);
    assert_eq!(deleted.successful.len(), 2);
    assert_eq!(ok("stats", b.stats(&q).await).total(), 0);
}

// ---------------------------------------------------------------- retention

/// Retention: 60 s – 14 d; a message older than the period disappears.
pub async fn retention_expires_messages(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    for bad in [secs(59), limits::MAX_RETENTION + SEC] {
        let attrs = QueueAttributes::standard().with_retention(bad);
        assert_rejected(b, attrs).await;
    }
    let q = create(
        b,
        "ret",
        QueueAttributes::standard().with_retention(secs(60)),
    )
    .await;
    send(b, &q, "old").await;
    h.advance(secs(30)).await;
    send(b, &q, "young").await;
    h.advance(secs(31)).await;
    let stats = ok("stats", b.stats(&q).await);
    assert_eq!(stats.visible, 1, "the message older than 60 s is gone");
    let got = recv(b, &q, 10).await;
    assert_eq!(bodies(&got), vec!["young"]);
    h.advance(secs(30)).await;
    assert_eq!(
        ok("stats", b.stats(&q).await).total(),
        0,
        "in-flight messages expire too"
    );
}

// ---------------------------------------------------------------- delay

/// Delay: a queue's delay (0–900 s) hides each new message that long.
pub async fn queue_delay_hides_new_messages(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let too_long = QueueAttributes::standard().with_delay(limits::MAX_DELAY + SEC);
    assert_rejected(b, too_long).await;
    let q = create(b, "delay", QueueAttributes::standard().with_delay(secs(10))).await;
    send(b, &q, "later").await;
    let stats = ok("stats", b.stats(&q).await);
    assert_eq!((stats.delayed, stats.visible), (1, 0));
    assert!(
        recv_now(b, &q, 10).await.is_empty(),
        "a delayed message is not receivable"
    );
    h.advance(secs(11)).await;
    assert_eq!(bodies(&recv(b, &q, 10).await), vec!["later"]);
}

/// Delay: per message on standard queues (overriding the queue's), not on FIFO queues.
pub async fn message_delay_overrides_queue_delay(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(
        b,
        "mdelay",
        QueueAttributes::standard().with_delay(secs(60)),
    )
    .await;
    ok(
        "send",
        b.send(&q, SendMessage::new("soon").delay(secs(5))).await,
    );
    ok(
        "send",
        b.send(&q, SendMessage::new("now").delay(Duration::ZERO))
            .await,
    );
    assert_eq!(bodies(&recv(b, &q, 10).await), vec!["now"]);
    h.advance(secs(6)).await;
    assert_eq!(bodies(&recv(b, &q, 10).await), vec!["soon"]);
    assert_eq!(
        code(
            b.send(&q, SendMessage::new("x").delay(limits::MAX_DELAY + SEC))
                .await
        ),
        "InvalidParameterValue"
    );
    let fifo = create(
        b,
        "mdelay",
        QueueAttributes::fifo().with_content_based_deduplication(true),
    )
    .await;
    let m = SendMessage::new("x").group_id("g").delay(secs(5));
    assert_eq!(code(b.send(&fifo, m).await), "InvalidParameterValue");
}

// ---------------------------------------------------------------- visibility

/// Visibility timeout: a received message is hidden for the queue's timeout, or the receive's.
pub async fn visibility_timeout_hides_received_messages(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    for bad in [limits::MAX_VISIBILITY_TIMEOUT + SEC] {
        let attrs = QueueAttributes::standard().with_visibility_timeout(bad);
        assert_rejected(b, attrs).await;
    }
    let q = create(
        b,
        "vis",
        QueueAttributes::standard().with_visibility_timeout(secs(30)),
    )
    .await;
    send(b, &q, "m").await;
    assert_eq!(recv(b, &q, 1).await.len(), 1);
    h.advance(secs(20)).await;
    assert!(
        recv_now(b, &q, 1).await.is_empty(),
        "hidden within the queue's timeout"
    );
    h.advance(secs(11)).await;
    let again = recv_vis(b, &q, 1, secs(5)).await;
    assert_eq!(again.len(), 1, "visible again after it");
    assert_eq!(again[0].system.approximate_receive_count, 2);
    h.advance(secs(3)).await;
    assert!(recv_now(b, &q, 1).await.is_empty());
    h.advance(secs(3)).await;
    assert_eq!(
        recv(b, &q, 1).await.len(),
        1,
        "the receive's own timeout applies"
    );
}

/// Visibility timeout: `change_visibility` counts from now, 0 releases at once,
/// only in-flight messages, never past 12 h since the receive.
pub async fn change_visibility_counts_from_now(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(
        b,
        "cv",
        QueueAttributes::standard().with_visibility_timeout(secs(10)),
    )
    .await;
    send(b, &q, "m").await;
    let got = recv(b, &q, 1).await;
    let handle = &got[0].receipt_handle;
    h.advance(secs(8)).await;
    ok("extend", b.change_visibility(&q, handle, secs(10)).await);
    h.advance(secs(8)).await;
    assert!(
        recv_now(b, &q, 1).await.is_empty(),
        "the new timeout counts from the change"
    );
    ok(
        "release",
        b.change_visibility(&q, handle, Duration::ZERO).await,
    );
    let again = recv_now(b, &q, 1).await;
    assert_eq!(again.len(), 1, "a zero timeout makes it visible at once");
    let handle = again[0].receipt_handle.clone();
    assert_eq!(
        code(
            b.change_visibility(&q, &handle, limits::MAX_VISIBILITY_TIMEOUT + SEC)
                .await
        ),
        "InvalidParameterValue"
    );
    h.advance(secs(5)).await;
    assert_eq!(
        code(
            b.change_visibility(&q, &handle, limits::MAX_VISIBILITY_TIMEOUT)
                .await
        ),
        "InvalidParameterValue",
        "in flight 5 s + 12 h passes the 12 h cap"
    );
    ok(
        "within the cap",
        b.change_visibility(&q, &handle, limits::MAX_VISIBILITY_TIMEOUT - secs(10))
            .await,
    );
    ok(
        "release",
        b.change_visibility(&q, &handle, Duration::ZERO).await,
    );
    assert_eq!(
        code(b.change_visibility(&q, &handle, secs(10)).await),
        "MessageNotInflight",
        "a visible message is not in flight"
    );
    assert_eq!(
        code(b.change_visibility(&q, "garbage", secs(10)).await),
        "ReceiptHandleIsInvalid"
    );
}

// ---------------------------------------------------------------- long polling

/// Long polling: a waiting receive returns as soon as a message arrives.
pub async fn long_poll_wakes_on_arrival(h: &dyn Harness) {
    let backend = h.backend().await;
    let q = create(backend.as_ref(), "lp", QueueAttributes::standard()).await;
    let start = tokio::time::Instant::now();
    let waiter = {
        let (b, q) = (backend.clone(), q.clone());
        tokio::spawn(async move {
            let got = b.receive(&q, ReceiveRequest::new(10).wait(secs(20))).await;
            (got, start.elapsed())
        })
    };
    // Let the receive start waiting before anything is sent.
    tokio::task::yield_now().await;
    h.advance(secs(2)).await;
    send(backend.as_ref(), &q, "wake").await;
    let (got, waited) = match waiter.await {
        Ok(done) => done,
        Err(e) => panic!("waiting receive panicked: {e}"),
    };
    assert_eq!(bodies(&ok("long poll", got)), vec!["wake"]);
    assert!(
        waited >= secs(2) && waited < secs(10),
        "returned after {waited:?}, not on arrival at 2 s"
    );
    let too_long = ReceiveRequest::new(1).wait(limits::MAX_WAIT_TIME + SEC);
    assert_eq!(
        code(backend.receive(&q, too_long).await),
        "InvalidParameterValue"
    );
}

/// Long polling: with nothing to receive, a receive waits out its wait time (0–20 s), then returns empty.
pub async fn long_poll_returns_empty_after_wait(h: &dyn Harness) {
    let b = h.backend().await;
    let attrs = QueueAttributes::standard().with_receive_wait_time(secs(2));
    let q = create(b.as_ref(), "lpe", attrs).await;
    let start = tokio::time::Instant::now();
    let got = ok("receive", b.receive(&q, ReceiveRequest::new(10)).await);
    let waited = start.elapsed();
    assert!(got.is_empty());
    assert!(
        waited >= secs(2) && waited < secs(10),
        "waited {waited:?} instead of the queue's 2 s"
    );
}

// ---------------------------------------------------------------- receive

/// Receive: each receive makes a new handle and raises `ApproximateReceiveCount`;
/// `ApproximateFirstReceiveTimestamp` is set once.
pub async fn receive_makes_new_handles_and_counts(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "rc", QueueAttributes::standard()).await;
    let id = send(b, &q, "m").await;
    let mut handles = HashSet::new();
    let mut first = None;
    for n in 1..=3u32 {
        let got = recv_vis(b, &q, 1, Duration::ZERO).await;
        assert_eq!(got.len(), 1);
        let m = &got[0];
        assert_eq!(m.message_id, id, "the id is stable across receives");
        assert_eq!(m.system.approximate_receive_count, n);
        assert!(
            handles.insert(m.receipt_handle.clone()),
            "receive {n} reused a handle"
        );
        let ts = m.system.approximate_first_receive_timestamp;
        assert!(ts > 0);
        assert_eq!(
            *first.get_or_insert(ts),
            ts,
            "the first receive time does not move"
        );
        h.advance(SEC).await;
    }
    for bad in [0, 11] {
        assert_eq!(
            code(b.receive(&q, ReceiveRequest::new(bad)).await),
            "InvalidParameterValue"
        );
    }
}

/// Runs `call` `times` times over [`PARALLEL_CALLS`] tasks on `queue`, and
/// sums what the calls return.
async fn in_parallel<F, Fut>(
    backend: &std::sync::Arc<dyn QueueBackend>,
    times: usize,
    call: F,
    queue: &str,
) -> usize
where
    F: Fn(std::sync::Arc<dyn QueueBackend>, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = usize> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..PARALLEL_CALLS {
        let (backend, queue, call) = (backend.clone(), queue.to_owned(), call.clone());
        let mine = times / PARALLEL_CALLS + usize::from(t < times % PARALLEL_CALLS);
        tasks.spawn(async move {
            let mut sum = 0;
            for _ in 0..mine {
                sum += call(backend.clone(), queue.clone()).await;
            }
            sum
        });
    }
    let mut sum = 0;
    while let Some(done) = tasks.join_next().await {
        sum += done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    }
    sum
}

/// Tasks [`in_parallel`] runs at once.
const PARALLEL_CALLS: usize = 8;

/// An undone receive ([`QueueBackend::undo_receive_batch`]): the message is
/// visible again at once and its receive is not counted, so that one given
/// back unprocessed any number of times never reaches its dead-letter
/// queue's `maxReceiveCount`; a receipt from before the last receive is refused.
pub async fn undone_receives_are_not_counted(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    for fifo in [false, true] {
        let base = if fifo {
            QueueAttributes::fifo()
        } else {
            QueueAttributes::standard()
        };
        let dlq = create(b, "undo-dlq", base.clone()).await;
        let q = create(
            b,
            "undo",
            base.with_redrive_policy(RedrivePolicy::new(&dlq, 2)),
        )
        .await;
        let id = if fifo {
            send_fifo(b, &q, "g", "m").await
        } else {
            send(b, &q, "m").await
        };
        let mut stale = None;
        for _ in 0..4 {
            let got = recv_vis(b, &q, 1, secs(30)).await;
            assert_eq!(got.len(), 1, "given back, never dead-lettered");
            assert_eq!(got[0].message_id, id);
            assert_eq!(got[0].system.approximate_receive_count, 1);
            let handle = got[0].receipt_handle.clone();
            let undone = ok(
                "undo the receive",
                b.undo_receive_batch(&q, vec![entry("0", &handle, Duration::ZERO)])
                    .await,
            );
            assert!(undone.failed.is_empty(), "{:?}", undone.failed);
            stale = Some(handle);
        }
        let got = recv_vis(b, &q, 1, secs(30)).await;
        assert_eq!(got.len(), 1);
        let refused = ok(
            "undo by a stale receipt",
            b.undo_receive_batch(
                &q,
                vec![entry(
                    "0",
                    stale.as_deref().unwrap_or_default(),
                    Duration::ZERO,
                )],
            )
            .await,
        );
        assert_eq!(refused.failed.len(), 1, "a stale receipt undoes nothing");
        let s = ok("stats", b.stats(&q).await);
        assert_eq!(
            (s.in_flight, s.visible),
            (1, 0),
            "still held by the last receive"
        );
    }
}

/// A visibility change entry.
fn entry(id: &str, handle: &str, timeout: Duration) -> ChangeVisibilityBatchEntry {
    ChangeVisibilityBatchEntry {
        id: id.to_owned(),
        receipt_handle: handle.to_owned(),
        visibility_timeout: timeout,
    }
}

/// Receive: 1–10 messages a call, none twice while in flight.
pub async fn receive_returns_up_to_max_messages(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "max", QueueAttributes::standard()).await;
    for chunk in 0..2 {
        let bodies: Vec<String> = (0..10).map(|i| format!("m{}", chunk * 10 + i)).collect();
        let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
        ok("send batch", b.send_batch(&q, entries(&refs)).await);
    }
    let first = recv(b, &q, 10).await;
    assert!((1..=10).contains(&first.len()), "got {}", first.len());
    let three = recv(b, &q, 3).await;
    assert!(
        (1..=3).contains(&three.len()),
        "asked for 3, got {}",
        three.len()
    );
    let rest = drain(b, &q).await;
    let mut seen = HashSet::new();
    for m in first.iter().chain(&three).chain(&rest) {
        assert!(
            seen.insert(m.message_id.clone()),
            "{} delivered twice while in flight",
            m.body
        );
    }
    assert_eq!(seen.len(), 20);
}

// ---------------------------------------------------------------- delete

/// Delete: by receipt handle; idempotent for the current handle; the message never returns.
pub async fn delete_is_idempotent_for_current_handle(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(
        b,
        "del",
        QueueAttributes::standard().with_visibility_timeout(secs(5)),
    )
    .await;
    send(b, &q, "m").await;
    let got = recv(b, &q, 1).await;
    ok("delete", b.delete(&q, &got[0].receipt_handle).await);
    ok("delete again", b.delete(&q, &got[0].receipt_handle).await);
    h.advance(secs(6)).await;
    assert!(
        recv_now(b, &q, 1).await.is_empty(),
        "a deleted message does not come back"
    );
    assert_eq!(ok("stats", b.stats(&q).await).total(), 0);
    assert_eq!(
        code(b.delete(&q, "garbage").await),
        "ReceiptHandleIsInvalid"
    );
    assert_eq!(code(b.delete(&q, "").await), "ReceiptHandleIsInvalid");
}

// ---------------------------------------------------------------- standard queues

/// Standard queues: at-least-once; every message sent is delivered.
pub async fn standard_queue_delivers_every_message(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "std", QueueAttributes::standard()).await;
    let mut sent = HashSet::new();
    for i in 0..50 {
        sent.insert(send(b, &q, &format!("m{i}")).await);
    }
    let mut got = HashSet::new();
    for m in drain(b, &q).await {
        got.insert(m.message_id.clone());
        ok("delete", b.delete(&q, &m.receipt_handle).await);
    }
    assert_eq!(got, sent);
}

// ---------------------------------------------------------------- FIFO

/// FIFO: `MessageGroupId` required; a deduplication id unless content-based.
pub async fn fifo_requires_group_and_dedup_ids(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "req", QueueAttributes::fifo()).await;
    assert_eq!(
        code(b.send(&q, SendMessage::new("x")).await),
        "MissingParameter"
    );
    assert_eq!(
        code(b.send(&q, SendMessage::new("x").group_id("g")).await),
        "InvalidParameterValue",
        "no dedup id and no content-based deduplication"
    );
    let long = "g".repeat(129);
    let m = SendMessage::new("x").group_id(long).deduplication_id("d");
    assert_eq!(code(b.send(&q, m).await), "InvalidParameterValue");
    ok(
        "send",
        b.send(
            &q,
            SendMessage::new("x").group_id("g").deduplication_id("d"),
        )
        .await,
    );
    let std = create(b, "req", QueueAttributes::standard()).await;
    assert_eq!(
        code(
            b.send(&std, SendMessage::new("x").deduplication_id("d"))
                .await
        ),
        "InvalidParameterValue",
        "standard queues take no deduplication id"
    );
    let not_fifo = QueueAttributes::standard().with_content_based_deduplication(true);
    assert_rejected(b, not_fifo).await;
}

/// FIFO: strict order within a group.
pub async fn fifo_keeps_order_within_group(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "order", QueueAttributes::fifo()).await;
    for i in 0..15 {
        for g in ["a", "b", "c"] {
            send_fifo(b, &q, g, &format!("{g}{i}")).await;
        }
    }
    let mut per_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
    loop {
        let got = recv(b, &q, 10).await;
        if got.is_empty() {
            break;
        }
        for m in &got {
            let g = m.system.message_group_id.clone().unwrap_or_default();
            per_group.entry(g).or_default().push(m.body.clone());
        }
        let del = DeleteBatchEntry::for_received(got);
        let deleted = ok("delete batch", b.delete_batch(&q, del).await);
        assert!(deleted.failed.is_empty());
    }
    for g in ["a", "b", "c"] {
        let want: Vec<String> = (0..15).map(|i| format!("{g}{i}")).collect();
        assert_eq!(per_group.get(g), Some(&want), "group {g} out of order");
    }
}

/// FIFO: a receive starts with the group whose first waiting message is the
/// oldest and takes as many of that group's messages as it can before the
/// next group, as SQS does.
pub async fn fifo_receives_the_oldest_group_first_and_fills_from_it(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let bodies =
        |got: &[ReceivedMessage]| -> Vec<String> { got.iter().map(|m| m.body.clone()).collect() };
    // The group named last alphabetically has the oldest message.
    let q = create(b, "oldest", QueueAttributes::fifo()).await;
    for body in ["g1", "g2", "g3"] {
        send_fifo(b, &q, "group", body).await;
    }
    send_fifo(b, &q, "anothergroup", "a1").await;
    assert_eq!(bodies(&recv(b, &q, 2).await), ["g1", "g2"]);
    assert_eq!(bodies(&recv(b, &q, 10).await), ["a1"], "group is in flight");

    // Interleaved groups: the receive fills from the oldest group first.
    if !super::checks(
        h,
        "fifo_receives_the_oldest_group_first_and_fills_from_it/fill",
    ) {
        return;
    }
    let q = create(b, "fill", QueueAttributes::fifo()).await;
    for (group, body) in [
        ("z", "z1"),
        ("b", "b1"),
        ("z", "z2"),
        ("b", "b2"),
        ("z", "z3"),
    ] {
        send_fifo(b, &q, group, body).await;
    }
    assert_eq!(bodies(&recv(b, &q, 4).await), ["z1", "z2", "z3", "b1"]);
}

/// FIFO: a group is blocked while any of its messages is in flight.
pub async fn fifo_blocks_group_while_in_flight(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(
        b,
        "block",
        QueueAttributes::fifo().with_visibility_timeout(secs(30)),
    )
    .await;
    send_fifo(b, &q, "a", "a1").await;
    send_fifo(b, &q, "a", "a2").await;
    send_fifo(b, &q, "b", "b1").await;
    let first = recv(b, &q, 1).await;
    assert_eq!(bodies(&first), vec!["a1"]);
    let next = recv(b, &q, 10).await;
    assert_eq!(
        bodies(&next),
        vec!["b1"],
        "group a is blocked while a1 is in flight"
    );
    assert!(recv_now(b, &q, 10).await.is_empty());
    ok("delete", b.delete(&q, &next[0].receipt_handle).await);
    h.advance(secs(31)).await;
    let again = recv(b, &q, 1).await;
    assert_eq!(
        bodies(&again),
        vec!["a1"],
        "after the timeout a1 comes first again"
    );
    ok("delete", b.delete(&q, &again[0].receipt_handle).await);
    assert_eq!(
        bodies(&recv(b, &q, 10).await),
        vec!["a2"],
        "the delete unblocks the group"
    );
}

/// FIFO: when a group's messages come back after their visibility timeout
/// (a consumer died holding them), they come back in order.
pub async fn fifo_keeps_order_after_visibility_expires(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(
        b,
        "expiry",
        QueueAttributes::fifo().with_visibility_timeout(secs(2)),
    )
    .await;
    for body in ["a1", "a2", "a3"] {
        send_fifo(b, &q, "a", body).await;
    }
    let held = recv(b, &q, 10).await;
    assert_eq!(bodies(&held), vec!["a1", "a2", "a3"]);
    ok("delete", b.delete(&q, &held[0].receipt_handle).await);
    h.advance(secs(3)).await;
    assert_eq!(
        bodies(&recv(b, &q, 1).await),
        vec!["a2"],
        "a2 comes back before a3"
    );
}

/// FIFO: a deduplication id seen in the last 5 minutes is accepted but not stored again.
pub async fn fifo_deduplicates_within_window(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "dedup", QueueAttributes::fifo()).await;
    let m = |body: &str| {
        SendMessage::new(body)
            .group_id("g")
            .deduplication_id("same")
    };
    let first = ok("send", b.send(&q, m("one")).await);
    h.advance(secs(60)).await;
    let dup = ok("duplicate send", b.send(&q, m("two")).await);
    assert_eq!(
        dup.message_id, first.message_id,
        "the duplicate gets the original's id"
    );
    assert_eq!(ok("stats", b.stats(&q).await).visible, 1);
    let got = recv(b, &q, 10).await;
    assert_eq!(bodies(&got), vec!["one"]);
    ok("delete", b.delete(&q, &got[0].receipt_handle).await);
    ok("duplicate after delete", b.send(&q, m("three")).await);
    assert!(
        recv_now(b, &q, 10).await.is_empty(),
        "deleting does not reopen the window"
    );
    h.advance(limits::DEDUPLICATION_WINDOW).await;
    ok("send after the window", b.send(&q, m("four")).await);
    assert_eq!(bodies(&recv(b, &q, 10).await), vec!["four"]);
}

/// FIFO: content-based deduplication uses the SHA-256 of the body.
pub async fn fifo_content_based_deduplication(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let attrs = QueueAttributes::fifo().with_content_based_deduplication(true);
    let q = create(b, "cbd", attrs).await;
    let a = ok(
        "send",
        b.send(&q, SendMessage::new("same body").group_id("g"))
            .await,
    );
    let a2 = ok(
        "send",
        b.send(&q, SendMessage::new("same body").group_id("h"))
            .await,
    );
    ok(
        "send",
        b.send(&q, SendMessage::new("other body").group_id("g"))
            .await,
    );
    assert_eq!(a.message_id, a2.message_id);
    let got = drain(b, &q).await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].system.message_deduplication_id.as_deref(),
        Some(crate::content_deduplication_id("same body").as_str())
    );
}

/// FIFO: sequence numbers increase in send order.
pub async fn fifo_sequence_numbers_increase(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "seq", QueueAttributes::fifo()).await;
    let mut last: u128 = 0;
    for i in 0..5 {
        let m = SendMessage::new(format!("m{i}"))
            .group_id(if i % 2 == 0 { "a" } else { "b" })
            .deduplication_id(format!("d{i}"));
        let r = ok("send", b.send(&q, m).await);
        let seq: u128 = r
            .sequence_number
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("send {i} returned no numeric sequence number"));
        assert!(seq > last, "sequence numbers must increase");
        last = seq;
    }
    let got = recv(b, &q, 10).await;
    assert!(got.iter().all(|m| m.system.sequence_number.is_some()));
}

/// FIFO: repeating a receive with the same `ReceiveRequestAttemptId` returns the same batch.
pub async fn fifo_receive_attempt_id_replays_batch(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "attempt", QueueAttributes::fifo()).await;
    for i in 0..3 {
        send_fifo(b, &q, "g", &format!("m{i}")).await;
    }
    let req = ReceiveRequest::new(2).wait(SEC).attempt_id("try-1");
    let first = ok("receive", b.receive(&q, req.clone()).await);
    assert_eq!(bodies(&first), vec!["m0", "m1"]);
    h.advance(secs(2)).await;
    let again = ok("retried receive", b.receive(&q, req).await);
    let ids = |v: &[ReceivedMessage]| -> Vec<(String, String)> {
        v.iter()
            .map(|m| (m.message_id.clone(), m.receipt_handle.clone()))
            .collect()
    };
    assert_eq!(ids(&again), ids(&first), "same messages, same handles");
    // The replay took nothing more and gave nothing back: m0 and m1 are still
    // in flight under the first receive, m2 still waits its turn.
    let s = ok("stats", b.stats(&q).await);
    assert_eq!((s.in_flight, s.visible), (2, 1), "{s:?}");
    assert!(
        recv_now(b, &q, 10).await.is_empty(),
        "no other receive gets the group meanwhile"
    );
}

// ---------------------------------------------------------------- dead-letter

/// Dead-letter: a message received more than `max_receive_count` times moves to the DLQ.
pub async fn dead_letter_after_max_receive_count(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    for fifo in [false, true] {
        let base = if fifo {
            QueueAttributes::fifo()
        } else {
            QueueAttributes::standard()
        };
        let dlq = create(b, "dlq", base.clone()).await;
        let src = create(
            b,
            "src",
            base.with_redrive_policy(RedrivePolicy::new(&dlq, 2)),
        )
        .await;
        let id = if fifo {
            send_fifo(b, &src, "g", "poison").await
        } else {
            send(b, &src, "poison").await
        };
        for n in 1..=2 {
            let got = recv_vis(b, &src, 1, SEC).await;
            assert_eq!(
                got.len(),
                1,
                "receive {n} of {}",
                if fifo { "FIFO" } else { "standard" }
            );
            h.advance(secs(2)).await;
        }
        assert!(
            recv(b, &src, 1).await.is_empty(),
            "the third receive moves it instead"
        );
        assert_eq!(ok("stats", b.stats(&src).await).total(), 0);
        let dead = recv(b, &dlq, 1).await;
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].message_id, id);
        assert_eq!(dead[0].body, "poison");
        if super::checks(h, "dead_letter_after_max_receive_count/source_arn") {
            let arn = dead[0]
                .system
                .dead_letter_queue_source_arn
                .clone()
                .unwrap_or_default();
            assert!(arn.ends_with(&format!(":{src}")), "source ARN {arn:?}");
        }
    }
}

/// Dead-letter: the DLQ exists, has the source's type, admits the source; 1 ≤ `max_receive_count` ≤ 1000.
pub async fn dead_letter_policy_is_validated(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let dlq = create(b, "dlq", QueueAttributes::standard()).await;
    let fifo_dlq = create(b, "dlq", QueueAttributes::fifo()).await;
    for count in [0, 1001] {
        let attrs =
            QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new(&dlq, count));
        assert_rejected(b, attrs).await;
    }
    let missing =
        QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new(unique("nope"), 3));
    assert_rejected(b, missing).await;
    let mixed = QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new(&fifo_dlq, 3));
    assert_rejected(b, mixed).await;

    let allowed = unique("src");
    let closed = create(
        b,
        "dlq",
        QueueAttributes::standard()
            .with_redrive_allow_policy(RedriveAllowPolicy::ByQueue(vec![allowed.clone()])),
    )
    .await;
    let to_closed = QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new(&closed, 3));
    ok(
        "allowed source",
        b.create_queue(&allowed, to_closed.clone()).await,
    );
    clean_later(&allowed);
    assert_rejected(b, to_closed).await;
    let deny = create(
        b,
        "dlq",
        QueueAttributes::standard().with_redrive_allow_policy(RedriveAllowPolicy::DenyAll),
    )
    .await;
    let to_deny = QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new(&deny, 3));
    assert_rejected(b, to_deny).await;
}

/// Dead-letter: the queues that use a DLQ are listed.
pub async fn dead_letter_sources_are_listed(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let dlq = create(b, "dlq", QueueAttributes::standard()).await;
    let policy = QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new(&dlq, 5));
    let mut sources = vec![
        create(b, "src", policy.clone()).await,
        create(b, "src", policy).await,
    ];
    create(b, "other", QueueAttributes::standard()).await;
    sources.sort();
    assert_eq!(
        ok("list sources", b.list_dead_letter_source_queues(&dlq).await),
        sources
    );
    let removed = sources.remove(0);
    let update = QueueAttributesUpdate {
        redrive_policy: Some(None),
        ..Default::default()
    };
    ok(
        "remove policy",
        b.set_queue_attributes(&removed, update).await,
    );
    assert_eq!(
        ok("list sources", b.list_dead_letter_source_queues(&dlq).await),
        sources
    );
}

/// Dead-letter: deleting the dead-letter queue stops the moves, not the
/// source: its messages are still received, past the redrive limit too.
pub async fn dead_letter_queue_deleted_leaves_its_source_working(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let dlq = create(b, "dlq", QueueAttributes::standard()).await;
    let policy = QueueAttributes::standard()
        .with_visibility_timeout(secs(1))
        .with_redrive_policy(RedrivePolicy::new(&dlq, 1));
    let src = create(b, "src", policy).await;
    send(b, &src, "m").await;
    assert_eq!(bodies(&recv(b, &src, 1).await), ["m"]);
    ok("delete the dead-letter queue", b.delete_queue(&dlq).await);
    h.advance(secs(2)).await;
    // Past the limit of one receive, with nowhere to move it: it is delivered.
    let again = recv(b, &src, 1).await;
    if super::checks(
        h,
        "dead_letter_queue_deleted_leaves_its_source_working/past_the_limit",
    ) {
        assert_eq!(bodies(&again), ["m"]);
    }
    for m in &again {
        ok("delete", b.delete(&src, &m.receipt_handle).await);
    }
    send(b, &src, "n").await;
    assert_eq!(bodies(&recv(b, &src, 1).await), ["n"]);
}

/// Dead-letter: a move task redrives a DLQ's messages back to their sources.
pub async fn dead_letter_messages_move_back_to_source(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let dlq = create(b, "dlq", QueueAttributes::standard()).await;
    let policy = QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new(&dlq, 1));
    let src_a = create(b, "srca", policy.clone()).await;
    let src_b = create(b, "srcb", policy).await;
    send(b, &src_a, "from-a").await;
    send(b, &src_b, "from-b").await;
    for q in [&src_a, &src_b] {
        assert_eq!(recv_vis(b, q, 1, SEC).await.len(), 1);
    }
    h.advance(secs(2)).await;
    for q in [&src_a, &src_b] {
        assert!(recv(b, q, 1).await.is_empty());
    }
    assert_eq!(ok("stats", b.stats(&dlq).await).visible, 2);
    let moved = ok("move", b.move_messages(&dlq, None).await);
    assert_eq!(moved.moved, 2);
    assert_eq!(ok("stats", b.stats(&dlq).await).total(), 0);
    let back_a = recv(b, &src_a, 10).await;
    assert_eq!(bodies(&back_a), vec!["from-a"]);
    assert_eq!(
        back_a[0].system.approximate_receive_count, 1,
        "a redriven message starts afresh"
    );
    assert_eq!(bodies(&recv(b, &src_b, 10).await), vec!["from-b"]);
}

// ---------------------------------------------------------------- tags

/// A pause (`ebbflow pause`): kept with the queue until cleared and read
/// back by every client of the engine; not a setting nor a tag (creating
/// the queue again keeps it, `LastModifiedTimestamp` does not move). The
/// engine itself still delivers: the runtimes consuming the queue obey it.
pub async fn queue_pauses_are_kept(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "paused", QueueAttributes::standard()).await;
    let before = ok("attributes", b.get_queue_attributes(&q).await);
    assert_eq!(before.paused, None);
    let pause = ok(
        "pause",
        crate::Pause::new(Some("payments API down: INC-42".into()), Some("ops".into())),
    );
    let set = |pause: Option<crate::Pause>| QueueAttributesUpdate {
        pause: Some(pause),
        ..Default::default()
    };
    ok(
        "pause",
        b.set_queue_attributes(&q, set(Some(pause.clone()))).await,
    );
    let after = ok("attributes", b.get_queue_attributes(&q).await);
    assert_eq!(after.paused.as_ref(), Some(&pause));
    assert!(after.tags.is_empty(), "a pause is no tag: {:?}", after.tags);
    assert_eq!(
        after.last_modified_timestamp, before.last_modified_timestamp,
        "a pause is not a setting"
    );
    ok(
        "create again",
        b.create_queue(&q, QueueAttributes::standard()).await,
    );
    assert_eq!(
        ok("attributes", b.get_queue_attributes(&q).await).paused,
        Some(pause)
    );
    send(b, &q, "still taken").await;
    assert_eq!(recv(b, &q, 1).await.len(), 1, "the engine still delivers");
    ok("resume", b.set_queue_attributes(&q, set(None)).await);
    assert_eq!(
        ok("attributes", b.get_queue_attributes(&q).await).paused,
        None
    );
}

/// Tags: given at creation, added, overwritten and removed, kept with the
/// queue; not settings (creating the queue again without them is no
/// conflict); SQS's limits hold.
pub async fn queue_tags_are_kept(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(
        b,
        "tags",
        QueueAttributes::standard().with_tag("team", "orders"),
    )
    .await;
    let tags = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let now = |a: QueueAttributes| a.tags;
    assert_eq!(
        now(ok("attributes", b.get_queue_attributes(&q).await)),
        tags(&[("team", "orders")])
    );
    let update = QueueAttributesUpdate {
        tag: tags(&[("team", "billing"), ("cost-centre", "42")]),
        ..Default::default()
    };
    ok("tag", b.set_queue_attributes(&q, update).await);
    assert_eq!(
        now(ok("attributes", b.get_queue_attributes(&q).await)),
        tags(&[("cost-centre", "42"), ("team", "billing")])
    );
    let update = QueueAttributesUpdate {
        untag: vec!["cost-centre".to_owned(), "never-set".to_owned()],
        ..Default::default()
    };
    ok("untag", b.set_queue_attributes(&q, update).await);
    ok(
        "create again without tags",
        b.create_queue(&q, QueueAttributes::standard()).await,
    );
    assert_eq!(
        now(ok("attributes", b.get_queue_attributes(&q).await)),
        tags(&[("team", "billing")])
    );
    let reserved = QueueAttributesUpdate {
        tag: tags(&[("aws:owner", "me")]),
        ..Default::default()
    };
    assert_eq!(
        code(b.set_queue_attributes(&q, reserved).await),
        "InvalidParameterValue"
    );
    let too_many = QueueAttributesUpdate {
        tag: (0..limits::MAX_TAGS)
            .map(|i| (format!("k{i}"), String::new()))
            .collect(),
        ..Default::default()
    };
    assert_eq!(
        code(b.set_queue_attributes(&q, too_many).await),
        "InvalidParameterValue",
        "50 more tags on a tagged queue"
    );
}

// ---------------------------------------------------------------- fleet

/// Fleet: each consumer's announcement registers it until its time to live
/// runs out, and returns every live consumer, ordered by id; queues keep
/// separate fleets.
pub async fn consumers_announce_and_expire(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "fleet", QueueAttributes::standard()).await;
    let other = create(b, "fleet", QueueAttributes::standard()).await;
    let report = |id: &str, pool: u32| crate::ConsumerReport {
        id: id.to_owned(),
        pool,
        received: 7,
        ..Default::default()
    };
    let ids = |v: &[crate::ConsumerReport]| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let ttl = secs(10);
    let seen = ok("announce", b.announce(&q, &report("b", 2), ttl).await);
    assert_eq!(seen, vec![report("b", 2)]);
    h.advance(secs(6)).await;
    let seen = ok("announce", b.announce(&q, &report("a", 1), ttl).await);
    assert_eq!(ids(&seen), ["a", "b"]);
    let seen = ok("announce", b.announce(&other, &report("c", 1), ttl).await);
    assert_eq!(ids(&seen), ["c"], "another queue, another fleet");
    h.advance(secs(6)).await;
    let seen = ok("announce", b.announce(&q, &report("a", 3), ttl).await);
    assert_eq!(
        seen,
        vec![report("a", 3)],
        "b stopped announcing and ran out"
    );
    assert_eq!(
        code(b.announce("no-such-queue", &report("a", 1), ttl).await),
        "QueueDoesNotExist"
    );
}

// ---------------------------------------------------------------- stats

/// Stats: visible, in flight, delayed, and the oldest message's age.
pub async fn stats_count_each_state(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "stats", QueueAttributes::standard()).await;
    let empty = ok("stats", b.stats(&q).await);
    assert_eq!(empty.total(), 0);
    assert_eq!(
        empty.oldest_message_age, None,
        "an empty queue has no oldest message"
    );
    for i in 0..5 {
        send(b, &q, &format!("v{i}")).await;
    }
    h.advance(secs(10)).await;
    ok(
        "send",
        b.send(&q, SendMessage::new("d").delay(secs(60))).await,
    );
    let got = recv(b, &q, 2).await;
    assert_eq!(got.len(), 2);
    let s = ok("stats", b.stats(&q).await);
    assert_eq!((s.visible, s.in_flight, s.delayed), (3, 2, 1));
    if super::checks(h, "stats_count_each_state/oldest_age") {
        let age = s.oldest_message_age.unwrap_or_default();
        assert!(age >= secs(10) && age < secs(15), "oldest age {age:?}");
    }
    ok("delete", b.delete(&q, &got[0].receipt_handle).await);
    assert_eq!(ok("stats", b.stats(&q).await).in_flight, 1);
}

// ---------------------------------------------------------------- browse

/// Every page of a browse, `limit` messages at a time.
async fn browse_all(b: &dyn QueueBackend, q: &str, limit: u32) -> Vec<BrowsedMessage> {
    let mut all = Vec::new();
    let mut request = BrowseRequest::new(limit);
    for _ in 0..10_000 {
        let page: BrowsePage = ok("browse", b.browse(q, request.clone()).await);
        assert!(
            page.messages.len() <= limit as usize,
            "a page over its limit"
        );
        all.extend(page.messages);
        match page.next {
            Some(cursor) => request = request.after(cursor),
            None => return all,
        }
    }
    panic!("browsing {q} did not reach the end in 10,000 pages");
}

/// Browse: pages through every message in queue order, in flight and delayed
/// included, and changes nothing (no message hidden, no receive count raised).
pub async fn browse_leaves_messages_untouched(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "browse", QueueAttributes::standard()).await;
    assert_eq!(browse_all(b, &q, 10).await, Vec::new());
    let tagged = SendMessage::new("m0").attribute("tenant", MessageAttributeValue::string("acme"));
    let mut ids = vec![ok("send", b.send(&q, tagged).await).message_id];
    for i in 1..4 {
        ids.push(send(b, &q, &format!("m{i}")).await);
    }
    let delayed = SendMessage::new("m4").delay(secs(60));
    ids.push(ok("send", b.send(&q, delayed).await).message_id);
    let taken = recv_vis(b, &q, 1, secs(120)).await;
    assert_eq!(taken.len(), 1);
    let before = ok("stats", b.stats(&q).await);

    // Pages of two: five messages in three pages, in the order they were sent.
    let seen = browse_all(b, &q, 2).await;
    let seen_ids: Vec<&str> = seen.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(seen_ids, ids.iter().map(String::as_str).collect::<Vec<_>>());
    let state = |id: &str| seen.iter().find(|m| m.message_id == id).map(|m| m.state);
    assert_eq!(state(&taken[0].message_id), Some(MessageState::InFlight));
    assert_eq!(state(&ids[4]), Some(MessageState::Delayed));
    let visible = seen
        .iter()
        .filter(|m| m.state == MessageState::Visible)
        .count();
    assert_eq!(
        visible,
        3,
        "states {:?}",
        seen.iter().map(|m| m.state).collect::<Vec<_>>()
    );
    assert_eq!(seen[0].attributes["tenant"].as_str(), Some("acme"));
    assert_eq!(seen[0].md5_of_body, md5_hex("m0"));
    for m in &seen {
        let expected = u32::from(m.message_id == taken[0].message_id);
        assert_eq!(m.system.approximate_receive_count, expected, "{}", m.body);
    }

    // Nothing changed: the same counts, and the visible ones are received for the first time.
    let after = ok("stats", b.stats(&q).await);
    assert_eq!(
        (after.visible, after.in_flight, after.delayed),
        (before.visible, before.in_flight, before.delayed)
    );
    let got = drain(b, &q).await;
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|m| m.system.approximate_receive_count == 1));

    // Bad requests name what is wrong; a missing queue is said to be missing.
    let bad = b
        .browse(&q, BrowseRequest::new(1).after("not-a-cursor"))
        .await;
    assert_eq!(code(bad), "InvalidParameterValue");
    assert_eq!(
        code(b.browse(&q, BrowseRequest::new(0)).await),
        "InvalidParameterValue"
    );
    let missing = b.browse(&unique("nosuch"), BrowseRequest::new(1)).await;
    assert_eq!(code(missing), "QueueDoesNotExist");
}

/// An operator deletes one browsed message by its position, whatever its
/// state; a position that holds another message (or none) deletes nothing;
/// a FIFO group held back by a deleted message in flight moves on.
pub async fn browsed_messages_are_deleted_one_by_one(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "delbrowsed", QueueAttributes::standard()).await;
    for i in 0..3 {
        send(b, &q, &format!("m{i}")).await;
    }
    let delayed = SendMessage::new("m3").delay(secs(60));
    ok("send", b.send(&q, delayed).await);
    let taken = recv_vis(b, &q, 1, secs(120)).await;
    assert_eq!(taken.len(), 1);
    let seen = browse_all(b, &q, 10).await;
    let at = |body: &str| {
        let m = seen.iter().find(|m| m.body == body).expect("browsed");
        (
            m.position.clone().expect("a position"),
            m.message_id.clone(),
        )
    };
    // A standard queue may hand out any of the three: the other two are
    // the visible ones, whichever they are.
    let visible: Vec<String> = ["m0", "m1", "m2"]
        .into_iter()
        .filter(|m| *m != taken[0].body)
        .map(str::to_owned)
        .collect();
    let (p1, id1) = at(&visible[0]);
    assert!(ok("delete_browsed", b.delete_browsed(&q, &p1, &id1).await));
    assert!(
        !ok("delete_browsed", b.delete_browsed(&q, &p1, &id1).await),
        "gone already"
    );
    let (p2, _) = at(&visible[1]);
    assert!(
        !ok("delete_browsed", b.delete_browsed(&q, &p2, &id1).await),
        "another message's position deletes nothing"
    );
    let (p0, id0) = at(&taken[0].body);
    assert!(
        ok("delete_browsed", b.delete_browsed(&q, &p0, &id0).await),
        "in flight"
    );
    let (p3, id3) = at("m3");
    assert!(
        ok("delete_browsed", b.delete_browsed(&q, &p3, &id3).await),
        "delayed"
    );
    let left: Vec<String> = browse_all(b, &q, 10)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(left, [visible[1].clone()]);
    let stats = ok("stats", b.stats(&q).await);
    assert_eq!((stats.visible, stats.in_flight, stats.delayed), (1, 0, 0));
    // The consumer that held m0 finds its handle stale, or its delete a no-op.
    let _ = b.delete(&q, &taken[0].receipt_handle).await;
    assert_eq!(ok("stats", b.stats(&q).await).visible, 1);

    let f = create(b, "delbrowsedfifo", QueueAttributes::fifo()).await;
    for (body, dedup) in [("a", "1"), ("b", "2")] {
        let m = SendMessage::new(body).group_id("g").deduplication_id(dedup);
        ok("send", b.send(&f, m).await);
    }
    let first = recv_vis(b, &f, 1, secs(120)).await;
    assert_eq!(first[0].body, "a");
    assert!(
        recv_vis(b, &f, 1, secs(120)).await.is_empty(),
        "the group waits for a"
    );
    let (pa, ida) = {
        let seen = browse_all(b, &f, 10).await;
        let m = &seen[0];
        (
            m.position.clone().expect("a position"),
            m.message_id.clone(),
        )
    };
    assert!(ok("delete_browsed", b.delete_browsed(&f, &pa, &ida).await));
    let next = recv_vis(b, &f, 1, secs(120)).await;
    assert_eq!(next.len(), 1, "the group moved on");
    assert_eq!(next[0].body, "b");

    assert_eq!(
        code(b.delete_browsed(&q, "not-a-position", &id1).await),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(b.delete_browsed(&unique("nosuch"), "1", "x").await),
        "QueueDoesNotExist"
    );
}

/// Browse on a FIFO queue: each group's messages in order, with their group
/// ids and sequence numbers, a blocked group included.
pub async fn browse_shows_fifo_groups_in_order(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "browsefifo", QueueAttributes::fifo()).await;
    let mut sent = Vec::new();
    for i in 0..6 {
        let group = if i % 2 == 0 { "a" } else { "b" };
        sent.push((group, send_fifo(b, &q, group, &format!("{group}{i}")).await));
    }
    assert_eq!(recv_vis(b, &q, 1, secs(120)).await.len(), 1);
    let seen = browse_all(b, &q, 4).await;
    assert_eq!(seen.len(), 6);
    for group in ["a", "b"] {
        let expected: Vec<&str> = sent
            .iter()
            .filter(|(g, _)| *g == group)
            .map(|(_, id)| id.as_str())
            .collect();
        let of_group: Vec<&BrowsedMessage> = seen
            .iter()
            .filter(|m| m.system.message_group_id.as_deref() == Some(group))
            .collect();
        let ids: Vec<&str> = of_group.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, expected, "group {group}");
        let sequences: Vec<u128> = of_group
            .iter()
            .map(|m| {
                let s = m.system.sequence_number.as_deref().unwrap_or_default();
                s.parse()
                    .unwrap_or_else(|_| panic!("sequence number `{s}`"))
            })
            .collect();
        assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    }
    let in_flight = seen
        .iter()
        .filter(|m| m.state == MessageState::InFlight)
        .count();
    assert_eq!(in_flight, 1);
}

// ---------------------------------------------------------------- system attributes

/// System attributes: `SentTimestamp`, MD5 of the body, and the FIFO ones.
pub async fn system_attributes_are_set(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "sys", QueueAttributes::fifo()).await;
    let before = now_ms();
    let sent = ok(
        "send",
        b.send(
            &q,
            SendMessage::new("body")
                .group_id("grp")
                .deduplication_id("dd"),
        )
        .await,
    );
    assert_eq!(sent.md5_of_body, md5_hex("body"));
    let got = recv(b, &q, 1).await;
    let m = &got[0];
    assert_eq!(m.md5_of_body, md5_hex("body"));
    assert_eq!(m.message_id, sent.message_id);
    let sys = &m.system;
    // Allow for clock skew between a server and this process.
    let skew = 60_000;
    assert!(
        sys.sent_timestamp + skew >= before && sys.sent_timestamp <= now_ms() + skew,
        "SentTimestamp {} is not near now ({before})",
        sys.sent_timestamp
    );
    assert!(sys.approximate_first_receive_timestamp >= sys.sent_timestamp);
    assert_eq!(sys.approximate_receive_count, 1);
    assert_eq!(sys.message_group_id.as_deref(), Some("grp"));
    assert_eq!(sys.message_deduplication_id.as_deref(), Some("dd"));
    assert_eq!(sys.sequence_number, sent.sequence_number);
    assert_eq!(sys.dead_letter_queue_source_arn, None);
}

/// `AWSTraceHeader`: kept with the message through sends, batches and a
/// move to the dead-letter queue, and handed back; bounded and checked.
pub async fn trace_headers_are_kept(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let dlq = create(b, "trace-dlq", QueueAttributes::standard()).await;
    let q = create(
        b,
        "trace",
        QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new(&dlq, 1)),
    )
    .await;
    ok(
        "send",
        b.send(&q, SendMessage::new("one").trace_header(header))
            .await,
    );
    let batch = vec![
        SendBatchEntry {
            id: "traced".into(),
            message: SendMessage::new("two").trace_header(header),
        },
        SendBatchEntry {
            id: "plain".into(),
            message: SendMessage::new("three"),
        },
    ];
    let sent = ok("send batch", b.send_batch(&q, batch).await);
    assert!(sent.failed.is_empty(), "{:?}", sent.failed);
    let mut got = recv_vis(b, &q, 10, SEC).await;
    while got.len() < 3 {
        let more = recv_vis(b, &q, 10, SEC).await;
        assert!(!more.is_empty(), "three messages, {} received", got.len());
        got.extend(more);
    }
    got.sort_by(|a, b| a.body.cmp(&b.body));
    let headers: Vec<(&str, Option<&str>)> = got
        .iter()
        .map(|m| (m.body.as_str(), m.system.aws_trace_header.as_deref()))
        .collect();
    assert_eq!(headers[..2], [("one", Some(header)), ("three", None)]);
    if super::checks(h, "trace_headers_are_kept/batch") {
        assert_eq!(headers[2], ("two", Some(header)));
    }
    // The next receive moves them to the dead-letter queue, headers and all.
    h.advance(secs(2)).await;
    assert!(recv(b, &q, 10).await.is_empty());
    let mut dead = recv(b, &dlq, 10).await;
    while dead.len() < 3 {
        let more = recv(b, &dlq, 10).await;
        assert!(
            !more.is_empty(),
            "three dead letters, {} received",
            dead.len()
        );
        dead.extend(more);
    }
    let header_of = |body: &str| {
        dead.iter()
            .find(|m| m.body == body)
            .map(|m| m.system.aws_trace_header.as_deref())
    };
    assert_eq!(header_of("one"), Some(Some(header)), "{dead:?}");
    assert_eq!(header_of("three"), Some(None), "{dead:?}");
    let long = "x".repeat(limits::MAX_TRACE_HEADER_LEN + 1);
    assert_eq!(
        code(b.send(&q, SendMessage::new("m").trace_header(long)).await),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(b.send(&q, SendMessage::new("m").trace_header("")).await),
        "InvalidParameterValue"
    );
}

// ---------------------------------------------------------------- purge

/// Purge: removes everything, in flight and delayed included; once per 60 s.
pub async fn purge_removes_everything_once_per_minute(h: &dyn Harness) {
    let b = h.backend().await;
    let b = b.as_ref();
    let q = create(b, "purge", QueueAttributes::standard()).await;
    for i in 0..4 {
        send(b, &q, &format!("m{i}")).await;
    }
    ok(
        "send",
        b.send(&q, SendMessage::new("d").delay(secs(30))).await,
    );
    assert!(!recv(b, &q, 2).await.is_empty());
    ok("purge", b.purge(&q).await);
    assert_eq!(ok("stats", b.stats(&q).await).total(), 0);
    assert!(matches!(
        b.purge(&q).await,
        Err(QueueError::PurgeQueueInProgress { .. })
    ));
    h.advance(secs(61)).await;
    assert!(
        recv_now(b, &q, 10).await.is_empty(),
        "nothing comes back after the purge"
    );
    ok("purge after 60 s", b.purge(&q).await);
}

// ---------------------------------------------------------------- in flight

/// In flight: at most 120,000 messages per queue; past that a receive fails with `OverLimit`.
pub async fn in_flight_is_limited(h: &dyn Harness) {
    let backend = h.backend().await;
    let b = backend.as_ref();
    // Hidden for the longest SQS allows: over a slow transport, 12,000 receives
    // must not outlast the first ones' visibility.
    let hidden =
        QueueAttributes::standard().with_visibility_timeout(limits::MAX_VISIBILITY_TIMEOUT);
    let q = create(b, "inflight", hidden).await;
    let ten = entries(&["m"; 10]);
    let total = limits::MAX_IN_FLIGHT as usize + 10;
    // Sent and received by a few tasks at once: over a network, 24,000 calls
    // one after another are minutes of round trips.
    let sends = in_parallel(
        &backend,
        total / 10,
        move |b, q| {
            let ten = ten.clone();
            async move {
                let r = ok("send batch", b.send_batch(&q, ten).await);
                assert!(r.failed.is_empty());
                10
            }
        },
        &q,
    )
    .await;
    assert_eq!(sends, total);
    // All but the last receives at once; the rest one by one, so that none
    // asks past the limit.
    let mut received = in_parallel(
        &backend,
        limits::MAX_IN_FLIGHT as usize / 10 - 100,
        |b, q| async move { ok("receive", b.receive(&q, ReceiveRequest::new(10)).await).len() },
        &q,
    )
    .await;
    while received < limits::MAX_IN_FLIGHT as usize {
        let want = (limits::MAX_IN_FLIGHT as usize - received).min(10) as u32;
        let got = ok("receive", b.receive(&q, ReceiveRequest::new(want)).await);
        assert!(!got.is_empty(), "stalled at {received} in flight");
        received += got.len();
    }
    assert_eq!(received, limits::MAX_IN_FLIGHT as usize);
    assert_eq!(
        code(b.receive(&q, ReceiveRequest::new(10)).await),
        "OverLimit"
    );
    let s = ok("stats", b.stats(&q).await);
    assert_eq!((s.in_flight, s.visible), (limits::MAX_IN_FLIGHT, 10));
}
