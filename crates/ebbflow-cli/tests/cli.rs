//! The `ebbflow` binary end to end, as a shell runs it, on SQLite in a temp
//! dir and on the Redis and PostgreSQL servers `.ci/run` provides.

use ebbflow_core::testkit::services::service_url;
use serde_json::Value;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One backend, reached through a config file the binary reads.
struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
    created: RefCell<Vec<String>>,
}

impl Env {
    fn with_backend(backend: &str) -> Env {
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = dir.path().join("ebbflow.toml");
        std::fs::write(&config, format!("[backend]\n{backend}\n")).expect("writing the config");
        Env {
            dir,
            config,
            created: RefCell::new(Vec::new()),
        }
    }

    fn sqlite() -> Option<Env> {
        Some(Env::with_backend("kind = \"sqlite\"\npath = \"queues.db\""))
    }

    fn redis() -> Option<Env> {
        let url = service_url("EBBFLOW_TEST_REDIS_URL")?;
        Some(Env::with_backend(&format!(
            "kind = \"redis\"\nurl = \"{url}\""
        )))
    }

    fn postgres() -> Option<Env> {
        let url = service_url("EBBFLOW_TEST_POSTGRES_URL")?;
        Some(Env::with_backend(&format!(
            "kind = \"postgres\"\nurl = \"{url}\""
        )))
    }

    fn sqs() -> Option<Env> {
        let endpoint = service_url("EBBFLOW_TEST_SQS_ENDPOINT")?;
        Some(Env::with_backend(&format!(
            "kind = \"sqs\"\nendpoint_url = \"{endpoint}\"\nregion = \"us-east-1\""
        )))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ebbflow"));
        c.current_dir(self.dir.path())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("RUST_LOG")
            // An SQS-compatible test server takes any key; AWS would take yours.
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running ebbflow")
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running ebbflow");
        child
            .stdin
            .take()
            .expect("a stdin pipe")
            .write_all(input.as_bytes())
            .expect("writing stdin");
        child.wait_with_output().expect("waiting for ebbflow")
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_success(args, &out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command with `--output json`; its parsed stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let text = self.ok(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {text}"))
    }

    /// Creates a queue no other test uses; deleted when the test ends.
    fn queue(&self, base: &str, attributes: &[&str]) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let fifo = base.ends_with(".fifo");
        let stem = base.trim_end_matches(".fifo");
        let name = format!(
            "cli-{stem}-{}-{}{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            if fifo { ".fifo" } else { "" }
        );
        let mut args = vec!["queue", "create", name.as_str()];
        args.extend(attributes);
        self.ok(&args);
        self.created.borrow_mut().push(name.clone());
        name
    }

    /// Every message of a queue, looked at without receiving.
    fn peek_all(&self, queue: &str) -> Vec<Value> {
        let v = self.json(&["peek", queue, "-n", "1000"]);
        v["messages"].as_array().cloned().unwrap_or_default()
    }

    fn depth(&self, queue: &str) -> (u64, u64) {
        let all = self.json(&["queues", "--prefix", queue]);
        let row = all
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["queue"] == queue))
            .unwrap_or_else(|| panic!("{queue} not listed in {all}"))
            .clone();
        (
            row["visible"].as_u64().unwrap_or(0),
            row["in_flight"].as_u64().unwrap_or(0),
        )
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Sources before their dead-letter queues, which refuse to go while named.
        for name in self.created.borrow().iter().rev() {
            let _ = self.run(&["queue", "delete", name, "--yes"]);
        }
    }
}

fn assert_success(args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "ebbflow {args:?} failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn receive_counts(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .map(|m| m["receive_count"].as_u64().unwrap_or(99))
        .collect()
}

