//! Charts over a queue's history, drawn on the server as inline SVG (no
//! chart library to ship, nothing to run in the browser): throughput by
//! outcome, the queue's depth, processing-time percentiles, and workers
//! against the size the autoscaler aimed for; then its recent changes.

use crate::data::History;
use crate::html::escape;
use std::fmt::Write;

const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 18.0;
const TOP: f64 = 8.0;

/// One line of a chart: its label and points (ms since the epoch, value).
struct Series {
    label: &'static str,
    points: Vec<(u64, f64)>,
}

/// A round number at or above `max`, for the top of the axis.
fn ceiling(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn number(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1_000.0)
    } else if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn clock(ms: u64) -> String {
    let minutes = ms / 60_000;
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

/// One chart: an SVG with its axis and a legend under it.
fn chart(id: &str, title: &str, unit: &str, series: &[Series], from: u64, to: u64) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let top = ceiling(max);
    let span = to.saturating_sub(from).max(1) as f64;
    let x = |t: u64| LEFT + (t.saturating_sub(from) as f64 / span) * (WIDTH - LEFT - 4.0);
    let y = |v: f64| TOP + (1.0 - v / top) * (HEIGHT - TOP - BOTTOM);
    let mut svg = format!(
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{} <span class=\"muted\">{}</span></figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape(title),
        escape(unit),
        escape(title)
    );
    for (i, v) in [0.0, top / 2.0, top].iter().enumerate() {
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - 4.0,
            y(*v),
            y(*v),
            LEFT - 4.0,
            y(*v) + if i == 0 { 0.0 } else { 4.0 },
            number(*v)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{LEFT}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        HEIGHT - 4.0,
        clock(from),
        WIDTH - 4.0,
        HEIGHT - 4.0,
        clock(to)
    );
    for (i, s) in series.iter().enumerate() {
        if s.points.is_empty() {
            continue;
        }
        let points: Vec<String> = s
            .points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        let _ = write!(
            svg,
            "<polyline class=\"s{i}\" points=\"{}\"><title>{}</title></polyline>",
            points.join(" "),
            s.label
        );
    }
    svg.push_str("</svg><div class=\"legend\">");
    for (i, s) in series.iter().enumerate() {
        let last = s
            .points
            .last()
            .map_or_else(|| "–".to_owned(), |p| number(p.1));
        let _ = write!(
            svg,
            "<span><i class=\"s{i}\"></i>{} <b>{last}</b></span>",
            s.label
        );
    }
    svg.push_str("</div></figure>");
    svg
}

/// The charts and the autoscaler's changes for `history`, up to `now_ms`.
pub fn charts(h: &History, now_ms: u64) -> String {
    let to = now_ms;
    let from = now_ms.saturating_sub(h.window_s * 1_000);
    let per_minute = |f: &dyn Fn(&ebbflow_core::history::Rollup) -> f64| -> Vec<(u64, f64)> {
        h.minutes.iter().map(|m| (m.minute_ms, f(m))).collect()
    };
    let line = |label: &'static str, f: &dyn Fn(&ebbflow_core::history::Rollup) -> f64| Series {
        label,
        points: per_minute(f),
    };
    let quantile = |q: f64| -> Vec<(u64, f64)> {
        h.minutes
            .iter()
            .filter_map(|m| m.latency_quantile(q).map(|v| (m.minute_ms, v)))
            .collect()
    };
    let mut out = String::from("<div id=\"charts\" class=\"charts\">");
    if h.minutes.is_empty() {
        out.push_str("<p class=\"muted\">No rollup in this window yet: workers write one a minute while they handle messages.</p>");
    }
    out.push_str(&chart(
        "throughput",
        "Throughput by outcome",
        "messages a minute",
        &[
            line("succeeded", &|m| m.succeeded as f64),
            line("dead-lettered", &|m| m.dead_lettered as f64),
            line("released or failed", &|m| (m.released + m.failed) as f64),
            line("retried", &|m| m.retried as f64),
        ],
        from,
        to,
    ));
    out.push_str(&chart(
        "depth",
        "Queue depth",
        "messages",
        &[
            line("visible", &|m| m.visible as f64),
            line("in flight", &|m| m.in_flight as f64),
            line("delayed", &|m| m.delayed as f64),
        ],
        from,
        to,
    ));
    out.push_str(&chart(
        "latency",
        "Processing time",
        "seconds (bucket bounds)",
        &[
            Series {
                label: "p50",
                points: quantile(0.5),
            },
            Series {
                label: "p90",
                points: quantile(0.9),
            },
            Series {
                label: "p99",
                points: quantile(0.99),
            },
        ],
        from,
        to,
    ));
    out.push_str(&chart(
        "workers",
        "Workers",
        "all processes",
        &[
            line("workers", &|m| f64::from(m.pool)),
            line("desired", &|m| f64::from(m.desired)),
            line("busy", &|m| f64::from(m.busy)),
        ],
        from,
        to,
    ));
    out.push_str("</div><h3>Autoscaler changes</h3>");
    if h.decisions.is_empty() {
        out.push_str("<p class=\"muted\">None in this window.</p>");
    } else {
        out.push_str("<table id=\"decisions\"><thead><tr><th>When</th><th class=\"n\">From</th><th class=\"n\">To</th><th class=\"n\">Backlog</th><th>Why</th></tr></thead><tbody>");
        for d in h.decisions.iter().take(30) {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                crate::html::sent_at(d.at_ms),
                d.from,
                d.to,
                d.backlog,
                escape(&d.reason)
            );
        }
        out.push_str("</tbody></table>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(ceiling(0.0), 1.0);
        assert_eq!(ceiling(7.0), 10.0);
        assert_eq!(ceiling(180.0), 200.0);
        assert_eq!(ceiling(0.023), 0.025);
        assert_eq!(clock(3_600_000 * 25 + 60_000 * 7), "01:07");
    }
}
