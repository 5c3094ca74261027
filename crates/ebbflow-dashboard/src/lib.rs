//! A web dashboard over any ebbflow backend, served by `ebbflow dashboard`
//! and by `ebbflow serve` under `/ui`:
//!
//! - every queue with its counts and dead-letter relations, sortable;
//! - a queue's settings, tags, worker processes and messages, paged and
//!   searched with the browse verb (never a receive, so looking changes
//!   nothing); a test message sent; the queue purged, after its name is typed;
//! - a dead-letter queue's messages grouped by why, and redriven (all, a
//!   selection, or a filter; to their source or another queue; at a rate)
//!   in the background, with a progress page.
//!
//! A JSON API stands behind every page (`/api/queues`, `/api/queues/NAME`,
//! `…/messages`, `…/search`, `…/workers`, `…/dead-letters`, `…/redrives`,
//! and `POST …/send`, `…/purge`, `…/redrive`). Access is that of
//! `ebbflow serve` ([`access`]): the same keys and per-queue rules, a
//! session cookie or HTTP Basic credentials, a CSRF token on every form, an
//! audit line (target `ebbflow::audit`) for every change.
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn ebbflow_core::QueueBackend>) -> std::io::Result<()> {
//! let dashboard = ebbflow_dashboard::Dashboard::new(backend, "/ui");
//! let server = ebbflow_dashboard::Server::bind(([127, 0, 0, 1], 9325).into(), dashboard).await?;
//! server.serve(std::future::pending()).await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod access;
pub mod actions;
pub mod charts;
pub mod data;
pub mod html;
mod request;
pub mod search;

use access::{Access, Visitor, SESSION_COOKIE, SESSION_LIFETIME, VISITOR_COOKIE};
use actions::{Redrives, TestMessage};
use ebbflow_core::access::Key;
use ebbflow_core::{QueueBackend, QueueError};
use html::Chrome;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use request::Form;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The theme cookie: `light`, `dark`, or absent to follow the system.
const THEME_COOKIE: &str = "ebbflow_theme";

/// The dashboard's pages and API over one backend, under a base path.
pub struct Dashboard {
    backend: Arc<dyn QueueBackend>,
    base: String,
    access: Access,
    redrives: Arc<Redrives>,
    secure_cookies: bool,
}

/// What a route answers.
enum Body {
    Html(String),
    Json(serde_json::Value),
    Script(&'static str),
}

/// The dashboard's one script: live charts and counts, select-all.
const LIVE_JS: &str = include_str!("../assets/live.js");

/// A route's answer: a status and a body, or a redirect; cookies to set.
struct Reply {
    status: StatusCode,
    body: Body,
    location: Option<String>,
    cookies: Vec<String>,
}

impl Reply {
    fn ok(body: Body) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            location: None,
            cookies: Vec::new(),
        }
    }

    fn see(location: String) -> Self {
        Self {
            status: StatusCode::SEE_OTHER,
            body: Body::Html(String::new()),
            location: Some(location),
            cookies: Vec::new(),
        }
    }
}

/// Why a route failed.
enum Failure {
    Queue(QueueError),
    NotFound,
    SignIn,
    Forbidden(String),
    Csrf,
}

impl From<QueueError> for Failure {
    fn from(e: QueueError) -> Self {
        Failure::Queue(e)
    }
}

/// One request, read.
struct Call<'a> {
    method: &'a Method,
    route: &'a str,
    query: &'a Form,
    form: &'a Form,
    visitor: &'a Visitor,
    json: bool,
    chrome: &'a Chrome,
}

impl Dashboard {
    /// The dashboard of `backend`, its pages under `base` (`""` or `/ui`),
    /// open to anyone who reaches it (see [`Dashboard::with_keys`]).
    pub fn new(backend: Arc<dyn QueueBackend>, base: &str) -> Self {
        Self {
            backend,
            base: base.trim_end_matches('/').to_owned(),
            access: Access::new(None),
            redrives: Arc::default(),
            secure_cookies: false,
        }
    }

