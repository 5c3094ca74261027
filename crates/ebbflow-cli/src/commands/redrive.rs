//! `ebbflow redrive`: dead letters back to where they failed.
//!
//! Each message moves on its own: received from the dead-letter queue (hidden
//! there meanwhile), sent to its destination, then deleted from the
//! dead-letter queue. Ctrl-C is looked at between messages only, so it stops
//! the redrive with every message in exactly one of the two queues. Messages
//! left alone (filtered out, or with no known source) are hidden while the
//! redrive runs, so that it reaches the end, and made visible again when it stops.

use super::look::DeadLetter;
use super::{duration_arg, Ctx};
use crate::args::RedriveArgs;
use crate::error::{CliError, Context};
use crate::output;
use crate::record::Record;
use ebbflow::{ReceiveRequest, SendMessage};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The attributes the runtime adds when it dead-letters a message; a
/// redriven message goes back without them, as it was first sent.
const DEAD_LETTER_ATTRIBUTES: [&str; 7] = [
    "ebbflow.reason",
    "ebbflow.error",
    "ebbflow.source_queue",
    "ebbflow.attempts",
    "ebbflow.receive_count",
    "ebbflow.failed_at",
    "ebbflow.dead_letter",
];

/// `--filter reason=permanent`: which messages move.
struct Filter {
    name: String,
    value: String,
}

