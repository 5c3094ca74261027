//! `QueueBackend` over Amazon SQS.

use crate::convert::{self, seconds_i32};
use crate::error::{from_code, from_sdk, BACKEND};
use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use ebbflow_core::{
    limits, queue_name_from_arn, BatchResult, ChangeVisibilityBatchEntry, DeleteBatchEntry,
    MoveResult, Pause, QueueAttributes, QueueAttributesUpdate, QueueBackend, QueueError,
    QueueStats, ReceiveRequest, ReceivedMessage, RedriveAllowPolicy, Result, SendBatchEntry,
    SendMessage, SendReceipt,
};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// How often a message move task's progress is read.
/// The tag that holds a queue's pause on SQS, which has no place for one
/// (see [`ebbflow_core::QueueAttributes::paused`]); read back as the pause,
/// not as a tag.
pub const PAUSE_TAG: &str = "ebbflow:paused";

const MOVE_POLL: Duration = Duration::from_secs(1);

/// Amazon SQS (or an SQS-compatible server) as a [`QueueBackend`].
///
/// Queue URLs and attributes are resolved once per queue and cached;
/// changing attributes through this backend refreshes the cache.
#[derive(Clone)]
pub struct SqsBackend {
    client: Client,
    queues: Arc<RwLock<HashMap<String, Arc<Known>>>>,
}

/// What is cached of one queue.
struct Known {
    url: String,
    attributes: QueueAttributes,
}

impl SqsBackend {
    /// A backend on an SDK client you configured yourself.
    pub fn from_client(client: Client) -> Self {
        Self {
            client,
            queues: Arc::default(),
        }
    }

    /// The SDK client, for what ebbflow does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn cached(&self, name: &str) -> Option<Arc<Known>> {
        self.queues
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn forget(&self, name: &str) {
        self.queues
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    /// The queue's URL and attributes, from the cache or from SQS.
    async fn known(&self, name: &str) -> Result<Arc<Known>> {
        if let Some(known) = self.cached(name) {
            return Ok(known);
        }
        limits::validate_queue_name(name)?;
        let url = self
            .client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| from_sdk(name, e))?
            .queue_url
            .ok_or_else(|| QueueError::QueueDoesNotExist(name.to_owned()))?;
        let map = self.attribute_map(name, &url).await?;
        let known = Arc::new(Known {
            url,
            attributes: convert::queue_attributes(&map),
        });
        self.queues
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), known.clone());
        Ok(known)
    }

    async fn url(&self, name: &str) -> Result<String> {
        Ok(self.known(name).await?.url.clone())
    }

    async fn attribute_map(&self, name: &str, url: &str) -> Result<convert::AttributeMap> {
        Ok(self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| from_sdk(name, e))?
            .attributes
            .unwrap_or_default())
    }

    /// The queue's tags: not attributes on SQS, so one more call.
    async fn tags(&self, name: &str, url: &str) -> Result<BTreeMap<String, String>> {
        let tags = self
            .client
            .list_queue_tags()
            .queue_url(url)
            .send()
            .await
            .map_err(|e| from_sdk(name, e))?;
        Ok(tags.tags.unwrap_or_default().into_iter().collect())
    }

    async fn arn(&self, name: &str) -> Result<String> {
        let url = self.url(name).await?;
        self.attribute_map(name, &url)
            .await?
            .remove(&QueueAttributeName::QueueArn)
            .ok_or_else(|| QueueError::Backend {
                backend: BACKEND,
                message: format!("queue `{name}` has no QueueArn"),
            })
    }

    /// The ARN a queue called `name` has (or will have) beside `sibling_arn`.
    fn sibling_arn(sibling_arn: &str, name: &str) -> String {
        match sibling_arn.rsplit_once(':') {
            Some((prefix, _)) => format!("{prefix}:{name}"),
            None => name.to_owned(),
        }
    }

    /// The dead-letter target's ARN, after checking it fits `source`.
    async fn dead_letter_arn(
        &self,
        source: &str,
        attrs: &QueueAttributes,
    ) -> Result<Option<String>> {
        let Some(policy) = &attrs.redrive_policy else {
            return Ok(None);
        };
        let dlq = queue_name_from_arn(&policy.dead_letter_queue);
        let target = self.known(dlq).await.map_err(|e| match e {
            QueueError::QueueDoesNotExist(_) => QueueError::invalid(
                "RedrivePolicy.deadLetterTargetArn",
                format!("the dead-letter queue `{dlq}` does not exist"),
            ),
            other => other,
        })?;
        limits::validate_dead_letter_target(source, attrs, dlq, &target.attributes)?;
        Ok(Some(self.arn(dlq).await?))
    }

    /// Writes attributes that name other queues by ARN (the redrive allow
    /// policy) once the queue's own ARN is known.
    async fn set_allow_policy(&self, name: &str, url: &str, attrs: &QueueAttributes) -> Result<()> {
        let RedriveAllowPolicy::ByQueue(sources) = &attrs.redrive_allow_policy else {
            return Ok(());
        };
        let own = self.arn(name).await?;
        let arns: Vec<String> = sources
            .iter()
            .map(|s| Self::sibling_arn(&own, queue_name_from_arn(s)))
            .collect();
        let update = QueueAttributesUpdate {
            redrive_allow_policy: Some(attrs.redrive_allow_policy.clone()),
            ..Default::default()
        };
        let map = convert::attribute_map(attrs, Some(&update), None, &arns);
        self.client
            .set_queue_attributes()
            .queue_url(url)
            .set_attributes(Some(map))
            .send()
            .await
            .map_err(|e| from_sdk(name, e))?;
        Ok(())
    }

    fn send_entry(
        queue: &QueueAttributes,
        id: &str,
        message: SendMessage,
    ) -> Result<SendMessageBatchRequestEntry> {
        limits::validate_message(&message, queue)?;
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body(message.body)
            .set_delay_seconds(message.delay.map(seconds_i32))
            .set_message_attributes(convert::to_sqs_attributes(&message.attributes)?)
            .set_message_group_id(message.group_id)
            .set_message_deduplication_id(message.deduplication_id)
            .set_message_system_attributes(convert::trace_header(message.trace_header)?)
            .build()
            .map_err(|e| QueueError::invalid(id, e.to_string()))
    }
}

