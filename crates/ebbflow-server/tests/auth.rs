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
