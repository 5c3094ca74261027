//! Ctrl-C as a flag the commands look at between steps, so that a step
//! begun (a message sent and not yet deleted) is always finished first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Set once Ctrl-C (SIGINT) arrives.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    set: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Interrupt {
    /// Starts listening for Ctrl-C. A second Ctrl-C does not kill the process
    /// half-way through a step either; each step is short.
    pub fn listen() -> Self {
        let interrupt = Self::default();
        let flag = interrupt.clone();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                flag.set.store(true, Ordering::SeqCst);
                flag.notify.notify_waiters();
                eprintln!("stopping after the step under way (Ctrl-C)");
            }
        });
        interrupt
    }

    /// Whether Ctrl-C has arrived.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Waits for Ctrl-C.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}
