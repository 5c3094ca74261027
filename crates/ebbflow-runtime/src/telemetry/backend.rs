//! Times every call to the backend and counts the ones that fail.

use super::{catalogue, Histogram, Telemetry};
use ebbflow_core::{BackendCall, BackendHook, Operation};
use metrics::Counter;
use tokio::time::Instant;

/// The [`BackendHook`] behind `ebbflow_backend_operation_duration_seconds`
/// and `ebbflow_backend_errors_total`, with its handles made once per operation.
pub(crate) struct BackendMetrics {
    /// In the order of [`Operation::ALL`].
    duration: [Histogram; Operation::COUNT],
    errors: [Counter; Operation::COUNT],
}

impl BackendMetrics {
    pub(crate) fn new(telemetry: &Telemetry, backend: &'static str) -> Self {
        let labels = |op: Operation| [("backend", backend), ("operation", op.as_str())];
        Self {
            duration: Operation::ALL
                .map(|op| telemetry.histogram(catalogue::BACKEND_DURATION, &labels(op))),
            errors: Operation::ALL
                .map(|op| telemetry.counter(catalogue::BACKEND_ERRORS, &labels(op))),
        }
    }
}

impl BackendHook for BackendMetrics {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Operation,
        call: BackendCall<'a, T>,
    ) -> BackendCall<'a, T> {
        Box::pin(async move {
            let start = Instant::now();
            let result = call.await;
            self.duration[op.index()].record(start.elapsed().as_secs_f64());
            if result.is_err() {
                self.errors[op.index()].increment(1);
            }
            result
        })
    }
}
