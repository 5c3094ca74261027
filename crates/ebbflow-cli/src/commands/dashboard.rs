//! `ebbflow dashboard`: the web dashboard over the configured backend.

use crate::error::CliError;
use ebbflow::config::Config;
use ebbflow::runtime::{init_logging, shutdown_signal};
use ebbflow_dashboard::{Dashboard, Server};
use std::net::SocketAddr;

/// Serves the dashboard on `listen` under `base_path` until SIGINT or
/// SIGTERM; with `[server.keys]`, visitors sign in with one of them.
pub async fn dashboard(
    config: Config,
    listen: SocketAddr,
    base_path: &str,
) -> Result<(), CliError> {
    init_logging(&config.log).map_err(|e| CliError::Config(e.to_string()))?;
    if !base_path.is_empty() && !base_path.starts_with('/') {
        return Err(CliError::Usage(format!(
            "--base-path {base_path}: a path starting with /, for example /ui"
        )));
    }
    let keys = super::serve::secrets(&config)?;
    // The memory backend's queues live in another process: nothing to show.
    let backend = crate::open::backend(&config).await?;
    let dashboard = Dashboard::new(backend, base_path).with_keys(keys.clone());
    let server = Server::bind(listen, dashboard)
        .await
        .map_err(|e| {
            CliError::Config(format!(
                "--listen {listen}: cannot listen there: {e} (another address, or port 0 for any free port)"
            ))
        })?;
    let addr = server
        .local_addr()
        .map_err(|e| CliError::Config(e.to_string()))?;
    match &keys {
        Some(keys) => tracing::info!(
            keys = keys.len(),
            "visitors sign in with a key of [server.keys]"
        ),
        None if !addr.ip().is_loopback() => tracing::warn!(
            %addr,
            "the dashboard is open (no [server.keys]) and listens beyond loopback: anyone who reaches it can send, purge and redrive"
        ),
        None => tracing::info!("the dashboard is open (no [server.keys]): keep it on loopback"),
    }
    tracing::info!(%addr, backend = config.backend.kind.as_str(), "serving the dashboard on http://{addr}{base_path}/");
    server.serve(shutdown_signal()).await;
    Ok(())
}
