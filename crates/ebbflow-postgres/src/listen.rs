//! Long polls woken by `LISTEN`: other processes' writes `NOTIFY` the queue's
//! name, and this task rings that queue's bell. After a lost connection it
//! reconnects every second and wakes every long poll, since it may have
//! missed announcements meanwhile.

use crate::store::CHANNEL;
use ebbflow_core::local::LongPolls;
use std::future::poll_fn;
use std::sync::Weak;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};

const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// Listens until the backend (the owner of `polls`) is dropped.
pub(crate) async fn listen(config: tokio_postgres::Config, polls: Weak<LongPolls>) {
    loop {
        if let Ok((client, mut connection)) = config.connect(NoTls).await {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let driver = tokio::spawn(async move {
                while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                    match message {
                        Ok(AsyncMessage::Notification(n)) => {
                            if tx.send(n.payload().to_owned()).is_err() {
                                break;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "postgres: the LISTEN connection failed");
                            break;
                        }
                    }
                }
            });
            if client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .is_ok()
            {
                match polls.upgrade() {
                    Some(p) => p.wake_all(),
                    None => return,
                }
                while let Some(queue) = rx.recv().await {
                    match polls.upgrade() {
                        Some(p) => p.wake(&queue),
                        None => return,
                    }
                }
            }
            driver.abort();
        }
        match polls.upgrade() {
            Some(p) => p.wake_all(),
            None => return,
        }
        tokio::time::sleep(RECONNECT_EVERY).await;
    }
}
