//! Access keys and what each may do: the rules `[server.keys.NAME]` gives
//! (`actions`, `queues`), read the same way by `ebbflow serve` and the
//! dashboard.

use crate::config::READ_ONLY_ACTIONS;

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
    /// let key = ebbflow_core::access::Key::full("secret");
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
pub fn unbatched(action: &str) -> &str {
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
}
