//! The one HTTP listener of a process: `/metrics`, `/healthz`, `/readyz`.

use crate::telemetry::Telemetry;
use ebbflow_core::QueueBackend;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long `/readyz` and `/metrics` wait for the backend before giving up on it.
const BACKEND_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often buffered histogram samples are folded in when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoints look at.
pub(crate) struct Probe {
    pub(crate) telemetry: Telemetry,
    pub(crate) backend: Arc<dyn QueueBackend>,
    /// Cancelled when the runtime starts shutting down: not ready any more.
    pub(crate) shutdown: CancellationToken,
}

/// A running listener.
pub(crate) struct Listener {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Listener {
    /// Binds `addr` and serves until [`Listener::stop`].
    pub(crate) async fn bind(addr: SocketAddr, probe: Probe) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, Arc::new(probe), stop.clone()));
        tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
        Ok(Self { addr, stop, task })
    }

    /// The address it listens on (the real port when the config said 0).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    }
}

async fn serve(listener: TcpListener, probe: Arc<Probe>, stop: CancellationToken) {
    let mut upkeep = tokio::time::interval(UPKEEP_EVERY);
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            _ = upkeep.tick() => {
                probe.telemetry.upkeep();
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let probe = probe.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let probe = probe.clone();
                async move { Ok::<_, Infallible>(answer(&probe, request).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "metrics listener: connection ended with an error");
            }
        });
    }
}

async fn answer(probe: &Probe, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
    }
    match request.uri().path() {
        "/metrics" => {
            // Queue depths are read at scrape time: a backend that is down
            // leaves the last known figures and counts an error.
            for queue in probe.telemetry.queues() {
                if let Ok(Ok(stats)) =
                    tokio::time::timeout(BACKEND_PROBE_TIMEOUT, probe.backend.stats(&queue)).await
                {
                    probe.telemetry.publish_queue(&queue, &stats);
                }
            }
            let mut response = text(StatusCode::OK, probe.telemetry.render());
            if let Ok(value) = PROMETHEUS_TEXT.parse() {
                response
                    .headers_mut()
                    .insert(hyper::header::CONTENT_TYPE, value);
            }
            response
        }
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match readiness(probe).await {
            Ok(()) => text(StatusCode::OK, "ready\n".into()),
            Err(reason) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {reason}\n"),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

/// Ready means: not shutting down, every group's poller running, and the
/// backend answering for every queue the groups consume.
async fn readiness(probe: &Probe) -> Result<(), String> {
    if probe.shutdown.is_cancelled() {
        return Err("shutting down".into());
    }
    if let Some(queue) = probe.telemetry.stopped_pollers().first() {
        return Err(format!("the poller of queue `{queue}` is not running"));
    }
    for queue in probe.telemetry.queues() {
        match tokio::time::timeout(BACKEND_PROBE_TIMEOUT, probe.backend.stats(&queue)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("backend unreachable: queue `{queue}`: {e}")),
            Err(_) => {
                return Err(format!(
                "backend unreachable: queue `{queue}`: no answer within {BACKEND_PROBE_TIMEOUT:?}"
            ))
            }
        }
    }
    Ok(())
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
