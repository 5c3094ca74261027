//! Filling a queue before a drain: four producers sending batches of ten.
//! Shared by the drain bench and the peer bench (`bench/peers`), which
//! include this file as a module.

use ebbflow_core::{QueueBackend, SendBatchEntry, SendMessage};
use std::sync::Arc;

/// Sends `count` messages to `queue`, the `n`th with the body `body(n)`.
pub async fn fill(
    backend: &Arc<dyn QueueBackend>,
    queue: &str,
    count: u64,
    body: fn(u64) -> String,
) -> Result<(), String> {
    let per = count.div_ceil(4);
    let mut tasks = Vec::new();
    for p in 0..4 {
        let (b, q) = (backend.clone(), queue.to_owned());
        tasks.push(tokio::spawn(async move {
            let (from, to) = (p * per, ((p + 1) * per).min(count));
            for start in (from..to).step_by(10) {
                let entries = (start..to.min(start + 10))
                    .map(|n| SendBatchEntry {
                        id: (n - start).to_string(),
                        message: SendMessage::new(body(n)),
                    })
                    .collect();
                let sent = b.send_batch(&q, entries).await.map_err(|e| e.to_string())?;
                if !sent.failed.is_empty() {
                    return Err(format!("{} sends failed", sent.failed.len()));
                }
            }
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}
