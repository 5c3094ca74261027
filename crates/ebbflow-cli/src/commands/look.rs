//! `ebbflow peek`, `ebbflow dlq` and `ebbflow receive`.

use super::{duration_arg, Ctx};
use crate::error::{CliError, Context};
use crate::output::{self, plural, Table};
use crate::record::Record;
use ebbflow::{BrowseRequest, QueueError, ReceiveRequest, MAX_BROWSE_LIMIT};
use ebbflow_redrive::DeadLetter;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the output says when a backend cannot look without receiving.
const RECEIVED_NOT_BROWSED: &str = "this backend has no way to look without receiving: \
     these messages were received with visibility timeout 0, so they stay visible but \
     their receive counts went up by one";

/// Up to `limit` messages in queue order, without receiving them where the
/// backend can browse; elsewhere (Amazon SQS) one receive with visibility 0,
/// and the note that says so.
pub async fn look(
    ctx: &Ctx,
    queue: &str,
    limit: u32,
) -> Result<(Vec<Record>, Option<&'static str>), CliError> {
    let mut records = Vec::new();
    let mut request = BrowseRequest::new(limit.clamp(1, MAX_BROWSE_LIMIT));
    loop {
        let page = match ctx.backend.browse(queue, request.clone()).await {
            Ok(page) => page,
            Err(QueueError::UnsupportedOperation { .. }) => {
                let receive =
                    ReceiveRequest::new(limit.clamp(1, ebbflow::limits::MAX_BATCH_ENTRIES as u32))
                        .visibility_timeout(Duration::ZERO)
                        .wait(Duration::from_secs(1));
                let got = ctx
                    .backend
                    .receive(queue, receive)
                    .await
                    .context(|| format!("receiving from {queue}"))?;
                let records = got
                    .iter()
                    .map(|m| Record {
                        receipt_handle: None,
                        ..Record::from(m)
                    })
                    .collect();
                return Ok((records, Some(RECEIVED_NOT_BROWSED)));
            }
            Err(e) => {
                return Err(CliError::Queue {
                    context: format!("looking at {queue}"),
                    source: e,
                })
            }
        };
        records.extend(page.messages.iter().map(Record::from));
        match page.next {
            Some(cursor) if records.len() < limit as usize => {
                let left = (limit as usize - records.len()) as u32;
                request = BrowseRequest::new(left.min(MAX_BROWSE_LIMIT)).after(cursor);
            }
            _ => break,
        }
    }
    records.truncate(limit as usize);
    Ok((records, None))
}

fn sent_age(sent_ms: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    if sent_ms == 0 {
        return "-".to_owned();
    }
    format!(
        "{} ago",
        output::age(Some(Duration::from_millis(now.saturating_sub(sent_ms))))
    )
}

fn print_records(ctx: &Ctx, queue: &str, records: &[Record], note: Option<&str>) {
    if ctx.json() {
        output::json(&serde_json::json!({"queue": queue, "messages": records, "note": note}));
        return;
    }
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    if records.is_empty() {
        println!("{queue}: no messages");
        return;
    }
    let mut t = Table::new(["MESSAGE ID", "STATE", "RECEIVES", "SENT", "GROUP", "BODY"]);
    for r in records {
        t.row([
            r.message_id.clone(),
            r.state.clone().unwrap_or_else(|| "visible".to_owned()),
            r.receive_count.to_string(),
            sent_age(r.sent_timestamp),
            r.group_id.clone().unwrap_or_else(|| "-".to_owned()),
            output::snippet(&r.body, 60),
        ]);
    }
    print!("{t}");
}

/// `ebbflow peek QUEUE [-n N]`.
pub async fn peek(ctx: &Ctx, queue: &str, limit: u32) -> Result<(), CliError> {
    let (records, note) = look(ctx, queue, limit).await?;
    print_records(ctx, queue, &records, note);
    Ok(())
}

/// Why a record is in a dead-letter queue, read as a redrive reads it.
fn dead_letter(r: &Record) -> DeadLetter {
    DeadLetter::read(|name| r.text(name), r.dead_letter_source_arn.as_deref())
}

