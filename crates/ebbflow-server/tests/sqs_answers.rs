//! `ebbflow serve` answers as Amazon SQS does, through the real Rust SDK:
//! SQS's error codes and texts where clients match them, the request id on
//! every answer, and the members SQS writes (issue 31, first part).

mod common;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::operation::RequestId;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use std::sync::Arc;

async fn client() -> (aws_sdk_sqs::Client, String) {
    let backend = Arc::new(ebbflow_memory::MemoryBackend::new());
    let endpoint = common::serve(backend, &[("AKID", "secret")]).await;
    (common::client(&endpoint, "AKID", "secret"), endpoint)
}

/// Creates a standard queue with SQS's defaults; its URL.
async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create")
        .queue_url()
        .expect("url")
        .to_owned()
}

/// Every attribute `GetQueueAttributes` describes for `All`.
async fn all_attributes(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> std::collections::HashMap<QueueAttributeName, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes")
        .attributes()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_sqs_codes_and_texts() {
    let (sqs, _) = client().await;
    let url = sqs
        .create_queue()
        .queue_name("small")
        .attributes(QueueAttributeName::MaximumMessageSize, "1024")
        .send()
        .await
        .expect("create")
        .queue_url()
        .expect("url")
        .to_owned();

    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x".repeat(2000))
        .send()
        .await
        .expect_err("too long");
    assert_eq!(e.code(), Some("InvalidParameterValue"), "{e:?}");
    assert!(
        e.message().unwrap_or_default().starts_with(
            "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."
        ),
        "{e:?}"
    );

    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_attributes(
            "AWS.reserved",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("v")
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .expect_err("a reserved attribute name");
    assert_eq!(e.code(), Some("InvalidParameterValue"), "{e:?}");

    let e = sqs
        .get_queue_url()
        .queue_name("nowhere")
        .send()
        .await
        .expect_err("missing");
    assert_eq!(
        e.code(),
        Some("AWS.SimpleQueueService.NonExistentQueue"),
        "{e:?}"
    );
    assert_eq!(
        e.message(),
        Some("The specified queue does not exist."),
        "{e:?}"
    );

    let e = sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle("not-a-handle")
        .send()
        .await
        .expect_err("a bad handle");
    assert_eq!(e.code(), Some("ReceiptHandleIsInvalid"), "{e:?}");
    assert_eq!(e.message(), Some("The input receipt handle is invalid."));

    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(Vec::<SendMessageBatchRequestEntry>::new()))
        .send()
        .await
        .expect_err("an empty batch");
    assert_eq!(
        e.message(),
        Some("There should be at least one SendMessageBatchRequestEntry in the request."),
        "{e:?}"
    );

    let e = sqs
        .create_queue()
        .queue_name("bad name!")
        .send()
        .await
        .expect_err("a bad name");
    assert_eq!(e.code(), Some("InvalidParameterValue"), "{e:?}");
    assert_eq!(
        e.message(),
        Some(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )
    );
    assert!(
        e.request_id().is_some_and(|id| !id.is_empty()),
        "an error has its request id: {e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_a_request_id_and_only_the_members_sqs_writes() {
    let (sqs, _) = client().await;
    let created = sqs
        .create_queue()
        .queue_name("q")
        .send()
        .await
        .expect("create");
    let url = created.queue_url().expect("url").to_owned();
    let id = created.request_id().expect("x-amzn-RequestId").to_owned();
    let other = sqs.list_queues().send().await.expect("list");
    assert_ne!(other.request_id(), Some(id.as_str()), "one id per request");

    let none = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .send()
        .await
        .expect("attributes");
    assert!(
        none.attributes().is_none(),
        "nothing asked, no Attributes member"
    );

    sqs.add_permission()
        .queue_url(&url)
        .label("reader")
        .aws_account_ids("AKIDOTHER")
        .actions("ReceiveMessage")
        .send()
        .await
        .expect("add permission");
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .expect("attributes");
    let policy = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::Policy))
        .expect("a policy");
    let doc: serde_json::Value = serde_json::from_str(policy).expect("JSON");
    assert_eq!(
        doc["Id"], "arn:aws:sqs:us-east-1:000000000000:q/SQSDefaultPolicy",
        "{policy}"
    );
}

/// `MessageAttributeNames` selects as SQS does: names, `All`, `.*`, and
/// `prefix.*` for every name starting with the prefix (issue 31).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_attribute_names_select_as_sqs() {
    let (sqs, _) = client().await;
    let url = sqs
        .create_queue()
        .queue_name("attrs")
        .attributes(QueueAttributeName::VisibilityTimeout, "0")
        .send()
        .await
        .expect("create")
        .queue_url()
        .expect("url")
        .to_owned();
    let text = |v: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .expect("attribute")
    };
    sqs.send_message()
        .queue_url(&url)
        .message_body("msg")
        .message_attributes("Help.Me", text("Me"))
        .message_attributes("Hello", text("There"))
        .message_attributes("General", text("Kenobi"))
        .send()
        .await
        .expect("send");
    for (asked, expected) in [
        (vec!["Hel.*"], vec!["Hello", "Help.Me"]),
        (vec![".*"], vec!["General", "Hello", "Help.Me"]),
        (vec!["All"], vec!["General", "Hello", "Help.Me"]),
        (vec!["Foo", "Hello"], vec!["Hello"]),
        (vec!["Help"], vec![]),
    ] {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .set_message_attribute_names(Some(asked.iter().map(|s| s.to_string()).collect()))
            .send()
            .await
            .expect("receive");
        let message = got.messages().first().expect("the message");
        let mut names: Vec<&str> = message
            .message_attributes()
            .map(|a| a.keys().map(String::as_str).collect())
            .unwrap_or_default();
        names.sort_unstable();
        assert_eq!(names, expected, "asked for {asked:?}");
    }
}

