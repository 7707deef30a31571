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

/// Makes a failed (or pending) row due now with a fresh count of attempts; a delivered row
/// stays as it is.
pub async fn retry(store: &dyn Ops, id: &str) -> Result<(), String> {
    let err = |e: crate::store::StoreError| e.to_string();
    let Some(row) = store.find_one(MODEL, &[Where::eq("id", id)]).await.map_err(err)? else {
        return Err(format!("no webhook event {id}"));
    };
    if row.str("status") == Some(Status::Delivered.as_str()) {
        return Err(format!("webhook event {id} was delivered already"));
    }
    let data = Record::new()
        .with("status", Status::Pending.as_str())
        .with("attempts", 0i64)
        .with("nextAttemptAt", now())
        .with("lockedUntil", Value::Null);
    store.update_many(MODEL, &[Where::eq("id", id)], data).await.map_err(err)?;
    Ok(())
}
