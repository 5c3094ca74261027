//! One module per group of commands; [`run`] sends each to its own.

mod config;
mod dashboard;
mod look;
mod queues;
mod redrive;
mod rekey;
mod send;
mod serve;
mod transfer;
mod work;

use crate::args::{Cli, Command, ConfigCommand, Output};
use crate::error::CliError;
use crate::interrupt::Interrupt;
use crate::open;
use ebbflow::QueueBackend;
use std::sync::Arc;

/// What every command that talks to a backend gets.
pub struct Ctx {
    /// The open backend.
    pub backend: Arc<dyn QueueBackend>,
    /// Table or JSON.
    pub output: Output,
    /// Ctrl-C.
    pub interrupt: Interrupt,
}

impl Ctx {
    /// Whether output is for scripts.
    pub fn json(&self) -> bool {
        self.output == Output::Json
    }
}

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Config(ConfigCommand::Check { diff: false }) => {
            return config::check(&cli.config, cli.output)
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "ebbflow", &mut std::io::stdout());
            return Ok(());
        }
        _ => {}
    }
    let config = open::load(&cli.config)?;
    match cli.command {
        Command::Work => return work::work(config).await,
        Command::Serve => return serve::serve(config).await,
        Command::Dashboard { listen, base_path } => {
            return dashboard::dashboard(config, listen, &base_path).await
        }
        _ => {}
    }
    let ctx = Ctx {
        backend: open::backend(&config).await?,
        output: cli.output,
        interrupt: Interrupt::listen(),
    };
    if let Command::Config(ConfigCommand::Check { diff: true }) = cli.command {
        return config::diff(&ctx, &cli.config, &config).await;
    }
    let declared = |queue: &str| config.queues.contains_key(queue);
    let result = run_on_backend(&ctx, cli.command, &config).await;
    // A queue the file declares but the engine lacks: say how to make it.
    match result {
        Err(CliError::Queue {
            context,
            source: ebbflow::QueueError::QueueDoesNotExist(queue),
        }) if declared(&queue) => Err(CliError::Input(format!(
            "{context}: queue `{queue}` does not exist; {} declares it: create it with \
             `ebbflow --config {} queue create {queue}` (or start `ebbflow work` or `ebbflow \
             serve`, which create what the file declares)",
            cli.config.display(),
            cli.config.display()
        ))),
        other => other,
    }
}

/// The commands that work on the backend the config names.
async fn run_on_backend(
    ctx: &Ctx,
    command: Command,
    config: &ebbflow::config::Config,
) -> Result<(), CliError> {
    match command {
        Command::Queues { prefix, watch } => {
            queues::list(ctx, prefix.as_deref(), watch.as_deref()).await
        }
        Command::Queue(command) => queues::queue(ctx, command, config).await,
        Command::Purge { queue, yes } => queues::purge(ctx, &queue, yes).await,
        Command::Pause { queue, reason } => queues::pause(ctx, &queue, reason).await,
        Command::Resume { queue } => queues::resume(ctx, &queue).await,
        Command::Rekey { queues } => rekey::rekey(ctx, queues).await,
        Command::Send(args) => send::send(ctx, args).await,
        Command::Peek { queue, limit } => look::peek(ctx, &queue, limit).await,
        Command::Dlq { queue, limit } => look::dlq(ctx, &queue, limit).await,
        Command::Receive {
            queue,
            max,
            wait,
            visibility_timeout,
            delete,
        } => {
            look::receive(
                ctx,
                &queue,
                max,
                &wait,
                visibility_timeout.as_deref(),
                delete,
            )
            .await
        }
        Command::Redrive(args) => redrive::redrive(ctx, args).await,
        Command::Export { queue, file } => transfer::export(ctx, &queue, file.as_deref()).await,
        Command::Import {
            queue,
            file,
            restart,
            keep_deduplication_ids,
        } => transfer::import(ctx, &queue, &file, restart, keep_deduplication_ids).await,
        Command::Config(_)
        | Command::Completions { .. }
        | Command::Work
        | Command::Serve
        | Command::Dashboard { .. } => Ok(()),
    }
}

/// Reads a duration argument, naming the flag when it is wrong.
pub fn duration_arg(flag: &str, text: &str) -> Result<std::time::Duration, CliError> {
    ebbflow::config::parse_duration(text)
        .map_err(|e| CliError::Usage(format!("{flag} {text}: {e}")))
}

/// Asks a yes/no question on the terminal; without one, refuses (`--yes` is the way).
pub fn confirm(question: &str) -> Result<bool, CliError> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(format!(
            "{question} — no terminal to ask on; pass --yes to confirm"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| CliError::Io {
            path: "stdin".into(),
            source,
        })?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Prints what a per-line send (`send --lines`, `import`) did, and fails
/// naming the lines that were not sent, if any.
pub fn report_lines(
    ctx: &Ctx,
    queue: &str,
    verb: &str,
    preposition: &str,
    done: u64,
    failures: &[(String, ebbflow::QueueError)],
) -> Result<(), CliError> {
    if ctx.json() {
        let failed: Vec<serde_json::Value> = failures
            .iter()
            .map(|(line, e)| serde_json::json!({"line": line, "code": e.code(), "error": e.to_string()}))
            .collect();
        crate::output::json(&serde_json::json!({"queue": queue, verb: done, "failed": failed}));
    } else {
        println!(
            "{verb} {} {preposition} {queue}",
            crate::output::plural(done as usize, "message")
        );
        for (line, e) in failures {
            println!("  line {line} was not sent: {} {e}", e.code());
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Input(format!(
            "{} lines were not sent",
            failures.len()
        )))
    }
}

/// Makes received messages visible again at once (visibility 0), ten at a
/// time; a handle that went stale meanwhile is skipped (its message is
/// visible already, or someone else holds it).
pub async fn release(ctx: &Ctx, queue: &str, handles: Vec<String>) -> Result<(), CliError> {
    ebbflow_redrive::release(ctx.backend.as_ref(), queue, handles)
        .await
        .map_err(|e| CliError::Queue {
            context: e.context,
            source: e.source,
        })
}
