//! Why a message was dead-lettered and where from, as the runtime recorded it.

use ebbflow_core::{queue_name_from_arn, ReceivedMessage};

/// The attributes the runtime adds when it dead-letters a message; a
/// redriven message goes back without them, as it was first sent.
pub const DEAD_LETTER_ATTRIBUTES: [&str; 7] = [
    "ebbflow.reason",
    "ebbflow.error",
    "ebbflow.source_queue",
    "ebbflow.attempts",
    "ebbflow.receive_count",
    "ebbflow.failed_at",
    "ebbflow.dead_letter",
];

/// Why a message is in a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// `permanent`, `max_receives`, …; `-` when nothing says.
    pub reason: String,
    /// The handler's error, when the runtime recorded one.
    pub error: String,
    /// The queue it came from, when known.
    pub source: Option<String>,
}

impl DeadLetter {
    /// Reads the attributes the runtime's dead-letter layer sets (or its
    /// one-attribute summary, `ebbflow.dead_letter`, when the message had no
    /// room for more); the source is the engine's source ARN when it has one. `text` looks up a
    /// string attribute by name.
    ///
    /// ```
    /// use ebbflow_redrive::DeadLetter;
    /// let why = DeadLetter::read(|_| None, Some("arn:aws:sqs:us-east-1:000000000000:orders"));
    /// assert_eq!((why.reason.as_str(), why.source.as_deref()), ("max_receives", Some("orders")));
    /// ```
    pub fn read<'a>(text: impl Fn(&str) -> Option<&'a str>, source_arn: Option<&str>) -> Self {
        let summary: Option<serde_json::Value> =
            text("ebbflow.dead_letter").and_then(|s| serde_json::from_str(s).ok());
        let field = |name: &str| {
            text(&format!("ebbflow.{name}"))
                .map(str::to_owned)
                .or_else(|| summary.as_ref()?.get(name)?.as_str().map(str::to_owned))
        };
        let engine_source = source_arn.map(|arn| queue_name_from_arn(arn).to_owned());
        DeadLetter {
            reason: field("reason").unwrap_or_else(|| {
                if engine_source.is_some() {
                    "max_receives"
                } else {
                    "-"
                }
                .to_owned()
            }),
            error: field("error").unwrap_or_default(),
            // What the engine recorded first: an attribute is the runtime's
            // word only where producers cannot write `ebbflow.` names.
            source: engine_source.or_else(|| field("source_queue")),
        }
    }

    /// [`DeadLetter::read`] of a received message.
    pub fn of_message(m: &ReceivedMessage) -> Self {
        Self::read(
            |name| m.attributes.get(name).and_then(|v| v.as_str()),
            m.system.dead_letter_queue_source_arn.as_deref(),
        )
    }
}
