//! Model-based test: random sequences of operations run against the memory
//! backend and against a small reference model of SQS, on tokio's paused
//! clock; after every step the two must agree.
//!
//! Standard queues promise no order, so there the model checks sets: a receive
//! returns exactly as many messages as are visible (up to the maximum), all of
//! them visible in the model. FIFO queues are checked exactly: a receive takes,
//! group by group, a prefix of each unblocked group's visible messages.

use ebbflow_core::{QueueAttributes, QueueBackend, QueueError, ReceiveRequest, SendMessage};
use ebbflow_memory::MemoryBackend;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
enum Op {
    Send { group: u8, delay: u8 },
    Receive { max: u32, visibility: u8 },
    Delete { pick: usize },
    ChangeVisibility { pick: usize, secs: u8 },
    Advance { millis: u16 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, 0u8..3).prop_map(|(group, delay)| Op::Send { group, delay }),
        3 => (1u32..=10, 0u8..4).prop_map(|(max, visibility)| Op::Receive { max, visibility }),
        2 => any::<usize>().prop_map(|pick| Op::Delete { pick }),
        1 => (any::<usize>(), 0u8..4).prop_map(|(pick, secs)| Op::ChangeVisibility { pick, secs }),
        2 => (0u16..3000).prop_map(|millis| Op::Advance { millis }),
    ]
}

/// One message as the model sees it.
#[derive(Debug)]
struct Msg {
    group: u8,
    visible_at: Instant,
    receive_count: u32,
    handle: Option<String>,
    deleted: bool,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum State {
    Delayed,
    Visible,
    InFlight,
}

struct Model {
    fifo: bool,
    msgs: Vec<Msg>,
    by_id: HashMap<String, usize>,
    /// Every handle ever issued, for deletes and visibility changes (stale ones included).
    handles: Vec<String>,
}

impl Model {
    fn state(&self, i: usize, now: Instant) -> State {
        let m = &self.msgs[i];
        if now >= m.visible_at {
            State::Visible
        } else if m.receive_count == 0 {
            State::Delayed
        } else {
            State::InFlight
        }
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.msgs.len()).filter(|i| !self.msgs[*i].deleted)
    }

    fn count(&self, state: State, now: Instant) -> u64 {
        self.live().filter(|i| self.state(*i, now) == state).count() as u64
    }

    /// FIFO: per group, the messages a receive could take now, in order.
    fn deliverable_prefixes(&self, now: Instant) -> BTreeMap<u8, Vec<usize>> {
        let mut groups: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
        for i in self.live() {
            groups.entry(self.msgs[i].group).or_default().push(i);
        }
        groups
            .into_iter()
            .filter(|(_, order)| order.iter().all(|i| self.state(*i, now) != State::InFlight))
            .map(|(g, order)| {
                let prefix = order
                    .into_iter()
                    .take_while(|i| self.state(*i, now) == State::Visible)
                    .collect();
                (g, prefix)
            })
            .collect()
    }

    fn current(&self, handle: &str) -> Option<usize> {
        self.live()
            .find(|i| self.msgs[*i].handle.as_deref() == Some(handle))
    }
}

