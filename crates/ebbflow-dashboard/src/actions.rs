//! What the dashboard changes: a test message sent, a queue purged, dead
//! letters redriven in the background with progress. Each is checked
//! against the visitor's rules by the caller and written to the audit log.

use ebbflow_core::{MessageAttributeValue, QueueBackend, QueueError, SendMessage};
use ebbflow_redrive::{Filter, Progress, Redrive, Report};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A test message as the send form gives it.
#[derive(Debug, Default)]
pub struct TestMessage {
    /// The body.
    pub body: String,
    /// `NAME=VALUE` lines: string attributes.
    pub attributes: String,
    /// Seconds before it becomes visible.
    pub delay_s: u64,
    /// The FIFO group.
    pub group: String,
    /// The FIFO deduplication id.
    pub deduplication_id: String,
}

impl TestMessage {
    /// The message to send, or what is wrong with the form.
    pub fn to_message(&self) -> Result<SendMessage, QueueError> {
        let mut m = SendMessage::new(self.body.clone()).delay(Duration::from_secs(self.delay_s));
        for line in self
            .attributes
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let Some((name, value)) = line.split_once('=') else {
                return Err(QueueError::invalid(
                    "attributes",
                    format!("`{line}`: one NAME=VALUE a line"),
                ));
            };
            m = m.attribute(name.trim(), MessageAttributeValue::string(value.trim()));
        }
        if !self.group.trim().is_empty() {
            m = m.group_id(self.group.trim());
        }
        if !self.deduplication_id.trim().is_empty() {
            m = m.deduplication_id(self.deduplication_id.trim());
        }
        ebbflow_core::limits::check_producer_attributes(&m)?;
        Ok(m)
    }
}

/// A redrive the dashboard started, as its progress page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RedriveStatus {
    /// Its number, for its page.
    pub id: u64,
    /// The dead-letter queue it empties.
    pub queue: String,
    /// Where the messages go; `None` for each one's source.
    pub to: Option<String>,
    /// Messages per second at most.
    pub rate: Option<f64>,
    /// Who started it.
    pub started_by: String,
    /// When, ms since the Unix epoch.
    pub started_ms: u64,
    /// `running`, `stopping`, `done`, `stopped` or `failed`.
    pub state: &'static str,
    /// Messages moved so far.
    pub moved: u64,
    /// Messages left in the dead-letter queue (filtered out, or no source).
    pub left_alone: u64,
    /// Messages that could not be sent.
    pub failed: u64,
    /// Where the moved messages went, by queue, once it ended.
    pub moved_to: BTreeMap<String, u64>,
    /// Why it failed, or what failed on the way.
    pub problems: Vec<String>,
}

struct Task {
    queue: String,
    to: Option<String>,
    rate: Option<f64>,
    started_by: String,
    started_ms: u64,
    progress: Arc<Progress>,
    outcome: Option<Result<Report, String>>,
}

/// The redrives this process started, the newest [`KEPT`] of them.
#[derive(Default)]
pub struct Redrives {
    tasks: Mutex<(u64, BTreeMap<u64, Task>)>,
}

/// How many finished redrives stay listed.
pub const KEPT: usize = 50;

impl Redrives {
    /// Starts moving `queue`'s messages in the background; its number. At
    /// most [`ebbflow_redrive::MAX_RUNNING`] run at once.
    pub fn start(
        self: &Arc<Self>,
        backend: Arc<dyn QueueBackend>,
        queue: &str,
        redrive: Redrive,
        started_by: &str,
    ) -> Result<u64, QueueError> {
        let progress = Arc::new(Progress::default());
        let task = Task {
            queue: queue.to_owned(),
            to: redrive.to.clone(),
            rate: redrive.rate,
            started_by: started_by.to_owned(),
            started_ms: now_ms(),
            progress: progress.clone(),
            outcome: None,
        };
        let id = {
            let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            let running = tasks.1.values().filter(|t| t.outcome.is_none()).count();
            if running >= ebbflow_redrive::MAX_RUNNING {
                return Err(QueueError::invalid(
                    "redrive",
                    format!(
                        "{} redrives are running already; wait for one to end",
                        ebbflow_redrive::MAX_RUNNING
                    ),
                ));
            }
            tasks.0 += 1;
            let id = tasks.0;
            tasks.1.insert(id, task);
            // Forget the oldest finished ones beyond the limit.
            while tasks.1.len() > KEPT {
                let oldest_done = tasks
                    .1
                    .iter()
                    .find(|(_, t)| t.outcome.is_some())
                    .map(|(id, _)| *id);
                match oldest_done {
                    Some(old) => tasks.1.remove(&old),
                    None => break,
                };
            }
            id
        };
        let this = self.clone();
        let queue = queue.to_owned();
        tokio::spawn(async move {
            let outcome = redrive
                .run(&*backend, &queue, &progress)
                .await
                .map_err(|e| e.to_string());
            match &outcome {
                Ok(report) => tracing::info!(
                    target: "ebbflow::audit",
                    queue = %queue, redrive = id, moved = report.moved(),
                    stopped = report.stopped, "redrive ended"
                ),
                Err(e) => tracing::warn!(
                    target: "ebbflow::audit",
                    queue = %queue, redrive = id, error = %e, "redrive failed"
                ),
            }
            let mut tasks = this.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(task) = tasks.1.get_mut(&id) {
                task.outcome = Some(outcome);
            }
        });
        Ok(id)
    }

