//! `ebbflow config check`.

use crate::args::Output;
use crate::error::CliError;
use crate::{open, output};
use std::path::Path;

/// Loads the config as the runtime would and says what it describes.
pub fn check(path: &Path, out: Output) -> Result<(), CliError> {
    let config = open::load(path)?;
    if out == Output::Json {
        output::json(&serde_json::json!({
            "file": path.display().to_string(),
            "valid": true,
            "backend": config.backend.kind.as_str(),
            "queues": config.queues.keys().collect::<Vec<_>>(),
            "workers": config.workers.keys().collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "{}: valid ({} backend, {} queues, {} worker groups)",
            path.display(),
            config.backend.kind.as_str(),
            config.queues.len(),
            config.workers.len()
        );
    }
    Ok(())
}
