//! The listener `ebbflow serve` and the dashboard share: what one client can
//! hold of a server. At most [`Limits::max_connections`] connections are open
//! at once (the next waits in the kernel's backlog); an `accept` that fails
//! (out of file descriptors, say) is retried after a pause that doubles, not
//! at once in a loop; headers and bodies each have a deadline
//! ([`read_body`]), so a client trickling bytes is cut off.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! ebbflow_listener::serve(listener, ebbflow_listener::Limits::default(), std::future::pending(), |stream| async move {
//!     drop(stream); // hand it to hyper here
//! })
//! .await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod limits;

pub use limits::*;

use http_body_util::{BodyExt, Limited};
use hyper::body::Bytes;
use std::future::Future;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections on `listener` until `shutdown` resolves, each handed
/// to `connection` in a task of its own, at most `limits.max_connections` at
/// once.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    connection: F,
) where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut backoff = FIRST_ACCEPT_BACKOFF;
    loop {
        // Over the cap, the next connection waits in the kernel's backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => return,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        match accepted {
            Ok((stream, _)) => {
                backoff = FIRST_ACCEPT_BACKOFF;
                let served = connection(stream);
                tokio::spawn(async move {
                    served.await;
                    drop(slot);
                });
            }
            Err(e) => {
                // Retrying at once would spin a core while descriptors are short.
                tracing::warn!(error = %e, pause = ?backoff, "accepting a connection");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut shutdown => return,
                }
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// It is larger than the limit.
    TooLarge(usize),
    /// It did not arrive within the deadline.
    TimedOut(std::time::Duration),
    /// The connection failed.
    Read(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge(max) => write!(f, "the request is larger than {max} bytes"),
            BodyError::TimedOut(t) => write!(
                f,
                "the request body did not arrive within {} s",
                t.as_secs()
            ),
            BodyError::Read(e) => write!(f, "reading the request: {e}"),
        }
    }
}

/// Reads a body of at most `max` bytes within `limits.body_timeout`.
pub async fn read_body<B>(body: B, max: usize, limits: &Limits) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let read = Limited::new(body, max).collect();
    match tokio::time::timeout(limits.body_timeout, read).await {
        Ok(Ok(body)) => Ok(body.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(BodyError::TooLarge(max))
        }
        Ok(Err(e)) => Err(BodyError::Read(e.to_string())),
        Err(_) => Err(BodyError::TimedOut(limits.body_timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn connections_over_the_cap_wait_until_one_closes() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let limits = Limits {
            max_connections: 2,
            ..Limits::default()
        };
        // Connections handed to the service so far.
        let served = Arc::new(AtomicUsize::new(0));
        let counter = served.clone();
        tokio::spawn(serve(
            listener,
            limits,
            std::future::pending(),
            move |mut s| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    // Held until the client writes or closes.
                    let mut buf = [0u8; 1];
                    let _ = s.read(&mut buf).await;
                }
            },
        ));
        let until = |n: usize| {
            let served = served.clone();
            async move {
                for _ in 0..500 {
                    if served.load(Ordering::SeqCst) >= n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("{n} connections not served within 5 s");
            }
        };
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.expect("connect"));
        }
        until(2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(served.load(Ordering::SeqCst), 2, "the third waits");
        let mut first = clients.remove(0);
        first.write_all(b"x").await.expect("write");
        drop(first);
        until(3).await;
    }
}
