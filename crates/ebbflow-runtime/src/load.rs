//! Reading `ebbflow.toml`, with `EBBFLOW__SECTION__KEY` environment overrides.

use crate::RuntimeError;
use ebbflow_core::config::Config;
use std::collections::HashMap;
use std::path::Path;

/// Loads and validates a configuration file; environment variables named
/// `EBBFLOW__SECTION__KEY` (for example `EBBFLOW__WORKERS__ORDERS__CONCURRENCY=4`)
/// override its keys. Every problem is reported with the file and key path.
pub fn load_config(path: impl AsRef<Path>) -> Result<Config, RuntimeError> {
    load(path.as_ref(), None)
}

/// Like [`load_config`], with the environment given as a map instead of read
/// from the process (for tests and tools).
pub fn load_config_with_env(
    path: impl AsRef<Path>,
    env: HashMap<String, String>,
) -> Result<Config, RuntimeError> {
    load(path.as_ref(), Some(env))
}

fn load(path: &Path, env: Option<HashMap<String, String>>) -> Result<Config, RuntimeError> {
    let fail = |problems: Vec<String>| RuntimeError::Config {
        file: Some(path.to_owned()),
        problems,
    };
    if !path.is_file() {
        return Err(fail(vec!["no such file".to_owned()]));
    }
    let environment = config::Environment::with_prefix("EBBFLOW")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .source(env);
    let merged = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .add_source(environment)
        .build()
        .map_err(|e| fail(vec![e.to_string()]))?;
    let config: Config = merged
        .try_deserialize()
        .map_err(|e| fail(vec![e.to_string()]))?;
    config
        .validate()
        .map_err(|problems| fail(problems.iter().map(ToString::to_string).collect()))?;
    Ok(config)
}
