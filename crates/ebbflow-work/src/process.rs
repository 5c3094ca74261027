//! Long-lived handler processes: interpreters start once, not per message.
//!
//! The protocol, one JSON object per line:
//!
//! - ebbflow writes a message to the process's stdin:
//!   `{"id": "…", "body": "…", "queue": "orders", "receive_count": 1, "attempt": 1,
//!   "sent_timestamp": 1700000000000, "group_id": null, "attributes": {…}}`
//! - the process answers on stdout, with the same id:
//!   `{"id": "…", "status": "ok"}`, or `"retry"`, `"throttled"` or `"permanent"`
//!   with an optional `"error": "why"` and `"retry_after": seconds`.
//!
//! Stdout is the protocol's alone: a process logs on stderr (passed through).
//! Each busy worker holds one process; a process idle for a while ends, so
//! the processes follow the pool the autoscaler sizes. A process that dies,
//! answers out of turn or writes something else is replaced, and the message
//! it held is retried.

use crate::children::{Children, Group, Tracked};
use crate::command::command;
use crate::environment::Environment;
use crate::message;
use async_trait::async_trait;
use ebbflow::runtime::{Context, Handler, HandlerError};
use serde::Deserialize;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::time::Instant;

/// The longest answer line read from a process: an answer is an id, a
/// status and an error message; a line past this is not one.
pub const MAX_ANSWER_LINE: u64 = 64 << 10;

/// One line of `stdout`, at most [`MAX_ANSWER_LINE`] bytes; `Ok(None)` at
/// the end of the stream.
async fn answer_line(stdout: &mut BufReader<ChildStdout>) -> Result<Option<String>, String> {
    let mut line = Vec::new();
    let n = (&mut *stdout)
        .take(MAX_ANSWER_LINE + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| e.to_string())?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && n as u64 > MAX_ANSWER_LINE {
        return Err(format!("wrote a line longer than {MAX_ANSWER_LINE} bytes"));
    }
    Ok(Some(String::from_utf8_lossy(&line).trim_end().to_owned()))
}

/// How long a process may sit idle before it ends, unless set otherwise.
pub const DEFAULT_IDLE_FOR: Duration = Duration::from_secs(10);

/// One running process and its pipes.
struct Process {
    /// Dropped with the process (idle too long, lost, replaced): its group
    /// hears SIGTERM, then SIGKILL.
    _group: Group,
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    idle_since: Instant,
    _tracked: Tracked,
    _live: Live,
}

/// Counts a process as live for as long as it exists.
struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Pool {
    argv: Vec<String>,
    env: Environment,
    children: Children,
    idle: Mutex<Vec<Process>>,
    live: Arc<AtomicUsize>,
    started: AtomicUsize,
    idle_for: Duration,
}

impl Pool {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Process>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spawn(&self) -> Result<Process, HandlerError> {
        let program = self.argv.first().map_or("", String::as_str);
        let mut child = command(&self.argv, &self.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| HandlerError::retry(format!("starting {program}: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(HandlerError::retry(format!(
                "{program} started without pipes"
            )));
        };
        self.live.fetch_add(1, Ordering::Relaxed);
        self.started.fetch_add(1, Ordering::Relaxed);
        Ok(Process {
            _group: Group::led_by(child.id()),
            _tracked: self.children.track(child.id()),
            _child: child,
            stdin,
            stdout: BufReader::new(stdout),
            idle_since: Instant::now(),
            _live: Live(self.live.clone()),
        })
    }

    /// Ends the processes idle for longer than `idle_for` (dropping one kills it).
    fn reap(&self) {
        let now = Instant::now();
        self.idle()
            .retain(|p| now.saturating_duration_since(p.idle_since) < self.idle_for);
    }
}

/// A process's answer.
#[derive(Debug, Deserialize)]
struct Answer {
    id: String,
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    retry_after: Option<f64>,
}

impl Answer {
    fn outcome(self, program: &str) -> Result<(), HandlerError> {
        let why = self
            .error
            .unwrap_or_else(|| format!("{program} answered {}", self.status));
        let error = match self.status.as_str() {
            "ok" => return Ok(()),
            "retry" => HandlerError::retry(why),
            "throttled" => HandlerError::throttled(why),
            "permanent" => HandlerError::permanent(why),
            other => {
                return Err(HandlerError::retry(format!(
                "{program} answered status `{other}`; expected ok, retry, throttled or permanent"
            )))
            }
        };
        Err(
            match self.retry_after.filter(|s| s.is_finite() && *s >= 0.0) {
                // A number past any clock (1e300) is as long as a retry may wait.
                Some(secs) => error
                    .with_retry_after(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)),
                None => error,
            },
        )
    }
}

