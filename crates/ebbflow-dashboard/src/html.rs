//! The pages, written as HTML on the server: no script, a stylesheet that
//! follows the system's light or dark scheme. Every value from a queue is
//! escaped.

use crate::actions::RedriveStatus;
use crate::data::History;
use crate::data::{DeadLetterGroup, MessagePage, MessageRow, QueueDetail, QueueRow};
use crate::search::Found;
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
:root { color-scheme: light dark; --fg: #1d232b; --bg: #ffffff; --muted: #5b6776; --line: #d8dee6; --accent: #1f6feb; --warn: #b42318; --box: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root:not([data-theme=light]) { color-scheme: dark; --fg: #e6edf3; --bg: #0d1117; --muted: #8b949e; --line: #30363d; --accent: #58a6ff; --warn: #f85149; --box: #161b22; } }
:root[data-theme=dark] { color-scheme: dark; --fg: #e6edf3; --bg: #0d1117; --muted: #8b949e; --line: #30363d; --accent: #58a6ff; --warn: #f85149; --box: #161b22; }
:root[data-theme=light] { color-scheme: light; }
body { font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 0 2rem 2rem; }
header { display: flex; gap: 1.5rem; align-items: baseline; border-bottom: 1px solid var(--line); padding: .8rem 0; margin-bottom: 1rem; }
header b { font-size: 1.1rem; }
header .end { margin-left: auto; display: flex; gap: 1rem; align-items: baseline; }
a { color: var(--accent); text-decoration: none; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
pre { white-space: pre-wrap; word-break: break-all; margin: 0; max-height: 12rem; overflow: auto; }
.tag { border: 1px solid var(--line); border-radius: 3px; padding: 0 .3rem; font-size: 12px; }
.notice { border-left: 3px solid var(--accent); padding: .3rem .8rem; background: var(--box); }
.danger { color: var(--warn); }
details.action { border: 1px solid var(--line); border-radius: 4px; padding: .4rem .8rem; margin: .6rem 0; background: var(--box); }
details.action summary { cursor: pointer; font-weight: 600; }
form.inline { display: inline; }
label { display: block; margin: .4rem 0 .1rem; }
input[type=text], input[type=password], input[type=number], textarea { font: inherit; width: 100%; max-width: 40rem; box-sizing: border-box; background: var(--bg); color: var(--fg); border: 1px solid var(--line); border-radius: 3px; padding: .25rem .4rem; }
button { font: inherit; margin-top: .5rem; padding: .25rem .9rem; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); cursor: pointer; }
button.danger { border-color: var(--warn); }
.bar { height: .6rem; background: var(--line); border-radius: 3px; max-width: 40rem; }
.bar > div { height: 100%; background: var(--accent); border-radius: 3px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(26rem, 1fr)); gap: 1rem; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 4px; padding: .5rem; }
figure.chart figcaption { font-weight: 600; }
figure.chart svg { width: 100%; height: auto; display: block; }
figure.chart svg text { fill: var(--muted); font-size: 10px; }
figure.chart .grid { stroke: var(--line); stroke-width: 1; }
figure.chart polyline { fill: none; stroke-width: 1.6; }
.s0 { stroke: #2f81f7; background: #2f81f7; } .s1 { stroke: #d1242f; background: #d1242f; }
.s2 { stroke: #bf8700; background: #bf8700; } .s3 { stroke: #8250df; background: #8250df; }
.legend { display: flex; flex-wrap: wrap; gap: .8rem; font-size: 12px; }
.legend i { display: inline-block; width: .8rem; height: .2rem; margin-right: .3rem; vertical-align: middle; }
.row { display: flex; gap: 1rem; flex-wrap: wrap; } .row > div { flex: 1 1 16rem; }
.windows a { margin-right: .6rem; } .windows a.on { font-weight: 700; }
";

/// The history windows a queue's charts offer, by their label.
pub const WINDOWS: [(&str, u64); 6] = [
    ("1h", 3_600),
    ("6h", 6 * 3_600),
    ("24h", 86_400),
    ("2d", 2 * 86_400),
    ("7d", 7 * 86_400),
    ("14d", 14 * 86_400),
];

/// What every page carries besides its content: where the dashboard lives,
/// who is signed in, the CSRF token its forms send, the chosen theme.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// The base path (`""` or `/ui`).
    pub base: String,
    /// The signed-in key id, if keys are in use.
    pub who: Option<String>,
    /// The token every form carries.
    pub csrf: String,
    /// `light`, `dark`, or empty to follow the system.
    pub theme: String,
    /// Whether the visitor may change nothing (no action is shown).
    pub read_only: bool,
}

impl Chrome {
    /// The hidden field with the CSRF token, for a form.
    pub fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            escape(&self.csrf)
        )
    }
}

