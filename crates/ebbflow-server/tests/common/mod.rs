//! What the server's tests and benchmark share: a server in this process,
//! and an SDK client for it.

#![allow(dead_code)]

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use ebbflow_core::QueueBackend;
use ebbflow_server::{Api, Key, Server};
use std::collections::HashMap;
use std::sync::Arc;

/// Serves `backend` on a free loopback port, accepting requests signed with
/// `keys` (access key id, secret), each allowed everything; returns its endpoint.
pub async fn serve(backend: Arc<dyn QueueBackend>, keys: &[(&str, &str)]) -> String {
    let mut api = Api::new(backend);
    api.keys = Some(
        keys.iter()
            .map(|(k, s)| ((*k).to_owned(), Key::full(*s)))
            .collect::<HashMap<_, _>>(),
    );
    serve_api(api).await
}

/// Serves `api` on a free loopback port; returns its endpoint.
pub async fn serve_api(api: Api) -> String {
    let server = Server::bind(([127, 0, 0, 1], 0).into(), api)
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.serve(std::future::pending()));
    format!("http://{addr}")
}

/// The Rust AWS SDK's client for `endpoint`, signing with `key` and `secret`.
pub fn client(endpoint: &str, key: &str, secret: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key, secret, None, None, "ebbflow-tests"))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// An answer read off the socket: status and body.
pub struct Raw {
    pub status: u16,
    pub body: String,
}

/// Sends `request` as it is over a new connection to `endpoint`; returns the
/// answer, or `None` when the connection closed without one.
pub async fn raw(endpoint: &str, request: &[u8]) -> Option<Raw> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = endpoint.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    tcp.write_all(request).await.ok()?;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.get(9..12)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some(Raw { status, body })
}

/// `YYYYMMDD'T'HHMMSS'Z'` of now.
fn amz_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A complete HTTP request to `endpoint`'s `/`, signed (SigV4, header form,
/// region us-east-1, service sqs) with `key` and `secret` over `body`,
/// whatever the body holds: the JSON protocol when `target` names an
/// action, else a query-protocol form.
pub fn signed(
    endpoint: &str,
    key: &str,
    secret: &str,
    target: Option<&str>,
    body: &str,
) -> Vec<u8> {
    use sha2::Digest;
    let host = endpoint.trim_start_matches("http://");
    let date = amz_date();
    let day = &date[..8];
    let payload = hex(&sha2::Sha256::digest(body.as_bytes()));
    let canonical =
        format!("POST\n/\n\nhost:{host}\nx-amz-date:{date}\n\nhost;x-amz-date\n{payload}");
    let scope = format!("{day}/us-east-1/sqs/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex(&sha2::Sha256::digest(canonical.as_bytes()))
    );
    let mut k = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    for part in ["us-east-1", "sqs", "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    let signature = hex(&hmac(&k, to_sign.as_bytes()));
    let (content_type, target) = match target {
        Some(action) => (
            "application/x-amz-json-1.0",
            format!("X-Amz-Target: AmazonSQS.{action}\r\n"),
        ),
        None => ("application/x-www-form-urlencoded", String::new()),
    };
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Date: {date}\r\n{target}Content-Type: {content_type}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders=host;x-amz-date, Signature={signature}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
