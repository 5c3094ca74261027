//! Where an engine that talks to a server runs its I/O.

use crate::{QueueError, Result};
use std::future::Future;

/// Runs a backend's server calls either on the caller's runtime (the
/// default) or on a runtime of their own.
///
/// The second is for tests under tokio's paused clock: there, a runtime with
/// nothing to do but wait for a socket jumps its clock to the next timer, so a
/// server round trip would let a long poll's 20 s pass at once. A call run on
/// another runtime, awaited through the blocking pool, holds the paused clock
/// still until it returns, the way a real clock would.
#[derive(Debug, Clone, Default)]
pub enum Offload {
    /// Calls run on the caller's runtime.
    #[default]
    Inline,
    /// Calls run on this runtime; the caller waits on its blocking pool.
    Runtime(tokio::runtime::Handle),
}

impl Offload {
    /// Runs `call` where this offload says. `backend` names the engine in the
    /// error when the call cannot be waited for.
    pub async fn run<T, F>(&self, backend: &'static str, call: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        self.spawn(call).await.map_err(|e| QueueError::Backend {
            backend,
            message: format!("a server call did not finish: {e}"),
        })?
    }

    /// Runs `call` where this offload says; an error only when it could not be waited for.
    pub async fn spawn<T, F>(&self, call: F) -> std::result::Result<T, tokio::task::JoinError>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        match self {
            Offload::Inline => Ok(call.await),
            Offload::Runtime(handle) => {
                let handle = handle.clone();
                tokio::task::spawn_blocking(move || handle.block_on(call)).await
            }
        }
    }
}
