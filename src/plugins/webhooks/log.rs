//! The delivery log for operators: `palisade webhooks list` and `palisade webhooks retry`.

use super::{MODEL, Status};
use crate::store::{FindMany, Ops, Record, StoreResult, Value, Where, iso, now};

/// The newest rows first, optionally of one status.
pub async fn list(store: &dyn Ops, status: Option<Status>, limit: u64) -> StoreResult<Vec<Record>> {
    let filter: Vec<Where> = status.map(|s| Where::eq("status", s.as_str())).into_iter().collect();
    let opts = FindMany { limit: Some(limit), sort_by: Some(("createdAt".into(), true)), ..Default::default() };
    store.find_many(MODEL, &filter, opts).await
}

/// One row as a tab-separated line: id, type, endpoint, status, attempts, last HTTP status,
/// created, next attempt or delivery time, last error.
pub fn line(row: &Record) -> String {
    let date = |f: &str| row.date(f).map(|d| iso(&d)).unwrap_or_else(|| "-".into());
    let when = match row.str("status") {
        Some("delivered") => format!("delivered {}", date("deliveredAt")),
        Some("pending") => format!("next {}", date("nextAttemptAt")),
        _ => "-".into(),
    };
    let last_status = row.int("lastStatus").map_or_else(|| "-".into(), |s| s.to_string());
    let error = row.str("lastError").unwrap_or("-").replace(['\t', '\n', '\r'], " ");
    [
        row.string("id"),
        row.string("type"),
        row.string("endpoint"),
        row.string("status"),
        row.int("attempts").unwrap_or(0).to_string(),
        last_status,
        date("createdAt"),
        when,
        error,
    ]
    .join("\t")
}

/// Why `palisade webhooks retry` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("no webhook event {0}")]
    NoSuchEvent(String),
    #[error("webhook event {0} was delivered already")]
    Delivered(String),
}

/// Makes a failed (or pending) row due now with a fresh count of attempts; a delivered row
/// stays as it is.
pub async fn retry(store: &dyn Ops, id: &str) -> Result<(), RetryError> {
    let Some(row) = store.find_one(MODEL, &[Where::eq("id", id)]).await? else {
        return Err(RetryError::NoSuchEvent(id.to_string()));
    };
    if row.str("status") == Some(Status::Delivered.as_str()) {
        return Err(RetryError::Delivered(id.to_string()));
    }
    let data = Record::new()
        .with("status", Status::Pending.as_str())
        .with("attempts", 0i64)
        .with("nextAttemptAt", now())
        .with("lockedUntil", Value::Null);
    store.update_many(MODEL, &[Where::eq("id", id)], data).await?;
    Ok(())
}
