//! End to end through the facade: the prelude alone is enough to run a queue
//! with a dead-letter policy, on tokio's paused clock.

use ebbflow::prelude::*;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn poison_message_reaches_dead_letter_queue_through_the_facade() {
    let queues = MemoryBackend::new();
    queues
        .create_queue("jobs-dlq", QueueAttributes::standard())
        .await
        .unwrap();
    let attrs = QueueAttributes::standard()
        .with_visibility_timeout(Duration::from_secs(5))
        .with_redrive_policy(RedrivePolicy::new("jobs-dlq", 2));
    queues.create_queue("jobs", attrs).await.unwrap();
    queues.send("jobs", SendMessage::new("ok")).await.unwrap();
    queues
        .send("jobs", SendMessage::new("poison"))
        .await
        .unwrap();

    let mut processed = Vec::new();
    for _ in 0..3 {
        let batch = queues
            .receive(
                "jobs",
                ReceiveRequest::new(10).wait(Duration::from_secs(20)),
            )
            .await
            .unwrap();
        for msg in batch {
            if msg.body == "ok" {
                queues.delete("jobs", &msg.receipt_handle).await.unwrap();
                processed.push(msg.body);
            }
        }
    }

    assert_eq!(processed, vec!["ok"]);
    assert_eq!(queues.stats("jobs").await.unwrap().total(), 0);
    let dead = queues
        .receive("jobs-dlq", ReceiveRequest::new(10))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
    // Two receives from the source, then this one: the count carries over to the DLQ.
    assert_eq!(dead[0].system.approximate_receive_count, 3);
}
