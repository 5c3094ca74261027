//! The runtime: starts one worker group per configured queue and stops them gracefully.

use crate::batch::{BatchHandler, Erased};
use crate::group::{self, GroupKind, GroupPlan, WorkerGroup};
use crate::layers::DeadLetterRoute;
use crate::listener::{Listener, Probe};
use crate::stats::GroupStats;
use crate::telemetry::{BackendMetrics, Telemetry};
use crate::{Handler, RetryPolicy, RuntimeError};
use ebbflow_core::config::{Config, WorkerConfig};
use ebbflow_core::{Hooked, QueueBackend, QueueError};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Handlers registered by worker-group name, the configuration and a backend.
///
/// ```no_run
/// use ebbflow_runtime::{handler_fn, load_config, Context, HandlerError, Json, Runtime};
/// use ebbflow_memory::MemoryBackend;
/// use std::sync::Arc;
///
/// #[derive(serde::Deserialize)]
/// struct Order { id: u64 }
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = load_config("config/ebbflow.toml")?;
/// Runtime::new(config, Arc::new(MemoryBackend::new()))
///     .handler("orders", handler_fn(|Json(order): Json<Order>, _ctx: Context| async move {
///         println!("order {}", order.id);
///         Ok::<_, HandlerError>(())
///     }))
///     .run() // until SIGINT or SIGTERM
///     .await?;
/// # Ok(()) }
/// ```
pub struct Runtime {
    config: Config,
    backend: Arc<dyn QueueBackend>,
    groups: BTreeMap<String, GroupKind>,
}

impl Runtime {
    /// A runtime over `backend`, configured by `config`.
    pub fn new(config: Config, backend: Arc<dyn QueueBackend>) -> Self {
        Self {
            config,
            backend,
            groups: BTreeMap::new(),
        }
    }

    /// Registers the handler of worker group `group`. A group with no
    /// `[workers.NAME]` section runs with the defaults, on the queue of its name.
    pub fn handler<H: Handler>(self, group: &str, handler: H) -> Self {
        self.group(group, WorkerGroup::new(handler))
    }

    /// Registers a worker group built with its own tower layers.
    pub fn group(mut self, name: &str, group: WorkerGroup) -> Self {
        self.groups.insert(name.to_owned(), group.into());
        self
    }

    /// Registers a batch handler for worker group `group`: each worker takes a
    /// whole receive (up to `batch_size` messages), and only the messages it
    /// reports as failed are retried, released or dead-lettered.
    pub fn batch_handler<H: BatchHandler>(mut self, group: &str, handler: H) -> Self {
        self.groups.insert(
            group.to_owned(),
            GroupKind::Batch(Arc::new(Erased(handler))),
        );
        self
    }

