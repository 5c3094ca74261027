//! Tests against a server named by an environment variable.

/// The URL in environment variable `var`, or `None` after printing that the
/// test is skipped. With `EBBFLOW_REQUIRE_SERVICES=1` a missing URL panics
/// instead, so that CI cannot pass by skipping.
pub fn service_url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("EBBFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "EBBFLOW_REQUIRE_SERVICES=1 but {var} is not set (see .ci/run)"
        );
        println!("skipped: {var} is not set (see .ci/run)");
    }
    url
}

/// Server calls on a real-clock runtime of their own, shared by the test
/// process, for backends tested under tokio's paused clock (see
/// [`Offload`](crate::local::Offload)).
#[cfg(feature = "engine")]
pub fn io_offload() -> crate::local::Offload {
    static IO: std::sync::LazyLock<Option<tokio::runtime::Runtime>> =
        std::sync::LazyLock::new(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .ok()
        });
    match IO.as_ref() {
        Some(rt) => crate::local::Offload::Runtime(rt.handle().clone()),
        None => panic!("cannot start an I/O runtime for the tests"),
    }
}

/// The conformance harness of an engine on a server, tested under tokio's
/// paused clock: the backend (`None` when the server is not configured, and
/// every rule is then skipped with `no_server`), with time advanced by
/// tokio. One per engine and setting, as `conformance_suite!` wants:
///
/// ```ignore
/// ebbflow_core::conformance_suite!(paused_clock, async {
///     PausedServer::new(common::shared().await, common::NO_SERVER)
/// });
/// ```
pub struct PausedServer {
    backend: Option<std::sync::Arc<dyn crate::QueueBackend>>,
    no_server: &'static str,
}

impl PausedServer {
    /// The harness of `backend`, or of no server (saying `no_server`).
    pub fn new<B: crate::QueueBackend>(
        backend: Option<std::sync::Arc<B>>,
        no_server: &'static str,
    ) -> Self {
        Self {
            backend: backend.map(|b| b as std::sync::Arc<dyn crate::QueueBackend>),
            no_server,
        }
    }
}

#[async_trait::async_trait]
impl super::Harness for PausedServer {
    async fn backend(&self) -> std::sync::Arc<dyn crate::QueueBackend> {
        match &self.backend {
            Some(b) => b.clone(),
            None => unreachable!("{}", self.no_server),
        }
    }

    async fn advance(&self, by: std::time::Duration) {
        tokio::time::advance(by).await
    }

    fn unsupported(&self, _rule: &str) -> Option<&'static str> {
        self.backend.is_none().then_some(self.no_server)
    }
}

/// A file holding `keys`, one per line, for a `KeySource::File` (named for
/// this process and `name`, in the temp directory).
pub fn key_file(name: &str, keys: &[&str]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("ebbflow-keys-{}-{name}", std::process::id()));
    if let Err(e) = std::fs::write(&path, keys.join("\n")) {
        panic!("{}: {e}", path.display());
    }
    path
}

/// Runs `QueueBackend::rekey` over `queue` to its end, `step` messages at a
/// time; returns the messages sealed again and the steps taken.
pub async fn rekey_all(backend: &dyn crate::QueueBackend, queue: &str, step: u32) -> (u64, u32) {
    let (mut after, mut resealed, mut steps) = (None::<String>, 0, 0);
    loop {
        let page = match backend.rekey(queue, after.as_deref(), step).await {
            Ok(p) => p,
            Err(e) => panic!("rekey of {queue}: {e}"),
        };
        resealed += page.resealed;
        steps += 1;
        after = page.next;
        if after.is_none() {
            return (resealed, steps);
        }
    }
}
