//! What can go wrong, and the exit code each kind gets.

use ebbflow::QueueError;
use std::path::PathBuf;

/// A command's failure. Scripts can trust the exit codes: 1 for an error of
/// the queue, the backend or the input, 2 for a command used wrongly (as clap
/// does for unknown flags), 130 when interrupted by Ctrl-C.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line asks for something that cannot be done as asked.
    #[error("{0}")]
    Usage(String),
    /// The configuration is invalid.
    #[error("{0}")]
    Config(String),
    /// The backend refused or failed.
    #[error("{context}: {source}")]
    Queue {
        /// What the command was doing.
        context: String,
        /// The backend's error, with its SQS code.
        source: QueueError,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of input is not what the command expects.
    #[error("{0}")]
    Input(String),
    /// Ctrl-C stopped the command after it settled what it had started.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl CliError {
    /// The process's exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Interrupted(_) => 130,
            _ => 1,
        }
    }
}

/// Adds what the command was doing to a backend error.
pub trait Context<T> {
    /// `context` names the step, such as "sending to orders".
    fn context(self, context: impl FnOnce() -> String) -> Result<T, CliError>;
}

impl<T> Context<T> for Result<T, QueueError> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, CliError> {
        self.map_err(|source| CliError::Queue {
            context: context(),
            source,
        })
    }
}
