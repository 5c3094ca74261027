//! `ebbflow work`: the runtime, with handlers from the config.

use crate::error::CliError;
use crate::open;
use ebbflow::config::Config;
use ebbflow::runtime::{init_logging, shutdown_signal, Runtime};
use ebbflow_work::Children;

/// Runs every configured handler until SIGINT or SIGTERM, then shuts down:
/// the handler processes get SIGTERM and the grace period to finish.
pub async fn work(config: Config) -> Result<(), CliError> {
    init_logging(&config.log).map_err(|e| CliError::Config(e.to_string()))?;
    if config.workers.is_empty() {
        return Err(CliError::Config(
            "no [workers.NAME] with a `handler` in the config: nothing to run".to_owned(),
        ));
    }
    let backend = open::backend(&config).await?;
    let children = Children::new();
    let runtime = ebbflow_work::register(&config, Runtime::new(config.clone(), backend), &children)
        .map_err(|e| CliError::Config(e.to_string()))?;
    let running = runtime
        .start()
        .await
        .map_err(|e| CliError::Config(e.to_string()))?;
    if let Some(addr) = running.metrics_addr() {
        tracing::info!(%addr, "serving metrics on http://{addr}/metrics");
    }
    shutdown_signal().await;
    tracing::info!(
        processes = children.count(),
        grace = ?config.runtime.shutdown_grace.0,
        "shutting down: handler processes get SIGTERM and the grace period"
    );
    children.terminate_all();
    running.shutdown().await;
    Ok(())
}
