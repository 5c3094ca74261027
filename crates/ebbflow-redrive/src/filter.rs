//! `reason=permanent`: which dead letters a redrive moves.

use crate::DeadLetter;
use ebbflow_core::ReceivedMessage;
use std::str::FromStr;

/// One `NAME=VALUE` condition: `reason`, `error` and `source` (or
/// `source_queue`) read [`DeadLetter`]; `id` takes message ids separated by
/// commas (a selection); any other name is a message attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// What is compared.
    pub name: String,
    /// The value it must equal.
    pub value: String,
}

/// A filter that is not `NAME=VALUE`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("filter `{0}`: expected NAME=VALUE, for example reason=permanent")]
pub struct FilterError(pub String);

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok(Filter {
                name: name.to_owned(),
                value: value.to_owned(),
            }),
            _ => Err(FilterError(text.to_owned())),
        }
    }
}

impl Filter {
    /// Only the messages with these ids: a selection.
    ///
    /// ```
    /// let f = ebbflow_redrive::Filter::ids(["a1", "b2"]);
    /// assert_eq!((f.name.as_str(), f.value.as_str()), ("id", "a1,b2"));
    /// ```
    pub fn ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        Filter {
            name: "id".to_owned(),
            value: ids.into_iter().collect::<Vec<_>>().join(","),
        }
    }

    /// Whether `m`, dead-lettered for `why`, matches.
    pub fn matches(&self, m: &ReceivedMessage, why: &DeadLetter) -> bool {
        if self.name == "id" {
            return self.value.split(',').any(|id| id.trim() == m.message_id);
        }
        let found = match self.name.as_str() {
            "reason" => Some(why.reason.as_str()),
            "error" => Some(why.error.as_str()),
            "source_queue" | "source" => why.source.as_deref(),
            name => m.attributes.get(name).and_then(|v| v.as_str()),
        };
        found == Some(self.value.as_str())
    }
}
