//! The dashboard through HTTP, over the memory engine: the overview and
//! its API show each queue's counts and dead-letter relations, a queue's
//! page shows its settings and messages without receiving them, values are
//! escaped, and what is not there is a 404.

use ebbflow_core::{
    MessageAttributeValue, QueueAttributes, QueueBackend, ReceiveRequest, RedrivePolicy,
    SendMessage,
};
use ebbflow_dashboard::{Dashboard, Server};
use ebbflow_memory::MemoryBackend;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `orders` (3 waiting, 1 in flight, 1 delayed) dead-letters into `orders-dlq`.
async fn dashboard() -> (String, Arc<MemoryBackend>) {
    let b = Arc::new(MemoryBackend::new());
    b.create_queue("orders-dlq", QueueAttributes::standard())
        .await
        .expect("dlq");
    let attrs = QueueAttributes::standard()
        .with_redrive_policy(RedrivePolicy::new("orders-dlq", 5))
        .with_tag("team", "checkout");
    b.create_queue("orders", attrs).await.expect("orders");
    for i in 0..4 {
        let m = SendMessage::new(format!("{{\"order\": {i}}}"))
            .attribute("tenant", MessageAttributeValue::string("acme"));
        b.send("orders", m).await.expect("send");
    }
    b.send(
        "orders",
        SendMessage::new("<script>alert(1)</script>").delay(Duration::from_secs(60)),
    )
    .await
    .expect("send");
    let got = b
        .receive("orders", ReceiveRequest::new(1))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
    let backend: Arc<dyn QueueBackend> = b.clone();
    let server = Server::bind(([127, 0, 0, 1], 0).into(), Dashboard::new(backend, "/ui"))
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.serve(std::future::pending()));
    (addr.to_string(), b)
}

