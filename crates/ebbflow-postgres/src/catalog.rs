//! Queues: their rows, and a short-lived cache of them so that a send or a
//! receive does not read its queue's row first.
//!
//! The cache lives [`QUEUE_CACHE_TTL`]; this process's own changes clear it at
//! once, another process's are seen within that time (SQS itself takes up
//! to a minute to apply attribute changes everywhere).

use crate::error::{backend_error, db, pool};
use crate::store::Store;
use deadpool_postgres::GenericClient;
use ebbflow_core::{
    limits, queue_name_from_arn, QueueAttributes, QueueAttributesUpdate, QueueError, Result,
};
use std::time::Duration;

/// How long a queue's row is used without reading it again.
pub(crate) const QUEUE_CACHE_TTL: Duration = Duration::from_secs(1);

/// A queue as the message verbs need it.
#[derive(Debug, Clone)]
pub(crate) struct QueueRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) attrs: QueueAttributes,
}

pub(crate) fn parse_attrs(text: &str) -> Result<QueueAttributes> {
    serde_json::from_str(text).map_err(|e| backend_error(format!("corrupt queue attributes: {e}")))
}

fn attrs_text(attrs: &QueueAttributes) -> Result<String> {
    serde_json::to_string(attrs).map_err(backend_error)
}

/// Reads a queue's row on `client` (a pooled connection or a transaction).
async fn read(client: &impl GenericClient, name: &str) -> Result<Option<QueueRow>> {
    let row = client
        .query_opt(
            "SELECT id, attributes FROM ebbflow_queues WHERE name = $1",
            &[&name],
        )
        .await
        .map_err(db)?;
    row.map(|r| {
        Ok(QueueRow {
            id: r.get(0),
            name: name.to_owned(),
            attrs: parse_attrs(r.get(1))?,
        })
    })
    .transpose()
}

impl Store {
    /// The queue named `name` (or by URL or ARN), from the cache when fresh.
    pub(crate) async fn queue(&self, name: &str) -> Result<QueueRow> {
        let plain = queue_name_from_arn(name);
        if let Some(row) = self.queues.get(plain) {
            return Ok(row);
        }
        let client = self.pool.get().await.map_err(pool)?;
        let row = read(&client, plain)
            .await?
            .ok_or_else(|| QueueError::QueueDoesNotExist(plain.to_owned()))?;
        self.queues.put(plain, row.clone());
        Ok(row)
    }

    /// The queue read now, bypassing the cache.
    pub(crate) async fn queue_fresh(&self, name: &str) -> Result<QueueRow> {
        self.forget(name);
        self.queue(name).await
    }

    /// Drops a queue from the cache: after this process changed it, or when
    /// the server says it is gone.
    pub(crate) fn forget(&self, name: &str) {
        self.queues.forget(name);
    }

    pub(crate) async fn create_queue(&self, name: &str, attrs: &QueueAttributes) -> Result<()> {
        let mut client = self.pool.get().await.map_err(pool)?;
        let tx = client.transaction().await.map_err(db)?;
        // Creations of one name wait for each other, so that the loser sees the winner's row.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
            &[&name],
        )
        .await
        .map_err(db)?;
        if let Some(existing) = read(&tx, name).await? {
            if existing.attrs.conflicts_with(attrs) {
                return Err(QueueError::QueueAlreadyExists(name.to_owned()));
            }
            return Ok(());
        }
        let mut targets = Vec::new();
        if let Some(p) = &attrs.redrive_policy {
            targets.push(read(&tx, queue_name_from_arn(&p.dead_letter_queue)).await?);
        }
        let mut targets = targets.into_iter();
        limits::validate_redrive_policy(name, attrs, |_| {
            Ok(targets.next().flatten().map(|q| q.attrs))
        })?;
        tx.execute(
            "INSERT INTO ebbflow_queues (name, attributes) VALUES ($1, $2)",
            &[&name, &attrs_text(attrs)?],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.forget(name);
        Ok(())
    }

    pub(crate) async fn set_attributes(
        &self,
        name: &str,
        update: &QueueAttributesUpdate,
    ) -> Result<()> {
        let plain = queue_name_from_arn(name);
        let mut client = self.pool.get().await.map_err(pool)?;
        let tx = client.transaction().await.map_err(db)?;
        let row = tx
            .query_opt(
                "SELECT attributes FROM ebbflow_queues WHERE name = $1 FOR UPDATE",
                &[&plain],
            )
            .await
            .map_err(db)?
            .ok_or_else(|| QueueError::QueueDoesNotExist(plain.to_owned()))?;
        let next = update.apply(&parse_attrs(row.get(0))?);
        limits::validate_queue_attributes(plain, &next)?;
        let mut targets = Vec::new();
        if let Some(p) = &next.redrive_policy {
            targets.push(read(&tx, queue_name_from_arn(&p.dead_letter_queue)).await?);
        }
        let mut targets = targets.into_iter();
        limits::validate_redrive_policy(plain, &next, |_| {
            Ok(targets.next().flatten().map(|q| q.attrs))
        })?;
        tx.execute(
            "UPDATE ebbflow_queues SET attributes = $2 WHERE name = $1",
            &[&plain, &attrs_text(&next)?],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.forget(plain);
        Ok(())
    }

    pub(crate) async fn delete_queue(&self, name: &str) -> Result<()> {
        let plain = queue_name_from_arn(name);
        let client = self.pool.get().await.map_err(pool)?;
        let n = client
            .execute("DELETE FROM ebbflow_queues WHERE name = $1", &[&plain])
            .await
            .map_err(db)?;
        self.forget(plain);
        if n == 0 {
            return Err(QueueError::QueueDoesNotExist(plain.to_owned()));
        }
        Ok(())
    }

    /// Every queue's name and attributes, sorted by name.
    pub(crate) async fn all_queues(&self) -> Result<Vec<(String, QueueAttributes)>> {
        let client = self.pool.get().await.map_err(pool)?;
        let rows = client
            .query(
                "SELECT name, attributes FROM ebbflow_queues ORDER BY name",
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| Ok((r.get::<_, String>(0), parse_attrs(r.get(1))?)))
            .collect()
    }
}
