//! Queue attributes as SQS spells them: names, and values as strings
//! (seconds, bytes, JSON policies).

use ebbflow_core::{
    queue_name_from_arn, QueueAttributes, QueueAttributesUpdate, QueueError, QueueStats,
    RedriveAllowPolicy, RedrivePolicy, ServerSideEncryption,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Turns a queue name into its ARN (the server's region and account).
pub type ArnOf<'a> = &'a dyn Fn(&str) -> String;

fn seconds(d: Duration) -> String {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).to_string()
}

/// `GetQueueAttributes`' answer, every attribute. `at_rest`: whether the
/// engine keeps nothing in the clear at rest
/// ([`ebbflow_core::QueueBackend::encrypts_at_rest`]).
pub fn describe(
    name: &str,
    a: &QueueAttributes,
    stats: &QueueStats,
    arn_of: ArnOf<'_>,
    at_rest: bool,
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_owned(), v);
    };
    put("QueueArn", arn_of(name));
    put("VisibilityTimeout", seconds(a.visibility_timeout));
    put(
        "MessageRetentionPeriod",
        seconds(a.message_retention_period),
    );
    put("DelaySeconds", seconds(a.delay));
    put("MaximumMessageSize", a.maximum_message_size.to_string());
    put(
        "ReceiveMessageWaitTimeSeconds",
        seconds(a.receive_wait_time),
    );
    put("ApproximateNumberOfMessages", stats.visible.to_string());
    put(
        "ApproximateNumberOfMessagesNotVisible",
        stats.in_flight.to_string(),
    );
    put(
        "ApproximateNumberOfMessagesDelayed",
        stats.delayed.to_string(),
    );
    if a.fifo {
        put("FifoQueue", "true".to_owned());
        put(
            "ContentBasedDeduplication",
            a.content_based_deduplication.to_string(),
        );
        // The engines deduplicate per queue and order per group at the
        // queue's pace: SQS's defaults, its only settings here.
        put("DeduplicationScope", DEDUPLICATION_SCOPE.to_owned());
        put("FifoThroughputLimit", FIFO_THROUGHPUT_LIMIT.to_owned());
    }
    // SQS-managed encryption is what the engine does at rest (its own keys,
    // `[backend] encryption_key_file`): true only where it does, so that a
    // client is never told its messages are encrypted when they are not.
    // A KMS key is kept and described as set; no KMS is called.
    match &a.encryption {
        ServerSideEncryption::SqsManaged => put("SqsManagedSseEnabled", at_rest.to_string()),
        ServerSideEncryption::Off => put("SqsManagedSseEnabled", "false".to_owned()),
        ServerSideEncryption::Kms {
            key_id,
            data_key_reuse_period,
        } => {
            put("SqsManagedSseEnabled", "false".to_owned());
            put("KmsMasterKeyId", key_id.clone());
            put(
                "KmsDataKeyReusePeriodSeconds",
                seconds(*data_key_reuse_period),
            );
        }
    }
    if let Some(p) = &a.redrive_policy {
        put(
            "RedrivePolicy",
            json!({"deadLetterTargetArn": arn_of(&p.dead_letter_queue), "maxReceiveCount": p.max_receive_count}).to_string(),
        );
    }
    let allow = match &a.redrive_allow_policy {
        RedriveAllowPolicy::AllowAll => json!({"redrivePermission": "allowAll"}),
        RedriveAllowPolicy::DenyAll => json!({"redrivePermission": "denyAll"}),
        RedriveAllowPolicy::ByQueue(queues) => json!({
            "redrivePermission": "byQueue",
            "sourceQueueArns": queues.iter().map(|q| arn_of(queue_name_from_arn(q))).collect::<Vec<_>>(),
        }),
    };
    if a.redrive_allow_policy != RedriveAllowPolicy::AllowAll {
        put("RedriveAllowPolicy", allow.to_string());
    }
    if let Some(policy) = &a.policy {
        put("Policy", policy.clone());
    }
    // A queue made before engines stamped their queues has neither.
    if let Some(t) = a.created_timestamp {
        put("CreatedTimestamp", t.to_string());
    }
    if let Some(t) = a.last_modified_timestamp {
        put("LastModifiedTimestamp", t.to_string());
    }
    m
}

