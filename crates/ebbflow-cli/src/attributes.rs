//! Queue attributes on the command line: SQS's names, the config's units.

use crate::error::CliError;
use crate::output;
use ebbflow::config::{parse_duration, parse_size};
use ebbflow::{QueueAttributes, QueueAttributesUpdate, RedriveAllowPolicy, RedrivePolicy};

/// The attribute names `queue create` and `queue set` take, as SQS spells them.
pub const NAMES: [&str; 8] = [
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "ContentBasedDeduplication",
    "RedrivePolicy",
    "RedriveAllowPolicy",
];

/// Reads `Name=Value` pairs into an update; every problem names the pair.
///
/// Durations take the config's units (`30s`, `4d`; a bare number is seconds,
/// as in SQS), sizes too (`256KiB`); `RedrivePolicy=DLQ:MAX_RECEIVES` (or
/// SQS's JSON, or empty to remove it); `RedriveAllowPolicy=allowAll`,
/// `denyAll` or `byQueue:a,b`.
pub fn parse(pairs: &[String]) -> Result<QueueAttributesUpdate, CliError> {
    let mut update = QueueAttributesUpdate::default();
    for pair in pairs {
        let (name, value) = pair.split_once('=').ok_or_else(|| {
            CliError::Usage(format!(
                "`{pair}`: attributes are Name=Value, for example VisibilityTimeout=45s"
            ))
        })?;
        let bad = |why: String| CliError::Usage(format!("{name}={value}: {why}"));
        let duration = || parse_duration(value).map_err(bad);
        match name {
            "VisibilityTimeout" => update.visibility_timeout = Some(duration()?),
            "MessageRetentionPeriod" => update.message_retention_period = Some(duration()?),
            "DelaySeconds" => update.delay = Some(duration()?),
            "ReceiveMessageWaitTimeSeconds" => update.receive_wait_time = Some(duration()?),
            "MaximumMessageSize" => {
                update.maximum_message_size = Some(parse_size(value).map_err(bad)?)
            }
            "ContentBasedDeduplication" => {
                let on = value
                    .parse::<bool>()
                    .map_err(|_| bad("expected true or false".to_owned()))?;
                update.content_based_deduplication = Some(on);
            }
            "RedrivePolicy" => update.redrive_policy = Some(redrive_policy(value).map_err(bad)?),
            "RedriveAllowPolicy" => {
                update.redrive_allow_policy = Some(redrive_allow_policy(value).map_err(bad)?)
            }
            "FifoQueue" => {
                return Err(bad(
                    "a queue is FIFO when its name ends in .fifo; the attribute cannot change"
                        .to_owned(),
                ))
            }
            _ => {
                return Err(CliError::Usage(format!(
                    "`{name}` is not a queue attribute; expected one of {}",
                    NAMES.join(", ")
                )))
            }
        }
    }
    Ok(update)
}

fn redrive_policy(value: &str) -> Result<Option<RedrivePolicy>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.starts_with('{') {
        let json: serde_json::Value =
            serde_json::from_str(value).map_err(|e| format!("not JSON: {e}"))?;
        let target = json["deadLetterTargetArn"]
            .as_str()
            .ok_or("deadLetterTargetArn is missing")?;
        let count = match &json["maxReceiveCount"] {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or("maxReceiveCount is missing or not a number")?;
        return Ok(Some(RedrivePolicy::new(
            target,
            count.min(u64::from(u32::MAX)) as u32,
        )));
    }
    let (dlq, count) = value
        .rsplit_once(':')
        .ok_or("expected DLQ:MAX_RECEIVES, for example orders-dlq:5")?;
    let count = count
        .parse()
        .map_err(|_| format!("`{count}` is not a number of receives"))?;
    Ok(Some(RedrivePolicy::new(dlq, count)))
}

