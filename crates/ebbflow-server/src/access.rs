//! Who may do what. A key's own rules come from `[server.keys.NAME]`
//! (`actions`, `queues`); a queue's `Policy` attribute, which `AddPermission`
//! writes, can grant a key more on that queue. Anything else is refused with
//! `AccessDenied`.

use ebbflow_core::config::READ_ONLY_ACTIONS;
use serde::Deserialize;
use serde_json::Value;

/// One access key: its secret and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The secret access key requests are signed with.
    pub secret: String,
    /// Actions it may call: names, `read` (those that change nothing) or `*`.
    pub actions: Vec<String>,
    /// Queues it may use: names, `prefix*` patterns or `*`.
    pub queues: Vec<String>,
}

impl Key {
    /// A key that may do everything.
    ///
    /// ```
    /// let key = ebbflow_server::Key::full("secret");
    /// assert_eq!(key.actions, ["*"]);
    /// ```
    pub fn full(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            actions: vec!["*".to_owned()],
            queues: vec!["*".to_owned()],
        }
    }

    /// Whether its own rules allow `action` on `queue` (`None` for an
    /// action on no one queue, such as `ListQueues`).
    pub fn allows(&self, action: &str, queue: Option<&str>) -> bool {
        action_matches(&self.actions, action) && queue.is_none_or(|q| self.covers(q))
    }

    /// Whether its queue patterns take in `queue`.
    pub fn covers(&self, queue: &str) -> bool {
        self.queues.iter().any(|p| queue_matches(p, queue))
    }

    /// Whether it may do everything (no request needs reading to decide).
    pub fn is_full(&self) -> bool {
        self.actions.iter().any(|a| a == "*") && self.queues.iter().any(|q| q == "*")
    }
}

/// The action a batch shares its permission with, as on SQS.
fn unbatched(action: &str) -> &str {
    action.strip_suffix("Batch").unwrap_or(action)
}

fn action_matches(patterns: &[String], action: &str) -> bool {
    patterns.iter().any(|p| {
        p == "*"
            || p == action
            || p == unbatched(action)
            || (p == "read" && READ_ONLY_ACTIONS.contains(&action))
    })
}

fn queue_matches(pattern: &str, queue: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => queue.starts_with(prefix),
        None => pattern == queue,
    }
}

/// The queue a request names, for the access check: its `QueueUrl`,
/// `QueueName`, `SourceArn` or `TaskHandle` (a move task's source), as a name.
pub fn queue_named(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        #[serde(rename = "QueueUrl")]
        queue_url: Option<String>,
        #[serde(rename = "QueueName")]
        queue_name: Option<String>,
        #[serde(rename = "SourceArn")]
        source_arn: Option<String>,
        #[serde(rename = "TaskHandle")]
        task_handle: Option<String>,
    }
    let named: Named = serde_json::from_slice(body).ok()?;
    if let Some(handle) = named.task_handle {
        return crate::moves::source_of_handle(&handle).map(str::to_owned);
    }
    let text = named.queue_url.or(named.queue_name).or(named.source_arn)?;
    Some(ebbflow_core::queue_name_from_arn(text.trim_end_matches('/')).to_owned())
}

/// The principal a grant names: an access key id, also written as an IAM ARN.
fn principal(text: &str) -> &str {
    text.strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.strip_suffix(":root"))
        .unwrap_or(text)
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether the policy document `policy` lets `key_id` call `action`: an
/// `Allow` statement naming the key (or `*`) and the action (`SQS:Action`,
/// `SQS:*` or `*`; a batch goes with its single action).
pub fn policy_grants(policy: &str, key_id: &str, action: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        return false;
    };
    strings_or_objects(doc.get("Statement")).iter().any(|st| {
        let allow = st.get("Effect").and_then(Value::as_str) == Some("Allow");
        let principals = match st.get("Principal") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(p) => strings(p.get("AWS")),
            None => Vec::new(),
        };
        let who = principals
            .iter()
            .any(|p| *p == "*" || principal(p) == key_id);
        let what = strings(st.get("Action")).iter().any(|a| {
            let name = a
                .split_once(':')
                .filter(|(service, _)| service.eq_ignore_ascii_case("sqs"))
                .map_or(*a, |(_, name)| name);
            name == "*" || name == action || name == unbatched(action)
        });
        allow && who && what
    })
}

fn strings_or_objects(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(actions: &[&str], queues: &[&str]) -> Key {
        Key {
            secret: "s".into(),
            actions: actions.iter().map(|s| (*s).to_owned()).collect(),
            queues: queues.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn a_key_is_limited_to_its_actions_and_queues() {
        let producer = key(&["SendMessage", "GetQueueUrl"], &["orders", "billing-*"]);
        assert!(producer.allows("SendMessage", Some("orders")));
        assert!(producer.allows("SendMessageBatch", Some("billing-eu")));
        assert!(!producer.allows("SendMessage", Some("orders-dlq")));
        assert!(!producer.allows("ReceiveMessage", Some("orders")));
        assert!(!producer.is_full());
        assert!(Key::full("s").is_full());
    }

    #[test]
    fn read_allows_only_what_changes_nothing() {
        let dashboard = key(&["read"], &["*"]);
        assert!(dashboard.allows("GetQueueAttributes", Some("orders")));
        assert!(dashboard.allows("ListQueues", None));
        for action in [
            "ReceiveMessage",
            "SendMessage",
            "PurgeQueue",
            "DeleteMessage",
        ] {
            assert!(!dashboard.allows(action, Some("orders")), "{action}");
        }
    }

    #[test]
    fn a_policy_grants_its_principals_their_actions() {
        let policy = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"a","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::AKIDA:root"]},"Action":["SQS:SendMessage"]},
            {"Sid":"b","Effect":"Allow","Principal":{"AWS":"AKIDB"},"Action":"SQS:*"}]}"#;
        assert!(policy_grants(policy, "AKIDA", "SendMessage"));
        assert!(policy_grants(policy, "AKIDA", "SendMessageBatch"));
        assert!(!policy_grants(policy, "AKIDA", "ReceiveMessage"));
        assert!(policy_grants(policy, "AKIDB", "PurgeQueue"));
        assert!(!policy_grants(policy, "AKIDC", "SendMessage"));
        assert!(!policy_grants("not json", "AKIDA", "SendMessage"));
    }

    #[test]
    fn the_queue_is_read_from_url_name_or_source_arn() {
        assert_eq!(
            queue_named(br#"{"QueueUrl":"http://h/000000000000/orders"}"#).as_deref(),
            Some("orders")
        );
        assert_eq!(queue_named(br#"{"QueueName":"q"}"#).as_deref(), Some("q"));
        assert_eq!(
            queue_named(br#"{"SourceArn":"arn:aws:sqs:us-east-1:0:dlq"}"#).as_deref(),
            Some("dlq")
        );
        assert_eq!(queue_named(b"{}"), None);
    }
}
