//! Signatures enforced through the wire: unsigned, wrongly signed, unknown-key
//! and stale requests are refused with SQS's codes; a signed one is served.

mod common;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn server() -> String {
    let backend = Arc::new(ebbflow_memory::MemoryBackend::new());
    common::serve(backend, &[("AKIDREAL", "real-secret")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_requests_signed_with_a_known_key_are_served() {
    let endpoint = server().await;
    let good = common::client(&endpoint, "AKIDREAL", "real-secret");
    good.create_queue()
        .queue_name("signed")
        .send()
        .await
        .expect("a signed request is served");

    let wrong = common::client(&endpoint, "AKIDREAL", "not-the-secret");
    let e = wrong
        .list_queues()
        .send()
        .await
        .expect_err("a wrong secret is refused");
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"), "{e:?}");

    let unknown = common::client(&endpoint, "AKIDOTHER", "real-secret");
    let e = unknown
        .list_queues()
        .send()
        .await
        .expect_err("an unknown key is refused");
    assert_eq!(e.code(), Some("InvalidClientTokenId"), "{e:?}");

    // Unsigned, straight over TCP.
    let addr = endpoint.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = r#"{"QueueName":"sneaky"}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: AmazonSQS.CreateQueue\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("MissingAuthenticationToken"), "{answer}");

    let queues = good.list_queues().send().await.expect("list");
    assert_eq!(
        queues.queue_urls().len(),
        1,
        "nothing was created by the refused requests"
    );
}

/// Admin may do everything; the producer may send to `orders` (and look up
/// its URL); the dashboard may read.
async fn server_with_rules() -> String {
    let backend = Arc::new(ebbflow_memory::MemoryBackend::new());
    let rule = |actions: &[&str], queues: &[&str], secret: &str| ebbflow_server::Key {
        secret: secret.to_owned(),
        actions: actions.iter().map(|s| (*s).to_owned()).collect(),
        queues: queues.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut api = ebbflow_server::Api::new(backend);
    api.keys = Some(
        [
            ("AKIDADMIN", ebbflow_server::Key::full("admin")),
            (
                "AKIDPRODUCER",
                rule(&["SendMessage", "GetQueueUrl"], &["orders"], "producer"),
            ),
            ("AKIDDASH", rule(&["read"], &["*"], "dash")),
            ("AKIDTEAM", rule(&["read"], &["orders*"], "team")),
        ]
        .into_iter()
        .map(|(id, key)| (id.to_owned(), key))
        .collect(),
    );
    common::serve_api(api).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_may_do_only_what_its_rules_allow() {
    let endpoint = server_with_rules().await;
    let admin = common::client(&endpoint, "AKIDADMIN", "admin");
    for q in ["orders", "billing"] {
        admin
            .create_queue()
            .queue_name(q)
            .send()
            .await
            .expect("create");
    }
    let producer = common::client(&endpoint, "AKIDPRODUCER", "producer");
    producer
        .send_message()
        .queue_url(format!("{endpoint}/000000000000/orders"))
        .message_body("o")
        .send()
        .await
        .expect("the producer sends to orders");
    let e = producer
        .send_message()
        .queue_url(format!("{endpoint}/000000000000/billing"))
        .message_body("b")
        .send()
        .await
        .expect_err("not to billing");
    assert_eq!(e.code(), Some("AccessDenied"), "{e:?}");
    let listed = producer
        .list_queues()
        .send()
        .await
        .expect_err("the producer may not list");
    assert_eq!(listed.code(), Some("AccessDenied"));
    let dashboard_lists = common::client(&endpoint, "AKIDDASH", "dash")
        .list_queues()
        .send()
        .await
        .expect("the dashboard lists");
    assert_eq!(
        dashboard_lists.queue_urls().len(),
        2,
        "a key on every queue sees every queue"
    );
    let team_lists = common::client(&endpoint, "AKIDTEAM", "team")
        .list_queues()
        .send()
        .await
        .expect("the team lists");
    assert_eq!(
        team_lists.queue_urls(),
        [format!("{endpoint}/000000000000/orders")],
        "a key limited to some queues lists only those"
    );
    let e = producer
        .receive_message()
        .queue_url(format!("{endpoint}/000000000000/orders"))
        .send()
        .await
        .expect_err("nor receive");
    assert_eq!(e.code(), Some("AccessDenied"), "{e:?}");

    let dashboard = common::client(&endpoint, "AKIDDASH", "dash");
    let listed = dashboard
        .list_queues()
        .send()
        .await
        .expect("the dashboard lists");
    assert_eq!(listed.queue_urls().len(), 2);
    dashboard
        .get_queue_attributes()
        .queue_url(format!("{endpoint}/000000000000/orders"))
        .send()
        .await
        .expect("the dashboard reads attributes");
    for e in [
        dashboard
            .receive_message()
            .queue_url(format!("{endpoint}/000000000000/orders"))
            .send()
            .await
            .map_err(|e| e.code().map(str::to_owned))
            .map(|_| ())
            .expect_err("a receive hides messages: not read-only"),
        dashboard
            .purge_queue()
            .queue_url(format!("{endpoint}/000000000000/orders"))
            .send()
            .await
            .map_err(|e| e.code().map(str::to_owned))
            .map(|_| ())
            .expect_err("no purge"),
    ] {
        assert_eq!(e.as_deref(), Some("AccessDenied"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_permission_grants_a_key_more_on_one_queue_until_removed() {
    let endpoint = server_with_rules().await;
    let admin = common::client(&endpoint, "AKIDADMIN", "admin");
    let url = admin
        .create_queue()
        .queue_name("orders")
        .send()
        .await
        .expect("create")
        .queue_url()
        .expect("url")
        .to_owned();
    let producer = common::client(&endpoint, "AKIDPRODUCER", "producer");
    let receive = || producer.receive_message().queue_url(&url).send();
    assert_eq!(
        receive().await.expect_err("denied").code(),
        Some("AccessDenied")
    );

    admin
        .add_permission()
        .queue_url(&url)
        .label("producer-reads")
        .aws_account_ids("AKIDPRODUCER")
        .actions("ReceiveMessage")
        .send()
        .await
        .expect("add permission");
    receive().await.expect("granted by the queue's policy");
    let e = admin
        .add_permission()
        .queue_url(&url)
        .label("producer-reads")
        .aws_account_ids("AKIDPRODUCER")
        .actions("DeleteMessage")
        .send()
        .await
        .expect_err("a label is used once");
    assert_eq!(e.code(), Some("InvalidParameterValue"), "{e:?}");
    let attrs = admin
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::Policy)
        .send()
        .await
        .expect("attributes");
    let policy = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::Policy))
        .expect("the policy is an attribute");
    assert!(
        policy.contains("SQS:ReceiveMessage") && policy.contains("AKIDPRODUCER"),
        "{policy}"
    );

    admin
        .remove_permission()
        .queue_url(&url)
        .label("producer-reads")
        .send()
        .await
        .expect("remove permission");
    assert_eq!(
        receive().await.expect_err("denied again").code(),
        Some("AccessDenied")
    );
    let e = admin
        .remove_permission()
        .queue_url(&url)
        .label("producer-reads")
        .send()
        .await
        .expect_err("no such label");
    assert_eq!(e.code(), Some("InvalidParameterValue"), "{e:?}");
}
