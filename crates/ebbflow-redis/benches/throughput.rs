//! End-to-end throughput against the local Redis: producers send, consumers
//! receive and delete, in batches of ten, concurrently.
//!
//! `cargo bench -p ebbflow-redis` (server: `EBBFLOW_TEST_REDIS_URL`, else
//! redis://127.0.0.1:6379). `-- --messages N --producers P --consumers C`
//! change the load.

use ebbflow_core::testkit::load::{arg, send_receive_delete, Load};
use ebbflow_core::{QueueAttributes, QueueBackend};
use ebbflow_redis::{RedisBackend, RedisOptions};
use std::sync::Arc;

fn main() {
    let url =
        std::env::var("EBBFLOW_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let load = Load {
        messages: arg("--messages", 200_000),
        producers: arg("--producers", 16),
        consumers: arg("--consumers", 16),
        batch: 10,
        body_size: 100,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "redis at {url}: send -> receive -> delete, batches of 10, {} messages of 100 bytes, {} producers, {} consumers",
        load.messages, load.producers, load.consumers
    );
    let (rate, elapsed) = runtime.block_on(async {
        let backend = Arc::new(
            RedisBackend::connect(&RedisOptions::new(&url))
                .await
                .expect("connect"),
        );
        let queue = format!("bench-{}", std::process::id());
        backend
            .create_queue(&queue, QueueAttributes::standard())
            .await
            .expect("create");
        let result = send_receive_delete(backend.clone(), &queue, load).await;
        backend.delete_queue(&queue).await.expect("delete queue");
        result
    });
    println!(
        "| messages/s | elapsed |\n|---|---|\n| {rate:.0} | {:.2} s |",
        elapsed.as_secs_f64()
    );
}