/// A FIFO queue describes SQS's FIFO defaults and takes only them: high
/// throughput would deduplicate per group, which the engines do not; every
/// queue says it has no SQS-managed encryption (issue 31).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_throughput_settings_are_described_and_only_the_kept_ones_taken() {
    let (sqs, _) = client().await;
    let url = sqs
        .create_queue()
        .queue_name("q.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::DeduplicationScope, "queue")
        .send()
        .await
        .expect("create with the default scope")
        .queue_url()
        .expect("url")
        .to_owned();
    let attrs = all_attributes(&sqs, &url).await;
    let get = |n: QueueAttributeName| attrs.get(&n).map(String::as_str);
    assert_eq!(get(QueueAttributeName::DeduplicationScope), Some("queue"));
    assert_eq!(
        get(QueueAttributeName::FifoThroughputLimit),
        Some("perQueue")
    );
    assert_eq!(get(QueueAttributeName::SqsManagedSseEnabled), Some("true"));

    for (name, value) in [
        (QueueAttributeName::DeduplicationScope, "messageGroup"),
        (QueueAttributeName::FifoThroughputLimit, "perMessageGroupId"),
        (QueueAttributeName::DeduplicationScope, "nonsense"),
    ] {
        let e = sqs
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(name.clone(), value)
            .send()
            .await
            .expect_err("not taken");
        assert_eq!(
            e.code(),
            Some("InvalidAttributeValue"),
            "{name:?}={value}: {e:?}"
        );
    }
}