    /// Asks a running redrive to stop after the message it is moving;
    /// `false` if there is no such redrive.
    pub fn stop(&self, id: u64) -> bool {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        match tasks.1.get(&id) {
            Some(task) => {
                task.progress.stop();
                true
            }
            None => false,
        }
    }

    /// One redrive's status.
    pub fn status(&self, id: u64) -> Option<RedriveStatus> {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.1.get(&id).map(|t| status(id, t))
    }

    /// The redrives of `queue`, newest first.
    pub fn of_queue(&self, queue: &str) -> Vec<RedriveStatus> {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks
            .1
            .iter()
            .rev()
            .filter(|(_, t)| t.queue == queue)
            .map(|(id, t)| status(*id, t))
            .collect()
    }
}

fn status(id: u64, t: &Task) -> RedriveStatus {
    let p = &t.progress;
    let (state, moved_to, problems) = match &t.outcome {
        None if p.stop_requested() => ("stopping", BTreeMap::new(), Vec::new()),
        None => ("running", BTreeMap::new(), Vec::new()),
        Some(Ok(r)) => {
            let mut problems: Vec<String> = r
                .failed
                .iter()
                .map(|(id, why)| format!("{id}: {why}"))
                .collect();
            problems.extend(
                r.in_both_queues
                    .iter()
                    .map(|m| format!("{m}: sent, but still in the dead-letter queue")),
            );
            let state = if r.stopped { "stopped" } else { "done" };
            (state, r.moved_to.clone(), problems)
        }
        Some(Err(e)) => ("failed", BTreeMap::new(), vec![e.clone()]),
    };
    RedriveStatus {
        id,
        queue: t.queue.clone(),
        to: t.to.clone(),
        rate: t.rate,
        started_by: t.started_by.clone(),
        started_ms: t.started_ms,
        state,
        moved: p.moved(),
        left_alone: p.left_alone(),
        failed: p.failed(),
        moved_to,
        problems,
    }
}

/// The redrive a form asks for: `to` (empty: each message's source),
/// `rate` (empty: no limit), `filter` lines (`reason=…`, `error=…`,
/// `source=…`, an attribute), and `ids` (the selected messages, if any).
pub fn redrive_of(
    to: &str,
    rate: &str,
    filters: &str,
    ids: &[String],
) -> Result<Redrive, QueueError> {
    let rate = match rate.trim() {
        "" => None,
        r => match r.parse::<f64>() {
            Ok(r) => {
                ebbflow_redrive::check_rate(r).map_err(|why| QueueError::invalid("rate", why))?;
                Some(r)
            }
            Err(_) => {
                return Err(QueueError::invalid(
                    "rate",
                    format!("`{r}`: a number of messages per second"),
                ))
            }
        },
    };
    let mut parsed = Vec::new();
    for line in filters.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let f: Filter = line.parse().map_err(|e: ebbflow_redrive::FilterError| {
            QueueError::invalid("filter", e.to_string())
        })?;
        parsed.push(f);
    }
    if !ids.is_empty() {
        parsed.push(Filter::ids(ids.iter().map(String::as_str)));
    }
    Ok(Redrive {
        to: Some(to.trim()).filter(|t| !t.is_empty()).map(str::to_owned),
        rate,
        filters: parsed,
        ..Redrive::default()
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
