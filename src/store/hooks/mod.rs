//! Database hooks: code that runs before and after every create, update and delete of a model,
//! inside the transaction that writes the auth rows. The app's own tables stay in step with
//! the auth tables because both commit or roll back together.
//!
//! Hooks come from configuration (`[hooks.<model>]`, SQL with `:field` parameters, run on the
//! transaction's connection) or from Rust (library mode, [`Hooks::on`]). A before hook may
//! replace fields of the data or refuse the write with an [`ApiError`] that reaches the client;
//! the user's after-create hook may return the app's id for the user, kept in `user.userId`.
//!
//! [`HookedStore`] wraps the adapter (the [`HookLayer`]): a write to a model that has hooks
//! opens a transaction when it is not already in one, so a failing hook always leaves nothing
//! behind. Files: `config` (`[hooks]`), `sql_hook` (configured SQL), `adopt` (gradual
//! migration's policy), `runner` (hooks around one write), `layer` (the store layer).

mod adopt;
mod config;
mod layer;
mod runner;
mod sql_hook;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Intent, Ops, Record, Value, Where};
use crate::error::ApiError;
use adopt::{AdoptHook, AdoptOnVerify};
pub use config::{HooksConfig, HooksError, ModelHooksConfig, config_sets_app_user_id};
pub use layer::{HookLayer, HookedStore};

/// The field of `user` that holds the app's canonical id when a user after-create hook is set.
pub const APP_USER_ID: &str = "userId";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    BeforeCreate,
    AfterCreate,
    BeforeUpdate,
    AfterUpdate,
    BeforeDelete,
    AfterDelete,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::BeforeCreate => "before_create",
            Event::AfterCreate => "after_create",
            Event::BeforeUpdate => "before_update",
            Event::AfterUpdate => "after_update",
            Event::BeforeDelete => "before_delete",
            Event::AfterDelete => "after_delete",
        }
    }
}

/// What a hook sees.
#[derive(Clone, Copy)]
pub struct HookCtx<'a> {
    pub model: &'a str,
    pub event: Event,
    /// Create: the data (before) or the new row (after). Update: the row with the changes
    /// applied (before) or as written (after). Delete: the row.
    pub record: &'a Record,
    /// Update: the row as it was.
    pub old: Option<&'a Record>,
    /// The open transaction: what a hook writes here commits or rolls back with the auth write.
    pub tx: &'a dyn Ops,
    /// What the transaction was opened for (the social provider whose sign-in writes, …).
    pub intent: &'a Intent,
}

pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<Record>, ApiError>> + Send + 'a>>;

/// A hook returns fields (before hooks: they replace those of the data; the user's after-create
/// hook: `userId` or its first field is the app's id), nothing, or an error that aborts.
#[async_trait]
pub trait Hook: Send + Sync {
    async fn run(&self, ctx: HookCtx<'_>) -> Result<Option<Record>, ApiError>;
}

struct FnHook<F>(F);

#[async_trait]
impl<F> Hook for FnHook<F>
where
    F: for<'a> Fn(HookCtx<'a>) -> HookFuture<'a> + Send + Sync,
{
    async fn run(&self, ctx: HookCtx<'_>) -> Result<Option<Record>, ApiError> {
        (self.0)(ctx).await
    }
}

/// Called after a transaction in which hooks ran has committed.
pub type CommitListener = Arc<dyn Fn() + Send + Sync>;

/// Every hook, by model and event, in registration order.
#[derive(Clone, Default)]
pub struct Hooks {
    /// By model, then event: a lookup by `&str` allocates nothing (it runs on every write).
    map: HashMap<String, HashMap<Event, Vec<Arc<dyn Hook>>>>,
    committed: Vec<CommitListener>,
}

