//! Every key the configuration takes, read from the types' own field lists,
//! so that documentation can be checked against them and never drift.

use super::*;
use serde::de::{self, Visitor};
use std::cell::Cell;

/// One section of the configuration and the keys it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// The section's path as written in TOML, with `NAME` where a name of
    /// your choosing goes: `workers.NAME.scaling`. The top level is `""`.
    pub path: &'static str,
    /// Its keys, as serde reads them.
    pub keys: &'static [&'static str],
}

/// Every section of `ebbflow.toml` with its keys.
///
/// ```
/// let sections = ebbflow_core::config::sections();
/// let retry = sections.iter().find(|s| s.path == "workers.NAME.retry").unwrap();
/// assert!(retry.keys.contains(&"max_delay"));
/// ```
pub fn sections() -> Vec<Section> {
    let section = |path, keys| Section { path, keys };
    vec![
        section("", keys_of::<Config>()),
        section("backend", keys_of::<BackendConfig>()),
        section("runtime", keys_of::<RuntimeConfig>()),
        section("queues.NAME", keys_of::<QueueConfig>()),
        section("workers.NAME", keys_of::<WorkerConfig>()),
        section("workers.NAME.handler", keys_of::<HandlerConfig>()),
        section("workers.NAME.scaling", keys_of::<ScalingConfig>()),
        section("workers.NAME.scaling.up", keys_of::<PartialPolicy>()),
        section("workers.NAME.scaling.down", keys_of::<PartialPolicy>()),
        section("workers.NAME.retry", keys_of::<RetryConfig>()),
        section("metrics", keys_of::<MetricsConfig>()),
        section("log", keys_of::<LogConfig>()),
        section("server", keys_of::<ServerConfig>()),
        section("server.keys.NAME", keys_of::<KeyConfig>()),
        section("history", keys_of::<HistoryConfig>()),
    ]
}

/// The field names a derived `Deserialize` hands to `deserialize_struct`.
fn keys_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let seen = Cell::new(None);
    // The recorder answers every call with an error after noting the
    // fields: nothing is deserialized, so `T`'s value never exists.
    let _ = T::deserialize(FieldNames(&seen));
    seen.get().unwrap_or(&[])
}

/// A deserializer that only notes the fields of the struct asked for.
struct FieldNames<'a>(&'a Cell<Option<&'static [&'static str]>>);

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only structs are read"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(Some(fields));
        Err(de::Error::custom("fields noted"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_has_the_fields_of_its_type() {
        let all = sections();
        let top = all.iter().find(|s| s.path.is_empty()).unwrap();
        assert_eq!(
            top.keys,
            ["backend", "runtime", "queues", "workers", "metrics", "log", "server", "history"]
        );
        let up = all
            .iter()
            .find(|s| s.path == "workers.NAME.scaling.up")
            .unwrap();
        assert_eq!(up.keys, ["max_step", "stabilisation", "cooldown"]);
        assert!(all.iter().all(|s| !s.keys.is_empty()), "{all:?}");
    }
}