async fn run(fifo: bool, ops: Vec<Op>) {
    let backend = MemoryBackend::new();
    let (q, attrs) = if fifo {
        ("model.fifo", QueueAttributes::fifo())
    } else {
        ("model", QueueAttributes::standard())
    };
    backend.create_queue(q, attrs).await.expect("create queue");
    let mut model = Model {
        fifo,
        msgs: Vec::new(),
        by_id: HashMap::new(),
        handles: Vec::new(),
    };
    for (step, op) in ops.into_iter().enumerate() {
        let now = Instant::now();
        match op {
            Op::Send { group, delay } => {
                let mut msg = SendMessage::new(format!("m{}", model.msgs.len()));
                let delay = if fifo { 0 } else { delay };
                if fifo {
                    msg = msg
                        .group_id(format!("g{group}"))
                        .deduplication_id(format!("d{}", model.msgs.len()));
                } else {
                    msg = msg.delay(Duration::from_secs(u64::from(delay)));
                }
                let sent = backend.send(q, msg).await.expect("send");
                model.by_id.insert(sent.message_id, model.msgs.len());
                model.msgs.push(Msg {
                    group,
                    visible_at: now + Duration::from_secs(u64::from(delay)),
                    receive_count: 0,
                    handle: None,
                    deleted: false,
                });
            }
            Op::Receive { max, visibility } => {
                let vis = Duration::from_secs(u64::from(visibility));
                let req = ReceiveRequest::new(max)
                    .wait(Duration::ZERO)
                    .visibility_timeout(vis);
                let got = backend.receive(q, req).await.expect("receive");
                let indexes: Vec<usize> = got
                    .iter()
                    .map(|m| *model.by_id.get(&m.message_id).expect("known message id"))
                    .collect();
                if model.fifo {
                    let prefixes = model.deliverable_prefixes(now);
                    let available: usize = prefixes.values().map(Vec::len).sum();
                    assert_eq!(
                        got.len(),
                        available.min(max as usize),
                        "step {step}: FIFO receive size"
                    );
                    let mut taken: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
                    for i in &indexes {
                        taken.entry(model.msgs[*i].group).or_default().push(*i);
                    }
                    for (g, t) in taken {
                        let prefix = prefixes.get(&g).map(Vec::as_slice).unwrap_or(&[]);
                        assert!(
                            prefix.starts_with(&t),
                            "step {step}: group {g} took {t:?}, not a prefix of {prefix:?}"
                        );
                    }
                } else {
                    let visible = model.count(State::Visible, now) as usize;
                    assert_eq!(
                        got.len(),
                        visible.min(max as usize),
                        "step {step}: receive size"
                    );
                    for i in &indexes {
                        assert_eq!(
                            model.state(*i, now),
                            State::Visible,
                            "step {step}: m{i} was not visible"
                        );
                    }
                }
                for (m, i) in got.iter().zip(indexes) {
                    let mm = &mut model.msgs[i];
                    mm.receive_count += 1;
                    mm.visible_at = now + vis;
                    mm.handle = Some(m.receipt_handle.clone());
                    assert_eq!(
                        m.system.approximate_receive_count, mm.receive_count,
                        "step {step}"
                    );
                    model.handles.push(m.receipt_handle.clone());
                }
            }
            Op::Delete { pick } => {
                if model.handles.is_empty() {
                    continue;
                }
                let handle = model.handles[pick % model.handles.len()].clone();
                backend
                    .delete(q, &handle)
                    .await
                    .expect("delete succeeds for any issued handle");
                if let Some(i) = model.current(&handle) {
                    model.msgs[i].deleted = true;
                }
            }
            Op::ChangeVisibility { pick, secs } => {
                if model.handles.is_empty() {
                    continue;
                }
                let handle = model.handles[pick % model.handles.len()].clone();
                let timeout = Duration::from_secs(u64::from(secs));
                let result = backend.change_visibility(q, &handle, timeout).await;
                match model.current(&handle) {
                    None => assert!(
                        matches!(result, Err(QueueError::ReceiptHandleIsInvalid(_))),
                        "step {step}: stale handle gave {result:?}"
                    ),
                    Some(i) if model.state(i, now) != State::InFlight => {
                        assert_eq!(result, Err(QueueError::MessageNotInflight), "step {step}")
                    }
                    Some(i) => {
                        assert_eq!(result, Ok(()), "step {step}");
                        model.msgs[i].visible_at = now + timeout;
                    }
                }
            }
            Op::Advance { millis } => {
                tokio::time::advance(Duration::from_millis(u64::from(millis))).await;
            }
        }
        let now = Instant::now();
        let stats = backend.stats(q).await.expect("stats");
        let want = (
            model.count(State::Visible, now),
            model.count(State::InFlight, now),
            model.count(State::Delayed, now),
        );
        assert_eq!(
            (stats.visible, stats.in_flight, stats.delayed),
            want,
            "step {step}: stats"
        );
    }
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("tokio runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn standard_queue_agrees_with_model(ops in prop::collection::vec(op(), 1..80)) {
        paused_runtime().block_on(run(false, ops));
    }

    #[test]
    fn fifo_queue_agrees_with_model(ops in prop::collection::vec(op(), 1..80)) {
        paused_runtime().block_on(run(true, ops));
    }
}
