//! A command per message: the body on stdin, the facts in the environment,
//! the exit code the outcome.
//!
//! | exit | outcome |
//! |---|---|
//! | 0 | success: the message is deleted |
//! | 75 (`EX_TEMPFAIL`) | retry |
//! | killed by a signal | retry |
//! | any other | permanent: dead-lettered with the last lines of stderr |

use crate::children::{Children, Group};
use crate::environment::Environment;
use crate::message;
use async_trait::async_trait;
use ebbflow::runtime::{Context, Handler, HandlerError};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// The exit code that asks for a retry (`EX_TEMPFAIL` of sysexits.h).
pub const EXIT_RETRY: i32 = 75;

/// How much of a command's stderr an error keeps: its end.
const STDERR_TAIL: usize = 2048;

/// How long the rest of a command's stderr is read after it exits: a
/// background grandchild that inherited the pipe may hold it open for as
/// long as it runs, and the exit status alone decides.
pub const STDERR_AFTER_EXIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Builds the command for `argv` as every handler process starts: from
/// `env` alone, leading a process group of its own (signalled as a whole by
/// [`Group`](crate::children::Group) and at shutdown).
pub(crate) fn command(argv: &[String], env: &Environment) -> Command {
    let (program, args) = argv
        .split_first()
        .map_or(("", &[][..]), |(p, a)| (p.as_str(), a));
    let mut c = Command::new(program);
    c.args(args).process_group(0);
    env.apply(&mut c);
    c
}

/// The end of a stream, kept as it is read: at most [`STDERR_TAIL`] bytes.
#[derive(Clone, Default)]
pub(crate) struct Tail(Arc<Mutex<Vec<u8>>>);

impl Tail {
    /// Reads `stream` to its end (or until the task reading it is dropped).
    pub(crate) async fn read(self, mut stream: impl AsyncRead + Unpin) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            kept.extend_from_slice(buf.get(..n).unwrap_or_default());
            if kept.len() > STDERR_TAIL {
                let extra = kept.len() - STDERR_TAIL;
                kept.drain(..extra);
            }
        }
    }

    /// Its last few non-empty lines, joined.
    pub(crate) fn text(&self) -> String {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let text = String::from_utf8_lossy(&kept);
        // The last few lines say most; a partial first line would only confuse.
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
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
    env: Environment,
}

impl CommandHandler {
    /// A handler that runs `argv` (a program and its arguments; not empty),
    /// in the minimal environment ([`Environment::minimal`]).
    pub fn new(argv: Vec<String>, children: Children) -> Self {
        Self {
            argv,
            children,
            env: Environment::minimal(),
        }
    }

    /// The same handler, its processes starting from `env`.
    pub fn with_environment(mut self, env: Environment) -> Self {
        self.env = env;
        self
    }
}

#[async_trait]
impl Handler for CommandHandler {
    type Message = String;

    async fn handle(&self, body: String, ctx: Context) -> Result<(), HandlerError> {
        let program = self.argv.first().map_or("", String::as_str);
        let mut c = command(&self.argv, &self.env);
        // Held until the command ends: its attributes' file, when it has one.
        let _file = message::environment(&ctx, &mut c).map_err(|e| {
            HandlerError::retry(format!(
                "writing the attributes of {program}'s message: {e}"
            ))
        })?;
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HandlerError::retry(format!("starting {program}: {e}")))?;
        // Dropped before the command ends (a timeout, a shutdown's end), the
        // group hears SIGTERM, then SIGKILL.
        let mut group = Group::led_by(child.id());
        let _tracked = self.children.track(child.id());
        let tail = Tail::default();
        let reading = child
            .stderr
            .take()
            .map(|s| tokio::spawn(tail.clone().read(s)));
        if let Some(mut stdin) = child.stdin.take() {
            // A command that exits without reading its input is its own business.
            let _ = stdin.write_all(body.as_bytes()).await;
            drop(stdin);
        }
        let status = child
            .wait()
            .await
            .map_err(|e| HandlerError::retry(format!("waiting for {program}: {e}")))?;
        group.disarm();
        if let Some(mut task) = reading {
            if tokio::time::timeout(STDERR_AFTER_EXIT, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        route(program, status, &tail.text())
    }
}
