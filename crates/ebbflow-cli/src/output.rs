//! Tables for people, JSON for scripts, and the units both print.

use std::fmt::Write as _;
use std::time::Duration;

/// Rows under headers, printed with aligned columns.
///
/// ```ignore
/// let mut t = Table::new(["QUEUE", "VISIBLE"]);
/// t.row(["orders", "12"]);
/// print!("{t}");
/// ```
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new<const N: usize>(headers: [&str; N]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        self.rows.push(cells.into_iter().collect());
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(cell.chars().count());
                }
            }
        }
        for line in std::iter::once(&self.headers).chain(&self.rows) {
            let mut text = String::new();
            for (i, cell) in line.iter().enumerate() {
                if i + 1 == line.len() {
                    text.push_str(cell);
                } else {
                    let pad = widths.get(i).copied().unwrap_or(0);
                    let _ = write!(text, "{cell:<pad$}  ");
                }
            }
            writeln!(f, "{}", text.trim_end())?;
        }
        Ok(())
    }
}

/// Prints a JSON document on one line.
pub fn json(value: &serde_json::Value) {
    println!("{value}");
}

/// A duration as the config writes them: `45s`, `4d`, `1h30m`, `250ms`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            let _ = write!(out, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    out
}

/// An age for a table: the largest unit or two, for example `3m12s`, `2h5m`, `-` for none.
pub fn age(d: Option<Duration>) -> String {
    let Some(d) = d else {
        return "-".to_owned();
    };
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3_600 => format!("{}m{}s", secs / 60, secs % 60),
        3_600..86_400 => format!("{}h{}m", secs / 3_600, secs % 3_600 / 60),
        _ => format!("{}d{}h", secs / 86_400, secs % 86_400 / 3_600),
    }
}

/// A size in the config's units: `256KiB`, `1MiB`, or bytes.
pub fn size(bytes: usize) -> String {
    match bytes {
        b if b % (1 << 20) == 0 && b > 0 => format!("{}MiB", b >> 20),
        b if b % (1 << 10) == 0 && b > 0 => format!("{}KiB", b >> 10),
        b => b.to_string(),
    }
}

/// `1 message`, `3 messages`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A body for one table cell: one line, at most `max` characters.
pub fn snippet(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_in_the_configs_units_and_parse_back() {
        for (secs, text) in [(0, "0s"), (45, "45s"), (345_600, "4d"), (5_400, "1h30m")] {
            let d = Duration::from_secs(secs);
            assert_eq!(duration(d), text);
            assert_eq!(ebbflow::config::parse_duration(text), Ok(d));
        }
        assert_eq!(duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn sizes_print_in_binary_units_when_whole() {
        assert_eq!(size(262_144), "256KiB");
        assert_eq!(size(1_048_576), "1MiB");
        assert_eq!(size(1_000), "1000");
    }

    #[test]
    fn a_table_aligns_its_columns() {
        let mut t = Table::new(["QUEUE", "VISIBLE"]);
        t.row(["orders-dlq".to_owned(), "3".to_owned()]);
        t.row(["a".to_owned(), "12".to_owned()]);
        assert_eq!(
            t.to_string(),
            "QUEUE       VISIBLE\norders-dlq  3\na           12\n"
        );
    }

    #[test]
    fn a_snippet_is_one_bounded_line() {
        assert_eq!(snippet("a\nb", 10), "a b");
        assert_eq!(snippet("abcdef", 4), "abc…");
    }
}
