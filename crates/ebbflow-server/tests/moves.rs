//! Message-move tasks through the Rust SDK: they run in the background with
//! their progress listed, obey their rate, stop when cancelled with every
//! message in one queue, and refuse what SQS refuses.

mod common;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use ebbflow_core::{
    MessageAttributeValue, QueueAttributes, QueueBackend, RedrivePolicy, SendMessage,
};
use std::sync::Arc;
use std::time::Duration;

const ARN: &str = "arn:aws:sqs:us-east-1:000000000000:";

/// Checks that a call failed with SQS's `code`.
fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
    code: &str,
    why: &str,
) {
    match result {
        Ok(v) => panic!("{why}: expected {code}, got {v:?}"),
        Err(e) => assert_eq!(e.code(), Some(code), "{why}: {e:?}"),
    }
}

/// `orders` dead-letters into `orders-dlq`, which holds `n` dead letters.
async fn setup(n: usize) -> (Arc<ebbflow_memory::MemoryBackend>, aws_sdk_sqs::Client) {
    let backend = Arc::new(ebbflow_memory::MemoryBackend::new());
    let b = backend.as_ref();
    b.create_queue("orders-dlq", QueueAttributes::standard())
        .await
        .expect("dlq");
    let policy =
        QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new("orders-dlq", 3));
    b.create_queue("orders", policy).await.expect("orders");
    b.create_queue("elsewhere", QueueAttributes::standard())
        .await
        .expect("elsewhere");
    for i in 0..n {
        let m = SendMessage::new(format!("m{i}")).attribute(
            "ebbflow.source_queue",
            MessageAttributeValue::string("orders"),
        );
        b.send("orders-dlq", m).await.expect("send");
    }
    let endpoint = common::serve(backend.clone(), &[("test", "test")]).await;
    (backend, common::client(&endpoint, "test", "test"))
}

async fn visible(b: &ebbflow_memory::MemoryBackend, q: &str) -> u64 {
    b.stats(q).await.expect("stats").visible
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_runs_in_the_background_and_lists_its_progress() {
    let (b, sqs) = setup(20).await;
    let source = format!("{ARN}orders-dlq");
    let started = sqs
        .start_message_move_task()
        .source_arn(&source)
        .max_number_of_messages_per_second(20)
        .send()
        .await
        .expect("start");
    let handle = started.task_handle().expect("a handle").to_owned();

    let listed = sqs
        .list_message_move_tasks()
        .source_arn(&source)
        .send()
        .await
        .expect("list");
    let task = &listed.results()[0];
    assert_eq!(task.status(), Some("RUNNING"));
    assert_eq!(task.task_handle(), Some(handle.as_str()));
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(20));
    assert_eq!(task.max_number_of_messages_per_second(), Some(20));
    assert!(
        task.approximate_number_of_messages_moved() < 20,
        "at 20/s it has barely begun"
    );

    let again = sqs
        .start_message_move_task()
        .source_arn(&source)
        .send()
        .await
        .expect_err("one task per source at a time");
    assert_eq!(again.code(), Some("InvalidParameterValue"), "{again:?}");

    let mut status = String::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let listed = sqs
            .list_message_move_tasks()
            .source_arn(&source)
            .send()
            .await
            .expect("list");
        status = listed.results()[0].status().unwrap_or_default().to_owned();
        if status == "COMPLETED" {
            assert_eq!(
                listed.results()[0].approximate_number_of_messages_moved(),
                20
            );
            assert_eq!(
                listed.results()[0].task_handle(),
                None,
                "only a running task has a handle"
            );
            break;
        }
    }
    assert_eq!(status, "COMPLETED");
    assert_eq!(
        (visible(&b, "orders").await, visible(&b, "orders-dlq").await),
        (20, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_task_stops_with_every_message_in_one_queue() {
    let (b, sqs) = setup(30).await;
    let source = format!("{ARN}orders-dlq");
    let handle = sqs
        .start_message_move_task()
        .source_arn(&source)
        .destination_arn(format!("{ARN}elsewhere"))
        .max_number_of_messages_per_second(10)
        .send()
        .await
        .expect("start")
        .task_handle()
        .expect("a handle")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(600)).await;
    sqs.cancel_message_move_task()
        .task_handle(&handle)
        .send()
        .await
        .expect("cancel");
    let mut last = None;
    for _ in 0..50 {
        let listed = sqs
            .list_message_move_tasks()
            .source_arn(&source)
            .send()
            .await
            .expect("list");
        let task = listed.results()[0].clone();
        if task.status() == Some("CANCELLED") {
            last = Some(task);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let task = last.expect("the task ends CANCELLED");
    let moved = task.approximate_number_of_messages_moved() as u64;
    assert!(moved > 0 && moved < 30, "moved {moved}");
    assert_eq!(
        task.destination_arn(),
        Some(format!("{ARN}elsewhere").as_str())
    );
    assert_eq!(visible(&b, "elsewhere").await, moved);
    assert_eq!(
        visible(&b, "orders-dlq").await,
        30 - moved,
        "the rest is visible again"
    );
    assert_eq!(visible(&b, "orders").await, 0);

    refused(
        sqs.cancel_message_move_task()
            .task_handle(&handle)
            .send()
            .await,
        "ResourceNotFoundException",
        "an ended task cannot be cancelled",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_refuses_what_sqs_refuses() {
    let (_b, sqs) = setup(1).await;
    refused(
        sqs.start_message_move_task()
            .source_arn(format!("{ARN}elsewhere"))
            .send()
            .await,
        "InvalidParameterValue",
        "not a dead-letter queue",
    );
    refused(
        sqs.start_message_move_task()
            .source_arn(format!("{ARN}nowhere"))
            .send()
            .await,
        "ResourceNotFoundException",
        "no such queue",
    );
    for rate in [0, 501] {
        refused(
            sqs.start_message_move_task()
                .source_arn(format!("{ARN}orders-dlq"))
                .max_number_of_messages_per_second(rate)
                .send()
                .await,
            "InvalidParameterValue",
            "a rate outside 1..=500",
        );
    }
    refused(
        sqs.cancel_message_move_task()
            .task_handle("no-such-task")
            .send()
            .await,
        "ResourceNotFoundException",
        "no such task",
    );
    let listed = sqs
        .list_message_move_tasks()
        .source_arn(format!("{ARN}orders-dlq"))
        .send()
        .await
        .expect("an empty listing");
    assert!(listed.results().is_empty());
    // The queue's ARN is what the SDK reads to name the source.
    let arn = sqs
        .get_queue_attributes()
        .queue_url("orders-dlq")
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes");
    assert_eq!(
        arn.attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .map(String::as_str),
        Some(format!("{ARN}orders-dlq").as_str())
    );
}
