//! The HTTP and command handlers against real child processes and a real
//! local HTTP server, through the runtime: each status and exit code ends
//! where the README's tables say.

use ebbflow::config::Config;
use ebbflow::runtime::{Handler, Running, Runtime};
use ebbflow::{MemoryBackend, MessageAttributeValue, QueueBackend, ReceiveRequest, SendMessage};
use ebbflow_work::{Children, CommandHandler, HttpHandler, ProcessHandler};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const Q: &str = "jobs";
const DLQ: &str = "jobs-dlq";

/// A config for one worker group on `jobs`, with its dead-letter queue after
/// two receives, one attempt per receive and short backoffs.
fn config(worker: serde_json::Value) -> Config {
    let mut w = json!({
        "handler_timeout": "2s",
        "wait_time": "1s",
        "retry": {"attempts": 1, "initial_delay": "10ms", "max_delay": "20ms"},
        "scaling": {"max": 8, "tick": "100ms", "down": {"stabilisation": "500ms"}},
    });
    if let (Some(base), Some(extra)) = (w.as_object_mut(), worker.as_object()) {
        if extra.contains_key("concurrency") {
            base.remove("scaling");
        }
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({
        "queues": {DLQ: {}, Q: {"dead_letter_queue": DLQ, "max_receive_count": 2, "visibility_timeout": "5s"}},
        "workers": {Q: w},
        "metrics": {"enabled": false},
        "runtime": {"shutdown_grace": "5s"},
    }))
    .expect("a valid config")
}

async fn start<H: Handler>(config: Config, handler: H) -> (Arc<MemoryBackend>, Running) {
    let backend = Arc::new(MemoryBackend::new());
    let running = Runtime::new(config, backend.clone())
        .handler(Q, handler)
        .start()
        .await
        .expect("the runtime starts");
    (backend, running)
}

async fn send(b: &MemoryBackend, body: &str) -> String {
    let msg = SendMessage::new(body).attribute("tenant", MessageAttributeValue::string("acme"));
    b.send(Q, msg).await.expect("send").message_id
}

/// What became of each body: `ok` when gone from both queues, else the
/// dead-letter reason and error. Waits until only `pending` messages are
/// left in the queue.
async fn outcomes(
    b: &MemoryBackend,
    bodies: &[&str],
    within: Duration,
) -> HashMap<String, (String, String)> {
    settle(b, bodies, 0, within).await
}

