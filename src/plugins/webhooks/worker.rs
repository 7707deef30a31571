//! Delivery: claims due rows with a compare-and-set on `lockedUntil` (so two nodes never send
//! one row at the same time), POSTs them signed, and records the outcome. A row is marked
//! `delivered` only after a 2xx; anything else schedules a retry with exponential back-off and
//! jitter, until `max_attempts`. A node that dies mid-delivery leaves a lock that lapses, and
//! the row is sent again: at least once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::{Endpoint, MODEL, Status, Webhooks};
use crate::auth::Auth;
use crate::store::{FindMany, Op, Record, Store, StoreResult, Value, Where, now};

/// Rows claimed per look; more are fetched at once when a look comes back full.
const BATCH: u64 = 100;
/// Looks per wake-up, so a store that keeps failing cannot spin the worker.
const MAX_ROUNDS: usize = 10;
/// Characters of a failed answer's body kept in `lastError`.
const ERROR_SNIPPET: usize = 200;
/// How often old delivered rows are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The running worker; [`WorkerHandle::stop`] ends it (dropping the handle ends it too).
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    /// Lets the deliveries under way finish (each bounded by the timeout), then returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[async_trait::async_trait]
impl crate::http::plugin::Background for WorkerHandle {
    async fn stop(self: Box<Self>) {
        WorkerHandle::stop(*self).await;
    }
}

