//! Fuzzing the dashboard's reading of a stranger's request, inside `cargo
//! test`: paths, query strings, forms and cookies, arbitrary and shaped like
//! the dashboard's own, through its whole handler, open and with keys. None
//! may panic, and no answer may redirect off the site.

use ebbflow_core::access::Key;
use ebbflow_core::{QueueAttributes, QueueBackend};
use ebbflow_dashboard::Dashboard;
use ebbflow_memory::MemoryBackend;
use http_body_util::Full;
use hyper::body::Bytes;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("%".to_owned()),
            Just("%09".to_owned()),
            Just("%2F".to_owned()),
            Just("/".to_owned()),
            Just("\\".to_owned()),
            Just("=".to_owned()),
            Just("&".to_owned()),
            Just(";".to_owned()),
            Just("é".to_owned()),
            Just("orders".to_owned()),
            Just("queues".to_owned()),
            Just("theme".to_owned()),
            Just("back".to_owned()),
            Just("csrf".to_owned()),
            Just("ebbflow_session".to_owned()),
            Just("ebbflow_visitor".to_owned()),
            "[A-Za-z0-9.]{1,8}",
            any::<char>().prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|p| p.concat())
}

fn route() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("queues".to_owned()),
        Just("orders".to_owned()),
        Just("api".to_owned()),
        Just("theme".to_owned()),
        Just("login".to_owned()),
        Just("send".to_owned()),
        Just("receive".to_owned()),
        Just("redrive".to_owned()),
        Just("redrives".to_owned()),
        Just("search".to_owned()),
        Just("messages".to_owned()),
        text(),
    ];
    proptest::collection::vec(segment, 0..5).prop_map(|s| format!("/ui/{}", s.join("/")))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn dashboards() -> Vec<Dashboard> {
    let backend = Arc::new(MemoryBackend::new());
    backend
        .create_queue("orders", QueueAttributes::standard())
        .await
        .expect("queue");
    let b: Arc<dyn QueueBackend> = backend;
    let keys: HashMap<String, Key> = [("AKID".to_owned(), Key::full("secret"))].into();
    vec![
        Dashboard::new(b.clone(), "/ui"),
        Dashboard::new(b.clone(), "/ui").with_keys(Some(keys)),
        Dashboard::new(b, ""),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_request_is_answered_and_stays_on_the_site(
        post in any::<bool>(),
        path in prop_oneof![route(), Just("/ui/theme".to_owned()), Just("/theme".to_owned())],
        query in prop_oneof![
            text(),
            text().prop_map(|t| format!("set=dark&back=/ui/{t}")),
            text().prop_map(|t| format!("back=/{t}")),
        ],
        cookie in text(),
        authorization in text(),
        form in text(),
    ) {
        let rt = runtime();
        rt.block_on(async {
            for dashboard in dashboards().await {
                let uri = format!("{path}?{query}");
                let mut builder = hyper::Request::builder()
                    .method(if post { "POST" } else { "GET" })
                    .uri(uri.as_str())
                    .header("cookie", cookie.as_str())
                    .header("authorization", authorization.as_str());
                if post {
                    builder = builder.header("content-type", "application/x-www-form-urlencoded");
                }
                // What hyper would refuse before the dashboard sees it is not a case.
                let Ok(req) = builder.body(Full::new(Bytes::from(form.clone()))) else {
                    continue;
                };
                let response = dashboard.handle(req).await;
                if let Some(location) = response.headers().get("location") {
                    let location = location.to_str().unwrap_or("?");
                    prop_assert!(
                        location.starts_with('/')
                            && !location.starts_with("//")
                            && !location.contains('\\')
                            && location.bytes().all(|b| b.is_ascii_graphic()),
                        "redirected to {location:?}"
                    );
                }
            }
            Ok(())
        })?;
    }
}
