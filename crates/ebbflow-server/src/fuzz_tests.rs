//! Fuzzing every parser of a stranger's bytes, inside `cargo test`: the
//! signature's header and presigned forms, percent decoding, the query
//! protocol's form reader, each action's JSON, and queue policies. Each gets
//! arbitrary bytes and structured mutations of what a client really sends,
//! for a bounded number of cases; none may panic, overflow its stack or
//! hang, and whatever they accept holds the bounds they promise.

use crate::request::Action;
use crate::{policy, query, sigv4};
use proptest::prelude::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failure is shrunk to its smallest form, then kept as a
        // regression case below (not in a file: the suite stays readable).
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text made of the characters the parsers treat specially, and some
/// that are not ASCII, so that short strings reach the interesting paths.
fn tricky() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("%".to_owned()),
            Just(".".to_owned()),
            Just("&".to_owned()),
            Just("=".to_owned()),
            Just("/".to_owned()),
            Just(",".to_owned()),
            Just("é".to_owned()),
            Just("\u{10348}".to_owned()),
            Just("%C3".to_owned()),
            Just("%E9".to_owned()),
            Just("1".to_owned()),
            "[A-Za-z]{1,6}",
            any::<char>().prop_map(String::from),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// A form as SDKs write one, with members renamed, renumbered and nested
