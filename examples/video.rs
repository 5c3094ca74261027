//! Long jobs: each video takes a few seconds, longer than the `videos` queue's
//! 2-second visibility timeout. The heartbeat keeps each one hidden while it
//! runs, so none is delivered twice; the CPU-heavy transcode step runs in
//! `spawn_blocking`, off the async workers.
//!
//! ```sh
//! cargo run --release --example video -- --count 8 --rate 0
//! ```
//!
//! Options: `--count N` videos (default 8); `--rate R` per second, 0 for one
//! burst (default 0); `--config PATH` (default `config/ebbflow.toml`);
//! `--linger SECS` keeps serving `/metrics` that long after the last video.

#[path = "support/args.rs"]
mod args;

use args::Args;
use ebbflow::prelude::*;
use ebbflow::SendMessage;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize, Deserialize)]
struct Video {
    id: u64,
    title: String,
    /// Seconds of CPU the transcode takes.
    transcode_seconds: f64,
}

/// Stands in for a transcoder: burns CPU for `seconds` and returns a checksum.
fn transcode(seconds: f64) -> u64 {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while Instant::now() < until {
        for _ in 0..10_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
        }
    }
    x
}

#[derive(Default)]
struct Tally {
    done: AtomicU64,
    redelivered: AtomicU64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(8, 0, false)?;
    let config = args.load_config("videos")?;
    let visibility = config
        .queues
        .get("videos")
        .map(|q| q.visibility_timeout.0)
        .unwrap_or_default();
    let backend = ebbflow::connect(&config.backend).await?;
    let tally = Arc::new(Tally::default());
    let seen = tally.clone();
    let running = Runtime::new(config, backend.clone())
        .handler(
            "videos",
            handler_fn(move |Json(video): Json<Video>, ctx: Context| {
                let seen = seen.clone();
                async move {
                    if ctx.receive_count() > 1 {
                        seen.redelivered.fetch_add(1, Ordering::Relaxed);
                    }
                    let started = Instant::now();
                    tokio::time::sleep(Duration::from_millis(700)).await; // download
                    let seconds = video.transcode_seconds;
                    let checksum = tokio::task::spawn_blocking(move || transcode(seconds))
                        .await
                        .map_err(|e| HandlerError::retry(format!("transcoder crashed: {e}")))?;
                    tokio::time::sleep(Duration::from_millis(500)).await; // upload
                    println!(
                        "video {:>3} {:<14} done in {:.1}s (receive #{}, checksum {checksum:016x})",
                        video.id,
                        video.title,
                        started.elapsed().as_secs_f64(),
                        ctx.receive_count()
                    );
                    seen.done.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
            }),
        )
        .start()
        .await?;

    println!(
        "{} videos, each longer than the {visibility:?} visibility timeout",
        args.count
    );
    let start = Instant::now();
    for id in 0..args.count {
        let video = Video {
            id,
            title: format!("holiday-{id}.mp4"),
            transcode_seconds: 1.0 + (id % 3) as f64 * 0.5,
        };
        backend
            .send("videos", SendMessage::new(serde_json::to_string(&video)?))
            .await?;
        if args.rate > 0 {
            tokio::time::sleep(Duration::from_secs_f64(1.0 / args.rate as f64)).await;
        }
    }
    while tally.done.load(Ordering::Relaxed) < args.count {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    args.linger().await;
    running.shutdown().await;
    let redelivered = tally.redelivered.load(Ordering::Relaxed);
    println!(
        "done: {} videos in {:.1}s, redelivered {redelivered}",
        args.count,
        start.elapsed().as_secs_f64()
    );
    if redelivered > 0 {
        return Err(format!(
            "{redelivered} videos were delivered twice: the heartbeat did not hold them"
        )
        .into());
    }
    Ok(())
}
