//! The Amazon SQS wire API over any ebbflow backend, for `ebbflow serve`:
//! services in any language send and receive with the AWS SDK they already use.
//!
//! What is here: both of SQS's wire protocols on every route — AWS JSON 1.0
//! (`X-Amz-Target: AmazonSQS.<Action>`, read case-insensitively; errors with
//! `__type` and the `x-amzn-query-error` header the SDKs read) and the query
//! protocol (`Action=…` forms, XML answers; the `query` module reads the forms
//! into the same JSON) — for all 23 actions: queues and their attributes,
//! tags, permissions, messages and their batches, dead-letter sources, and
//! message-move tasks (run in the background over [`ebbflow_redrive`]).
//! `MD5OfMessageAttributes` as AWS computes it; bodies bounded before they
//! are buffered; slow clients timed out.
//!
//! Requests are verified with AWS Signature Version 4 ([`sigv4`]) against
//! the configured keys, unless the server runs open, and each key may do
//! what its rules ([`Key`]) or a queue's `Policy` allow.
//!
//! HTTPS with rustls when a certificate and key are given ([`Server::with_tls`]).

#![warn(missing_docs)]

mod actions;
mod attributes;
mod digest;
mod errors;
#[cfg(test)]
mod fuzz_tests;
mod moves;
pub mod policy;
mod query;
mod request;
pub mod sigv4;

pub use actions::Api;

/// The parsers of a stranger's bytes, for the coverage-guided harnesses in
/// `crates/ebbflow-server/fuzz/` (feature `fuzzing`; not an API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// The query protocol's form reader.
    pub fn read_form(bytes: &[u8]) -> bool {
        matches!(crate::query::read_form(bytes), Ok(Some(_)))
    }

    /// One action's JSON request, typed.
    pub fn parse_action(action: &str, body: &[u8]) -> bool {
        crate::request::Action::parse(action, body).is_ok()
    }

    /// A queue policy, checked and evaluated.
    pub fn policy(text: &str) -> bool {
        let context = crate::policy::Context::default();
        crate::policy::check(text).is_ok()
            | (crate::policy::evaluate(text, "AKID", "SendMessage", &context)
                == crate::policy::Verdict::Allow)
    }
}
pub use ebbflow_listener::Limits;

/// The largest request body read: SQS's 1 MiB message (or batch) limit,
/// grown by base64 for binary attributes and by JSON's escaping.
pub const MAX_BODY: usize = 3 << 20;
pub use digest::md5_of_message_attributes;
pub use ebbflow_core::access::Key;
pub use errors::WireError;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A bound listener serving the SQS API, over HTTP or (with
/// [`Server::with_tls`]) HTTPS.
pub struct Server {
    listener: TcpListener,
    api: Arc<Api>,
    tls: Option<TlsAcceptor>,
    mounted: Option<Arc<Mounted>>,
    limits: Limits,
}

/// A service served beside the SQS API under a path prefix: the dashboard
/// under `/ui`. It answers every request whose path is the prefix or below.
pub trait Mount: Send + Sync + 'static {
    /// Answers one request.
    fn call(
        &self,
        req: Request<Incoming>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send + '_>>;
}

struct Mounted {
    prefix: String,
    service: Arc<dyn Mount>,
}

impl Mounted {
    fn takes(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// A certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file that cannot be read or holds nothing usable.
    #[error("{path}: {why}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The certificate and key do not make a server configuration.
    #[error("the certificate and key: {0}")]
    Config(#[from] tokio_rustls::rustls::Error),
}

impl Server {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, api: Api) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            api: Arc::new(api),
            tls: None,
            mounted: None,
            limits: Limits::default(),
        })
    }

    /// Keeps these limits instead of the defaults.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Serves `service` under `prefix` (`/ui`, say) beside the SQS API: no
    /// SQS request goes there, since SDKs post to `/` or to a queue's URL
    /// (`/ACCOUNT/QUEUE`), never under a prefix that is not an account id.
    pub fn mount(mut self, prefix: &str, service: Arc<dyn Mount>) -> Self {
        self.mounted = Some(Arc::new(Mounted {
            prefix: prefix.trim_end_matches('/').to_owned(),
            service,
        }));
        self
    }

    /// Serves HTTPS only, with the certificate chain and private key in
    /// these PEM files.
    pub fn with_tls(mut self, cert: &Path, key: &Path) -> Result<Self, TlsError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let pem = |path: &Path, why: String| TlsError::Pem {
            path: path.to_owned(),
            why,
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| pem(cert, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem(cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(pem(cert, "no certificate in it".to_owned()));
        }
        let private = PrivateKeyDer::from_pem_file(key).map_err(|e| pem(key, e.to_string()))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, private)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        self.tls = Some(TlsAcceptor::from(Arc::new(config)));
        Ok(self)
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves; requests under way are dropped then.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let (api, tls, mounted, limits) = (self.api, self.tls, self.mounted, self.limits);
        ebbflow_listener::serve(self.listener, limits, shutdown, move |stream| {
            let api = api.clone();
            let tls = tls.clone();
            let mounted = mounted.clone();
            async move {
                match tls {
                    None => serve_connection(stream, api, mounted, limits, false).await,
                    Some(tls) => {
                        // The handshake gets the time the headers get.
                        match tokio::time::timeout(limits.header_timeout, tls.accept(stream)).await
                        {
                            Ok(Ok(stream)) => {
                                serve_connection(stream, api, mounted, limits, true).await
                            }
                            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!("TLS handshake timed out"),
                        }
                    }
                }
            }
        })
        .await;
    }
}

