//! A request read into what the routes need: its path, query and form
//! fields, cookies and credentials. The body is read only up to a bound.

use hyper::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use hyper::{Method, Request};
use std::collections::HashMap;

/// The largest form the dashboard reads: a test message of 1 MiB, encoded.
const MAX_FORM: usize = 4 << 20;

/// Fields of a query string or a form, in order (a name may repeat).
#[derive(Debug, Default, Clone)]
pub struct Form(Vec<(String, String)>);

impl Form {
    fn parse(text: &[u8]) -> Self {
        Form(
            form_urlencoded::parse(text)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// What the dashboard reads of a request.
pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: Form,
    pub form: Form,
    pub cookies: HashMap<String, String>,
    pub authorization: Option<String>,
}

/// Reads `req`: a form body only from a `POST` of
/// `application/x-www-form-urlencoded`.
pub async fn read<B>(req: Request<B>) -> Result<Incoming, String>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
    };
    let mut cookies = HashMap::new();
    for line in parts.headers.get_all(COOKIE) {
        for pair in line.to_str().unwrap_or_default().split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                cookies.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    let is_form =
        header(CONTENT_TYPE).is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let form = if parts.method == Method::POST && is_form {
        let bytes =
            ebbflow_listener::read_body(body, MAX_FORM, &ebbflow_listener::Limits::default())
                .await
                .map_err(|e| format!("the form could not be read: {e}"))?;
        Form::parse(&bytes)
    } else {
        Form::default()
    };
    Ok(Incoming {
        path: parts.uri.path().to_owned(),
        query: Form::parse(parts.uri.query().unwrap_or_default().as_bytes()),
        authorization: header(AUTHORIZATION).map(str::to_owned),
        method: parts.method,
        form,
        cookies,
    })
}

/// A percent-encoded path segment, decoded.
pub fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}
