//! Structured logs. A test binary of its own: tracing caches whether a span
//! is enabled per call site for the whole process, so a scoped subscriber only
//! sees every span when no other test thread races it to those call sites.

mod support;

use ebbflow_core::config::{LogConfig, LogFormat};
use ebbflow_core::{QueueBackend, SendMessage};
use ebbflow_memory::MemoryBackend;
use ebbflow_runtime::{handler_fn, log_subscriber, Context, HandlerError, Runtime};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// A writer the log subscriber shares with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// The default current-thread runtime keeps every task on this thread, where
// the scoped subscriber applies.
#[tokio::test]
async fn json_logs_carry_the_message_span_and_never_the_body() {
    let captured = Captured::default();
    let writer = captured.clone();
    let log = LogConfig {
        format: LogFormat::Json,
        level: "info".to_owned(),
    };
    let subscriber = log_subscriber(&log, move || writer.clone()).expect("subscriber");
    let _guard = tracing::subscriber::set_default(subscriber);

    let backend: Arc<dyn QueueBackend> = Arc::new(MemoryBackend::new());
    let cfg = support::config(
        json!({
            "queues": {"cards-dlq": {}, "cards": {"dead_letter_queue": "cards-dlq"}},
            "workers": {"cards": {"wait_time": "1s"}}
        }),
        json!({"enabled": false}),
    );
    let running = Runtime::new(cfg, backend.clone())
        .handler(
            "cards",
            handler_fn(|_: String, _: Context| async {
                Err::<(), _>(HandlerError::permanent("card declined"))
            }),
        )
        .start()
        .await
        .expect("start");
    let secret = "4111-1111-1111-1111";
    let receipt = backend
        .send(
            "cards",
            SendMessage::new(format!(r#"{{"card":"{secret}"}}"#)),
        )
        .await
        .expect("send");
    let stats = running.stats("cards").expect("group");
    support::eventually("dead-lettered", || stats.dead_lettered.get() == 1).await;
    running.shutdown().await;

    let text = String::from_utf8(captured.0.lock().expect("log buffer").clone()).expect("utf-8");
    assert!(!text.contains(secret), "a body reached the logs:\n{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let dead = lines
        .iter()
        .find(|l| l["fields"]["message"] == "dead-lettered")
        .unwrap_or_else(|| panic!("no dead-letter line in:\n{text}"));
    assert_eq!(dead["level"], "WARN");
    assert_eq!(dead["span"]["name"], "message");
    assert_eq!(dead["span"]["queue"], "cards");
    assert_eq!(dead["span"]["message_id"], receipt.message_id.as_str());
    assert_eq!(dead["span"]["receive_count"], 1);
}

#[test]
fn a_bad_log_level_names_its_key() {
    let log = LogConfig {
        format: LogFormat::Pretty,
        level: "ebbflow=loud".to_owned(),
    };
    if std::env::var_os("RUST_LOG").is_some() {
        println!("skipped: RUST_LOG is set and takes precedence over log.level");
        return;
    }
    let err = log_subscriber(&log, std::io::sink).err().expect("refused");
    assert!(err.to_string().contains("log.level"), "{err}");
}