/// `Policy=…`: a JSON document, or empty to remove it.
fn policy(value: &str) -> Result<Option<String>, QueueError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(value) {
        Ok(Value::Object(_)) => {}
        _ => return Err(QueueError::invalid("Policy", "not a JSON policy document")),
    }
    crate::policy::check(value).map_err(|why| QueueError::invalid("Policy", why))?;
    Ok(Some(value.to_owned()))
}

fn statements(policy: Option<&str>) -> Result<Vec<Value>, QueueError> {
    let Some(text) = policy else {
        return Ok(Vec::new());
    };
    let doc: Value = serde_json::from_str(text)
        .map_err(|_| QueueError::invalid("Policy", "the queue's policy is not JSON"))?;
    Ok(match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => Vec::new(),
    })
}

/// A policy document as SQS writes one: its `Id`, `Version` and statements.
fn document(id: &str, statements: Vec<Value>) -> String {
    json!({"Version": "2012-10-17", "Id": id, "Statement": statements}).to_string()
}

/// The `Id` a policy has, else the one SQS gives a queue's: `ARN/SQSDefaultPolicy`.
fn id_of(policy: Option<&str>, queue_arn: &str) -> String {
    policy
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .and_then(|doc| doc.get("Id").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| format!("{queue_arn}/SQSDefaultPolicy"))
}

fn label_of(statement: &Value) -> Option<&str> {
    statement.get("Sid").and_then(Value::as_str)
}

/// The queue's policy with a statement `label` granting `principals` (access
/// key ids) `actions`, as SQS's `AddPermission` writes it.
pub fn add_permission(
    policy: Option<&str>,
    queue_arn: &str,
    label: &str,
    principals: &[String],
    actions: &[String],
) -> Result<String, QueueError> {
    if label.is_empty()
        || label.len() > 80
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(QueueError::invalid(
            "Label",
            "1 to 80 letters, digits, hyphens and underscores",
        ));
    }
    if principals.is_empty() || actions.is_empty() {
        return Err(QueueError::invalid(
            "AWSAccountIds",
            "name at least one principal and one action",
        ));
    }
    for a in actions {
        if a != "*" && !ebbflow_core::config::SQS_ACTIONS.contains(&a.as_str()) {
            return Err(QueueError::invalid(
                "Actions",
                format!("`{a}` is not an SQS action"),
            ));
        }
    }
    let mut all = statements(policy)?;
    if all.iter().any(|s| label_of(s) == Some(label)) {
        return Err(QueueError::invalid(
            "Label",
            format!("`{label}` is already used by a permission of this queue"),
        ));
    }
    all.push(json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": actions.iter().map(|a| format!("SQS:{a}")).collect::<Vec<_>>(),
        "Resource": queue_arn,
    }));
    Ok(document(&id_of(policy, queue_arn), all))
}

