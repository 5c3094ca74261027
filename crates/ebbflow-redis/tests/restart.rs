//! The backend reconnects after its Redis server restarts and loses no
//! message: against a redis-server this test starts on a free port (with an
//! append-only file, fsynced at every write), stops and starts again.

mod common;

use ebbflow_core::testkit::restart::{free_port, retry};
use ebbflow_core::{QueueAttributes, QueueBackend, ReceiveRequest, SendMessage};
use ebbflow_redis::{RedisBackend, RedisOptions};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command};
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
