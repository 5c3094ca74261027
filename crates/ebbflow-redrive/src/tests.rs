use super::*;
use ebbflow_core::{MessageAttributeValue, QueueAttributes, RedrivePolicy};
use ebbflow_memory::MemoryBackend;
use std::sync::Arc;

const SEC: Duration = Duration::from_secs(1);

/// `orders` and `billing` dead-letter into `dlq` after one receive.
async fn queues() -> MemoryBackend {
    let b = MemoryBackend::new();
    b.create_queue("dlq", QueueAttributes::standard())
        .await
        .expect("dlq");
    let policy = QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new("dlq", 1));
    for q in ["orders", "billing"] {
        b.create_queue(q, policy.clone()).await.expect("source");
    }
    b
}

/// Dead-letters `body` from `queue` as the engine does: one receive, its
/// visibility runs out, the next receive moves it.
async fn exhaust(b: &MemoryBackend, queue: &str, body: &str) {
    b.send(queue, SendMessage::new(body)).await.expect("send");
    let got = b
        .receive(queue, ReceiveRequest::new(1).visibility_timeout(SEC))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
    tokio::time::advance(2 * SEC).await;
    assert!(b
        .receive(queue, ReceiveRequest::new(1))
        .await
        .expect("receive")
        .is_empty());
}

/// Sends to `dlq` what the runtime's dead-letter layer sends.
async fn dead_letter(b: &MemoryBackend, body: &str, reason: &str, source: Option<&str>) {
    let mut m = SendMessage::new(body).attribute("tenant", MessageAttributeValue::string("t1"));
    m = m.attribute("ebbflow.reason", MessageAttributeValue::string(reason));
    if let Some(source) = source {
        m = m.attribute(
            "ebbflow.source_queue",
            MessageAttributeValue::string(source),
        );
    }
    b.send("dlq", m).await.expect("send");
}

async fn bodies(b: &MemoryBackend, queue: &str) -> Vec<String> {
    let got = b
        .receive(queue, ReceiveRequest::new(10))
        .await
        .expect("receive");
    let mut bodies: Vec<String> = got.into_iter().map(|m| m.body).collect();
    bodies.sort();
    bodies
}

