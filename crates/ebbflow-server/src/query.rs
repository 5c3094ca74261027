//! SQS's query protocol: form-encoded `Action=…` requests (POST bodies or
//! GET query strings), read into the same JSON the AWS JSON 1.0 protocol
//! carries, and answers written back as SQS's XML. One set of actions serves
//! both protocols.
//!
//! Requests flatten lists and maps with numbered members:
//! `Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=60`,
//! `SendMessageBatchRequestEntry.2.MessageBody=…`,
//! `MessageAttribute.1.Value.StringValue=…`, `AttributeName.1=All`.

use crate::errors::WireError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// SQS's XML namespace, in every answer.
const XMLNS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Request members whose values are numbers in the JSON protocol.
const NUMBERS: [&str; 6] = [
    "DelaySeconds",
    "MaxNumberOfMessages",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "MaxResults",
    "MaxNumberOfMessagesPerSecond",
];

/// The deepest member path SQS has is six parts
/// (`SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue`);
/// a form's paths may have at most this many, so that reading one into JSON
/// (which descends a level per part) has a small, fixed depth.
pub const MAX_DEPTH: usize = 8;

/// Members a form may have: a full batch of ten messages with ten
/// attributes each has about 400.
pub const MAX_MEMBERS: usize = 2_000;

/// The longest member name: six parts, with room to spare.
pub const MAX_NAME: usize = 512;

/// A parsed form: members by dotted path.
#[derive(Default)]
struct Node {
    value: Option<String>,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn insert(&mut self, path: &str, value: String) {
        let mut node = self;
        for part in path.split('.') {
            node = node.children.entry(part.to_owned()).or_default();
        }
        node.value = Some(value);
    }

    /// Numbered children in their numeric order (`.1`, `.2`, … `.10`).
    fn numbered(&self) -> Vec<&Node> {
        let mut items: Vec<(u32, &Node)> = self
            .children
            .iter()
            .filter_map(|(k, v)| k.parse().ok().map(|n| (n, v)))
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v).collect()
    }

    fn text(&self, name: &str) -> Option<String> {
        self.children.get(name)?.value.clone()
    }
}

/// The action and its request as JSON, from form-encoded `bytes` (a body,
/// or a URL's query string), or `None` when the form names no `Action`.
/// A form past [`MAX_MEMBERS`], [`MAX_NAME`] or [`MAX_DEPTH`] is refused.
pub fn read_form(bytes: &[u8]) -> Result<Option<(String, Value)>, WireError> {
    let mut root = Node::default();
    let mut action = None;
    for (i, (k, v)) in form_urlencoded::parse(bytes).enumerate() {
        if i >= MAX_MEMBERS {
            return Err(WireError::invalid(format!(
                "a request has at most {MAX_MEMBERS} parameters"
            )));
        }
        match k.as_ref() {
            "Action" => action = Some(v.into_owned()),
            // The protocol's own members, not the action's.
            "Version" | "SignatureVersion" | "SignatureMethod" | "Timestamp" | "Expires" => {}
            k if k.starts_with("X-Amz-") || k.starts_with("AWSAccessKeyId") => {}
            k => {
                if k.len() > MAX_NAME || k.split('.').count() > MAX_DEPTH {
                    let shown: String = k.chars().take(40).collect();
                    return Err(WireError::invalid(format!(
                        "the parameter name `{shown}…` is longer than {MAX_NAME} bytes or {MAX_DEPTH} parts"
                    )));
                }
                root.insert(k, v.into_owned());
            }
        }
    }
    Ok(action.map(|a| (a, object(&root))))
}

fn object(node: &Node) -> Value {
    let mut out = Map::new();
    for (name, child) in &node.children {
        let (key, value) = member(name, child);
        out.insert(key, value);
    }
    Value::Object(out)
}