/// The worker's HTTP client could not be made.
#[derive(Debug, thiserror::Error)]
#[error("webhooks: HTTP client: {0}")]
pub struct SpawnError(#[source] reqwest::Error);

/// Starts delivering, when webhooks are configured. `serve` does, through
/// [`Plugin::start`](crate::http::Plugin::start); library users who mount the router
/// themselves call that next to it.
pub fn spawn(auth: &Auth, webhooks: Arc<Webhooks>) -> Result<WorkerHandle, SpawnError> {
    let client = reqwest::Client::builder()
        .timeout(webhooks.retry.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Palisade-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(SpawnError)?;
    let worker = Worker { store: auth.store.clone(), webhooks, client };
    let (stop, stopped) = watch::channel(false);
    Ok(WorkerHandle { stop, task: tokio::spawn(worker.run(stopped)) })
}

#[derive(Clone)]
struct Worker {
    store: Store,
    webhooks: Arc<Webhooks>,
    client: reqwest::Client,
}

/// What one attempt got back.
struct Outcome {
    status: Option<u16>,
    /// `None` when delivered.
    error: Option<String>,
}

impl Worker {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut pruned: Option<tokio::time::Instant> = None;
        loop {
            if let Err(e) = self.deliver_due().await {
                tracing::warn!(error = %e, "webhooks: looking for due events failed; trying again");
            }
            if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned = Some(tokio::time::Instant::now());
                if let Err(e) = self.prune().await {
                    tracing::warn!(error = %e, "webhooks: removing old delivered events failed");
                }
            }
            tokio::select! {
                _ = self.webhooks.wake.notified() => {}
                _ = tokio::time::sleep(self.webhooks.retry.poll) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Sends what is due: rows of one endpoint in order, endpoints side by side.
    async fn deliver_due(&self) -> StoreResult<()> {
        for _ in 0..MAX_ROUNDS {
            let rows = self.due().await?;
            let full = rows.len() as u64 == BATCH;
            let mut by_endpoint: BTreeMap<String, Vec<Record>> = BTreeMap::new();
            for row in rows {
                by_endpoint.entry(row.string("endpoint")).or_default().push(row);
            }
            let mut tasks = JoinSet::new();
            for rows in by_endpoint.into_values() {
                let me = self.clone();
                tasks.spawn(async move {
                    for row in rows {
                        if let Err(e) = me.attempt(&row).await {
                            tracing::warn!(id = row.str("id"), error = %e, "webhooks: recording an attempt failed");
                        }
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
            if !full {
                break;
            }
        }
        Ok(())
    }

    /// Removes delivered rows older than `keep_delivered_days` (every node may: it is idempotent).
    async fn prune(&self) -> StoreResult<()> {
        let Some(keep) = self.webhooks.retry.keep_delivered else { return Ok(()) };
        let filter = [Where::eq("status", Status::Delivered.as_str()), Where::new("deliveredAt", Op::Lt, now() - keep)];
        let n = self.store.delete_many(MODEL, &filter).await?;
        if n > 0 {
            tracing::info!(rows = n, "webhooks: removed old delivered events from the log");
        }
        Ok(())
    }

    /// Pending rows whose time has come, for endpoints this node knows, not locked by a node.
    async fn due(&self) -> StoreResult<Vec<Record>> {
        let at = now();
        let urls = self.webhooks.endpoints.iter().map(|e| Value::from(e.url.as_str())).collect();
        let mut filter = vec![Where::new("nextAttemptAt", Op::Lte, at), Where::is_in("endpoint", urls)];
        filter.extend(lock_free(at));
        let opts = FindMany { limit: Some(BATCH), sort_by: Some(("createdAt".into(), false)), ..Default::default() };
        self.store.find_many(MODEL, &filter, opts).await
    }

    /// Claims, sends and records one row; a row another node claimed first is left alone.
    async fn attempt(&self, row: &Record) -> StoreResult<()> {
        let Some(endpoint) = self.webhooks.endpoint(row.str("endpoint").unwrap_or_default()) else { return Ok(()) };
        let Some(lease) = self.claim(row).await? else { return Ok(()) };
        let outcome = self.send(endpoint, row).await;
        self.record(row, lease, outcome).await
    }

    /// Compare-and-set: the row must still be pending, due, unlocked and at the attempt
    /// count we read; then it is ours until `lease`.
    async fn claim(&self, row: &Record) -> StoreResult<Option<DateTime<Utc>>> {
        let at = now();
        let retry = &self.webhooks.retry;
        let lease = at + chrono::Duration::from_std(retry.timeout * 2 + Duration::from_secs(5)).unwrap_or_default();
        let mut filter = vec![
            Where::eq("id", row.get("id").cloned().unwrap_or(Value::Null)),
            Where::eq("status", Status::Pending.as_str()),
            Where::eq("attempts", row.int("attempts").unwrap_or(0)),
            Where::new("nextAttemptAt", Op::Lte, at),
        ];
        filter.extend(lock_free(at));
        let claimed = self.store.update_many(MODEL, &filter, Record::new().with("lockedUntil", lease)).await?;
        Ok((claimed == 1).then_some(lease))
    }

    async fn send(&self, endpoint: &Endpoint, row: &Record) -> Outcome {
        let (id, body) = (row.string("id"), row.string("payload"));
        let timestamp = Utc::now().timestamp();
        let signature = endpoint.secret.signature(&id, timestamp, &body);
        let sent = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(res) if res.status().is_success() => Outcome { status: Some(res.status().as_u16()), error: None },
            Ok(res) => {
                let status = res.status().as_u16();
                let text: String = res.text().await.unwrap_or_default().chars().take(ERROR_SNIPPET).collect();
                Outcome { status: Some(status), error: Some(format!("HTTP {status}: {text}")) }
            }
            Err(e) => Outcome { status: None, error: Some(transport_error(e)) },
        }
    }

    /// Writes the outcome if the lease is still ours (else another node has the row now).
    async fn record(&self, row: &Record, lease: DateTime<Utc>, outcome: Outcome) -> StoreResult<()> {
        let attempts = row.int("attempts").unwrap_or(0) + 1;
        let at = now();
        let (status, next) = match &outcome.error {
            None => (Status::Delivered, None),
            Some(_) if attempts >= i64::from(self.webhooks.retry.max_attempts) => (Status::Failed, None),
            Some(_) => (Status::Pending, Some(at + backoff(&self.webhooks.retry, attempts))),
        };
        let delivered = (status == Status::Delivered).then_some(at);
        let data = Record::new()
            .with("status", status.as_str())
            .with("attempts", attempts)
            .with("nextAttemptAt", next)
            .with("lockedUntil", Value::Null)
            .with("deliveredAt", delivered)
            .with("lastStatus", outcome.status.map(i64::from))
            .with("lastError", outcome.error.clone());
        let id = row.get("id").cloned().unwrap_or(Value::Null);
        let filter = [Where::eq("id", id), Where::eq("lockedUntil", lease)];
        let kept = self.store.update_many(MODEL, &filter, data).await? == 1;
        report(row, attempts, status, kept, outcome.error.as_deref());
        Ok(())
    }
}

fn report(row: &Record, attempts: i64, status: Status, kept: bool, error: Option<&str>) {
    let (id, ty) = (row.str("id").unwrap_or_default(), row.str("type").unwrap_or_default());
    if !kept {
        tracing::warn!(id, "webhooks: the lock lapsed before the outcome was written; it is sent again");
        return;
    }
    match status {
        Status::Delivered => tracing::debug!(id, ty, attempts, "webhook delivered"),
        Status::Failed => tracing::error!(id, ty, attempts, error, "webhook failed for good"),
        Status::Pending => tracing::info!(id, ty, attempts, error, "webhook attempt failed; retried later"),
    }
}

/// The error with its causes ("error sending request" alone says little), without the URL:
/// its query may hold a token.
fn transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

/// `lockedUntil` is null or past.
fn lock_free(at: DateTime<Utc>) -> [Where; 2] {
    [Where::eq("lockedUntil", Value::Null).or(), Where::new("lockedUntil", Op::Lte, at).or()]
}

/// The wait after `attempts` failures: base × 2^(attempts−1), capped, then a random point in
/// its upper half so that receivers coming back are not hit by every node at once.
pub fn backoff(retry: &super::Retry, attempts: i64) -> chrono::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(31);
    let full = retry.base.saturating_mul(1 << doublings).min(retry.max);
    let ms = u64::try_from(full.as_millis()).unwrap_or(u64::MAX).max(1);
    let jittered = rand::thread_rng().gen_range(ms / 2..=ms);
    chrono::Duration::milliseconds(i64::try_from(jittered).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_backoff_doubles_with_jitter_up_to_the_cap() {
        let retry = super::super::WebhooksConfig::default().retry().unwrap();
        for (attempts, full) in
            [(1, 5_000), (2, 10_000), (3, 20_000), (10, 2_560_000), (11, 3_600_000), (80, 3_600_000)]
        {
            for _ in 0..20 {
                let ms = backoff(&retry, attempts).num_milliseconds();
                assert!((full / 2..=full).contains(&ms), "attempt {attempts}: {ms} ms");
            }
        }
    }
}
