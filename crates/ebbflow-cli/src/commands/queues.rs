//! `ebbflow queues`, `ebbflow queue …` and `ebbflow purge`.

use super::{confirm, duration_arg, Ctx};
use crate::args::QueueCommand;
use crate::attributes;
use crate::error::{CliError, Context};
use crate::output::{self, Table};
use ebbflow::{QueueAttributes, QueueStats};
use std::collections::BTreeMap;

/// One queue's line of `ebbflow queues`.
struct Row {
    name: String,
    attributes: QueueAttributes,
    stats: QueueStats,
}

async fn rows(ctx: &Ctx, prefix: Option<&str>) -> Result<Vec<Row>, CliError> {
    let names = ctx
        .backend
        .list_queues(prefix)
        .await
        .context(|| "listing queues".to_owned())?;
    // History queues (`[history]`) belong to their queue: listed only when
    // the prefix names them.
    let shown = |name: &String| {
        !ebbflow::history::is_history_queue(name)
            || prefix.is_some_and(ebbflow::history::is_history_queue)
    };
    let names: Vec<String> = names.into_iter().filter(shown).collect();
    let mut rows = Vec::with_capacity(names.len());
    for name in names {
        let attributes = ctx.backend.get_queue_attributes(&name).await;
        let stats = ctx.backend.stats(&name).await;
        match (attributes, stats) {
            (Ok(attributes), Ok(stats)) => rows.push(Row {
                name,
                attributes,
                stats,
            }),
            // Deleted between the listing and now: not a queue any more.
            (Err(ebbflow::QueueError::QueueDoesNotExist(_)), _)
            | (_, Err(ebbflow::QueueError::QueueDoesNotExist(_))) => {}
            (Err(e), _) | (_, Err(e)) => {
                return Err(CliError::Queue {
                    context: format!("reading queue {name}"),
                    source: e,
                })
            }
        }
    }
    Ok(rows)
}

/// "paused" with its reason (cut to a column's width), or nothing.
fn state(paused: Option<&ebbflow::Pause>) -> String {
    const SHOWN: usize = 40;
    match paused.map(|p| p.reason.as_deref()) {
        None => String::new(),
        Some(None) => "paused".to_owned(),
        Some(Some(reason)) if reason.chars().count() > SHOWN => {
            format!(
                "paused: {}…",
                reason.chars().take(SHOWN).collect::<String>()
            )
        }
        Some(Some(reason)) => format!("paused: {reason}"),
    }
}

fn render(ctx: &Ctx, rows: &[Row]) -> String {
    let mut sources: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in rows {
        if let Some(p) = &r.attributes.redrive_policy {
            sources
                .entry(p.dead_letter_queue.as_str())
                .or_default()
                .push(&r.name);
        }
    }
    if ctx.json() {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "queue": r.name,
                    "fifo": r.attributes.fifo,
                    "visible": r.stats.visible,
                    "in_flight": r.stats.in_flight,
                    "delayed": r.stats.delayed,
                    "oldest_age_seconds": r.stats.oldest_message_age.map(|d| d.as_secs_f64()),
                    "dead_letter_queue": r.attributes.redrive_policy.as_ref().map(|p| &p.dead_letter_queue),
                    "dead_letter_sources": sources.get(r.name.as_str()).cloned().unwrap_or_default(),
                    "paused": r.attributes.paused,
                })
            })
            .collect();
        return format!("{}\n", serde_json::Value::Array(list));
    }
    let mut t = Table::new([
        "QUEUE",
        "TYPE",
        "VISIBLE",
        "IN FLIGHT",
        "DELAYED",
        "OLDEST",
        "DEAD LETTERS",
        "STATE",
    ]);
    for r in rows {
        let dead_letters = match (sources.get(r.name.as_str()), &r.attributes.redrive_policy) {
            (Some(from), _) => format!("DLQ of {}", from.join(", ")),
            (None, Some(p)) => format!("→ {} after {}", p.dead_letter_queue, p.max_receive_count),
            (None, None) => String::new(),
        };
        t.row([
            r.name.clone(),
            if r.attributes.fifo {
                "fifo"
            } else {
                "standard"
            }
            .to_owned(),
            r.stats.visible.to_string(),
            r.stats.in_flight.to_string(),
            r.stats.delayed.to_string(),
            output::age(r.stats.oldest_message_age),
            dead_letters,
            state(r.attributes.paused.as_ref()),
        ]);
    }
    if t.is_empty() {
        return "no queues\n".to_owned();
    }
    t.to_string()
}