fn redrive_allow_policy(value: &str) -> Result<RedriveAllowPolicy, String> {
    match value {
        "allowAll" => Ok(RedriveAllowPolicy::AllowAll),
        "denyAll" => Ok(RedriveAllowPolicy::DenyAll),
        _ => match value.strip_prefix("byQueue:") {
            Some(list) => Ok(RedriveAllowPolicy::ByQueue(
                list.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            None => Err("expected allowAll, denyAll or byQueue:QUEUE,QUEUE".to_owned()),
        },
    }
}

/// The attributes as `(SQS name, value in the config's units)` pairs.
pub fn describe(a: &QueueAttributes) -> Vec<(&'static str, String)> {
    vec![
        ("FifoQueue", a.fifo.to_string()),
        ("VisibilityTimeout", output::duration(a.visibility_timeout)),
        (
            "MessageRetentionPeriod",
            output::duration(a.message_retention_period),
        ),
        ("DelaySeconds", output::duration(a.delay)),
        ("MaximumMessageSize", output::size(a.maximum_message_size)),
        (
            "ReceiveMessageWaitTimeSeconds",
            output::duration(a.receive_wait_time),
        ),
        (
            "ContentBasedDeduplication",
            a.content_based_deduplication.to_string(),
        ),
        (
            "RedrivePolicy",
            a.redrive_policy
                .as_ref()
                .map(|p| format!("{}:{}", p.dead_letter_queue, p.max_receive_count))
                .unwrap_or_default(),
        ),
        (
            "RedriveAllowPolicy",
            match &a.redrive_allow_policy {
                RedriveAllowPolicy::AllowAll => "allowAll".to_owned(),
                RedriveAllowPolicy::DenyAll => "denyAll".to_owned(),
                RedriveAllowPolicy::ByQueue(q) => format!("byQueue:{}", q.join(",")),
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pairs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn sqs_names_take_the_configs_units() {
        let u = parse(&pairs(&[
            "VisibilityTimeout=45s",
            "MessageRetentionPeriod=2d",
            "DelaySeconds=5",
            "MaximumMessageSize=256KiB",
            "RedrivePolicy=orders-dlq:3",
        ]))
        .unwrap();
        assert_eq!(u.visibility_timeout, Some(Duration::from_secs(45)));
        assert_eq!(
            u.message_retention_period,
            Some(Duration::from_secs(172_800))
        );
        assert_eq!(u.delay, Some(Duration::from_secs(5)));
        assert_eq!(u.maximum_message_size, Some(262_144));
        assert_eq!(
            u.redrive_policy,
            Some(Some(RedrivePolicy::new("orders-dlq", 3)))
        );
    }

    #[test]
    fn sqs_json_redrive_policies_are_read_and_an_empty_one_removes_it() {
        let json = r#"RedrivePolicy={"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:dlq","maxReceiveCount":"4"}"#;
        let u = parse(&pairs(&[json])).unwrap();
        assert_eq!(u.redrive_policy, Some(Some(RedrivePolicy::new("dlq", 4))));
        assert_eq!(
            parse(&pairs(&["RedrivePolicy="])).unwrap().redrive_policy,
            Some(None)
        );
    }

    #[test]
    fn a_bad_pair_is_named_in_the_error() {
        for (input, needle) in [
            ("VisibilityTimeout=soon", "VisibilityTimeout=soon"),
            ("Visibility=30s", "`Visibility` is not a queue attribute"),
            ("VisibilityTimeout", "Name=Value"),
            ("ContentBasedDeduplication=yes", "true or false"),
        ] {
            let e = parse(&pairs(&[input])).unwrap_err();
            assert!(e.to_string().contains(needle), "{input}: {e}");
            assert_eq!(e.exit_code(), 2);
        }
    }

    #[test]
    fn described_attributes_parse_back_to_the_same_queue() {
        let a = QueueAttributes::standard()
            .with_visibility_timeout(Duration::from_secs(90))
            .with_redrive_policy(RedrivePolicy::new("dlq", 7));
        let described: Vec<String> = describe(&a)
            .into_iter()
            .filter(|(name, _)| *name != "FifoQueue")
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let back = parse(&described)
            .unwrap()
            .apply(&QueueAttributes::standard());
        // The update stamps its own time; the rest is what was described.
        assert_eq!(
            QueueAttributes {
                last_modified_timestamp: None,
                ..back
            },
            a
        );
    }
}
