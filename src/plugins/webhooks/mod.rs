//! The webhook outbox (issue #4, "Webhooks for apps whose data lives elsewhere").
//!
//! Events of users and sessions are written as rows of `webhookEvent` by a database hook, so
//! in the very transaction of the auth write: a write that rolls back leaves no event, and an
//! event exists for every write that committed. After the commit a worker delivers each row
//! (one per event and endpoint) signed the Standard Webhooks way, retries with exponential
//! back-off and marks it `delivered` only after a 2xx answer: at least once, across restarts
//! and nodes. The rows are the delivery log (`palisade webhooks list | retry`).
//!
//! As a plugin ([`WebhooksPlugin`]) it adds the outbox table, its hooks (registered last, so
//! an event carries what every hook before it wrote) and the delivery worker.

mod config;
pub mod log;
mod sign;
pub mod worker;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;

pub use config::{ConfigError, Endpoint, EndpointConfig, Retry, UrlError, WebhooksConfig};
pub use sign::{Secret, SecretError};

use crate::config::Config;
use crate::error::ApiError;
use crate::http::plugin::{Background, StartError};
use crate::http::{AppState, Plugin};
use crate::store::hooks::{Event, Hook, HookCtx, Hooks};
use crate::store::record_json;
use crate::store::{Record, Value, iso, now};

/// The outbox model (logical name; camelCase fields like Better Auth's own).
pub const MODEL: &str = "webhookEvent";

/// Adds the outbox: one row per event and endpoint, written in the auth write's transaction
/// and kept as the delivery log.
pub fn add_outbox(schema: &mut crate::store::Schema) {
    use crate::store::FieldType::{Date, Number, String};
    schema.add_model(
        crate::store::schema::ModelSpec::new(MODEL)
            .field("endpoint", String, true)
            .field("type", String, true)
            .field("payload", String, true)
            .field("status", String, true)
            .field("attempts", Number, true)
            .field("createdAt", Date, true)
            .field("nextAttemptAt", Date, false)
            .field("lockedUntil", Date, false)
            .field("deliveredAt", Date, false)
            .field("lastStatus", Number, false)
            .field("lastError", String, false)
            // Due rows are found by `nextAttemptAt` (null once delivered or failed).
            .index("nextAttemptAt")
            .index("status"),
    );
}

/// What happened, as the `type` of the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum EventType {
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "user.deleted")]
    UserDeleted,
    #[serde(rename = "session.created")]
    SessionCreated,
    /// Any deleted session: sign-out, revocations, the user's deletion, an expired row.
    #[serde(rename = "session.revoked")]
    SessionRevoked,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserDeleted,
        EventType::SessionCreated,
        EventType::SessionRevoked,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeleted => "user.deleted",
            EventType::SessionCreated => "session.created",
            EventType::SessionRevoked => "session.revoked",
        }
    }

    /// The database hook that records it.
    fn trigger(self) -> (&'static str, Event) {
        match self {
            EventType::UserCreated => ("user", Event::AfterCreate),
            EventType::UserUpdated => ("user", Event::AfterUpdate),
            EventType::UserDeleted => ("user", Event::AfterDelete),
            EventType::SessionCreated => ("session", Event::AfterCreate),
            EventType::SessionRevoked => ("session", Event::AfterDelete),
        }
    }
}

/// Where a row stands: `pending` (due at `nextAttemptAt`), `delivered` (a 2xx came back) or
/// `failed` (every attempt failed; kept until retried by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Delivered,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Pending, Status::Delivered, Status::Failed].into_iter().find(|st| st.as_str() == s)
    }
}

/// The configured endpoints and retry settings, shared by the hooks and the worker.
#[derive(Debug)]
pub struct Webhooks {
    pub endpoints: Vec<Endpoint>,
    pub retry: Retry,
    /// Poked after a commit that wrote events: the worker sends them at once.
    wake: Notify,
}

impl Webhooks {
    /// `None` when no endpoint is configured; an error names the bad key.
    pub fn from_config(cfg: &WebhooksConfig) -> Result<Option<Arc<Self>>, ConfigError> {
        let retry = cfg.retry()?;
        let endpoints = cfg.endpoints()?;
        Ok((!endpoints.is_empty()).then(|| Arc::new(Webhooks { endpoints, retry, wake: Notify::new() })))
    }

    /// The outbox hooks (events some endpoint wants), and the wake-up after their commit.
    pub fn hooks(self: &Arc<Self>) -> Hooks {
        let mut hooks = Hooks::new();
        for ty in EventType::ALL.into_iter().filter(|ty| self.endpoints.iter().any(|e| e.wants(*ty))) {
            let (model, event) = ty.trigger();
            hooks = hooks.on(model, event, OutboxHook { webhooks: self.clone(), ty });
        }
        let me = self.clone();
        hooks.after_commit(move || me.wake.notify_one())
    }

    fn endpoint(&self, url: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.url == url)
    }
}

/// The plugin: present when `[webhooks]` lists an endpoint.
pub struct WebhooksPlugin {
    webhooks: Arc<Webhooks>,
}

impl WebhooksPlugin {
    /// `None` when no endpoint is configured; an error names the bad key.
    pub fn from_config(cfg: &Config) -> Result<Option<Self>, ConfigError> {
        let section: WebhooksConfig = cfg.section()?;
        Ok(Webhooks::from_config(&section)?.map(|webhooks| WebhooksPlugin { webhooks }))
    }

    /// The endpoints and retry settings (library users who start the worker themselves).
    pub fn webhooks(&self) -> &Arc<Webhooks> {
        &self.webhooks
    }
}

#[async_trait]
impl Plugin for WebhooksPlugin {
    fn id(&self) -> &'static str {
        "webhooks"
    }

    fn schema(&self, schema: &mut crate::store::Schema) {
        add_outbox(schema);
    }

    fn hooks(&self) -> Option<Hooks> {
        Some(self.webhooks.hooks())
    }

    fn start(&self, state: &AppState) -> std::result::Result<Option<Box<dyn Background>>, StartError> {
        let handle = worker::spawn(&state.auth, self.webhooks.clone())?;
        Ok(Some(Box::new(handle)))
    }
}

/// Writes one outbox row per interested endpoint through the hook's transaction.
struct OutboxHook {
    webhooks: Arc<Webhooks>,
    ty: EventType,
}

#[async_trait]
impl Hook for OutboxHook {
    async fn run(&self, ctx: HookCtx<'_>) -> Result<Option<Record>, ApiError> {
        let at = now();
        let payload = json!({ "type": self.ty.name(), "timestamp": iso(&at), "data": data(ctx.model, ctx.record) });
        let payload = payload.to_string();
        for endpoint in self.webhooks.endpoints.iter().filter(|e| e.wants(self.ty)) {
            ctx.tx.create(MODEL, new_row(&endpoint.url, self.ty, &payload, at)).await?;
        }
        Ok(None)
    }
}

/// The record as the API returns it, without the session's token (a bearer credential).
fn data(model: &str, record: &Record) -> serde_json::Value {
    let hidden: &[&str] = if model == "session" { &["token"] } else { &[] };
    record_json(record, hidden)
}

fn new_row(url: &str, ty: EventType, payload: &str, at: chrono::DateTime<chrono::Utc>) -> Record {
    Record::new()
        .with("endpoint", url)
        .with("type", ty.name())
        .with("payload", payload)
        .with("status", Status::Pending.as_str())
        .with("attempts", 0i64)
        .with("createdAt", at)
        .with("nextAttemptAt", at)
        .with("lockedUntil", Value::Null)
}
