//! What a handler outside Rust is told about a message, in one place: as
//! HTTP headers, as environment variables, and as a JSON object.

use ebbflow::runtime::Context;
use ebbflow::MessageAttributes;
use serde_json::{json, Value};

/// The message's attributes as SQS's JSON writes them.
pub fn attributes_json(attributes: &MessageAttributes) -> Value {
    json!(ebbflow::attributes_to_json(attributes))
}

/// The message as one JSON object (the long-lived protocol's request and the
/// HTTP batch mode's array items).
pub fn to_json(body: &str, ctx: &Context) -> Value {
    let system = &ctx.message().system;
    json!({
        "id": ctx.message_id(),
        "body": body,
        "queue": ctx.queue(),
        "receive_count": ctx.receive_count(),
        "attempt": ctx.attempt(),
        "sent_timestamp": system.sent_timestamp,
        "group_id": system.message_group_id,
        "deduplication_id": system.message_deduplication_id,
        "sequence_number": system.sequence_number,
        "attributes": attributes_json(ctx.attributes()),
    })
}

/// `(name, value)` pairs of the system facts, named for a prefix such as
/// `X-Ebbflow-` (HTTP) or `EBBFLOW_` (environment); absent ones left out.
pub fn facts(ctx: &Context) -> Vec<(&'static str, String)> {
    let system = &ctx.message().system;
    let mut out = vec![
        ("Queue", ctx.queue().to_owned()),
        ("Message-Id", ctx.message_id().to_owned()),
        ("Receive-Count", ctx.receive_count().to_string()),
        ("Attempt", ctx.attempt().to_string()),
        ("Sent-Timestamp", system.sent_timestamp.to_string()),
    ];
    let optional = [
        ("Group-Id", &system.message_group_id),
        ("Deduplication-Id", &system.message_deduplication_id),
        ("Sequence-Number", &system.sequence_number),
    ];
    out.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k, v))),
    );
    out.push(("Attributes", ascii_json(&attributes_json(ctx.attributes()))));
    out
}

/// JSON with every non-ASCII character escaped, so that it fits an HTTP header.
pub fn ascii_json(value: &Value) -> String {
    let mut out = String::new();
    for c in value.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// `Receive-Count` as an environment variable: `EBBFLOW_RECEIVE_COUNT`.
pub fn env_name(fact: &str) -> String {
    format!("EBBFLOW_{}", upper(fact))
}

/// Message attribute `tenant.id` as an environment variable: `EBBFLOW_ATTR_TENANT_ID`.
pub fn attr_env_name(attribute: &str) -> String {
    format!("EBBFLOW_ATTR_{}", upper(attribute))
}

fn upper(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_json_is_ascii_and_still_the_same_json() {
        let v = json!({"name": "Zoë ☃ 𝄞"});
        let text = ascii_json(&v);
        assert!(text.is_ascii(), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn environment_names_are_upper_case_with_underscores() {
        assert_eq!(env_name("Receive-Count"), "EBBFLOW_RECEIVE_COUNT");
        assert_eq!(attr_env_name("tenant.id"), "EBBFLOW_ATTR_TENANT_ID");
    }
}
