//! The SQS backend's conformance suite, through the real Rust AWS SDK,
//! against `ebbflow serve`'s API over the durable SQLite engine: every rule
//! an SQS client can observe must hold through the wire, every request signed
//! (SigV4) and verified.

use async_trait::async_trait;
mod common;

use ebbflow_core::testkit::Harness;
use ebbflow_core::QueueBackend;
use ebbflow_server::{Api, Key, Server};
use ebbflow_sqlite::{SqliteBackend, SqliteOptions};
use ebbflow_sqs::SqsBackend;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// One server for the whole test binary, on its own runtime (each test has its own).
fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => panic!("a runtime for the server: {e}"),
            };
            runtime.block_on(async move {
                let dir = tempfile::tempdir().expect("a temp dir");
                // The rules are about the wire, not power cuts: skip the fsync per commit.
                let mut options = SqliteOptions::new(dir.path().join("serve.db"));
                options.synchronous = ebbflow_sqlite::Synchronous::Normal;
                let backend = SqliteBackend::open(&options).expect("the SQLite engine opens");
                let mut api = Api::new(Arc::new(backend));
                api.keys = Some(HashMap::from([("test".to_owned(), Key::full("test"))]));
                let server = Server::bind(([127, 0, 0, 1], 0).into(), api)
                    .await
                    .expect("bind");
                let addr = server.local_addr().expect("addr");
                tx.send(format!("http://{addr}"))
                    .expect("send the endpoint");
                server.serve(std::future::pending()).await;
                drop(dir);
            });
        });
        rx.recv().expect("the server's endpoint")
    })
}

struct Serve {
    backend: Arc<dyn QueueBackend>,
}

async fn serve() -> Serve {
    Serve {
        backend: Arc::new(SqsBackend::from_client(common::client(
            endpoint(),
            "test",
            "test",
        ))),
    }
}

#[async_trait]
impl Harness for Serve {
    async fn backend(&self) -> Arc<dyn QueueBackend> {
        self.backend.clone()
    }

    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }

    fn unsupported(&self, rule: &str) -> Option<&'static str> {
        // What no SQS endpoint can show a client, and nothing else.
        ebbflow_sqs::UNSUPPORTED_BY_SQS
            .iter()
            .find(|(name, _)| *name == rule)
            .map(|(_, why)| *why)
    }

    fn waived(&self, clause: &str) -> Option<&'static str> {
        ebbflow_sqs::WAIVED_BY_SQS
            .iter()
            .find(|(name, _)| *name == clause)
            .map(|(_, why)| *why)
    }
}

ebbflow_core::conformance_suite!(real_clock, serve());