    /// Creates the configured queues, starts every worker group and the
    /// metrics listener (unless `[metrics] enabled = false`), and returns at once.
    pub async fn start(self) -> Result<Running, RuntimeError> {
        self.config
            .validate()
            .map_err(|problems| RuntimeError::Config {
                file: None,
                problems: problems.iter().map(ToString::to_string).collect(),
            })?;
        if let Some(name) = self
            .config
            .workers
            .keys()
            .find(|n| !self.groups.contains_key(*n))
        {
            return Err(RuntimeError::Group {
                group: name.clone(),
                reason: "configured in [workers] but no handler is registered for it".into(),
            });
        }
        // With metrics on, every backend call is timed and its failures counted.
        let telemetry = self.config.metrics.enabled.then(Telemetry::new);
        let backend: Arc<dyn QueueBackend> = match &telemetry {
            Some(t) => {
                t.install_global();
                let hook = BackendMetrics::new(t, self.backend.backend_name());
                Arc::new(Hooked::new(self.backend.clone(), hook))
            }
            None => self.backend.clone(),
        };
        crate::declare::declare_queues(backend.as_ref(), &self.config).await?;

        let shutdown = CancellationToken::new();
        let grace = self.config.runtime.shutdown_grace.0;
        let mut running = Running {
            shutdown: shutdown.clone(),
            tasks: Vec::new(),
            stats: BTreeMap::new(),
            listener: None,
        };
        let mut plans = Vec::new();
        for (name, group) in self.groups {
            let config = self.config.workers.get(&name).cloned().unwrap_or_default();
            let mut plan = plan(backend.as_ref(), telemetry.as_ref(), name, config, group).await?;
            let history = &self.config.history;
            plan.history = history.enabled.then(|| history.clone());
            running.stats.insert(plan.name.clone(), plan.stats.clone());
            plans.push(plan);
        }
        if let Some(telemetry) = telemetry {
            let addr = self.config.metrics.listen;
            let probe = Probe {
                telemetry,
                backend: backend.clone(),
                shutdown: shutdown.clone(),
            };
            let listener = Listener::bind(addr, probe)
                .await
                .map_err(|source| RuntimeError::Listen { addr, source })?;
            running.listener = Some(listener);
        }
        for plan in plans {
            match plan.config.concurrency {
                Some(workers) => {
                    tracing::info!(group = %plan.name, queue = %plan.queue, workers, "worker group started")
                }
                None => {
                    tracing::info!(group = %plan.name, queue = %plan.queue, min = plan.config.scaling.min, max = plan.config.scaling.max, "worker group started, autoscaling")
                }
            }
            let task = tokio::spawn(group::run(plan, backend.clone(), shutdown.clone(), grace));
            running.tasks.push(task);
        }
        Ok(running)
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run(self) -> Result<(), RuntimeError> {
        let running = self.start().await?;
        shutdown_signal().await;
        tracing::info!("shutdown signal received; draining");
        running.shutdown().await;
        Ok(())
    }
}

/// A started runtime.
pub struct Running {
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    stats: BTreeMap<String, Arc<GroupStats>>,
    listener: Option<Listener>,
}

impl Running {
    /// A group's counters.
    pub fn stats(&self, group: &str) -> Option<Arc<GroupStats>> {
        self.stats.get(group).cloned()
    }

    /// Where `/metrics`, `/healthz` and `/readyz` are served; `None` when
    /// `[metrics] enabled = false`.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.as_ref().map(Listener::addr)
    }

    /// Stops polling, lets in-flight messages finish within the grace period,
    /// releases what remains and flushes deletes.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a worker group task failed");
            }
        }
        if let Some(listener) = self.listener {
            listener.stop().await;
        }
    }
}

/// Resolves a group's queue, visibility timeout and dead-letter route.
async fn plan(
    backend: &dyn QueueBackend,
    telemetry: Option<&Telemetry>,
    name: String,
    config: WorkerConfig,
    kind: GroupKind,
) -> Result<GroupPlan, RuntimeError> {
    let queue = config.queue_name(&name).to_owned();
    let backend_step =
        |step: String| move |source: QueueError| RuntimeError::Backend { step, source };
    let attrs = backend
        .get_queue_attributes(&queue)
        .await
        .map_err(backend_step(format!(
            "worker group `{name}`: reading queue `{queue}`"
        )))?;
    let dlq = config.dead_letter_queue.clone().or_else(|| {
        attrs
            .redrive_policy
            .as_ref()
            .map(|p| p.dead_letter_queue.clone())
    });
    let dlq_fifo = match &dlq {
        Some(d) => {
            backend
                .get_queue_attributes(d)
                .await
                .map_err(backend_step(format!(
                    "worker group `{name}`: reading dead-letter queue `{d}`"
                )))?
                .fifo
        }
        None => false,
    };
    let route = DeadLetterRoute {
        queue: dlq,
        fifo: dlq_fifo,
        // An engine that redrives by itself (SQS) moves the message on its
        // next receive; the runtime only has to stop deleting it.
        max_receive_count: attrs
            .redrive_policy
            .as_ref()
            .filter(|_| !backend.redrives_natively())
            .map(|p| p.max_receive_count),
        release: RetryPolicy::from_config(&config.retry),
    };
    let visibility_timeout = config
        .visibility_timeout
        .map(|v| v.0)
        .unwrap_or(attrs.visibility_timeout);
    let stats = telemetry.map_or_else(Arc::default, |t| t.group(&queue));
    Ok(GroupPlan {
        history: None,
        name,
        queue: Arc::from(queue),
        config,
        visibility_timeout,
        route,
        kind,
        stats,
        fifo: attrs.fifo,
    })
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