/// `ebbflow dlq QUEUE [-n N]`.
pub async fn dlq(ctx: &Ctx, queue: &str, limit: u32) -> Result<(), CliError> {
    let sources = ctx
        .backend
        .list_dead_letter_source_queues(queue)
        .await
        .context(|| format!("reading queue {queue}"))?;
    let (records, note) = look(ctx, queue, limit).await?;
    if ctx.json() {
        let messages: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                let why = dead_letter(r);
                serde_json::json!({"message": r, "reason": why.reason, "error": why.error, "source_queue": why.source})
            })
            .collect();
        output::json(
            &serde_json::json!({"queue": queue, "sources": sources, "messages": messages, "note": note}),
        );
        return Ok(());
    }
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    let of = if sources.is_empty() {
        "no queue names it as its dead-letter queue".to_owned()
    } else {
        format!("dead-letter queue of {}", sources.join(", "))
    };
    println!("{queue}: {} shown ({of})", plural(records.len(), "message"));
    if records.is_empty() {
        return Ok(());
    }
    let mut t = Table::new(["MESSAGE ID", "SOURCE", "REASON", "SENT", "ERROR", "BODY"]);
    for r in &records {
        let why = dead_letter(r);
        t.row([
            r.message_id.clone(),
            why.source.unwrap_or_else(|| "-".to_owned()),
            why.reason,
            sent_age(r.sent_timestamp),
            output::snippet(&why.error, 50),
            output::snippet(&r.body, 40),
        ]);
    }
    print!("{t}");
    Ok(())
}

/// `ebbflow receive QUEUE [-n N] [--wait D] [--visibility-timeout D] [--delete]`.
pub async fn receive(
    ctx: &Ctx,
    queue: &str,
    max: u32,
    wait: &str,
    visibility: Option<&str>,
    delete: bool,
) -> Result<(), CliError> {
    let mut request = ReceiveRequest::new(max).wait(duration_arg("--wait", wait)?);
    if let Some(v) = visibility {
        request = request.visibility_timeout(duration_arg("--visibility-timeout", v)?);
    }
    let got = ctx
        .backend
        .receive(queue, request)
        .await
        .context(|| format!("receiving from {queue}"))?;
    let records: Vec<Record> = got.iter().map(Record::from).collect();
    // Printed and flushed first: a message is deleted only once it has been
    // shown (a closed pipe, `| head -1`, deletes nothing it did not show).
    let text = if ctx.json() {
        format!(
            "{}\n",
            serde_json::json!({"queue": queue, "messages": records})
        )
    } else if records.is_empty() {
        format!("{queue}: nothing to receive\n")
    } else {
        let mut t = Table::new(["MESSAGE ID", "RECEIVES", "GROUP", "BODY", "RECEIPT HANDLE"]);
        for r in &records {
            t.row([
                r.message_id.clone(),
                r.receive_count.to_string(),
                r.group_id.clone().unwrap_or_else(|| "-".to_owned()),
                output::snippet(&r.body, 50),
                r.receipt_handle.clone().unwrap_or_default(),
            ]);
        }
        t.to_string()
    };
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            // Nothing deleted: what was received comes back when its
            // visibility timeout ends.
            return Err(CliError::Io {
                path: "stdout".into(),
                source: e,
            });
        }
    }
    if !delete {
        return Ok(());
    }
    let mut deleted = 0usize;
    for r in &records {
        if let Some(handle) = &r.receipt_handle {
            ctx.backend
                .delete(queue, handle)
                .await
                .context(|| {
                    format!(
                        "deleting {} from {queue} ({deleted} of the {} shown were deleted; the rest come back when their visibility timeout ends)",
                        r.message_id,
                        records.len()
                    )
                })?;
            deleted += 1;
        }
    }
    if !ctx.json() && deleted > 0 {
        eprintln!("deleted {}", output::plural(deleted, "message"));
    }
    Ok(())
}