/// One member, renamed and reshaped as the JSON protocol has it.
fn member(name: &str, node: &Node) -> (String, Value) {
    let pairs = |key: &str, value: &str| -> Value {
        let mut map = Map::new();
        for item in node.numbered() {
            let (Some(k), Some(v)) = (item.text(key), item.children.get(value)) else {
                continue;
            };
            let v = match &v.value {
                Some(text) if v.children.is_empty() => Value::String(text.clone()),
                _ => object(v),
            };
            map.insert(k, v);
        }
        Value::Object(map)
    };
    let list = || -> Value {
        Value::Array(
            node.numbered()
                .into_iter()
                .filter_map(|n| n.value.clone().map(Value::String))
                .collect(),
        )
    };
    match name {
        "Attribute" | "Attributes" => ("Attributes".into(), pairs("Name", "Value")),
        "Tag" | "Tags" => ("Tags".into(), pairs("Key", "Value")),
        "MessageAttribute" => ("MessageAttributes".into(), pairs("Name", "Value")),
        "MessageSystemAttribute" => ("MessageSystemAttributes".into(), pairs("Name", "Value")),
        "AttributeName" => ("AttributeNames".into(), list()),
        "MessageAttributeName" => ("MessageAttributeNames".into(), list()),
        "MessageSystemAttributeName" => ("MessageSystemAttributeNames".into(), list()),
        "TagKey" | "TagKeys" => ("TagKeys".into(), list()),
        "AWSAccountId" => ("AWSAccountIds".into(), list()),
        "ActionName" => ("Actions".into(), list()),
        n if n.ends_with("BatchRequestEntry") => (
            "Entries".into(),
            Value::Array(node.numbered().into_iter().map(object).collect()),
        ),
        n => {
            let text = node.value.clone().unwrap_or_default();
            let value = match text.parse::<u64>() {
                Ok(number) if NUMBERS.contains(&n) => Value::from(number),
                _ if !node.children.is_empty() => object(node),
                _ => Value::String(text),
            };
            (n.to_owned(), value)
        }
    }
}

fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry other control characters; SQS's bodies
            // exclude them too (#x9, #xA, #xD and above #x20 only).
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c => out.push(c),
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The XML element a JSON member's items are written as.
fn item_name(action: &str, key: &str) -> Option<String> {
    Some(match key {
        "QueueUrls" | "queueUrls" => "QueueUrl".to_owned(),
        "Messages" => "Message".to_owned(),
        "Successful" => format!("{action}ResultEntry"),
        "Failed" => "BatchResultErrorEntry".to_owned(),
        "Results" => "ListMessageMoveTasksResultEntry".to_owned(),
        _ => return None,
    })
}

fn element(out: &mut String, action: &str, key: &str, value: &Value) {
    match (key, value) {
        ("Attributes" | "Tags" | "MessageAttributes", Value::Object(map)) => {
            let (tag, name) = match key {
                "Attributes" => ("Attribute", "Name"),
                "Tags" => ("Tag", "Key"),
                _ => ("MessageAttribute", "Name"),
            };
            for (k, v) in map {
                let _ = write!(out, "<{tag}><{name}>");
                escape(out, k);
                let _ = write!(out, "</{name}>");
                element(out, action, "Value", v);
                let _ = write!(out, "</{tag}>");
            }
        }
        (_, Value::Array(items)) => {
            let tag = item_name(action, key).unwrap_or_else(|| key.to_owned());
            for item in items {
                element(out, action, &tag, item);
            }
        }
        (_, Value::Object(map)) => {
            let _ = write!(out, "<{key}>");
            for (k, v) in map {
                element(out, action, k, v);
            }
            let _ = write!(out, "</{key}>");
        }
        (_, Value::Null) => {}
        (_, v) => {
            let _ = write!(out, "<{key}>");
            escape(out, &scalar(v));
            let _ = write!(out, "</{key}>");
        }
    }
}

/// The XML answer of `action` to a JSON result.
pub fn answer(action: &str, result: &Value, request_id: &str) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "<?xml version=\"1.0\"?><{action}Response xmlns=\"{XMLNS}\">"
    );
    let _ = write!(out, "<{action}Result>");
    if let Value::Object(map) = result {
        for (k, v) in map {
            // The JSON protocol's one lower-case member, written as SQS's XML spells it.
            let k = if k == "queueUrls" { "QueueUrls" } else { k };
            element(&mut out, action, k, v);
        }
    }
    let _ = write!(
        out,
        "</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    out
}

