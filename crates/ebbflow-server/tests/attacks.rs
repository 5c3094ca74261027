//! Attacks on `ebbflow serve`, sent through the wire as an outsider would
//! send them: a key reaching queues it was not given, requests built to
//! crash or hold the server, forged signatures, and policies read wrong.
//! Each was answered wrongly once (issue 29); each is refused now.

mod common;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use ebbflow_core::{QueueAttributes, QueueBackend, RedrivePolicy};
use ebbflow_server::{Api, Key, Limits, Server};
use std::sync::Arc;
use std::time::Duration;

const ADMIN: (&str, &str) = ("AKIDADMIN", "admin");
/// May send, look up and receive on `orders`, and set its attributes.
const ORDERS: (&str, &str) = ("AKIDORDERS", "orders");
/// May read (change nothing) on `orders*`.
const TEAM: (&str, &str) = ("AKIDTEAM", "team");
/// May move messages between `orders-dlq` and `orders`.
const MOVER: (&str, &str) = ("AKIDMOVER", "mover");
/// May read everything.
const READER: (&str, &str) = ("AKIDREADER", "reader");

fn key(secret: &str, actions: &[&str], queues: &[&str]) -> Key {
    Key {
        secret: secret.to_owned(),
        actions: actions.iter().map(|s| (*s).to_owned()).collect(),
        queues: queues.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// `orders` and `billing` dead-letter into `orders-dlq`; `billing-dlq` is
/// `billing-eu`'s. Served with the five keys above.
async fn server(limits: Limits) -> (String, Arc<dyn QueueBackend>) {
    let backend: Arc<dyn QueueBackend> = Arc::new(ebbflow_memory::MemoryBackend::new());
    for q in ["orders-dlq", "billing-dlq", "zeta"] {
        backend
            .create_queue(q, QueueAttributes::standard())
            .await
            .expect("create");
    }
    for (q, dlq) in [
        ("orders", "orders-dlq"),
        ("billing", "orders-dlq"),
        ("billing-eu", "billing-dlq"),
    ] {
        let attrs = QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new(dlq, 3));
        backend.create_queue(q, attrs).await.expect("create");
    }
    let mut api = Api::new(backend.clone());
    api.keys = Some(
        [
            (ADMIN.0, Key::full(ADMIN.1)),
            (
                ORDERS.0,
                key(
                    ORDERS.1,
                    &[
                        "SendMessage",
                        "GetQueueUrl",
                        "ReceiveMessage",
                        "SetQueueAttributes",
                    ],
                    &["orders"],
                ),
            ),
            (TEAM.0, key(TEAM.1, &["read"], &["orders*"])),
            (
                MOVER.0,
                key(
                    MOVER.1,
                    &[
                        "StartMessageMoveTask",
                        "CancelMessageMoveTask",
                        "ListMessageMoveTasks",
                    ],
                    &["orders-dlq", "orders"],
                ),
            ),
            (READER.0, key(READER.1, &["read"], &["*"])),
        ]
        .into_iter()
        .map(|(id, k)| (id.to_owned(), k))
        .collect(),
    );
    let server = Server::bind(([127, 0, 0, 1], 0).into(), api)
        .await
        .expect("bind")
        .with_limits(limits);
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.serve(std::future::pending()));
    (format!("http://{addr}"), backend)
}

/// A JSON-protocol request signed by `who`; the answer.
async fn json(endpoint: &str, who: (&str, &str), action: &str, body: &str) -> common::Raw {
    let request = common::signed(endpoint, who.0, who.1, Some(action), body);
    common::raw(endpoint, &request).await.expect("an answer")
}

/// A query-protocol form signed by `who`; the answer.
async fn form(endpoint: &str, who: (&str, &str), body: &str) -> common::Raw {
    let request = common::signed(endpoint, who.0, who.1, None, body);
    common::raw(endpoint, &request).await.expect("an answer")
}

fn url(endpoint: &str, queue: &str) -> String {
    format!("{endpoint}/000000000000/{queue}")
}

fn arn(queue: &str) -> String {
    format!("arn:aws:sqs:us-east-1:000000000000:{queue}")
}

