//! The queues a config declares (`[queues.NAME]`), made so in the engine:
//! created when missing, and an existing queue's changeable attributes
//! brought to the file's values, each change logged. The file is the one
//! truth for the queues it declares; what SQS cannot change (a queue's FIFO-ness)
//! is refused with the reason. `ebbflow work`, `ebbflow serve` and a Rust
//! program's runtime all start with [`declare_queues`]; `ebbflow config check
//! --diff` shows [`differences`] without changing anything.

use crate::RuntimeError;
use ebbflow_core::config::Config;
use ebbflow_core::{queue_name_from_arn, QueueAttributes, QueueAttributesUpdate, QueueBackend};
use ebbflow_core::{QueueError, RedrivePolicy};
use std::collections::HashSet;
use std::time::Duration;

/// One attribute whose value in the engine is not the file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The queue.
    pub queue: String,
    /// The attribute, as SQS names it (`VisibilityTimeout`, …); `Queue`
    /// when the queue is missing.
    pub attribute: &'static str,
    /// Its value in the engine (`missing` for a missing queue).
    pub engine: String,
    /// Its value in the file.
    pub file: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} in the engine, {} in the file",
            self.queue, self.attribute, self.engine, self.file
        )
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

fn redrive(p: Option<&RedrivePolicy>) -> String {
    match p {
        Some(p) => format!(
            "{} after {} receives",
            queue_name_from_arn(&p.dead_letter_queue),
            p.max_receive_count
        ),
        None => "none".to_owned(),
    }
}

/// The declared queues, each dead-letter queue before the queues that use it.
fn in_order(config: &Config) -> Result<Vec<&String>, RuntimeError> {
    let mut done: HashSet<&str> = HashSet::new();
    let mut order = Vec::with_capacity(config.queues.len());
    while order.len() < config.queues.len() {
        let ready: Vec<&String> = config
            .queues
            .iter()
            .filter(|(name, q)| {
                !done.contains(name.as_str())
                    && q.dead_letter_queue
                        .as_deref()
                        .is_none_or(|d| !config.queues.contains_key(d) || done.contains(d))
            })
            .map(|(name, _)| name)
            .collect();
        if ready.is_empty() {
            return Err(RuntimeError::Config {
                file: None,
                problems: vec!["[queues] name each other as dead-letter queues in a cycle".into()],
            });
        }
        for name in ready {
            done.insert(name);
            order.push(name);
        }
    }
    Ok(order)
}

/// What differs between the changeable attributes of `engine` and `file`.
fn compare(queue: &str, engine: &QueueAttributes, file: &QueueAttributes) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut differ = |attribute: &'static str, e: String, f: String| {
        if e != f {
            out.push(Difference {
                queue: queue.to_owned(),
                attribute,
                engine: e,
                file: f,
            });
        }
    };
    differ(
        "VisibilityTimeout",
        secs(engine.visibility_timeout),
        secs(file.visibility_timeout),
    );
    differ(
        "MessageRetentionPeriod",
        secs(engine.message_retention_period),
        secs(file.message_retention_period),
    );
    differ("DelaySeconds", secs(engine.delay), secs(file.delay));
    differ(
        "MaximumMessageSize",
        engine.maximum_message_size.to_string(),
        file.maximum_message_size.to_string(),
    );
    differ(
        "ReceiveMessageWaitTimeSeconds",
        secs(engine.receive_wait_time),
        secs(file.receive_wait_time),
    );
    if file.fifo {
        differ(
            "ContentBasedDeduplication",
            engine.content_based_deduplication.to_string(),
            file.content_based_deduplication.to_string(),
        );
    }
    differ(
        "RedrivePolicy",
        redrive(engine.redrive_policy.as_ref()),
        redrive(file.redrive_policy.as_ref()),
    );
    out
}

/// How the engine differs from the file, queue by queue, changing nothing:
/// a missing queue is one difference (`Queue`), an existing one each
/// changeable attribute whose value is not the file's.
pub async fn differences(
    backend: &dyn QueueBackend,
    config: &Config,
) -> Result<Vec<Difference>, RuntimeError> {
    let mut out = Vec::new();
    for name in in_order(config)? {
        let file = config.queues[name].attributes(name);
        match backend.get_queue_attributes(name).await {
            Ok(engine) => out.extend(compare(name, &engine, &file)),
            Err(QueueError::QueueDoesNotExist(_)) => out.push(Difference {
                queue: name.clone(),
                attribute: "Queue",
                engine: "missing".to_owned(),
                file: "declared".to_owned(),
            }),
            Err(source) => {
                return Err(RuntimeError::Backend {
                    step: format!("reading queue `{name}`"),
                    source,
                })
            }
        }
    }
    Ok(out)
}