/// Long-lived processes of `argv`, one per busy worker.
///
/// ```no_run
/// # async fn demo() {
/// use ebbflow_work::{Children, ProcessHandler};
/// let handler = ProcessHandler::new(vec!["python3".into(), "orders.py".into()], Children::new());
/// # }
/// ```
pub struct ProcessHandler {
    pool: Arc<Pool>,
}

impl ProcessHandler {
    /// A handler over processes of `argv` (a program and its arguments; not
    /// empty). Called inside a tokio runtime, it also starts the task that
    /// ends idle processes.
    pub fn new(argv: Vec<String>, children: Children) -> Self {
        Self::with_idle_for(argv, children, DEFAULT_IDLE_FOR)
    }

    /// Like [`ProcessHandler::new`], ending processes idle for `idle_for`.
    pub fn with_idle_for(argv: Vec<String>, children: Children, idle_for: Duration) -> Self {
        Self::build(argv, children, idle_for, Environment::minimal())
    }

    fn build(argv: Vec<String>, children: Children, idle_for: Duration, env: Environment) -> Self {
        let pool = Arc::new(Pool {
            argv,
            env,
            children,
            idle: Mutex::new(Vec::new()),
            live: Arc::new(AtomicUsize::new(0)),
            started: AtomicUsize::new(0),
            idle_for,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak: Weak<Pool> = Arc::downgrade(&pool);
            let every = (idle_for / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match weak.upgrade() {
                        Some(pool) => pool.reap(),
                        None => return,
                    }
                }
            });
        }
        Self { pool }
    }

    /// The same handler, its processes starting from `env`. Call it before
    /// the first message: processes already started keep theirs.
    pub fn with_environment(self, env: Environment) -> Self {
        let p = &self.pool;
        Self::build(p.argv.clone(), p.children.clone(), p.idle_for, env)
    }

    /// Processes alive now, busy or idle.
    pub fn processes(&self) -> usize {
        self.pool.live.load(Ordering::Relaxed)
    }

    /// Processes started so far (a replaced process counts again).
    pub fn started(&self) -> usize {
        self.pool.started.load(Ordering::Relaxed)
    }

    /// A shared view of the same pool, for watching it while the runtime owns the handler.
    pub fn watch(&self) -> ProcessHandler {
        ProcessHandler {
            pool: self.pool.clone(),
        }
    }
}

#[async_trait]
impl Handler for ProcessHandler {
    type Message = String;

    async fn handle(&self, body: String, ctx: Context) -> Result<(), HandlerError> {
        let program = self.pool.argv.first().map_or("", String::as_str);
        let idle = self.pool.idle().pop();
        let mut process = match idle {
            Some(p) => p,
            None => self.pool.spawn()?,
        };
        let mut line = message::to_json(&body, &ctx).to_string();
        line.push('\n');
        let lost = |what: &str| {
            HandlerError::retry(format!(
                "the {program} process {what}; it is replaced and the message retried"
            ))
        };
        if process.stdin.write_all(line.as_bytes()).await.is_err()
            || process.stdin.flush().await.is_err()
        {
            return Err(lost("is gone"));
        }
        let answer = match answer_line(&mut process.stdout).await {
            Ok(Some(text)) => text,
            Ok(None) => return Err(lost("ended while handling the message")),
            Err(why) => return Err(lost(&why)),
        };
        let answer: Answer = serde_json::from_str(&answer).map_err(|e| {
            lost(&format!(
                "wrote a line that is not an answer ({e}): {}",
                answer.chars().take(200).collect::<String>()
            ))
        })?;
        if answer.id != ctx.message_id() {
            return Err(lost(&format!(
                "answered for message {} while handling {}",
                answer.id,
                ctx.message_id()
            )));
        }
        let outcome = answer.outcome(program);
        process.idle_since = Instant::now();
        self.pool.idle().push(process);
        outcome
    }
}
