//! Human-readable durations (`"30s"`, `"1h30m"`, `"4d"`) and sizes (`"256KiB"`).

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// Parses a duration such as `250ms`, `30s`, `5m`, `1h30m` or `4d`.
/// A bare number is seconds.
///
/// ```
/// use ebbflow_core::config::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let expected = || {
        format!("`{text}` is not a duration like \"250ms\", \"30s\", \"5m\", \"1h30m\" or \"4d\"")
    };
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(expected());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        let n: u64 = number.parse().map_err(|_| expected())?;
        let unit_ms: u64 = match unit.trim() {
            "ms" => 1,
            "s" | "sec" | "secs" => 1_000,
            "m" | "min" | "mins" => 60_000,
            "h" | "hr" | "hrs" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            _ => return Err(expected()),
        };
        let add = n.checked_mul(unit_ms).ok_or_else(expected)?;
        total = total
            .checked_add(Duration::from_millis(add))
            .ok_or_else(expected)?;
        rest = &rest[digits + unit_len..];
    }
    Ok(total)
}

/// Parses a size such as `1024`, `64KB`, `256KiB` or `1MiB` (KB = 1,000 bytes, KiB = 1,024).
///
/// ```
/// use ebbflow_core::config::parse_size;
/// assert_eq!(parse_size("256KiB"), Ok(262_144));
/// assert_eq!(parse_size("1MB"), Ok(1_000_000));
/// ```
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let expected =
        || format!("`{text}` is not a size like \"1024\", \"64KB\", \"256KiB\" or \"1MiB\"");
    let n: usize = number.parse().map_err(|_| expected())?;
    let factor: usize = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "KiB" => 1_024,
        "MB" => 1_000_000,
        "MiB" => 1_048_576,
        _ => return Err(expected()),
    };
    n.checked_mul(factor).ok_or_else(expected)
}

/// A [`Duration`] written in a config file as `"30s"`, `"4d"`, … (a bare number is seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

/// A byte count written in a config file as `"256KiB"`, `"1MB"`, … (a bare number is bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanSize(pub usize);

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Self {
        d.0
    }
}

/// Accepts either a string or a whole number.
struct TextOrNumber<F>(F, &'static str);

impl<'de, T, F: Fn(&str) -> Result<T, String>> de::Visitor<'de> for TextOrNumber<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.0)(&v.to_string()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!("{v} is negative; {}", self.1))),
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextOrNumber(
            |s: &str| parse_duration(s).map(HumanDuration),
            "a duration such as \"30s\", \"5m\" or \"4d\"",
        ))
    }
}

impl<'de> Deserialize<'de> for HumanSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextOrNumber(
            |s: &str| parse_size(s).map(HumanSize),
            "a size such as \"256KiB\" or \"1MB\"",
        ))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", self.0.as_millis()))
    }
}

impl Serialize for HumanSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0 as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_too_long_to_add_up_is_an_error_not_a_panic() {
        let huge = "18446744073709551615ms".repeat(2000);
        assert!(parse_duration(&huge).is_err());
    }

    #[test]
    fn durations_parse_in_every_unit() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("30"), Ok(ms(30_000)));
        assert_eq!(parse_duration("0s"), Ok(ms(0)));
        assert_eq!(parse_duration("4d"), Ok(ms(4 * 86_400_000)));
        assert_eq!(parse_duration("2m30s"), Ok(ms(150_000)));
        assert_eq!(parse_duration("12h"), Ok(ms(43_200_000)));
        for bad in ["", "s", "30x", "-5s", "1.5s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_parse_decimal_and_binary_units() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64KB"), Ok(64_000));
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        for bad in ["", "KiB", "1.5MB", "10GB", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