/// Makes the engine's queues what the file declares: creates the missing
/// ones (each dead-letter queue first), and sets the changeable attributes
/// of the others to the file's values, logging each change. A queue whose
/// FIFO-ness differs from its name's is refused: SQS cannot change it.
/// Returns what it changed.
pub async fn declare_queues(
    backend: &dyn QueueBackend,
    config: &Config,
) -> Result<Vec<Difference>, RuntimeError> {
    let mut changed = Vec::new();
    for name in in_order(config)? {
        let step = |what: &str| format!("{what} queue `{name}`");
        let file = config.queues[name].attributes(name);
        let engine = match backend.get_queue_attributes(name).await {
            Ok(engine) => engine,
            Err(QueueError::QueueDoesNotExist(_)) => {
                backend
                    .create_queue(name, file)
                    .await
                    .map_err(|source| RuntimeError::Backend {
                        step: step("creating"),
                        source,
                    })?;
                tracing::info!(queue = %name, "created the queue the config declares");
                changed.push(Difference {
                    queue: name.clone(),
                    attribute: "Queue",
                    engine: "missing".to_owned(),
                    file: "declared".to_owned(),
                });
                continue;
            }
            Err(source) => {
                return Err(RuntimeError::Backend {
                    step: step("reading"),
                    source,
                })
            }
        };
        if engine.fifo != file.fifo {
            return Err(RuntimeError::Config {
                file: None,
                problems: vec![format!(
                    "queues.{name}: the queue in the engine is {} and the file's is {}; SQS cannot \
                     change that: delete and re-create the queue, or rename it in the file",
                    if engine.fifo { "FIFO" } else { "standard" },
                    if file.fifo { "FIFO" } else { "standard" },
                )],
            });
        }
        let differences = compare(name, &engine, &file);
        if differences.is_empty() {
            continue;
        }
        let update = QueueAttributesUpdate {
            visibility_timeout: Some(file.visibility_timeout),
            message_retention_period: Some(file.message_retention_period),
            delay: Some(file.delay),
            maximum_message_size: Some(file.maximum_message_size),
            receive_wait_time: Some(file.receive_wait_time),
            content_based_deduplication: file.fifo.then_some(file.content_based_deduplication),
            redrive_policy: Some(file.redrive_policy.clone()),
            ..QueueAttributesUpdate::default()
        };
        backend
            .set_queue_attributes(name, update)
            .await
            .map_err(|source| RuntimeError::Backend {
                step: step("updating"),
                source,
            })?;
        for d in &differences {
            tracing::info!(
                queue = %d.queue,
                attribute = d.attribute,
                from = %d.engine,
                to = %d.file,
                "brought the queue to the config's value"
            );
        }
        changed.extend(differences);
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebbflow_memory::MemoryBackend;

    fn config(json: serde_json::Value) -> Config {
        serde_json::from_value(json).expect("a config")
    }

    #[tokio::test]
    async fn declared_queues_are_created_then_brought_to_the_files_values() {
        let b = MemoryBackend::new();
        let c = config(serde_json::json!({"queues": {
            "jobs-dlq": {},
            "jobs": {"dead_letter_queue": "jobs-dlq", "max_receive_count": 3, "visibility_timeout": "60s"},
        }}));
        let made = declare_queues(&b, &c).await.expect("declare");
        assert_eq!(made.len(), 2, "{made:?}");
        assert!(differences(&b, &c).await.expect("diff").is_empty());

        // Someone changed a queue by hand: the file wins at the next start.
        let by_hand = QueueAttributesUpdate {
            visibility_timeout: Some(Duration::from_secs(5)),
            redrive_policy: Some(None),
            ..QueueAttributesUpdate::default()
        };
        b.set_queue_attributes("jobs", by_hand).await.expect("set");
        let seen = differences(&b, &c).await.expect("diff");
        let names: Vec<&str> = seen.iter().map(|d| d.attribute).collect();
        assert_eq!(names, ["VisibilityTimeout", "RedrivePolicy"]);
        assert_eq!(
            seen[0].to_string(),
            "jobs VisibilityTimeout: 5s in the engine, 60s in the file"
        );
        declare_queues(&b, &c).await.expect("declare");
        let attrs = b.get_queue_attributes("jobs").await.expect("attrs");
        assert_eq!(attrs.visibility_timeout, Duration::from_secs(60));
        assert_eq!(
            attrs.redrive_policy,
            Some(RedrivePolicy::new("jobs-dlq", 3))
        );
    }

    #[tokio::test]
    async fn a_queue_already_as_declared_is_left_alone() {
        let b = MemoryBackend::new();
        b.create_queue("jobs", QueueAttributes::standard())
            .await
            .expect("create");
        let c = config(serde_json::json!({"queues": {"jobs": {}}}));
        assert!(declare_queues(&b, &c).await.expect("declare").is_empty());
    }
}
