//! SigV4's header and presigned forms: the input is split into a query, an
//! Authorization header, an X-Amz-Date and a body at `\n`.
#![no_main]
use ebbflow_server::sigv4::{verify, Request};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let query = parts.next().unwrap_or_default();
    let authorization = parts.next().unwrap_or_default();
    let date = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let mut headers = vec![
        ("Host".to_owned(), "h".to_owned()),
        ("X-Amz-Date".to_owned(), date.to_owned()),
    ];
    if !authorization.is_empty() {
        headers.push(("Authorization".to_owned(), authorization.to_owned()));
    }
    let request = Request {
        method: "POST",
        path: "/",
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let secret = |id: &str| (id == "AKID").then(|| "secret".to_owned());
    let _ = verify(&request, &secret, std::time::SystemTime::now());
});
