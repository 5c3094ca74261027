//! Long polls woken by pub/sub: every write that may make a message
//! receivable publishes the queue's name on `ebbflow:wake` from inside its
//! script; this task rings that queue's bell. After a lost connection it
//! resubscribes every second and wakes every long poll, since it may have
//! missed announcements meanwhile.

use crate::keys::WAKE;
use ebbflow_core::local::LongPolls;
use futures_util::StreamExt;
use std::sync::Weak;
use std::time::Duration;

const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// Listens until the backend (the owner of `polls`) is dropped.
pub(crate) async fn listen(client: redis::Client, polls: Weak<LongPolls>) {
    loop {
        if let Ok(mut pubsub) = client.get_async_pubsub().await {
            if pubsub.subscribe(WAKE).await.is_ok() {
                match polls.upgrade() {
                    Some(p) => p.wake_all(),
                    None => return,
                }
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    let Some(p) = polls.upgrade() else { return };
                    if let Ok(queue) = std::str::from_utf8(msg.get_payload_bytes()) {
                        p.wake(queue);
                    }
                }
                tracing::warn!("redis: the pub/sub connection closed; resubscribing");
            }
        }
        match polls.upgrade() {
            Some(p) => p.wake_all(),
            None => return,
        }
        tokio::time::sleep(RECONNECT_EVERY).await;
    }
}
