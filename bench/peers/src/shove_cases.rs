//! shove 0.16: its in-process broker and Redis streams, a consumer group of
//! C consumers (each with shove's default prefetch), JSON messages acked
//! when the handler returns.

use crate::{timed, Drained, Job, Tally, LIMIT};
use shove::inmemory::{InMemoryConfig, InMemoryConsumerGroupConfig};
use shove::redis::{RedisConfig, RedisConsumerGroupConfig, RedisMode};
use shove::{
    define_topic, Broker, ConsumerGroupConfig, InMemory, MessageHandler, MessageMetadata, Outcome,
    Redis, TopologyBuilder,
};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

define_topic!(PeerJobs, Job, TopologyBuilder::new("ebbflow-peers").build());

struct Handler(Arc<Tally>);

impl MessageHandler<PeerJobs> for Handler {
    type Context = ();
    async fn handle(&self, job: Job, _: MessageMetadata, _: &()) -> Outcome {
        self.0.mark(&job);
        Outcome::Ack
    }
}

/// Declares the topic and publishes `n` jobs, in batches of a hundred.
async fn prepare<B: shove::Backend>(broker: &Broker<B>, n: u64) -> Result<(), String> {
    broker
        .topology()
        .declare::<PeerJobs>()
        .await
        .map_err(|e| e.to_string())?;
    let publisher = broker.publisher().await.map_err(|e| e.to_string())?;
    let all: Vec<Job> = (0..n).map(|id| Job { id }).collect();
    for batch in all.chunks(100) {
        publisher
            .publish_batch::<PeerJobs>(batch)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Runs the group until `n` are handled, then stops it.
async fn consume<B: shove::Backend + shove::HasCoordinatedGroups>(
    broker: &Broker<B>,
    config: B::ConsumerGroupConfig,
    n: u64,
    tally: Arc<Tally>,
) -> Result<Drained, String> {
    let mut group = broker.consumer_group();
    let t = tally.clone();
    group
        .register::<PeerJobs, _>(ConsumerGroupConfig::new(config), move || Handler(t.clone()))
        .await
        .map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let timing = timed(async {
        let running = tokio::spawn(group.run_until_timeout(
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        if tally.wait_for(n, LIMIT).await {
            Ok(running)
        } else {
            Err(format!("{} of {n} handled", tally.handled()))
        }
    })
    .await;
    // Stopping the group is not the drain's time.
    let _ = stop.send(());
    let (drained, running) = timing?;
    let _ = running.await;
    Ok(drained)
}

pub async fn inmemory(n: u64, c: u32, tally: Arc<Tally>) -> Result<Drained, String> {
    // Publishers wait when a queue is full: room for the whole burn-down.
    let capacity = NonZeroUsize::new(usize::try_from(n).unwrap_or(usize::MAX).max(1) + 1)
        .ok_or("no capacity")?;
    let broker = Broker::<InMemory>::new(InMemoryConfig::default().with_default_capacity(capacity))
        .await
        .map_err(|e| e.to_string())?;
    prepare(&broker, n).await?;
    let consumers = u16::try_from(c).unwrap_or(u16::MAX);
    consume(
        &broker,
        InMemoryConsumerGroupConfig::new(consumers..=consumers),
        n,
        tally,
    )
    .await
}

pub async fn redis(url: &str, n: u64, c: u32, tally: Arc<Tally>) -> Result<Drained, String> {
    let broker = Broker::<Redis>::new(RedisConfig::new(RedisMode::Standalone {
        url: url.to_owned(),
    }))
    .await
    .map_err(|e| e.to_string())?;
    prepare(&broker, n).await?;
    let consumers = u16::try_from(c).unwrap_or(u16::MAX);
    let drained = consume(
        &broker,
        RedisConsumerGroupConfig::new(consumers..=consumers).with_concurrent_processing(true),
        n,
        tally,
    )
    .await;
    crate::services::forget_redis_keys(url, "ebbflow-peers").await;
    drained
}