/// The page around `body`.
pub fn page(c: &Chrome, title: &str, body: &str) -> String {
    page_with(c, title, body, "")
}

/// The page around `body`, with more in its head (a refresh, say).
fn page_with(c: &Chrome, title: &str, body: &str, head: &str) -> String {
    let base = &c.base;
    let theme = match c.theme.as_str() {
        t @ ("light" | "dark") => format!(" data-theme=\"{t}\""),
        _ => String::new(),
    };
    let mut end = String::new();
    if c.read_only {
        end.push_str("<span class=\"tag\">read-only</span>");
    }
    // Cycles follow-the-system → dark → light → follow-the-system.
    let (next, label) = match c.theme.as_str() {
        "dark" => ("light", "Theme: dark"),
        "light" => ("", "Theme: light"),
        _ => ("dark", "Theme: system"),
    };
    let _ = write!(
        end,
        "<a href=\"{base}/theme?set={next}&amp;back={base}/\" id=\"theme\">{label}</a>"
    );
    if let Some(who) = &c.who {
        let _ = write!(
            end,
            "<span>Key <code>{}</code></span><form class=\"inline\" method=\"post\" action=\"{base}/logout\">{}<button type=\"submit\">Sign out</button></form>",
            escape(who),
            c.csrf_field()
        );
    }
    format!(
        "<!doctype html><html lang=\"en\"{theme}><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{head}\
         <title>{} · ebbflow</title><style>{STYLE}</style><script src=\"{base}/assets/live.js\" defer></script></head><body>\
         <header><b>ebbflow</b><a href=\"{base}/\">Queues</a><span class=\"end\">{end}</span></header>{body}</body></html>",
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
pub fn queues(c: &Chrome, rows: &[QueueRow]) -> String {
    let base = &c.base;
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
            "<tr><td>{}{}{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{dead}</td></tr>",
            queue_link(base, &r.name),
            if r.fifo { " <span class=\"tag\">FIFO</span>" } else { "" },
            if r.paused.is_some() { " <span class=\"tag paused\">paused</span>" } else { "" },
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
    page(c, "Queues", &body)
}

/// A queue's counts in one line (the live fragment of its page).
pub fn counts(r: &QueueRow) -> String {
    format!(
        "{} visible · {} in flight · {} delayed · oldest {}",
        r.visible,
        r.in_flight,
        r.delayed,
        age(r.oldest_age_s)
    )
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
    /// The redrives started from this dashboard, newest first.
    pub redrives: &'a [RedriveStatus],
    /// Whether the send form is shown.
    pub can_send: bool,
    /// Whether the purge form is shown.
    pub can_purge: bool,
    /// Whether the pause/resume button is shown.
    pub can_pause: bool,
    /// Whether each message has a delete button.
    pub can_delete: bool,
    /// Whether, on an engine that cannot browse, a receive may show messages.
    pub can_receive: bool,
    /// Whether the redrive form (and the selection boxes) are shown.
    pub can_redrive: bool,
    /// What the last change did.
    pub notice: Option<String>,
    /// The charts' window label (`1h`) and the history read for it;
    /// `None` where no process keeps one.
    pub history: (&'a str, Option<&'a History>),
    /// Now, ms since the epoch: the charts' right edge.
    pub now_ms: u64,
}

/// The history section: window links, charts (refreshed by `live.js`) or
/// why there are none.
fn history(c: &Chrome, queue: &str, window: &str, h: Option<&History>, now_ms: u64) -> String {
    let mut out = String::from("<h2>History</h2><p class=\"windows\">");
    for (label, _) in WINDOWS {
        let _ = write!(
            out,
            "<a href=\"{}/queues/{}?window={label}#history\"{}>{label}</a>",
            c.base,
            url_part(queue),
            if label == window { " class=\"on\"" } else { "" }
        );
    }
    out.push_str("</p>");
    match h {
        Some(h) => {
            let _ = write!(
                out,
                "<div id=\"history\" data-live=\"{}/queues/{}/charts?window={window}\">{}</div>",
                c.base,
                url_part(queue),
                crate::charts::charts(h, now_ms)
            );
        }
        None => out.push_str(
            "<p class=\"muted\" id=\"history\">No history is kept for this queue: set <code>[history] enabled = true</code> in the workers' configuration, and each process writes a rollup a minute (on Amazon SQS too, though this engine cannot show them here).</p>",
        ),
    }
    out
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

fn send_form(c: &Chrome, queue: &str, fifo: bool) -> String {
    let fifo_fields = if fifo {
        "<label for=\"group\">Message group</label><input type=\"text\" id=\"group\" name=\"group\" required>\
         <label for=\"deduplication_id\">Deduplication id (empty with content-based deduplication)</label><input type=\"text\" id=\"deduplication_id\" name=\"deduplication_id\">"
    } else {
        ""
    };
    format!(
        "<details class=\"action\"><summary>Send a test message</summary>\
         <form method=\"post\" action=\"{}/queues/{}/send\">{}\
         <label for=\"body\">Body</label><textarea id=\"body\" name=\"body\" rows=\"4\" required></textarea>\
         <label for=\"attributes\">Attributes, one NAME=VALUE a line</label><textarea id=\"attributes\" name=\"attributes\" rows=\"2\"></textarea>\
         <label for=\"delay\">Delay, seconds</label><input type=\"number\" id=\"delay\" name=\"delay\" min=\"0\" max=\"900\" value=\"0\">\
         {fifo_fields}<button type=\"submit\" id=\"send\">Send</button></form></details>",
        c.base,
        url_part(queue),
        c.csrf_field()
    )
}

/// The pause banner and its button: Resume while paused, else a Pause form
/// with a reason (audited; the key needs `SetQueueAttributes`).
fn pause_section(
    c: &Chrome,
    queue: &str,
    paused: Option<&ebbflow_core::Pause>,
    can: bool,
) -> String {
    let mut out = String::new();
    if let Some(p) = paused {
        let _ = write!(
            out,
            "<p class=\"notice paused\" id=\"paused\">Consumers paused{}{}: no runtime starts a receive on this queue; producers still send.{}</p>",
            p.by.as_deref()
                .map(|b| format!(" by {}", escape(b)))
                .unwrap_or_default(),
            p.reason
                .as_deref()
                .map(|r| format!(" — {}", escape(r)))
                .unwrap_or_default(),
            format_args!(
                " <span class=\"muted\" data-time=\"{}\">since {}</span>",
                p.since_ms,
                sent_at(p.since_ms)
            )
        );
    }
    if !can {
        return out;
    }
    let action = |verb: &str| format!("{}/queues/{}/{verb}", c.base, url_part(queue));
    if paused.is_some() {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"{}\">{}<button type=\"submit\" id=\"resume\">Resume consumers</button></form>",
            action("resume"),
            c.csrf_field()
        );
    } else {
        let _ = write!(
            out,
            "<details class=\"action\"><summary>Pause consumers</summary>\
             <form method=\"post\" action=\"{}\">{}\
             <p>Every runtime consuming this queue stops receiving within a tick; messages in hand finish. Producers still send.</p>\
             <label for=\"reason\">Reason</label><input type=\"text\" id=\"reason\" name=\"reason\" maxlength=\"{}\" autocomplete=\"off\">\
             <button type=\"submit\" id=\"pause\">Pause</button></form></details>",
            action("pause"),
            c.csrf_field(),
            ebbflow_core::Pause::MAX_REASON_CHARS
        );
    }
    out
}

fn purge_form(c: &Chrome, queue: &str) -> String {
    format!(
        "<details class=\"action\"><summary class=\"danger\">Purge</summary>\
         <form method=\"post\" action=\"{}/queues/{}/purge\">{}\
         <p>Every message of this queue is deleted, at once and for good. Type <code>{}</code> to confirm.</p>\
         <input type=\"text\" name=\"confirm\" id=\"confirm\" autocomplete=\"off\" required>\
         <button type=\"submit\" class=\"danger\" id=\"purge\">Purge</button></form></details>",
        c.base,
        url_part(queue),
        c.csrf_field(),
        escape(queue)
    )
}

/// The redrive form; the message table's boxes belong to it (`form=redrive`).
fn redrive_form(c: &Chrome, queue: &str) -> String {
    format!(
        "<details class=\"action\" open><summary>Redrive</summary>\
         <form method=\"post\" action=\"{}/queues/{}/redrive\" id=\"redrive\">{}\
         <p class=\"muted\">Moves the messages ticked below, or, with none ticked, every message matching the filter (all of them without one).</p>\
         <div class=\"row\"><div><label for=\"to\">To (empty: each message back to the queue it came from)</label><input type=\"text\" id=\"to\" name=\"to\"></div>\
         <div><label for=\"rate\">Messages per second at most (empty: no limit)</label><input type=\"number\" id=\"rate\" name=\"rate\" min=\"1\" step=\"any\"></div>\
         <div><label for=\"filter\">Filter, NAME=VALUE a line: reason, error, source, an attribute</label><textarea id=\"filter\" name=\"filter\" rows=\"1\"></textarea></div></div>\
         <button type=\"submit\" id=\"start-redrive\">Redrive</button></form></details>",
        c.base,
        url_part(queue),
        c.csrf_field()
    )
}

fn redrive_list(c: &Chrome, queue: &str, redrives: &[RedriveStatus]) -> String {
    if redrives.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h2>Redrives</h2><table><thead><tr><th>Redrive</th><th>State</th><th class=\"n\">Moved</th><th class=\"n\">Left</th><th class=\"n\">Failed</th><th>By</th></tr></thead><tbody>");
    for r in redrives {
        let _ = write!(
            out,
            "<tr><td><a href=\"{}/queues/{}/redrives/{}\">#{}</a></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            c.base,
            url_part(queue),
            r.id,
            r.id,
            r.state,
            r.moved,
            r.left_alone,
            r.failed,
            escape(&r.started_by)
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// A table of messages; with `select`, a box per message for the redrive form.
/// A table of messages; with `select`, a box per message for the redrive
/// form; with `delete` (the page's chrome and the queue), a delete button each.
fn message_table(messages: &[MessageRow], select: bool, delete: Option<(&Chrome, &str)>) -> String {
    let mut out = String::from("<table id=\"messages\"><thead><tr>");
    if select {
        out.push_str(
            "<th><input type=\"checkbox\" data-select-all aria-label=\"select all\"></th>",
        );
    }
    out.push_str("<th>Message</th><th>State</th><th class=\"n\">Receives</th><th>Body</th><th>Attributes</th>");
    if delete.is_some() {
        out.push_str("<th></th>");
    }
    out.push_str("</tr></thead><tbody>");
    for m in messages {
        let mut attributes = m
            .attributes
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = write!(
            attributes,
            "<details><summary class=\"muted\">system</summary>{}</details>",
            m.system
                .iter()
                .map(|(k, v)| format!("<span class=\"muted\">{k}</span> {}", escape(v)))
                .collect::<Vec<_>>()
                .join("<br>")
        );
        out.push_str("<tr>");
        if select {
            let _ = write!(
                out,
                "<td><input type=\"checkbox\" name=\"id\" value=\"{}\" form=\"redrive\" aria-label=\"select\"></td>",
                escape(&m.message_id)
            );
        }
        let _ = write!(
            out,
            "<td><code>{}</code>{}<br><span class=\"muted\">{}</span></td><td>{}</td><td class=\"n\">{}</td><td><pre>{}</pre></td><td>{attributes}</td>",
            escape(&m.message_id),
            m.group_id
                .as_deref()
                .map(|g| format!("<br><span class=\"muted\">group {}</span>", escape(g)))
                .unwrap_or_default(),
            sent_at(m.sent_timestamp),
            m.state,
            m.receive_count,
            escape(&pretty(&m.body)),
        );
        if let Some((c, queue)) = delete {
            out.push_str("<td>");
            if let Some(position) = &m.position {
                let _ = write!(
                    out,
                    "<form method=\"post\" action=\"{}/queues/{}/delete\" data-confirm=\"Delete this message for good?\">{}\
                     <input type=\"hidden\" name=\"position\" value=\"{}\"><input type=\"hidden\" name=\"message_id\" value=\"{}\">\
                     <button type=\"submit\" class=\"danger\" data-delete=\"{}\">Delete</button></form>",
                    c.base,
                    url_part(queue),
                    c.csrf_field(),
                    escape(position),
                    escape(&m.message_id),
                    escape(&m.message_id)
                );
            }
            out.push_str("</td>");
        }
        out.push_str("</tr>");
    }
    if messages.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\" class=\"muted\">No messages here.</td></tr>",
            5 + usize::from(select) + usize::from(delete.is_some())
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// A JSON body indented; any other body as it is.
fn pretty(body: &str) -> String {
    let trimmed = body.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
            if let Ok(p) = serde_json::to_string_pretty(&v) {
                return p;
            }
        }
    }
    body.to_owned()
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn sent_at(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil-date.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn search_box(c: &Chrome, queue: &str, text: &str) -> String {
    format!(
        "<form method=\"get\" action=\"{}/queues/{}/search\" role=\"search\">\
         <input type=\"text\" name=\"q\" id=\"q\" value=\"{}\" placeholder=\"Search: text in the body, id:MESSAGE-ID, or attribute=value\" aria-label=\"search\">\
         <button type=\"submit\" id=\"search\">Search</button></form>",
        c.base,
        url_part(queue),
        escape(text)
    )
}

/// One queue: counts, settings, tags, its workers, its actions, and a page
/// of its messages.
pub fn queue(c: &Chrome, p: &QueuePage<'_>) -> String {
    let base = &c.base;
    let (q, messages) = (p.detail, p.messages);
    let r = &q.row;
    let name = escape(&r.name);
    let mut body = format!(
        "<h1>{name}</h1><p id=\"counts\" data-live=\"{base}/queues/{}/counts\">{}</p>",
        url_part(&r.name),
        counts(r)
    );
    if let Some(notice) = &p.notice {
        let _ = write!(
            body,
            "<p class=\"notice\" id=\"notice\">{}</p>",
            escape(notice)
        );
    }
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
    // A dead-letter queue's groups come first: they are why one looks.
    if let Some((groups, more)) = p.dead_letters {
        body.push_str(&dead_letters(base, groups, more));
    }
    body.push_str(&pause_section(c, &r.name, r.paused.as_ref(), p.can_pause));
    if p.can_send {
        body.push_str(&send_form(c, &r.name, r.fifo));
    }
    if p.can_redrive {
        body.push_str(&redrive_form(c, &r.name));
    }
    if p.can_purge {
        body.push_str(&purge_form(c, &r.name));
    }
    body.push_str(&redrive_list(c, &r.name, p.redrives));
    body.push_str("<h2>Messages</h2>");
    match messages {
        None => {
            body.push_str(
                "<p class=\"muted\" id=\"no-browse\">This engine cannot show messages without receiving them (Amazon SQS has no such verb).</p>",
            );
            if p.can_receive {
                let _ = write!(
                    body,
                    "<form method=\"post\" action=\"{base}/queues/{}/receive\">{}<p><button id=\"receive\">Receive up to ten with a visibility timeout of 0</button>: they stay visible, but each receive counts, and one past the queue's maxReceiveCount moves to its dead-letter queue.</p></form>",
                    url_part(&r.name),
                    c.csrf_field()
                );
            }
        }
        Some(page) if page.received => {
            body.push_str(
                "<p class=\"notice\" id=\"received\">Received with a visibility timeout of 0, not browsed: these stay visible, and their receive counts went up by one.</p>",
            );
            body.push_str(&message_table(&page.messages, false, None));
        }
        Some(page) => {
            body.push_str(&search_box(c, &r.name, ""));
            let delete = p.can_delete.then_some((c, r.name.as_str()));
            body.push_str(&message_table(&page.messages, p.can_redrive, delete));
            if let Some(next) = &page.next {
                let _ = write!(
                    body,
                    "<p><a href=\"{base}/queues/{}?after={}\" id=\"next\">Next page</a></p>",
                    url_part(&r.name),
                    url_part(next)
                );
            }
        }
    }
    body.push_str(&history(c, &r.name, p.history.0, p.history.1, p.now_ms));
    body.push_str(&workers(p.workers));
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
    page(c, &r.name, &body)
}

/// A search's results.
pub fn search(
    c: &Chrome,
    queue: &str,
    text: &str,
    found: Option<&Found>,
    can_delete: bool,
) -> String {
    let mut body = format!(
        "<h1>Search {}</h1><p><a href=\"{}/queues/{}\">Back to the queue</a></p>",
        escape(queue),
        c.base,
        url_part(queue)
    );
    body.push_str(&search_box(c, queue, text));
    match found {
        None if text.trim().is_empty() => {}
        None => body.push_str(
            "<p class=\"muted\">This engine cannot show messages without receiving them (Amazon SQS has no such verb).</p>",
        ),
        Some(f) => {
            let _ = write!(
                body,
                "<p id=\"found\">{} found in {} messages looked at{}.</p>",
                f.messages.len(),
                f.scanned,
                if f.complete { ", the whole queue" } else { "" }
            );
            let delete = can_delete.then_some((c, queue));
            body.push_str(&message_table(&f.messages, false, delete));
            if let Some(next) = &f.next {
                let _ = write!(
                    body,
                    "<p><a href=\"{}/queues/{}/search?q={}&amp;after={}\">Search further</a></p>",
                    c.base,
                    url_part(queue),
                    url_part(text),
                    url_part(next)
                );
            }
        }
    }
    page(c, &format!("Search {queue}"), &body)
}

/// A redrive's progress; the page reloads itself each second until it ends.
pub fn redrive(c: &Chrome, r: &RedriveStatus) -> String {
    let running = matches!(r.state, "running" | "stopping");
    let mut body = format!(
        "<h1>Redrive #{} of {}</h1><p>Started by <code>{}</code> at {}, to {}{}.</p>\
         <p id=\"state\">State: <b>{}</b></p>\
         <table><tr><th>Moved</th><td class=\"n\" id=\"moved\">{}</td></tr>\
         <tr><th>Left in the queue</th><td class=\"n\">{}</td></tr>\
         <tr><th>Failed</th><td class=\"n\">{}</td></tr></table>",
        r.id,
        queue_link(&c.base, &r.queue),
        escape(&r.started_by),
        sent_at(r.started_ms),
        r.to.as_deref().map_or_else(
            || "each message's source".to_owned(),
            |t| queue_link(&c.base, t)
        ),
        r.rate
            .map(|r| format!(", at most {r} a second"))
            .unwrap_or_default(),
        r.state,
        r.moved,
        r.left_alone,
        r.failed
    );
    for (to, n) in &r.moved_to {
        let _ = write!(body, "<p>{n} to {}</p>", queue_link(&c.base, to));
    }
    for p in &r.problems {
        let _ = write!(body, "<p class=\"danger\">{}</p>", escape(p));
    }
    if running && !c.read_only {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"{}/queues/{}/redrives/{}/stop\">{}<button type=\"submit\" class=\"danger\">Stop</button></form>",
            c.base,
            url_part(&r.queue),
            r.id,
            c.csrf_field()
        );
    }
    let head = if running {
        "<meta http-equiv=\"refresh\" content=\"1\">"
    } else {
        ""
    };
    page_with(c, &format!("Redrive #{}", r.id), &body, head)
}

/// The sign-in form, with why the last attempt failed.
pub fn login(c: &Chrome, failed: Option<&str>) -> String {
    let mut body = String::from("<h1>Sign in</h1>");
    if let Some(why) = failed {
        let _ = write!(
            body,
            "<p class=\"danger\" id=\"refused\">{}</p>",
            escape(why)
        );
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{}/login\">\
         <label for=\"access_key_id\">Access key id</label><input type=\"text\" id=\"access_key_id\" name=\"access_key_id\" autocomplete=\"username\" required>\
         <label for=\"secret\">Secret access key</label><input type=\"password\" id=\"secret\" name=\"secret\" autocomplete=\"current-password\" required>\
         <button type=\"submit\" id=\"sign-in\">Sign in</button></form>\
         <p class=\"muted\">The keys of <code>[server.keys.NAME]</code>; each sees and does what its rules allow.</p>",
        c.base
    );
    page(c, "Sign in", &body)
}

/// A page for an error.
pub fn error(c: &Chrome, title: &str, message: &str) -> String {
    page(
        c,
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

    #[test]
    fn times_and_json_bodies_are_shown_for_people() {
        assert_eq!(sent_at(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(sent_at(1_796_300_000_000), "2026-12-03 12:13:20 UTC");
        assert_eq!(pretty("{\"a\":1}"), "{\n  \"a\": 1\n}");
        assert_eq!(pretty("{not json"), "{not json");
    }
}
