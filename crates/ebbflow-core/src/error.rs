//! Errors named after Amazon SQS's own error codes.

use std::time::Duration;

/// Shorthand for results whose error is a [`QueueError`].
pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// Everything a [`QueueBackend`](crate::QueueBackend) call can fail with.
///
/// Variants mirror SQS's error codes so that a caller (or `ebbflow serve`)
/// can map them one to one; [`QueueError::code`] gives the SQS spelling.
/// Client mistakes are distinguished from backend trouble by
/// [`QueueError::is_retryable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The named queue does not exist.
    #[error("queue `{0}` does not exist")]
    QueueDoesNotExist(String),
    /// A queue of that name exists with different attributes.
    #[error("queue `{0}` already exists with different attributes")]
    QueueAlreadyExists(String),
    /// A parameter is outside what SQS accepts.
    #[error("invalid value for {parameter}: {reason}")]
    InvalidParameterValue {
        /// The parameter, spelled as in the SQS API (`VisibilityTimeout`, `DelaySeconds`, …).
        parameter: String,
        /// What was expected.
        reason: String,
    },
    /// A parameter the call needs was not given.
    #[error("missing parameter {parameter}: {reason}")]
    MissingParameter {
        /// The parameter, spelled as in the SQS API.
        parameter: String,
        /// Why it is needed here.
        reason: String,
    },
    /// A message attribute name or value is not allowed.
    #[error("invalid message attribute `{name}`: {reason}")]
    InvalidAttributeName {
        /// The attribute's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Body plus attributes exceed the queue's `MaximumMessageSize`.
    #[error("message of {size} bytes exceeds the queue's maximum of {limit} bytes")]
    MessageTooLong {
        /// Size of body and attributes, in bytes.
        size: usize,
        /// The queue's limit, in bytes.
        limit: usize,
    },
    /// The body is empty or has a character outside the XML set SQS allows.
    #[error("invalid message contents: {0}")]
    InvalidMessageContents(String),
    /// The receipt handle is malformed, belongs to another queue or is no longer current.
    #[error("receipt handle is invalid: {0}")]
    ReceiptHandleIsInvalid(String),
    /// The message is not in flight, so its visibility cannot change.
    #[error("message is not in flight")]
    MessageNotInflight,
    /// A batch request has more than ten entries.
    #[error("batch has {0} entries; at most 10 are allowed")]
    TooManyEntriesInBatchRequest(usize),
    /// Two entries of one batch share an id.
    #[error("batch entry id `{0}` is used more than once")]
    BatchEntryIdsNotDistinct(String),
    /// A batch entry id is not 1–80 of `[A-Za-z0-9_-]`.
    #[error("batch entry id `{0}` is not 1-80 characters of [A-Za-z0-9_-]")]
    InvalidBatchEntryId(String),
    /// A batch request has no entries.
    #[error("batch request has no entries")]
    EmptyBatchRequest,
    /// The entries of a batch together exceed the queue's maximum message size.
    #[error("batch of {size} bytes exceeds the limit of {limit} bytes")]
    BatchRequestTooLong {
        /// Total size of the batch's messages, in bytes.
        size: usize,
        /// The queue's limit, in bytes.
        limit: usize,
    },
    /// The queue was purged less than 60 seconds ago.
    #[error("queue `{queue}` was purged less than 60 s ago; retry in {retry_after:?}")]
    PurgeQueueInProgress {
        /// The queue.
        queue: String,
        /// How long until another purge is allowed.
        retry_after: Duration,
    },
    /// A limit of the queue was reached (for example 120,000 messages in flight).
    #[error("over limit: {0}")]
    OverLimit(String),
    /// The backend does not support this operation.
    #[error("{backend} does not support {operation}")]
    UnsupportedOperation {
        /// The backend's name.
        backend: &'static str,
        /// The operation.
        operation: &'static str,
    },
    /// The backend failed (connection lost, I/O error, throttling, …). Worth retrying.
    #[error("{backend} backend error: {message}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// What went wrong, with context.
        message: String,
    },
}

impl QueueError {
    /// Shorthand for [`QueueError::InvalidParameterValue`].
    pub fn invalid(parameter: impl Into<String>, reason: impl Into<String>) -> Self {
        QueueError::InvalidParameterValue {
            parameter: parameter.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`QueueError::MissingParameter`].
    pub fn missing(parameter: impl Into<String>, reason: impl Into<String>) -> Self {
        QueueError::MissingParameter {
            parameter: parameter.into(),
            reason: reason.into(),
        }
    }

    /// The SQS error code this error corresponds to.
    ///
    /// ```
    /// use ebbflow_core::QueueError;
    /// assert_eq!(QueueError::MessageNotInflight.code(), "MessageNotInflight");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            QueueError::QueueDoesNotExist(_) => "QueueDoesNotExist",
            QueueError::QueueAlreadyExists(_) => "QueueAlreadyExists",
            QueueError::InvalidParameterValue { .. } => "InvalidParameterValue",
            QueueError::MissingParameter { .. } => "MissingParameter",
            QueueError::InvalidAttributeName { .. } => "InvalidAttributeName",
            QueueError::MessageTooLong { .. } => "MessageTooLong",
            QueueError::InvalidMessageContents(_) => "InvalidMessageContents",
            QueueError::ReceiptHandleIsInvalid(_) => "ReceiptHandleIsInvalid",
            QueueError::MessageNotInflight => "MessageNotInflight",
            QueueError::TooManyEntriesInBatchRequest(_) => "TooManyEntriesInBatchRequest",
            QueueError::BatchEntryIdsNotDistinct(_) => "BatchEntryIdsNotDistinct",
            QueueError::InvalidBatchEntryId(_) => "InvalidBatchEntryId",
            QueueError::EmptyBatchRequest => "EmptyBatchRequest",
            QueueError::BatchRequestTooLong { .. } => "BatchRequestTooLong",
            QueueError::PurgeQueueInProgress { .. } => "PurgeQueueInProgress",
            QueueError::OverLimit(_) => "OverLimit",
            QueueError::UnsupportedOperation { .. } => "UnsupportedOperation",
            QueueError::Backend { .. } => "InternalError",
        }
    }

    /// True when retrying the same call later may succeed: backend trouble,
    /// a purge cool-down or a full queue — not a malformed request.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            QueueError::Backend { .. }
                | QueueError::PurgeQueueInProgress { .. }
                | QueueError::OverLimit(_)
        )
    }
}
