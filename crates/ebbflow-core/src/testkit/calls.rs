//! A backend that remembers when each call was made: for tests that count
//! how often the engine is asked (an idle poller's receives, retries).

use crate::{BackendCall, BackendHook, Hooked, Operation, QueueBackend};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::time::Instant;

/// Records every call with its operation and time (tokio's clock, so paused
/// tests see simulated time).
///
/// ```
/// use ebbflow_core::{testkit::CallLog, Operation};
/// # fn demo(inner: std::sync::Arc<dyn ebbflow_core::QueueBackend>) {
/// let (backend, calls) = CallLog::wrap(inner);
/// // … run something against `backend` …
/// assert_eq!(calls.count(Operation::Receive), 0);
/// # let _ = backend; }
/// ```
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<(Operation, Instant)>>>,
}

impl CallLog {
    /// Wraps `inner`; returns the wrapped backend and the log.
    pub fn wrap(inner: Arc<dyn QueueBackend>) -> (Arc<dyn QueueBackend>, CallLog) {
        let log = CallLog::default();
        (Arc::new(Hooked::new(inner, log.clone())), log)
    }

    fn calls(&self) -> MutexGuard<'_, Vec<(Operation, Instant)>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls of `op` so far.
    pub fn count(&self, op: Operation) -> usize {
        self.calls().iter().filter(|(o, _)| *o == op).count()
    }

    /// When each call of `op` was made, in order.
    pub fn times(&self, op: Operation) -> Vec<Instant> {
        self.calls()
            .iter()
            .filter(|(o, _)| *o == op)
            .map(|&(_, t)| t)
            .collect()
    }
}

impl BackendHook for CallLog {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Operation,
        call: BackendCall<'a, T>,
    ) -> BackendCall<'a, T> {
        self.calls().push((op, Instant::now()));
        call
    }
}
