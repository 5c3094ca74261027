//! HTTP endpoints as handlers, as Elastic Beanstalk's worker tier (sqsd) does it.
//!
//! Each message is POSTed with its body as the request body and its facts as
//! `X-Ebbflow-*` headers. The status decides:
//!
//! | status | outcome |
//! |---|---|
//! | 2xx | success |
//! | 429, 503 | throttled: retried without spending receives; `Retry-After` (seconds) honoured |
//! | other 4xx | permanent: dead-lettered with the status and the start of the response |
//! | 5xx, no answer within `handler_timeout`, refused connection | retry |

use crate::message;
use async_trait::async_trait;
use ebbflow::runtime::{BatchHandler, Context, Handler, HandlerError};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// How much of an error response's body the dead-letter reason keeps.
const ERROR_BODY: usize = 512;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// POSTs each message to one URL, over a pool of kept-alive connections.
///
/// ```
/// let handler = ebbflow_work::HttpHandler::new("http://127.0.0.1:8080/orders").unwrap();
/// ```
#[derive(Clone)]
pub struct HttpHandler {
    client: HttpClient,
    url: Uri,
}

impl HttpHandler {
    /// A handler for `url` (`http://host:port/path`).
    pub fn new(url: &str) -> Result<Self, String> {
        let url: Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        if url.scheme_str() != Some("http") {
            return Err(format!("`{url}`: only http:// endpoints are supported"));
        }
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        Ok(Self { client, url })
    }

    async fn post(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, HandlerError> {
        self.client
            .request(request)
            .await
            .map_err(|e| HandlerError::retry(format!("POST {}: {e}", self.url)))
    }
}

/// The `X-Ebbflow-*` headers of a message: its facts, its attributes as one
/// JSON header, and each text attribute that fits a header as `X-Ebbflow-Attr-NAME`.
fn headers(ctx: &Context) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    let mut push = |name: String, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            out.push((n, v));
        }
    };
    for (fact, value) in message::facts(ctx) {
        push(format!("x-ebbflow-{}", fact.to_ascii_lowercase()), &value);
    }
    for (name, value) in ctx.attributes() {
        if let Some(text) = value.as_str() {
            push(
                format!("x-ebbflow-attr-{}", name.to_ascii_lowercase()),
                text,
            );
        }
    }
    out
}

/// Reads at most [`ERROR_BODY`] bytes of a response, for an error message.
async fn start_of(body: Incoming) -> String {
    let mut kept = Vec::new();
    let mut body = body;
    while kept.len() < ERROR_BODY {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    kept.extend_from_slice(&data);
                }
            }
            _ => break,
        }
    }
    kept.truncate(ERROR_BODY);
    String::from_utf8_lossy(&kept).trim().to_owned()
}

/// The outcome of a response that is not a success.
async fn failure(url: &Uri, response: Response<Incoming>) -> HandlerError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let said = start_of(response.into_body()).await;
    let why = if said.is_empty() {
        format!("POST {url}: {status}")
    } else {
        format!("POST {url}: {status}: {said}")
    };
    let error = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            HandlerError::throttled(why)
        }
        s if s.is_client_error() => HandlerError::permanent(why),
        _ => HandlerError::retry(why),
    };
    match retry_after {
        Some(after) if error.is_retryable() => error.with_retry_after(after),
        _ => error,
    }
}

#[async_trait]
impl Handler for HttpHandler {
    type Message = String;

    async fn handle(&self, body: String, ctx: Context) -> Result<(), HandlerError> {
        let mut request = Request::post(self.url.clone())
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| HandlerError::permanent(format!("building the request: {e}")))?;
        request.headers_mut().extend(headers(&ctx));
        let response = self.post(request).await?;
        if response.status().is_success() {
            // Read the answer to the end so the connection goes back to the pool.
            let _ = response.into_body().collect().await;
            return Ok(());
        }
        Err(failure(&self.url, response).await)
    }
}

/// Batch mode: one POST of a JSON array of messages (as the long-lived
/// protocol writes them), answered with Lambda's partial-batch result:
/// `{"batchItemFailures": [{"itemIdentifier": "<id>"}]}` names the messages
/// to retry; the rest succeeded. A status other than 2xx applies to all.
#[async_trait]
impl BatchHandler for HttpHandler {
    type Message = String;

    async fn handle_batch(&self, batch: Vec<(String, Context)>) -> Vec<Result<(), HandlerError>> {
        let items: Vec<serde_json::Value> = batch
            .iter()
            .map(|(body, ctx)| message::to_json(body, ctx))
            .collect();
        let all = |error: HandlerError| batch.iter().map(|_| Err(error.clone())).collect();
        let request = match Request::post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(
                serde_json::Value::Array(items).to_string(),
            ))) {
            Ok(r) => r,
            Err(e) => {
                return all(HandlerError::permanent(format!(
                    "building the request: {e}"
                )))
            }
        };
        let response = match self.post(request).await {
            Ok(r) => r,
            Err(e) => return all(e),
        };
        if !response.status().is_success() {
            return all(failure(&self.url, response).await);
        }
        let body = match response.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return all(HandlerError::retry(format!(
                    "POST {}: reading the answer: {e}",
                    self.url
                )))
            }
        };
        // An empty body or `{}` means every message succeeded.
        let failed: Vec<String> = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("batchItemFailures").cloned())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|f| {
                f.get("itemIdentifier")
                    .and_then(|i| i.as_str())
                    .map(str::to_owned)
            })
            .collect();
        batch
            .iter()
            .map(|(_, ctx)| {
                if failed.iter().any(|id| id == ctx.message_id()) {
                    Err(HandlerError::retry(format!(
                        "POST {}: listed in batchItemFailures",
                        self.url
                    )))
                } else {
                    Ok(())
                }
            })
            .collect()
    }
}
