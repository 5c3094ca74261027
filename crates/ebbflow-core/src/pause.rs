//! Pausing a queue's consumers: a flag kept with the queue in its engine
//! ([`crate::QueueAttributes::paused`]), set by an operator (`ebbflow pause`,
//! the dashboard) and read by every process consuming the queue at each tick.
//! While it is set they start no receive; what they hold finishes and
//! settles as usual. Producers are not affected.

use crate::QueueError;
use serde::{Deserialize, Serialize};

/// Why and since when a queue's consumers are paused.
///
/// ```
/// use ebbflow_core::Pause;
/// let pause = Pause::new(Some("payments API down".into()), Some("alice".into())).unwrap();
/// assert_eq!(pause.reason.as_deref(), Some("payments API down"));
/// assert!(Pause::new(Some("x".repeat(500)), None).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// When it was paused, in milliseconds since the Unix epoch.
    pub since_ms: u64,
    /// What the operator said, shown beside the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who paused it (a dashboard key's name, a user), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Pause {
    /// The longest reason, in characters: with [`Pause::MAX_BY_CHARS`] it
    /// fits where an engine keeps the flag in a 256-character tag (Amazon SQS).
    pub const MAX_REASON_CHARS: usize = 160;
    /// The longest `by`, in characters.
    pub const MAX_BY_CHARS: usize = 40;

    /// A pause from now, after checking the texts: within their lengths,
    /// no control characters; empty ones are left out.
    pub fn new(reason: Option<String>, by: Option<String>) -> Result<Self, QueueError> {
        let reason = checked("reason", reason, Self::MAX_REASON_CHARS)?;
        let by = checked("by", by, Self::MAX_BY_CHARS)?;
        let since_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Ok(Self {
            since_ms,
            reason,
            by,
        })
    }

    /// The pause as a tag value, where an engine keeps it as a tag (Amazon
    /// SQS): `since/by/reason`, in the characters tag values allow (letters,
    /// digits, spaces and `_ . : / = + - @`); any other character becomes a
    /// space, and a `/` in `by` too. Read back with [`Pause::from_tag`].
    pub fn to_tag(&self) -> String {
        let safe = |text: Option<&str>, slash: bool| -> String {
            text.unwrap_or_default()
                .chars()
                .map(|c| {
                    let allowed =
                        c.is_alphanumeric() || "_.:=+-@ ".contains(c) || (slash && c == '/');
                    if allowed {
                        c
                    } else {
                        ' '
                    }
                })
                .collect()
        };
        format!(
            "{}/{}/{}",
            self.since_ms,
            safe(self.by.as_deref(), false),
            safe(self.reason.as_deref(), true)
        )
    }

    /// Reads a pause written by [`Pause::to_tag`]; `None` for anything else,
    /// which then pauses nothing.
    ///
    /// ```
    /// use ebbflow_core::Pause;
    /// let pause = Pause::new(Some("deploy 2.3 failed: rollback".into()), Some("bob".into())).unwrap();
    /// assert_eq!(Pause::from_tag(&pause.to_tag()), Some(pause));
    /// let odd = Pause::new(Some("down (INC-7), see /runbook".into()), None).unwrap();
    /// let back = Pause::from_tag(&odd.to_tag()).unwrap();
    /// assert_eq!(back.reason.as_deref(), Some("down  INC-7   see /runbook"));
    /// assert_eq!(Pause::from_tag("yes"), None);
    /// ```
    pub fn from_tag(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '/');
        let since_ms = parts.next()?.parse().ok()?;
        let by = checked("by", Some(parts.next()?.to_owned()), Self::MAX_BY_CHARS).ok()?;
        let reason = checked(
            "reason",
            Some(parts.next()?.to_owned()),
            Self::MAX_REASON_CHARS,
        )
        .ok()?;
        Some(Self {
            since_ms,
            reason,
            by,
        })
    }
}

fn checked(what: &str, text: Option<String>, max: usize) -> Result<Option<String>, QueueError> {
    let Some(text) = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max {
        return Err(QueueError::invalid(
            what,
            format!("a pause's {what} is at most {max} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(QueueError::invalid(
            what,
            format!("a pause's {what} cannot hold control characters"),
        ));
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::Pause;

    #[test]
    fn texts_are_trimmed_bounded_and_free_of_control_characters() {
        let p = Pause::new(Some("  deploy  ".into()), Some(String::new())).expect("pause");
        assert_eq!((p.reason.as_deref(), p.by), (Some("deploy"), None));
        assert!(Pause::new(Some("a\u{1b}[31m".into()), None).is_err());
        assert!(Pause::new(None, Some("b".repeat(41))).is_err());
        assert!(Pause::new(Some("é".repeat(160)), None).is_ok());
        assert!(p.since_ms > 1_700_000_000_000);
    }

    #[test]
    fn the_longest_pause_fits_a_tag() {
        let p = Pause::new(Some("r".repeat(160)), Some("b".repeat(40))).expect("pause");
        assert!(p.to_tag().chars().count() <= 256, "{}", p.to_tag().len());
    }
}
