//! Structured logs: `[log] format` and `level`, or `RUST_LOG`.

use crate::RuntimeError;
use ebbflow_core::config::{LogConfig, LogFormat};
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the process's log subscriber as `[log]` says: `pretty` or `json`
/// lines on stderr, filtered by `RUST_LOG` when it is set, else by `level`.
/// Each message is logged inside a `message` span carrying its queue, message
/// id and receive count; bodies are never logged at `info` or above.
///
/// Returns `Ok(false)` when the process has a subscriber already (it is kept).
///
/// ```no_run
/// # fn demo() -> Result<(), ebbflow_runtime::RuntimeError> {
/// let config = ebbflow_runtime::load_config("config/ebbflow.toml")?;
/// ebbflow_runtime::init_logging(&config.log)?;
/// # Ok(()) }
/// ```
pub fn init_logging(config: &LogConfig) -> Result<bool, RuntimeError> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let subscriber = build(config, std::io::stderr, ansi)?;
    Ok(tracing::subscriber::set_global_default(subscriber).is_ok())
}

/// The subscriber [`init_logging`] installs, writing to `writer`: for tests
/// and for programs that compose their own.
pub fn log_subscriber<W>(
    config: &LogConfig,
    writer: W,
) -> Result<Box<dyn Subscriber + Send + Sync>, RuntimeError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    build(config, writer, false)
}

fn build<W>(
    config: &LogConfig,
    writer: W,
    ansi: bool,
) -> Result<Box<dyn Subscriber + Send + Sync>, RuntimeError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .map_err(|e| problem(format!("RUST_LOG: `{directives}` is not a log filter: {e}")))?,
        _ => EnvFilter::try_new(&config.level).map_err(|e| {
            problem(format!(
                "log.level: `{}` is not a log filter such as `info` or `info,ebbflow_runtime=debug`: {e}",
                config.level
            ))
        })?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    Ok(match config.format {
        LogFormat::Pretty => Box::new(builder.finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
    })
}

fn problem(text: String) -> RuntimeError {
    RuntimeError::Config {
        file: None,
        problems: vec![text],
    }
}