#[tokio::test(start_paused = true)]
async fn each_message_goes_back_to_the_queue_it_failed_in() {
    let b = queues().await;
    exhaust(&b, "orders", "o1").await;
    exhaust(&b, "billing", "b1").await;
    dead_letter(&b, "o2", "permanent", Some("orders")).await;
    let report = Redrive::default()
        .run(&b, "dlq", &Progress::default())
        .await
        .expect("redrive");
    assert_eq!(report.moved(), 3);
    assert_eq!(report.moved_to.get("orders"), Some(&2));
    assert_eq!(bodies(&b, "orders").await, ["o1", "o2"]);
    assert_eq!(bodies(&b, "billing").await, ["b1"]);
    assert_eq!(b.stats("dlq").await.expect("stats").total(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_redriven_message_leaves_without_the_dead_letter_attributes() {
    let b = queues().await;
    dead_letter(&b, "o", "permanent", Some("orders")).await;
    Redrive::default()
        .run(&b, "dlq", &Progress::default())
        .await
        .expect("redrive");
    let got = b
        .receive("orders", ReceiveRequest::new(1))
        .await
        .expect("receive");
    let names: Vec<&String> = got[0].attributes.keys().collect();
    assert_eq!(names, ["tenant"]);
}

#[tokio::test(start_paused = true)]
async fn filtered_out_and_sourceless_messages_stay_and_are_visible_again() {
    let b = queues().await;
    dead_letter(&b, "p", "permanent", Some("orders")).await;
    dead_letter(&b, "u", "undecodable", Some("orders")).await;
    // Two source queues and no record of which: it cannot go back.
    dead_letter(&b, "lost", "permanent", None).await;
    let redrive = Redrive {
        filters: vec!["reason=permanent".parse().expect("filter")],
        ..Redrive::default()
    };
    let progress = Progress::default();
    let report = redrive.run(&b, "dlq", &progress).await.expect("redrive");
    assert_eq!(
        (report.moved(), report.filtered_out, report.no_source),
        (1, 1, 1)
    );
    assert_eq!((progress.moved(), progress.left_alone()), (1, 2));
    assert_eq!(bodies(&b, "orders").await, ["p"]);
    // Visible now, not after the redrive's five-minute visibility timeout.
    assert_eq!(bodies(&b, "dlq").await, ["lost", "u"]);
}

#[tokio::test(start_paused = true)]
async fn a_selection_moves_only_the_messages_named() {
    let b = queues().await;
    for body in ["a", "b", "c"] {
        dead_letter(&b, body, "permanent", Some("orders")).await;
    }
    let page = b
        .browse("dlq", ebbflow_core::BrowseRequest::new(10))
        .await
        .expect("browse");
    let id_of = |body: &str| {
        page.messages
            .iter()
            .find(|m| m.body == body)
            .map(|m| m.message_id.clone())
            .expect("sent")
    };
    let (a, c) = (id_of("a"), id_of("c"));
    let redrive = Redrive {
        filters: vec![Filter::ids([a.as_str(), c.as_str()])],
        ..Redrive::default()
    };
    let report = redrive
        .run(&b, "dlq", &Progress::default())
        .await
        .expect("redrive");
    assert_eq!((report.moved(), report.filtered_out), (2, 1));
    assert_eq!(bodies(&b, "orders").await, ["a", "c"]);
    assert_eq!(bodies(&b, "dlq").await, ["b"]);
}

#[tokio::test(start_paused = true)]
async fn to_sends_every_message_to_one_queue() {
    let b = queues().await;
    exhaust(&b, "orders", "o").await;
    exhaust(&b, "billing", "b").await;
    let redrive = Redrive {
        to: Some("orders".to_owned()),
        ..Redrive::default()
    };
    let report = redrive
        .run(&b, "dlq", &Progress::default())
        .await
        .expect("redrive");
    assert_eq!(report.moved_to.get("orders"), Some(&2));
    assert_eq!(bodies(&b, "orders").await, ["b", "o"]);
}

#[tokio::test(start_paused = true)]
async fn the_rate_spaces_the_messages() {
    let b = queues().await;
    for i in 0..20 {
        dead_letter(&b, &format!("m{i}"), "permanent", Some("orders")).await;
    }
    let redrive = Redrive {
        rate: Some(10.0),
        ..Redrive::default()
    };
    let started = tokio::time::Instant::now();
    let report = redrive
        .run(&b, "dlq", &Progress::default())
        .await
        .expect("redrive");
    assert_eq!(report.moved(), 20);
    let took = started.elapsed();
    assert!(took >= 2 * SEC && took < 3 * SEC, "took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stop_leaves_every_message_in_exactly_one_queue() {
    let b = Arc::new(queues().await);
    for i in 0..30 {
        dead_letter(&b, &format!("m{i}"), "permanent", Some("orders")).await;
    }
    let progress = Arc::new(Progress::default());
    let redrive = Redrive {
        rate: Some(10.0),
        ..Redrive::default()
    };
    let run = {
        let (b, progress) = (b.clone(), progress.clone());
        tokio::spawn(async move { redrive.run(b.as_ref(), "dlq", &progress).await })
    };
    tokio::time::sleep(Duration::from_millis(1_250)).await;
    progress.stop();
    let report = run.await.expect("the task").expect("redrive");
    assert!(report.stopped);
    let moved = report.moved();
    assert!(moved > 0 && moved < 30, "moved {moved}");
    let in_orders = b.stats("orders").await.expect("stats").visible;
    let in_dlq = b.stats("dlq").await.expect("stats").visible;
    assert_eq!((in_orders, in_dlq), (moved, 30 - moved));
}

#[test]
fn a_filter_is_name_equals_value() {
    let f: Filter = "reason=permanent".parse().expect("filter");
    assert_eq!((f.name.as_str(), f.value.as_str()), ("reason", "permanent"));
    assert!("reason".parse::<Filter>().is_err());
    assert!("=x".parse::<Filter>().is_err());
}

#[test]
fn a_rate_that_is_not_positive_does_not_pace() {
    assert_eq!(pause_at(Some(4.0)), Some(Duration::from_millis(250)));
    assert_eq!(pause_at(Some(0.0)), None);
    assert_eq!(pause_at(None), None);
}

#[tokio::test(start_paused = true)]
async fn a_rate_outside_its_range_or_a_move_into_itself_is_refused_before_anything_moves() {
    let b = queues().await;
    dead_letter(&b, "o1", "permanent", Some("orders")).await;
    for redrive in [
        Redrive {
            rate: Some(1e-300),
            ..Redrive::default()
        },
        Redrive {
            rate: Some(f64::NAN),
            ..Redrive::default()
        },
        Redrive {
            to: Some("dlq".to_owned()),
            ..Redrive::default()
        },
    ] {
        assert!(redrive.run(&b, "dlq", &Progress::default()).await.is_err());
    }
    assert_eq!(b.stats("dlq").await.expect("stats").visible, 1);
}

#[tokio::test(start_paused = true)]
async fn the_engines_record_of_the_source_wins_over_an_attribute() {
    let b = queues().await;
    // A producer wrote the runtime's attribute (through a library call) and
    // the engine dead-lettered the message from orders.
    let forged = SendMessage::new("o1").attribute(
        "ebbflow.source_queue",
        MessageAttributeValue::string("billing"),
    );
    b.send("orders", forged).await.expect("send");
    b.receive("orders", ReceiveRequest::new(1).visibility_timeout(SEC))
        .await
        .expect("receive");
    tokio::time::advance(2 * SEC).await;
    b.receive("orders", ReceiveRequest::new(1))
        .await
        .expect("receive");
    let report = Redrive::default()
        .run(&b, "dlq", &Progress::default())
        .await
        .expect("redrive");
    assert_eq!(report.moved_to.get("orders"), Some(&1), "{report:?}");
    assert!(bodies(&b, "billing").await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_attribute_naming_a_queue_that_does_not_dead_letter_here_is_left_alone() {
    let b = queues().await;
    b.create_queue("elsewhere", QueueAttributes::standard())
        .await
        .expect("queue");
    dead_letter(&b, "x", "permanent", Some("elsewhere")).await;
    dead_letter(&b, "y", "permanent", Some("dlq")).await;
    let report = Redrive::default()
        .run(&b, "dlq", &Progress::default())
        .await
        .expect("redrive");
    assert_eq!(report.no_source, 2, "{report:?}");
    assert!(bodies(&b, "elsewhere").await.is_empty());
    assert_eq!(b.stats("dlq").await.expect("stats").visible, 2);
}
