//! Order processing on the embedded backend: a producer sends orders, the
//! runtime validates, "charges" and "reserves stock" with simulated latencies,
//! retries transient payment failures and dead-letters invalid orders.
//!
//! ```sh
//! cargo run --release --example orders -- --count 5000 --rate 1000
//! cargo run --release --example orders -- --count 200000 --rate 0 --noop   # runtime throughput
//! ```
//!
//! Options: `--count N` orders (default 2000); `--rate R` per second, 0 for one
//! burst (default 500); `--noop` handler that does nothing; `--config PATH`
//! (default `config/ebbflow.toml`); `--linger SECS` keeps serving `/metrics`
//! that long after the last order. Exits 0 once every order is processed or
//! dead-lettered.
//!
//! While it runs, `curl http://127.0.0.1:9464/metrics` shows its metrics
//! (`[metrics] listen`; `EBBFLOW__METRICS__ENABLED=false` turns them off).

#[path = "support/args.rs"]
mod args;

use args::Args;
use ebbflow::prelude::*;
use ebbflow::runtime::stats::{GroupStats, DEAD_LETTER_REASONS};
use ebbflow::{SendBatchEntry, SendMessage};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    items: Vec<Item>,
    total_cents: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Item {
    sku: String,
    quantity: u32,
    price_cents: u64,
}

/// Every 50th order has a total that does not match its items: dead-lettered.
fn is_invalid(id: u64) -> bool {
    id % 50 == 49
}

/// Every 20th order meets a payment-gateway timeout on its first attempt: retried.
fn is_flaky(id: u64) -> bool {
    id % 20 == 7
}

fn order(id: u64) -> Order {
    let items: Vec<Item> = (0..1 + id % 3)
        .map(|n| Item {
            sku: format!("SKU-{:04}", (id * 7 + n) % 1000),
            quantity: 1 + (n as u32 % 2),
            price_cents: 499 + 250 * n,
        })
        .collect();
    let total: u64 = items
        .iter()
        .map(|i| u64::from(i.quantity) * i.price_cents)
        .sum();
    Order {
        id,
        customer: format!("customer-{}", id % 97),
        items,
        total_cents: if is_invalid(id) { total + 1 } else { total },
    }
}

async fn process(Json(order): Json<Order>, ctx: Context) -> Result<(), HandlerError> {
    let sum: u64 = order
        .items
        .iter()
        .map(|i| u64::from(i.quantity) * i.price_cents)
        .sum();
    if order.items.is_empty() || sum != order.total_cents {
        return Err(HandlerError::permanent(format!(
            "order {} totals {} but its items sum to {sum}",
            order.id, order.total_cents
        )));
    }
    // Charge the card: 5-25 ms, and a timeout now and then.
    tokio::time::sleep(Duration::from_millis(5 + fastrand::u64(..20))).await;
    if is_flaky(order.id) && ctx.attempt() == 1 {
        return Err(HandlerError::retry("payment gateway timed out"));
    }
    // Reserve stock: 2-10 ms.
    tokio::time::sleep(Duration::from_millis(2 + fastrand::u64(..8))).await;
    Ok(())
}

async fn produce(backend: Arc<dyn QueueBackend>, count: u64, rate: u64) -> ebbflow::Result<()> {
    let start = Instant::now();
    let mut id = 0;
    while id < count {
        let batch: Vec<SendBatchEntry> = (id..count.min(id + 10))
            .map(|n| SendBatchEntry {
                id: (n - id).to_string(),
                message: SendMessage::new(serde_json::to_string(&order(n)).unwrap_or_default()),
            })
            .collect();
        id += batch.len() as u64;
        let result = backend.send_batch("orders", batch).await?;
        if let Some(failed) = result.failed.first() {
            return Err(failed.error.clone());
        }
        if rate > 0 {
            let due = start + Duration::from_secs_f64(id as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
    }
    Ok(())
}

fn progress(t: Duration, depth: u64, in_flight: u64, stats: &GroupStats, per_second: f64) {
    println!(
        "{:>6.1}s  queue {:>7}  in flight {:>5}  workers {:>3} ({:>3} busy)  processed/s {:>8.0}  retried {:>5}  dead-lettered {:>5}",
        t.as_secs_f64(),
        depth,
        in_flight,
        stats.workers.get(),
        stats.busy.get(),
        per_second,
        stats.retried.get(),
        stats.dead_lettered.get(),
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(2000, 500, true)?;
    let config = args.load_config("orders")?;
    let backend = ebbflow::connect(&config.backend).await?;
    let runtime = Runtime::new(config, backend.clone());
    let runtime = if args.noop {
        runtime.handler(
            "orders",
            handler_fn(|_: Json<Order>, _: Context| async { Ok(()) }),
        )
    } else {
        runtime.handler("orders", handler_fn(process))
    };
    let running = runtime.start().await?;
    if let Some(addr) = running.metrics_addr() {
        println!("metrics: http://{addr}/metrics");
    }
    let stats = running
        .stats("orders")
        .ok_or("the orders group did not start")?;
    let expected_dead = (0..args.count)
        .filter(|id| !args.noop && is_invalid(*id))
        .count() as u64;
    println!(
        "sending {} orders at {} (expect {expected_dead} dead-lettered)",
        args.count,
        if args.rate == 0 {
            "once".to_owned()
        } else {
            format!("{}/s", args.rate)
        }
    );

    let start = Instant::now();
    let producer = tokio::spawn(produce(backend.clone(), args.count, args.rate));
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last = (start, 0);
    let done = |s: &GroupStats| s.succeeded.get() + s.dead_lettered.get();
    while done(&stats) < args.count {
        tokio::select! {
            _ = ticker.tick() => {
                let q = backend.stats("orders").await?;
                let now = Instant::now();
                let rate = (done(&stats) - last.1) as f64 / (now - last.0).as_secs_f64();
                last = (now, done(&stats));
                progress(now - start, q.visible + q.delayed, q.in_flight, &stats, rate);
            }
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    }
    let elapsed = start.elapsed();
    producer.await??;
    args.linger().await;
    running.shutdown().await;
    let dlq = backend.stats("orders-dlq").await?;
    let by_reason: Vec<String> = DEAD_LETTER_REASONS
        .iter()
        .zip(&stats.dead_lettered_by_reason)
        .filter(|(_, n)| n.get() > 0)
        .map(|(reason, n)| format!("{reason} {}", n.get()))
        .collect();
    println!(
        "done: {} orders in {:.2}s = {:.0} orders/s; succeeded {}, retried {}, released {}, dead-lettered {}{} (in orders-dlq: {})",
        args.count,
        elapsed.as_secs_f64(),
        args.count as f64 / elapsed.as_secs_f64(),
        stats.succeeded.get(),
        stats.retried.get(),
        stats.released.get(),
        stats.dead_lettered.get(),
        if by_reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_reason.join(", "))
        },
        dlq.visible,
    );
    if stats.dead_lettered.get() != expected_dead {
        return Err(format!(
            "expected {expected_dead} dead-lettered orders, got {}",
            stats.dead_lettered.get()
        )
        .into());
    }
    Ok(())
}
