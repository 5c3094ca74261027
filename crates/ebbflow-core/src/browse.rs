//! Looking at a queue's messages without receiving them.
//!
//! A receive changes what it returns: it hides the messages, makes new receipt
//! handles and raises their receive counts. Operators (`ebbflow peek`,
//! `ebbflow export`, the dashboard) need to look without any of that, so the
//! engines that own their storage page through it with
//! [`QueueBackend::browse`](crate::QueueBackend::browse). Amazon SQS has no
//! such verb; there the backend says `UnsupportedOperation`.

use crate::{MessageAttributes, QueueError, Result, SystemAttributes};
use serde::{Deserialize, Serialize};

/// The most messages one browse call returns.
pub const MAX_BROWSE_LIMIT: u32 = 1000;

/// One page of a browse: up to `limit` messages after the cursor `after`.
///
/// ```
/// use ebbflow_core::BrowseRequest;
/// let first = BrowseRequest::new(100);
/// assert_eq!(first.after, None);
/// let next = first.after("42");
/// assert_eq!(next.after.as_deref(), Some("42"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowseRequest {
    /// How many messages at most (1 to [`MAX_BROWSE_LIMIT`]).
    pub limit: u32,
    /// The cursor a previous page returned as [`BrowsePage::next`]; `None` starts at the head.
    pub after: Option<String>,
}

impl BrowseRequest {
    /// The first page, of up to `limit` messages.
    pub fn new(limit: u32) -> Self {
        Self { limit, after: None }
    }

    /// The page after the one that returned this cursor.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    /// Checks the limit; `InvalidParameterValue` naming `limit` when out of range.
    pub fn validate(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_BROWSE_LIMIT {
            return Err(QueueError::invalid(
                "limit",
                format!("must be 1 to {MAX_BROWSE_LIMIT}, got {}", self.limit),
            ));
        }
        Ok(())
    }

    /// For an engine that pages by an increasing integer key: the key a
    /// [`BrowsedMessage::position`] names.
    pub fn position_key(position: &str) -> Result<u64> {
        position.parse::<u64>().map_err(|_| {
            QueueError::invalid(
                "position",
                format!("`{position}` is not a position this backend returned"),
            )
        })
    }

    /// For an engine that pages by an increasing integer key (its cursor is
    /// the key of the last message returned): the first key this page may hold.
    pub fn first_key(&self) -> Result<u64> {
        match &self.after {
            None => Ok(0),
            Some(text) => text
                .parse::<u64>()
                .map(|k| k.saturating_add(1))
                .map_err(|_| {
                    QueueError::invalid(
                        "after",
                        format!("`{text}` is not a cursor this backend returned"),
                    )
                }),
        }
    }
}

/// Where a browsed message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// A receive may return it now.
    Visible,
    /// Received, and its visibility timeout has not ended.
    InFlight,
    /// Sent with a delay that has not passed.
    Delayed,
}

impl MessageState {
    /// `visible`, `in_flight` or `delayed`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Visible => "visible",
            MessageState::InFlight => "in_flight",
            MessageState::Delayed => "delayed",
        }
    }
}

/// A message as a browse shows it: everything a receive would return except a
/// receipt handle, since nothing was received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowsedMessage {
    /// The message id.
    pub message_id: String,
    /// The body as sent.
    pub body: String,
    /// Lower-case hex MD5 of the body.
    pub md5_of_body: String,
    /// The attributes the producer set.
    pub attributes: MessageAttributes,
    /// The attributes the queue set; the receive count is the one so far.
    pub system: SystemAttributes,
    /// Visible, in flight or delayed.
    pub state: MessageState,
    /// Where the engine keeps it, for
    /// [`QueueBackend::delete_browsed`](crate::QueueBackend::delete_browsed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

impl BrowsedMessage {
    /// What a browse shows of a message an engine read as if received: all of
    /// it but the receipt handle.
    pub fn from_received(message: crate::ReceivedMessage, state: MessageState) -> Self {
        Self {
            message_id: message.message_id,
            body: message.body,
            md5_of_body: message.md5_of_body,
            attributes: message.attributes,
            system: message.system,
            state,
            position: None,
        }
    }
}

/// One page of a browse.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BrowsePage {
    /// The messages, in queue order (the order they arrived in this queue).
    pub messages: Vec<BrowsedMessage>,
    /// The cursor of the next page; `None` when this page reached the end.
    /// A page may hold fewer than `limit` messages (even none) and still have
    /// a next one, when the engine bounds the work of one call.
    pub next: Option<String>,
}

impl BrowsePage {
    /// A page of a key-ordered engine: `rows` are `(key, message)` in key
    /// order, at most `limit + 1` of them; the extra one only tells that more follow.
    pub fn from_keyed(mut rows: Vec<(u64, BrowsedMessage)>, limit: u32) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(|(key, _)| key.to_string())
        } else {
            None
        };
        BrowsePage {
            messages: rows
                .into_iter()
                .map(|(key, mut m)| {
                    m.position = Some(key.to_string());
                    m
                })
                .collect(),
            next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str) -> BrowsedMessage {
        BrowsedMessage {
            message_id: id.to_owned(),
            body: "b".to_owned(),
            md5_of_body: String::new(),
            attributes: MessageAttributes::new(),
            system: SystemAttributes::default(),
            state: MessageState::Visible,
            position: None,
        }
    }

    #[test]
    fn a_limit_out_of_range_names_the_parameter() {
        for limit in [0, MAX_BROWSE_LIMIT + 1] {
            let e = BrowseRequest::new(limit).validate().unwrap_err();
            assert!(e.to_string().contains("limit"), "{e}");
        }
        BrowseRequest::new(MAX_BROWSE_LIMIT).validate().unwrap();
    }

    #[test]
    fn a_foreign_cursor_is_rejected_not_read_as_the_head() {
        assert_eq!(BrowseRequest::new(1).first_key().unwrap(), 0);
        assert_eq!(BrowseRequest::new(1).after("17").first_key().unwrap(), 18);
        let e = BrowseRequest::new(1).after("x17").first_key().unwrap_err();
        assert!(e.to_string().contains("after"), "{e}");
    }

    #[test]
    fn a_keyed_page_has_a_next_cursor_only_when_more_follow() {
        let rows = |n: u64| (1..=n).map(|k| (k * 10, msg(&k.to_string()))).collect();
        let full = BrowsePage::from_keyed(rows(3), 2);
        assert_eq!(full.messages.len(), 2);
        assert_eq!(full.next.as_deref(), Some("20"));
        let last = BrowsePage::from_keyed(rows(2), 2);
        assert_eq!(last.messages.len(), 2);
        assert_eq!(last.next, None);
    }
}
