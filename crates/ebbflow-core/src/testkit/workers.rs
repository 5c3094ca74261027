//! Several worker processes on one queue of a shared engine (Redis,
//! PostgreSQL): the test binary runs itself again as each worker.
//!
//! The parent fills a queue, starts `children` copies of the test binary,
//! each running one ignored test (`child_test`) that calls [`consume`], and
//! checks with [`check`] what they report: every message processed, and none
//! twice unless its visibility timeout had expired in between. Each process
//! also writes its history (every call, every processing) to a file, and the
//! parent runs the history checker over all of them ([`Report::violations`]).
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread")]
//! async fn three_workers_share_a_queue() {
//!     let backend = connect().await;
//!     let report = workers::run(backend, "shared", 10_000, 3, "worker_child", &[]).await;
//!     assert_eq!(report.missing, 0);
//! }
//!
//! #[tokio::test(flavor = "multi_thread")]
//! #[ignore = "a worker process of three_workers_share_a_queue"]
//! async fn worker_child() {
//!     let Some(queue) = workers::child_queue() else { return };
//!     workers::consume(connect().await, &queue, 4).await;
//! }
//! ```

use crate::testkit::history::{self, History, Recorded, Rules};
use crate::{
    DeleteBatchEntry, QueueAttributes, QueueBackend, ReceiveRequest, SendBatchEntry, SendMessage,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable that tells a child which queue to consume.
const QUEUE_VAR: &str = "EBBFLOW_TEST_WORKER_QUEUE";

/// The environment variable naming the folder where each child writes its history.
const HISTORY_VAR: &str = "EBBFLOW_TEST_WORKER_HISTORY";

/// What a child prints for each message it processed: body and receive count.
const LINE: &str = "ebbflow-processed ";

/// The queue this process should consume, when it was started as a worker.
pub fn child_queue() -> Option<String> {
    std::env::var(QUEUE_VAR).ok().filter(|q| !q.is_empty())
}

/// A worker: `tasks` concurrent consumers receive in batches of ten, print
/// one line per message, and delete it; they stop once the queue stays empty
/// for two long polls in a row.
pub async fn consume(backend: Arc<dyn QueueBackend>, queue: &str, tasks: usize) {
    // Every call and every processing goes to this process's history file.
    let history = std::env::var(HISTORY_VAR).ok().map(|dir| {
        let path = std::path::Path::new(&dir).join(format!("worker-{}.jsonl", std::process::id()));
        match History::to_file(&path, std::process::id()) {
            Ok(h) => h,
            Err(e) => panic!("history file {}: {e}", path.display()),
        }
    });
    let backend = match &history {
        Some(h) => Recorded::wrap(backend, h.clone(), queue),
        None => backend,
    };
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (b, q, history) = (backend.clone(), queue.to_owned(), history.clone());
        handles.push(tokio::spawn(async move {
            let mut empty = 0;
            let mut out = String::new();
            while empty < 2 {
                let req = ReceiveRequest::new(10).wait(Duration::from_secs(1));
                let got = match b.receive(&q, req).await {
                    Ok(got) => got,
                    Err(e) => panic!("receive: {e}"),
                };
                if got.is_empty() {
                    empty += 1;
                    continue;
                }
                empty = 0;
                out.clear();
                for m in &got {
                    out.push_str(&format!(
                        "{LINE}{} {}\n",
                        m.body, m.system.approximate_receive_count
                    ));
                }
                // Printed before the delete: a message is processed once it was handled,
                // even if the worker dies before acknowledging it.
                print!("{out}");
                if let Some(h) = &history {
                    for m in &got {
                        h.started(m);
                        h.ended(m, true);
                    }
                }
                // One call for the receive's messages, as a runtime's acker
                // deletes: on an engine that commits to disk, ten commits
                // a receive would be most of the run.
                let entries = got
                    .into_iter()
                    .enumerate()
                    .map(|(i, m)| DeleteBatchEntry {
                        id: i.to_string(),
                        receipt_handle: m.receipt_handle,
                    })
                    .collect();
                match b.delete_batch(&q, entries).await {
                    Ok(r) if r.failed.is_empty() => {}
                    Ok(r) => panic!("delete batch: {:?}", r.failed),
                    Err(e) => panic!("delete batch: {e}"),
                }
            }
        }));
    }
    for h in handles {
        if let Err(e) = h.await {
            panic!("a consumer failed: {e}");
        }
    }
}