    /// Only these keys (access key id → rules) may sign in, each limited to
    /// what its rules allow; `None` keeps it open.
    pub fn with_keys(mut self, keys: Option<HashMap<String, Key>>) -> Self {
        self.access = Access::new(keys);
        self
    }

    /// Marks its cookies `Secure`, for a dashboard served over HTTPS.
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// Answers one request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut incoming = match request::read(req).await {
            Ok(r) => r,
            Err(why) => return self.error_page(StatusCode::BAD_REQUEST, "Bad request", &why),
        };
        let Some(route) = incoming.path.strip_prefix(self.base.as_str()) else {
            return self.error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page.");
        };
        if !route.is_empty() && !route.starts_with('/') {
            return self.error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page.");
        }
        let mut cookies = std::mem::take(&mut incoming.cookies);
        let mut set_cookies = Vec::new();
        if self.access.is_open() && !cookies.contains_key(VISITOR_COOKIE) {
            let value = self.access.new_visitor();
            set_cookies.push(self.cookie(VISITOR_COOKIE, &value, None));
            cookies.insert(VISITOR_COOKIE.to_owned(), value);
        }
        let visitor = self
            .access
            .visitor(&cookies, incoming.authorization.as_deref());
        let json = route.starts_with("/api/");
        let chrome = Chrome {
            base: self.base.clone(),
            who: match &visitor {
                Visitor::Key { id, .. } => Some(id.clone()),
                _ => None,
            },
            csrf: self.access.csrf(&visitor).unwrap_or_default(),
            theme: cookies.get(THEME_COOKIE).cloned().unwrap_or_default(),
            read_only: !["SendMessage", "PurgeQueue", "StartMessageMoveTask"]
                .iter()
                .any(|a| visitor.allows(a, None)),
        };
        let call = Call {
            method: &incoming.method,
            route: route.trim_end_matches('/'),
            query: &incoming.query,
            form: &incoming.form,
            visitor: &visitor,
            json,
            chrome: &chrome,
        };
        let mut response = match self.route(&call).await {
            Ok(reply) => {
                set_cookies.extend(reply.cookies);
                let mut r = respond(reply.status, reply.body);
                if let Some(location) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok())
                {
                    r.headers_mut().insert(LOCATION, location);
                }
                r
            }
            Err(failure) => self.failure(&call, failure),
        };
        for c in set_cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                response.headers_mut().append(SET_COOKIE, v);
            }
        }
        response
    }

    async fn route(&self, c: &Call<'_>) -> Result<Reply, Failure> {
        let path = c.route.strip_prefix("/api").unwrap_or(c.route);
        let get = c.method == Method::GET || c.method == Method::HEAD;
        let post = c.method == Method::POST;
        // Signing in and the theme need no one signed in.
        match (path, get, post) {
            ("/login", true, _) => return Ok(Reply::ok(Body::Html(html::login(c.chrome, None)))),
            ("/login", _, true) => return Ok(self.sign_in(c)),
            ("/logout", _, true) => {
                let mut reply = Reply::see(format!("{}/login", self.base));
                reply
                    .cookies
                    .push(self.cookie(SESSION_COOKIE, "", Some(Duration::ZERO)));
                return Ok(reply);
            }
            ("/theme", true, _) => return Ok(self.theme(c)),
            ("/assets/live.js", true, _) => return Ok(Reply::ok(Body::Script(LIVE_JS))),
            _ => {}
        }
        if matches!(c.visitor, Visitor::Anonymous) {
            return Err(Failure::SignIn);
        }
        if post && !self.access.csrf_holds(c.visitor, c.form.get("csrf")) {
            return Err(Failure::Csrf);
        }
        let segments: Vec<String> = path.split('/').skip(1).map(request::decode).collect();
        let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (parts.as_slice(), get, post) {
            ([] | [""] | ["queues"], true, _) => self.queues(c).await,
            (["queues", name], true, _) => self.queue(c, name, false).await,
            // A receive changes the queue (receive counts), so it is a form
            // with its CSRF token, never a link another site could embed.
            (["queues", name, "receive"], _, true) => self.queue(c, name, true).await,
            (["queues", name, "messages"], true, _) if c.json => self.messages(c, name).await,
            (["queues", name, "search"], true, _) => self.search(c, name).await,
            (["queues", name, "history"], true, _) if c.json => self.history(c, name).await,
            (["queues", name, "charts"], true, _) if !c.json => self.charts(c, name).await,
            (["queues", name, "counts"], true, _) if !c.json => {
                self.allow(c, "GetQueueAttributes", name)?;
                let detail = data::queue(&self.backend, name).await?;
                Ok(Reply::ok(Body::Html(html::counts(&detail.row))))
            }
            (["queues", name, "workers"], true, _) if c.json => self.workers(c, name).await,
            (["queues", name, "dead-letters"], true, _) if c.json => {
                self.dead_letters(c, name).await
            }
            (["queues", name, "redrives"], true, _) if c.json => {
                self.allow(c, "GetQueueAttributes", name)?;
                let list = self.redrives.of_queue(name);
                Ok(Reply::ok(Body::Json(
                    serde_json::json!({ "redrives": list }),
                )))
            }
            (["queues", name, "redrives", id], true, _) => self.redrive_status(c, name, id),
            (["queues", name, "send"], _, true) => self.send(c, name).await,
            (["queues", name, "purge"], _, true) => self.purge(c, name).await,
            (["queues", name, "pause"], _, true) => self.pause(c, name, true).await,
            (["queues", name, "resume"], _, true) => self.pause(c, name, false).await,
            (["queues", name, "delete"], _, true) => self.delete(c, name).await,
            (["queues", name, "redrive"], _, true) => self.redrive(c, name).await,
            (["queues", name, "redrives", id, "stop"], _, true) => self.stop(c, name, id),
            _ if !get && !post => Err(Failure::Forbidden(
                "Only GET and POST are served here.".to_owned(),
            )),
            _ => Err(Failure::NotFound),
        }
    }

    fn allow(&self, c: &Call<'_>, action: &str, queue: &str) -> Result<(), Failure> {
        if c.visitor.allows(action, Some(queue)) {
            Ok(())
        } else {
            Err(Failure::Forbidden(format!(
                "Your key may not {action} on {queue}."
            )))
        }
    }

    fn sign_in(&self, c: &Call<'_>) -> Reply {
        let id = c.form.get("access_key_id").unwrap_or_default();
        let secret = c.form.get("secret").unwrap_or_default();
        match self.access.sign_in(id, secret) {
            Some(session) => {
                tracing::info!(target: "ebbflow::audit", key = %id, "signed in to the dashboard");
                let mut reply = Reply::see(format!("{}/", self.base));
                reply
                    .cookies
                    .push(self.cookie(SESSION_COOKIE, &session, Some(SESSION_LIFETIME)));
                reply
            }
            None => {
                tracing::info!(target: "ebbflow::audit", key = %id, "a sign-in to the dashboard was refused");
                let mut reply = Reply::ok(Body::Html(html::login(
                    c.chrome,
                    Some("That key id and secret do not match a key of this server."),
                )));
                reply.status = StatusCode::UNAUTHORIZED;
                reply
            }
        }
    }

    fn theme(&self, c: &Call<'_>) -> Reply {
        let set = c
            .query
            .get("set")
            .filter(|t| matches!(*t, "light" | "dark"))
            .unwrap_or_default();
        // Only back to a page of this dashboard.
        let back = c
            .query
            .get("back")
            .filter(|b| is_own_path(&self.base, b))
            .map_or_else(|| format!("{}/", self.base), str::to_owned);
        let mut reply = Reply::see(back);
        let lifetime = if set.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_secs(365 * 86_400)
        };
        reply
            .cookies
            .push(self.cookie(THEME_COOKIE, set, Some(lifetime)));
        reply
    }

    async fn queues(&self, c: &Call<'_>) -> Result<Reply, Failure> {
        if !c.visitor.allows("ListQueues", None) {
            return Err(Failure::Forbidden(
                "Your key may not list queues.".to_owned(),
            ));
        }
        let mut rows = data::queues(&self.backend, |q| c.visitor.sees(q)).await?;
        data::sort(&mut rows, c.query.get("sort").unwrap_or("name"));
        Ok(Reply::ok(if c.json {
            Body::Json(serde_json::json!({ "queues": rows }))
        } else {
            Body::Html(html::queues(c.chrome, &rows))
        }))
    }

    async fn queue(&self, c: &Call<'_>, name: &str, receive: bool) -> Result<Reply, Failure> {
        self.allow(c, "GetQueueAttributes", name)?;
        let detail = data::queue(&self.backend, name).await?;
        if c.json {
            return Ok(Reply::ok(Body::Json(
                serde_json::to_value(&detail).unwrap_or_default(),
            )));
        }
        let after = c.query.get("after");
        let mut messages = data::messages(&self.backend, name, after, data::PAGE).await?;
        if messages.is_none() && receive {
            self.allow(c, "ReceiveMessage", name)?;
            messages = Some(data::receive_to_look(&self.backend, name).await?);
        }
        let workers = data::consumers(&self.backend, name).await?;
        let is_dlq = !detail.row.dead_letter_sources.is_empty();
        // A dead-letter queue's first page also groups its messages by why.
        let dead = if is_dlq && after.is_none() {
            data::dead_letters(&self.backend, name).await?
        } else {
            None
        };
        let (window, length) = window(c.query);
        let now = now_ms();
        let history = data::history(&self.backend, name, length, now).await?;
        let allowed = |action: &str| c.visitor.allows(action, Some(name));
        let page = html::QueuePage {
            detail: &detail,
            messages: messages.as_ref(),
            workers: workers.as_deref(),
            dead_letters: dead
                .as_ref()
                .map(|(groups, more)| (groups.as_slice(), *more)),
            redrives: &self.redrives.of_queue(name),
            can_send: allowed("SendMessage"),
            can_purge: allowed("PurgeQueue"),
            can_pause: allowed(PAUSE_ACTION),
            can_delete: allowed("DeleteMessage"),
            can_receive: allowed("ReceiveMessage"),
            can_redrive: is_dlq && allowed("StartMessageMoveTask"),
            notice: notice(c.query),
            history: (window, history.as_ref()),
            now_ms: now,
        };
        Ok(Reply::ok(Body::Html(html::queue(c.chrome, &page))))
    }

    async fn history(&self, c: &Call<'_>, name: &str) -> Result<Reply, Failure> {
        self.allow(c, "GetQueueAttributes", name)?;
        self.backend.get_queue_attributes(name).await?;
        let (_, length) = window(c.query);
        Ok(Reply::ok(Body::Json(
            match data::history(&self.backend, name, length, now_ms()).await? {
                Some(h) => serde_json::to_value(&h).unwrap_or_default(),
                None => serde_json::json!({
                    "minutes": [],
                    "unsupported": "no history is kept for this queue ([history] enabled = true), or this engine cannot show it",
                }),
            },
        )))
    }

    /// The charts alone, for `live.js` to swap in.
    async fn charts(&self, c: &Call<'_>, name: &str) -> Result<Reply, Failure> {
        self.allow(c, "GetQueueAttributes", name)?;
        let (_, length) = window(c.query);
        let now = now_ms();
        let body = match data::history(&self.backend, name, length, now).await? {
            Some(h) => charts::charts(&h, now),
            None => String::new(),
        };
        Ok(Reply::ok(Body::Html(body)))
    }

    async fn workers(&self, c: &Call<'_>, name: &str) -> Result<Reply, Failure> {
        self.allow(c, "GetQueueAttributes", name)?;
        self.backend.get_queue_attributes(name).await?;
        Ok(Reply::ok(Body::Json(
            match data::consumers(&self.backend, name).await? {
                Some(members) => serde_json::json!({ "workers": members }),
                None => serde_json::json!({
                    "workers": [],
                    "unsupported": "this engine keeps no registry of consumers",
                }),
            },
        )))
    }

    async fn dead_letters(&self, c: &Call<'_>, name: &str) -> Result<Reply, Failure> {
        self.allow(c, "GetQueueAttributes", name)?;
        self.backend.get_queue_attributes(name).await?;
        Ok(Reply::ok(Body::Json(
            match data::dead_letters(&self.backend, name).await? {
                Some((groups, more)) => serde_json::json!({ "groups": groups, "more": more }),
                None => serde_json::json!({
                    "groups": [],
                    "unsupported": "this engine cannot show messages without receiving them",
                }),
            },
        )))
    }

    async fn messages(&self, c: &Call<'_>, name: &str) -> Result<Reply, Failure> {
        self.allow(c, "GetQueueAttributes", name)?;
        let page = data::messages(&self.backend, name, c.query.get("after"), data::PAGE).await?;
        Ok(Reply::ok(Body::Json(match page {
            Some(page) => serde_json::to_value(&page).unwrap_or_default(),
            None => serde_json::json!({
                "messages": [],
                "next": null,
                "unsupported": "this engine cannot show messages without receiving them",
            }),
        })))
    }

    async fn search(&self, c: &Call<'_>, name: &str) -> Result<Reply, Failure> {
        self.allow(c, "GetQueueAttributes", name)?;
        self.backend.get_queue_attributes(name).await?;
        let text = c.query.get("q").unwrap_or_default();
        let found = match search::Query::parse(text) {
            Some(query) => {
                search::search(
                    &self.backend,
                    name,
                    &query,
                    c.query.get("after"),
                    data::PAGE as usize,
                )
                .await?
            }
            None => None,
        };
        if c.json {
            return Ok(Reply::ok(Body::Json(match &found {
                Some(f) => serde_json::to_value(f).unwrap_or_default(),
                None if text.trim().is_empty() => {
                    serde_json::json!({ "error": "q: what to search for" })
                }
                None => serde_json::json!({
                    "messages": [],
                    "unsupported": "this engine cannot show messages without receiving them",
                }),
            })));
        }
        Ok(Reply::ok(Body::Html(html::search(
            c.chrome,
            name,
            text,
            found.as_ref(),
            c.visitor.allows("DeleteMessage", Some(name)),
        ))))
    }

    fn redrive_status(&self, c: &Call<'_>, name: &str, id: &str) -> Result<Reply, Failure> {
        self.allow(c, "GetQueueAttributes", name)?;
        let status = id
            .parse()
            .ok()
            .and_then(|id| self.redrives.status(id))
            .filter(|s| s.queue == name)
            .ok_or(Failure::NotFound)?;
        Ok(Reply::ok(if c.json {
            Body::Json(serde_json::to_value(&status).unwrap_or_default())
        } else {
            Body::Html(html::redrive(c.chrome, &status))
        }))
    }

    /// Where a change sends a browser afterwards; an API caller gets `body`.
    fn done(&self, c: &Call<'_>, location: String, body: serde_json::Value) -> Reply {
        if c.json {
            Reply::ok(Body::Json(body))
        } else {
            Reply::see(location)
        }
    }

    fn queue_url(&self, name: &str) -> String {
        format!("{}/queues/{}", self.base, html::url_part(name))
    }

    async fn send(&self, c: &Call<'_>, name: &str) -> Result<Reply, Failure> {
        self.allow(c, "SendMessage", name)?;
        let form = TestMessage {
            body: c.form.get("body").unwrap_or_default().to_owned(),
            attributes: c.form.get("attributes").unwrap_or_default().to_owned(),
            delay_s: match c.form.get("delay").map(str::trim) {
                None | Some("") => 0,
                Some(d) => d.parse().map_err(|_| {
                    QueueError::invalid("delay", format!("`{d}`: whole seconds, 0 to 900"))
                })?,
            },
            group: c.form.get("group").unwrap_or_default().to_owned(),
            deduplication_id: c
                .form
                .get("deduplication_id")
                .unwrap_or_default()
                .to_owned(),
        };
        let receipt = self.backend.send(name, form.to_message()?).await;
        audit(c.visitor, "SendMessage", name, receipt.as_ref().err());
        let receipt = receipt?;
        Ok(self.done(
            c,
            format!(
                "{}?sent={}",
                self.queue_url(name),
                html::url_part(&receipt.message_id)
            ),
            serde_json::json!({ "message_id": receipt.message_id }),
        ))
    }

    async fn delete(&self, c: &Call<'_>, name: &str) -> Result<Reply, Failure> {
        self.allow(c, "DeleteMessage", name)?;
        let (Some(position), Some(id)) = (c.form.get("position"), c.form.get("message_id")) else {
            return Err(Failure::Queue(QueueError::missing(
                "position",
                "the position and message_id a browse gave",
            )));
        };
        let deleted = self.backend.delete_browsed(name, position, id).await;
        audit(c.visitor, "DeleteMessage", name, deleted.as_ref().err());
        let deleted = deleted?;
        Ok(self.done(
            c,
            format!(
                "{}?{}={}",
                self.queue_url(name),
                if deleted { "deleted" } else { "gone" },
                html::url_part(id)
            ),
            serde_json::json!({ "deleted": deleted, "message_id": id }),
        ))
    }

    async fn purge(&self, c: &Call<'_>, name: &str) -> Result<Reply, Failure> {
        self.allow(c, "PurgeQueue", name)?;
        if c.form.get("confirm") != Some(name) {
            return Err(Failure::Queue(QueueError::invalid(
                "confirm",
                format!("type the queue's name, {name}, to purge it"),
            )));
        }
        let purged = self.backend.purge(name).await;
        audit(c.visitor, "PurgeQueue", name, purged.as_ref().err());
        purged?;
        Ok(self.done(
            c,
            format!("{}?purged=1", self.queue_url(name)),
            serde_json::json!({ "purged": name }),
        ))
    }

    /// Pauses (`pause`) or resumes the queue's consumers, as `ebbflow pause`
    /// does; the visitor's key name is kept as who paused it.
    async fn pause(&self, c: &Call<'_>, name: &str, pause: bool) -> Result<Reply, Failure> {
        self.allow(c, PAUSE_ACTION, name)?;
        let flag = if pause {
            let reason = c.form.get("reason").map(str::to_owned);
            // A key name too long to keep is left out, not an error.
            let by = Some(c.visitor.name().to_owned())
                .filter(|n| ebbflow_core::Pause::new(None, Some(n.clone())).is_ok());
            Some(ebbflow_core::Pause::new(reason, by)?)
        } else {
            None
        };
        let update = ebbflow_core::QueueAttributesUpdate {
            pause: Some(flag),
            ..Default::default()
        };
        let done = self.backend.set_queue_attributes(name, update).await;
        let action = if pause {
            "PauseConsumers"
        } else {
            "ResumeConsumers"
        };
        audit(c.visitor, action, name, done.as_ref().err());
        done?;
        let word = if pause { "paused" } else { "resumed" };
        Ok(self.done(
            c,
            format!("{}?{word}=1", self.queue_url(name)),
            serde_json::json!({ word: name }),
        ))
    }

    async fn redrive(&self, c: &Call<'_>, name: &str) -> Result<Reply, Failure> {
        self.allow(c, "StartMessageMoveTask", name)?;
        let to = c.form.get("to").unwrap_or_default();
        if to.trim() == name {
            return Err(QueueError::invalid(
                "to",
                "a redrive cannot move messages into the queue they come from",
            )
            .into());
        }
        if !to.trim().is_empty() {
            self.allow(c, "SendMessage", to.trim())?;
        } else {
            // Back to their sources: the visitor must reach each of them.
            for source in self.backend.list_dead_letter_source_queues(name).await? {
                self.allow(c, "SendMessage", &source)?;
            }
        }
        self.backend.get_queue_attributes(name).await?;
        let ids = c.form.all("id");
        let redrive = actions::redrive_of(
            to,
            c.form.get("rate").unwrap_or_default(),
            c.form.get("filter").unwrap_or_default(),
            &ids,
        )?;
        if let Some(to) = &redrive.to {
            self.backend.get_queue_attributes(to).await?;
        }
        audit(c.visitor, "StartMessageMoveTask", name, None);
        let id = self
            .redrives
            .start(self.backend.clone(), name, redrive, c.visitor.name())?;
        Ok(self.done(
            c,
            format!("{}/redrives/{id}", self.queue_url(name)),
            serde_json::json!({ "redrive": id }),
        ))
    }

    fn stop(&self, c: &Call<'_>, name: &str, id: &str) -> Result<Reply, Failure> {
        self.allow(c, "CancelMessageMoveTask", name)?;
        let id: u64 = id.parse().map_err(|_| Failure::NotFound)?;
        match self.redrives.status(id) {
            Some(s) if s.queue == name => {
                self.redrives.stop(id);
                audit(c.visitor, "CancelMessageMoveTask", name, None);
                Ok(self.done(
                    c,
                    format!("{}/redrives/{id}", self.queue_url(name)),
                    serde_json::json!({ "stopping": id }),
                ))
            }
            _ => Err(Failure::NotFound),
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age: Option<Duration>) -> String {
        let path = if self.base.is_empty() {
            "/"
        } else {
            &self.base
        };
        let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        if self.secure_cookies {
            c.push_str("; Secure");
        }
        c
    }

    fn error_page(&self, status: StatusCode, title: &str, message: &str) -> Response<Full<Bytes>> {
        let chrome = Chrome {
            base: self.base.clone(),
            ..Chrome::default()
        };
        respond(status, Body::Html(html::error(&chrome, title, message)))
    }

    fn failure(&self, c: &Call<'_>, failure: Failure) -> Response<Full<Bytes>> {
        let (status, title, message) = match failure {
            Failure::SignIn if !c.json => {
                let mut r = respond(StatusCode::SEE_OTHER, Body::Html(String::new()));
                if let Ok(v) = HeaderValue::from_str(&format!("{}/login", self.base)) {
                    r.headers_mut().insert(LOCATION, v);
                }
                return r;
            }
            Failure::SignIn => (
                StatusCode::UNAUTHORIZED,
                "Sign in",
                "Send an access key id and its secret as HTTP Basic credentials.".to_owned(),
            ),
            Failure::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page.".to_owned(),
            ),
            Failure::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", why),
            Failure::Csrf => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "The form's token is missing or stale: reload the page and try again.".to_owned(),
            ),
            Failure::Queue(QueueError::QueueDoesNotExist(q)) => (
                StatusCode::NOT_FOUND,
                "No such queue",
                format!("No queue is called {q}."),
            ),
            Failure::Queue(e) if is_request_error(&e) => {
                (StatusCode::BAD_REQUEST, "Not done", e.to_string())
            }
            Failure::Queue(e) => {
                tracing::warn!(error = %e, "dashboard: the backend failed");
                (StatusCode::BAD_GATEWAY, "The backend failed", e.to_string())
            }
        };
        let body = if c.json {
            Body::Json(serde_json::json!({ "error": title, "message": message }))
        } else {
            Body::Html(html::error(c.chrome, title, &message))
        };
        respond(status, body)
    }
}

