//! `ListQueues` and `ListDeadLetterSourceQueues` over an engine's catalogue
//! of queues (name and attributes, sorted by name).

use crate::{queue_name_from_arn, QueueAttributes, QueueError, Result};

/// The names in `all` that start with `prefix` (every name when `None`).
///
/// ```
/// use ebbflow_core::{local::names_with_prefix, QueueAttributes};
/// let all = vec![("a-1".to_owned(), QueueAttributes::standard()), ("b".to_owned(), QueueAttributes::standard())];
/// assert_eq!(names_with_prefix(all, Some("a")), vec!["a-1"]);
/// ```
pub fn names_with_prefix(all: Vec<(String, QueueAttributes)>, prefix: Option<&str>) -> Vec<String> {
    all.into_iter()
        .map(|(name, _)| name)
        .filter(|n| prefix.is_none_or(|p| n.starts_with(p)))
        .collect()
}

/// The names in `all` whose redrive policy targets `dead_letter_queue`
/// (a name, URL or ARN); `QueueDoesNotExist` when it is not in `all`.
///
/// ```
/// use ebbflow_core::{local::dead_letter_sources, QueueAttributes, RedrivePolicy};
/// let all = vec![
///     ("dlq".to_owned(), QueueAttributes::standard()),
///     ("src".to_owned(), QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new("dlq", 3))),
/// ];
/// assert_eq!(dead_letter_sources(all.clone(), "dlq").unwrap(), vec!["src"]);
/// assert!(dead_letter_sources(all, "nope").is_err());
/// ```
pub fn dead_letter_sources(
    all: Vec<(String, QueueAttributes)>,
    dead_letter_queue: &str,
) -> Result<Vec<String>> {
    let dlq = queue_name_from_arn(dead_letter_queue);
    if !all.iter().any(|(name, _)| name == dlq) {
        return Err(QueueError::QueueDoesNotExist(dlq.to_owned()));
    }
    Ok(all
        .into_iter()
        .filter(|(_, attrs)| {
            attrs
                .redrive_policy
                .as_ref()
                .is_some_and(|p| queue_name_from_arn(&p.dead_letter_queue) == dlq)
        })
        .map(|(name, _)| name)
        .collect())
}
