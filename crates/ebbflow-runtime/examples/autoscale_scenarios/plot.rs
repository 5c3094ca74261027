//! One SVG per scenario: workers (left axis) and backlog (right axis) over time.

use crate::sim::Sample;
use std::fmt::Write as _;

const W: f64 = 900.0;
const H: f64 = 320.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;

/// The plot as SVG text; long runs are thinned to about 2,000 points per line,
/// keeping each stretch's highest value so spikes stay visible.
pub fn svg(title: &str, samples: &[Sample]) -> String {
    let t_max = samples.last().map_or(1.0, |s| s.t).max(1e-9);
    let w_max = samples.iter().map(|s| s.workers).max().unwrap_or(0).max(1) as f64;
    let b_max = samples.iter().map(|s| s.backlog).max().unwrap_or(0).max(1) as f64;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |t: f64| LEFT + t / t_max * pw;
    let y = |v: f64, max: f64| TOP + ph - v / max * ph;
    let stride = samples.len().div_ceil(2000).max(1);
    let line = |value: &dyn Fn(&Sample) -> u64, max: f64| {
        let mut points = String::new();
        for chunk in samples.chunks(stride) {
            let peak = chunk.iter().map(value).max().unwrap_or(0) as f64;
            let _ = write!(points, "{:.1},{:.1} ", x(chunk[0].t), y(peak, max));
        }
        points
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="18" font-size="14">{title}</text>"#
    );
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let (yy, xx) = (TOP + ph - f * ph, LEFT + f * pw);
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#1f77b4">{:.0}</text>"##,
            LEFT - 6.0,
            yy + 4.0,
            f * w_max
        );
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{:.1}" fill="#d62728">{:.0}</text>"##,
            W - RIGHT + 6.0,
            yy + 4.0,
            f * b_max
        );
        let _ = writeln!(
            out,
            r#"<text x="{xx:.1}" y="{}" text-anchor="middle">{:.0} s</text>"#,
            H - BOTTOM + 16.0,
            f * t_max
        );
    }
    let _ = writeln!(
        out,
        r##"<polyline fill="none" stroke="#d62728" stroke-width="1" points="{}"/>"##,
        line(&|s| s.backlog, b_max)
    );
    let _ = writeln!(
        out,
        r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>"##,
        line(&|s| s.workers, w_max)
    );
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" fill="#1f77b4">workers</text><text x="{}" y="{}" fill="#d62728">backlog (visible)</text>"##,
        LEFT + 10.0,
        TOP + 16.0,
        LEFT + 80.0,
        TOP + 16.0
    );
    out.push_str("</svg>\n");
    out
}