/// at random.
fn form() -> impl Strategy<Value = String> {
    let name = proptest::collection::vec(
        prop_oneof![
            Just("SendMessageBatchRequestEntry".to_owned()),
            Just("MessageAttribute".to_owned()),
            Just("Attribute".to_owned()),
            Just("Value".to_owned()),
            Just("Name".to_owned()),
            Just("StringValue".to_owned()),
            Just("QueueUrl".to_owned()),
            Just("Entries".to_owned()),
            (0u32..20).prop_map(|n| n.to_string()),
            Just(u32::MAX.to_string()),
            Just("99999999999999999999".to_owned()),
        ],
        1..10,
    )
    .prop_map(|parts| parts.join("."));
    let action = prop_oneof![
        Just("SendMessageBatch".to_owned()),
        Just("CreateQueue".to_owned()),
        Just("ReceiveMessage".to_owned()),
        "[A-Za-z]{0,12}",
    ];
    (action, proptest::collection::vec((name, tricky()), 0..30)).prop_map(|(action, members)| {
        let mut out = format!("Action={action}");
        for (k, v) in members {
            out.push('&');
            out.push_str(&k);
            out.push('=');
            out.push_str(&v);
        }
        out
    })
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        tricky().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[A-Za-z]{1,24}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The members SQS's actions take, so that mutations reach past the first
/// missing field.
const MEMBERS: [&str; 16] = [
    "QueueUrl",
    "QueueName",
    "MessageBody",
    "Entries",
    "Attributes",
    "MessageAttributes",
    "MessageSystemAttributes",
    "ReceiptHandle",
    "VisibilityTimeout",
    "SourceArn",
    "DestinationArn",
    "TaskHandle",
    "MaxResults",
    "NextToken",
    "Tags",
    "MaxNumberOfMessagesPerSecond",
];

fn action_request() -> impl Strategy<Value = (String, Vec<u8>)> {
    let action = prop_oneof![
        proptest::sample::select(ebbflow_core::config::SQS_ACTIONS.to_vec())
            .prop_map(str::to_owned),
        "[A-Za-z]{0,12}",
    ];
    let members = proptest::collection::btree_map(
        proptest::sample::select(MEMBERS.to_vec()).prop_map(str::to_owned),
        json_value(),
        0..8,
    );
    let body = prop_oneof![
        members.prop_map(|m| {
            serde_json::to_vec(&serde_json::Value::Object(m.into_iter().collect()))
                .unwrap_or_default()
        }),
        proptest::collection::vec(any::<u8>(), 0..200),
    ];
    (action, body)
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let authorization = prop_oneof![
        tricky(),
        (tricky(), tricky(), tricky()).prop_map(|(c, s, sig)| format!(
            "AWS4-HMAC-SHA256 Credential={c}, SignedHeaders={s}, Signature={sig}"
        )),
        Just("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date;x-amz-content-sha256, Signature=00".to_owned()),
    ];
    (authorization, tricky(), tricky()).prop_map(|(a, date, sha)| {
        vec![
            ("Authorization".to_owned(), a),
            ("Host".to_owned(), "h".to_owned()),
            ("X-Amz-Date".to_owned(), date),
            ("X-Amz-Content-Sha256".to_owned(), sha),
        ]
    })
}

fn presigned_query() -> impl Strategy<Value = String> {
    (tricky(), tricky(), tricky(), tricky(), tricky()).prop_map(|(cred, date, exp, sh, rest)| {
        format!(
            "Action=ListQueues&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}\
             &X-Amz-Date={date}&X-Amz-Expires={exp}&X-Amz-SignedHeaders={sh}&X-Amz-Signature=0&{rest}"
        )
    })
}

fn secret(id: &str) -> Option<String> {
    (id == "AKID").then(|| "secret".to_owned())
}

const NOW: u64 = 1_440_938_160;

proptest! {
    #![proptest_config(config(1_000))]

    #[test]
    fn signatures_in_headers_never_panic(headers in headers(), path in tricky(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let request = sigv4::Request { method: "POST", path: &path, query: "", headers: &headers, body: &body };
        let verified = sigv4::verify(&request, &secret, UNIX_EPOCH + Duration::from_secs(NOW));
        prop_assert!(verified.is_err(), "a random signature verified");
    }

    #[test]
    fn presigned_queries_never_panic(query in presigned_query()) {
        let headers = vec![("Host".to_owned(), "h".to_owned())];
        let request = sigv4::Request { method: "GET", path: "/", query: &query, headers: &headers, body: b"" };
        let verified = sigv4::verify(&request, &secret, SystemTime::now());
        prop_assert!(verified.is_err());
    }

    #[test]
    fn percent_decoding_never_panics(text in tricky(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = sigv4::decode(&text);
        let _ = sigv4::decode(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn forms_are_read_within_their_bounds(form in form(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for input in [form.as_bytes(), bytes.as_slice()] {
            if let Ok(Some((_, value))) = query::read_form(input) {
                prop_assert!(depth(&value) <= query::MAX_DEPTH + 1);
            }
        }
    }

    #[test]
    fn every_action_parses_any_body_without_panicking((action, body) in action_request()) {
        if let Ok(parsed) = Action::parse(&action, &body) {
            prop_assert_eq!(parsed.name(), action.as_str());
            for q in parsed.queues() {
                prop_assert!(!q.is_empty(), "an empty queue name reached the check");
            }
        }
    }

    #[test]
    fn policies_are_checked_and_evaluated_without_panicking(doc in json_value(), statements in proptest::collection::vec(json_value(), 0..4)) {
        let whole = serde_json::json!({"Statement": statements}).to_string();
        for text in [doc.to_string(), whole] {
            let readable = policy::check(&text).is_ok();
            let context = policy::Context::default();
            let verdict = policy::evaluate(&text, "AKID", "SendMessage", &context);
            // What cannot be read never grants.
            if !readable {
                prop_assert_ne!(verdict, policy::Verdict::Allow);
            }
        }
    }
}

/// The nesting depth of a JSON value, counted without recursion.
fn depth(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            serde_json::Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            serde_json::Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// Inputs that broke a parser once (issue 29's report), kept.
#[test]
fn regressions() {
    // A percent escape cut inside a character (a panic per request).
    let _ = sigv4::decode("%1\u{e9}");
    let headers = vec![("Host".to_owned(), "h".to_owned())];
    let request = sigv4::Request {
        method: "GET",
        path: "/%\u{e9}",
        query: "X-Amz-Algorithm=%1\u{e9}",
        headers: &headers,
        body: b"",
    };
    assert!(sigv4::verify(&request, &secret, SystemTime::now()).is_err());
    // A dotted name 200,000 parts deep (a stack overflow: the process died).
    let deep = format!("Action=A&{}=1", vec!["a"; 200_000].join("."));
    assert!(query::read_form(deep.as_bytes()).is_err());
}
