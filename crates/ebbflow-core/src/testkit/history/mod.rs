//! A history checker in the spirit of Jepsen: record every operation of a run
//! (faults included), then decide from the history alone whether the queue
//! and the runtime kept their promises.
//!
//! Three pieces:
//! - [`History`]: where events go (memory, or a file per process, so that a
//!   worker killed with SIGKILL keeps what it wrote);
//! - [`Recorded`]: a backend wrapper that records each acknowledged send,
//!   each received message (with its handle, receive count and visibility),
//!   each visibility change and each delete, with whether it was acknowledged;
//! - [`check`]: the checker. The test's handler adds
//!   [`History::started`] / [`History::ended`], the harness adds
//!   [`History::crashed`] when it kills a worker, and the final drain of the
//!   dead-letter queue adds [`History::dead_lettered`].
//!
//! ```
//! use ebbflow_core::testkit::history::{check, Clock, History, Recorded, Rules};
//! # async fn demo(inner: std::sync::Arc<dyn ebbflow_core::QueueBackend>) {
//! let history = History::in_memory(Clock::Tokio);
//! let backend = Recorded::wrap(inner, history.clone(), "orders");
//! // … run producers and a runtime on `backend`; the handler calls
//! // history.started(..) and history.ended(..) …
//! let verdict = check(&history.events(), Rules::default());
//! verdict.assert_ok();
//! # }
//! ```

mod check;
mod recorder;

pub use check::{check, Rules, Verdict};
pub use recorder::Recorded;

use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One thing that happened, at `at` milliseconds of the run's clock, in worker `worker`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it was recorded (for calls: when the call returned).
    pub at: u64,
    /// The process (or simulated process) that did it.
    pub worker: u32,
    /// What happened.
    pub kind: EventKind,
}

/// What happened. Messages are known by their body (`key`): tests send unique bodies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A send the queue acknowledged.
    Sent {
        /// The body.
        key: String,
        /// Its FIFO message group.
        group: Option<String>,
    },
    /// A message a receive returned.
    Received {
        /// The body.
        key: String,
        /// The receipt handle of this receive.
        handle: String,
        /// `ApproximateReceiveCount`.
        receive_count: u32,
        /// When the receive was asked for.
        asked_at: u64,
        /// The visibility timeout it was received with, in ms.
        visibility_ms: u64,
    },
    /// A visibility change of one receive (a heartbeat or a release).
    VisibilityChanged {
        /// The receipt handle.
        handle: String,
        /// When it was asked for.
        asked_at: u64,
        /// The new timeout, from `asked_at`, in ms.
        timeout_ms: u64,
        /// Whether the queue acknowledged it (if not, it may or may not have happened).
        ok: bool,
    },
    /// A delete of one receive.
    Deleted {
        /// The receipt handle.
        handle: String,
        /// Whether the queue acknowledged it.
        ok: bool,
    },
    /// The handler started on a received message.
    Started {
        /// The body.
        key: String,
        /// The receive it works on.
        handle: String,
    },
    /// The handler ended.
    Ended {
        /// The body.
        key: String,
        /// The receive it worked on.
        handle: String,
        /// Whether it succeeded.
        ok: bool,
    },
    /// Found in the dead-letter queue at the end, with its `ebbflow.reason`.
    DeadLettered {
        /// The body.
        key: String,
        /// The reason attribute, if it had one.
        reason: Option<String>,
    },
    /// The worker died (killed, or cut off as if killed): it does nothing more.
    Crashed,
    /// The run made the engine fail or unreachable, until [`EventKind::OutageEnded`]:
    /// a heartbeat or delete lost meanwhile explains a redelivery.
    OutageBegan,
    /// The outage the run caused is over.
    OutageEnded,
}

/// The clock events are stamped with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Tokio's clock (paused tests: simulated time), from the history's creation.
    Tokio,
    /// Milliseconds since the Unix epoch: for several processes on one machine.
    Wall,
}

#[derive(Debug)]
enum Sink {
    Memory(Mutex<Vec<Event>>),
    File(Mutex<std::fs::File>),
}

/// Where a run's events go. Cheap to clone; clones share the sink.
#[derive(Debug, Clone)]
pub struct History {
    sink: Arc<Sink>,
    clock: Clock,
    base: tokio::time::Instant,
    worker: u32,
}

