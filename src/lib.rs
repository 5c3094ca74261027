//! # ebbflow
//!
//! Serverless-style queue workers for Rust, with the semantics of Amazon SQS.
//!
//! This crate is the facade: it re-exports the message model, the
//! [`QueueBackend`] contract, the worker [`runtime`] and the backends enabled
//! by features (`memory` and `runtime`, on by default). Most programs need
//! only the [`prelude`].
//!
//! ```
//! use ebbflow::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> ebbflow::Result<()> {
//! let queues = MemoryBackend::new();
//! queues.create_queue("orders", QueueAttributes::standard()).await?;
//! queues.send("orders", SendMessage::new(r#"{"id":1}"#)).await?;
//! for msg in queues.receive("orders", ReceiveRequest::new(10)).await? {
//!     println!("{}", msg.body);
//!     queues.delete("orders", &msg.receipt_handle).await?;
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

// The README's examples compile (and the runnable ones run) as doctests, so it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The book's chapters (`docs/book/src`), whose code blocks compile (and the
/// runnable ones run) as doctests, so that the book stays true.
#[cfg(doctest)]
pub mod book {
    #[doc = include_str!("../docs/book/src/getting-started.md")]
    pub struct GettingStarted;
    #[doc = include_str!("../docs/book/src/guide/autoscaling.md")]
    pub struct GuideAutoscaling;
    #[doc = include_str!("../docs/book/src/guide/backends.md")]
    pub struct GuideBackends;
    #[doc = include_str!("../docs/book/src/guide/cli.md")]
    pub struct GuideCli;
    #[doc = include_str!("../docs/book/src/guide/configuration.md")]
    pub struct GuideConfiguration;
    #[doc = include_str!("../docs/book/src/guide/dashboard.md")]
    pub struct GuideDashboard;
    #[doc = include_str!("../docs/book/src/guide/handlers.md")]
    pub struct GuideHandlers;
    #[doc = include_str!("../docs/book/src/guide/metrics.md")]
    pub struct GuideMetrics;
    #[doc = include_str!("../docs/book/src/guide/operating.md")]
    pub struct GuideOperating;
    #[doc = include_str!("../docs/book/src/guide/queue-api.md")]
    pub struct GuideQueueApi;
    #[doc = include_str!("../docs/book/src/guide/security.md")]
    pub struct GuideSecurity;
    #[doc = include_str!("../docs/book/src/guide/serve.md")]
    pub struct GuideServe;
    #[doc = include_str!("../docs/book/src/guide/work.md")]
    pub struct GuideWork;
    #[doc = include_str!("../docs/book/src/internals/backend-contract.md")]
    pub struct InternalsBackendContract;
    #[doc = include_str!("../docs/book/src/internals/delivery.md")]
    pub struct InternalsDelivery;
    #[doc = include_str!("../docs/book/src/internals/development.md")]
    pub struct InternalsDevelopment;
    #[doc = include_str!("../docs/book/src/internals/layout.md")]
    pub struct InternalsLayout;
    #[doc = include_str!("../docs/book/src/internals/performance.md")]
    pub struct InternalsPerformance;
    #[doc = include_str!("../docs/book/src/introduction.md")]
    pub struct Introduction;
    #[doc = include_str!("../docs/book/src/reference/cli.md")]
    pub struct ReferenceCli;
    #[doc = include_str!("../docs/book/src/reference/config.md")]
    pub struct ReferenceConfig;
    #[doc = include_str!("../docs/book/src/reference/metrics.md")]
    pub struct ReferenceMetrics;
    #[doc = include_str!("../docs/book/src/reference/sqs.md")]
    pub struct ReferenceSqs;
}

pub use ebbflow_core::*;

/// The in-process backend (feature `memory`).
#[cfg(feature = "memory")]
pub use ebbflow_memory::MemoryBackend;

/// The PostgreSQL backend (feature `postgres`).
#[cfg(feature = "postgres")]
pub use ebbflow_postgres::{PostgresBackend, PostgresOptions};
/// The Redis backend (feature `redis`).
#[cfg(feature = "redis")]
pub use ebbflow_redis::{RedisBackend, RedisOptions};
/// The Amazon SQS backend (feature `sqs`).
#[cfg(feature = "sqlite")]
pub use ebbflow_sqlite::{SqliteBackend, SqliteOptions};
#[cfg(feature = "sqs")]
pub use ebbflow_sqs::{SqsBackend, SqsOptions};

/// The worker runtime (feature `runtime`).
#[cfg(feature = "runtime")]
pub use ebbflow_runtime as runtime;

/// What most programs need, in one import.
pub mod prelude {
    #[cfg(feature = "memory")]
    pub use ebbflow_memory::MemoryBackend;

    #[cfg(feature = "runtime")]
    pub use ebbflow_runtime::{
        handler_fn, init_logging, load_config, Context, Handler, HandlerError, Json, Runtime,
        WorkerGroup,
    };

    pub use ebbflow_core::{
        MessageAttributeValue, QueueAttributes, QueueBackend, QueueError, QueueStats,
        ReceiveRequest, ReceivedMessage, RedrivePolicy, SendMessage,
    };
}

/// Opens the backend `[backend]` describes.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ebbflow::Result<()> {
/// use ebbflow::config::{BackendConfig, BackendKind};
/// let memory = BackendConfig { kind: BackendKind::Memory, ..BackendConfig::default() };
/// let backend = ebbflow::connect(&memory).await?;
/// assert_eq!(backend.backend_name(), "memory");
/// # Ok(()) }
/// ```
pub async fn connect(backend: &config::BackendConfig) -> Result<std::sync::Arc<dyn QueueBackend>> {
    match backend.kind {
        #[cfg(feature = "sqlite")]
        config::BackendKind::Sqlite => {
            let options = ebbflow_sqlite::SqliteOptions::from_config(backend);
            Ok(std::sync::Arc::new(ebbflow_sqlite::SqliteBackend::open(
                &options,
            )?))
        }
        #[cfg(feature = "memory")]
        config::BackendKind::Memory => Ok(std::sync::Arc::new(MemoryBackend::new())),
        #[cfg(feature = "sqs")]
        config::BackendKind::Sqs => {
            let options = ebbflow_sqs::SqsOptions::from_config(backend);
            Ok(std::sync::Arc::new(
                ebbflow_sqs::SqsBackend::connect(&options).await?,
            ))
        }
        #[cfg(feature = "redis")]
        config::BackendKind::Redis => {
            let options = ebbflow_redis::RedisOptions::from_config(backend);
            Ok(std::sync::Arc::new(
                ebbflow_redis::RedisBackend::connect(&options).await?,
            ))
        }
        #[cfg(feature = "postgres")]
        config::BackendKind::Postgres => {
            let options = ebbflow_postgres::PostgresOptions::from_config(backend);
            Ok(std::sync::Arc::new(
                ebbflow_postgres::PostgresBackend::connect(&options).await?,
            ))
        }
        #[allow(unreachable_patterns)]
        kind => Err(QueueError::invalid(
            "backend.kind",
            format!("{kind:?} is not compiled in; enable its crate feature"),
        )),
    }
}
