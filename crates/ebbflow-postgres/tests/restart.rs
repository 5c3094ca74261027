//! The backend reconnects after its PostgreSQL server restarts and loses no
//! message: against a server this test creates in a temporary data directory
//! (initdb) on a free port, stops and starts again with pg_ctl. One does it
//! under a kill run: worker processes running the runtime, killed with
//! SIGKILL under load while the server restarts, decided by the history
//! checker.

mod common;

use ebbflow_core::testkit::restart::{free_port, retry};
use ebbflow_core::{QueueAttributes, QueueBackend, ReceiveRequest, SendMessage};
use ebbflow_postgres::{PostgresBackend, PostgresOptions};
use ebbflow_runtime::testkit::{kill_child, kill_child_target, kill_run, KillPlan};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// A throwaway cluster. PostgreSQL refuses to run as root, so as root its
/// programs run as the `postgres` user.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

fn output(cmd: &mut Command) -> String {
    match cmd.output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Ok(out) => panic!(
            "{cmd:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("{cmd:?}: {e}"),
    }
}

impl Cluster {
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_root {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    fn create(dir: &Path, port: u16) -> Self {
        let bin = PathBuf::from(output(Command::new("pg_config").arg("--bindir")));
        let as_root = output(Command::new("id").arg("-u")) == "0";
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        if as_root {
            output(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir),
            );
        }
        let cluster = Self {
            bin,
            dir: dir.to_path_buf(),
            port,
            as_root,
        };
        output(
            cluster
                .command("initdb")
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(dir.join("data")),
        );
        cluster
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.display()
        );
        output(
            self.command("pg_ctl")
                .args(["-w", "-D"])
                .arg(self.dir.join("data"))
                .args(["-o", &options, "-l"])
                .arg(self.dir.join("log"))
                .arg("start"),
        );
    }

    fn stop(&self) {
        output(
            self.command("pg_ctl")
                .args(["-w", "-m", "fast", "-D"])
                .arg(self.dir.join("data"))
                .arg("stop"),
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.join("data"))
            .arg("stop")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_restart_and_loses_nothing() {
    // Needs only PostgreSQL's programs, not the shared service; still skips with the others.
    if common::url().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ebbflow-pg-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let cluster = Cluster::create(&dir, port);
    cluster.start();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let backend = retry("connect", async || {
        PostgresBackend::connect(&PostgresOptions::new(&url).pool_size(4))
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

    cluster.stop();
    assert!(
        backend
            .send(q, SendMessage::new("while down"))
            .await
            .is_err(),
        "the server is down"
    );
    cluster.start();

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
}

async fn connect(url: &str) -> Arc<dyn QueueBackend> {
    let backend = retry("connect", async || {
        PostgresBackend::connect(&PostgresOptions::new(url).pool_size(8))
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
    let dir = std::env::temp_dir().join(format!("ebbflow-pg-kills-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let cluster = Cluster::create(&dir, port);
    cluster.start();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let backend = connect(&url).await;
    // Every other kill, the server goes down for half a second and comes back.
    let restart = |k: usize| {
        if k.is_multiple_of(2) {
            cluster.stop();
            std::thread::sleep(Duration::from_millis(500));
            cluster.start();
            println!("PostgreSQL restarted");
        }
    };
    kill_run(
        backend,
        &url,
        "kills",
        KillPlan::default(),
        "kill_worker",
        restart,
    )
    .await
    .assert_ok();
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
