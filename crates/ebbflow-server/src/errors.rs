//! ebbflow's errors as SQS's JSON protocol writes them.

use ebbflow_core::QueueError;

/// One error answer: HTTP status, the `__type` shape, the query-compatible
/// code (the `x-amzn-query-error` header the SDKs read) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// 400 for the sender's faults, 500 for ours.
    pub status: u16,
    /// The shape name in `__type` (`com.amazonaws.sqs#…`).
    pub shape: &'static str,
    /// The code of `x-amzn-query-error: CODE;Sender`.
    pub code: &'static str,
    /// Whose fault: `Sender` or `Receiver`.
    pub fault: &'static str,
    /// What went wrong.
    pub message: String,
}

impl WireError {
    /// A request the server cannot read (not JSON, an unknown action, a missing field).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            shape: "InvalidParameterValue",
            code: "InvalidParameterValue",
            fault: "Sender",
            message: message.into(),
        }
    }

    /// An action SQS does not have, answered as SQS answers it.
    pub fn invalid_action(action: &str) -> Self {
        let mut shown: String = action.chars().take(64).collect();
        if shown.len() < action.len() {
            shown.push('…');
        }
        Self {
            status: 400,
            shape: "InvalidAction",
            code: "InvalidAction",
            fault: "Sender",
            message: format!("The action {shown} is not valid for this endpoint."),
        }
    }

    /// A message-move task (or its source) that is not there.
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            shape: "ResourceNotFoundException",
            code: "ResourceNotFoundException",
            fault: "Sender",
            message: message.into(),
        }
    }

    /// A signed request its key may not make.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self {
            status: 403,
            shape: "AccessDeniedException",
            code: "AccessDenied",
            fault: "Sender",
            message: message.into(),
        }
    }

    /// A request whose signature does not hold.
    pub fn unauthenticated(e: &crate::sigv4::AuthError) -> Self {
        Self {
            status: 403,
            shape: e.code(),
            code: e.code(),
            fault: "Sender",
            message: e.to_string(),
        }
    }

    /// The body of the answer.
    pub fn body(&self) -> String {
        serde_json::json!({
            "__type": format!("com.amazonaws.sqs#{}", self.shape),
            "message": self.message,
        })
        .to_string()
    }
}

impl WireError {
    /// An error of a message a producer sends, as SQS answers it: a body
    /// over the size limit and a bad message attribute are
    /// `InvalidParameterValue` (the queue's attribute errors stay
    /// `InvalidAttributeName`), SQS's text first, ebbflow's detail after.
    pub fn of_message(e: QueueError) -> Self {
        match e {
            QueueError::MessageTooLong { limit, .. } => Self::invalid(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
            )),
            QueueError::InvalidAttributeName { name, reason } => Self::invalid(format!(
                "Message (user) attribute '{name}' is invalid: {reason}"
            )),
            other => other.into(),
        }
    }

    /// `EmptyBatchRequest` in SQS's words, which name the action's entry.
    pub fn empty_batch(entry: &str) -> Self {
        let mut e = Self::from(QueueError::EmptyBatchRequest);
        e.message = format!("There should be at least one {entry} in the request.");
        e
    }
}

impl From<QueueError> for WireError {
    fn from(e: QueueError) -> Self {
        let (shape, code) = match &e {
            QueueError::QueueDoesNotExist(_) => (
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
            ),
            QueueError::QueueAlreadyExists(_) => ("QueueNameExists", "QueueAlreadyExists"),
            QueueError::PurgeQueueInProgress { .. } => (
                "PurgeQueueInProgress",
                "AWS.SimpleQueueService.PurgeQueueInProgress",
            ),
            QueueError::EmptyBatchRequest => (
                "EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
            ),
            QueueError::TooManyEntriesInBatchRequest(_) => (
                "TooManyEntriesInBatchRequest",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            ),
            QueueError::BatchEntryIdsNotDistinct(_) => (
                "BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            ),
            QueueError::InvalidBatchEntryId(_) => (
                "InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
            ),
            QueueError::BatchRequestTooLong { .. } => (
                "BatchRequestTooLong",
                "AWS.SimpleQueueService.BatchRequestTooLong",
            ),
            QueueError::MessageNotInflight => (
                "MessageNotInflight",
                "AWS.SimpleQueueService.MessageNotInflight",
            ),
            QueueError::UnsupportedOperation { .. } => (
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
            ),
            // SQS answers a policy or FIFO setting it cannot take with this code.
            QueueError::InvalidParameterValue { parameter, .. }
                if matches!(
                    parameter.as_str(),
                    "Policy" | "DeduplicationScope" | "FifoThroughputLimit"
                ) =>
            {
                ("InvalidAttributeValue", "InvalidAttributeValue")
            }
            other => (other.code(), other.code()),
        };
        let receiver = matches!(e, QueueError::Backend { .. });
        // SQS's own wording, which clients and their logs match.
        let message = match &e {
            QueueError::QueueDoesNotExist(_) => "The specified queue does not exist.".to_owned(),
            QueueError::ReceiptHandleIsInvalid(_) => {
                "The input receipt handle is invalid.".to_owned()
            }
            // SQS's tag, encryption and missing-parameter texts are the reason alone.
            QueueError::InvalidParameterValue { parameter, reason }
                if matches!(parameter.as_str(), "Tags" | "SqsManagedSseEnabled") =>
            {
                reason.clone()
            }
            QueueError::MissingParameter { parameter, .. } => {
                format!("The request must contain the parameter {parameter}.")
            }
            QueueError::InvalidParameterValue { parameter, .. } if parameter == "QueueName" => {
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
                    .to_owned()
            }
            other => other.to_string(),
        };
        WireError {
            status: if receiver { 500 } else { 400 },
            shape,
            code,
            fault: if receiver { "Receiver" } else { "Sender" },
            message,
        }
    }
}
