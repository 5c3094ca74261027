//! `ebbflow redrive`: dead letters back to where they failed.
//!
//! The move itself is [`ebbflow_redrive`]'s, shared with `ebbflow serve`'s
//! message-move tasks: one message at a time, so Ctrl-C (looked at between
//! messages) stops it with every message in exactly one of the two queues.
//! Here: the arguments, a progress bar, and the summary.

use super::{duration_arg, Ctx};
use crate::args::RedriveArgs;
use crate::error::{CliError, Context};
use crate::output;
use ebbflow_redrive::{Filter, Progress, Redrive, Report};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

/// Reads `--rate 100` or `--rate 100/s` as messages per second.
fn rate(text: &str) -> Result<f64, CliError> {
    let number = text.strip_suffix("/s").unwrap_or(text);
    match number.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err(CliError::Usage(format!(
            "--rate {text}: expected messages per second above zero, for example 100/s"
        ))),
    }
}

/// How often the progress bar reads the redrive's counts.
const DRAW_EVERY: Duration = Duration::from_millis(100);

/// `ebbflow redrive DLQ [--to QUEUE] [--rate N/s] [--filter NAME=VALUE]`.
pub async fn redrive(ctx: &Ctx, args: RedriveArgs) -> Result<(), CliError> {
    let dlq = args.dlq.as_str();
    let redrive = Redrive {
        to: args.to.clone(),
        rate: args.rate.as_deref().map(rate).transpose()?,
        filters: args
            .filter
            .iter()
            .map(|f| f.parse::<Filter>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CliError::Usage(format!("--{e}")))?,
        visibility: duration_arg("--visibility-timeout", &args.visibility_timeout)?,
    };
    let b = &ctx.backend;
    let total = b
        .stats(dlq)
        .await
        .context(|| format!("reading queue {dlq}"))?
        .visible;
    let bar = if ctx.json() {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    };
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} moved · {per_sec} · {msg}")
    {
        bar.set_style(style);
    }
    let progress = Progress::default();
    let run = redrive.run(b.as_ref(), dlq, &progress);
    tokio::pin!(run);
    let mut draw = tokio::time::interval(DRAW_EVERY);
    let result = loop {
        tokio::select! {
            result = &mut run => break result,
            () = ctx.interrupt.wait(), if !progress.stop_requested() => progress.stop(),
            _ = draw.tick() => {
                bar.set_position(progress.moved());
                bar.set_message(format!("{} left alone", progress.left_alone()));
            }
        }
    };
    bar.finish_and_clear();
    let report = result.map_err(|e| CliError::Queue {
        context: e.context,
        source: e.source,
    })?;
    summarize(ctx, dlq, &report);
    if report.stopped {
        return Err(CliError::Interrupted(format!(
            "moved {}; every other message is still in {dlq}",
            report.moved()
        )));
    }
    if !report.failed.is_empty() || !report.in_both_queues.is_empty() {
        return Err(CliError::Input(format!(
            "{} messages could not move and stay in {dlq}; {} are in both queues",
            report.failed.len(),
            report.in_both_queues.len()
        )));
    }
    Ok(())
}

fn summarize(ctx: &Ctx, dlq: &str, report: &Report) {
    let moved: u64 = report.moved();
    if ctx.json() {
        let failed: Vec<serde_json::Value> = report
            .failed
            .iter()
            .map(|(id, e)| serde_json::json!({"message_id": id, "error": e}))
            .collect();
        output::json(&serde_json::json!({
            "dead_letter_queue": dlq,
            "moved": moved,
            "moved_to": report.moved_to,
            "filtered_out": report.filtered_out,
            "no_source": report.no_source,
            "failed": failed,
            "in_both_queues": report.in_both_queues,
        }));
        return;
    }
    let to: Vec<String> = report
        .moved_to
        .iter()
        .map(|(q, n)| format!("{n} to {q}"))
        .collect();
    println!(
        "redrive of {dlq}: moved {moved}{}",
        if to.is_empty() {
            String::new()
        } else {
            format!(" ({})", to.join(", "))
        }
    );
    if report.filtered_out > 0 {
        println!(
            "  {} did not match the filter and stay in {dlq}",
            report.filtered_out
        );
    }
    if report.no_source > 0 {
        println!(
            "  {} have no known source queue and stay in {dlq} (use --to QUEUE)",
            report.no_source
        );
    }
    for (id, e) in &report.failed {
        println!("  {id} stays in {dlq}: {e}");
    }
    for id in &report.in_both_queues {
        println!("  {id} was sent but could not be deleted from {dlq}: it is in both queues");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_read_with_or_without_per_second() {
        assert_eq!(rate("100/s").unwrap(), 100.0);
        assert_eq!(rate("4").unwrap(), 4.0);
        for bad in ["0", "-1", "fast", "inf"] {
            assert_eq!(rate(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }
}
