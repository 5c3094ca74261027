//! A web dashboard over any ebbflow backend, served by `ebbflow dashboard`:
//! every queue with its counts and dead-letter relations (sortable), and
//! each queue's settings, tags and messages, paged with the browse verb —
//! never a receive, so looking changes nothing. A JSON API stands behind
//! every page (`/api/queues`, `/api/queues/NAME`, `/api/queues/NAME/messages`).
//!
//! This first part is read-only and has no access control of its own: it
//! listens on loopback by default. Sending, purging, redriving, the
//! workers view, charts and keys are to come (issue 19).
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn ebbflow_core::QueueBackend>) -> std::io::Result<()> {
//! let dashboard = ebbflow_dashboard::Dashboard::new(backend, "/ui");
//! let server = ebbflow_dashboard::Server::bind(([127, 0, 0, 1], 9325).into(), dashboard).await?;
//! server.serve(std::future::pending()).await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod data;
pub mod html;

use ebbflow_core::{QueueBackend, QueueError};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The dashboard's pages and API over one backend, under a base path.
pub struct Dashboard {
    backend: Arc<dyn QueueBackend>,
    base: String,
}

/// What a route answers: a page, or JSON.
enum Body {
    Html(String),
    Json(serde_json::Value),
}

impl Dashboard {
    /// The dashboard of `backend`, its pages under `base` (`""` or `/ui`).
    pub fn new(backend: Arc<dyn QueueBackend>, base: &str) -> Self {
        Self {
            backend,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// Answers one request: `GET` on a page or an API route.
    pub async fn handle(&self, method: &Method, path: &str, query: &str) -> Response<Full<Bytes>> {
        let Some(route) = path.strip_prefix(self.base.as_str()) else {
            return self.not_found();
        };
        if method != Method::GET && method != Method::HEAD {
            return respond(
                StatusCode::METHOD_NOT_ALLOWED,
                Body::Html(html::error(
                    &self.base,
                    "Not allowed",
                    "This dashboard is read-only.",
                )),
            );
        }
        let param = |name: &str| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let json_api = route.starts_with("/api/");
        let result = match route.trim_start_matches("/api").trim_end_matches('/') {
            "" | "/queues" => self.queues(json_api, param("sort").as_deref()).await,
            r => match r.strip_prefix("/queues/") {
                Some(rest) => match rest.split_once('/') {
                    None => {
                        self.queue(json_api, &decode(rest), param("after").as_deref())
                            .await
                    }
                    Some((name, "messages")) if json_api => {
                        self.messages(&decode(name), param("after").as_deref())
                            .await
                    }
                    Some((name, "workers")) if json_api => self.workers(&decode(name)).await,
                    Some((name, "dead-letters")) if json_api => {
                        self.dead_letters(&decode(name)).await
                    }
                    _ => return self.not_found(),
                },
                None => return self.not_found(),
            },
        };
        match result {
            Ok(body) => respond(StatusCode::OK, body),
            Err(QueueError::QueueDoesNotExist(q)) => {
                let message = format!("No queue is called {q}.");
                self.failure(json_api, StatusCode::NOT_FOUND, "No such queue", &message)
            }
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: the backend failed");
                self.failure(
                    json_api,
                    StatusCode::BAD_GATEWAY,
                    "The backend failed",
                    &e.to_string(),
                )
            }
        }
    }

    async fn queues(&self, json: bool, sort: Option<&str>) -> Result<Body, QueueError> {
        let mut rows = data::queues(&self.backend).await?;
        data::sort(&mut rows, sort.unwrap_or("name"));
        Ok(if json {
            Body::Json(serde_json::json!({ "queues": rows }))
        } else {
            Body::Html(html::queues(&self.base, &rows))
        })
    }

    async fn queue(&self, json: bool, name: &str, after: Option<&str>) -> Result<Body, QueueError> {
        let detail = data::queue(&self.backend, name).await?;
        if json {
            return Ok(Body::Json(
                serde_json::to_value(&detail).unwrap_or_default(),
            ));
        }
        let messages = data::messages(&self.backend, name, after, data::PAGE).await?;
        let workers = data::consumers(&self.backend, name).await?;
        // A dead-letter queue's first page also groups its messages by why.
        let dead = if detail.row.dead_letter_sources.is_empty() || after.is_some() {
            None
        } else {
            data::dead_letters(&self.backend, name).await?
        };
        let page = html::QueuePage {
            detail: &detail,
            messages: messages.as_ref(),
            workers: workers.as_deref(),
            dead_letters: dead
                .as_ref()
                .map(|(groups, more)| (groups.as_slice(), *more)),
        };
        Ok(Body::Html(html::queue(&self.base, &page)))
    }

    async fn workers(&self, name: &str) -> Result<Body, QueueError> {
        self.backend.get_queue_attributes(name).await?;
        Ok(Body::Json(
            match data::consumers(&self.backend, name).await? {
                Some(members) => serde_json::json!({ "workers": members }),
                None => serde_json::json!({
                    "workers": [],
                    "unsupported": "this engine keeps no registry of consumers",
                }),
            },
        ))
    }

    async fn dead_letters(&self, name: &str) -> Result<Body, QueueError> {
        self.backend.get_queue_attributes(name).await?;
        Ok(Body::Json(
            match data::dead_letters(&self.backend, name).await? {
                Some((groups, more)) => serde_json::json!({ "groups": groups, "more": more }),
                None => serde_json::json!({
                    "groups": [],
                    "unsupported": "this engine cannot show messages without receiving them",
                }),
            },
        ))
    }

    async fn messages(&self, name: &str, after: Option<&str>) -> Result<Body, QueueError> {
        let page = data::messages(&self.backend, name, after, data::PAGE).await?;
        Ok(Body::Json(match page {
            Some(page) => serde_json::to_value(&page).unwrap_or_default(),
            None => serde_json::json!({
                "messages": [],
                "next": null,
                "unsupported": "this engine cannot show messages without receiving them",
            }),
        }))
    }

    fn not_found(&self) -> Response<Full<Bytes>> {
        respond(
            StatusCode::NOT_FOUND,
            Body::Html(html::error(
                &self.base,
                "Not found",
                "There is no such page.",
            )),
        )
    }

    fn failure(
        &self,
        json: bool,
        status: StatusCode,
        title: &str,
        message: &str,
    ) -> Response<Full<Bytes>> {
        let body = if json {
            Body::Json(serde_json::json!({ "error": title, "message": message }))
        } else {
            Body::Html(html::error(&self.base, title, message))
        };
        respond(status, body)
    }
}

/// A percent-encoded path segment, decoded.
fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn respond(status: StatusCode, body: Body) -> Response<Full<Bytes>> {
    let (text, content_type) = match body {
        Body::Html(h) => (h, "text/html; charset=utf-8"),
        Body::Json(v) => (v.to_string(), "application/json"),
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A bound listener serving a [`Dashboard`].
pub struct Server {
    listener: TcpListener,
    dashboard: Arc<Dashboard>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, dashboard: Dashboard) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            dashboard: Arc::new(dashboard),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = &mut shutdown => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "dashboard: accepting a connection");
                    continue;
                }
            };
            let dashboard = self.dashboard.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let dashboard = dashboard.clone();
                    async move {
                        let (path, query) = (
                            req.uri().path().to_owned(),
                            req.uri().query().unwrap_or_default().to_owned(),
                        );
                        Ok::<_, std::convert::Infallible>(
                            dashboard.handle(req.method(), &path, &query).await,
                        )
                    }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    tracing::debug!(error = %e, "dashboard: connection ended");
                }
            });
        }
    }
}
