//! apalis 1.0: its memory storage (a channel: no acknowledgement, jobs
//! passed as values, so no JSON), its Redis storage and its PostgreSQL
//! storage (JSON), a worker with concurrency C whose tasks run in parallel.

use crate::{timed, Drained, Job, Tally, LIMIT};
use apalis::prelude::*;
use std::sync::Arc;

async fn handle(job: Job, tally: Data<Arc<Tally>>) -> Result<(), BoxDynError> {
    tally.mark(&job);
    Ok(())
}

/// Builds a worker named `$name` on `$backend` (concurrency C, tasks in
/// parallel, the tally as data) and runs it until every job is handled. A
/// macro, since each backend makes the worker builder a type of its own.
macro_rules! drain {
    ($name:expr, $backend:expr, $n:expr, $c:expr, $tally:expr) => {{
        let worker = WorkerBuilder::new($name)
            .backend($backend)
            .concurrency($c as usize)
            .parallelize(tokio::spawn)
            .data($tally.clone())
            .build(handle);
        timed(run_until_handled(worker.run(), $n, &$tally))
            .await
            .map(|(d, ())| d)
    }};
}

fn jobs(n: u64) -> Vec<Job> {
    (0..n).map(|id| Job { id }).collect()
}

/// Runs `worker` until `n` jobs are handled, then stops it; a worker that
/// ends before is a failure, with what it said.
async fn run_until_handled<F>(worker: F, n: u64, tally: &Tally) -> Result<(), String>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + std::fmt::Debug,
{
    let running = tokio::spawn(worker);
    let done = tally.wait_for(n, LIMIT).await;
    if running.is_finished() && !done {
        return Err(format!("the worker ended: {:?}", running.await));
    }
    running.abort();
    if done {
        Ok(())
    } else {
        Err(format!("{} of {n} handled", tally.handled()))
    }
}

pub async fn memory(n: u64, c: u32, tally: Arc<Tally>) -> Result<Drained, String> {
    let mut storage = MemoryStorage::new();
    storage
        .push_bulk(jobs(n))
        .await
        .map_err(|e| e.to_string())?;
    drain!("peers-memory", storage, n, c, tally)
}

pub async fn redis(url: &str, n: u64, c: u32, tally: Arc<Tally>) -> Result<Drained, String> {
    let queue = format!("peers-apalis-{}", std::process::id());
    let conn = apalis_redis::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let mut storage = apalis_redis::RedisStorage::new(conn)
        .with_config(apalis_redis::Config::default().queue(&queue));
    // A thousand at a time, as producers would. (Past about 8,000 waiting
    // jobs apalis-redis's fetch script fails with `too many results to
    // unpack` on Redis 7.0: the case then reports the worker's error.)
    for chunk in jobs(n).chunks(1_000) {
        storage
            .push_bulk(chunk.to_vec())
            .await
            .map_err(|e| e.to_string())?;
    }
    let drained = drain!("peers-redis", storage, n, c, tally);
    crate::services::forget_redis_keys(url, &queue).await;
    // apalis's registry of queues.
    crate::services::forget_redis_keys(url, "core:apalis:").await;
    drained
}

pub async fn postgres(url: &str, n: u64, c: u32, tally: Arc<Tally>) -> Result<Drained, String> {
    // apalis keeps its tables in a schema of its own: a database of the
    // bench's own, dropped after, leaves the server as it was.
    let database = crate::services::Database::create(url, "ebbflow_peers_apalis").await?;
    let pool = apalis_postgres::PgPool::connect(&database.url)
        .await
        .map_err(|e| e.to_string())?;
    apalis_postgres::PostgresStorage::setup(&pool)
        .await
        .map_err(|e| e.to_string())?;
    let mut storage = apalis_postgres::PostgresStorage::new(&pool)
        .with_config(apalis_postgres::Config::default().queue("peers"));
    storage
        .push_bulk(jobs(n))
        .await
        .map_err(|e| e.to_string())?;
    let drained = drain!("peers-postgres", storage, n, c, tally);
    pool.close().await;
    database.drop().await;
    drained
}