/// One GET: the status code and the body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.expect("read");
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_every_queue_with_its_counts_and_dead_letters() {
    let (addr, _b) = dashboard().await;
    let (status, body) = get(&addr, "/ui/api/queues").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let queues = v["queues"].as_array().expect("a list");
    assert_eq!(queues.len(), 2);
    let orders = &queues[0];
    assert_eq!(orders["name"], "orders");
    assert_eq!(
        (&orders["visible"], &orders["in_flight"], &orders["delayed"]),
        (
            &serde_json::json!(3),
            &serde_json::json!(1),
            &serde_json::json!(1)
        )
    );
    assert_eq!(orders["dead_letter_queue"], "orders-dlq");
    assert_eq!(
        queues[1]["dead_letter_sources"],
        serde_json::json!(["orders"])
    );

    let (_, sorted) = get(&addr, "/ui/api/queues?sort=visible").await;
    let v: serde_json::Value = serde_json::from_str(&sorted).expect("JSON");
    assert_eq!(v["queues"][0]["name"], "orders", "the most visible first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_page_shows_the_counts_and_the_dead_letter_queue() {
    let (addr, _b) = dashboard().await;
    let (status, page) = get(&addr, "/ui/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<a href=\"/ui/queues/orders\">orders</a>"),
        "{page}"
    );
    assert!(
        page.contains("<td class=\"n\">3</td><td class=\"n\">1</td><td class=\"n\">1</td>"),
        "{page}"
    );
    assert!(
        page.contains("<span class=\"tag\">DLQ</span> of <a href=\"/ui/queues/orders\">orders</a>"),
        "{page}"
    );
    assert!(
        page.contains("prefers-color-scheme: dark"),
        "dark mode follows the system"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_page_shows_messages_without_receiving_them_and_escapes_them() {
    let (addr, b) = dashboard().await;
    let before = b.stats("orders").await.expect("stats");
    let (status, page) = get(&addr, "/ui/queues/orders").await;
    assert_eq!(status, 200);
    assert!(page.contains("&quot;order&quot;: 1"), "{page}");
    assert!(page.contains("tenant=acme"));
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "a body is never markup");
    assert!(page.contains("checkout"), "the tags are shown");
    assert!(page.contains("to orders-dlq after 5 receives"));
    let after = b.stats("orders").await.expect("stats");
    assert_eq!(
        (before.visible, before.in_flight),
        (after.visible, after.in_flight),
        "looking hid nothing"
    );
    let (_, api) = get(&addr, "/ui/api/queues/orders/messages").await;
    let v: serde_json::Value = serde_json::from_str(&api).expect("JSON");
    let messages = v["messages"].as_array().expect("a list");
    assert_eq!(messages.len(), 5);
    let counts: Vec<u64> = messages
        .iter()
        .map(|m| m["receive_count"].as_u64().unwrap_or(99))
        .collect();
    assert_eq!(counts, [1, 0, 0, 0, 0], "only the one real receive counts");
    assert_eq!(messages[0]["state"], "in_flight");
    assert_eq!(messages[0]["system"]["ApproximateReceiveCount"], "1");
    assert!(messages[0]["system"]["ApproximateFirstReceiveTimestamp"].is_string());
    assert!(messages[1]["system"]["ApproximateFirstReceiveTimestamp"].is_null());
    assert!(
        page.contains("<span class=\"muted\">SentTimestamp</span>"),
        "{page}"
    );
    assert_eq!(messages[4]["state"], "delayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_there_is_a_404_and_a_form_without_its_token_is_refused() {
    let (addr, _b) = dashboard().await;
    assert_eq!(get(&addr, "/ui/queues/nowhere").await.0, 404);
    let (status, body) = get(&addr, "/ui/api/queues/nowhere").await;
    assert_eq!(status, 404);
    assert!(body.contains("No queue is called nowhere"), "{body}");
    assert_eq!(
        get(&addr, "/elsewhere").await.0,
        404,
        "outside the base path"
    );
    assert_eq!(get(&addr, "/ui/queues/orders/purge").await.0, 404);
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let request = format!("POST /ui/queues/orders/purge HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 14\r\nConnection: close\r\n\r\nconfirm=orders");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.expect("read");
    assert!(
        answer.starts_with("HTTP/1.1 403"),
        "a form without its token is refused: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_shows_its_worker_processes_and_looking_registers_nothing() {
    let (addr, b) = dashboard().await;
    let report = |id: &str, pool: u32| ebbflow_core::ConsumerReport {
        id: id.to_owned(),
        pool,
        busy: 1,
        desired: pool,
        max: 100,
        ..Default::default()
    };
    let minute = Duration::from_secs(60);
    b.announce("orders", &report("host-a/1", 4), minute)
        .await
        .expect("announce");
    b.announce("orders", &report("host-b/2", 6), minute)
        .await
        .expect("announce");
    let (status, api) = get(&addr, "/ui/api/queues/orders/workers").await;
    assert_eq!(status, 200, "{api}");
    let v: serde_json::Value = serde_json::from_str(&api).expect("JSON");
    let ids: Vec<&str> = v["workers"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert_eq!(ids, ["host-a/1", "host-b/2"]);
    let (_, page) = get(&addr, "/ui/queues/orders").await;
    assert!(
        page.contains("<code>host-b/2</code></td><td class=\"n\">6</td>"),
        "{page}"
    );
    let after = b
        .announce("orders", &report("host-c/3", 1), minute)
        .await
        .expect("announce");
    assert_eq!(
        after.len(),
        3,
        "the dashboard left no registration: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_queue_groups_its_messages_by_why() {
    let (addr, b) = dashboard().await;
    let dead = |reason: &str, error: &str| {
        SendMessage::new("x")
            .attribute("ebbflow.reason", MessageAttributeValue::string(reason))
            .attribute("ebbflow.error", MessageAttributeValue::string(error))
            .attribute(
                "ebbflow.source_queue",
                MessageAttributeValue::string("orders"),
            )
    };
    for m in [
        dead("permanent", "card <declined>"),
        dead("undecodable", "expected value"),
        dead("permanent", "card <declined>"),
    ] {
        b.send("orders-dlq", m).await.expect("send");
    }
    let (status, api) = get(&addr, "/ui/api/queues/orders-dlq/dead-letters").await;
    assert_eq!(status, 200, "{api}");
    let v: serde_json::Value = serde_json::from_str(&api).expect("JSON");
    let groups = v["groups"].as_array().expect("a list");
    assert_eq!(groups.len(), 2);
    assert_eq!(
        (
            &groups[0]["reason"],
            &groups[0]["count"],
            &groups[0]["source"]
        ),
        (
            &serde_json::json!("permanent"),
            &serde_json::json!(2),
            &serde_json::json!("orders")
        )
    );
    assert_eq!(v["more"], false);
    let (_, page) = get(&addr, "/ui/queues/orders-dlq").await;
    assert!(page.contains("Dead letters by reason"), "{page}");
    assert!(page.contains("card &lt;declined&gt;"), "{page}");
    assert_eq!(
        b.stats("orders-dlq").await.expect("stats").visible,
        3,
        "grouping received nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_of_every_process_is_merged_by_minute_and_charted() {
    use ebbflow_core::history::{history_queue, Rollup, ScalingNote};
    let (addr, b) = dashboard().await;
    let (_, page) = get(&addr, "/ui/queues/orders").await;
    assert!(page.contains("No history is kept for this queue"), "{page}");

    let history = history_queue("orders").expect("name");
    b.create_queue(&history, QueueAttributes::standard())
        .await
        .expect("history queue");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let minute = now - now % 60_000;
    let rollup = |consumer: &str, at: u64, succeeded: u64, pool: u32| Rollup {
        minute_ms: at,
        consumer: consumer.to_owned(),
        succeeded,
        dead_lettered: 1,
        latency_bounds: vec![0.1, 1.0],
        latency_counts: vec![succeeded, 1, 0],
        pool,
        desired: pool,
        visible: 40,
        ..Default::default()
    };
    let mut grew = rollup("a", minute - 60_000, 100, 4);
    grew.decisions.push(ScalingNote {
        at_ms: minute - 30_000,
        from: 4,
        to: 9,
        reason: "backlog <growing>".to_owned(),
        backlog: 40,
    });
    let old = rollup("a", minute - 3 * 3_600_000, 999, 1);
    for r in [
        old,
        grew,
        rollup("a", minute, 30, 3),
        rollup("a", minute, 20, 5),
        rollup("b", minute, 70, 4),
    ] {
        let body = serde_json::to_string(&r).expect("JSON");
        b.send(&history, SendMessage::new(body))
            .await
            .expect("send");
    }
    b.send(&history, SendMessage::new("not a rollup"))
        .await
        .expect("send");

    let (status, api) = get(&addr, "/ui/api/queues/orders/history?window=1h").await;
    assert_eq!(status, 200, "{api}");
    let v: serde_json::Value = serde_json::from_str(&api).expect("JSON");
    let minutes = v["minutes"].as_array().expect("a list");
    assert_eq!(minutes.len(), 2, "the old minute is outside the hour: {v}");
    assert_eq!(minutes[1]["succeeded"], 120, "two processes, one minute");
    assert_eq!(
        minutes[1]["pool"], 9,
        "a's later pool (5), not its two summed, and b's 4"
    );
    let (_, wider) = get(&addr, "/ui/api/queues/orders/history?window=6h").await;
    let v: serde_json::Value = serde_json::from_str(&wider).expect("JSON");
    assert_eq!(v["minutes"].as_array().map(Vec::len), Some(3));

    let (_, page) = get(&addr, "/ui/queues/orders?window=1h").await;
    for chart in ["throughput", "depth", "latency", "workers"] {
        assert!(
            page.contains(&format!("<figure class=\"chart\" id=\"{chart}\">")),
            "{chart}: {page}"
        );
    }
    assert!(page.contains("<polyline class=\"s0\""), "{page}");
    assert!(page.contains("backlog &lt;growing&gt;"), "{page}");
    assert!(
        !get(&addr, "/ui/api/queues")
            .await
            .1
            .contains("ebbflow_history__"),
        "history queues are not listed"
    );
    let (status, fragment) = get(&addr, "/ui/queues/orders/charts?window=1h").await;
    assert_eq!(status, 200);
    assert!(fragment.starts_with("<div id=\"charts\""), "{fragment}");
}

/// Makes a backend refuse to browse, as Amazon SQS does.
struct NoBrowse;

impl ebbflow_core::BackendHook for NoBrowse {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: ebbflow_core::Operation,
        call: ebbflow_core::BackendCall<'a, T>,
    ) -> ebbflow_core::BackendCall<'a, T> {
        if op == ebbflow_core::Operation::Browse {
            return Box::pin(async {
                Err(ebbflow_core::QueueError::UnsupportedOperation {
                    backend: "sqs",
                    operation: "browse",
                })
            });
        }
        call
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_browse_verb_messages_are_shown_only_when_asked_by_a_receive() {
    let b = Arc::new(MemoryBackend::new());
    b.create_queue("jobs", QueueAttributes::standard())
        .await
        .expect("queue");
    b.send("jobs", SendMessage::new("hello"))
        .await
        .expect("send");
    let inner: Arc<dyn QueueBackend> = b.clone();
    let sqs_like: Arc<dyn QueueBackend> = Arc::new(ebbflow_core::Hooked::new(inner, NoBrowse));
    let server = Server::bind(([127, 0, 0, 1], 0).into(), Dashboard::new(sqs_like, "/ui"))
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr").to_string();
    tokio::spawn(server.serve(std::future::pending()));

    let (status, page) = get(&addr, "/ui/queues/jobs").await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"no-browse\""), "{page}");
    assert!(!page.contains("hello"), "nothing received unasked");
    assert_eq!(b.stats("jobs").await.expect("stats").visible, 1);

    // A link (or an `<img>` on another site) receives nothing: GET changes nothing.
    let (_, page) = get(&addr, "/ui/queues/jobs?receive=1").await;
    assert!(!page.contains("hello"), "a GET received: {page}");
    let counts: Vec<u32> = b
        .browse("jobs", ebbflow_core::BrowseRequest::new(10))
        .await
        .expect("browse")
        .messages
        .iter()
        .map(|m| m.system.approximate_receive_count)
        .collect();
    assert_eq!(counts, [0], "no receive counted");
    // A post without the page's token is refused, and receives nothing.
    let (status, _) = post(&addr, "/ui/queues/jobs/receive", None, "").await;
    assert_eq!(status, 403);
    let (cookie, token) = visitor_and_token(&addr, "/ui/queues/jobs").await;
    let (_, page) = post(
        &addr,
        "/ui/queues/jobs/receive",
        Some(&cookie),
        &format!("csrf={token}"),
    )
    .await;
    assert!(
        page.contains("id=\"received\""),
        "labelled as a receive: {page}"
    );
    assert!(page.contains("hello"), "{page}");
    let stats = b.stats("jobs").await.expect("stats");
    assert_eq!(
        (stats.visible, stats.in_flight),
        (1, 0),
        "visibility 0: still visible"
    );
}

/// One raw request: the status code, the `Set-Cookie` pairs and the body.
async fn exchange(addr: &str, request: String) -> (u16, Vec<String>, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.expect("read");
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let cookies = head
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect();
    (status, cookies, body.to_owned())
}

/// The visitor cookie an open dashboard gives, and the CSRF token of `page`.
async fn visitor_and_token(addr: &str, page: &str) -> (String, String) {
    let request = format!("GET {page} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (_, cookies, _) = exchange(addr, request).await;
    let cookie = cookies.join("; ");
    let request = format!(
        "GET {page} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    );
    let (_, _, body) = exchange(addr, request).await;
    let token = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    (cookie, token)
}

/// One form POST, with a cookie when given.
async fn post(addr: &str, path: &str, cookie: Option<&str>, form: &str) -> (u16, String) {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    let (status, _, body) = exchange(addr, request).await;
    (status, body)
}
