//! `ebbflow rekey [QUEUE…]`: seals every message again with the newest key
//! of `[backend] encryption_key_file`, so an older key can leave the file.

use super::Ctx;
use crate::error::{CliError, Context};
use crate::output;

/// Messages a step looks at.
const STEP: u32 = 500;

/// What one queue's run did.
#[derive(Debug, Default, serde::Serialize)]
struct Done {
    queue: String,
    looked_at: u64,
    resealed: u64,
    skipped: u64,
}

/// Seals `queues` again (every queue when none is named); after every queue
/// is done with nothing skipped, the engine forgets that older keys sealed
/// anything here. Ctrl-C stops between steps; a run again redoes nothing
/// already sealed with the newest key.
pub async fn rekey(ctx: &Ctx, queues: Vec<String>) -> Result<(), CliError> {
    let every = queues.is_empty();
    let queues = if every {
        ctx.backend
            .list_queues(None)
            .await
            .context(|| "listing queues".to_owned())?
    } else {
        queues
    };
    let mut done = Vec::with_capacity(queues.len());
    for queue in queues {
        let mut run = Done {
            queue: queue.clone(),
            ..Done::default()
        };
        let mut after: Option<String> = None;
        loop {
            if ctx.interrupt.is_set() {
                report(ctx, &done, None);
                return Err(CliError::Interrupted(format!(
                    "rekey stopped in {queue}; run it again to go on"
                )));
            }
            let page = ctx
                .backend
                .rekey(&queue, after.as_deref(), STEP)
                .await
                .context(|| format!("sealing {queue} again"))?;
            run.looked_at += page.looked_at;
            run.resealed += page.resealed;
            run.skipped += page.skipped;
            after = page.next;
            if after.is_none() {
                break;
            }
        }
        done.push(run);
    }
    let retired = if every && done.iter().all(|d| d.skipped == 0) {
        Some(
            ctx.backend
                .retire_older_keys()
                .await
                .context(|| "forgetting the older keys".to_owned())?,
        )
    } else {
        None
    };
    report(ctx, &done, retired.as_deref());
    Ok(())
}

fn report(ctx: &Ctx, done: &[Done], retired: Option<&[String]>) {
    if ctx.json() {
        output::json(&serde_json::json!({ "queues": done, "retired_keys": retired }));
        return;
    }
    for d in done {
        println!(
            "{}: {} sealed again of {} looked at{}",
            d.queue,
            d.resealed,
            d.looked_at,
            if d.skipped > 0 {
                format!(", {} changed meanwhile (run again)", d.skipped)
            } else {
                String::new()
            }
        );
    }
    match retired {
        Some([]) => println!("every queue is sealed with the newest key"),
        Some(ids) => println!(
            "every queue is sealed with the newest key; the engine no longer asks for key(s) {}: they may leave the key file",
            ids.join(", ")
        ),
        None => {}
    }
}
