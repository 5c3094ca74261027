//! Sends a few orders to an in-process queue with a dead-letter queue, consumes
//! them, and shows a poison message landing in the dead-letter queue.
//!
//! `cargo run --example quickstart`

use ebbflow::prelude::*;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ebbflow::Result<()> {
    let queues = MemoryBackend::new();
    queues
        .create_queue("orders-dlq", QueueAttributes::standard())
        .await?;
    queues
        .create_queue(
            "orders",
            QueueAttributes::standard()
                .with_visibility_timeout(Duration::from_millis(100))
                .with_redrive_policy(RedrivePolicy::new("orders-dlq", 3)),
        )
        .await?;

    for id in 1..=5 {
        let body = if id == 4 {
            "not json".to_owned()
        } else {
            format!(r#"{{"order_id":{id},"total_cents":{}}}"#, id * 1250)
        };
        queues
            .send(
                "orders",
                SendMessage::new(body).attribute("source", MessageAttributeValue::string("web")),
            )
            .await?;
    }

    let (mut done, mut failed) = (0, 0);
    loop {
        let batch = queues
            .receive(
                "orders",
                ReceiveRequest::new(10).wait(Duration::from_millis(300)),
            )
            .await?;
        if batch.is_empty() {
            break;
        }
        for msg in batch {
            if msg.body.starts_with('{') {
                println!(
                    "processed {} (receive #{})",
                    msg.body, msg.system.approximate_receive_count
                );
                queues.delete("orders", &msg.receipt_handle).await?;
                done += 1;
            } else {
                // Not deleted: it comes back after the visibility timeout, and
                // after three receives the queue moves it to the dead-letter queue.
                println!(
                    "failed {:?} (receive #{})",
                    msg.body, msg.system.approximate_receive_count
                );
                failed += 1;
            }
        }
    }
    let dead = queues.stats("orders-dlq").await?;
    println!(
        "processed {done}, failed attempts {failed}, dead-lettered {}",
        dead.visible
    );
    Ok(())
}
