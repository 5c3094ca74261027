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
use http_body_util::{BodyExt, Full, Limited};
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

/// The largest answer to a batch that is read.
const MAX_BATCH_ANSWER: usize = 1 << 20;

/// The ids of `ids` an answer to a batch names as failed, read as Lambda
/// reads a partial-batch response: an empty body, `null`, or an object
/// without (or with a null or empty) `batchItemFailures` is a success for
/// all; a list of `{"itemIdentifier": "<id>"}` names the failures. Anything
/// else (not JSON, not that shape, an id not in the batch, an empty one)
/// is an error, and the whole batch fails.
fn batch_item_failures<'a>(body: &[u8], ids: &[&'a str]) -> Result<Vec<&'a str>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        let start: String = String::from_utf8_lossy(body).chars().take(80).collect();
        format!("the answer is not JSON ({e}): {start}")
    })?;
    let list = match &value {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Object(map) => match map.get("batchItemFailures") {
            None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
            Some(serde_json::Value::Array(list)) => list,
            Some(_) => return Err("batchItemFailures is not a list".to_owned()),
        },
        _ => return Err("the answer is not a JSON object".to_owned()),
    };
    let mut failed = Vec::with_capacity(list.len());
    for item in list {
        let id = item
            .get("itemIdentifier")
            .and_then(serde_json::Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                "a batchItemFailures entry without an itemIdentifier string".to_owned()
            })?;
        let known = ids
            .iter()
            .find(|known| **known == id)
            .ok_or_else(|| format!("batchItemFailures names `{id}`, which is not in the batch"))?;
        failed.push(*known);
    }
    Ok(failed)
}

/// Batch mode: one POST of a JSON array of messages (as the long-lived
/// protocol writes them), answered with Lambda's partial-batch result:
/// `{"batchItemFailures": [{"itemIdentifier": "<id>"}]}` names the messages
/// to retry; the rest succeeded. A status other than 2xx applies to all, and
/// so does an answer that is not that shape (see `batch_item_failures`).
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
        let body = match Limited::new(response.into_body(), MAX_BATCH_ANSWER)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return all(HandlerError::retry(format!(
                    "POST {}: reading the answer (at most {MAX_BATCH_ANSWER} bytes): {e}",
                    self.url
                )))
            }
        };
        let ids: Vec<&str> = batch.iter().map(|(_, ctx)| ctx.message_id()).collect();
        let failed = match batch_item_failures(&body, &ids) {
            Ok(failed) => failed,
            // As Lambda: an answer it cannot read fails the whole batch.
            Err(why) => {
                return all(HandlerError::retry(format!(
                    "POST {}: {why}; the whole batch is retried",
                    self.url
                )))
            }
        };
        batch
            .iter()
            .map(|(_, ctx)| {
                if failed.contains(&ctx.message_id()) {
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

#[cfg(test)]
mod tests {
    use super::batch_item_failures;

    #[test]
    fn only_a_well_formed_answer_settles_a_batch_item_by_item() {
        let ids = ["a", "b"];
        for ok in [
            "",
            " ",
            "null",
            "{}",
            r#"{"batchItemFailures": []}"#,
            r#"{"batchItemFailures": null}"#,
        ] {
            assert_eq!(batch_item_failures(ok.as_bytes(), &ids), Ok(vec![]), "{ok}");
        }
        assert_eq!(
            batch_item_failures(br#"{"batchItemFailures": [{"itemIdentifier": "b"}]}"#, &ids),
            Ok(vec!["b"])
        );
        for bad in [
            "<html><body>502 Bad Gateway</body></html>",
            "not json",
            "[]",
            "42",
            r#"{"batchItemFailures": "a"}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": "zz"}]}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
            r#"{"batchItemFailures": [{"id": "a"}]}"#,
        ] {
            assert!(batch_item_failures(bad.as_bytes(), &ids).is_err(), "{bad}");
        }
    }
}
