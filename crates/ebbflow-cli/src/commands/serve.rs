//! `ebbflow serve`: the SQS API over the configured backend.

use crate::error::CliError;
use ebbflow::config::{Config, ServerAuth};
use ebbflow::runtime::{init_logging, shutdown_signal};
use ebbflow_dashboard::Dashboard;
use ebbflow_server::{Api, Key, Mount, Server};
use hyper::body::{Bytes, Incoming};
use std::collections::HashMap;
use std::sync::Arc;

/// The dashboard, served by the SQS API's listener under its path.
struct Ui(Dashboard);

impl Mount for Ui {
    fn call(
        &self,
        req: hyper::Request<Incoming>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = hyper::Response<http_body_util::Full<Bytes>>>
                + Send
                + '_,
        >,
    > {
        Box::pin(self.0.handle(req))
    }
}

/// Each key with its rules, and its secret read from its file or environment variable.
pub(crate) fn secrets(config: &Config) -> Result<Option<HashMap<String, Key>>, CliError> {
    let keys = &config.server.keys;
    if keys.is_empty() {
        return Ok(None);
    }
    let mut out = HashMap::new();
    for (name, key) in keys {
        let secret = match (&key.secret_file, &key.secret_env) {
            (Some(path), _) => std::fs::read_to_string(path)
                .map_err(|e| {
                    CliError::Config(format!(
                        "server.keys.{name}.secret_file {}: {e}",
                        path.display()
                    ))
                })?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            (None, Some(var)) => std::env::var(var).map_err(|_| {
                CliError::Config(format!("server.keys.{name}.secret_env: ${var} is not set"))
            })?,
            (None, None) => String::new(),
        };
        if secret.is_empty() {
            return Err(CliError::Config(format!(
                "server.keys.{name}: the secret is empty"
            )));
        }
        let rules = Key {
            secret,
            actions: key.actions.clone(),
            queues: key.queues.clone(),
        };
        out.insert(key.access_key_id.clone(), rules);
    }
    Ok(Some(out))
}

/// Serves until SIGINT or SIGTERM. With `[server.keys]`, every request must
/// carry a valid AWS Signature Version 4; without keys it starts only when
/// `[server] auth = "none"` says running open is meant.
pub async fn serve(config: Config) -> Result<(), CliError> {
    init_logging(&config.log).map_err(|e| CliError::Config(e.to_string()))?;
    let s = &config.server;
    let keys = secrets(&config)?;
    if keys.is_none() && s.auth != Some(ServerAuth::None) {
        return Err(CliError::Config(
            "server.auth: no [server.keys.NAME] to verify signatures with; add keys \
             (access_key_id, and secret_file or secret_env), or set [server] auth = \"none\" \
             to serve every request unchecked (and keep server.listen on loopback)"
                .to_owned(),
        ));
    }
    // In-process queues are fine here: this process holds them for its clients.
    let backend = crate::open::serving(&config).await?;
    // The queues the file declares, made so before the first client comes.
    ebbflow::runtime::declare_queues(backend.as_ref(), &config)
        .await
        .map_err(|e| CliError::Config(e.to_string()))?;
    let mut api = Api::new(backend.clone());
    api.account_id = s.account_id.clone();
    api.region = s.region.clone();
    api.advertised_url = s.advertised_url.clone();
    api.keys = keys.clone();
    api.https = s.tls_cert.is_some();
    let mut server = Server::bind(s.listen, api).await.map_err(|e| {
        CliError::Config(format!(
            "server.listen: cannot listen on {}: {e} (set another address, or port 0 for any free port)",
            s.listen
        ))
    })?
    .with_limits(ebbflow_server::Limits {
        max_connections: s.max_connections,
        ..ebbflow_server::Limits::default()
    });
    if !s.dashboard_path.is_empty() {
        let ui = Dashboard::new(backend, &s.dashboard_path)
            .with_keys(keys.clone())
            .with_secure_cookies(s.tls_cert.is_some());
        server = server.mount(&s.dashboard_path, Arc::new(Ui(ui)));
    }
    if let (Some(cert), Some(key)) = (&s.tls_cert, &s.tls_key) {
        server = server
            .with_tls(cert, key)
            .map_err(|e| CliError::Config(format!("server.tls_cert / server.tls_key: {e}")))?;
    }
    let scheme = if s.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let addr = server
        .local_addr()
        .map_err(|e| CliError::Config(e.to_string()))?;
    match &keys {
        Some(keys) => tracing::info!(
            keys = keys.len(),
            "every request must be signed (AWS Signature Version 4)"
        ),
        None => {
            tracing::warn!(
                "AUTHENTICATION IS OFF ([server] auth = \"none\"): anyone who reaches {addr} can read, send and delete messages"
            );
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "listening beyond loopback with authentication off");
            }
        }
    }
    tracing::info!(%addr, backend = config.backend.kind.as_str(), "serving the SQS API on {scheme}://{addr}");
    if !s.dashboard_path.is_empty() {
        tracing::info!(
            "serving the dashboard on {scheme}://{addr}{}/",
            s.dashboard_path
        );
    }
    server.serve(shutdown_signal()).await;
    Ok(())
}
