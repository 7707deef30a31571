//! Hooks written as SQL in the configuration.

use async_trait::async_trait;

use super::{Event, Hook, HookCtx};
use crate::error::ApiError;
use crate::store::{Record, StoreError, Value};

/// The parameter naming the user an anonymous user is linked into.
pub const LINKED_USER_ID: &str = "linkedUserId";

/// A configured SQL statement. Parameters: every field of the record by name, `:old_<field>`
/// on update, `:linkedUserId` on delete (the user an anonymous user is linked into, else null). A returned `error_code` column (with `error_message`, `error_status`) refuses
/// the write; other returned columns are the hook's fields.
pub(super) struct SqlHook {
    sql: String,
}

impl SqlHook {
    pub(super) fn new(sql: &str) -> Self {
        Self { sql: sql.to_string() }
    }
}

#[async_trait]
impl Hook for SqlHook {
    async fn run(&self, ctx: HookCtx<'_>) -> Result<Option<Record>, ApiError> {
        let mut params = ctx.record.clone();
        if let Some(old) = ctx.old {
            params.0.extend(old.0.iter().map(|(k, v)| (format!("old_{k}"), v.clone())));
        }
        if matches!(ctx.event, Event::BeforeDelete | Event::AfterDelete) {
            params.set(LINKED_USER_ID, Value::from(ctx.intent.linked_to.clone()));
        }
        let rows = ctx.tx.sql(&self.sql, &params).await.map_err(|e| match e {
            StoreError::Unavailable(_) | StoreError::Refused(_) => ApiError::from(e),
            failed => {
                tracing::error!(model = ctx.model, hook = ctx.event.name(), error = %failed, "database hook failed");
                hook_failed(ctx.model, ctx.event)
            }
        })?;
        let Some(mut row) = rows.into_iter().next() else { return Ok(None) };
        if let Some(code) = row.str("error_code") {
            return Err(refusal(&row, code));
        }
        // A null `error_code` (a CASE that did not match) lets the write through.
        row.0.retain(|(k, _)| !REFUSAL_COLUMNS.contains(&k.as_str()));
        Ok((!row.0.is_empty()).then_some(row))
    }
}

const REFUSAL_COLUMNS: [&str; 3] = ["error_code", "error_message", "error_status"];

fn refusal(row: &Record, code: &str) -> ApiError {
    let status = row.str("error_status").and_then(|s| s.parse().ok()).filter(|s| (400..600).contains(s));
    let message = row.str("error_message").unwrap_or(code).to_string();
    ApiError::new(status.unwrap_or(400), code.to_string(), message)
}

fn hook_failed(model: &str, event: Event) -> ApiError {
    ApiError::new(500, "HOOK_FAILED", format!("The {model} {} hook failed", event.name()))
}