impl Filter {
    fn parse(text: &str) -> Result<Self, CliError> {
        let (name, value) = text.split_once('=').ok_or_else(|| {
            CliError::Usage(format!(
                "--filter {text}: expected NAME=VALUE, for example reason=permanent"
            ))
        })?;
        Ok(Filter {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }

    fn matches(&self, r: &Record, why: &DeadLetter) -> bool {
        let found = match self.name.as_str() {
            "reason" => Some(why.reason.as_str()),
            "error" => Some(why.error.as_str()),
            "source_queue" | "source" => why.source.as_deref(),
            name => r.text(name),
        };
        found == Some(self.value.as_str())
    }
}

/// Reads `--rate 100` or `--rate 100/s` as the pause between two messages.
fn pace(text: &str) -> Result<Duration, CliError> {
    let number = text.strip_suffix("/s").unwrap_or(text);
    match number.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(Duration::from_secs_f64(1.0 / rate)),
        _ => Err(CliError::Usage(format!(
            "--rate {text}: expected messages per second above zero, for example 100/s"
        ))),
    }
}

/// What the redrive did, for the summary.
#[derive(Default)]
struct Tally {
    moved: BTreeMap<String, u64>,
    filtered_out: u64,
    no_source: u64,
    failed: Vec<(String, String)>,
    doubled: Vec<String>,
}

/// `ebbflow redrive DLQ [--to QUEUE] [--rate N/s] [--filter NAME=VALUE]`.
pub async fn redrive(ctx: &Ctx, args: RedriveArgs) -> Result<(), CliError> {
    let dlq = args.dlq.as_str();
    let filters = args
        .filter
        .iter()
        .map(|f| Filter::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    let pause = args.rate.as_deref().map(pace).transpose()?;
    let visibility = duration_arg("--visibility-timeout", &args.visibility_timeout)?;
    let b = &ctx.backend;
    let sources = b
        .list_dead_letter_source_queues(dlq)
        .await
        .context(|| format!("reading queue {dlq}"))?;
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

    let mut fifo_of: HashMap<String, bool> = HashMap::new();
    let mut held: HashMap<String, String> = HashMap::new();
    let mut tally = Tally::default();
    let mut interrupted = false;
    'receiving: loop {
        if ctx.interrupt.is_set() {
            interrupted = true;
            break;
        }
        let request = ReceiveRequest::new(10)
            .visibility_timeout(visibility)
            .wait(Duration::ZERO);
        let got = b
            .receive(dlq, request)
            .await
            .context(|| format!("receiving from {dlq}"))?;
        if got.is_empty() {
            break;
        }
        for (i, m) in got.iter().enumerate() {
            if ctx.interrupt.is_set() {
                // Not started: these stay in the dead-letter queue.
                held.extend(
                    got[i..]
                        .iter()
                        .map(|m| (m.message_id.clone(), m.receipt_handle.clone())),
                );
                interrupted = true;
                break 'receiving;
            }
            let record = Record::from(m);
            let why = DeadLetter::of(&record);
            if !filters.iter().all(|f| f.matches(&record, &why)) {
                tally.filtered_out += 1;
                held.insert(m.message_id.clone(), m.receipt_handle.clone());
                continue;
            }
            let destination = match (&args.to, &why.source, sources.as_slice()) {
                (Some(to), _, _) => to.clone(),
                (None, Some(source), _) => source.clone(),
                (None, None, [only]) => only.clone(),
                (None, None, _) => {
                    tally.no_source += 1;
                    held.insert(m.message_id.clone(), m.receipt_handle.clone());
                    continue;
                }
            };
            let fifo = match fifo_of.get(&destination) {
                Some(fifo) => *fifo,
                None => {
                    let attrs = b
                        .get_queue_attributes(&destination)
                        .await
                        .context(|| format!("reading queue {destination}"))?;
                    fifo_of.insert(destination.clone(), attrs.fifo);
                    attrs.fifo
                }
            };
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
            let mut message = SendMessage {
                body: m.body.clone(),
                attributes: m.attributes.clone(),
                ..SendMessage::default()
            };
            message
                .attributes
                .retain(|name, _| !DEAD_LETTER_ATTRIBUTES.contains(&name.as_str()));
            if fifo {
                message.group_id = Some(
                    m.system
                        .message_group_id
                        .clone()
                        .unwrap_or_else(|| "default".to_owned()),
                );
                // A fresh id: the original one may still be inside the destination's
                // five-minute window, which would drop the message as a duplicate.
                message.deduplication_id = Some(format!("redrive-{}", m.message_id));
            }
            if let Err(e) = b.send(&destination, message).await {
                tally.failed.push((
                    m.message_id.clone(),
                    format!("sending to {destination}: {e}"),
                ));
                held.insert(m.message_id.clone(), m.receipt_handle.clone());
                continue;
            }
            match b.delete(dlq, &m.receipt_handle).await {
                Ok(()) => {}
                Err(e) => {
                    // Its visibility ran out before the delete: it is in both queues now.
                    tally.doubled.push(format!("{} ({e})", m.message_id));
                }
            }
            *tally.moved.entry(destination).or_default() += 1;
            bar.inc(1);
            bar.set_message(format!(
                "{} left alone",
                tally.filtered_out + tally.no_source
            ));
        }
    }
    bar.finish_and_clear();
    super::release(ctx, dlq, held.into_values().collect()).await?;
    summarize(ctx, dlq, &tally);
    let moved: u64 = tally.moved.values().sum();
    if interrupted {
        return Err(CliError::Interrupted(format!(
            "moved {moved}; every other message is still in {dlq}"
        )));
    }
    if !tally.failed.is_empty() || !tally.doubled.is_empty() {
        return Err(CliError::Input(format!(
            "{} messages could not move and stay in {dlq}; {} are in both queues",
            tally.failed.len(),
            tally.doubled.len()
        )));
    }
    Ok(())
}

fn summarize(ctx: &Ctx, dlq: &str, tally: &Tally) {
    let moved: u64 = tally.moved.values().sum();
    if ctx.json() {
        let failed: Vec<serde_json::Value> = tally
            .failed
            .iter()
            .map(|(id, e)| serde_json::json!({"message_id": id, "error": e}))
            .collect();
        output::json(&serde_json::json!({
            "dead_letter_queue": dlq,
            "moved": moved,
            "moved_to": tally.moved,
            "filtered_out": tally.filtered_out,
            "no_source": tally.no_source,
            "failed": failed,
            "in_both_queues": tally.doubled,
        }));
        return;
    }
    let to: Vec<String> = tally
        .moved
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
    if tally.filtered_out > 0 {
        println!(
            "  {} did not match the filter and stay in {dlq}",
            tally.filtered_out
        );
    }
    if tally.no_source > 0 {
        println!(
            "  {} have no known source queue and stay in {dlq} (use --to QUEUE)",
            tally.no_source
        );
    }
    for (id, e) in &tally.failed {
        println!("  {id} stays in {dlq}: {e}");
    }
    for id in &tally.doubled {
        println!("  {id} was sent but could not be deleted from {dlq}: it is in both queues");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_read_with_or_without_per_second() {
        assert_eq!(pace("100/s").unwrap(), Duration::from_millis(10));
        assert_eq!(pace("4").unwrap(), Duration::from_millis(250));
        for bad in ["0", "-1", "fast", "inf"] {
            assert_eq!(pace(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }
}