async fn settle(
    b: &MemoryBackend,
    bodies: &[&str],
    pending: u64,
    within: Duration,
) -> HashMap<String, (String, String)> {
    let deadline = Instant::now() + within;
    loop {
        let left = b.stats(Q).await.expect("stats").total();
        if left == pending {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} messages still in the queue after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The runtime sends a dead letter before it deletes the source message:
    // with the queue settled, every dead letter is in the DLQ now.
    let mut found: HashMap<String, (String, String)> = HashMap::new();
    loop {
        let dead = b
            .receive(
                DLQ,
                ReceiveRequest::new(10).visibility_timeout(Duration::from_secs(60)),
            )
            .await
            .expect("receive from the DLQ");
        if dead.is_empty() {
            break;
        }
        for m in dead {
            let text = |k: &str| {
                m.attributes
                    .get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            found.insert(
                m.body.clone(),
                (text("ebbflow.reason"), text("ebbflow.error")),
            );
        }
    }
    for body in bodies {
        found
            .entry((*body).to_owned())
            .or_insert_with(|| ("ok".to_owned(), String::new()));
    }
    found
}

// ------------------------------------------------------------------ HTTP

/// Every request the server got: body, when, headers.
type Requests = Arc<Mutex<Vec<(String, Instant, HashMap<String, String>)>>>;

/// A local HTTP server: the body names the status to answer; `hang` never answers;
/// `throttle` answers 429 with `Retry-After: 1` the first time, then 200.
struct Server {
    url: String,
    seen: Requests,
}

async fn server() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jobs", listener.local_addr().expect("addr"));
    let seen: Requests = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let headers: HashMap<String, String> = req
                                .headers()
                                .iter()
                                .map(|(k, v)| {
                                    (k.to_string(), v.to_str().unwrap_or_default().to_owned())
                                })
                                .collect();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let body = String::from_utf8_lossy(&body).into_owned();
                            let earlier = {
                                let mut seen = log.lock().expect("log");
                                let earlier = seen.iter().filter(|(b, _, _)| *b == body).count();
                                seen.push((body.clone(), Instant::now(), headers));
                                earlier
                            };
                            if body.starts_with('[') {
                                // Batch mode: fail the items whose body is "fail".
                                let items: Vec<serde_json::Value> =
                                    serde_json::from_str(&body).unwrap_or_default();
                                let failures: Vec<serde_json::Value> = items
                                    .iter()
                                    .filter(|m| m["body"] == "fail")
                                    .map(|m| json!({"itemIdentifier": m["id"]}))
                                    .collect();
                                let mut answer = json!({"batchItemFailures": failures}).to_string();
                                if items.iter().any(|m| m["body"] == "html") {
                                    // A proxy's error page, with status 200.
                                    answer = "<html><body>Bad gateway</body></html>".to_owned();
                                }
                                if items.iter().any(|m| m["body"] == "ghost") {
                                    answer = json!({"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]}).to_string();
                                }
                                return hyper::Response::builder()
                                    .status(200)
                                    .body(Full::new(Bytes::from(answer)));
                            }
                            let (status, retry_after) = match body.as_str() {
                                "hang" => {
                                    tokio::time::sleep(Duration::from_secs(3600)).await;
                                    (200, None)
                                }
                                "throttle" if earlier == 0 => (429, Some("1")),
                                "throttle" => (200, None),
                                other => (other.parse().unwrap_or(200), None),
                            };
                            let mut response = hyper::Response::builder().status(status);
                            if let Some(after) = retry_after {
                                response = response.header("retry-after", after);
                            }
                            response.body(Full::new(Bytes::from(format!("answer to {body}"))))
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Server { url, seen }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_statuses_route_as_the_table_says() {
    let s = server().await;
    let handler = HttpHandler::new(&s.url).expect("a handler");
    // A fixed pool: an endless 503 would otherwise (rightly) hold the autoscaler down.
    let (b, running) = start(
        config(json!({"handler_timeout": "500ms", "concurrency": 8})),
        handler,
    )
    .await;
    let bodies = ["200", "204", "404", "422", "500", "503", "hang", "throttle"];
    let mut ids = HashMap::new();
    for body in bodies {
        ids.insert(body, send(&b, body).await);
    }
    // 503 throttles forever here: it stays in flight, retried, never dead-lettered.
    let settled = ["200", "204", "404", "422", "500", "hang", "throttle"];
    let out = settle(&b, &settled, 1, Duration::from_secs(20)).await;
    running.shutdown().await;

    assert_eq!(out["200"].0, "ok");
    assert_eq!(out["204"].0, "ok");
    assert_eq!(out["throttle"].0, "ok");
    for permanent in ["404", "422"] {
        assert_eq!(
            out[permanent].0, "permanent",
            "{permanent}: {:?}",
            out[permanent]
        );
        assert!(
            out[permanent].1.contains(permanent) && out[permanent].1.contains("answer to"),
            "{:?}",
            out[permanent]
        );
    }
    assert_eq!(
        out["500"].0, "max_receives",
        "5xx is retried until the redrive limit"
    );
    assert_eq!(
        out["hang"].0, "max_receives",
        "a hung endpoint times out and is retried"
    );

    let seen = s.seen.lock().expect("log").clone();
    let times: Vec<Instant> = seen
        .iter()
        .filter(|(b, _, _)| b == "throttle")
        .map(|(_, t, _)| *t)
        .collect();
    assert_eq!(times.len(), 2);
    assert!(
        times[1] - times[0] >= Duration::from_millis(950),
        "Retry-After: 1 honoured: {:?}",
        times[1] - times[0]
    );
    let (_, _, headers) = seen
        .iter()
        .find(|(b, _, _)| b == "200")
        .expect("the 200 request");
    assert_eq!(headers.get("x-ebbflow-message-id"), Some(&ids["200"]));
    assert_eq!(headers.get("x-ebbflow-queue").map(String::as_str), Some(Q));
    assert_eq!(
        headers.get("x-ebbflow-attr-tenant").map(String::as_str),
        Some("acme")
    );
    assert!(headers
        .get("x-ebbflow-attributes")
        .is_some_and(|a| a.contains("acme")));
    let throttled = seen.iter().filter(|(b, _, _)| b == "503").count();
    assert!(throttled >= 2, "503 was retried ({throttled} requests)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_endpoint_retries_only_the_items_it_names() {
    let s = server().await;
    let handler = HttpHandler::new(&s.url).expect("a handler");
    let backend = Arc::new(MemoryBackend::new());
    let running = Runtime::new(
        config(json!({"concurrency": 1, "batch_size": 10})),
        backend.clone(),
    )
    .batch_handler(Q, handler)
    .start()
    .await
    .expect("the runtime starts");
    let bodies = ["a", "fail", "b", "c"];
    let entries = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| ebbflow::SendBatchEntry {
            id: format!("e{i}"),
            message: SendMessage::new(*body),
        })
        .collect();
    backend.send_batch(Q, entries).await.expect("send");
    let out = outcomes(&backend, &bodies, Duration::from_secs(20)).await;
    running.shutdown().await;
    assert_eq!(
        out["fail"].0, "max_receives",
        "the named item is retried: {:?}",
        out["fail"]
    );
    for ok in ["a", "b", "c"] {
        assert_eq!(out[ok].0, "ok", "{ok}");
    }
    let seen = s.seen.lock().expect("log").clone();
    assert!(
        seen.iter()
            .any(|(b, _, _)| b.starts_with('[') && b.contains("\"c\"")),
        "one POST carried the batch"
    );
}

/// As Lambda: an answer that is not a well-formed partial-batch response
/// (an HTML page with status 200, an id the batch does not have) fails the
/// whole batch; nothing in it is deleted as a success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answer_that_cannot_be_read_fails_the_whole_batch() {
    for odd in ["html", "ghost"] {
        let s = server().await;
        let handler = HttpHandler::new(&s.url).expect("a handler");
        let backend = Arc::new(MemoryBackend::new());
        let running = Runtime::new(
            config(json!({"concurrency": 1, "batch_size": 10})),
            backend.clone(),
        )
        .batch_handler(Q, handler)
        .start()
        .await
        .expect("the runtime starts");
        let bodies = [odd];
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| ebbflow::SendBatchEntry {
                id: format!("e{i}"),
                message: SendMessage::new(*body),
            })
            .collect();
        backend.send_batch(Q, entries).await.expect("send");
        let out = outcomes(&backend, &bodies, Duration::from_secs(20)).await;
        running.shutdown().await;
        for body in bodies {
            assert_eq!(
                out[body].0, "max_receives",
                "{odd}: {body}: {:?}",
                out[body]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_retried_not_dead_lettered_at_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let handler = HttpHandler::new(&format!("http://127.0.0.1:{port}/x")).expect("a handler");
    let (b, running) = start(config(json!({})), handler).await;
    send(&b, "anything").await;
    let out = outcomes(&b, &["anything"], Duration::from_secs(20)).await;
    running.shutdown().await;
    assert_eq!(out["anything"].0, "max_receives");
    assert!(out["anything"].1.contains("POST"), "{:?}", out["anything"]);
}

// ------------------------------------------------------------------ commands

fn sh(script: &str) -> Vec<String> {
    vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_route_as_the_table_says() {
    let dir = std::env::temp_dir().join(format!("ebbflow-work-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let seen = dir.join("seen");
    let script = format!(
        r#"body=$(cat)
case "$body" in
  ok) echo "$EBBFLOW_MESSAGE_ID $EBBFLOW_ATTR_TENANT $EBBFLOW_RECEIVE_COUNT" > {seen}; exit 0 ;;
  retry) exit 75 ;;
  bad) echo "line one" >&2; echo "bad order" >&2; exit 3 ;;
  killed) kill -9 $$ ;;
  hang) sleep 30 ;;
esac"#,
        seen = seen.display()
    );
    let handler = CommandHandler::new(sh(&script), Children::new());
    let (b, running) = start(config(json!({"handler_timeout": "500ms"})), handler).await;
    let mut ids = HashMap::new();
    for body in ["ok", "retry", "bad", "killed", "hang"] {
        ids.insert(body, send(&b, body).await);
    }
    let out = outcomes(
        &b,
        &["ok", "retry", "bad", "killed", "hang"],
        Duration::from_secs(20),
    )
    .await;
    running.shutdown().await;
    assert_eq!(out["ok"].0, "ok");
    assert_eq!(out["bad"].0, "permanent");
    assert!(
        out["bad"].1.contains("exited 3") && out["bad"].1.contains("line one | bad order"),
        "{:?}",
        out["bad"]
    );
    assert_eq!(out["retry"].0, "max_receives", "exit 75 is retried");
    assert_eq!(out["killed"].0, "max_receives", "a signal is retried");
    assert_eq!(
        out["hang"].0, "max_receives",
        "a hung command times out, is killed and retried"
    );
    let env = std::fs::read_to_string(&seen).expect("the ok command wrote its environment");
    assert_eq!(env.trim(), format!("{} acme 1", ids["ok"]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The long-lived protocol: a process that dies holding a message is
/// replaced, and the message retried on the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_long_lived_process_is_replaced_without_losing_its_message() {
    let script = r#"
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["body"] == "crash" and m["receive_count"] == 1:
        os._exit(1)
    status = {"ok": "ok", "crash": "ok", "bad": "permanent"}.get(m["body"], "retry")
    print(json.dumps({"id": m["id"], "status": status, "error": "said " + m["body"]}), flush=True)
"#;
    let argv = vec!["python3".to_owned(), "-c".to_owned(), script.to_owned()];
    let handler = ProcessHandler::new(argv, Children::new());
    let watch = handler.watch();
    let (b, running) = start(config(json!({"concurrency": 1})), handler).await;
    for body in ["ok", "crash", "bad"] {
        send(&b, body).await;
    }
    let out = outcomes(&b, &["ok", "crash", "bad"], Duration::from_secs(20)).await;
    running.shutdown().await;
    assert_eq!(out["ok"].0, "ok");
    assert_eq!(
        out["crash"].0, "ok",
        "retried on a new process: {:?}",
        out["crash"]
    );
    assert_eq!(
        out["bad"],
        (
            "permanent".to_owned(),
            "permanent failure: said bad".to_owned()
        )
    );
    assert_eq!(watch.started(), 2, "one process, then its replacement");
}

/// Shutdown: the running command gets SIGTERM and the grace period, finishes,
/// and its message is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_a_running_command_and_lets_it_finish() {
    let dir = std::env::temp_dir().join(format!("ebbflow-grace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let (started, termed) = (dir.join("started"), dir.join("termed"));
    let script = format!(
        "trap 'touch {termed}' TERM; cat >/dev/null; touch {started}; sleep 1 & wait; sleep 0.3; exit 0",
        started = started.display(),
        termed = termed.display()
    );
    let children = Children::new();
    let handler = CommandHandler::new(sh(&script), children.clone());
    let (b, running) = start(config(json!({"concurrency": 1})), handler).await;
    send(&b, "slow").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the command did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(children.count(), 1);
    children.terminate_all();
    running.shutdown().await;
    assert!(termed.exists(), "the command got SIGTERM");
    let left = b.stats(Q).await.expect("stats");
    assert_eq!(
        left.total(),
        0,
        "finished within the grace period and deleted: {left:?}"
    );
    assert_eq!(children.count(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The processes follow the pool: a burst grows them, idleness ends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_pool_grows_under_a_burst_and_shrinks_after() {
    let script = r#"
import json, sys, time
for line in sys.stdin:
    m = json.loads(line)
    time.sleep(0.05)
    print(json.dumps({"id": m["id"], "status": "ok"}), flush=True)
"#;
    let argv = vec!["python3".to_owned(), "-c".to_owned(), script.to_owned()];
    let handler = ProcessHandler::with_idle_for(argv, Children::new(), Duration::from_millis(300));
    let watch = handler.watch();
    let (b, running) = start(config(json!({"scaling": {"min": 1, "max": 8, "tick": "100ms", "target_drain_time": "1s", "down": {"stabilisation": "300ms"}}})), handler).await;
    let bodies: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| ebbflow::SendBatchEntry {
                id: format!("e{i}"),
                message: SendMessage::new(body.clone()),
            })
            .collect();
        b.send_batch(Q, entries).await.expect("send");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut most = 0;
    while b.stats(Q).await.expect("stats").total() > 0 {
        most = most.max(watch.processes());
        assert!(
            Instant::now() < deadline,
            "the burst was not drained in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(most >= 3, "the burst grew the processes to {most}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while watch.processes() > 1 {
        assert!(
            Instant::now() < deadline,
            "{} processes still up 15 s after the burst",
            watch.processes()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.shutdown().await;
}

/// A scratch directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ebbflow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z')),
        Err(_) => true,
    }
}

async fn pid_in(file: &std::path::Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A background grandchild that inherited stderr keeps the pipe open; the
/// command's exit status decides, once, and the message is not run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_child_holding_stderr_does_not_make_a_success_run_twice() {
    let dir = scratch("held-stderr");
    let (runs, child) = (dir.join("runs"), dir.join("child"));
    let script = format!(
        "cat >/dev/null; echo run >> {runs}; sh -c 'echo $$ > {child}; exec sleep 30' & exit 0",
        runs = runs.display(),
        child = child.display()
    );
    let handler = CommandHandler::new(sh(&script), Children::new());
    let (b, running) = start(config(json!({"handler_timeout": "3s"})), handler).await;
    send(&b, "once").await;
    let out = outcomes(&b, &["once"], Duration::from_secs(20)).await;
    running.shutdown().await;
    let grandchild = pid_in(&child).await;
    // SAFETY: kill(2) with plain integers; the sleep this test started.
    unsafe {
        libc::kill(grandchild, libc::SIGKILL);
    }
    assert_eq!(out["once"].0, "ok", "{:?}", out["once"]);
    let ran = std::fs::read_to_string(&runs).expect("runs");
    assert_eq!(ran.lines().count(), 1, "the command ran once");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A command that times out is given up with everything it started: its
/// process group hears SIGTERM (then SIGKILL), grandchildren included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_command_takes_its_whole_process_group_with_it() {
    let dir = scratch("group");
    let child = dir.join("child");
    let script = format!(
        "cat >/dev/null; sh -c 'echo $$ > {child}; exec sleep 60' & wait",
        child = child.display()
    );
    let handler = CommandHandler::new(sh(&script), Children::new());
    let (b, running) = start(config(json!({"handler_timeout": "500ms"})), handler).await;
    send(&b, "slow").await;
    let grandchild = pid_in(&child).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ended(grandchild) {
        assert!(
            Instant::now() < deadline,
            "the grandchild {grandchild} outlived its message's timeout"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Children start from a clean environment: PATH, HOME, LANG, LC_*, TZ, the
/// message's variables and what the config names; nothing else of ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sees_only_the_environment_it_is_given() {
    let dir = scratch("env");
    let seen = dir.join("env");
    let script = format!("cat >/dev/null; env > {}", seen.display());
    let named = ["MODE=fast".to_owned(), "CARGO_MANIFEST_DIR".to_owned()];
    let handler = CommandHandler::new(sh(&script), Children::new())
        .with_environment(ebbflow_work::Environment::from_names(&named));
    let (b, running) = start(config(json!({})), handler).await;
    send(&b, "look").await;
    let out = outcomes(&b, &["look"], Duration::from_secs(20)).await;
    running.shutdown().await;
    assert_eq!(out["look"].0, "ok");
    let env: HashMap<String, String> = std::fs::read_to_string(&seen)
        .expect("the environment")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(env.get("MODE").map(String::as_str), Some("fast"));
    assert_eq!(
        env.get("EBBFLOW_ATTR_TENANT").map(String::as_str),
        Some("acme")
    );
    assert_eq!(
        env.get("CARGO_MANIFEST_DIR"),
        std::env::var("CARGO_MANIFEST_DIR").ok().as_ref(),
        "a named variable passes through"
    );
    // What the shell sets itself.
    let shell = ["PWD", "OLDPWD", "SHLVL", "_"];
    for (name, _) in std::env::vars() {
        let allowed = ["PATH", "HOME", "LANG", "TZ", "CARGO_MANIFEST_DIR"].contains(&name.as_str())
            || name.starts_with("LC_")
            || shell.contains(&name.as_str());
        if !allowed {
            assert!(!env.contains_key(&name), "{name} leaked into the handler");
        }
    }
    for name in env.keys() {
        assert!(!name.starts_with("EBBFLOW__"), "{name} leaked");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An attribute too long for one environment string (Linux: 128 KiB) does
/// not fail the spawn: every attribute is in the file the command is told of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attribute_too_big_for_the_environment_reaches_the_command_in_a_file() {
    let dir = scratch("big-attribute");
    let path_seen = dir.join("path");
    let script = format!(
        r#"cat >/dev/null; echo "$EBBFLOW_ATTRIBUTES_FILE" > {seen}
python3 -c 'import json, os, sys
a = json.load(open(os.environ["EBBFLOW_ATTRIBUTES_FILE"]))
sys.exit(0 if len(a["big"]["StringValue"]) == 200 * 1024 and a["tenant"]["StringValue"] == "acme" else 3)'"#,
        seen = path_seen.display()
    );
    let handler = CommandHandler::new(sh(&script), Children::new());
    let (b, running) = start(config(json!({})), handler).await;
    let msg = SendMessage::new("big")
        .attribute("tenant", MessageAttributeValue::string("acme"))
        .attribute("big", MessageAttributeValue::string("x".repeat(200 * 1024)));
    b.send(Q, msg).await.expect("send");
    let out = outcomes(&b, &["big"], Duration::from_secs(20)).await;
    running.shutdown().await;
    assert_eq!(out["big"].0, "ok", "{:?}", out["big"]);
    let file = std::fs::read_to_string(&path_seen).expect("the path");
    assert!(!file.trim().is_empty());
    assert!(
        !std::path::Path::new(file.trim()).exists(),
        "the file goes when the command ends"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
