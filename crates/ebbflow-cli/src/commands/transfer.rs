//! `ebbflow export` and `ebbflow import`: a queue as JSON lines, to move it
//! between backends or keep a copy.
//!
//! An import records after each acknowledged batch how far into the file it
//! got (`FILE.import-progress`); run again after an interruption, it starts
//! from there, so nothing is sent twice. The one gap is a crash between a
//! batch's acknowledgement and the progress write: on a FIFO queue the
//! messages keep their deduplication ids, so the repeat is dropped (within
//! SQS's five minutes); on a standard queue that one batch (at most ten
//! messages) can arrive twice. Ctrl-C waits for the batch under way, so it
//! never leaves that gap.

use super::Ctx;
use crate::error::{CliError, Context};
use crate::record::Record;
use ebbflow::{BrowseRequest, QueueError, ReceiveRequest, SendBatchEntry, MAX_BROWSE_LIMIT};
use serde::{Deserialize, Serialize};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `ebbflow export QUEUE [--file F]`.
pub async fn export(ctx: &Ctx, queue: &str, file: Option<&Path>) -> Result<(), CliError> {
    // A file is written beside its name and renamed when complete, so a
    // partial export never looks like a whole one.
    let partial = file.map(|f| {
        let mut name = f.as_os_str().to_owned();
        name.push(".partial");
        PathBuf::from(name)
    });
    let mut out: BufWriter<Box<dyn Write>> = match &partial {
        Some(p) => BufWriter::new(Box::new(std::fs::File::create(p).map_err(io(p))?)),
        None => BufWriter::new(Box::new(std::io::stdout().lock())),
    };
    let label = partial.clone().unwrap_or_else(|| "stdout".into());
    let mut write = |r: &Record| -> Result<(), CliError> {
        let line = serde_json::to_string(r).map_err(|e| CliError::Input(e.to_string()))?;
        writeln!(out, "{line}").map_err(io(&label))
    };
    let mut count = 0u64;
    let mut request = BrowseRequest::new(MAX_BROWSE_LIMIT);
    loop {
        if ctx.interrupt.is_set() {
            return Err(CliError::Interrupted(format!(
                "exported {count} messages; the export is incomplete"
            )));
        }
        let page = match ctx.backend.browse(queue, request.clone()).await {
            Ok(page) => page,
            Err(QueueError::UnsupportedOperation { .. }) => {
                count = export_by_receiving(ctx, queue, &mut write).await?;
                break;
            }
            Err(e) => {
                return Err(CliError::Queue {
                    context: format!("reading {queue}"),
                    source: e,
                })
            }
        };
        for m in &page.messages {
            write(&Record::from(m))?;
            count += 1;
        }
        match page.next {
            Some(cursor) => request = request.after(cursor),
            None => break,
        }
    }
    out.flush().map_err(io(&label))?;
    drop(out);
    if let (Some(partial), Some(file)) = (partial, file) {
        std::fs::rename(&partial, file).map_err(io(file))?;
    }
    eprintln!("exported {count} messages from {queue}");
    Ok(())
}

/// An export where the backend cannot browse (Amazon SQS): every message is
/// received once, hidden while the export runs, then made visible again.
async fn export_by_receiving(
    ctx: &Ctx,
    queue: &str,
    write: &mut impl FnMut(&Record) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    eprintln!(
        "note: this backend has no way to look without receiving: each message is received \
         once (its receive count goes up by one), hidden while the export runs, then made \
         visible again"
    );
    let mut handles = Vec::new();
    let result = async {
        loop {
            let request = ReceiveRequest::new(10)
                .visibility_timeout(Duration::from_secs(15 * 60))
                .wait(Duration::from_secs(1));
            let got = ctx
                .backend
                .receive(queue, request)
                .await
                .context(|| format!("receiving from {queue}"))?;
            if got.is_empty() || ctx.interrupt.is_set() {
                return Ok::<u64, CliError>(handles.len() as u64);
            }
            for m in &got {
                handles.push(m.receipt_handle.clone());
                write(&Record {
                    receipt_handle: None,
                    ..Record::from(m)
                })?;
            }
        }
    }
    .await;
    // Best effort: what is not released returns when its visibility timeout ends.
    let _ = super::release(ctx, queue, handles).await;
    result
}

/// How far an import of one file into one queue got.
#[derive(Debug, Serialize, Deserialize)]
struct Progress {
    queue: String,
    lines_done: usize,
}

fn progress_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".import-progress");
    PathBuf::from(name)
}

fn save_progress(path: &Path, progress: &Progress) -> Result<(), CliError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_string(progress).map_err(|e| CliError::Input(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// `ebbflow import QUEUE FILE [--restart]`.
pub async fn import(ctx: &Ctx, queue: &str, file: &Path, restart: bool) -> Result<(), CliError> {
    let fifo = ctx
        .backend
        .get_queue_attributes(queue)
        .await
        .context(|| format!("reading queue {queue}"))?
        .fifo;
    let stdin = file == Path::new("-");
    let text = if stdin {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(io(file))?;
        text
    } else {
        std::fs::read_to_string(file).map_err(io(file))?
    };
    let progress_file = (!stdin).then(|| progress_path(file));
    let mut done = 0usize;
    if let Some(path) = progress_file.as_deref().filter(|p| p.exists() && !restart) {
        let saved: Progress = std::fs::read_to_string(path)
            .map_err(io(path))
            .and_then(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
            })?;
        if saved.queue != queue {
            return Err(CliError::Usage(format!(
                "{} records an import of this file into {}, not {queue}; pass --restart to start over",
                path.display(),
                saved.queue
            )));
        }
        done = saved.lines_done;
        eprintln!("resuming after line {done} ({})", path.display());
    }
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(n, l)| *n > done && !l.trim().is_empty())
        .collect();
    let (mut sent, mut failed) = (0u64, Vec::new());
    for chunk in lines.chunks(ebbflow::limits::MAX_BATCH_ENTRIES) {
        if ctx.interrupt.is_set() {
            return Err(CliError::Interrupted(format!(
                "imported {sent} messages, up to line {done}; run the same command again to go on"
            )));
        }
        let mut entries = Vec::with_capacity(chunk.len());
        for (n, line) in chunk {
            let record = Record::parse(line, *n)?;
            entries.push(SendBatchEntry {
                id: format!("l{n}"),
                message: record.to_send(fifo, *n)?,
            });
        }
        let last = chunk[chunk.len() - 1].0;
        let result = ctx
            .backend
            .send_batch(queue, entries)
            .await
            .context(|| format!("sending lines {}–{last} to {queue}", chunk[0].0))?;
        sent += result.successful.len() as u64;
        failed.extend(
            result
                .failed
                .into_iter()
                .map(|f| (f.id[1..].to_owned(), f.error)),
        );
        done = last;
        if let Some(path) = &progress_file {
            save_progress(
                path,
                &Progress {
                    queue: queue.to_owned(),
                    lines_done: done,
                },
            )?;
        }
    }
    if let Some(path) = &progress_file {
        if path.exists() {
            std::fs::remove_file(path).map_err(io(path))?;
        }
    }
    super::report_lines(ctx, queue, "imported", "into", sent, &failed)
}
