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

/// The longest value one environment variable of a message gets. Linux
/// refuses a single environment string over 128 KiB (`E2BIG`), and all of
/// them with the arguments over a few MiB; what is longer goes in the file.
pub const MAX_ENV_VALUE: usize = 64 << 10;

/// The most all of a message's environment variables take together.
pub const MAX_ENV_TOTAL: usize = 256 << 10;

/// A message's attributes as a JSON file, for a command whose attributes do
/// not all fit in its environment; removed when dropped.
#[derive(Debug)]
pub struct AttributesFile(std::path::PathBuf);

impl Drop for AttributesFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn attributes_file(json: &str) -> std::io::Result<AttributesFile> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Unique by process and counter; create_new refuses a name already
    // there (a stale file, or one planted), rather than writing through it.
    let path = std::env::temp_dir().join(format!(
        "ebbflow-attributes-{}-{n}.json",
        std::process::id()
    ));
    // Only this user reads it; a name already there is never reused.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    let guard = AttributesFile(path);
    file.write_all(json.as_bytes())?;
    Ok(guard)
}

/// Sets a command's message variables: the facts (`EBBFLOW_QUEUE`, …,
/// `EBBFLOW_ATTRIBUTES`) and each string attribute (`EBBFLOW_ATTR_NAME`).
/// A value over [`MAX_ENV_VALUE`], or past [`MAX_ENV_TOTAL`] in all, is
/// left out of the environment; then every attribute is in a JSON file
/// named by `EBBFLOW_ATTRIBUTES_FILE`, which the returned guard removes.
pub fn environment(
    ctx: &Context,
    command: &mut tokio::process::Command,
) -> std::io::Result<Option<AttributesFile>> {
    let mut total = 0usize;
    let mut left_out = false;
    let mut set = |name: String, value: &str, command: &mut tokio::process::Command| {
        let size = name.len() + value.len() + 2;
        if value.len() > MAX_ENV_VALUE || total + size > MAX_ENV_TOTAL {
            left_out = true;
        } else {
            total += size;
            command.env(name, value);
        }
    };
    for (fact, value) in facts(ctx) {
        set(env_name(fact), &value, command);
    }
    for (name, value) in ctx.attributes() {
        if let Some(text) = value.as_str() {
            set(attr_env_name(name), text, command);
        }
    }
    if !left_out {
        return Ok(None);
    }
    let file = attributes_file(&attributes_json(ctx.attributes()).to_string())?;
    command.env("EBBFLOW_ATTRIBUTES_FILE", &file.0);
    Ok(Some(file))
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
