//! One message as JSON: the lines of `export` and `import`, and `--output json`.

use crate::error::CliError;
use ebbflow::{
    attributes_to_json, BrowsedMessage, JsonAttribute, MessageAttributeValue, MessageAttributes,
    ReceivedMessage, SendMessage, SystemAttributes,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One message: what it takes to send it again, and what the queue knew of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The id it had in the queue it came from.
    pub message_id: String,
    /// The body.
    pub body: String,
    /// The producer's attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, JsonAttribute>,
    /// FIFO message group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// FIFO deduplication id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication_id: Option<String>,
    /// FIFO sequence number in the queue it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
    /// When it was first sent, in ms since the Unix epoch.
    #[serde(default)]
    pub sent_timestamp: u64,
    /// Receives so far.
    #[serde(default)]
    pub receive_count: u32,
    /// `visible`, `in_flight` or `delayed`, when it was looked at without a receive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The receipt handle, when it was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_handle: Option<String>,
    /// The ARN of the queue an engine dead-lettered it from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_source_arn: Option<String>,
    /// SQS's `AWSTraceHeader`, sent again with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_header: Option<String>,
}

impl Record {
    /// What every source of a record shares: the message and what the queue set.
    fn of(
        message_id: &str,
        body: &str,
        attributes: &MessageAttributes,
        system: &SystemAttributes,
    ) -> Self {
        Record {
            message_id: message_id.to_owned(),
            body: body.to_owned(),
            attributes: attributes_to_json(attributes),
            group_id: system.message_group_id.clone(),
            deduplication_id: system.message_deduplication_id.clone(),
            sequence_number: system.sequence_number.clone(),
            sent_timestamp: system.sent_timestamp,
            receive_count: system.approximate_receive_count,
            state: None,
            receipt_handle: None,
            dead_letter_source_arn: system.dead_letter_queue_source_arn.clone(),
            trace_header: system.aws_trace_header.clone(),
        }
    }
}

impl From<&BrowsedMessage> for Record {
    fn from(m: &BrowsedMessage) -> Self {
        Record {
            state: Some(m.state.as_str().to_owned()),
            ..Record::of(&m.message_id, &m.body, &m.attributes, &m.system)
        }
    }
}

impl From<&ReceivedMessage> for Record {
    fn from(m: &ReceivedMessage) -> Self {
        Record {
            receipt_handle: Some(m.receipt_handle.clone()),
            ..Record::of(&m.message_id, &m.body, &m.attributes, &m.system)
        }
    }
}

impl Record {
    /// Reads one line of an export; `line` numbers the error.
    pub fn parse(text: &str, line: usize) -> Result<Self, CliError> {
        serde_json::from_str(text).map_err(|e| CliError::Input(format!("line {line}: {e}")))
    }

    /// The message to send again. On a FIFO queue it keeps its group, and its
    /// deduplication id (or, without one, its old message id), so that sending
    /// the same record twice within five minutes stores it once.
    pub fn to_send(&self, fifo: bool, line: usize) -> Result<SendMessage, CliError> {
        let mut message = SendMessage::new(self.body.clone());
        message.trace_header.clone_from(&self.trace_header);
        for (name, a) in &self.attributes {
            let value = MessageAttributeValue::try_from(a.clone())
                .map_err(|why| CliError::Input(format!("line {line}: attribute {name}: {why}")))?;
            message.attributes.insert(name.clone(), value);
        }
        if fifo {
            message.group_id = Some(
                self.group_id
                    .clone()
                    .unwrap_or_else(|| "default".to_owned()),
            );
            message.deduplication_id = Some(
                self.deduplication_id
                    .clone()
                    .unwrap_or_else(|| self.message_id.clone()),
            );
        }
        Ok(message)
    }

    /// A text attribute's value.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.attributes.get(name)?.string_value.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebbflow::MessageState;

    #[test]
    fn a_record_sends_the_same_body_and_attributes_again() {
        let mut attributes = MessageAttributes::new();
        attributes.insert("tenant".into(), MessageAttributeValue::string("acme"));
        attributes.insert(
            "blob".into(),
            MessageAttributeValue::binary(vec![0, 255, 7]),
        );
        let m = BrowsedMessage {
            message_id: "m1".into(),
            body: "{\"id\":1}".into(),
            md5_of_body: String::new(),
            attributes: attributes.clone(),
            system: SystemAttributes {
                message_group_id: Some("g".into()),
                aws_trace_header: Some("Root=1-5759e988-bd862e3fe1be46a994272793".into()),
                ..SystemAttributes::default()
            },
            state: MessageState::Visible,
            position: None,
        };
        let line = serde_json::to_string(&Record::from(&m)).unwrap();
        let back = Record::parse(&line, 1).unwrap().to_send(true, 1).unwrap();
        assert_eq!(back.body, m.body);
        assert_eq!(back.attributes, attributes);
        assert_eq!(back.trace_header, m.system.aws_trace_header);
        assert_eq!(back.group_id.as_deref(), Some("g"));
        assert_eq!(back.deduplication_id.as_deref(), Some("m1"));
        let standard = Record::parse(&line, 1).unwrap().to_send(false, 1).unwrap();
        assert_eq!((standard.group_id, standard.deduplication_id), (None, None));
    }

    #[test]
    fn a_broken_line_is_named() {
        let e = Record::parse("{not json", 7).unwrap_err();
        assert!(e.to_string().starts_with("line 7:"), "{e}");
    }
}