/// The queue's policy without the statement `label`; `None` when none is left.
pub fn remove_permission(
    policy: Option<&str>,
    queue_arn: &str,
    label: &str,
) -> Result<Option<String>, QueueError> {
    let mut all = statements(policy)?;
    let before = all.len();
    all.retain(|s| label_of(s) != Some(label));
    if all.len() == before {
        return Err(QueueError::invalid(
            "Label",
            format!("no permission of this queue is labelled `{label}`"),
        ));
    }
    Ok((!all.is_empty()).then(|| document(&id_of(policy, queue_arn), all)))
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, QueueError> {
    value
        .trim()
        .parse()
        .map_err(|_| QueueError::invalid(name, format!("`{value}` is not a whole number")))
}

/// Reads `CreateQueue`'s or `SetQueueAttributes`' attributes. Returns the
/// update and whether `FifoQueue` was set to true.
pub fn parse(map: &HashMap<String, String>) -> Result<(QueueAttributesUpdate, bool), QueueError> {
    let mut u = QueueAttributesUpdate::default();
    let mut fifo = false;
    for (name, value) in map {
        let secs = || number::<u64>(name, value).map(Duration::from_secs);
        match name.as_str() {
            "VisibilityTimeout" => u.visibility_timeout = Some(secs()?),
            "MessageRetentionPeriod" => u.message_retention_period = Some(secs()?),
            "DelaySeconds" => u.delay = Some(secs()?),
            "ReceiveMessageWaitTimeSeconds" => u.receive_wait_time = Some(secs()?),
            "MaximumMessageSize" => u.maximum_message_size = Some(number(name, value)?),
            "FifoQueue" => fifo = flag(name, value)?,
            "ContentBasedDeduplication" => u.content_based_deduplication = Some(flag(name, value)?),
            "RedrivePolicy" => u.redrive_policy = Some(redrive_policy(value)?),
            "RedriveAllowPolicy" => u.redrive_allow_policy = Some(redrive_allow_policy(value)?),
            "Policy" => u.policy = Some(policy(value)?),
            "SqsManagedSseEnabled" => u.sqs_managed_sse = Some(flag(name, value)?),
            "KmsMasterKeyId" => u.kms_master_key_id = Some(value.trim().to_owned()),
            "KmsDataKeyReusePeriodSeconds" => u.kms_data_key_reuse_period = Some(secs()?),
            // High-throughput FIFO would deduplicate per group: a message
            // another group's id matches would be dropped here instead.
            "DeduplicationScope" => only(name, value, DEDUPLICATION_SCOPE, "messageGroup")?,
            "FifoThroughputLimit" => only(name, value, FIFO_THROUGHPUT_LIMIT, "perMessageGroupId")?,
            other => {
                return Err(QueueError::InvalidAttributeName {
                    name: other.to_owned(),
                    reason: "not a queue attribute".to_owned(),
                })
            }
        }
    }
    if u.sqs_managed_sse == Some(true)
        && u.kms_master_key_id.as_ref().is_some_and(|k| !k.is_empty())
    {
        return Err(QueueError::invalid(
            "SqsManagedSseEnabled",
            "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.",
        ));
    }
    Ok((u, fifo))
}

/// The FIFO deduplication scope the engines keep.
const DEDUPLICATION_SCOPE: &str = "queue";
/// The FIFO throughput limit the engines keep.
const FIFO_THROUGHPUT_LIMIT: &str = "perQueue";

/// Accepts `value` only if it is `kept`; SQS's other value `elsewhere` is
/// refused with a reason, anything else as SQS refuses it.
fn only(name: &str, value: &str, kept: &str, elsewhere: &str) -> Result<(), QueueError> {
    if value == kept {
        Ok(())
    } else if value == elsewhere {
        Err(QueueError::invalid(
            name,
            format!(
                "`{elsewhere}` (high-throughput FIFO) is not supported: ebbflow keeps `{kept}`"
            ),
        ))
    } else {
        Err(QueueError::invalid(
            name,
            format!("Invalid value for the parameter {name}."),
        ))
    }
}

fn flag(name: &str, value: &str) -> Result<bool, QueueError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(QueueError::invalid(
            name,
            format!("`{value}` is not true or false"),
        )),
    }
}

fn redrive_policy(value: &str) -> Result<Option<RedrivePolicy>, QueueError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let bad = |why: &str| QueueError::invalid("RedrivePolicy", why.to_owned());
    let v: Value = serde_json::from_str(value).map_err(|_| bad("not JSON"))?;
    let target = v["deadLetterTargetArn"]
        .as_str()
        .ok_or_else(|| bad("deadLetterTargetArn is missing"))?;
    let count = match &v["maxReceiveCount"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad("maxReceiveCount is missing or not a number"))?;
    Ok(Some(RedrivePolicy::new(
        target,
        u32::try_from(count).unwrap_or(u32::MAX),
    )))
}

