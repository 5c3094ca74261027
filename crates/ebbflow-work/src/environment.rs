//! What a handler process inherits: a clean environment, not ebbflow's.
//!
//! ebbflow's own environment holds what handlers must not see: the
//! `EBBFLOW__*` overrides (where a database URL with its password goes), the
//! SQLite encryption key's variable, cloud credentials. A child gets `PATH`,
//! `HOME`, `LANG`, `LC_*` and `TZ` from ebbflow's, the message's
//! `EBBFLOW_*` variables, and what `[workers.NAME.handler] env` names: a
//! `NAME` passed through from ebbflow's environment, or `NAME=value` set.

use std::ffi::OsString;
use tokio::process::Command;

/// Variables every child gets from ebbflow's environment, when set.
const PASSED: [&str; 4] = ["PATH", "HOME", "LANG", "TZ"];

/// The environment handler processes start with.
///
/// ```
/// let env = ebbflow_work::Environment::from_names(&["DATABASE_URL".into(), "MODE=fast".into()]);
/// assert!(env.vars().iter().any(|(k, v)| k == "MODE" && v == "fast"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: Vec<(OsString, OsString)>,
}

impl Environment {
    /// `PATH`, `HOME`, `LANG`, `LC_*` and `TZ` from this process, and each
    /// of `names`: `NAME` passed through (if set here), `NAME=value` set.
    pub fn from_names(names: &[String]) -> Self {
        let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| {
                k.to_str()
                    .is_some_and(|k| PASSED.contains(&k) || k.starts_with("LC_"))
            })
            .collect();
        for entry in names {
            match entry.split_once('=') {
                Some((name, value)) => vars.push((name.into(), value.into())),
                None => {
                    if let Some(value) = std::env::var_os(entry) {
                        vars.push((entry.into(), value));
                    }
                }
            }
        }
        Self { vars }
    }

    /// The minimal environment: `PATH`, `HOME`, `LANG`, `LC_*` and `TZ`.
    pub fn minimal() -> Self {
        Self::from_names(&[])
    }

    /// The variables, as `(name, value)` (lossy where not UTF-8), for a look.
    pub fn vars(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    /// Starts `command` from this environment alone.
    pub(crate) fn apply(&self, command: &mut Command) {
        command.env_clear();
        command.envs(self.vars.iter().map(|(k, v)| (k, v)));
    }
}
