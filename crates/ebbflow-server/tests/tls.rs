//! HTTPS: with a certificate and key, the server speaks TLS (and only TLS),
//! and builds its queue URLs with `https://`.

use ebbflow_server::{Api, Server, TlsError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// A server certificate for `localhost` and 127.0.0.1 and the test CA that
/// signed it, for these tests only (see tests/tls/README.md).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls")
        .join(name)
}

async fn https_server() -> std::net::SocketAddr {
    let mut api = Api::new(Arc::new(ebbflow_memory::MemoryBackend::new()));
    api.https = true;
    let server = Server::bind(([127, 0, 0, 1], 0).into(), api)
        .await
        .expect("bind")
        .with_tls(&fixture("cert.pem"), &fixture("key.pem"))
        .expect("the fixture's certificate and key");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.serve(std::future::pending()));
    addr
}

fn create_queue_request(addr: std::net::SocketAddr) -> String {
    let body = r#"{"QueueName":"secure"}"#;
    format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: AmazonSQS.CreateQueue\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trusts_the_certificate_is_served_over_tls() {
    use rustls_pki_types::pem::PemObject;
    let addr = https_server().await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(fixture("ca.pem")).expect("pem") {
        roots.add(cert.expect("a certificate")).expect("a root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("a name");
    let mut tls = connector.connect(name, tcp).await.expect("the handshake");
    tls.write_all(create_queue_request(addr).as_bytes())
        .await
        .expect("write");
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!(
            "\"QueueUrl\":\"https://{addr}/000000000000/secure\""
        )),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_gets_no_answer_from_a_tls_server() {
    let addr = https_server().await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(create_queue_request(addr).as_bytes())
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("QueueUrl"),
        "a plain request was served"
    );
}

#[tokio::test]
async fn a_missing_or_empty_pem_file_is_named_in_the_error() {
    let api = Api::new(Arc::new(ebbflow_memory::MemoryBackend::new()));
    let server = Server::bind(([127, 0, 0, 1], 0).into(), api)
        .await
        .expect("bind");
    let missing = fixture("nowhere.pem");
    match server.with_tls(&missing, &fixture("key.pem")) {
        Err(e @ TlsError::Pem { .. }) => assert!(e.to_string().contains("nowhere.pem"), "{e}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a missing certificate file was accepted"),
    }
    let api = Api::new(Arc::new(ebbflow_memory::MemoryBackend::new()));
    let server = Server::bind(([127, 0, 0, 1], 0).into(), api)
        .await
        .expect("bind");
    // The key file holds no certificate.
    assert!(server
        .with_tls(&fixture("key.pem"), &fixture("key.pem"))
        .is_err());
}