/// Serves HTTP/1.1 requests on one connection, plain or TLS.
async fn serve_connection<S>(
    stream: S,
    api: Arc<Api>,
    mounted: Option<Arc<Mounted>>,
    limits: Limits,
    secure: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let api = api.clone();
        let mounted = mounted.clone();
        async move {
            let response = match mounted.filter(|m| m.takes(req.uri().path())) {
                Some(m) => m.service.call(req).await,
                None => handle(&api, req, &limits, secure).await,
            };
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "connection ended");
    }
}

/// Which wire protocol a request came in, and so how it is answered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// AWS JSON 1.0: `X-Amz-Target` and a JSON body.
    Json,
    /// The query protocol: a form, answered in XML.
    Query,
}

fn answer(
    protocol: Protocol,
    status: StatusCode,
    body: String,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    // SDKs log it and put it on every error: the same id is in the server's log.
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    let content_type = match protocol {
        Protocol::Json => "application/x-amz-json-1.0",
        Protocol::Query => "text/xml",
    };
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn failure(protocol: Protocol, e: &WireError, request_id: &str) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = match protocol {
        Protocol::Json => e.body(),
        Protocol::Query => query::error(e, request_id),
    };
    let mut response = answer(protocol, status, body, request_id);
    if let Ok(v) = HeaderValue::from_str(&format!("{};{}", e.code, e.fault)) {
        response.headers_mut().insert("x-amzn-query-error", v);
    }
    response
}

/// A request id, in SQS's shape (a UUID), unique within the process: in
/// `x-amzn-RequestId`, the query protocol's XML and the server's log.
fn request_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let r = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (r >> 32) as u32,
        (r >> 16) as u16,
        (r >> 4) & 0xfff,
        n & 0xfff,
        (n >> 12) ^ (r & 0xffff_ffff_ffff)
    )
}

/// The action of `X-Amz-Target: AmazonSQS.<Action>`, the prefix read case-insensitively.
fn action_of(target: &str) -> Option<&str> {
    let (service, action) = target.split_once('.')?;
    service.eq_ignore_ascii_case("AmazonSQS").then_some(action)
}

/// Reads a body of at most [`MAX_BODY`] bytes within `limits.body_timeout`.
async fn read_body(body: Incoming, limits: &Limits) -> Result<Bytes, WireError> {
    ebbflow_listener::read_body(body, MAX_BODY, limits)
        .await
        .map_err(|e| {
            let mut error = WireError::invalid(e.to_string());
            match e {
                ebbflow_listener::BodyError::TooLarge(_) => error.status = 413,
                ebbflow_listener::BodyError::TimedOut(_) => {
                    error.status = 408;
                    error.code = "RequestTimeout";
                    error.shape = "RequestTimeout";
                }
                ebbflow_listener::BodyError::Read(_) => {}
            }
            error
        })
}

