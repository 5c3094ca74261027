//! `ebbflow serve`: the SQS API over the configured backend.

use crate::error::CliError;
use ebbflow::config::{Config, ServerAuth};
use ebbflow::runtime::{init_logging, shutdown_signal};
use ebbflow_server::{Api, Server};

/// Serves until SIGINT or SIGTERM. Signatures are not verified yet, so it
/// starts only when `[server] auth = "none"` says that is understood.
pub async fn serve(config: Config) -> Result<(), CliError> {
    init_logging(&config.log).map_err(|e| CliError::Config(e.to_string()))?;
    let s = &config.server;
    if s.auth != Some(ServerAuth::None) {
        return Err(CliError::Config(
            "server.auth: ebbflow serve does not verify AWS signatures yet, so every request \
             would be served unchecked; set [server] auth = \"none\" to accept that (and keep \
             server.listen on loopback)"
                .to_owned(),
        ));
    }
    // In-process queues are fine here: this process holds them for its clients.
    let backend = ebbflow::connect(&config.backend).await.map_err(|e| {
        CliError::Config(format!(
            "opening the {} backend: {e}",
            config.backend.kind.as_str()
        ))
    })?;
    let api = Api {
        backend,
        account_id: s.account_id.clone(),
        region: s.region.clone(),
        advertised_url: s.advertised_url.clone(),
    };
    let server = Server::bind(s.listen, api).await.map_err(|e| {
        CliError::Config(format!(
            "server.listen: cannot listen on {}: {e} (set another address, or port 0 for any free port)",
            s.listen
        ))
    })?;
    let addr = server
        .local_addr()
        .map_err(|e| CliError::Config(e.to_string()))?;
    tracing::warn!(
        "AUTHENTICATION IS OFF ([server] auth = \"none\"): anyone who reaches {addr} can read, send and delete messages"
    );
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening beyond loopback with authentication off");
    }
    tracing::info!(%addr, backend = config.backend.kind.as_str(), "serving the SQS API on http://{addr}");
    server.serve(shutdown_signal()).await;
    Ok(())
}
