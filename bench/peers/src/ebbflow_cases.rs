//! ebbflow's runtime: a fixed pool of C workers, `Json<Job>` handlers, on
//! the memory, Redis and PostgreSQL engines.

use crate::{timed, Drained, Job, Tally, LIMIT};
use ebbflow_core::config::Config;
use ebbflow_core::{QueueAttributes, QueueBackend};
use ebbflow_runtime::{handler_fn, Context, HandlerError, Json, Runtime};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn memory(n: u64, c: u32, tally: Arc<Tally>) -> Result<Drained, String> {
    drain(Arc::new(ebbflow_memory::MemoryBackend::new()), n, c, tally).await
}

pub async fn redis(url: &str, n: u64, c: u32, tally: Arc<Tally>) -> Result<Drained, String> {
    let backend = ebbflow_redis::RedisBackend::connect(&ebbflow_redis::RedisOptions::new(url))
        .await
        .map_err(|e| e.to_string())?;
    drain(Arc::new(backend), n, c, tally).await
}

pub async fn postgres(url: &str, n: u64, c: u32, tally: Arc<Tally>) -> Result<Drained, String> {
    // A fresh database, as apalis gets: none starts on another's dead rows.
    let database = crate::services::Database::create(url, "ebbflow_peers_ebbflow").await?;
    let options = ebbflow_postgres::PostgresOptions::new(&database.url);
    let drained = match ebbflow_postgres::PostgresBackend::connect(&options).await {
        Ok(backend) => drain(Arc::new(backend), n, c, tally).await,
        Err(e) => Err(e.to_string()),
    };
    database.drop().await;
    drained
}

async fn drain(
    backend: Arc<dyn QueueBackend>,
    n: u64,
    c: u32,
    tally: Arc<Tally>,
) -> Result<Drained, String> {
    let queue = format!("peers-{}", std::process::id());
    let _ = backend.delete_queue(&queue).await;
    backend
        .create_queue(&queue, QueueAttributes::standard())
        .await
        .map_err(|e| e.to_string())?;
    filling::fill(&backend, &queue, n, |id| {
        serde_json::json!({ "id": id }).to_string()
    })
    .await?;
    let config: Config = serde_json::from_value(serde_json::json!({
        "queues": {&queue: {}},
        "workers": {&queue: {"concurrency": c, "wait_time": "100ms"}},
        "metrics": {"enabled": false},
    }))
    .map_err(|e| e.to_string())?;
    let t = tally.clone();
    let handler = handler_fn(move |Json(job): Json<Job>, _: Context| {
        t.mark(&job);
        async { Ok::<_, HandlerError>(()) }
    });
    let timing = timed(async {
        let running = Runtime::new(config, backend.clone())
            .handler(&queue, handler)
            .start()
            .await
            .map_err(|e| e.to_string())?;
        if !tally.wait_for(n, LIMIT).await {
            return Err(format!("{} of {n} handled", tally.handled()));
        }
        // Handled is not done: the deletes must have landed too.
        let until = Instant::now() + LIMIT;
        loop {
            let stats = backend.stats(&queue).await.map_err(|e| e.to_string())?;
            if stats.total() == 0 {
                break;
            }
            if Instant::now() > until {
                return Err(format!("{} messages left", stats.total()));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(running)
    })
    .await;
    // Shutting down waits for the receive under way (its long poll): not
    // the drain's time.
    let drained = match timing {
        Ok((drained, running)) => {
            running.shutdown().await;
            Ok(drained)
        }
        Err(e) => Err(e),
    };
    let _ = backend.delete_queue(&queue).await;
    drained
}

/// Four producers sending batches of ten (the drain bench's).
#[path = "../../../crates/ebbflow-runtime/benches/common/fill.rs"]
mod filling;
