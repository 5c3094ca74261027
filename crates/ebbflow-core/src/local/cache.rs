//! A short-lived cache of queue rows for engines on a server, so that a send
//! or a receive does not read its queue's attributes first.

use crate::queue_name_from_arn;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Queue rows by name, each used for `ttl` after it was read. The engine
/// forgets a row when this process changes the queue; another process's
/// changes are seen within `ttl` (SQS itself takes up to a minute).
///
/// ```
/// use ebbflow_core::local::QueueCache;
/// use std::time::Duration;
/// let cache = QueueCache::new(Duration::from_secs(1));
/// cache.put("orders", 7_i64);
/// assert_eq!(cache.get("orders"), Some(7));
/// cache.forget("orders");
/// assert_eq!(cache.get("orders"), None);
/// ```
#[derive(Debug)]
pub struct QueueCache<T> {
    rows: Mutex<HashMap<String, (T, Instant)>>,
    ttl: Duration,
}

impl<T: Clone> QueueCache<T> {
    /// An empty cache whose rows live `ttl` (measured on the system's clock).
    pub fn new(ttl: Duration) -> Self {
        Self {
            rows: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// The row of `name` (a name, URL or ARN), if read within the ttl.
    pub fn get(&self, name: &str) -> Option<T> {
        let rows = self.rows.lock();
        let (row, at) = rows.get(queue_name_from_arn(name))?;
        (at.elapsed() < self.ttl).then(|| row.clone())
    }

    /// Keeps the row of `name`, read just now.
    pub fn put(&self, name: &str, row: T) {
        self.rows
            .lock()
            .insert(queue_name_from_arn(name).to_owned(), (row, Instant::now()));
    }

    /// Forgets the row of `name`.
    pub fn forget(&self, name: &str) {
        self.rows.lock().remove(queue_name_from_arn(name));
    }
}
