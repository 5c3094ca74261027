//! Message-move tasks (`StartMessageMoveTask`, `CancelMessageMoveTask`,
//! `ListMessageMoveTasks`): asynchronous redrives, as SQS's are, with their
//! progress. Each runs [`ebbflow_redrive`] in its own task; the listing reads
//! its counts while it runs. Tasks are kept in memory, the ten most recent
//! per source queue (SQS keeps them for 14 days; a restart forgets them, and
//! a task under way at a restart stops with every message in one queue).

use ebbflow_core::{QueueBackend, QueueError};
use ebbflow_redrive::{Progress, Redrive};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// SQS's ceiling on `MaxNumberOfMessagesPerSecond`.
pub const MAX_MOVE_RATE: u32 = 500;

/// Tasks kept per source queue for the listing.
const KEPT_PER_SOURCE: usize = 10;

/// How long a moving message stays hidden in the dead-letter queue.
const MOVE_VISIBILITY: Duration = Duration::from_secs(300);

/// Where a task is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Running,
    Cancelling,
    Completed,
    Cancelled,
    Failed(String),
}

impl Status {
    fn wire(&self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Cancelling => "CANCELLING",
            Status::Completed => "COMPLETED",
            Status::Cancelled => "CANCELLED",
            Status::Failed(_) => "FAILED",
        }
    }
}

/// One task: what it was asked, and what it has done.
struct Task {
    handle: String,
    source_arn: String,
    destination_arn: Option<String>,
    rate: Option<u32>,
    started_ms: u64,
    to_move: u64,
    progress: Progress,
    status: Mutex<Status>,
}

impl Task {
    fn listing(&self) -> Value {
        let status = self.status.lock().clone();
        let mut m = Map::new();
        if status == Status::Running {
            m.insert("TaskHandle".into(), json!(self.handle));
        }
        m.insert("Status".into(), json!(status.wire()));
        m.insert("SourceArn".into(), json!(self.source_arn));
        if let Some(d) = &self.destination_arn {
            m.insert("DestinationArn".into(), json!(d));
        }
        if let Some(rate) = self.rate {
            m.insert("MaxNumberOfMessagesPerSecond".into(), json!(rate));
        }
        m.insert(
            "ApproximateNumberOfMessagesMoved".into(),
            json!(self.progress.moved()),
        );
        m.insert(
            "ApproximateNumberOfMessagesToMove".into(),
            json!(self.to_move),
        );
        if let Status::Failed(why) = &status {
            m.insert("FailureReason".into(), json!(why));
        }
        m.insert("StartedTimestamp".into(), json!(self.started_ms));
        Value::Object(m)
    }
}

/// What `StartMessageMoveTask` asks for, with queue names read from the ARNs.
pub struct MoveRequest {
    /// The dead-letter queue's ARN, as the client sent it.
    pub source_arn: String,
    /// Its name.
    pub source: String,
    /// The destination's ARN and name; `None` sends each message back to its source.
    pub destination: Option<(String, String)>,
    /// Messages per second at most.
    pub rate: Option<u32>,
}

/// The prefix of every task handle: `ebbflow-move-N-SOURCE`.
const HANDLE_PREFIX: &str = "ebbflow-move-";

/// Move tasks running at once on one server, over all its queues.
pub use ebbflow_redrive::MAX_RUNNING;

/// The message-move tasks of one server.
#[derive(Default)]
pub struct MoveTasks {
    by_source: Mutex<HashMap<String, Vec<Arc<Task>>>>,
    next: AtomicU64,
}

/// A task that cannot start, or is not there.
pub enum MoveError {
    /// The queue refused (it does not exist, say).
    Queue(QueueError),
    /// A task already runs on this source.
    AlreadyRunning,
    /// No running task has this handle.
    NoSuchTask,
    /// The source is no queue's dead-letter queue.
    NotADeadLetterQueue,
    /// A move would send messages back into the queue they come from.
    IntoItself,
    /// [`MAX_RUNNING`] tasks run already.
    TooMany,
}