/// `ebbflow queues [--prefix P] [--watch [INTERVAL]]`.
pub async fn list(ctx: &Ctx, prefix: Option<&str>, watch: Option<&str>) -> Result<(), CliError> {
    let Some(interval) = watch else {
        print!("{}", render(ctx, &rows(ctx, prefix).await?));
        return Ok(());
    };
    let interval = duration_arg("--watch", interval)?;
    if interval.is_zero() {
        return Err(CliError::Usage(
            "--watch 0s: the interval must be above zero".to_owned(),
        ));
    }
    loop {
        let text = render(ctx, &rows(ctx, prefix).await?);
        if ctx.json() {
            print!("{text}");
        } else {
            // Home the cursor and clear the screen, so the table refreshes in place.
            print!(
                "\x1b[H\x1b[2J{text}\nevery {} · Ctrl-C to stop\n",
                output::duration(interval)
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = ctx.interrupt.wait() => return Ok(()),
        }
    }
}

/// `ebbflow queue create|delete|attributes|set`.
pub async fn queue(
    ctx: &Ctx,
    command: QueueCommand,
    config: &ebbflow::config::Config,
) -> Result<(), CliError> {
    let b = &ctx.backend;
    match command {
        QueueCommand::Create { name, attributes } => {
            // A queue the file declares starts from its declared settings.
            let base = match config.queues.get(&name) {
                Some(declared) => declared.attributes(&name),
                None if name.ends_with(ebbflow::limits::FIFO_SUFFIX) => QueueAttributes::fifo(),
                None => QueueAttributes::standard(),
            };
            let attrs = attributes::parse(&attributes)?.apply(&base);
            let url = b
                .create_queue(&name, attrs)
                .await
                .context(|| format!("creating queue {name}"))?;
            report(ctx, serde_json::json!({"queue": name, "url": url}), || {
                format!("created {name} ({url})")
            });
        }
        QueueCommand::Delete { name, yes } => {
            let count = b
                .stats(&name)
                .await
                .context(|| format!("reading queue {name}"))?
                .total();
            if !yes && !confirm(&format!("Delete queue {name} and its {count} messages?"))? {
                return Err(CliError::Usage("not confirmed; nothing deleted".to_owned()));
            }
            b.delete_queue(&name)
                .await
                .context(|| format!("deleting queue {name}"))?;
            report(
                ctx,
                serde_json::json!({"queue": name, "deleted": true}),
                || format!("deleted {name}"),
            );
        }
        QueueCommand::Attributes { name } => {
            let attrs = b
                .get_queue_attributes(&name)
                .await
                .context(|| format!("reading queue {name}"))?;
            let stats = b
                .stats(&name)
                .await
                .context(|| format!("reading queue {name}"))?;
            let mut pairs = attributes::describe(&attrs);
            pairs.push(("ApproximateNumberOfMessages", stats.visible.to_string()));
            pairs.push((
                "ApproximateNumberOfMessagesNotVisible",
                stats.in_flight.to_string(),
            ));
            pairs.push((
                "ApproximateNumberOfMessagesDelayed",
                stats.delayed.to_string(),
            ));
            if ctx.json() {
                let map: serde_json::Map<String, serde_json::Value> = pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v)))
                    .collect();
                output::json(&serde_json::json!({"queue": name, "attributes": map}));
            } else {
                let mut t = Table::new(["ATTRIBUTE", "VALUE"]);
                for (k, v) in pairs {
                    t.row([k.to_owned(), v]);
                }
                print!("{t}");
            }
        }
        QueueCommand::Set { name, attributes } => {
            let update = attributes::parse(&attributes)?;
            b.set_queue_attributes(&name, update)
                .await
                .context(|| format!("changing queue {name}"))?;
            report(
                ctx,
                serde_json::json!({"queue": name, "changed": attributes}),
                || format!("changed {name}: {}", attributes.join(" ")),
            );
        }
    }
    Ok(())
}

/// `ebbflow purge QUEUE [--yes]`.
pub async fn purge(ctx: &Ctx, queue: &str, yes: bool) -> Result<(), CliError> {
    let count = ctx
        .backend
        .stats(queue)
        .await
        .context(|| format!("reading queue {queue}"))?
        .total();
    if !yes && !confirm(&format!("Purge {count} messages from {queue}?"))? {
        return Err(CliError::Usage("not confirmed; nothing purged".to_owned()));
    }
    ctx.backend
        .purge(queue)
        .await
        .context(|| format!("purging {queue}"))?;
    report(
        ctx,
        serde_json::json!({"queue": queue, "purged": count}),
        || format!("purged {queue} ({count} messages)"),
    );
    Ok(())
}

/// `ebbflow pause QUEUE [--reason TEXT]`: the flag every consuming runtime
/// reads at its tick; `by` is the user running the command, when the
/// environment names one that fits.
pub async fn pause(ctx: &Ctx, queue: &str, reason: Option<String>) -> Result<(), CliError> {
    let by = std::env::var("USER")
        .ok()
        .filter(|u| ebbflow::Pause::new(None, Some(u.clone())).is_ok());
    let pause =
        ebbflow::Pause::new(reason, by).map_err(|e| CliError::Usage(format!("--reason: {e}")))?;
    set_pause(ctx, queue, Some(pause.clone())).await?;
    report(
        ctx,
        serde_json::json!({"queue": queue, "paused": pause}),
        || {
            format!(
                "paused {queue}: every runtime consuming it stops receiving within a tick;                  messages in hand finish (`ebbflow resume {queue}` to undo)"
            )
        },
    );
    Ok(())
}

/// `ebbflow resume QUEUE`.
pub async fn resume(ctx: &Ctx, queue: &str) -> Result<(), CliError> {
    let was = ctx
        .backend
        .get_queue_attributes(queue)
        .await
        .context(|| format!("reading queue {queue}"))?
        .paused;
    set_pause(ctx, queue, None).await?;
    report(
        ctx,
        serde_json::json!({"queue": queue, "paused": null, "was_paused": was.is_some()}),
        || match was {
            Some(_) => format!("resumed {queue}: its consumers receive again within a tick"),
            None => format!("{queue} was not paused"),
        },
    );
    Ok(())
}

async fn set_pause(ctx: &Ctx, queue: &str, pause: Option<ebbflow::Pause>) -> Result<(), CliError> {
    let what = if pause.is_some() {
        "pausing"
    } else {
        "resuming"
    };
    let update = ebbflow::QueueAttributesUpdate {
        pause: Some(pause),
        ..Default::default()
    };
    ctx.backend
        .set_queue_attributes(queue, update)
        .await
        .context(|| format!("{what} {queue}"))
}

/// Prints one result: the JSON for scripts, the sentence for people.
pub fn report(ctx: &Ctx, json: serde_json::Value, text: impl FnOnce() -> String) {
    if ctx.json() {
        output::json(&json);
    } else {
        println!("{}", text());
    }
}
