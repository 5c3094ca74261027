//! The backend reconnects after its Redis server restarts and loses no
//! message: against a redis-server these tests start on a free port (with an
//! append-only file, fsynced at every write), stop and start again. One
//! does it under a kill run: worker processes running the runtime, killed
//! with SIGKILL under load while the server restarts, decided by the
//! history checker.

mod common;

use ebbflow_core::testkit::restart::{free_port, retry};
use ebbflow_core::{QueueAttributes, QueueBackend, ReceiveRequest, SendMessage};
use ebbflow_redis::{RedisBackend, RedisOptions};
use ebbflow_runtime::testkit::{kill_child, kill_child_target, kill_run, KillPlan};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

struct Server {
    child: Child,
}

impl Server {
    fn start(dir: &Path, port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting redis-server (is it installed?): {e}"));
        Self { child }
    }

    /// A graceful stop (SIGTERM: Redis flushes its append-only file and exits).
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_restart_and_loses_nothing() {
    // Needs only redis-server, not the shared service; still skips with the others.
    if common::url().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ebbflow-redis-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let port = free_port();
    let server = Server::start(&dir, port);
    let url = format!("redis://127.0.0.1:{port}");
    let backend = retry("connect", async || {
        RedisBackend::connect(&RedisOptions::new(&url))
            .await
            .map_err(Into::into)
    })
    .await;
    let q = "restart";
    retry("create", async || {
        backend.create_queue(q, QueueAttributes::standard()).await
    })
    .await;
    for i in 0..100 {
        backend
            .send(q, SendMessage::new(format!("m{i}")))
            .await
            .unwrap_or_else(|e| panic!("send: {e}"));
    }
    // Ten in flight across the restart: their handles must still delete them after.
    let in_flight = backend
        .receive(
            q,
            ReceiveRequest::new(10).visibility_timeout(Duration::from_secs(600)),
        )
        .await
        .unwrap_or_else(|e| panic!("receive: {e}"));
    assert_eq!(in_flight.len(), 10);

    server.stop();
    assert!(
        backend
            .send(q, SendMessage::new("while down"))
            .await
            .is_err(),
        "the server is down"
    );
    let server = Server::start(&dir, port);

    let mut bodies = BTreeSet::new();
    for m in &in_flight {
        retry("delete", async || {
            backend.delete(q, &m.receipt_handle).await
        })
        .await;
        bodies.insert(m.body.clone());
    }
    retry("send", async || {
        backend.send(q, SendMessage::new("after")).await
    })
    .await;
    loop {
        let got = retry("receive", async || {
            backend
                .receive(q, ReceiveRequest::new(10).wait(Duration::ZERO))
                .await
        })
        .await;
        if got.is_empty() {
            break;
        }
        for m in got {
            assert!(bodies.insert(m.body.clone()), "{} came twice", m.body);
            retry("delete", async || {
                backend.delete(q, &m.receipt_handle).await
            })
            .await;
        }
    }
    let expected: BTreeSet<String> = (0..100)
        .map(|i| format!("m{i}"))
        .chain(["after".to_owned()])
        .collect();
    assert_eq!(
        bodies, expected,
        "every message sent before and after the restart, once"
    );
    let stats = retry("stats", async || backend.stats(q).await).await;
    assert_eq!((stats.visible, stats.in_flight), (0, 0));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ebbflow-redis-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

async fn connect(url: &str) -> Arc<dyn ebbflow_core::QueueBackend> {
    let backend = retry("connect", async || {
        RedisBackend::connect(&RedisOptions::new(url))
            .await
            .map_err(Into::into)
    })
    .await;
    Arc::new(backend)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_under_load_while_the_server_restarts_keep_every_promise() {
    if common::url().is_none() {
        return;
    }
    let dir = temp_dir("kills");
    let port = free_port();
    let mut server = Some(Server::start(&dir, port));
    let url = format!("redis://127.0.0.1:{port}");
    let backend = connect(&url).await;
    // Every other kill, the server goes down for half a second and comes back.
    let restart = |k: usize| {
        if k.is_multiple_of(2) {
            if let Some(s) = server.take() {
                s.stop();
            }
            std::thread::sleep(Duration::from_millis(500));
            server = Some(Server::start(&dir, port));
            println!("redis-server restarted");
        }
    };
    let plan = KillPlan::default();
    kill_run(backend, &url, "kills", plan, "kill_worker", restart)
        .await
        .assert_ok();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_workers_killed_under_load_keep_each_group_in_order() {
    let Some(url) = common::url() else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    let backend = connect(&url).await;
    let plan = KillPlan::fifo();
    let prefix = format!("kills-{}", fastrand::u64(..));
    kill_run(backend, &url, &prefix, plan, "kill_worker", |_| {})
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of the kill runs"]
async fn kill_worker() {
    let Some(url) = kill_child_target() else {
        return;
    };
    kill_child(connect(&url).await).await;
}
