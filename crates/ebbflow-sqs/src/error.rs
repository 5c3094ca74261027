//! SQS's error codes mapped onto ebbflow's typed errors.

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use ebbflow_core::QueueError;
use std::time::Duration;

/// The name errors and metrics use for this backend.
pub(crate) const BACKEND: &str = "sqs";

/// Maps an SDK error for a call on `queue`. Throttling and transient
/// failures have already been retried by the SDK when this runs.
pub(crate) fn from_sdk<E, R>(queue: &str, error: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.code() {
        Some(code) => from_code(queue, code, error.message().unwrap_or_default()),
        None => QueueError::Backend {
            backend: BACKEND,
            message: describe(&error),
        },
    }
}

/// Maps an SQS error code (as a call or a batch entry reports it).
pub(crate) fn from_code(queue: &str, code: &str, message: &str) -> QueueError {
    // SQS answers with either the short code or its `AWS.SimpleQueueService.` form.
    let short = code.rsplit('.').next().unwrap_or(code);
    match short {
        "NonExistentQueue" | "QueueDoesNotExist" => QueueError::QueueDoesNotExist(queue.to_owned()),
        "QueueAlreadyExists" | "QueueNameExists" => {
            QueueError::QueueAlreadyExists(queue.to_owned())
        }
        "InvalidParameterValue" | "InvalidParameterCombination" | "ValidationError" => {
            QueueError::invalid(queue, message)
        }
        "MissingParameter" => QueueError::missing(queue, message),
        "InvalidAttributeName" => QueueError::InvalidAttributeName {
            name: String::new(),
            reason: message.to_owned(),
        },
        "InvalidMessageContents" => QueueError::InvalidMessageContents(message.to_owned()),
        "ReceiptHandleIsInvalid" | "InvalidReceiptHandle" => {
            QueueError::ReceiptHandleIsInvalid(message.to_owned())
        }
        "MessageNotInflight" => QueueError::MessageNotInflight,
        "TooManyEntriesInBatchRequest" => QueueError::TooManyEntriesInBatchRequest(0),
        "BatchEntryIdsNotDistinct" => QueueError::BatchEntryIdsNotDistinct(message.to_owned()),
        "InvalidBatchEntryId" => QueueError::InvalidBatchEntryId(message.to_owned()),
        "EmptyBatchRequest" => QueueError::EmptyBatchRequest,
        "BatchRequestTooLong" => QueueError::BatchRequestTooLong { size: 0, limit: 0 },
        "PurgeQueueInProgress" => QueueError::PurgeQueueInProgress {
            queue: queue.to_owned(),
            retry_after: Duration::from_secs(60),
        },
        "OverLimit" => QueueError::OverLimit(message.to_owned()),
        "UnsupportedOperation" => QueueError::UnsupportedOperation {
            backend: BACKEND,
            operation: "this call",
        },
        _ => QueueError::Backend {
            backend: BACKEND,
            message: format!("{code}: {message}"),
        },
    }
}

/// The error and its causes on one line: the SDK's top-level text alone
/// ("dispatch failure") rarely says what happened.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_short_codes_map_alike() {
        assert!(matches!(
            from_code("q", "AWS.SimpleQueueService.NonExistentQueue", ""),
            QueueError::QueueDoesNotExist(q) if q == "q"
        ));
        assert!(matches!(
            from_code("q", "ReceiptHandleIsInvalid", "bad"),
            QueueError::ReceiptHandleIsInvalid(_)
        ));
        assert!(matches!(
            from_code("q", "AWS.SimpleQueueService.PurgeQueueInProgress", ""),
            QueueError::PurgeQueueInProgress { .. }
        ));
        let other = from_code("q", "ServiceUnavailable", "try later");
        assert!(other.is_retryable(), "{other}");
    }
}