impl From<QueueError> for MoveError {
    fn from(e: QueueError) -> Self {
        MoveError::Queue(e)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl MoveTasks {
    /// Starts a task on `backend` and returns its handle.
    pub async fn start(
        &self,
        backend: Arc<dyn QueueBackend>,
        request: MoveRequest,
    ) -> Result<String, MoveError> {
        let sources = backend
            .list_dead_letter_source_queues(&request.source)
            .await?;
        if sources.is_empty() {
            return Err(MoveError::NotADeadLetterQueue);
        }
        let into_itself = match &request.destination {
            Some((_, destination)) => destination == &request.source,
            None => sources.contains(&request.source),
        };
        if into_itself {
            return Err(MoveError::IntoItself);
        }
        if let Some((_, destination)) = &request.destination {
            backend.get_queue_attributes(destination).await?;
        }
        let to_move = backend.stats(&request.source).await?.visible;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let task = Arc::new(Task {
            handle: format!("{HANDLE_PREFIX}{n}-{}", request.source),
            source_arn: request.source_arn,
            destination_arn: request.destination.as_ref().map(|(arn, _)| arn.clone()),
            rate: request.rate,
            started_ms: now_ms(),
            to_move,
            progress: Progress::default(),
            status: Mutex::new(Status::Running),
        });
        {
            let mut by_source = self.by_source.lock();
            let running = by_source
                .values()
                .flatten()
                .filter(|t| matches!(*t.status.lock(), Status::Running | Status::Cancelling))
                .count();
            if running >= MAX_RUNNING {
                return Err(MoveError::TooMany);
            }
            let tasks = by_source.entry(request.source.clone()).or_default();
            if tasks
                .iter()
                .any(|t| matches!(*t.status.lock(), Status::Running | Status::Cancelling))
            {
                return Err(MoveError::AlreadyRunning);
            }
            tasks.push(task.clone());
            if tasks.len() > KEPT_PER_SOURCE {
                tasks.remove(0);
            }
        }
        let redrive = Redrive {
            to: request.destination.map(|(_, name)| name),
            rate: request.rate.map(f64::from),
            filters: Vec::new(),
            visibility: MOVE_VISIBILITY,
        };
        let handle = task.handle.clone();
        tokio::spawn(async move {
            let result = redrive
                .run(backend.as_ref(), &request.source, &task.progress)
                .await;
            let end = match result {
                Ok(report) if report.stopped => Status::Cancelled,
                Ok(report) if report.failed.is_empty() => Status::Completed,
                Ok(report) => Status::Failed(format!(
                    "{} messages could not be sent: {}",
                    report.failed.len(),
                    report.failed[0].1
                )),
                Err(e) => Status::Failed(e.to_string()),
            };
            tracing::info!(
                task = task.handle,
                status = end.wire(),
                moved = task.progress.moved(),
                "message-move task ended"
            );
            *task.status.lock() = end;
        });
        Ok(handle)
    }

    /// The source queue of the task `handle`, from the registry (never
    /// from the handle's text, which a client writes).
    pub fn source_of(&self, handle: &str) -> Option<String> {
        let by_source = self.by_source.lock();
        by_source
            .iter()
            .find(|(_, tasks)| tasks.iter().any(|t| t.handle == handle))
            .map(|(source, _)| source.clone())
    }

    /// Asks the running task `handle` to stop; returns what it has moved so far.
    pub fn cancel(&self, handle: &str) -> Result<u64, MoveError> {
        let by_source = self.by_source.lock();
        let task = by_source
            .values()
            .flatten()
            .find(|t| t.handle == handle)
            .ok_or(MoveError::NoSuchTask)?;
        let mut status = task.status.lock();
        if *status != Status::Running {
            return Err(MoveError::NoSuchTask);
        }
        *status = Status::Cancelling;
        task.progress.stop();
        Ok(task.progress.moved())
    }

    /// The most recent tasks on `source`, newest first, at most `limit`.
    pub fn list(&self, source: &str, limit: usize) -> Vec<Value> {
        let by_source = self.by_source.lock();
        by_source
            .get(source)
            .map(|tasks| {
                tasks
                    .iter()
                    .rev()
                    .take(limit)
                    .map(|t| t.listing())
                    .collect()
            })
            .unwrap_or_default()
    }
}