/// What a file history line starts with.
const LINE: &str = "ebbflow-history ";

impl History {
    /// A history kept in memory, for one process.
    pub fn in_memory(clock: Clock) -> Self {
        Self::with(Sink::Memory(Mutex::new(Vec::new())), clock)
    }

    /// A history appended to `path` (one line per event, written at once, so
    /// a process killed with SIGKILL loses at most the event it was writing).
    pub fn to_file(path: &Path, worker: u32) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let mut h = Self::with(Sink::File(Mutex::new(file)), Clock::Wall);
        h.worker = worker;
        Ok(h)
    }

    fn with(sink: Sink, clock: Clock) -> Self {
        Self {
            sink: Arc::new(sink),
            clock,
            base: tokio::time::Instant::now(),
            worker: 0,
        }
    }

    /// The same history, as seen by worker `worker`.
    pub fn worker(&self, worker: u32) -> Self {
        Self {
            worker,
            ..self.clone()
        }
    }

    /// The worker this view records for.
    pub fn worker_id(&self) -> u32 {
        self.worker
    }

    /// Now, in the history's milliseconds.
    pub fn now(&self) -> u64 {
        match self.clock {
            Clock::Tokio => self.base.elapsed().as_millis() as u64,
            Clock::Wall => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_millis() as u64,
        }
    }

    /// Records `kind` now.
    pub fn record(&self, kind: EventKind) {
        let event = Event {
            at: self.now(),
            worker: self.worker,
            kind,
        };
        match self.sink.as_ref() {
            Sink::Memory(events) => events.lock().unwrap_or_else(|p| p.into_inner()).push(event),
            Sink::File(file) => {
                let Ok(json) = serde_json::to_string(&event) else {
                    return;
                };
                let line = format!("{LINE}{json}\n");
                let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = file.write_all(line.as_bytes()) {
                    eprintln!("history: could not write an event: {e}");
                }
            }
        }
    }

    /// The handler started on `message`.
    pub fn started(&self, message: &crate::ReceivedMessage) {
        self.record(EventKind::Started {
            key: message.body.clone(),
            handle: message.receipt_handle.clone(),
        });
    }

    /// The handler ended on `message`.
    pub fn ended(&self, message: &crate::ReceivedMessage, ok: bool) {
        self.record(EventKind::Ended {
            key: message.body.clone(),
            handle: message.receipt_handle.clone(),
            ok,
        });
    }

    /// `message` was found in the dead-letter queue. Its reason is the
    /// runtime's `ebbflow.reason`, or, for a message the engine moved itself
    /// past `max_receive_count`, the source the engine names.
    pub fn dead_lettered(&self, message: &crate::ReceivedMessage) {
        let reason = match message.attributes.get("ebbflow.reason").map(|v| &v.value) {
            Some(crate::AttributeValue::Text(t)) => Some(t.clone()),
            _ => message
                .system
                .dead_letter_queue_source_arn
                .as_ref()
                .map(|arn| format!("moved by the engine from {arn}")),
        };
        self.record(EventKind::DeadLettered {
            key: message.body.clone(),
            reason,
        });
    }

    /// This worker died.
    pub fn crashed(&self) {
        self.record(EventKind::Crashed);
    }

    /// Records that the run takes the engine down (or restarts it) now.
    pub fn outage_began(&self) {
        self.record(EventKind::OutageBegan);
    }

    /// Records that the outage the run caused is over.
    pub fn outage_ended(&self) {
        self.record(EventKind::OutageEnded);
    }

    /// The events of an in-memory history, in the order recorded.
    pub fn events(&self) -> Vec<Event> {
        match self.sink.as_ref() {
            Sink::Memory(events) => events.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            Sink::File(_) => Vec::new(),
        }
    }

    /// The events in the files of several processes' histories (lines that
    /// are not events, or were cut short by a kill, are skipped).
    pub fn read_files(paths: &[std::path::PathBuf]) -> Vec<Event> {
        let mut events = Vec::new();
        for path in paths {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            events.extend(
                text.lines()
                    .filter_map(|l| l.strip_prefix(LINE))
                    .filter_map(|json| serde_json::from_str::<Event>(json).ok()),
            );
        }
        events
    }
}
