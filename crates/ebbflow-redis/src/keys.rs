//! Key names. Every key of a queue carries the queue's name as its hash tag,
//! so on Redis Cluster a queue lives in one slot and its scripts run there.

/// The registry of queue names (a set).
pub(crate) const QUEUES: &str = "ebbflow:queues";
/// The counter that gives each queue (and each re-creation) a new id.
pub(crate) const QUEUE_IDS: &str = "ebbflow:queue-ids";
/// The ids of the keys that have sealed messages here (a set): checked at
/// connect, so that a missing or wrong key is an error then, never garbage.
pub(crate) const SEAL_KEYS: &str = "ebbflow:seal-keys";
/// The pub/sub channel on which writes announce a queue's name.
pub(crate) const WAKE: &str = "ebbflow:wake";

/// The queue's meta hash, `ebbflow:{name}:q`; scripts derive the queue's other keys from it.
pub(crate) fn meta(name: &str) -> String {
    format!("ebbflow:{{{name}}}:q")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_queue_keys_share_its_hash_tag() {
        assert_eq!(super::meta("orders"), "ebbflow:{orders}:q");
    }
}
