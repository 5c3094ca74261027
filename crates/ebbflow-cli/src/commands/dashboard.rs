//! `ebbflow dashboard`: the web dashboard over the configured backend.

use crate::error::CliError;
use ebbflow::config::Config;
use ebbflow::runtime::{init_logging, shutdown_signal};
use ebbflow_dashboard::{Dashboard, Server};
use std::net::SocketAddr;

/// Serves the dashboard on `listen` under `base_path` until SIGINT or SIGTERM.
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
    // The memory backend's queues live in another process: nothing to show.
    let backend = crate::open::backend(&config).await?;
    let server = Server::bind(listen, Dashboard::new(backend, base_path))
        .await
        .map_err(|e| {
            CliError::Config(format!(
                "--listen {listen}: cannot listen there: {e} (another address, or port 0 for any free port)"
            ))
        })?;
    let addr = server
        .local_addr()
        .map_err(|e| CliError::Config(e.to_string()))?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the dashboard has no access control yet and listens beyond loopback");
    }
    tracing::info!(%addr, backend = config.backend.kind.as_str(), "serving the dashboard on http://{addr}{base_path}/");
    server.serve(shutdown_signal()).await;
    Ok(())
}