impl Hooks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a hook for `model` (logical name: user, session, account, verification, …).
    pub fn on(mut self, model: &str, event: Event, hook: impl Hook + 'static) -> Self {
        self.map.entry(model.to_string()).or_default().entry(event).or_default().push(Arc::new(hook));
        self
    }

    /// Adds a closure hook: `hooks.on_fn("user", Event::AfterCreate, |ctx| Box::pin(async move { … }))`.
    pub fn on_fn<F>(self, model: &str, event: Event, f: F) -> Self
    where
        F: for<'a> Fn(HookCtx<'a>) -> HookFuture<'a> + Send + Sync + 'static,
    {
        self.on(model, event, FnHook(f))
    }

    /// Gradual migration (the Rust form of `[hooks.user] adopt`): `find` returns the app's
    /// existing user for the auth user in `ctx.record` (its id as `userId` or first field), or
    /// nothing; then `create`, if any, makes one. Either output becomes `user.userId`. The
    /// adoption policy applies (see `AdoptHook`): an unverified email is never adopted; its
    /// adoption runs when the email is verified. Adopt through this, not in a plain
    /// after_create hook, or the policy cannot hold.
    pub fn adopt(self, find: impl Hook + 'static, create: Option<Arc<dyn Hook>>) -> Self {
        let hook = Arc::new(AdoptHook { find: Arc::new(find), create });
        let on_verify = AdoptOnVerify(hook.clone());
        let mut hooks = self.on("user", Event::AfterUpdate, on_verify);
        hooks.map.entry("user".to_string()).or_default().entry(Event::AfterCreate).or_default().push(hook);
        hooks
    }

    /// [`Hooks::adopt`] with closures.
    pub fn adopt_fn<F, G>(self, find: F, create: G) -> Self
    where
        F: for<'a> Fn(HookCtx<'a>) -> HookFuture<'a> + Send + Sync + 'static,
        G: for<'a> Fn(HookCtx<'a>) -> HookFuture<'a> + Send + Sync + 'static,
    {
        self.adopt(FnHook(find), Some(Arc::new(FnHook(create))))
    }

    /// Adds `f`, called after each commit of a transaction in which hooks ran: what they
    /// wrote is now visible to others (the webhook worker wakes on it).
    pub fn after_commit(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.committed.push(Arc::new(f));
        self
    }

    fn committed(&self) {
        for f in &self.committed {
            f();
        }
    }

    /// Adds the hooks of `other` after these.
    pub fn merge(mut self, other: Hooks) -> Self {
        for (model, events) in other.map {
            let mine = self.map.entry(model).or_default();
            for (event, list) in events {
                mine.entry(event).or_default().extend(list);
            }
        }
        self.committed.extend(other.committed);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn sets_app_user_id(&self) -> bool {
        !self.get("user", Event::AfterCreate).is_empty()
    }

    fn get(&self, model: &str, event: Event) -> &[Arc<dyn Hook>] {
        self.map.get(model).and_then(|events| events.get(&event)).map_or(&[], Vec::as_slice)
    }

    fn has(&self, model: &str, events: [Event; 2]) -> bool {
        events.iter().any(|e| !self.get(model, *e).is_empty())
    }

    /// Whether any write to `model` runs a hook.
    fn any(&self, model: &str) -> bool {
        [CREATE, UPDATE, DELETE].into_iter().any(|events| self.has(model, events))
    }
}

fn by_id(row: &Record) -> [Where; 1] {
    [Where::eq("id", row.get("id").cloned().unwrap_or(Value::Null))]
}

/// The app's id in a user after-create hook's output: its `userId`, or its only/first field.
fn app_user_id(out: &Record) -> Option<Value> {
    let v = out.get(APP_USER_ID).or_else(|| out.0.first().map(|(_, v)| v))?;
    match v {
        Value::Null => None,
        Value::Int(i) => Some(Value::Text(i.to_string())),
        other => Some(other.clone()),
    }
}

const CREATE: [Event; 2] = [Event::BeforeCreate, Event::AfterCreate];
const UPDATE: [Event; 2] = [Event::BeforeUpdate, Event::AfterUpdate];
const DELETE: [Event; 2] = [Event::BeforeDelete, Event::AfterDelete];
