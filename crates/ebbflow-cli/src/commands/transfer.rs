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
use ebbflow::{
    BrowseRequest, QueueError, ReceiveRequest, SendBatchEntry, SendMessage, MAX_BROWSE_LIMIT,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
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
    // A file is written beside its name and renamed only when complete, so
    // a partial export (interrupted, failed) never looks like a whole one.
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

/// How long an export by receiving hides each message: past it, the first
/// messages would come back and be written twice.
const EXPORT_VISIBILITY: Duration = Duration::from_secs(15 * 60);

/// The time an export by receiving may take: its visibility timeout less
/// a margin for the last receive under way.
const EXPORT_DEADLINE: Duration = Duration::from_secs(14 * 60);

/// An export where the backend cannot browse (Amazon SQS): every message is
/// received once, hidden while the export runs, then made visible again. A
/// FIFO queue is refused (a received message blocks the rest of its group,
/// so the export would end at the first message of each group); a standard
/// queue's export must end before its first message could come back.
async fn export_by_receiving(
    ctx: &Ctx,
    queue: &str,
    write: &mut impl FnMut(&Record) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    let fifo = ctx
        .backend
        .get_queue_attributes(queue)
        .await
        .context(|| format!("reading queue {queue}"))?
        .fifo;
    if fifo {
        return Err(CliError::Usage(format!(
            "{queue} is a FIFO queue on a backend with no way to look without receiving: a \
             received message blocks the rest of its group until it is deleted, so an export \
             would end at the first message of each group; nothing was exported"
        )));
    }
    eprintln!(
        "note: this backend has no way to look without receiving: each message is received \
         once (its receive count goes up by one), hidden while the export runs, then made \
         visible again"
    );
    let started = tokio::time::Instant::now();
    let mut handles = Vec::new();
    let result = async {
        loop {
            if ctx.interrupt.is_set() {
                return Err(CliError::Interrupted(format!(
                    "exported {} messages; the export is incomplete",
                    handles.len()
                )));
            }
            if started.elapsed() > EXPORT_DEADLINE {
                return Err(CliError::Input(format!(
                    "exported {} messages in {} minutes, and the first would soon be visible \
                     again (received with a visibility timeout of {} minutes): the export cannot \
                     promise to be whole and is left incomplete",
                    handles.len(),
                    EXPORT_DEADLINE.as_secs() / 60,
                    EXPORT_VISIBILITY.as_secs() / 60
                )));
            }
            let request = ReceiveRequest::new(10)
                .visibility_timeout(EXPORT_VISIBILITY)
                .wait(Duration::from_secs(1));
            let got = ctx
                .backend
                .receive(queue, request)
                .await
                .context(|| format!("receiving from {queue}"))?;
            if got.is_empty() {
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

/// How far an import of one file into one queue got: every line up to
/// `lines_done` is in, and so are the lines of `done_after`; the rest (a
/// failed line among them) are sent again by the next run.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Progress {
    queue: String,
    lines_done: usize,
    #[serde(default)]
    done_after: BTreeSet<usize>,
}

impl Progress {
    fn is_done(&self, line: usize) -> bool {
        line <= self.lines_done || self.done_after.contains(&line)
    }

    /// Marks `line` in, moving `lines_done` up past every line in since.
    fn mark(&mut self, line: usize, blank: &dyn Fn(usize) -> bool) {
        self.done_after.insert(line);
        loop {
            let next = self.lines_done + 1;
            if self.done_after.remove(&next) || blank(next) {
                self.lines_done = next;
            } else {
                break;
            }
        }
    }
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

/// The deduplication id a FIFO import sends a record with whose id an
/// earlier line of the file already has: the same on every run (so a resumed
/// import stays idempotent), within SQS's 128 characters.
fn fresh_deduplication_id(id: &str, line: usize) -> String {
    let suffix = format!("~import-line-{line}");
    let keep: String = id.chars().take(128 - suffix.len()).collect();
    format!("{keep}{suffix}")
}

/// `ebbflow import QUEUE FILE [--restart] [--keep-deduplication-ids]`.
pub async fn import(
    ctx: &Ctx,
    queue: &str,
    file: &Path,
    restart: bool,
    keep_deduplication_ids: bool,
) -> Result<(), CliError> {
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
    let mut progress = Progress {
        queue: queue.to_owned(),
        ..Progress::default()
    };
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
        progress = saved;
        eprintln!(
            "resuming after line {}{} ({})",
            progress.lines_done,
            if progress.done_after.is_empty() {
                String::new()
            } else {
                format!(" and {} lines past it", progress.done_after.len())
            },
            path.display()
        );
    }
    let all: Vec<&str> = text.lines().collect();
    let blank = |n: usize| all.get(n - 1).is_some_and(|l| l.trim().is_empty());
    // Every record, in order, with the message it is sent as.
    let mut records = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, line) in all.iter().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record = Record::parse(line, n)?;
        let mut message = record.to_send(fifo, n)?;
        if let Some(id) = message.deduplication_id.clone() {
            if let Some(first) = seen.get(&id) {
                if keep_deduplication_ids {
                    eprintln!(
                        "warning: line {n} has the deduplication id of line {first}; sent as it is \
                         (--keep-deduplication-ids), the queue may take it as a duplicate and drop it"
                    );
                } else {
                    let fresh = fresh_deduplication_id(&id, n);
                    eprintln!(
                        "note: line {n} has the deduplication id of line {first}; sent with `{fresh}` \
                         so that the queue does not drop it as a duplicate"
                    );
                    message.deduplication_id = Some(fresh);
                }
            } else {
                seen.insert(id, n);
            }
        }
        if !progress.is_done(n) {
            records.push((n, message));
        }
    }
    let (mut sent, mut failed) = (0u64, Vec::new());
    let mut pending = records.into_iter().peekable();
    while pending.peek().is_some() {
        if ctx.interrupt.is_set() {
            return Err(CliError::Interrupted(format!(
                "imported {sent} messages, up to line {}; run the same command again to go on",
                progress.lines_done
            )));
        }
        let chunk: Vec<(usize, SendMessage)> = pending
            .by_ref()
            .take(ebbflow::limits::MAX_BATCH_ENTRIES)
            .collect();
        let (first, last) = (
            chunk.first().map_or(0, |(n, _)| *n),
            chunk.last().map_or(0, |(n, _)| *n),
        );
        let entries = chunk
            .into_iter()
            .map(|(n, message)| SendBatchEntry {
                id: format!("l{n}"),
                message,
            })
            .collect();
        let result = ctx
            .backend
            .send_batch(queue, entries)
            .await
            .context(|| format!("sending lines {first}–{last} to {queue}"))?;
        sent += result.successful.len() as u64;
        for ok in &result.successful {
            if let Ok(n) = ok.id.trim_start_matches('l').parse() {
                progress.mark(n, &blank);
            }
        }
        failed.extend(
            result
                .failed
                .into_iter()
                .map(|f| (f.id.trim_start_matches('l').to_owned(), f.error)),
        );
        if let Some(path) = &progress_file {
            save_progress(path, &progress)?;
        }
    }
    // The progress goes only when every line is in: a failed line is sent
    // again by the next run, and only it.
    if let Some(path) = progress_file.as_ref().filter(|_| failed.is_empty()) {
        if path.exists() {
            std::fs::remove_file(path).map_err(io(path))?;
        }
    }
    super::report_lines(ctx, queue, "imported", "into", sent, &failed)
}
