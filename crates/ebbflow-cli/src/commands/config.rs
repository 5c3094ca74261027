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

/// `ebbflow config check --diff`: the file checked, then each declared
/// queue compared with the engine's, changing nothing. Exit 1 when they differ.
pub async fn diff(
    ctx: &super::Ctx,
    path: &Path,
    config: &ebbflow::config::Config,
) -> Result<(), CliError> {
    let differences = ebbflow::runtime::differences(ctx.backend.as_ref(), config)
        .await
        .map_err(|e| CliError::Config(e.to_string()))?;
    if ctx.json() {
        let list: Vec<serde_json::Value> = differences
            .iter()
            .map(|d| {
                serde_json::json!({"queue": d.queue, "attribute": d.attribute,
                                   "engine": d.engine, "file": d.file})
            })
            .collect();
        output::json(&serde_json::json!({
            "file": path.display().to_string(),
            "valid": true,
            "differences": list,
        }));
    } else if differences.is_empty() {
        println!(
            "{}: valid; its {} queues are as the engine has them",
            path.display(),
            config.queues.len()
        );
    } else {
        println!("{}: valid; the engine differs:", path.display());
        for d in &differences {
            println!("  {d}");
        }
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(CliError::Input(format!(
            "{} differences between {} and the engine; `ebbflow work` or `ebbflow serve` \
             brings the engine to the file at start",
            differences.len(),
            path.display()
        )))
    }
}
