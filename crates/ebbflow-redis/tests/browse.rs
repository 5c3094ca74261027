//! A browse looks at a bounded number of keys per call, so a queue whose
//! first keys were all deleted (5,500 received and deleted, then 20 sent)
//! answers with an empty page and a cursor rather than walking them all in
//! one script, and the next page carries on to the messages.

mod common;

use ebbflow_core::{
    BrowseRequest, DeleteBatchEntry, QueueAttributes, QueueBackend, ReceiveRequest, SendBatchEntry,
    SendMessage,
};

async fn send_many(b: &dyn QueueBackend, q: &str, from: usize, n: usize) {
    for start in (from..from + n).step_by(10) {
        let entries = (start..(start + 10).min(from + n))
            .map(|i| SendBatchEntry {
                id: format!("e{}", i - start),
                message: SendMessage::new(format!("m{i}")),
            })
            .collect();
        b.send_batch(q, entries).await.expect("send");
    }
}

#[tokio::test(start_paused = true)]
async fn a_long_run_of_deleted_keys_is_walked_a_budget_at_a_time() {
    let Some(backend) = common::shared().await else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    let b = backend.as_ref();
    let q = format!("browse-budget-{}", fastrand::u64(..));
    b.create_queue(&q, QueueAttributes::standard())
        .await
        .expect("create");
    send_many(b, &q, 0, 5_500).await;
    let mut deleted = 0;
    while deleted < 5_500 {
        let got = b
            .receive(&q, ReceiveRequest::new(10))
            .await
            .expect("receive");
        assert!(!got.is_empty(), "the queue ran dry after {deleted}");
        let n = got.len();
        b.delete_batch(&q, DeleteBatchEntry::for_received(got))
            .await
            .expect("delete");
        deleted += n;
    }
    send_many(b, &q, 5_500, 20).await;

    let first = b.browse(&q, BrowseRequest::new(100)).await.expect("browse");
    assert!(
        first.messages.is_empty() && first.next.is_some(),
        "the first call stops at its budget, inside the deleted run"
    );
    let mut bodies = Vec::new();
    let mut request = BrowseRequest::new(100);
    for _ in 0..10 {
        let page = b.browse(&q, request.clone()).await.expect("browse");
        bodies.extend(page.messages.into_iter().map(|m| m.body));
        match page.next {
            Some(cursor) => request = request.after(cursor),
            None => break,
        }
    }
    let expected: Vec<String> = (5_500..5_520).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
    b.delete_queue(&q).await.expect("delete queue");
}