async fn handle(
    api: &Api,
    req: Request<Incoming>,
    limits: &Limits,
    secure: bool,
) -> Response<Full<Bytes>> {
    let target = req
        .headers()
        .get("x-amz-target")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let protocol = if target.is_some() {
        Protocol::Json
    } else {
        Protocol::Query
    };
    let id = request_id();
    match serve_request(api, req, target, protocol, limits, secure, &id).await {
        Ok(response) => response,
        Err((action, e)) => {
            if e.status >= 500 {
                tracing::error!(action, request_id = %id, error = %e.message, "backend failure");
            }
            failure(protocol, &e, &id)
        }
    }
}

/// One request, in the order that keeps a stranger's bytes cheap: the
/// signature over the raw bytes first, then one parse into the typed
/// action, the access check on that, and the action on that.
async fn serve_request(
    api: &Api,
    req: Request<Incoming>,
    target: Option<String>,
    protocol: Protocol,
    limits: &Limits,
    secure: bool,
    id: &str,
) -> Result<Response<Full<Bytes>>, (&'static str, WireError)> {
    let early = |e: WireError| ("-", e);
    if req.method() != Method::POST && !(protocol == Protocol::Query && req.method() == Method::GET)
    {
        return Err(early(WireError::invalid(
            "SQS requests are POSTs (or GETs with Action=…)",
        )));
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    // Only a server with keys reads every header, for the signature.
    let headers: Vec<(String, String)> = if api.keys.is_some() {
        req.headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let body = read_body(req.into_body(), limits).await.map_err(early)?;
    let mut signer = None;
    if let Some(keys) = &api.keys {
        let signed = sigv4::Request {
            method: &method,
            path: &path,
            query: &query,
            headers: &headers,
            body: &body,
        };
        let secret_of = |id: &str| keys.get(id).map(|k| k.secret.clone());
        let verified = sigv4::verify(&signed, &secret_of, std::time::SystemTime::now())
            .and_then(|s| s.in_scope(&api.region, "sqs").map(|()| s));
        match verified {
            Ok(s) => signer = Some(s),
            Err(e) => {
                tracing::info!(request_id = %id, error = %e, "refused an unauthenticated request");
                return Err(early(WireError::unauthenticated(&e)));
            }
        }
    }
    // One request shape for the actions: the JSON protocol's body as it
    // came, the query protocol's form (body, else query string) read into it.
    let (name, request) = match &target {
        Some(target) => match action_of(target) {
            Some(action) => (action.to_owned(), body.clone()),
            None => {
                return Err(early(WireError::invalid(
                    "X-Amz-Target is not AmazonSQS.<Action>",
                )))
            }
        },
        None => {
            let form = match query::read_form(&body).map_err(early)? {
                Some(form) => Some(form),
                None => query::read_form(query.as_bytes()).map_err(early)?,
            };
            match form {
                Some((action, request)) => (action, Bytes::from(request.to_string())),
                None => {
                    return Err(early(WireError::invalid(
                        "neither X-Amz-Target (AWS JSON 1.0) nor Action=… (the query protocol)",
                    )))
                }
            }
        }
    };
    let action = request::Action::parse(&name, &request).map_err(early)?;
    let action_name = action.name();
    // The key's own rules, when they limit it to some queues.
    let mut limited_to: Option<&Key> = None;
    if let Some(signer) = &signer {
        let context = policy::Context {
            secure_transport: secure,
            ..policy::Context::default()
        };
        match api
            .authorize(&signer.access_key_id, &action, &context)
            .await
        {
            Ok(key) => limited_to = key,
            Err(e) => {
                tracing::info!(
                    action = action_name,
                    request_id = %id,
                    key = signer.access_key_id,
                    "refused: {}",
                    e.message
                );
                return Err((action_name, e));
            }
        }
    }
    let visible = |queue: &str| limited_to.is_none_or(|key| key.covers(queue));
    let value = api
        .call(action, &host, &visible)
        .await
        .map_err(|e| (action_name, e))?;
    let body = match protocol {
        Protocol::Json => value.to_string(),
        Protocol::Query => query::answer(action_name, &value, id),
    };
    Ok(answer(protocol, StatusCode::OK, body, id))
}

#[cfg(test)]
mod tests {
    use super::action_of;

    #[test]
    fn the_target_prefix_is_read_case_insensitively() {
        assert_eq!(action_of("AmazonSQS.SendMessage"), Some("SendMessage"));
        assert_eq!(action_of("amazonsqs.SendMessage"), Some("SendMessage"));
        assert_eq!(action_of("DynamoDB_20120810.PutItem"), None);
        assert_eq!(action_of("nothing"), None);
    }
}
