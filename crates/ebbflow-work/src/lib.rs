//! Handlers in any language for the ebbflow runtime: an HTTP endpoint
//! ([`HttpHandler`], sqsd-style), a command per message ([`CommandHandler`]),
//! or long-lived processes speaking newline-delimited JSON
//! ([`ProcessHandler`]). `ebbflow work` builds them from `handler = { … }`
//! in `[workers.NAME]`; everything else (retries, dead letters, heartbeats,
//! autoscaling, metrics, graceful shutdown) is the runtime's, as for a Rust handler.
//!
//! ```toml
//! [workers.orders]
//! handler = { command = ["python3", "examples/work/orders.py"], mode = "long_lived" }
//!
//! [workers.emails]
//! handler = { http = "http://127.0.0.1:8080/emails" }
//! ```

#![warn(missing_docs)]

mod children;
mod command;
mod environment;
mod http;
mod message;
mod process;

pub use children::KILL_AFTER;
pub use children::{Children, Tracked};
pub use command::{CommandHandler, EXIT_RETRY, STDERR_AFTER_EXIT};
pub use environment::Environment;
pub use http::HttpHandler;
pub use process::{ProcessHandler, DEFAULT_IDLE_FOR};

use ebbflow::config::{CommandMode, Config};
use ebbflow::runtime::Runtime;

/// Why `ebbflow work` cannot run a worker group.
#[derive(Debug, thiserror::Error)]
#[error("workers.{group}: {reason}")]
pub struct WorkError {
    /// The worker group.
    pub group: String,
    /// What is wrong.
    pub reason: String,
}

/// Registers a handler for every `[workers.NAME]` with `handler = { … }`.
/// A group without one is an error: `ebbflow work` has nothing to run it with.
pub fn register(
    config: &Config,
    mut runtime: Runtime,
    children: &Children,
) -> Result<Runtime, WorkError> {
    for (group, worker) in &config.workers {
        let fail = |reason: String| WorkError {
            group: group.clone(),
            reason,
        };
        let Some(handler) = &worker.handler else {
            return Err(fail(
                "no `handler = { http = … }` or `handler = { command = […] }`; ebbflow work runs \
                 only handlers configured in TOML (a Rust handler is registered in its own program)"
                    .to_owned(),
            ));
        };
        runtime = match (&handler.http, &handler.command) {
            (Some(url), None) => {
                let http = HttpHandler::new(url).map_err(|e| fail(format!("handler.http: {e}")))?;
                if handler.batch {
                    runtime.batch_handler(group, http)
                } else {
                    runtime.handler(group, http)
                }
            }
            (None, Some(argv)) if !argv.is_empty() => {
                let env = Environment::from_names(&handler.env);
                match handler.mode {
                    CommandMode::PerMessage => runtime.handler(
                        group,
                        CommandHandler::new(argv.clone(), children.clone()).with_environment(env),
                    ),
                    CommandMode::LongLived => runtime.handler(
                        group,
                        ProcessHandler::new(argv.clone(), children.clone()).with_environment(env),
                    ),
                }
            }
            _ => {
                return Err(fail(
                    "handler: exactly one of `http` and `command` (a program and its arguments)"
                        .to_owned(),
                ))
            }
        };
    }
    Ok(runtime)
}