/// An error as the query protocol writes it.
pub fn error(e: &WireError, request_id: &str) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{}</Type><Code>{}</Code><Message>",
        e.fault, e.code
    );
    escape(&mut out, &e.message);
    let _ = write!(
        out,
        "</Message><Detail/></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbered_members_become_the_json_protocols_maps_and_lists() {
        let form = "Action=SendMessageBatch&QueueUrl=http%3A%2F%2Fh%2F0%2Fq\
            &SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=42\
            &SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=hi\
            &SendMessageBatchRequestEntry.1.DelaySeconds=5\
            &SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=tenant\
            &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String\
            &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=t1\
            &Version=2012-11-05";
        let (action, request) = read_form(form.as_bytes())
            .ok()
            .flatten()
            .expect("an action");
        assert_eq!(action, "SendMessageBatch");
        assert_eq!(
            request,
            json!({
                "QueueUrl": "http://h/0/q",
                "Entries": [
                    {"Id": "a", "MessageBody": "hi", "DelaySeconds": 5,
                     "MessageAttributes": {"tenant": {"DataType": "String", "StringValue": "t1"}}},
                    {"Id": "b", "MessageBody": "42"},
                ]
            })
        );
        let (_, request) = read_form(
            b"Action=CreateQueue&QueueName=q&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=60&Tag.1.Key=team&Tag.1.Value=o",
        )
        .ok()
        .flatten()
        .expect("an action");
        assert_eq!(
            request,
            json!({"QueueName": "q", "Attributes": {"VisibilityTimeout": "60"}, "Tags": {"team": "o"}})
        );
        let (_, request) = read_form(
            b"Action=ReceiveMessage&QueueUrl=q&AttributeName.1=All&MaxNumberOfMessages=10",
        )
        .ok()
        .flatten()
        .expect("an action");
        assert_eq!(
            request,
            json!({"QueueUrl": "q", "AttributeNames": ["All"], "MaxNumberOfMessages": 10})
        );
        assert!(matches!(read_form(b"QueueName=q"), Ok(None)));
    }

    #[test]
    fn a_deep_long_or_huge_form_is_refused_not_recursed_into() {
        // This one aborted the server with a stack overflow.
        let deep = format!("Action=ListQueues&{}=1", vec!["a"; 200_000].join("."));
        assert!(read_form(deep.as_bytes()).is_err());
        let many: String = (0..=MAX_MEMBERS).map(|i| format!("m{i}=1&")).collect();
        assert!(read_form(format!("Action=ListQueues&{many}").as_bytes()).is_err());
        let six = "Action=SendMessageBatch&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=x";
        assert!(matches!(read_form(six.as_bytes()), Ok(Some(_))));
    }

    #[test]
    fn answers_are_sqs_xml_with_repeated_members() {
        let result = json!({
            "Messages": [{"MessageId": "m", "Body": "<a & b>",
                          "Attributes": {"SentTimestamp": "1"},
                          "MessageAttributes": {"tenant": {"DataType": "String", "StringValue": "t1"}}}]
        });
        let xml = answer("ReceiveMessage", &result, "r1");
        assert!(xml.contains("<ReceiveMessageResult><Message><Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute><Body>&lt;a &amp; b&gt;</Body>"), "{xml}");
        assert!(xml.contains("<MessageAttribute><Name>tenant</Name><Value><DataType>String</DataType><StringValue>t1</StringValue></Value></MessageAttribute>"), "{xml}");
        assert!(xml.contains("<RequestId>r1</RequestId>"));
        let batch = json!({"Successful": [{"Id": "a"}], "Failed": []});
        let xml = answer("DeleteMessageBatch", &batch, "r");
        assert!(
            xml.contains(
                "<DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>"
            ),
            "{xml}"
        );
        let urls = json!({"QueueUrls": ["u1", "u2"]});
        assert!(answer("ListQueues", &urls, "r")
            .contains("<QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl>"));
    }
}
