//! Finding messages: by id, by text in the body, or by an attribute's value,
//! read with the browse verb (nothing is received), page by page up to a
//! bound, so a search of a huge queue answers in bounded time and says how
//! far it looked.

use crate::data::{message_row, MessageRow};
use ebbflow_core::{BrowseRequest, QueueBackend, QueueError, MAX_BROWSE_LIMIT};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a search looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// The message with this id.
    Id(String),
    /// Messages whose body contains this text (case-insensitive).
    Body(String),
    /// Messages whose attribute `0` equals `1`.
    Attribute(String, String),
}

impl Query {
    /// Reads the search box: `id:ID`, `NAME=VALUE` for an attribute,
    /// anything else is body text (an exact id matches too).
    ///
    /// ```
    /// use ebbflow_dashboard::search::Query;
    /// assert_eq!(Query::parse("tenant=acme"), Some(Query::Attribute("tenant".into(), "acme".into())));
    /// assert_eq!(Query::parse("id:42"), Some(Query::Id("42".into())));
    /// assert_eq!(Query::parse("  "), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        if let Some(id) = text.strip_prefix("id:") {
            return Some(Query::Id(id.trim().to_owned()));
        }
        match text.split_once('=') {
            Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                Some(Query::Attribute(name.to_owned(), value.to_owned()))
            }
            _ => Some(Query::Body(text.to_owned())),
        }
    }

    fn matches(&self, m: &MessageRow) -> bool {
        match self {
            Query::Id(id) => &m.message_id == id,
            Query::Body(text) => m.message_id == *text || contains_ignoring_case(&m.body, text),
            Query::Attribute(name, value) => m.attributes.get(name) == Some(value),
        }
    }
}

fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// What a search found, and how far it looked.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// Matching messages, in queue order (all of the last page read, so
    /// possibly a few more than asked for).
    pub messages: Vec<MessageRow>,
    /// Messages looked at.
    pub scanned: u64,
    /// Whether it stopped before the end of the queue (enough found, the
    /// scan bound, or the time bound); `next` continues from there.
    pub complete: bool,
    /// The cursor to continue the search from.
    pub next: Option<String>,
}

/// The most messages one search looks at.
pub const SCAN_LIMIT: u64 = 200_000;
/// The longest one search runs.
pub const TIME_LIMIT: Duration = Duration::from_secs(2);

/// Searches `queue` from `after` (the head when `None`) for up to `limit`
/// matches. `Ok(None)` where the engine cannot browse (Amazon SQS).
pub async fn search(
    backend: &Arc<dyn QueueBackend>,
    queue: &str,
    query: &Query,
    after: Option<&str>,
    limit: usize,
) -> Result<Option<Found>, QueueError> {
    let started = Instant::now();
    let mut request = BrowseRequest::new(MAX_BROWSE_LIMIT);
    if let Some(cursor) = after {
        request = request.after(cursor.to_owned());
    }
    let mut found = Found {
        messages: Vec::new(),
        scanned: 0,
        complete: false,
        next: None,
    };
    loop {
        let page = match backend.browse(queue, request.clone()).await {
            Ok(p) => p,
            Err(QueueError::UnsupportedOperation { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        for m in page.messages {
            found.scanned += 1;
            let row = message_row(m);
            if query.matches(&row) {
                found.messages.push(row);
            }
        }
        match page.next {
            None => {
                found.complete = true;
                return Ok(Some(found));
            }
            Some(cursor) => {
                let enough = found.messages.len() >= limit
                    || found.scanned >= SCAN_LIMIT
                    || started.elapsed() >= TIME_LIMIT;
                if enough {
                    found.next = Some(cursor);
                    return Ok(Some(found));
                }
                request = request.after(cursor);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_text_is_found_whatever_its_case() {
        assert!(contains_ignoring_case("{\"Order\": 42}", "order"));
        assert!(contains_ignoring_case("Grüße aus Köln", "KÖLN"));
        assert!(!contains_ignoring_case("abc", "abd"));
        assert_eq!(
            Query::parse("a text with = in it"),
            Some(Query::Body("a text with = in it".into()))
        );
    }
}