/// `TagQueue` and `UntagQueue` check their input as SQS does: the parameter
/// present, tag keys of 1 to 128 letters, digits, whitespace and
/// `_ . : / = + - @`, with SQS's texts (issue 31).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_input_is_checked_as_sqs_checks_it() {
    let (sqs, endpoint) = client().await;
    let url = create_queue(&sqs, "tagged").await;
    for (key, text) in [
        ("bad#key", "Tag keys may only contain unicode letters, digits, whitespace, or one of these symbols: _ . : / = + - @"),
        ("", "Tag keys must be between 1 and 128 characters in length."),
    ] {
        let e = sqs
            .tag_queue()
            .queue_url(&url)
            .tags(key, "v")
            .send()
            .await
            .expect_err("refused");
        assert_eq!(e.code(), Some("InvalidParameterValue"), "{key}: {e:?}");
        assert_eq!(e.message(), Some(text), "{key}");
    }
    sqs.tag_queue()
        .queue_url(&url)
        .tags("team name/ü:=+-@_.", "v")
        .send()
        .await
        .expect("letters, whitespace and the symbols are taken");

    // The SDK will not send a request without its required members: raw JSON.
    for (action, parameter) in [("TagQueue", "Tags"), ("UntagQueue", "TagKeys")] {
        let body = format!(r#"{{"QueueUrl":"{url}"}}"#);
        let request = common::signed(&endpoint, "AKID", "secret", Some(action), &body);
        let answer = common::raw(&endpoint, &request).await.expect("an answer");
        assert_eq!(answer.status, 400, "{action}: {}", answer.body);
        assert!(
            answer.body.contains("MissingParameter"),
            "{action}: {}",
            answer.body
        );
        assert!(
            answer.body.contains(&format!(
                "The request must contain the parameter {parameter}."
            )),
            "{action}: {}",
            answer.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_are_dated_and_trace_headers_come_back_when_asked_for() {
    use aws_sdk_sqs::types::{
        MessageSystemAttributeName, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    };
    let (sqs, _) = client().await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let url = create_queue(&sqs, "dated").await;
    let attrs = all_attributes(&sqs, &url).await;
    for name in [
        QueueAttributeName::CreatedTimestamp,
        QueueAttributeName::LastModifiedTimestamp,
    ] {
        let seconds: u64 = attrs
            .get(&name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name:?} in whole seconds: {attrs:?}"));
        assert!(
            (before..=before + 5).contains(&seconds),
            "{name:?} {seconds}"
        );
    }
    let e = sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::CreatedTimestamp, "0")
        .send()
        .await
        .expect_err("a timestamp is not a setting");
    assert_eq!(e.code(), Some("InvalidAttributeName"), "{e:?}");

    let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let trace = MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value(header)
        .build()
        .expect("value");
    sqs.send_message()
        .queue_url(&url)
        .message_body("traced")
        .message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, trace)
        .send()
        .await
        .expect("send");
    let receive = |names: Vec<MessageSystemAttributeName>| {
        let sqs = sqs.clone();
        let url = url.clone();
        async move {
            let got = sqs
                .receive_message()
                .queue_url(&url)
                .set_message_system_attribute_names(Some(names))
                .visibility_timeout(0)
                .send()
                .await
                .expect("receive");
            let m = got.messages().first().cloned().expect("a message");
            m.attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader))
                .cloned()
        }
    };
    assert_eq!(
        receive(vec![MessageSystemAttributeName::AwsTraceHeader]).await,
        Some(header.to_owned())
    );
    assert_eq!(
        receive(vec![MessageSystemAttributeName::All]).await,
        Some(header.to_owned())
    );
    assert_eq!(
        receive(vec![MessageSystemAttributeName::SentTimestamp]).await,
        None,
        "not asked for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_encryption_settings_are_kept_as_sqs_describes_them() {
    use QueueAttributeName::{KmsDataKeyReusePeriodSeconds, KmsMasterKeyId, SqsManagedSseEnabled};
    let (sqs, _) = client().await;
    let url = create_queue(&sqs, "sse").await;
    let described = |sqs: aws_sdk_sqs::Client, url: String| async move {
        let all = all_attributes(&sqs, &url).await;
        [
            SqsManagedSseEnabled,
            KmsMasterKeyId,
            KmsDataKeyReusePeriodSeconds,
        ]
        .map(|n| all.get(&n).cloned())
    };
    let set = |pairs: Vec<(QueueAttributeName, &'static str)>| {
        let sqs = sqs.clone();
        let url = url.clone();
        async move {
            let mut request = sqs.set_queue_attributes().queue_url(&url);
            for (name, value) in pairs {
                request = request.attributes(name, value);
            }
            request.send().await
        }
    };
    let some = |v: &str| Some(v.to_owned());
    assert_eq!(
        described(sqs.clone(), url.clone()).await,
        [some("true"), None, None],
        "SQS-managed keys by default"
    );
    set(vec![(KmsMasterKeyId, "alias/orders")])
        .await
        .expect("KMS");
    assert_eq!(
        described(sqs.clone(), url.clone()).await,
        [some("false"), some("alias/orders"), some("300")]
    );
    set(vec![(KmsDataKeyReusePeriodSeconds, "600")])
        .await
        .expect("period");
    assert_eq!(
        described(sqs.clone(), url.clone()).await,
        [some("false"), some("alias/orders"), some("600")]
    );
    for (pairs, why) in [
        (
            vec![(KmsDataKeyReusePeriodSeconds, "59")],
            "a period under a minute",
        ),
        (
            vec![(SqsManagedSseEnabled, "true"), (KmsMasterKeyId, "alias/x")],
            "both kinds at once",
        ),
    ] {
        let e = set(pairs).await.expect_err(why);
        assert_eq!(e.code(), Some("InvalidParameterValue"), "{why}: {e:?}");
    }
    let e = set(vec![
        (SqsManagedSseEnabled, "true"),
        (KmsMasterKeyId, "alias/x"),
    ])
    .await
    .expect_err("both kinds");
    assert_eq!(
        e.message(),
        Some("You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.")
    );
    set(vec![(SqsManagedSseEnabled, "true")])
        .await
        .expect("SQS-managed");
    assert_eq!(
        described(sqs.clone(), url.clone()).await,
        [some("true"), None, None]
    );
    set(vec![(SqsManagedSseEnabled, "false")])
        .await
        .expect("off");
    assert_eq!(
        described(sqs.clone(), url.clone()).await,
        [some("false"), None, None]
    );
}

/// `SqsManagedSseEnabled` says what the engine does at rest (issue 35): an
/// unencrypted SQLite file answers `false` even when the client asks for
/// SSE; the same engine given a key answers `true`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_managed_encryption_is_described_as_the_engine_keeps_messages() {
    use QueueAttributeName::SqsManagedSseEnabled;
    let dir = tempfile::tempdir().expect("dir");
    let key = dir.path().join("key");
    std::fs::write(&key, "ab".repeat(32)).expect("key");
    for (file, sealed, expected) in [("plain.db", false, "false"), ("sealed.db", true, "true")] {
        let mut options = ebbflow_sqlite::SqliteOptions::new(dir.path().join(file));
        if sealed {
            options = options.encryption(ebbflow_sqlite::KeySource::File(key.clone()));
        }
        let backend = Arc::new(ebbflow_sqlite::SqliteBackend::open(&options).expect("open"));
        let endpoint = common::serve(backend, &[("AKID", "secret")]).await;
        let sqs = common::client(&endpoint, "AKID", "secret");
        let url = create_queue(&sqs, "sse").await;
        sqs.set_queue_attributes()
            .queue_url(&url)
            .attributes(SqsManagedSseEnabled, "true")
            .send()
            .await
            .expect("asked for SSE");
        let all = all_attributes(&sqs, &url).await;
        assert_eq!(
            all.get(&SqsManagedSseEnabled).map(String::as_str),
            Some(expected),
            "{file}"
        );
    }
}