#[async_trait]
impl QueueBackend for SqsBackend {
    /// True: SQS encrypts as each queue's own setting says, which
    /// `get_queue_attributes` reads from SQS.
    fn encrypts_at_rest(&self) -> bool {
        true
    }

    fn backend_name(&self) -> &'static str {
        BACKEND
    }

    fn redrives_natively(&self) -> bool {
        true
    }

    async fn create_queue(&self, name: &str, attributes: QueueAttributes) -> Result<String> {
        limits::validate_queue_attributes(name, &attributes)?;
        let dead_letter_arn = self.dead_letter_arn(name, &attributes).await?;
        let mut first = attributes.clone();
        // Allow-lists name queues by ARN, which is only known once the queue exists.
        if matches!(first.redrive_allow_policy, RedriveAllowPolicy::ByQueue(_)) {
            first.redrive_allow_policy = RedriveAllowPolicy::AllowAll;
        }
        let map = convert::attribute_map(&first, None, dead_letter_arn.as_deref(), &[]);
        let url = self
            .client
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(map))
            .set_tags((!attributes.tags.is_empty()).then(|| {
                attributes
                    .tags
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }))
            .send()
            .await
            .map_err(|e| from_sdk(name, e))?
            .queue_url
            .ok_or_else(|| QueueError::Backend {
                backend: BACKEND,
                message: format!("creating `{name}` returned no URL"),
            })?;
        self.set_allow_policy(name, &url, &attributes).await?;
        self.forget(name);
        Ok(url)
    }

    async fn get_queue_url(&self, name: &str) -> Result<String> {
        self.url(name).await
    }

    async fn list_queues(&self, prefix: Option<&str>) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut pages = self
            .client
            .list_queues()
            .set_queue_name_prefix(prefix.map(str::to_owned))
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(prefix.unwrap_or_default(), e))?;
            names.extend(
                page.queue_urls()
                    .iter()
                    .map(|u| queue_name_from_arn(u).to_owned()),
            );
        }
        names.sort();
        Ok(names)
    }

    async fn delete_queue(&self, name: &str) -> Result<()> {
        let url = self.url(name).await?;
        self.forget(name);
        self.client
            .delete_queue()
            .queue_url(url)
            .send()
            .await
            .map_err(|e| from_sdk(name, e))?;
        Ok(())
    }

    async fn get_queue_attributes(&self, name: &str) -> Result<QueueAttributes> {
        let url = self.url(name).await?;
        let map = self.attribute_map(name, &url).await?;
        let mut attributes = convert::queue_attributes(&map);
        attributes.tags = self.tags(name, &url).await?;
        attributes.paused = attributes
            .tags
            .remove(PAUSE_TAG)
            .and_then(|t| Pause::from_tag(&t));
        Ok(attributes)
    }

    async fn set_queue_attributes(
        &self,
        name: &str,
        mut update: QueueAttributesUpdate,
    ) -> Result<()> {
        // SQS keeps no pause: it is a tag of the queue here.
        match update.pause.take() {
            Some(Some(pause)) => {
                update.tag.insert(PAUSE_TAG.to_owned(), pause.to_tag());
            }
            Some(None) => update.untag.push(PAUSE_TAG.to_owned()),
            None => {}
        }
        let known = self.known(name).await?;
        let next = update.apply(&known.attributes);
        limits::validate_queue_attributes(name, &next)?;
        let dead_letter_arn = self.dead_letter_arn(name, &next).await?;
        let mut plain = update.clone();
        let by_queue = matches!(
            update.redrive_allow_policy,
            Some(RedriveAllowPolicy::ByQueue(_))
        );
        if by_queue {
            plain.redrive_allow_policy = None;
        }
        let map = convert::attribute_map(&next, Some(&plain), dead_letter_arn.as_deref(), &[]);
        if !map.is_empty() {
            self.client
                .set_queue_attributes()
                .queue_url(&known.url)
                .set_attributes(Some(map))
                .send()
                .await
                .map_err(|e| from_sdk(name, e))?;
        }
        if by_queue {
            self.set_allow_policy(name, &known.url, &next).await?;
        }
        if !update.tag.is_empty() {
            // The cache holds no tags: check the limit against the queue's own.
            let mut tags = self.tags(name, &known.url).await?;
            tags.extend(update.tag.iter().map(|(k, v)| (k.clone(), v.clone())));
            limits::validate_tags(&tags)?;
            self.client
                .tag_queue()
                .queue_url(&known.url)
                .set_tags(Some(
                    update
                        .tag
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ))
                .send()
                .await
                .map_err(|e| from_sdk(name, e))?;
        }
        if !update.untag.is_empty() {
            self.client
                .untag_queue()
                .queue_url(&known.url)
                .set_tag_keys(Some(update.untag.clone()))
                .send()
                .await
                .map_err(|e| from_sdk(name, e))?;
        }
        self.forget(name);
        Ok(())
    }

    async fn send(&self, queue: &str, message: SendMessage) -> Result<SendReceipt> {
        // A lone message is judged on its own (`MessageTooLong`, not the
        // batch's `BatchRequestTooLong`), and sent as one.
        let known = self.known(queue).await?;
        limits::validate_message(&message, &known.attributes)?;
        let output = self
            .client
            .send_message()
            .queue_url(&known.url)
            .message_body(message.body)
            .set_delay_seconds(message.delay.map(seconds_i32))
            .set_message_attributes(convert::to_sqs_attributes(&message.attributes)?)
            .set_message_group_id(message.group_id)
            .set_message_deduplication_id(message.deduplication_id)
            .set_message_system_attributes(convert::trace_header(message.trace_header)?)
            .send()
            .await
            .map_err(|e| from_sdk(queue, e))?;
        Ok(SendReceipt {
            message_id: output.message_id().unwrap_or_default().to_owned(),
            md5_of_body: output.md5_of_message_body().unwrap_or_default().to_owned(),
            sequence_number: output.sequence_number().map(str::to_owned),
        })
    }

    async fn send_batch(
        &self,
        queue: &str,
        entries: Vec<SendBatchEntry>,
    ) -> Result<BatchResult<SendReceipt>> {
        let known = self.known(queue).await?;
        limits::validate_send_batch(&entries, &known.attributes)?;
        let mut result = BatchResult::default();
        let mut request = Vec::with_capacity(entries.len());
        for entry in entries {
            match Self::send_entry(&known.attributes, &entry.id, entry.message) {
                Ok(built) => request.push(built),
                Err(e) => result.push(entry.id, Err(e)),
            }
        }
        if request.is_empty() {
            return Ok(result);
        }
        let output = self
            .client
            .send_message_batch()
            .queue_url(&known.url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| from_sdk(queue, e))?;
        for ok in output.successful() {
            let receipt = SendReceipt {
                message_id: ok.message_id().to_owned(),
                md5_of_body: ok.md5_of_message_body().to_owned(),
                sequence_number: ok.sequence_number().map(str::to_owned),
            };
            result.push(ok.id().to_owned(), Ok(receipt));
        }
        for failed in output.failed() {
            let error = from_code(queue, failed.code(), failed.message().unwrap_or_default());
            result.push(failed.id().to_owned(), Err(error));
        }
        Ok(result)
    }

    async fn receive(&self, queue: &str, request: ReceiveRequest) -> Result<Vec<ReceivedMessage>> {
        limits::validate_receive(&request)?;
        let url = self.url(queue).await?;
        let output = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(request.max_messages as i32)
            .set_visibility_timeout(request.visibility_timeout.map(seconds_i32))
            .set_wait_time_seconds(request.wait_time.map(seconds_i32))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .set_receive_request_attempt_id(request.receive_request_attempt_id)
            .send()
            .await
            .map_err(|e| from_sdk(queue, e))?;
        output.messages().iter().map(convert::received).collect()
    }

    async fn delete_batch(
        &self,
        queue: &str,
        entries: Vec<DeleteBatchEntry>,
    ) -> Result<BatchResult<()>> {
        limits::validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let url = self.url(queue).await?;
        let request = entries
            .into_iter()
            .map(|e| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(e.id)
                    .receipt_handle(e.receipt_handle)
                    .build()
                    .map_err(|err| QueueError::invalid("Entries", err.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let output = self
            .client
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| from_sdk(queue, e))?;
        let mut result = BatchResult::default();
        record_unit_results(
            &mut result,
            queue,
            output.successful().iter().map(|s| s.id()),
            output.failed(),
        );
        Ok(result)
    }

    async fn change_visibility_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
    ) -> Result<BatchResult<()>> {
        limits::validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let url = self.url(queue).await?;
        let mut result = BatchResult::default();
        let mut request = Vec::with_capacity(entries.len());
        for e in entries {
            if let Err(err) = limits::validate_visibility_timeout(e.visibility_timeout) {
                result.push(e.id, Err(err));
                continue;
            }
            let built = ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(&e.id)
                .receipt_handle(e.receipt_handle)
                .visibility_timeout(seconds_i32(e.visibility_timeout))
                .build()
                .map_err(|err| QueueError::invalid("Entries", err.to_string()))?;
            request.push(built);
        }
        if request.is_empty() {
            return Ok(result);
        }
        let output = self
            .client
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| from_sdk(queue, e))?;
        record_unit_results(
            &mut result,
            queue,
            output.successful().iter().map(|s| s.id()),
            output.failed(),
        );
        Ok(result)
    }

    async fn purge(&self, queue: &str) -> Result<()> {
        let url = self.url(queue).await?;
        self.client
            .purge_queue()
            .queue_url(url)
            .send()
            .await
            .map_err(|e| from_sdk(queue, e))?;
        Ok(())
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats> {
        let url = self.url(queue).await?;
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| from_sdk(queue, e))?;
        Ok(convert::queue_stats(&output.attributes.unwrap_or_default()))
    }

    async fn list_dead_letter_source_queues(&self, dead_letter_queue: &str) -> Result<Vec<String>> {
        let url = self.url(dead_letter_queue).await?;
        let mut names = Vec::new();
        let mut pages = self
            .client
            .list_dead_letter_source_queues()
            .queue_url(url)
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(dead_letter_queue, e))?;
            names.extend(
                page.queue_urls()
                    .iter()
                    .map(|u| queue_name_from_arn(u).to_owned()),
            );
        }
        names.sort();
        Ok(names)
    }

    /// Starts an SQS message move task and waits for it to finish.
    async fn move_messages(
        &self,
        dead_letter_queue: &str,
        destination: Option<&str>,
    ) -> Result<MoveResult> {
        let source_arn = self.arn(dead_letter_queue).await?;
        let destination_arn = match destination {
            Some(d) => Some(self.arn(d).await?),
            None => None,
        };
        self.client
            .start_message_move_task()
            .source_arn(&source_arn)
            .set_destination_arn(destination_arn)
            .send()
            .await
            .map_err(|e| from_sdk(dead_letter_queue, e))?;
        loop {
            tokio::time::sleep(MOVE_POLL).await;
            let tasks = self
                .client
                .list_message_move_tasks()
                .source_arn(&source_arn)
                .max_results(1)
                .send()
                .await
                .map_err(|e| from_sdk(dead_letter_queue, e))?;
            let Some(task) = tasks.results().first() else {
                continue;
            };
            let moved = u64::try_from(task.approximate_number_of_messages_moved()).unwrap_or(0);
            match task.status() {
                Some("COMPLETED") => return Ok(MoveResult { moved, failed: 0 }),
                Some("FAILED") | Some("CANCELLED") => {
                    let to_move = task
                        .approximate_number_of_messages_to_move()
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(moved);
                    return Ok(MoveResult {
                        moved,
                        failed: to_move.saturating_sub(moved),
                    });
                }
                _ => {}
            }
        }
    }
}

/// Adds SQS's per-entry answers for entries that return nothing.
fn record_unit_results<'a>(
    result: &mut BatchResult<()>,
    queue: &str,
    successful: impl Iterator<Item = &'a str>,
    failed: &[aws_sdk_sqs::types::BatchResultErrorEntry],
) {
    for id in successful {
        result.push(id.to_owned(), Ok(()));
    }
    for f in failed {
        let error = from_code(queue, f.code(), f.message().unwrap_or_default());
        result.push(f.id().to_owned(), Err(error));
    }
}
