//! Handlers: what users write. An async fn or a type implementing [`Handler`],
//! given the decoded message and its [`Context`].

use crate::{Context, Delivery, HandlerError};
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

/// How a message body becomes the handler's input.
pub trait Decode: Sized + Send + 'static {
    /// Decodes a body, or says why it cannot.
    fn decode(body: &str) -> Result<Self, String>;
}

/// A JSON body, deserialised with serde: the default for typed handlers.
///
/// ```
/// use ebbflow_runtime::Json;
/// #[derive(serde::Deserialize)]
/// struct Order { id: u64 }
/// let handler = |Json(order): Json<Order>, _ctx: ebbflow_runtime::Context| async move {
///     let _ = order.id;
///     Ok::<(), ebbflow_runtime::HandlerError>(())
/// };
/// # let _ = handler;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> Decode for Json<T> {
    fn decode(body: &str) -> Result<Self, String> {
        serde_json::from_str(body)
            .map(Json)
            .map_err(|e| e.to_string())
    }
}

/// The body as it came, for handlers that parse it themselves.
impl Decode for String {
    fn decode(body: &str) -> Result<Self, String> {
        Ok(body.to_owned())
    }
}

/// Handles one message at a time.
///
/// ```
/// use ebbflow_runtime::{Context, Handler, HandlerError, Json};
///
/// #[derive(serde::Deserialize)]
/// struct Video { url: String }
///
/// struct Transcoder;
///
/// #[async_trait::async_trait]
/// impl Handler for Transcoder {
///     type Message = Json<Video>;
///     async fn handle(&self, Json(video): Json<Video>, _ctx: Context) -> Result<(), HandlerError> {
///         if video.url.is_empty() {
///             return Err(HandlerError::permanent("no url"));
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The decoded message: [`Json<T>`] for JSON, `String` for the raw body.
    type Message: Decode;

    /// Handles one message. `Ok` deletes it; an error says whether to retry.
    async fn handle(&self, message: Self::Message, ctx: Context) -> Result<(), HandlerError>;
}

/// A handler made from an async function `(message, context) -> Result<(), HandlerError>`.
pub struct FnHandler<F, M> {
    f: F,
    _message: PhantomData<fn() -> M>,
}

/// Makes a [`Handler`] from an async function.
///
/// ```
/// use ebbflow_runtime::{handler_fn, Context, HandlerError};
/// let echo = handler_fn(|body: String, _ctx: Context| async move {
///     println!("{body}");
///     Ok::<_, HandlerError>(())
/// });
/// # let _ = echo;
/// ```
pub fn handler_fn<F, M, Fut>(f: F) -> FnHandler<F, M>
where
    F: Fn(M, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    M: Decode,
{
    FnHandler {
        f,
        _message: PhantomData,
    }
}

#[async_trait]
impl<F, M, Fut> Handler for FnHandler<F, M>
where
    F: Fn(M, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    M: Decode,
{
    type Message = M;

    async fn handle(&self, message: M, ctx: Context) -> Result<(), HandlerError> {
        (self.f)(message, ctx).await
    }
}

/// The innermost service: decodes the body and calls the handler, turning a
/// panic into a [`HandlerError`] so that one bad message cannot take a worker down.
pub(crate) struct HandlerService<H> {
    handler: Arc<H>,
}

impl<H> HandlerService<H> {
    pub(crate) fn new(handler: H) -> Self {
        Self {
            handler: Arc::new(handler),
        }
    }
}

impl<H> Clone for HandlerService<H> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
        }
    }
}

impl<H: Handler> tower::Service<Delivery> for HandlerService<H> {
    type Response = ();
    type Error = HandlerError;
    type Future = BoxFuture<'static, Result<(), HandlerError>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), HandlerError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, delivery: Delivery) -> Self::Future {
        let handler = self.handler.clone();
        // A panicking `Decode` is user code too: it runs under the same catch.
        Box::pin(catch_panic(async move {
            let message =
                H::Message::decode(&delivery.message.body).map_err(HandlerError::undecodable)?;
            handler.handle(message, delivery.ctx).await
        }))
    }
}

/// Runs `work` (user code), turning a panic into a [`HandlerError`] of kind
/// [`Panicked`](crate::ErrorKind::Panicked) with the panic's text.
pub(crate) async fn catch_panic<F>(work: F) -> Result<(), HandlerError>
where
    F: Future<Output = Result<(), HandlerError>>,
{
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(HandlerError::panicked(panic_text(panic.as_ref()))),
    }
}

/// The text of a panic payload.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".to_owned())
}

/// The user's stack (their layers around the handler) behind a panic catch,
/// so that a panicking layer fails one attempt instead of killing a worker.
#[derive(Clone)]
pub(crate) struct CatchPanic<S> {
    pub(crate) inner: S,
}

impl<S> tower::Service<Delivery> for CatchPanic<S>
where
    S: tower::Service<Delivery, Response = (), Error = HandlerError> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = ();
    type Error = HandlerError;
    type Future = BoxFuture<'static, Result<(), HandlerError>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), HandlerError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, delivery: Delivery) -> Self::Future {
        let mut inner = self.inner.clone();
        Box::pin(catch_panic(async move {
            use tower::ServiceExt as _;
            // `ready` and `call` are the user's code as much as the future is.
            let ready = inner.ready().await?;
            ready.call(delivery).await
        }))
    }
}
