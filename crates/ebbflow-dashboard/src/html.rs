//! The pages, written as HTML on the server: no script, a stylesheet that
//! follows the system's light or dark scheme. Every value from a queue is
//! escaped.

use crate::data::{DeadLetterGroup, MessagePage, QueueDetail, QueueRow};
use ebbflow_core::ConsumerReport;
use std::fmt::Write;

/// Text made safe for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What [`url_part`] leaves as it is: letters, digits and `-_.~`.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A path segment or query value made safe for a URL (queue names are
/// `[A-Za-z0-9_.-]`, cursors digits; anything else is percent-encoded).
pub fn url_part(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

const STYLE: &str = "
:root { color-scheme: light dark; --fg: #1d232b; --bg: #ffffff; --muted: #5b6776; --line: #d8dee6; --accent: #1f6feb; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #8b949e; --line: #30363d; --accent: #58a6ff; } }
body { font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 0 2rem 2rem; }
header { display: flex; gap: 1.5rem; align-items: baseline; border-bottom: 1px solid var(--line); padding: .8rem 0; margin-bottom: 1rem; }
header b { font-size: 1.1rem; }
a { color: var(--accent); text-decoration: none; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
pre { white-space: pre-wrap; word-break: break-all; margin: 0; max-height: 12rem; overflow: auto; }
.tag { border: 1px solid var(--line); border-radius: 3px; padding: 0 .3rem; font-size: 12px; }
";

/// The page around `body`.
pub fn page(base: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · ebbflow</title><style>{STYLE}</style></head><body>\
         <header><b>ebbflow</b><a href=\"{base}/\">Queues</a>\
         <span class=\"muted\">read-only</span></header>{body}</body></html>",
        escape(title)
    )
}

fn age(seconds: Option<f64>) -> String {
    match seconds {
        None => "–".to_owned(),
        Some(s) if s < 60.0 => format!("{s:.0} s"),
        Some(s) if s < 3_600.0 => format!("{:.0} min", s / 60.0),
        Some(s) if s < 86_400.0 => format!("{:.1} h", s / 3_600.0),
        Some(s) => format!("{:.1} d", s / 86_400.0),
    }
}

fn queue_link(base: &str, name: &str) -> String {
    format!(
        "<a href=\"{base}/queues/{}\">{}</a>",
        url_part(name),
        escape(name)
    )
}

/// Every queue, sortable by its columns.
pub fn queues(base: &str, rows: &[QueueRow]) -> String {
    let mut body = String::from("<h1>Queues</h1><table><thead><tr>");
    for (key, label, numeric) in [
        ("name", "Queue", false),
        ("visible", "Visible", true),
        ("in_flight", "In flight", true),
        ("delayed", "Delayed", true),
        ("oldest", "Oldest", true),
    ] {
        let _ = write!(
            body,
            "<th{}><a href=\"{base}/?sort={key}\">{label}</a></th>",
            if numeric { " class=\"n\"" } else { "" }
        );
    }
    body.push_str("<th>Dead letters</th></tr></thead><tbody>");
    for r in rows {
        let dead = match (&r.dead_letter_queue, r.dead_letter_sources.as_slice()) {
            (Some(dlq), _) => format!("to {}", queue_link(base, dlq)),
            (None, []) => String::new(),
            (None, sources) => format!(
                "<span class=\"tag\">DLQ</span> of {}",
                sources
                    .iter()
                    .map(|s| queue_link(base, s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let _ = write!(
            body,
            "<tr><td>{}{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{dead}</td></tr>",
            queue_link(base, &r.name),
            if r.fifo { " <span class=\"tag\">FIFO</span>" } else { "" },
            r.visible,
            r.in_flight,
            r.delayed,
            age(r.oldest_age_s),
        );
    }
    if rows.is_empty() {
        body.push_str("<tr><td colspan=\"6\" class=\"muted\">No queues.</td></tr>");
    }
    body.push_str("</tbody></table>");
    page(base, "Queues", &body)
}

/// What a queue's page shows.
pub struct QueuePage<'a> {
    /// Counts, settings, tags.
    pub detail: &'a QueueDetail,
    /// A page of messages; `None` where the engine cannot browse.
    pub messages: Option<&'a MessagePage>,
    /// The worker processes; `None` where the engine keeps no registry.
    pub workers: Option<&'a [ConsumerReport]>,
    /// For a dead-letter queue: its messages grouped by why, and whether
    /// there were more than were looked at.
    pub dead_letters: Option<(&'a [DeadLetterGroup], bool)>,
}

fn workers(members: Option<&[ConsumerReport]>) -> String {
    let Some(members) = members else {
        return "<h2>Workers</h2><p class=\"muted\">This engine keeps no registry of consumers (Amazon SQS).</p>".to_owned();
    };
    let mut out = String::from("<h2>Workers</h2><table><thead><tr><th>Process</th><th class=\"n\">Pool</th><th class=\"n\">Busy</th><th class=\"n\">Desired</th><th class=\"n\">Max</th><th class=\"n\">Received</th><th class=\"n\">Finished</th></tr></thead><tbody>");
    for m in members {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&m.id), m.pool, m.busy, m.desired, m.max, m.received, m.completed
        );
    }
    if members.is_empty() {
        out.push_str("<tr><td colspan=\"7\" class=\"muted\">No autoscaled process consumes this queue now.</td></tr>");
    }
    out.push_str("</tbody></table>");
    out
}

fn dead_letters(base: &str, groups: &[DeadLetterGroup], more: bool) -> String {
    let mut out = String::from("<h2>Dead letters by reason</h2><table><thead><tr><th class=\"n\">Messages</th><th>Reason</th><th>Error</th><th>From</th></tr></thead><tbody>");
    for g in groups {
        let _ = write!(
            out,
            "<tr><td class=\"n\">{}</td><td>{}</td><td><pre>{}</pre></td><td>{}</td></tr>",
            g.count,
            escape(&g.reason),
            escape(&g.error),
            g.source
                .as_deref()
                .map(|s| queue_link(base, s))
                .unwrap_or_default()
        );
    }
    out.push_str("</tbody></table>");
    if more {
        let _ = write!(
            out,
            "<p class=\"muted\">From the first {} messages.</p>",
            crate::data::DEAD_LETTER_SCAN
        );
    }
    out
}

/// One queue: counts, settings, tags, its workers, and a page of its messages.
pub fn queue(base: &str, p: &QueuePage<'_>) -> String {
    let (q, messages) = (p.detail, p.messages);
    let r = &q.row;
    let name = escape(&r.name);
    let mut body = format!(
        "<h1>{name}</h1><p>{} visible · {} in flight · {} delayed · oldest {}</p>",
        r.visible,
        r.in_flight,
        r.delayed,
        age(r.oldest_age_s)
    );
    if !r.dead_letter_sources.is_empty() {
        let _ = write!(
            body,
            "<p>Dead-letter queue of {}</p>",
            r.dead_letter_sources
                .iter()
                .map(|s| queue_link(base, s))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    body.push_str("<h2>Attributes</h2><table>");
    for (k, v) in &q.attributes {
        let _ = write!(body, "<tr><th>{k}</th><td>{}</td></tr>", escape(v));
    }
    for (k, v) in &q.tags {
        let _ = write!(
            body,
            "<tr><th>tag <span class=\"tag\">{}</span></th><td>{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    body.push_str("</table>");
    body.push_str(&workers(p.workers));
    if let Some((groups, more)) = p.dead_letters {
        body.push_str(&dead_letters(base, groups, more));
    }
    body.push_str("<h2>Messages</h2>");
    match messages {
        None => body.push_str(
            "<p class=\"muted\">This engine cannot show messages without receiving them (Amazon SQS has no such verb).</p>",
        ),
        Some(page) => {
            body.push_str("<table><thead><tr><th>Message</th><th>State</th><th class=\"n\">Receives</th><th>Body</th><th>Attributes</th></tr></thead><tbody>");
            for m in &page.messages {
                let attributes = m
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
                    .collect::<Vec<_>>()
                    .join("<br>");
                let _ = write!(
                    body,
                    "<tr><td><code>{}</code>{}</td><td>{}</td><td class=\"n\">{}</td><td><pre>{}</pre></td><td>{attributes}</td></tr>",
                    escape(&m.message_id),
                    m.group_id
                        .as_deref()
                        .map(|g| format!("<br><span class=\"muted\">group {}</span>", escape(g)))
                        .unwrap_or_default(),
                    m.state,
                    m.receive_count,
                    escape(&m.body),
                );
            }
            if page.messages.is_empty() {
                body.push_str("<tr><td colspan=\"5\" class=\"muted\">No messages here.</td></tr>");
            }
            body.push_str("</tbody></table>");
            if let Some(next) = &page.next {
                let _ = write!(
                    body,
                    "<p><a href=\"{base}/queues/{}?after={}\">Next page</a></p>",
                    url_part(&r.name),
                    url_part(next)
                );
            }
        }
    }
    page(base, &r.name, &body)
}

/// A page for an error.
pub fn error(base: &str, title: &str, message: &str) -> String {
    page(
        base,
        title,
        &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(message)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_url_parts_encoded() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(url_part("orders.fifo"), "orders.fifo");
        assert_eq!(url_part("a b/c"), "a%20b%2Fc");
    }
}
