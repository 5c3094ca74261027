//! A backend that can be switched off: for tests of what happens while the
//! queue engine is unreachable (poller backoff, readiness, reconnection).

use crate::{BackendCall, BackendHook, Hooked, Operation, QueueBackend, QueueError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Fails every call with a retryable [`QueueError::Backend`] while it is down.
///
/// ```
/// use ebbflow_core::testkit::Outage;
/// # fn demo(inner: std::sync::Arc<dyn ebbflow_core::QueueBackend>) {
/// let (backend, outage) = Outage::wrap(inner);
/// outage.set_down(true); // every call on `backend` fails now
/// outage.set_down(false); // and passes through again
/// # let _ = backend; }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Outage {
    down: Arc<AtomicBool>,
}

impl Outage {
    /// Wraps `inner`; returns the wrapped backend and the switch.
    pub fn wrap(inner: Arc<dyn QueueBackend>) -> (Arc<dyn QueueBackend>, Outage) {
        let outage = Outage::default();
        (Arc::new(Hooked::new(inner, outage.clone())), outage)
    }

    /// Takes the backend down, or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Whether the backend is down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
}

impl BackendHook for Outage {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Operation,
        call: BackendCall<'a, T>,
    ) -> BackendCall<'a, T> {
        if self.is_down() {
            return Box::pin(std::future::ready(Err(QueueError::Backend {
                backend: "outage",
                message: format!(
                    "{} failed: the backend is down (injected outage)",
                    op.as_str()
                ),
            })));
        }
        call
    }
}
