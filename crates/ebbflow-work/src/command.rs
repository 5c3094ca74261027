//! A command per message: the body on stdin, the facts in the environment,
//! the exit code the outcome.
//!
//! | exit | outcome |
//! |---|---|
//! | 0 | success: the message is deleted |
//! | 75 (`EX_TEMPFAIL`) | retry |
//! | killed by a signal | retry |
//! | any other | permanent: dead-lettered with the last lines of stderr |

use crate::children::Children;
use crate::message;
use async_trait::async_trait;
use ebbflow::runtime::{Context, Handler, HandlerError};
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// The exit code that asks for a retry (`EX_TEMPFAIL` of sysexits.h).
pub const EXIT_RETRY: i32 = 75;

/// How much of a command's stderr an error keeps: its end.
const STDERR_TAIL: usize = 2048;

/// Builds the command for `argv` as every handler process starts: in a
/// process group of its own, killed if its handling is dropped (a timeout, or
/// the end of the shutdown grace period).
pub(crate) fn command(argv: &[String]) -> Command {
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]).process_group(0).kill_on_drop(true);
    c
}

/// Reads a stream to its end, keeping only the last [`STDERR_TAIL`] bytes.
pub(crate) async fn tail(mut stream: impl AsyncRead + Unpin) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > STDERR_TAIL {
            kept.drain(..kept.len() - STDERR_TAIL);
        }
    }
    let text = String::from_utf8_lossy(&kept);
    // The last few lines say most; a partial first line would only confuse.
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// The outcome of an exit status, with stderr's end as the error.
pub(crate) fn route(program: &str, status: ExitStatus, stderr: &str) -> Result<(), HandlerError> {
    use std::os::unix::process::ExitStatusExt as _;
    let said = if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    };
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(EXIT_RETRY), _) => Err(HandlerError::retry(format!(
            "{program} exited {EXIT_RETRY} (retry){said}"
        ))),
        (Some(code), _) => Err(HandlerError::permanent(format!(
            "{program} exited {code}{said}"
        ))),
        (None, Some(signal)) => Err(HandlerError::retry(format!(
            "{program} was killed by signal {signal}{said}"
        ))),
        (None, None) => Err(HandlerError::retry(format!(
            "{program} ended without an exit code{said}"
        ))),
    }
}

/// Runs `argv` once per message.
///
/// ```no_run
/// use ebbflow_work::{Children, CommandHandler};
/// let handler = CommandHandler::new(vec!["python3".into(), "handlers/orders.py".into()], Children::new());
/// ```
pub struct CommandHandler {
    argv: Vec<String>,
    children: Children,
}

impl CommandHandler {
    /// A handler that runs `argv` (a program and its arguments; not empty).
    pub fn new(argv: Vec<String>, children: Children) -> Self {
        Self { argv, children }
    }
}

#[async_trait]
impl Handler for CommandHandler {
    type Message = String;

    async fn handle(&self, body: String, ctx: Context) -> Result<(), HandlerError> {
        let program = self.argv[0].as_str();
        let mut c = command(&self.argv);
        for (fact, value) in message::facts(&ctx) {
            c.env(message::env_name(fact), value);
        }
        for (name, value) in ctx.attributes() {
            if let Some(text) = value.as_str() {
                c.env(message::attr_env_name(name), text);
            }
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HandlerError::retry(format!("starting {program}: {e}")))?;
        let _tracked = self.children.track(child.id());
        let stderr = child.stderr.take().map(|s| tokio::spawn(tail(s)));
        if let Some(mut stdin) = child.stdin.take() {
            // A command that exits without reading its input is its own business.
            let _ = stdin.write_all(body.as_bytes()).await;
            drop(stdin);
        }
        let status = child
            .wait()
            .await
            .map_err(|e| HandlerError::retry(format!("waiting for {program}: {e}")))?;
        let said = match stderr {
            Some(task) => task.await.unwrap_or_default(),
            None => String::new(),
        };
        route(program, status, &said)
    }
}
