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
