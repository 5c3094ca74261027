//! Turning the rows a receive took into messages, one at a time.

use crate::{QueueError, ReceivedMessage};

/// Converts each row a receive took on its own. A row that cannot be read
/// (corrupt attributes, a body that does not decrypt) is left out and its
/// error returned beside the rest: the receive has already committed, so
/// failing it whole would leave every message of it in flight unseen. The
/// left-out message stays in flight, comes back when its visibility timeout
/// ends, and reaches the dead-letter queue by its receive count.
///
/// ```
/// use ebbflow_core::{local::convert_each, QueueError, ReceivedMessage};
/// let rows: Vec<Result<ReceivedMessage, QueueError>> = vec![Err(QueueError::MessageNotInflight)];
/// let (messages, unreadable) = convert_each(rows, |r| r);
/// assert_eq!((messages.len(), unreadable.len()), (0, 1));
/// ```
pub fn convert_each<R>(
    rows: impl IntoIterator<Item = R>,
    mut convert: impl FnMut(R) -> Result<ReceivedMessage, QueueError>,
) -> (Vec<ReceivedMessage>, Vec<QueueError>) {
    let mut messages = Vec::new();
    let mut unreadable = Vec::new();
    for row in rows {
        match convert(row) {
            Ok(m) => messages.push(m),
            Err(e) => unreadable.push(e),
        }
    }
    (messages, unreadable)
}
