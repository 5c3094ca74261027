//! AWS's published SigV4 test suite (`tests/sigv4-vectors/`, see its README):
//! every signed request verifies, in both the header and the presigned form,
//! and any change to it (method, body, a signed header, the key, the clock)
//! is refused with SQS's error.

use ebbflow_server::sigv4::{verify, AuthError, Request};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Parsed {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads a request as the suite writes it: request line, headers (a line
/// starting with a space continues the one before), a blank line, the body.
fn parse(text: &str) -> Parsed {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let first = lines.next().expect("a request line");
    let (method, rest) = first.split_once(' ').expect("a method");
    let target = rest.strip_suffix(" HTTP/1.1").expect("HTTP/1.1");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = headers.last_mut() {
                last.1.push('\n');
                last.1.push_str(line);
            }
            continue;
        }
        let (name, value) = line.split_once(':').expect("a header");
        headers.push((name.to_owned(), value.to_owned()));
    }
    Parsed {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn request(p: &Parsed) -> Request<'_> {
    Request {
        method: &p.method,
        path: &p.path,
        query: &p.query,
        headers: &p.headers,
        body: &p.body,
    }
}

/// A case a verifier cannot pass by design: its session token is appended to
/// the presigned query after signing, which is indistinguishable from a
/// parameter a forger added (AWS verifies the token as signed).
const SIGNER_ONLY: &[&str] = &["post-sts-header-after/query"];

const SIGNED_AT: u64 = 1_440_938_160; // 2015-08-30T12:36:00Z, every case's timestamp

fn cases() -> Vec<(String, Parsed)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4-vectors");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the vectors") {
        let case = entry.expect("an entry").path();
        if !case.is_dir() {
            continue;
        }
        for form in ["header", "query"] {
            let file = case.join(format!("{form}-signed-request.txt"));
            if let Ok(text) = std::fs::read_to_string(&file) {
                let name = format!(
                    "{}/{form}",
                    case.file_name().and_then(|n| n.to_str()).unwrap_or("?")
                );
                if SIGNER_ONLY.contains(&name.as_str()) {
                    println!("skipped {name}: the token is added after signing");
                    continue;
                }
                out.push((name, parse(&text)));
            }
        }
    }
    assert!(out.len() >= 60, "only {} signed requests found", out.len());
    out
}

fn secret(key: &str) -> Option<String> {
    (key == "AKIDEXAMPLE").then(|| "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned())
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn every_signed_request_of_the_suite_verifies() {
    let mut failed = Vec::new();
    for (name, p) in cases() {
        match verify(&request(&p), &secret, at(SIGNED_AT + 60)) {
            Ok(signer) => assert_eq!(
                (signer.region.as_str(), signer.service.as_str()),
                ("us-east-1", "service")
            ),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn a_changed_request_or_key_or_clock_is_refused() {
    for (name, p) in cases() {
        let r = request(&p);
        let now = at(SIGNED_AT);
        let other_method = Request {
            method: "PUT",
            ..r.clone()
        };
        assert_eq!(
            verify(&other_method, &secret, now),
            Err(AuthError::Mismatch),
            "{name}: method"
        );
        let body = [p.body.as_slice(), b"x"].concat();
        let other_body = Request {
            body: &body,
            ..r.clone()
        };
        assert_eq!(
            verify(&other_body, &secret, now),
            Err(AuthError::Mismatch),
            "{name}: body"
        );
        let wrong_secret = |_: &str| Some("not the secret".to_owned());
        assert_eq!(
            verify(&r, &wrong_secret, now),
            Err(AuthError::Mismatch),
            "{name}: secret"
        );
        let nobody = |_: &str| None::<String>;
        assert_eq!(
            verify(&r, &nobody, now),
            Err(AuthError::UnknownKey("AKIDEXAMPLE".to_owned())),
            "{name}: key"
        );
        let late = verify(&r, &secret, at(SIGNED_AT + 2 * 3600));
        assert!(
            matches!(late, Err(AuthError::Expired(_))),
            "{name}: two hours late: {late:?}"
        );
        let mut headers = p.headers.clone();
        if let Some(h) = headers
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        {
            h.1.push_str(".evil");
        }
        let other_host = Request {
            headers: &headers,
            ..r.clone()
        };
        assert_eq!(
            verify(&other_host, &secret, now),
            Err(AuthError::Mismatch),
            "{name}: host"
        );
    }
}

#[test]
fn an_unsigned_request_is_missing_its_token() {
    let headers = vec![("Host".to_owned(), "example.amazonaws.com".to_owned())];
    let r = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: b"{}",
    };
    let e = verify(&r, &secret, at(SIGNED_AT)).unwrap_err();
    assert_eq!(
        (e.clone(), e.code()),
        (AuthError::Missing, "MissingAuthenticationToken")
    );
}