/// A dead letter as the runtime writes one: the body, the reason and the
/// source. `send` refuses the runtime's `ebbflow.` attributes, so it comes in
/// as an operator restores an export: with `import`.
fn dead_letter(env: &Env, dlq: &str, body: &str, reason: &str, source: &str) {
    static N: AtomicU64 = AtomicU64::new(0);
    let text = |v: &str| serde_json::json!({"DataType": "String", "StringValue": v});
    let record = serde_json::json!({
        "message_id": format!("forged-{}", N.fetch_add(1, Ordering::Relaxed)),
        "body": body,
        "attributes": {
            "ebbflow.reason": text(reason),
            "ebbflow.source_queue": text(source),
            "ebbflow.error": text("handler failed: boom"),
            "tenant": text("acme"),
        },
    });
    let file = env.dir.path().join(format!(
        "dead-letter-{}.jsonl",
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, format!("{record}\n")).expect("the record");
    env.ok(&["import", dlq, &file.to_string_lossy()]);
}

#[test]
fn send_refuses_the_runtimes_attributes() {
    let Some(env) = Env::sqlite() else {
        return;
    };
    let q = env.queue("reserved", &[]);
    let out = env.run(&["send", &q, "x", "-a", "ebbflow.source_queue=billing"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("reserved"));
    assert_eq!(env.depth(&q), (0, 0), "nothing sent");
}

// ------------------------------------------------------------------ scenarios

fn send_queues_peek_receive_and_purge(env: &Env) {
    let q = env.queue("orders", &["VisibilityTimeout=60s"]);
    env.ok(&[
        "send",
        &q,
        r#"{"id":0}"#,
        "-a",
        "tenant=acme",
        "-a",
        "n:Number=7",
    ]);
    let lines: String = (1..=24).map(|i| format!("{{\"id\":{i}}}\n")).collect();
    let out = env.run_with_stdin(&["send", &q, "--lines", "--output", "json"], &lines);
    assert_success(&["send", "--lines"], &out);
    let sent: Value = serde_json::from_slice(&out.stdout).expect("send --lines prints JSON");
    assert_eq!(sent["sent"], 24);
    assert_eq!(env.depth(&q), (25, 0));

    // Peek twice: the same 25 messages in order, nobody received them.
    let first = env.peek_all(&q);
    assert_eq!(
        bodies(&first),
        (0..25)
            .map(|i| format!("{{\"id\":{i}}}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(first[0]["attributes"]["tenant"]["StringValue"], "acme");
    assert_eq!(first[0]["attributes"]["n"]["DataType"], "Number");
    assert!(receive_counts(&first).iter().all(|c| *c == 0));
    assert_eq!(env.peek_all(&q), first);
    assert_eq!(env.depth(&q), (25, 0));

    // A real receive changes what peek shows of that one message only.
    let got = env.json(&["receive", &q, "-n", "1"]);
    let id = got["messages"][0]["message_id"]
        .as_str()
        .expect("a received message")
        .to_owned();
    let after = env.peek_all(&q);
    let taken: Vec<&Value> = after
        .iter()
        .filter(|m| m["message_id"] == id.as_str())
        .collect();
    assert_eq!(
        (
            taken[0]["state"].as_str(),
            taken[0]["receive_count"].as_u64()
        ),
        (Some("in_flight"), Some(1))
    );
    assert_eq!(receive_counts(&after).iter().sum::<u64>(), 1);

    // Purge asks; without a terminal and without --yes it refuses and removes nothing.
    let refused = env.run(&["purge", &q]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(env.depth(&q), (24, 1));
    let purged = env.json(&["purge", &q, "--yes"]);
    assert_eq!(purged["purged"], 25);
    assert_eq!(env.depth(&q), (0, 0));

    let text = env.ok(&["queues", "--prefix", &q]);
    assert!(text.starts_with("QUEUE"), "{text}");

    env.ok(&[
        "queue",
        "set",
        &q,
        "VisibilityTimeout=90s",
        "MessageRetentionPeriod=2d",
    ]);
    let attrs = env.json(&["queue", "attributes", &q]);
    assert_eq!(attrs["attributes"]["VisibilityTimeout"], "1m30s");
    assert_eq!(attrs["attributes"]["MessageRetentionPeriod"], "2d");
    pause_and_resume_are_kept_and_shown(env, &q);
}

/// `ebbflow pause`/`resume` (issue 35): the flag is kept in the engine and
/// shown by `ebbflow queues`, in the table and the JSON; a bad reason is a
/// usage error that changes nothing.
fn pause_and_resume_are_kept_and_shown(env: &Env, q: &str) {
    let too_long = "x".repeat(161);
    let refused = env.run(&["pause", q, "--reason", &too_long]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(env.json(&["queues", "--prefix", q])[0]["paused"].is_null());

    let paused = env.json(&["pause", q, "--reason", "payments API down: INC-42"]);
    assert_eq!(paused["paused"]["reason"], "payments API down: INC-42");
    let listed = env.json(&["queues", "--prefix", q]);
    assert_eq!(listed[0]["paused"]["reason"], "payments API down: INC-42");
    assert!(listed[0]["paused"]["since_ms"]
        .as_u64()
        .is_some_and(|t| t > 0));
    let table = env.ok(&["queues", "--prefix", q]);
    assert!(
        table.contains("paused: payments API down: INC-42"),
        "{table}"
    );

    let resumed = env.json(&["resume", q]);
    assert_eq!(resumed["was_paused"], true);
    assert!(env.json(&["queues", "--prefix", q])[0]["paused"].is_null());
    assert_eq!(env.json(&["resume", q])["was_paused"], false);
}

fn dlq_shows_why_and_redrive_moves_back(env: &Env) {
    let dlq = env.queue("dlq", &[]);
    let policy = format!("RedrivePolicy={dlq}:1");
    let src = env.queue("src", &[&policy]);
    dead_letter(env, &dlq, "p1", "permanent", &src);
    dead_letter(env, &dlq, "p2", "permanent", &src);
    dead_letter(env, &dlq, "t1", "timeout", &src);
    // One the engine moves itself, past max_receive_count.
    env.ok(&["send", &src, "e1"]);
    env.ok(&["receive", &src, "--visibility-timeout", "0s"]);
    env.ok(&["receive", &src, "--visibility-timeout", "0s"]);
    assert_eq!(env.depth(&src), (0, 0));

    let listed = env.json(&["dlq", &dlq]);
    assert_eq!(listed["sources"], serde_json::json!([src]));
    let messages = listed["messages"].as_array().expect("messages");
    let reasons: Vec<(&str, &str, &str)> = messages
        .iter()
        .map(|m| {
            (
                m["message"]["body"].as_str().unwrap_or_default(),
                m["reason"].as_str().unwrap_or_default(),
                m["source_queue"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("p1", "permanent", src.as_str()),
            ("p2", "permanent", &src),
            ("t1", "timeout", &src),
            ("e1", "max_receives", &src)
        ]
    );
    assert_eq!(messages[0]["error"], "handler failed: boom");
    let counts_before: Vec<Value> = messages
        .iter()
        .map(|m| m["message"]["receive_count"].clone())
        .collect();
    let again = env.json(&["dlq", &dlq]);
    let counts_after: Vec<Value> = again["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["message"]["receive_count"].clone())
        .collect();
    assert_eq!(counts_before, counts_after, "dlq must not receive");

    // Only the permanent failures, then the rest.
    let first = env.json(&["redrive", &dlq, "--filter", "reason=permanent"]);
    assert_eq!(
        (first["moved"].as_u64(), first["filtered_out"].as_u64()),
        (Some(2), Some(2))
    );
    // A standard queue keeps order only on a best-effort basis: compare sets.
    assert_eq!(sorted(bodies(&env.peek_all(&src))), ["p1", "p2"]);
    let left = env.peek_all(&dlq);
    assert_eq!(sorted(bodies(&left)), ["e1", "t1"]);
    assert!(
        left.iter().all(|m| m["state"] == "visible"),
        "left-alone messages are visible again: {left:?}"
    );

    let second = env.json(&["redrive", &dlq]);
    assert_eq!(second["moved"], 2);
    assert_eq!(env.depth(&dlq), (0, 0));
    let back = env.peek_all(&src);
    assert_eq!(sorted(bodies(&back)), ["e1", "p1", "p2", "t1"]);
    for m in &back {
        let names: Vec<&String> = m["attributes"]
            .as_object()
            .map(|a| a.keys().collect())
            .unwrap_or_default();
        assert!(
            names.iter().all(|n| !n.starts_with("ebbflow.")),
            "dead-letter attributes stay behind: {names:?}"
        );
        assert_eq!(m["receive_count"], 0, "a redriven message starts afresh");
    }
    let p1 = back.iter().find(|m| m["body"] == "p1").expect("p1 is back");
    assert_eq!(p1["attributes"]["tenant"]["StringValue"], "acme");
}

fn an_interrupted_redrive_leaves_each_message_in_one_queue(env: &Env) {
    let dlq = env.queue("dlq", &[]);
    let src = env.queue("src", &[]);
    let total = 40;
    for i in 0..total {
        dead_letter(env, &dlq, &format!("m{i}"), "permanent", &src);
    }
    let child = env
        .command(&["redrive", &dlq, "--rate", "20/s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting a redrive");
    let pid = child.id().to_string();
    // Wait until some, not all, have moved, then Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.depth(&src).0 < 5 {
        assert!(
            Instant::now() < deadline,
            "the redrive moved nothing in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let signalled = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    assert!(signalled.success());
    let out = child.wait_with_output().expect("waiting for the redrive");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let in_src = bodies(&env.peek_all(&src));
    let in_dlq = bodies(&env.peek_all(&dlq));
    assert!(
        !in_src.is_empty() && in_src.len() < total,
        "moved {} of {total}",
        in_src.len()
    );
    let mut all: Vec<String> = in_src.iter().chain(&in_dlq).cloned().collect();
    all.sort();
    let mut expected: Vec<String> = (0..total).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(all, expected, "each message in exactly one queue");
    assert_eq!(
        env.depth(&dlq),
        (in_dlq.len() as u64, 0),
        "nothing left hidden in the DLQ"
    );
}

/// Export from SQLite, import into `env`: the same messages, FIFO groups in order.
fn export_import_round_trip_from_sqlite(env: &Env) {
    let source = Env::sqlite().expect("sqlite needs no server");
    let q = source.queue("export.fifo", &[]);
    for i in 0..12 {
        let group = if i % 3 == 0 { "a" } else { "b" };
        let dedup = format!("d{i}");
        source.ok(&[
            "send",
            &q,
            &format!("{group}{i}"),
            "--group",
            group,
            "--dedup-id",
            &dedup,
            "-a",
            "blob:Binary=AAEC",
        ]);
    }
    source.ok(&["receive", &q]);
    let file = source.dir.path().join("export.jsonl");
    let file_arg = file.to_string_lossy().into_owned();
    source.ok(&["export", &q, "--file", &file_arg]);
    let exported = std::fs::read_to_string(&file).expect("the export");
    assert_eq!(
        exported.lines().count(),
        12,
        "in-flight messages are exported too"
    );
    assert!(!Path::new(&format!("{file_arg}.partial")).exists());

    let dest = env.queue("import.fifo", &[]);
    let summary = env.json(&["import", &dest, &file_arg]);
    assert_eq!(summary["imported"], 12);
    let imported = env.peek_all(&dest);
    let original = source.peek_all(&q);
    for group in ["a", "b"] {
        let of = |ms: &[Value]| -> Vec<String> {
            ms.iter()
                .filter(|m| m["group_id"] == group)
                .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(of(&imported), of(&original), "group {group}");
    }
    assert!(imported
        .iter()
        .all(|m| m["attributes"]["blob"]["BinaryValue"] == "AAEC"));
    assert!(!Path::new(&format!("{file_arg}.import-progress")).exists());
}

/// An import stopped part-way (here by a broken line) resumes where it
/// stopped: every message once, none twice.
fn an_interrupted_import_resumes_without_doubles(env: &Env) {
    let q = env.queue("resume", &[]);
    let file = env.dir.path().join("in.jsonl");
    let line = |i: usize| format!("{{\"message_id\":\"m{i}\",\"body\":\"b{i}\"}}");
    let mut lines: Vec<String> = (1..=30).map(line).collect();
    lines[14] = "{broken".to_owned();
    std::fs::write(&file, lines.join("\n")).expect("writing the export");
    let file_arg = file.to_string_lossy().into_owned();
    let failed = env.run(&["import", &q, &file_arg]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("line 15"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    assert_eq!(
        env.depth(&q).0,
        0,
        "every line is read before any is sent: a broken file sends nothing"
    );

    lines[14] = line(15);
    std::fs::write(&file, lines.join("\n")).expect("fixing the export");
    let resumed = env.json(&["import", &q, &file_arg]);
    assert_eq!(resumed["imported"], 30);
    let mut got = bodies(&env.peek_all(&q));
    got.sort();
    let mut expected: Vec<String> = (1..=30).map(|i| format!("b{i}")).collect();
    expected.sort();
    assert_eq!(got, expected);
}

/// A FIFO import gives a record whose deduplication id an earlier line has a
/// fresh one, so that the queue does not drop it; told to keep them, it warns.
fn an_import_never_drops_a_message_for_a_repeated_deduplication_id(env: &Env) {
    let record = |id: &str, body: &str| {
        format!(
            r#"{{"message_id":"{id}","body":"{body}","group_id":"g","deduplication_id":"same"}}"#
        )
    };
    let file = env.dir.path().join("dups.jsonl");
    std::fs::write(
        &file,
        [record("m1", "first"), record("m2", "second")].join("\n"),
    )
    .expect("the file");
    let file_arg = file.to_string_lossy().into_owned();
    let q = env.queue("dups.fifo", &[]);
    let out = env.run(&["import", &q, &file_arg]);
    assert_success(&["import"], &out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2 has the deduplication id of line 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sorted(bodies(&env.peek_all(&q))), ["first", "second"]);

    let kept = env.queue("kept.fifo", &[]);
    let out = env.run(&["import", &kept, &file_arg, "--keep-deduplication-ids"]);
    assert_success(&["import", "--keep-deduplication-ids"], &out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: line 2"));
    assert_eq!(
        bodies(&env.peek_all(&kept)),
        ["first"],
        "told to keep the ids"
    );
}

/// A line the queue refuses does not advance the resume point: the next run
/// sends it, and only it; the progress file goes when every line is in.
fn a_refused_line_is_sent_again_and_only_it(env: &Env) {
    let q = env.queue("refused", &[]);
    let file = env.dir.path().join("refused.jsonl");
    let line = |body: &str| format!(r#"{{"message_id":"x","body":"{body}"}}"#);
    // A body of a character SQS refuses (U+0000) fails at the queue, not in the file.
    let mut lines = [line("b1"), line("\\u0000"), line("b3")];
    std::fs::write(&file, lines.join("\n")).expect("the file");
    let file_arg = file.to_string_lossy().into_owned();
    let progress = format!("{file_arg}.import-progress");
    let out = env.run(&["import", &q, &file_arg]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("line 2 was not sent"));
    assert!(Path::new(&progress).exists(), "kept while a line is not in");
    assert_eq!(sorted(bodies(&env.peek_all(&q))), ["b1", "b3"]);

    lines[1] = line("b2");
    std::fs::write(&file, lines.join("\n")).expect("the file");
    let again = env.json(&["import", &q, &file_arg]);
    assert_eq!(again["imported"], 1, "only the refused line: {again}");
    assert_eq!(sorted(bodies(&env.peek_all(&q))), ["b1", "b2", "b3"]);
    assert!(!Path::new(&progress).exists(), "gone once every line is in");
}

/// `receive --delete` deletes only what it has shown: when stdout cannot be
/// written (a full disk here; a closed pipe alike), nothing is deleted.
fn receive_delete_deletes_only_what_it_has_shown(env: &Env) {
    let q = env.queue("shown", &["VisibilityTimeout=60s"]);
    for body in ["a", "b"] {
        env.ok(&["send", &q, body]);
    }
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = env
        .command(&["receive", &q, "-n", "2", "--delete"])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("running ebbflow");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.depth(&q),
        (0, 2),
        "received, not deleted: they come back"
    );
    let other = env.queue("shown-ok", &[]);
    for body in ["c", "d"] {
        env.ok(&["send", &other, body]);
    }
    let shown = env.json(&["receive", &other, "-n", "2", "--delete"]);
    assert_eq!(shown["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(env.depth(&other), (0, 0), "shown, then deleted");
}

#[test]
fn sqlite_imports_and_receives_lose_nothing() {
    let Some(env) = Env::sqlite() else {
        return;
    };
    an_import_never_drops_a_message_for_a_repeated_deduplication_id(&env);
    a_refused_line_is_sent_again_and_only_it(&env);
    receive_delete_deletes_only_what_it_has_shown(&env);
}

macro_rules! on_backend {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            #[test]
            fn send_queues_peek_receive_and_purge() {
                if let Some(env) = Env::$backend() {
                    super::send_queues_peek_receive_and_purge(&env);
                }
            }

            #[test]
            fn dlq_shows_why_and_redrive_moves_back() {
                if let Some(env) = Env::$backend() {
                    super::dlq_shows_why_and_redrive_moves_back(&env);
                }
            }

            #[test]
            fn an_interrupted_redrive_leaves_each_message_in_one_queue() {
                if let Some(env) = Env::$backend() {
                    super::an_interrupted_redrive_leaves_each_message_in_one_queue(&env);
                }
            }

            #[test]
            fn export_import_round_trip_from_sqlite() {
                if let Some(env) = Env::$backend() {
                    super::export_import_round_trip_from_sqlite(&env);
                }
            }

            #[test]
            fn an_interrupted_import_resumes_without_doubles() {
                if let Some(env) = Env::$backend() {
                    super::an_interrupted_import_resumes_without_doubles(&env);
                }
            }
        }
    };
}

on_backend!(sqlite);
on_backend!(redis);
on_backend!(postgres);

/// Amazon SQS (here `moto_server`) has no verb to look without receiving:
/// peek, dlq and export receive instead, say so, and leave every message
/// visible; the rest works as on the other backends.
#[test]
fn sqs_commands_work_by_receiving_and_say_so() {
    let Some(env) = Env::sqs() else {
        return;
    };
    let dlq = env.queue("dlq", &[]);
    let policy = format!("RedrivePolicy={dlq}:3");
    let q = env.queue("orders", &[&policy]);
    let lines: String = (0..5).map(|i| format!("o{i}\n")).collect();
    assert_success(
        &["send"],
        &env.run_with_stdin(&["send", &q, "--lines"], &lines),
    );
    assert_eq!(env.depth(&q), (5, 0));

    let peek = env.run(&["peek", &q]);
    assert_success(&["peek"], &peek);
    assert!(String::from_utf8_lossy(&peek.stderr).contains("receive counts went up by one"));
    assert_eq!(env.depth(&q), (5, 0), "peek leaves every message visible");

    let file = env.dir.path().join("sqs.jsonl");
    let file_arg = file.to_string_lossy().into_owned();
    env.ok(&["export", &q, "--file", &file_arg]);
    let exported = std::fs::read_to_string(&file).expect("the export");
    let mut got: Vec<String> = exported
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("a JSON line")["body"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    got.sort();
    assert_eq!(got, ["o0", "o1", "o2", "o3", "o4"]);
    assert_eq!(env.depth(&q), (5, 0), "exported messages are visible again");

    // A FIFO queue cannot be exported by receiving: each group would stop at
    // its first message. Refused, and no file claims to be the export.
    let fifo = env.queue("orders.fifo", &[]);
    let fifo_file = env.dir.path().join("fifo.jsonl");
    let out = env.run(&["export", &fifo, "--file", &fifo_file.to_string_lossy()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("FIFO queue"));
    assert!(!fifo_file.exists());

    let copy = env.queue("copy", &[]);
    assert_eq!(env.json(&["import", &copy, &file_arg])["imported"], 5);
    assert_eq!(env.depth(&copy), (5, 0));

    dead_letter(&env, &dlq, "p1", "permanent", &q);
    let listed = env.json(&["dlq", &dlq]);
    assert_eq!(listed["messages"][0]["reason"], "permanent");
    let moved = env.json(&["redrive", &dlq]);
    assert_eq!(moved["moved"], 1);
    assert_eq!(env.depth(&dlq), (0, 0));
    assert_eq!(env.depth(&q), (6, 0));
    assert_eq!(env.json(&["purge", &q, "--yes"])["purged"], 6);
}

// ------------------------------------------------------------------ no backend needed

#[test]
fn config_check_reports_the_key_and_exit_codes_are_stable() {
    let env = Env::sqlite().expect("sqlite");
    let ok = env.json(&["config", "check"]);
    assert_eq!(
        (ok["valid"].as_bool(), ok["backend"].as_str()),
        (Some(true), Some("sqlite"))
    );

    let bad = env.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[backend]\nkind = \"sqlite\"\n[queues.orders]\nvisibility_timeout = \"soon\"\n",
    )
    .expect("write");
    let out = env
        .command(&["config", "check"])
        .arg("--config")
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("visibility_timeout"),
        "{err}"
    );

    let memory = env.dir.path().join("memory.toml");
    std::fs::write(&memory, "[backend]\nkind = \"memory\"\n").expect("write");
    let out = env
        .command(&["queues"])
        .arg("--config")
        .arg(&memory)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to open"));

    assert_eq!(env.run(&["no-such-command"]).status.code(), Some(2));
    let missing = env.run(&["peek", "no-such-queue"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
    let bad_attr = env.run(&["queue", "create", "x", "VisibilityTimeout=soon"]);
    assert_eq!(bad_attr.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_attr.stderr).contains("VisibilityTimeout=soon"));
}

#[test]
fn serve_refuses_to_start_unless_running_open_is_said() {
    let env = Env::sqlite().expect("sqlite");
    let out = env.run(&["serve"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.auth") && err.contains("auth = \"none\""),
        "{err}"
    );
}

#[test]
fn completions_are_printed_for_a_shell() {
    let env = Env::sqlite().expect("sqlite");
    let script = env.ok(&["completions", "bash"]);
    assert!(
        script.contains("redrive") && script.contains("peek"),
        "{script}"
    );
}

/// One GET over plain TCP: the status code and the body.
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    http(addr, "GET", path, "")
}

/// One request over plain TCP, with more header lines (each ending in
/// `\r\n`): the status code and the rest of the answer (headers and body).
fn http(addr: &str, method: &str, path: &str, headers: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).ok()?;
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).ok()?;
    let status = answer.get(9..12)?.parse().ok()?;
    let rest = if headers.is_empty() && method == "GET" {
        answer.split_once("\r\n\r\n")?.1.to_owned()
    } else {
        answer
    };
    Some((status, rest))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn serve_also_serves_the_dashboard_under_ui_with_the_same_keys() {
    let Some(env) = Env::sqlite() else { return };
    env.ok(&["queue", "create", "jobs"]);
    let addr = format!("127.0.0.1:{}", free_port());
    let config = std::fs::read_to_string(&env.config).expect("config");
    std::fs::write(
        &env.config,
        format!(
            "{config}[server]\nlisten = \"{addr}\"\n[server.keys.ops]\naccess_key_id = \"ops\"\nsecret_env = \"OPS_SECRET\"\n"
        ),
    )
    .expect("config");
    let mut child = env
        .command(&["serve"])
        .env("OPS_SECRET", "ops-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting ebbflow serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let anonymous = loop {
        if let Some(answer) = http(&addr, "GET", "/ui/", "x-probe: 1\r\n") {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "ebbflow serve did not answer in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let sign_in = anonymous.1.to_ascii_lowercase();
    assert_eq!(anonymous.0, 303, "{sign_in}");
    assert!(sign_in.contains("location: /ui/login"), "{sign_in}");
    // "ops:ops-secret", as HTTP Basic credentials.
    let basic = "Authorization: Basic b3BzOm9wcy1zZWNyZXQ=\r\n";
    let (status, answer) = http(&addr, "GET", "/ui/api/queues", basic).expect("the API");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"name\":\"jobs\""), "{answer}");
    // The SQS API beside it still wants a signature.
    let target =
        "X-Amz-Target: AmazonSQS.ListQueues\r\nContent-Type: application/x-amz-json-1.0\r\n";
    let (status, answer) = http(&addr, "POST", "/", target).expect("the SQS API");
    assert!(
        answer.contains("MissingAuthenticationToken") || status == 403,
        "{status} {answer}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
fn the_dashboard_serves_the_queues_of_the_config_until_sigterm() {
    let Some(env) = Env::sqlite() else { return };
    env.ok(&["queue", "create", "jobs"]);
    env.ok(&["send", "jobs", "hello"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = env
        .command(&["dashboard", "--listen", &addr, "--base-path", "/ui"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the dashboard");
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Some((200, body)) = http_get(&addr, "/ui/api/queues") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard did not answer in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["queues"][0]["name"], "jobs", "{v}");
    assert_eq!(v["queues"][0]["visible"], 1, "{v}");
    let (status, page) = http_get(&addr, "/ui/queues/jobs").expect("the queue's page");
    assert_eq!(status, 200);
    assert!(page.contains("hello"), "{page}");
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(signalled.success());
    let status = child.wait().expect("waiting for the dashboard");
    assert!(status.success(), "{status:?}");
    // Looking received nothing.
    assert_eq!(env.depth("jobs"), (1, 0));

    let out = env.run(&["dashboard", "--base-path", "ui"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a base path without / is a usage error"
    );
}

#[test]
fn history_queues_are_listed_only_when_the_prefix_names_them() {
    let Some(env) = Env::sqlite() else { return };
    env.ok(&["queue", "create", "jobs"]);
    env.ok(&["queue", "create", "ebbflow_history__jobs"]);
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .expect("a list")
            .iter()
            .filter_map(|q| q["queue"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(names(env.json(&["queues"])), ["jobs"]);
    assert_eq!(
        names(env.json(&["queues", "--prefix", "ebbflow_history__"])),
        ["ebbflow_history__jobs"]
    );
}

/// The file is the one truth for the queues it declares: `queue create`
/// makes a declared queue as declared, a command on a missing declared queue
/// says how to make it, `config check --diff` shows what differs, and
/// `ebbflow serve` brings the engine to the file when it starts.
#[test]
fn the_config_is_the_one_truth_for_the_queues_it_declares() {
    let env = Env::with_backend("kind = \"sqlite\"\npath = \"declared.db\"");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut text = std::fs::read_to_string(&env.config).expect("config");
    text.push_str(&format!(
        "[queues.jobs-dlq]\n[queues.jobs]\ndead_letter_queue = \"jobs-dlq\"\nmax_receive_count = 3\nvisibility_timeout = \"45s\"\n\
         [server]\nauth = \"none\"\nlisten = \"127.0.0.1:{port}\"\ndashboard_path = \"\"\n"
    ));
    std::fs::write(&env.config, text).expect("config");

    let missing = env.run(&["send", "jobs", "x"]);
    assert_eq!(missing.status.code(), Some(1));
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains("declares it") && said.contains("queue create jobs"),
        "{said}"
    );

    let diff = env.run(&["config", "check", "--diff"]);
    assert_eq!(diff.status.code(), Some(1), "missing queues differ");
    assert!(String::from_utf8_lossy(&diff.stdout).contains("jobs Queue: missing"));

    env.ok(&["queue", "create", "jobs-dlq"]);
    env.ok(&["queue", "create", "jobs"]);
    let attrs = env.json(&["queue", "attributes", "jobs"]);
    let text = attrs.to_string();
    assert!(text.contains("jobs-dlq") && text.contains("45"), "{text}");
    env.ok(&["config", "check", "--diff"]);

    env.ok(&["queue", "set", "jobs", "VisibilityTimeout=5s"]);
    let diff = env.run(&["config", "check", "--diff"]);
    assert_eq!(diff.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&diff.stdout)
            .contains("jobs VisibilityTimeout: 5s in the engine, 45s in the file"),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );

    // `serve` brings the engine to the file at start.
    let mut serve = env
        .command(&["serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = serve.kill();
    let _ = serve.wait();
    env.ok(&["config", "check", "--diff"]);
}

/// Sends one RESP command line list to the Redis at `url`, database `db`
/// (for cleaning up after a test that sealed in a database of its own).
fn redis_command(url: &str, db: u8, args: &[&str]) {
    use std::io::{Read, Write};
    let address = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_owned();
    let Ok(mut tcp) = std::net::TcpStream::connect(&address) else {
        return;
    };
    let frame = |parts: &[&str]| {
        let mut out = format!("*{}\r\n", parts.len());
        for p in parts {
            out.push_str(&format!("${}\r\n{p}\r\n", p.len()));
        }
        out
    };
    let db = db.to_string();
    let text = frame(&["SELECT", &db]) + &frame(args) + &frame(&["QUIT"]);
    let _ = tcp.write_all(text.as_bytes());
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
}

/// `ebbflow rekey` (issue 35) on Redis, in a database of its own: messages
/// sealed with an older key are sealed again with the newest, the engine
/// forgets the older key, and the file without it then opens the queue.
#[test]
fn rekey_lets_an_older_key_leave_the_file() {
    const DB: u8 = 12;
    let Some(url) = service_url("EBBFLOW_TEST_REDIS_URL") else {
        return;
    };
    let (old, new) = ("11".repeat(32), "22".repeat(32));
    let env = Env::with_backend(&format!(
        "kind = \"redis\"\nurl = \"{}/{DB}\"\nencryption_key_file = \"keys\"",
        url.trim_end_matches('/')
    ));
    let keys = env.dir.path().join("keys");
    std::fs::write(&keys, format!("{old}\n")).expect("keys");
    let q = env.queue("sealed", &[]);
    for body in ["a", "b", "c"] {
        env.ok(&["send", &q, body]);
    }
    std::fs::write(&keys, format!("{old}\n{new}\n")).expect("keys");
    env.ok(&["send", &q, "d"]);

    let done = env.json(&["rekey"]);
    assert_eq!(done["queues"][0]["resealed"], 3, "{done}");
    assert_eq!(
        done["retired_keys"].as_array().map(Vec::len),
        Some(1),
        "{done}"
    );

    std::fs::write(&keys, format!("{new}\n")).expect("keys");
    let peeked = env.peek_all(&q);
    let mut bodies = bodies(&peeked);
    bodies.sort();
    assert_eq!(bodies, ["a", "b", "c", "d"]);
    // A second run finds nothing to do.
    assert_eq!(env.json(&["rekey", &q])["queues"][0]["resealed"], 0);
    env.ok(&["queue", "delete", &q, "--yes"]);
    env.created.borrow_mut().clear();
    redis_command(&url, DB, &["DEL", "ebbflow:seal-keys"]);
}
