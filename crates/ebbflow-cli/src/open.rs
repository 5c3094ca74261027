//! From the config file to an open backend.

use crate::error::CliError;
use ebbflow::config::{BackendKind, Config};
use ebbflow::QueueBackend;
use std::path::Path;
use std::sync::Arc;

/// Loads and validates the config as the runtime does (file plus
/// `EBBFLOW__SECTION__KEY` overrides), with the same messages.
pub fn load(path: &Path) -> Result<Config, CliError> {
    ebbflow::runtime::load_config(path).map_err(|e| {
        let hint = if path.is_file() {
            ""
        } else {
            " (pass --config FILE or set EBBFLOW_CONFIG)"
        };
        CliError::Config(format!("{e}{hint}"))
    })
}

/// Opens the backend `[backend]` names. The memory backend lives inside one
/// process, so a separate command has nothing to open: that is an error that says so.
pub async fn backend(config: &Config) -> Result<Arc<dyn QueueBackend>, CliError> {
    if config.backend.kind == BackendKind::Memory {
        return Err(CliError::Config(
            "backend.kind = \"memory\": the memory backend lives inside the process that \
             created it, so ebbflow has nothing to open; use sqlite, redis, postgres or sqs"
                .to_owned(),
        ));
    }
    serving(config).await
}

/// Opens the backend `[backend]` names for a command that serves it to
/// others (`ebbflow serve`), the memory backend included: that process
/// then holds the queues for its clients.
pub async fn serving(config: &Config) -> Result<Arc<dyn QueueBackend>, CliError> {
    ebbflow::connect(&config.backend).await.map_err(|e| {
        CliError::Config(format!(
            "opening the {} backend: {e}",
            config.backend.kind.as_str()
        ))
    })
}