/// What the workers reported.
#[derive(Debug, Default)]
pub struct Report {
    /// Messages processed, all workers together (duplicates included).
    pub processed: usize,
    /// Messages each worker processed.
    pub per_worker: Vec<usize>,
    /// Messages never processed.
    pub missing: usize,
    /// Messages processed twice although their receive count did not grow
    /// (so their visibility had not expired): the failures this test looks for.
    pub duplicates: usize,
    /// Messages processed again after their visibility expired (allowed).
    pub redeliveries: usize,
    /// What the history checker found wrong in the merged histories of the
    /// parent (its sends) and every worker (receives, deletes, processing).
    pub violations: Vec<String>,
    /// Messages still in the queue (any state) when the workers had ended;
    /// the queue itself is deleted after that count.
    pub left: u64,
}

/// Fills a fresh queue with `n` messages, runs `children` workers (the test
/// binary running `child_test`, with `env` added), and checks their reports.
pub async fn run(
    backend: Arc<dyn QueueBackend>,
    queue: &str,
    n: usize,
    children: usize,
    child_test: &str,
    env: &[(&str, &str)],
) -> Report {
    if let Err(e) = backend
        .create_queue(queue, QueueAttributes::standard())
        .await
    {
        panic!("create {queue}: {e}");
    }
    let dir = std::env::temp_dir().join(format!(
        "ebbflow-history-{}-{}",
        std::process::id(),
        queue.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("history folder {}: {e}", dir.display());
    }
    let parent = match History::to_file(&dir.join("parent.jsonl"), 0) {
        Ok(h) => h,
        Err(e) => panic!("history file: {e}"),
    };
    let unrecorded = backend.clone();
    let backend = Recorded::wrap(backend, parent, queue);
    for start in (0..n).step_by(10) {
        let entries = (start..n.min(start + 10))
            .map(|i| SendBatchEntry {
                id: i.to_string(),
                message: SendMessage::new(i.to_string()),
            })
            .collect();
        match backend.send_batch(queue, entries).await {
            Ok(r) if r.failed.is_empty() => {}
            Ok(r) => panic!("send batch: {:?}", r.failed),
            Err(e) => panic!("send batch: {e}"),
        }
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => panic!("the test binary: {e}"),
    };
    let mut procs = Vec::new();
    for _ in 0..children {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([
            child_test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(QUEUE_VAR, queue)
        .env(HISTORY_VAR, &dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        procs.push(tokio::task::spawn_blocking(move || cmd.output()));
    }
    let mut outputs = Vec::new();
    for p in procs {
        let out = match p.await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => panic!("starting a worker: {e}"),
            Err(e) => panic!("waiting for a worker: {e}"),
        };
        assert!(
            out.status.success(),
            "a worker failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut report = check(n, &outputs);
    let files: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => panic!("history folder {}: {e}", dir.display()),
    };
    let verdict = history::check(&History::read_files(&files), Rules::default());
    assert_eq!(verdict.sent, n, "the parent's sends are in the history");
    report.violations = verdict.violations;
    let _ = std::fs::remove_dir_all(&dir);
    report.left = match unrecorded.stats(queue).await {
        Ok(s) => s.total(),
        Err(e) => panic!("stats of {queue}: {e}"),
    };
    if let Err(e) = unrecorded.delete_queue(queue).await {
        panic!("deleting {queue}: {e}");
    }
    report
}

/// Checks the workers' outputs against messages `0..n`.
pub fn check(n: usize, outputs: &[String]) -> Report {
    let mut report = Report::default();
    let mut seen: HashMap<usize, Vec<u32>> = HashMap::new();
    for out in outputs {
        let mut count = 0;
        // libtest writes `test NAME ... ` before the test's own output, on the same line.
        let lines = out
            .lines()
            .filter_map(|l| l.find(LINE).map(|i| &l[i + LINE.len()..]));
        for line in lines {
            let mut parts = line.split(' ');
            let body = parts.next().and_then(|b| b.parse().ok());
            let receives = parts.next().and_then(|r| r.parse().ok());
            if let (Some(body), Some(receives)) = (body, receives) {
                seen.entry(body).or_default().push(receives);
                count += 1;
            }
        }
        report.per_worker.push(count);
        report.processed += count;
    }
    for i in 0..n {
        match seen.get_mut(&i) {
            None => report.missing += 1,
            Some(counts) => {
                counts.sort_unstable();
                for pair in counts.windows(2) {
                    if pair[0] == pair[1] {
                        report.duplicates += 1;
                    } else {
                        report.redeliveries += 1;
                    }
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_tells_missing_duplicate_and_redelivered_messages() {
        let a = format!("test child ... {LINE}0 1\n{LINE}1 1\nnoise\n{LINE}1 1\n");
        let b = format!("{LINE}2 1\n{LINE}2 2\n");
        let r = check(4, &[a, b]);
        assert_eq!(r.per_worker, vec![3, 2]);
        assert_eq!((r.missing, r.duplicates, r.redeliveries), (1, 1, 1));
    }
}