fn assert_denied(answer: &common::Raw, what: &str) {
    assert_eq!(answer.status, 403, "{what}: {}", answer.body);
    assert!(
        answer.body.contains("AccessDenied"),
        "{what}: {}",
        answer.body
    );
}

async fn visible(backend: &Arc<dyn QueueBackend>, queue: &str) -> u64 {
    backend.stats(queue).await.expect("stats").visible
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_the_action_does_not_take_never_change_the_decision() {
    let (endpoint, backend) = server(Limits::default()).await;
    let billing = url(&endpoint, "billing");
    let orders = url(&endpoint, "orders");
    let ok = json(
        &endpoint,
        ORDERS,
        "SendMessage",
        &format!(r#"{{"QueueUrl":"{orders}","MessageBody":"mine"}}"#),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    for extra in [
        r#""TaskHandle":"""#.to_owned(),
        r#""TaskHandle":"ebbflow-move-0-orders""#.to_owned(),
        r#""QueueName":{"not":"a string"}"#.to_owned(),
        r#""QueueName":"orders""#.to_owned(),
        format!(r#""SourceArn":"{}""#, arn("orders")),
    ] {
        let body = format!(r#"{{"QueueUrl":"{billing}","MessageBody":"x",{extra}}}"#);
        let answer = json(&endpoint, ORDERS, "SendMessage", &body).await;
        assert_denied(&answer, &extra);
    }
    let query = form(
        &endpoint,
        ORDERS,
        &format!(
            "Action=SendMessage&QueueUrl={}&QueueName=orders&MessageBody=x",
            billing.replace(':', "%3A").replace('/', "%2F")
        ),
    )
    .await;
    assert_denied(&query, "the query protocol");
    assert_eq!(
        visible(&backend, "billing").await,
        0,
        "nothing reached billing"
    );

    let lookup = json(
        &endpoint,
        ORDERS,
        "GetQueueUrl",
        &format!(r#"{{"QueueName":"billing","QueueUrl":"{orders}"}}"#),
    )
    .await;
    assert_denied(&lookup, "GetQueueUrl of billing beside orders' URL");
    assert!(!lookup.body.contains("/billing"), "{}", lookup.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_task_needs_its_source_and_its_destination_and_not_itself() {
    let (endpoint, _backend) = server(Limits::default()).await;
    let to_billing = json(
        &endpoint,
        MOVER,
        "StartMessageMoveTask",
        &format!(
            r#"{{"SourceArn":"{}","DestinationArn":"{}"}}"#,
            arn("orders-dlq"),
            arn("billing")
        ),
    )
    .await;
    assert_denied(&to_billing, "a destination the key does not reach");
    // Back to its sources: orders (the key's) and billing (not the key's).
    let to_sources = json(
        &endpoint,
        MOVER,
        "StartMessageMoveTask",
        &format!(r#"{{"SourceArn":"{}"}}"#, arn("orders-dlq")),
    )
    .await;
    assert_denied(&to_sources, "a recorded source the key does not reach");

    // A task of someone else's, named by its handle, is not the key's to cancel.
    let other = json(
        &endpoint,
        ADMIN,
        "StartMessageMoveTask",
        &format!(r#"{{"SourceArn":"{}"}}"#, arn("billing-dlq")),
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.body);
    let handle: serde_json::Value = serde_json::from_str(&other.body).expect("JSON");
    let handle = handle["TaskHandle"].as_str().expect("a handle");
    let cancel = json(
        &endpoint,
        MOVER,
        "CancelMessageMoveTask",
        &format!(r#"{{"TaskHandle":"{handle}"}}"#),
    )
    .await;
    assert_denied(&cancel, handle);
    // A handle whose text names the key's queue finds no task by its text.
    let forged = json(
        &endpoint,
        MOVER,
        "CancelMessageMoveTask",
        r#"{"TaskHandle":"ebbflow-move-999-orders-dlq"}"#,
    )
    .await;
    assert!(
        forged.body.contains("ResourceNotFoundException"),
        "{}",
        forged.body
    );

    let itself = json(
        &endpoint,
        ADMIN,
        "StartMessageMoveTask",
        &format!(
            r#"{{"SourceArn":"{}","DestinationArn":"{}"}}"#,
            arn("orders-dlq"),
            arn("orders-dlq")
        ),
    )
    .await;
    assert_eq!(itself.status, 400, "{}", itself.body);
    assert!(itself.body.contains("into the queue they come from"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_policy_names_a_queue_the_key_must_reach() {
    let (endpoint, _backend) = server(Limits::default()).await;
    let policy = format!(
        r#"{{\"deadLetterTargetArn\":\"{}\",\"maxReceiveCount\":\"2\"}}"#,
        arn("billing")
    );
    let answer = json(
        &endpoint,
        ORDERS,
        "SetQueueAttributes",
        &format!(
            r#"{{"QueueUrl":"{}","Attributes":{{"RedrivePolicy":"{policy}"}}}}"#,
            url(&endpoint, "orders")
        ),
    )
    .await;
    assert_denied(&answer, "a dead-letter queue the key does not reach");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_show_only_the_keys_queues_and_their_tokens_name_no_other() {
    let (endpoint, _backend) = server(Limits::default()).await;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let body = match &token {
            Some(t) => format!(r#"{{"MaxResults":1,"NextToken":"{t}"}}"#),
            None => r#"{"MaxResults":1}"#.to_owned(),
        };
        let page = json(&endpoint, TEAM, "ListQueues", &body).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let v: serde_json::Value = serde_json::from_str(&page.body).expect("JSON");
        for u in v["QueueUrls"].as_array().expect("urls") {
            seen.push(
                u.as_str()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        token = v["NextToken"].as_str().map(str::to_owned);
        if let Some(t) = &token {
            assert!(t.starts_with("orders"), "a token names a hidden queue: {t}");
        } else {
            break;
        }
    }
    assert_eq!(seen, ["orders", "orders-dlq"]);
    let sources = json(
        &endpoint,
        TEAM,
        "ListDeadLetterSourceQueues",
        &format!(r#"{{"QueueUrl":"{}"}}"#, url(&endpoint, "orders-dlq")),
    )
    .await;
    assert_eq!(sources.status, 200, "{}", sources.body);
    assert!(sources.body.contains("/orders\""), "{}", sources.body);
    assert!(!sources.body.contains("billing"), "{}", sources.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_actions_are_invalid_action() {
    let (endpoint, _backend) = server(Limits::default()).await;
    let by_target = json(&endpoint, ADMIN, "DeleteEverything", "{}").await;
    assert_eq!(by_target.status, 400);
    assert!(
        by_target.body.contains("InvalidAction"),
        "{}",
        by_target.body
    );
    let by_form = form(&endpoint, ADMIN, "Action=DeleteEverything").await;
    assert!(
        by_form.body.contains("<Code>InvalidAction</Code>"),
        "{}",
        by_form.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_form_is_refused_and_the_server_lives_on() {
    let (endpoint, _backend) = server(Limits::default()).await;
    let deep = format!("Action=ListQueues&{}=1", vec!["a"; 300_000].join("."));
    let unsigned = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{deep}",
        deep.len()
    );
    let answer = common::raw(&endpoint, unsigned.as_bytes())
        .await
        .expect("an answer");
    assert_eq!(answer.status, 403, "refused before it is parsed");
    let signed = form(&endpoint, ADMIN, &deep).await;
    assert_eq!(signed.status, 400, "{}", signed.body);
    let alive = form(&endpoint, ADMIN, "Action=ListQueues").await;
    assert_eq!(
        alive.status, 200,
        "the server still answers: {}",
        alive.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_percent_escape_cut_inside_a_character_gets_an_answer() {
    let (endpoint, _backend) = server(Limits::default()).await;
    // `%1` then the first byte of `é`: the old decoder sliced inside it.
    let mut request = b"GET /?Action=ListQueues&X-Amz-Algorithm=%1".to_vec();
    request.extend_from_slice("é".as_bytes());
    request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let answer = common::raw(&endpoint, &request).await;
    let answer = answer.expect("an answer, not a dropped connection");
    assert!(
        answer.status == 403 || answer.status == 400,
        "{}",
        answer.status
    );
    let alive = form(&endpoint, ADMIN, "Action=ListQueues").await;
    assert_eq!(alive.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_urls_live_at_most_a_week_and_scopes_are_checked() {
    let (endpoint, _backend) = server(Limits::default()).await;
    let request = "GET /?Action=ListQueues&X-Amz-Algorithm=AWS4-HMAC-SHA256\
        &X-Amz-Credential=AKIDADMIN%2F20261207%2Fus-east-1%2Fsqs%2Faws4_request\
        &X-Amz-Date=20261207T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host\
        &X-Amz-Signature=00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answer = common::raw(&endpoint, request.as_bytes())
        .await
        .expect("an answer");
    assert_eq!(answer.status, 403);
    assert!(
        answer.body.contains("AuthorizationQueryParametersError"),
        "{}",
        answer.body
    );
    // A valid signature, for another region.
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("eu-west-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            ADMIN.0, ADMIN.1, None, None, "tests",
        ))
        .build();
    let e = aws_sdk_sqs::Client::from_conf(config)
        .list_queues()
        .send()
        .await
        .expect_err("another region's signature");
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"), "{e:?}");
    assert!(e.message().unwrap_or_default().contains("region"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_cannot_write_the_runtimes_attributes() {
    let (endpoint, backend) = server(Limits::default()).await;
    for name in ["ebbflow.source_queue", "EBBFLOW.reason"] {
        let answer = json(
            &endpoint,
            ADMIN,
            "SendMessage",
            &format!(
                r#"{{"QueueUrl":"{}","MessageBody":"x","MessageAttributes":{{"{name}":{{"DataType":"String","StringValue":"billing"}}}}}}"#,
                url(&endpoint, "orders-dlq")
            ),
        )
        .await;
        assert_eq!(answer.status, 400, "{name}: {}", answer.body);
        assert!(answer.body.contains("reserved"), "{}", answer.body);
    }
    assert_eq!(visible(&backend, "orders-dlq").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_policies_mean_what_they_say() {
    let (endpoint, backend) = server(Limits::default()).await;
    let set = |queue: &str, policy: &str| {
        let escaped = policy.replace('"', "\\\"");
        format!(
            r#"{{"QueueUrl":"{}","Attributes":{{"Policy":"{escaped}"}}}}"#,
            url(&endpoint, queue)
        )
    };
    let unreadable = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
    let answer = json(
        &endpoint,
        ADMIN,
        "SetQueueAttributes",
        &set("zeta", unreadable),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.body.contains("InvalidAttributeValue"),
        "{}",
        answer.body
    );

    // Everybody, but only from one SNS topic: a client of the server is no topic.
    let sns = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:1:t"}}}]}"#;
    let answer = json(&endpoint, ADMIN, "SetQueueAttributes", &set("zeta", sns)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let send = json(
        &endpoint,
        READER,
        "SendMessage",
        &format!(
            r#"{{"QueueUrl":"{}","MessageBody":"x"}}"#,
            url(&endpoint, "zeta")
        ),
    )
    .await;
    assert_denied(&send, "a conditional grant whose condition does not hold");
    assert_eq!(visible(&backend, "zeta").await, 0);

    // A Deny wins over the key's own rules.
    let deny = r#"{"Statement":[{"Effect":"Deny","Principal":{"AWS":"AKIDORDERS"},"Action":"sqs:SendMessage"}]}"#;
    let answer = json(&endpoint, ADMIN, "SetQueueAttributes", &set("orders", deny)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let send = json(
        &endpoint,
        ORDERS,
        "SendMessage",
        &format!(
            r#"{{"QueueUrl":"{}","MessageBody":"x"}}"#,
            url(&endpoint, "orders")
        ),
    )
    .await;
    assert_denied(&send, "denied by the queue's policy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off_at_its_deadline() {
    let limits = Limits {
        body_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (endpoint, _backend) = server(limits).await;
    let request = "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nContent-Length: 1000\r\n\r\n{\"";
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        common::raw(&endpoint, request.as_bytes()),
    )
    .await
    .expect("answered within the deadline, not held open")
    .expect("an answer");
    assert_eq!(answer.status, 408, "{}", answer.body);
}
