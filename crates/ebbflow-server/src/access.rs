//! Who may do what. A key's own rules come from `[server.keys.NAME]`
//! (`actions`, `queues`); a queue's `Policy` attribute, which `AddPermission`
//! writes, can grant a key more on that queue. Anything else is refused with
//! `AccessDenied`. The key itself is [`ebbflow_core::access::Key`], shared
//! with the dashboard.

use ebbflow_core::access::unbatched;
use serde::Deserialize;
use serde_json::Value;

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
