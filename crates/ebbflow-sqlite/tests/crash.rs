//! Crash safety: a child process sends, receives and deletes under load and
//! is killed with SIGKILL at a random moment, several times. After each kill
//! the database is reopened and drained, and the test checks that
//!
//! - every send the child saw succeed is still there, or was being deleted;
//! - no delete the child saw succeed comes back;
//! - messages in flight at the kill come back when their visibility timeout
//!   ends (the drain runs after the timeout, on tokio's paused clock).
//!
//! The child is this test binary again, running the ignored `crash_child`
//! test; it writes what it saw succeed to log files, one `write` per batch,
//! which a SIGKILL cannot tear.

use ebbflow_core::{
    DeleteBatchEntry, QueueAttributes, QueueBackend, ReceiveRequest, SendBatchEntry, SendMessage,
};
use ebbflow_sqlite::{SqliteBackend, SqliteOptions};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const QUEUE: &str = "crash";
const VISIBILITY: Duration = Duration::from_secs(5);
const ROUNDS: u32 = 5;

fn attributes() -> QueueAttributes {
    QueueAttributes::standard().with_visibility_timeout(VISIBILITY)
}

/// Appends lines to a log with one `write` call.
fn log(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log");
    file.write_all(text.as_bytes()).expect("write log");
}

fn read_log(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

struct Logs {
    sent: PathBuf,
    deleting: PathBuf,
    deleted: PathBuf,
}

impl Logs {
    fn in_dir(dir: &Path, round: &str) -> Self {
        Self {
            sent: dir.join(format!("sent-{round}.log")),
            deleting: dir.join(format!("deleting-{round}.log")),
            deleted: dir.join(format!("deleted-{round}.log")),
        }
    }
}

/// The child's workload: two producers and two consumers until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the crash test's child process; run by crash_test"]
async fn crash_child() {
    let dir = PathBuf::from(std::env::var("EBBFLOW_CRASH_DIR").expect("EBBFLOW_CRASH_DIR"));
    let round = std::env::var("EBBFLOW_CRASH_ROUND").expect("EBBFLOW_CRASH_ROUND");
    let backend = std::sync::Arc::new(
        SqliteBackend::open(&SqliteOptions::new(dir.join("queues.db"))).expect("open"),
    );
    backend
        .create_queue(QUEUE, attributes())
        .await
        .expect("create");
    let logs = std::sync::Arc::new(Logs::in_dir(&dir, &round));
    let mut tasks = Vec::new();
    for producer in 0..2 {
        let (backend, logs, round) = (backend.clone(), logs.clone(), round.clone());
        tasks.push(tokio::spawn(async move {
            for batch in 0u64.. {
                let bodies: Vec<String> = (0..10)
                    .map(|i| format!("r{round}-p{producer}-{batch}-{i}"))
                    .collect();
                let entries = bodies
                    .iter()
                    .enumerate()
                    .map(|(i, b)| SendBatchEntry {
                        id: i.to_string(),
                        message: SendMessage::new(b.clone()),
                    })
                    .collect();
                let result = backend.send_batch(QUEUE, entries).await.expect("send");
                assert!(result.failed.is_empty());
                log(&logs.sent, &bodies);
            }
        }));
    }
    for _ in 0..2 {
        let (backend, logs) = (backend.clone(), logs.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let request = ReceiveRequest::new(10).wait(Duration::from_millis(200));
                let got = backend.receive(QUEUE, request).await.expect("receive");
                if got.is_empty() {
                    continue;
                }
                let bodies: Vec<String> = got.iter().map(|m| m.body.clone()).collect();
                log(&logs.deleting, &bodies);
                let entries = DeleteBatchEntry::for_received(got);
                let result = backend.delete_batch(QUEUE, entries).await.expect("delete");
                assert!(result.failed.is_empty());
                log(&logs.deleted, &bodies);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
}

/// Runs the child for a random while and kills it with SIGKILL.
fn run_and_kill(dir: &Path, round: u32) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "crash_child", "--ignored", "--test-threads=1"])
        .env("EBBFLOW_CRASH_DIR", dir)
        .env("EBBFLOW_CRASH_ROUND", round.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let sent = Logs::in_dir(dir, &round.to_string()).sent;
    // Kill at a random point once the child is under load.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while read_log(&sent).len() < 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "the child sent nothing in 60 s"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the child exited on its own: {status}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(fastrand::u64(0..600)));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap child");
}

/// Reopens the database, lets the visibility timeout pass, and drains it.
async fn drain(dir: &Path) -> Vec<String> {
    let options = SqliteOptions::new(dir.join("queues.db")).paused_clock(true);
    let backend = SqliteBackend::open(&options).expect("reopen after SIGKILL");
    tokio::time::advance(VISIBILITY + Duration::from_secs(1)).await;
    let mut bodies = Vec::new();
    loop {
        let got = backend
            .receive(QUEUE, ReceiveRequest::new(10))
            .await
            .expect("receive");
        if got.is_empty() {
            break;
        }
        for m in got {
            backend
                .delete(QUEUE, &m.receipt_handle)
                .await
                .expect("delete");
            bodies.push(m.body);
        }
    }
    let stats = backend.stats(QUEUE).await.expect("stats");
    assert_eq!(stats.total(), 0, "drained, yet {stats:?}");
    bodies
}

#[tokio::test(start_paused = true)]
async fn acknowledged_sends_and_deletes_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut deleting: HashSet<String> = HashSet::new();
    let (mut total_sent, mut total_drained) = (0, 0);
    for round in 0..ROUNDS {
        run_and_kill(dir.path(), round);
        let logs = Logs::in_dir(dir.path(), &round.to_string());
        let sent = read_log(&logs.sent);
        deleting.extend(read_log(&logs.deleting));
        let deleted: HashSet<String> = read_log(&logs.deleted).into_iter().collect();
        let drained = drain(dir.path()).await;
        let drained_set: HashSet<&String> = drained.iter().collect();
        assert_eq!(
            drained.len(),
            drained_set.len(),
            "a message came back twice"
        );
        for body in &drained {
            assert!(
                !deleted.contains(body),
                "round {round}: `{body}` was deleted, and came back"
            );
        }
        for body in &sent {
            assert!(
                drained_set.contains(body) || deleting.contains(body),
                "round {round}: `{body}` was sent, and is lost"
            );
        }
        total_sent += sent.len();
        total_drained += drained.len();
    }
    println!(
        "{ROUNDS} kills: {total_sent} acknowledged sends, {total_drained} found after restarts"
    );
    assert!(total_drained > 0, "no kill left anything to recover");
}