fn redrive_allow_policy(value: &str) -> Result<RedriveAllowPolicy, QueueError> {
    let bad = |why: &str| QueueError::invalid("RedriveAllowPolicy", why.to_owned());
    let v: Value = serde_json::from_str(value).map_err(|_| bad("not JSON"))?;
    match v["redrivePermission"].as_str() {
        Some("allowAll") => Ok(RedriveAllowPolicy::AllowAll),
        Some("denyAll") => Ok(RedriveAllowPolicy::DenyAll),
        Some("byQueue") => Ok(RedriveAllowPolicy::ByQueue(
            v["sourceQueueArns"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(|s| queue_name_from_arn(s).to_owned())
                        .collect()
                })
                .unwrap_or_default(),
        )),
        _ => Err(bad("redrivePermission is allowAll, denyAll or byQueue")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_attributes_parse_back_to_the_same_queue() {
        let a = QueueAttributes::fifo()
            .with_visibility_timeout(Duration::from_secs(45))
            .with_content_based_deduplication(true)
            .with_redrive_policy(RedrivePolicy::new("dlq.fifo", 4))
            .with_redrive_allow_policy(RedriveAllowPolicy::DenyAll);
        let arn_of = |n: &str| format!("arn:aws:sqs:us-east-1:000000000000:{n}");
        let described = describe("q.fifo", &a, &QueueStats::default(), &arn_of, true);
        let settable: HashMap<String, String> = described
            .into_iter()
            .filter(|(k, _)| !k.starts_with("Approximate") && k != "QueueArn")
            .collect();
        let (update, fifo) = parse(&settable).unwrap();
        assert!(fifo);
        let back = update.apply(&QueueAttributes::fifo());
        // The update stamps its own time; the rest is what was described.
        assert!(back.last_modified_timestamp.is_some());
        assert_eq!(
            QueueAttributes {
                last_modified_timestamp: None,
                ..back
            },
            a
        );
    }

    #[test]
    fn unknown_names_and_bad_values_are_refused_with_their_name() {
        let one = |k: &str, v: &str| parse(&HashMap::from([(k.to_owned(), v.to_owned())]));
        assert_eq!(
            one("Visibility", "1").unwrap_err().code(),
            "InvalidAttributeName"
        );
        let e = one("VisibilityTimeout", "soon").unwrap_err();
        assert!(e.to_string().contains("VisibilityTimeout"), "{e}");
        assert!(one("RedrivePolicy", "{}").is_err());
    }

    /// The attribute and action names of the book's SQS reference
    /// (`docs/book/src/reference/sqs.md`): the first cell of each row of
    /// the table under `heading`, split at commas, backticks removed.
    fn names_in_reference(heading: &str) -> std::collections::BTreeSet<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/book/src/reference/sqs.md");
        let page = std::fs::read_to_string(&path).unwrap();
        let section = page.split(heading).nth(1).unwrap();
        let section = section.split("\n## ").next().unwrap();
        section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .flat_map(|l| {
                l.split('|')
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .map(|n| n.trim().trim_matches('`').to_owned())
            .collect()
    }

    #[test]
    fn the_reference_names_every_action_and_attribute() {
        let arn_of = |n: &str| format!("arn:aws:sqs:us-east-1:000000000000:{n}");
        let fifo = QueueAttributes::fifo()
            .with_redrive_policy(RedrivePolicy::new("dlq.fifo", 4))
            .with_redrive_allow_policy(RedriveAllowPolicy::DenyAll);
        let standard = QueueAttributes {
            encryption: ServerSideEncryption::Kms {
                key_id: "alias/k".into(),
                data_key_reuse_period: Duration::from_secs(300),
            },
            policy: Some("{}".into()),
            created_timestamp: Some(1),
            last_modified_timestamp: Some(2),
            ..QueueAttributes::standard()
        };
        let mut described: std::collections::BTreeSet<String> = Default::default();
        for a in [&fifo, &standard, &QueueAttributes::standard()] {
            described.extend(describe("q", a, &QueueStats::default(), &arn_of, true).into_keys());
        }
        let mut documented = names_in_reference("## Queue attributes per engine");
        // `…NotVisible` stands for the name it shortens.
        for short in ["…NotVisible", "…Delayed"] {
            if documented.remove(short) {
                documented.insert(format!("ApproximateNumberOfMessages{}", &short[3..]));
            }
        }
        assert_eq!(documented, described, "the book's attribute table");
        let actions: std::collections::BTreeSet<String> = ebbflow_core::config::SQS_ACTIONS
            .iter()
            .map(|a| a.to_string())
            .collect();
        let documented = names_in_reference("## Actions");
        assert_eq!(documented, actions, "the book's action table");
    }
}
