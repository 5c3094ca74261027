//! What the dashboard changes, through HTTP over the memory engine, as a
//! browser does it (cookies, forms with their CSRF token, redirects) and as
//! a script does (Basic credentials, JSON): sending, purging, searching,
//! redriving with progress; and who may do which.

use ebbflow_core::access::Key;
use ebbflow_core::{
    MessageAttributeValue, QueueAttributes, QueueBackend, RedrivePolicy, SendMessage,
};
use ebbflow_dashboard::{Dashboard, Server};
use ebbflow_memory::MemoryBackend;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A browser, as far as the dashboard can tell: it keeps cookies.
struct Browser {
    addr: String,
    cookies: HashMap<String, String>,
    authorization: Option<String>,
}

impl Browser {
    fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            cookies: HashMap::new(),
            authorization: None,
        }
    }

    async fn send(&mut self, method: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            head.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
        }
        if let Some(a) = &self.authorization {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        if method == "POST" {
            head.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut tcp = tokio::net::TcpStream::connect(&self.addr)
            .await
            .expect("connect");
        tcp.write_all(head.as_bytes()).await.expect("write");
        tcp.write_all(body.as_bytes()).await.expect("write");
        let mut raw = String::new();
        tcp.read_to_string(&mut raw).await.expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.get(9..12))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect();
        for (k, v) in &headers {
            if k == "set-cookie" {
                let pair = v.split(';').next().unwrap_or_default();
                if let Some((name, value)) = pair.split_once('=') {
                    if value.is_empty() {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_owned(), value.to_owned());
                    }
                }
            }
        }
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, &[]).await
    }

    /// Posts a form with the CSRF token of the page it came from.
    async fn submit(&mut self, page: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        let token = token_in(&self.get(page).await.body);
        let mut fields = vec![("csrf", token.as_str())];
        fields.extend_from_slice(form);
        self.send("POST", path, &fields).await
    }
}

fn token_in(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

/// `orders` dead-letters into `orders-dlq`; `billing` stands apart.
async fn queues() -> Arc<MemoryBackend> {
    let b = Arc::new(MemoryBackend::new());
    b.create_queue("orders-dlq", QueueAttributes::standard())
        .await
        .expect("dlq");
    let attrs =
        QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new("orders-dlq", 5));
    b.create_queue("orders", attrs).await.expect("orders");
    b.create_queue("billing", QueueAttributes::standard())
        .await
        .expect("billing");
    b
}

async fn serve(b: &Arc<MemoryBackend>, keys: Option<HashMap<String, Key>>) -> String {
    let backend: Arc<dyn QueueBackend> = b.clone();
    let dashboard = Dashboard::new(backend, "/ui").with_keys(keys);
    let server = Server::bind(([127, 0, 0, 1], 0).into(), dashboard)
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr").to_string();
    tokio::spawn(server.serve(std::future::pending()));
    addr
}

fn keys() -> HashMap<String, Key> {
    let viewer = Key {
        secret: "viewer-secret".into(),
        actions: vec!["read".into()],
        queues: vec!["*".into()],
    };
    let orders_team = Key {
        secret: "team-secret".into(),
        actions: vec!["*".into()],
        queues: vec!["orders*".into()],
    };
    HashMap::from([
        ("admin".to_owned(), Key::full("admin-secret")),
        ("viewer".to_owned(), viewer),
        ("team".to_owned(), orders_team),
    ])
}