/// Errors that are the request's fault, not the backend's.
fn is_request_error(e: &QueueError) -> bool {
    !matches!(e, QueueError::Backend { .. })
}

/// The charts' window a query asks for (`?window=6h`), by label and length;
/// an hour by default.
fn window(query: &Form) -> (&'static str, Duration) {
    let wanted = query.get("window").unwrap_or("1h");
    let (label, secs) = html::WINDOWS
        .iter()
        .find(|(label, _)| *label == wanted)
        .copied()
        .unwrap_or(html::WINDOWS[0]);
    (label, Duration::from_secs(secs))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The line a page shows after a change it redirected from.
fn notice(query: &Form) -> Option<String> {
    if let Some(id) = query.get("sent") {
        return Some(format!("Sent message {id}."));
    }
    if let Some(id) = query.get("deleted") {
        return Some(format!("Deleted message {id}."));
    }
    if let Some(id) = query.get("gone") {
        return Some(format!(
            "Message {id} was gone already (received and deleted, or moved)."
        ));
    }
    if query.get("paused").is_some() {
        return Some(
            "Paused: every runtime consuming this queue stops receiving within a tick.".to_owned(),
        );
    }
    if query.get("resumed").is_some() {
        return Some("Resumed: its consumers receive again within a tick.".to_owned());
    }
    query
        .get("purged")
        .map(|_| "Purged: every message is gone.".to_owned())
}

/// The permission pausing and resuming a queue's consumers takes: a change
/// of the queue, as `SetQueueAttributes` is (read-only keys lack it).
const PAUSE_ACTION: &str = "SetQueueAttributes";

/// One line in the audit log for a change.
fn audit(visitor: &Visitor, action: &str, queue: &str, error: Option<&QueueError>) {
    match error {
        None => {
            tracing::info!(target: "ebbflow::audit", key = %visitor.name(), action, queue, "dashboard")
        }
        Some(e) => {
            tracing::info!(target: "ebbflow::audit", key = %visitor.name(), action, queue, error = %e, "dashboard: refused by the backend")
        }
    }
}

fn respond(status: StatusCode, body: Body) -> Response<Full<Bytes>> {
    let (text, content_type) = match body {
        Body::Html(h) => (h, "text/html; charset=utf-8"),
        Body::Json(v) => (v.to_string(), "application/json"),
        Body::Script(s) => (s.to_owned(), "text/javascript; charset=utf-8"),
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Pages run no script but our own, and are never framed by another site.
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
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

    /// Serves until `shutdown` resolves, with the listener's default
    /// limits (connections, header and body deadlines).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let dashboard = self.dashboard;
        let limits = ebbflow_listener::Limits::default();
        ebbflow_listener::serve(self.listener, limits, shutdown, move |stream| {
            let dashboard = dashboard.clone();
            async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let dashboard = dashboard.clone();
                    async move { Ok::<_, std::convert::Infallible>(dashboard.handle(req).await) }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    tracing::debug!(error = %e, "dashboard: connection ended");
                }
            }
        })
        .await;
    }
}

/// Whether `path` is a page of the dashboard under `base`, in the only
/// characters the dashboard's own links use: a browser ignores tabs and
/// newlines in a URL and reads `\` as `/`, so anything else could turn
/// `/\t/evil.example` into `//evil.example`, another site.
fn is_own_path(base: &str, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(base) else {
        return false;
    };
    rest.starts_with('/')
        && !rest.starts_with("//")
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.?=&".contains(&b))
}

#[cfg(test)]
mod own_path_tests {
    use super::is_own_path;

    #[test]
    fn only_the_dashboards_own_paths_are_redirected_to() {
        for base in ["", "/ui"] {
            assert!(is_own_path(
                base,
                &format!("{base}/queues/orders?window=1h")
            ));
            for evil in [
                "/\t/evil.example",
                "/\u{9}/evil.example",
                "//evil.example",
                "/\\evil.example",
                "/\n/evil.example",
                "https://evil.example/",
                "/%09/evil.example",
            ] {
                assert!(!is_own_path(base, &format!("{base}{evil}")), "{base}{evil}");
            }
        }
        assert!(!is_own_path("/ui", "/other/page"));
    }
}
