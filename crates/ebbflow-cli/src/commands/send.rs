//! `ebbflow send`.

use super::queues::report;
use super::{duration_arg, Ctx};
use crate::args::SendArgs;
use crate::error::{CliError, Context};
use base64::Engine as _;
use ebbflow::{MessageAttributeValue, MessageAttributes, SendBatchEntry, SendMessage};
use std::io::Read;

/// Reads `name=value`, `name:Number=42`, `name:Binary=BASE64` (custom labels
/// such as `String.json` too).
fn attribute(text: &str) -> Result<(String, MessageAttributeValue), CliError> {
    let bad = |why: &str| CliError::Usage(format!("--attribute {text}: {why}"));
    let (left, value) = text
        .split_once('=')
        .ok_or_else(|| bad("expected NAME[:TYPE]=VALUE"))?;
    let (name, data_type) = left.split_once(':').unwrap_or((left, "String"));
    if name.is_empty() {
        return Err(bad("the name is empty"));
    }
    if name
        .to_ascii_lowercase()
        .starts_with(ebbflow::limits::RESERVED_PREFIX)
    {
        return Err(bad(&format!(
            "names starting with `{}` are reserved for the runtime's record of dead letters",
            ebbflow::limits::RESERVED_PREFIX
        )));
    }
    let value = match data_type.split('.').next() {
        Some("String") | Some("Number") => MessageAttributeValue {
            data_type: data_type.to_owned(),
            value: ebbflow::AttributeValue::Text(value.to_owned()),
        },
        Some("Binary") => MessageAttributeValue {
            data_type: data_type.to_owned(),
            value: ebbflow::AttributeValue::Binary(
                base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .map_err(|e| bad(&format!("not base64: {e}")))?,
            ),
        },
        _ => {
            return Err(bad(
                "the type is String, Number or Binary (with an optional .label)",
            ))
        }
    };
    Ok((name.to_owned(), value))
}

fn input(args: &SendArgs) -> Result<String, CliError> {
    if let Some(body) = &args.body {
        return Ok(body.clone());
    }
    if let Some(path) = &args.file {
        return std::fs::read_to_string(path).map_err(|source| CliError::Io {
            path: path.clone(),
            source,
        });
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|source| CliError::Io {
            path: "stdin".into(),
            source,
        })?;
    Ok(text)
}

/// `ebbflow send QUEUE [BODY] [--file F] [--lines] …`.
pub async fn send(ctx: &Ctx, args: SendArgs) -> Result<(), CliError> {
    let mut attributes = MessageAttributes::new();
    for text in &args.attributes {
        let (name, value) = attribute(text)?;
        attributes.insert(name, value);
    }
    let delay = args
        .delay
        .as_deref()
        .map(|d| duration_arg("--delay", d))
        .transpose()?;
    let make = |body: String, dedup_suffix: Option<usize>| SendMessage {
        body,
        attributes: attributes.clone(),
        delay,
        group_id: args.group.clone(),
        deduplication_id: args.dedup_id.as_ref().map(|d| match dedup_suffix {
            Some(n) => format!("{d}-{n}"),
            None => d.clone(),
        }),
        trace_header: None,
    };
    let text = input(&args)?;
    let queue = &args.queue;
    if !args.lines {
        // A body read from a file or stdin keeps its text, but not the newline editors add at the end.
        let body = if args.body.is_some() {
            text
        } else {
            text.strip_suffix('\n').unwrap_or(&text).to_owned()
        };
        let receipt = ctx
            .backend
            .send(queue, make(body, None))
            .await
            .context(|| format!("sending to {queue}"))?;
        report(
            ctx,
            serde_json::json!({"queue": queue, "message_id": receipt.message_id,
                               "md5_of_body": receipt.md5_of_body, "sequence_number": receipt.sequence_number}),
            || format!("sent {} to {queue}", receipt.message_id),
        );
        return Ok(());
    }
    // One message per non-empty line, ten to a batch; each line's outcome is its own.
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let (mut sent, mut failures) = (0usize, Vec::new());
    for chunk in lines.chunks(ebbflow::limits::MAX_BATCH_ENTRIES) {
        if ctx.interrupt.is_set() {
            return Err(CliError::Interrupted(format!(
                "sent {sent} of {} lines; the rest were not sent",
                lines.len()
            )));
        }
        let entries = chunk
            .iter()
            .map(|(n, line)| SendBatchEntry {
                id: format!("l{n}"),
                message: make((*line).to_owned(), Some(*n)),
            })
            .collect();
        let result = ctx.backend.send_batch(queue, entries).await.context(|| {
            format!(
                "sending lines {}–{} to {queue}",
                chunk[0].0,
                chunk[chunk.len() - 1].0
            )
        })?;
        sent += result.successful.len();
        failures.extend(
            result
                .failed
                .into_iter()
                .map(|f| (f.id[1..].to_owned(), f.error)),
        );
    }
    super::report_lines(ctx, queue, "sent", "to", sent as u64, &failures)
}

#[cfg(test)]
mod tests {
    use super::attribute;

    #[test]
    fn the_runtimes_attribute_names_are_refused() {
        for name in ["ebbflow.source_queue", "EBBFLOW.reason"] {
            assert!(
                matches!(
                    attribute(&format!("{name}=billing")),
                    Err(crate::error::CliError::Usage(_))
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn attributes_take_a_type_and_default_to_string() {
        let (name, v) = attribute("tenant=acme").unwrap();
        assert_eq!(
            (name.as_str(), v.data_type.as_str(), v.as_str()),
            ("tenant", "String", Some("acme"))
        );
        let (_, v) = attribute("n:Number=42").unwrap();
        assert_eq!((v.data_type.as_str(), v.as_str()), ("Number", Some("42")));
        let (_, v) = attribute("b:Binary=AAE=").unwrap();
        assert_eq!(v.value, ebbflow::AttributeValue::Binary(vec![0, 1]));
        assert!(attribute("x:Date=1").is_err());
        assert!(attribute("novalue").is_err());
    }
}