async fn signed_in(addr: &str, id: &str, secret: &str) -> Browser {
    let mut browser = Browser::new(addr);
    let answer = browser
        .send(
            "POST",
            "/ui/login",
            &[("access_key_id", id), ("secret", secret)],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    browser
}

async fn dead_letter(b: &MemoryBackend, body: &str, reason: &str) {
    let m = SendMessage::new(body)
        .attribute("ebbflow.reason", MessageAttributeValue::string(reason))
        .attribute(
            "ebbflow.source_queue",
            MessageAttributeValue::string("orders"),
        );
    b.send("orders-dlq", m).await.expect("send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_message_is_sent_from_the_form_with_its_attributes_and_delay() {
    let b = queues().await;
    let addr = serve(&b, None).await;
    let mut browser = Browser::new(&addr);
    let answer = browser
        .submit(
            "/ui/queues/orders",
            "/ui/queues/orders/send",
            &[
                ("body", "{\"order\": 7}"),
                ("attributes", "tenant=acme\n\nkind = test"),
                ("delay", "30"),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let back = answer.header("location").expect("a redirect").to_owned();
    assert!(back.starts_with("/ui/queues/orders?sent="), "{back}");
    let page = browser.get(&back).await.body;
    assert!(page.contains("id=\"notice\">Sent message"), "{page}");
    let listed = b
        .browse("orders", ebbflow_core::BrowseRequest::new(10))
        .await
        .expect("browse");
    let m = &listed.messages[0];
    assert_eq!(m.body, "{\"order\": 7}");
    assert_eq!(m.state, ebbflow_core::MessageState::Delayed);
    assert_eq!(m.attributes["kind"].as_str(), Some("test"));
    assert_eq!(m.attributes["tenant"].as_str(), Some("acme"));
    // A line that is not NAME=VALUE sends nothing and says why.
    let bad = browser
        .submit(
            "/ui/queues/orders",
            "/ui/queues/orders/send",
            &[("body", "x"), ("attributes", "no equals sign")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("NAME=VALUE"), "{}", bad.body);
    assert_eq!(b.stats("orders").await.expect("stats").delayed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_wants_the_queue_name_typed_and_a_token_from_this_visitor() {
    let b = queues().await;
    b.send("orders", SendMessage::new("x")).await.expect("send");
    let addr = serve(&b, None).await;
    let mut browser = Browser::new(&addr);
    let wrong = browser
        .submit(
            "/ui/queues/orders",
            "/ui/queues/orders/purge",
            &[("confirm", "order")],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(b.stats("orders").await.expect("stats").visible, 1);
    // Another visitor's token (a forged cross-site form) is refused.
    let mut other = Browser::new(&addr);
    let token = token_in(&other.get("/ui/queues/orders").await.body);
    let forged = browser
        .send(
            "POST",
            "/ui/queues/orders/purge",
            &[("csrf", token.as_str()), ("confirm", "orders")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(b.stats("orders").await.expect("stats").visible, 1);
    let purged = browser
        .submit(
            "/ui/queues/orders",
            "/ui/queues/orders/purge",
            &[("confirm", "orders")],
        )
        .await;
    assert_eq!(purged.status, 303, "{}", purged.body);
    assert_eq!(b.stats("orders").await.expect("stats").visible, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_by_body_text_attribute_and_id_without_receiving() {
    let b = queues().await;
    let mut ids = Vec::new();
    for i in 0..2_500 {
        let m = SendMessage::new(format!("{{\"order\": {i}, \"note\": \"n{i}\"}}")).attribute(
            "tenant",
            MessageAttributeValue::string(format!("t{}", i % 7)),
        );
        ids.push(b.send("orders", m).await.expect("send").message_id);
    }
    let addr = serve(&b, None).await;
    let mut browser = Browser::new(&addr);
    let page = browser.get("/ui/queues/orders/search?q=N2499").await.body;
    assert!(
        page.contains("1 found in 2500 messages looked at, the whole queue"),
        "{page}"
    );
    assert!(page.contains("&quot;order&quot;: 2499"), "{page}");
    let api = browser
        .get("/ui/api/queues/orders/search?q=tenant%3Dt3")
        .await
        .body;
    let v: serde_json::Value = serde_json::from_str(&api).expect("JSON");
    assert_eq!(v["messages"][0]["attributes"]["tenant"], "t3");
    assert!(v["messages"].as_array().expect("list").len() >= 50);
    assert_eq!(v["complete"], false, "it stopped once it had a page");
    let by_id = browser
        .get(&format!("/ui/api/queues/orders/search?q=id:{}", ids[1234]))
        .await
        .body;
    let v: serde_json::Value = serde_json::from_str(&by_id).expect("JSON");
    assert_eq!(v["messages"][0]["message_id"], ids[1234].as_str());
    let stats = b.stats("orders").await.expect("stats");
    assert_eq!(
        (stats.visible, stats.in_flight),
        (2_500, 0),
        "nothing received"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_of_a_selection_moves_those_messages_back_with_progress() {
    let b = queues().await;
    for (body, reason) in [("a", "permanent"), ("b", "permanent"), ("c", "timeout")] {
        dead_letter(&b, body, reason).await;
    }
    let addr = serve(&b, None).await;
    let mut browser = Browser::new(&addr);
    let page = browser.get("/ui/queues/orders-dlq").await.body;
    assert!(page.contains("id=\"start-redrive\""), "{page}");
    let listed = b
        .browse("orders-dlq", ebbflow_core::BrowseRequest::new(10))
        .await
        .expect("browse");
    let id_of = |body: &str| {
        listed
            .messages
            .iter()
            .find(|m| m.body == body)
            .map(|m| m.message_id.clone())
            .expect("sent")
    };
    let (a, c) = (id_of("a"), id_of("c"));
    let started = browser
        .submit(
            "/ui/queues/orders-dlq",
            "/ui/queues/orders-dlq/redrive",
            &[("id", a.as_str()), ("id", c.as_str()), ("rate", "")],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let progress = started.header("location").expect("its page").to_owned();
    assert!(
        progress.starts_with("/ui/queues/orders-dlq/redrives/"),
        "{progress}"
    );
    let mut state = String::new();
    for _ in 0..100 {
        let api = browser
            .get(&format!("/ui/api{}", &progress[3..]))
            .await
            .body;
        let v: serde_json::Value = serde_json::from_str(&api).expect("JSON");
        state = v["state"].as_str().unwrap_or_default().to_owned();
        if state == "done" {
            assert_eq!(
                (v["moved"].as_u64(), v["left_alone"].as_u64()),
                (Some(2), Some(1))
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state, "done");
    let page = browser.get(&progress).await.body;
    assert!(page.contains("State: <b>done</b>"), "{page}");
    let mut back: Vec<String> = b
        .browse("orders", ebbflow_core::BrowseRequest::new(10))
        .await
        .expect("browse")
        .messages
        .into_iter()
        .map(|m| m.body)
        .collect();
    back.sort();
    assert_eq!(back, ["a", "c"]);
    let left = b.stats("orders-dlq").await.expect("stats");
    assert_eq!(
        (left.visible, left.in_flight),
        (1, 0),
        "b is visible again at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_keys_a_visitor_signs_in_and_sees_what_the_key_allows() {
    let b = queues().await;
    dead_letter(&b, "a", "permanent").await;
    let addr = serve(&b, Some(keys())).await;
    let mut anonymous = Browser::new(&addr);
    let away = anonymous.get("/ui/").await;
    assert_eq!(
        (away.status, away.header("location")),
        (303, Some("/ui/login"))
    );
    assert_eq!(anonymous.get("/ui/api/queues").await.status, 401);
    let refused = anonymous
        .send(
            "POST",
            "/ui/login",
            &[("access_key_id", "admin"), ("secret", "nope")],
        )
        .await;
    assert_eq!(refused.status, 401);

    // A read-only key sees pages with no action on them, and its posts fail.
    let mut viewer = signed_in(&addr, "viewer", "viewer-secret").await;
    let page = viewer.get("/ui/queues/orders-dlq").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("read-only"), "{}", page.body);
    for action in [
        "id=\"send\"",
        "id=\"purge\"",
        "id=\"start-redrive\"",
        "type=\"checkbox\"",
    ] {
        assert!(
            !page.body.contains(action),
            "{action} shown to a read-only key"
        );
    }
    let post = viewer
        .submit(
            "/ui/queues/orders-dlq",
            "/ui/queues/orders-dlq/purge",
            &[("confirm", "orders-dlq")],
        )
        .await;
    assert_eq!(post.status, 403, "{}", post.body);
    assert_eq!(b.stats("orders-dlq").await.expect("stats").visible, 1);

    // A key limited to orders* sees only those queues.
    let mut team = signed_in(&addr, "team", "team-secret").await;
    let list = team.get("/ui/api/queues").await.body;
    let v: serde_json::Value = serde_json::from_str(&list).expect("JSON");
    let names: Vec<&str> = v["queues"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|q| q["name"].as_str())
        .collect();
    assert_eq!(names, ["orders", "orders-dlq"]);
    assert_eq!(team.get("/ui/queues/billing").await.status, 403);

    // A script sends Basic credentials and needs no token.
    let mut script = Browser::new(&addr);
    script.authorization = Some(format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "admin:admin-secret"
        )
    ));
    let sent = script
        .send(
            "POST",
            "/ui/api/queues/billing/send",
            &[("body", "from a script")],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains("message_id"));
    // Signing out ends the session.
    let out = team.submit("/ui/", "/ui/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(team.get("/ui/").await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_is_deleted_from_its_row_whatever_its_state() {
    let b = queues().await;
    for body in ["keep", "drop"] {
        b.send("orders", SendMessage::new(body))
            .await
            .expect("send");
    }
    let addr = serve(&b, None).await;
    let mut browser = Browser::new(&addr);
    let page = browser.get("/ui/queues/orders").await.body;
    let listed = b
        .browse("orders", ebbflow_core::BrowseRequest::new(10))
        .await
        .expect("browse");
    let drop = listed
        .messages
        .iter()
        .find(|m| m.body == "drop")
        .expect("sent");
    let position = drop.position.clone().expect("a position");
    assert!(
        page.contains(&format!("data-delete=\"{}\"", drop.message_id)),
        "{page}"
    );
    let form = [
        ("position", position.as_str()),
        ("message_id", drop.message_id.as_str()),
    ];
    let deleted = browser
        .submit("/ui/queues/orders", "/ui/queues/orders/delete", &form)
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    assert!(
        deleted
            .header("location")
            .is_some_and(|l| l.contains("?deleted=")),
        "{:?}",
        deleted.headers
    );
    let left: Vec<String> = b
        .browse("orders", ebbflow_core::BrowseRequest::new(10))
        .await
        .expect("browse")
        .messages
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(left, ["keep"]);
    let again = browser
        .submit("/ui/queues/orders", "/ui/queues/orders/delete", &form)
        .await;
    assert!(
        again
            .header("location")
            .is_some_and(|l| l.contains("?gone=")),
        "{:?}",
        again.headers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_theme_is_kept_in_a_cookie_and_sends_back_only_within_the_dashboard() {
    let b = queues().await;
    let addr = serve(&b, None).await;
    let mut browser = Browser::new(&addr);
    let back = browser
        .get("/ui/theme?set=dark&back=/ui/queues/orders")
        .await;
    assert_eq!(
        (back.status, back.header("location")),
        (303, Some("/ui/queues/orders"))
    );
    assert!(browser
        .get("/ui/")
        .await
        .body
        .contains("<html lang=\"en\" data-theme=\"dark\">"));
    for away in [
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/ui/",
    ] {
        let path = format!(
            "/ui/theme?set=light&back={}",
            form_urlencoded::byte_serialize(away.as_bytes()).collect::<String>()
        );
        let answer = browser.get(&path).await;
        assert_eq!(answer.header("location"), Some("/ui/"), "{away}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_theme_sends_back_only_within_a_dashboard_at_the_root_too() {
    let b = queues().await;
    let backend: Arc<dyn QueueBackend> = b.clone();
    let server = Server::bind(([127, 0, 0, 1], 0).into(), Dashboard::new(backend, ""))
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr").to_string();
    tokio::spawn(server.serve(std::future::pending()));
    let mut browser = Browser::new(&addr);
    // Browsers drop the tab and read `//evil.example`: another site.
    for away in ["/%09/evil.example", "/%0A/evil.example", "/%5Cevil.example"] {
        let answer = browser.get(&format!("/theme?set=dark&back={away}")).await;
        assert_eq!(answer.header("location"), Some("/"), "{away}");
    }
    let home = browser.get("/theme?set=dark&back=/queues/orders").await;
    assert_eq!(home.header("location"), Some("/queues/orders"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrives_refuse_absurd_rates_and_their_own_queue() {
    let b = queues().await;
    dead_letter(&b, "a", "permanent").await;
    let addr = serve(&b, None).await;
    let mut browser = Browser::new(&addr);
    for (rate, to) in [
        ("1e-300", ""),
        ("NaN", ""),
        ("1e300", ""),
        ("", "orders-dlq"),
    ] {
        let answer = browser
            .submit(
                "/ui/queues/orders-dlq",
                "/ui/queues/orders-dlq/redrive",
                &[("rate", rate), ("to", to)],
            )
            .await;
        assert_eq!(answer.status, 400, "rate {rate} to {to}: {}", answer.body);
    }
    assert_eq!(
        b.stats("orders-dlq").await.expect("stats").visible,
        1,
        "nothing moved, nothing hidden"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_form_refuses_the_runtimes_attributes() {
    let b = queues().await;
    let addr = serve(&b, None).await;
    let mut browser = Browser::new(&addr);
    let answer = browser
        .submit(
            "/ui/queues/orders-dlq",
            "/ui/queues/orders-dlq/send",
            &[
                ("body", "x"),
                ("attributes", "ebbflow.source_queue=billing"),
            ],
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("reserved"), "{}", answer.body);
    assert_eq!(b.stats("orders-dlq").await.expect("stats").visible, 0);
}

/// The pause button (issue 35): a read-only key sees the banner but no
/// button and is refused the action; a key that may change the queue pauses
/// it with a reason (kept in the engine with the key's name) and resumes
/// it; the overview marks a paused queue; a key limited to other queues is
/// refused; a reason past its length changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_consumers_takes_a_key_that_may_change_the_queue() {
    let b = queues().await;
    let addr = serve(&b, Some(keys())).await;
    let paused = |b: Arc<MemoryBackend>| async move {
        b.get_queue_attributes("orders")
            .await
            .expect("attributes")
            .paused
    };

    let mut viewer = signed_in(&addr, "viewer", "viewer-secret").await;
    let page = viewer.get("/ui/queues/orders").await.body;
    assert!(!page.contains("id=\"pause\""), "{page}");
    let refused = viewer
        .submit("/ui/queues/orders", "/ui/queues/orders/pause", &[])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(paused(b.clone()).await, None);

    let mut team = signed_in(&addr, "team", "team-secret").await;
    let elsewhere = team
        .submit("/ui/queues/orders", "/ui/queues/billing/pause", &[])
        .await;
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.body);
    let too_long = "x".repeat(ebbflow_core::Pause::MAX_REASON_CHARS + 1);
    let bad = team
        .submit(
            "/ui/queues/orders",
            "/ui/queues/orders/pause",
            &[("reason", too_long.as_str())],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(paused(b.clone()).await, None);

    let page = team.get("/ui/queues/orders").await.body;
    assert!(page.contains("id=\"pause\""), "{page}");
    let done = team
        .submit(
            "/ui/queues/orders",
            "/ui/queues/orders/pause",
            &[("reason", "payments <down>")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let pause = paused(b.clone()).await.expect("paused");
    assert_eq!(
        (pause.reason.as_deref(), pause.by.as_deref()),
        (Some("payments <down>"), Some("team"))
    );
    let page = team.get("/ui/queues/orders").await.body;
    assert!(
        page.contains("Consumers paused by team — payments &lt;down&gt;"),
        "{page}"
    );
    assert!(page.contains("id=\"resume\""), "{page}");
    let overview = viewer.get("/ui/").await.body;
    assert!(overview.contains("tag paused"), "{overview}");
    let viewed = viewer.get("/ui/queues/orders").await.body;
    assert!(viewed.contains("id=\"paused\""), "{viewed}");
    assert!(!viewed.contains("id=\"resume\""), "{viewed}");

    let resumed = team
        .submit("/ui/queues/orders", "/ui/queues/orders/resume", &[])
        .await;
    assert_eq!(resumed.status, 303, "{}", resumed.body);
    assert_eq!(paused(b.clone()).await, None);
}
