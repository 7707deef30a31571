//! Database hooks: code that runs before and after every create, update and delete of a model,
//! inside the transaction that writes the auth rows. The app's own tables stay in step with
//! the auth tables because both commit or roll back together.
//!
//! Hooks come from configuration (`[hooks.<model>]`, SQL with `:field` parameters, run on the
//! transaction's connection) or from Rust (library mode, [`Hooks::on`]). A before hook may
//! replace fields of the data or refuse the write with an [`ApiError`] that reaches the client;
//! the user's after-create hook may return the app's id for the user, kept in `user.userId`.
//!
//! [`HookedStore`] wraps the adapter: a write to a model that has hooks opens a transaction
//! when it is not already in one, so a failing hook always leaves nothing behind.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Adapter, FindMany, Ops, Record, Schema, Store, StoreError, StoreResult, Transaction, Value, Where};
use crate::error::ApiError;

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

/// The hooks of one model as configured: SQL per event.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelHooksConfig {
    /// `user` only, gradual migration: finds an existing app user for the new auth user
    /// (`SELECT id FROM app_users WHERE email = :email`). A row found is adopted (its id becomes
    /// `userId`) instead of running `after_create`, for a verified email only ([`Hooks::adopt`]).
    pub adopt: Option<String>,
    pub before_create: Option<String>,
    pub after_create: Option<String>,
    pub before_update: Option<String>,
    pub after_update: Option<String>,
    pub before_delete: Option<String>,
    pub after_delete: Option<String>,
}

impl ModelHooksConfig {
    fn statements(&self) -> [(Event, &Option<String>); 6] {
        [
            (Event::BeforeCreate, &self.before_create),
            (Event::AfterCreate, &self.after_create),
            (Event::BeforeUpdate, &self.before_update),
            (Event::AfterUpdate, &self.after_update),
            (Event::BeforeDelete, &self.before_delete),
            (Event::AfterDelete, &self.after_delete),
        ]
    }
}

pub type HooksConfig = BTreeMap<String, ModelHooksConfig>;

/// Whether the configuration sets the user's after-create hook (which yields `user.userId`).
pub fn config_sets_app_user_id(cfg: &HooksConfig) -> bool {
    cfg.get("user").is_some_and(|h| h.after_create.is_some() || h.adopt.is_some())
}

tokio::task_local! {
    static SOCIAL_PROVIDER: String;
}

/// Runs `fut` (a write) on behalf of social sign-in with `provider`; hooks see it through
/// [`social_provider`].
pub async fn on_behalf_of_provider<F: Future>(provider: &str, fut: F) -> F::Output {
    SOCIAL_PROVIDER.scope(provider.to_string(), fut).await
}

/// The social provider whose sign-in is writing, if the write comes from one.
pub fn social_provider() -> Option<String> {
    SOCIAL_PROVIDER.try_with(Clone::clone).ok()
}

/// Gradual migration: the app's existing user for a new auth user with the same email. Used
/// at creation (after_create) and again when a deferred user's email is verified.
///
/// Policy: an existing row is adopted only for a verified email. Anyone can sign up with an
/// address they do not own; adopting then would hand them the app user's data. An unverified
/// email with a match gets no app id at all (no new row either) until it is verified: the
/// after_update hook registered with it adopts in the transaction that sets `emailVerified`.
/// A social provider that did not verify the email is refused outright (nothing is written).
struct AdoptHook {
    find: Arc<dyn Hook>,
    create: Option<Arc<dyn Hook>>,
}

enum Adoption {
    /// The app's existing row (verified email).
    Adopted(Record),
    /// No existing row: the create hook's output, if any.
    Created(Option<Record>),
    /// A row exists but the email is not verified: no app id yet.
    Deferred,
}

impl AdoptHook {
    async fn resolve(&self, ctx: HookCtx<'_>) -> Result<Adoption, ApiError> {
        let Some(row) = self.find.run(ctx).await?.filter(|r| app_user_id(r).is_some()) else {
            return Ok(Adoption::Created(match &self.create {
                Some(create) => create.run(ctx).await?,
                None => None,
            }));
        };
        if ctx.record.bool("emailVerified") {
            return Ok(Adoption::Adopted(row));
        }
        if let Some(provider) = social_provider() {
            tracing::warn!(%provider, "app user not adopted: the provider did not verify the email");
            return Err(ApiError::new(
                403,
                "ACCOUNT_NOT_LINKED",
                "An account with this email exists; the provider did not verify the email",
            ));
        }
        tracing::info!("app user adoption deferred until the email is verified");
        Ok(Adoption::Deferred)
    }
}

#[async_trait]
impl Hook for AdoptHook {
    async fn run(&self, ctx: HookCtx<'_>) -> Result<Option<Record>, ApiError> {
        Ok(match self.resolve(ctx).await? {
            Adoption::Adopted(row) => Some(row),
            Adoption::Created(out) => out,
            Adoption::Deferred => None,
        })
    }
}

/// The user's after_update half of [`AdoptHook`]: when an update verifies the email of a user
/// without an app id, that user gets one (adopted or created) in the update's transaction.
struct AdoptOnVerify(Arc<AdoptHook>);

#[async_trait]
impl Hook for AdoptOnVerify {
    async fn run(&self, ctx: HookCtx<'_>) -> Result<Option<Record>, ApiError> {
        let verifies = ctx.record.bool("emailVerified") && ctx.old.is_some_and(|o| !o.bool("emailVerified"));
        if !verifies || ctx.record.get(APP_USER_ID).is_some_and(|v| *v != Value::Null) {
            return Ok(None);
        }
        let (out, adopted) = match self.0.resolve(ctx).await? {
            Adoption::Adopted(row) => (Some(row), true),
            Adoption::Created(out) => (out, false),
            Adoption::Deferred => (None, false),
        };
        let Some(app_id) = out.as_ref().and_then(app_user_id) else { return Ok(None) };
        ctx.tx.update("user", &by_id(ctx.record), Record::new().with(APP_USER_ID, app_id)).await?;
        if adopted {
            // Only now, once written: the caller shuts out whoever held the account before.
            let _ = ADOPTED.try_with(|flag| flag.store(true, Ordering::Relaxed));
        }
        Ok(None)
    }
}

tokio::task_local! {
    static ADOPTED: Arc<AtomicBool>;
}

/// Runs `fut` (a write that may verify a user's email) and tells whether it adopted an existing
/// app user, so the caller can revoke what was created before the email was proven.
pub async fn noting_adoption<F: Future>(fut: F) -> (F::Output, bool) {
    let flag = Arc::new(AtomicBool::new(false));
    let out = ADOPTED.scope(flag.clone(), fut).await;
    (out, flag.load(Ordering::Relaxed))
}

/// A configured SQL statement. Parameters: every field of the record by name, `:old_<field>`
/// on update. A returned `error_code` column (with `error_message`, `error_status`) refuses
/// the write; other returned columns are the hook's fields.
struct SqlHook {
    sql: String,
}

impl SqlHook {
    fn new(sql: &str) -> Self {
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

/// Called after a transaction in which hooks ran has committed.
pub type CommitListener = Arc<dyn Fn() + Send + Sync>;

/// Every hook, by model and event, in registration order.
#[derive(Clone, Default)]
pub struct Hooks {
    map: HashMap<(String, Event), Vec<Arc<dyn Hook>>>,
    committed: Vec<CommitListener>,
}

impl Hooks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a hook for `model` (logical name: user, session, account, verification, …).
    pub fn on(mut self, model: &str, event: Event, hook: impl Hook + 'static) -> Self {
        self.map.entry((model.to_string(), event)).or_default().push(Arc::new(hook));
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
        hooks.map.entry(("user".to_string(), Event::AfterCreate)).or_default().push(hook);
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

    /// The SQL hooks of the configuration; every model must exist in `schema`.
    pub fn from_config(cfg: &HooksConfig, schema: &Schema) -> Result<Self, String> {
        let mut hooks = Hooks::new();
        for (model, events) in cfg {
            if schema.model(model).is_err() {
                let known: Vec<_> = schema.models.iter().map(|m| m.name.as_str()).collect();
                return Err(format!("hooks.{model}: no such model (known: {})", known.join(", ")));
            }
            let sql_of = |s: &Option<String>| s.as_deref().filter(|s| !s.trim().is_empty()).map(SqlHook::new);
            if let Some(find) = sql_of(&events.adopt) {
                if model != "user" {
                    return Err(format!("hooks.{model}.adopt: only the user model adopts existing app rows"));
                }
                let create = sql_of(&events.after_create).map(|h| Arc::new(h) as Arc<dyn Hook>);
                hooks = hooks.adopt(find, create);
            }
            for (event, sql) in events.statements() {
                let adopted = event == Event::AfterCreate && events.adopt.is_some();
                if let Some(hook) = sql_of(sql).filter(|_| !adopted) {
                    hooks = hooks.on(model, event, hook);
                }
            }
        }
        Ok(hooks)
    }

    /// Adds the hooks of `other` after these.
    pub fn merge(mut self, other: Hooks) -> Self {
        for (key, list) in other.map {
            self.map.entry(key).or_default().extend(list);
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
        self.map.get(&(model.to_string(), event)).map_or(&[], Vec::as_slice)
    }

    fn has(&self, model: &str, events: [Event; 2]) -> bool {
        events.iter().any(|e| !self.get(model, *e).is_empty())
    }

    /// Whether any write to `model` runs a hook.
    fn any(&self, model: &str) -> bool {
        [CREATE, UPDATE, DELETE].into_iter().any(|events| self.has(model, events))
    }
}

/// Runs the hooks of `event` in order; each before hook sees the changes of the previous one.
struct Runner<'a> {
    hooks: &'a Hooks,
    schema: &'a Schema,
    tx: &'a dyn Ops,
    model: &'a str,
    /// Rows whose before_delete already ran ([`Ops::before_delete`]): (model, id).
    announced: Option<&'a Mutex<HashSet<(String, String)>>>,
}

impl Runner<'_> {
    /// `record` with every field of the model present (null where absent), so each `:field`
    /// parameter is defined.
    fn full(&self, record: &Record) -> Record {
        let mut full = record.clone();
        if let Ok(m) = self.schema.model(self.model) {
            for f in m.fields.iter().filter(|f| record.get(&f.name).is_none()) {
                full.set(&f.name, Value::Null);
            }
        }
        full
    }

    async fn run(&self, event: Event, record: &Record, old: Option<&Record>) -> StoreResult<Vec<Record>> {
        let mut outputs = Vec::new();
        for hook in self.hooks.get(self.model, event) {
            let ctx = HookCtx { model: self.model, event, record: &self.full(record), old, tx: self.tx };
            if let Some(out) = hook.run(ctx).await.map_err(StoreError::Refused)? {
                outputs.push(out);
            }
        }
        Ok(outputs)
    }

    /// Before hooks: their fields replace those of `changes` (checked against the schema).
    async fn before(&self, event: Event, changes: &mut Record, old: Option<&Record>) -> StoreResult<()> {
        for hook in self.hooks.get(self.model, event) {
            let mut seen = old.cloned().unwrap_or_default();
            seen.0.retain(|(k, _)| changes.get(k).is_none());
            seen.0.extend(changes.0.iter().cloned());
            let ctx = HookCtx { model: self.model, event, record: &self.full(&seen), old, tx: self.tx };
            let Some(out) = hook.run(ctx).await.map_err(StoreError::Refused)? else { continue };
            let model = self.schema.model(self.model)?;
            for (k, v) in out.0 {
                if model.field(&k).is_err() {
                    let msg = format!("The {} {} hook returned {k:?}, which is not a field", self.model, event.name());
                    return Err(StoreError::Refused(ApiError::new(500, "HOOK_FAILED", msg)));
                }
                changes.set(&k, v);
            }
        }
        Ok(())
    }

    async fn create(&self, mut data: Record) -> StoreResult<Record> {
        self.before(Event::BeforeCreate, &mut data, None).await?;
        let mut row = self.tx.create(self.model, data).await?;
        let event = Event::AfterCreate;
        for hook in self.hooks.get(self.model, event) {
            let ctx = HookCtx { model: self.model, event, record: &self.full(&row), old: None, tx: self.tx };
            let out = hook.run(ctx).await.map_err(StoreError::Refused)?;
            // The app's id is kept at once, so the hooks after this one (the webhook
            // outbox among them) see it; the last one returned wins.
            if let Some(app_id) = out.as_ref().and_then(app_user_id)
                && self.model == "user"
                && self.schema.model("user")?.field(APP_USER_ID).is_ok()
            {
                let data = Record::new().with(APP_USER_ID, app_id);
                row = self.tx.update("user", &by_id(&row), data).await?.unwrap_or(row);
            }
        }
        self.reread(row).await
    }

    /// The row as it stands in the transaction, i.e. as it commits: a hook may have written
    /// it (an after hook's UPDATE of its own row; a before hook's value, typed by its column).
    /// The caller's answer and every copy of the row (cookie cache, local cache, secondary
    /// storage) are made from what this returns.
    async fn reread(&self, row: Record) -> StoreResult<Record> {
        Ok(self.tx.find_one(self.model, &by_id(&row)).await?.unwrap_or(row))
    }

    /// Updates each matching row on its own, so every hook sees its old and new row.
    ///
    /// The rows are locked as they are matched, and each is updated under the caller's
    /// condition again: a parallel compare-and-set (counters, backup codes, rate limits)
    /// waits for this transaction, then no longer matches, exactly as the plain conditional
    /// UPDATE would behave. Hooks run only on rows this write changed. `reread`: the rows
    /// are returned as committed (for `update`; `update_many` only counts them).
    async fn update(&self, filter: &[Where], data: Record, reread: bool) -> StoreResult<Vec<Record>> {
        let mut written = Vec::new();
        for old in self.tx.find_for_update(self.model, filter).await? {
            let mut changes = data.clone();
            self.before(Event::BeforeUpdate, &mut changes, Some(&old)).await?;
            let mut this_row = filter.to_vec();
            this_row.extend(by_id(&old));
            if !changes.0.is_empty() && self.tx.update_many(self.model, &this_row, changes.clone()).await? == 0 {
                continue;
            }
            let mut new = old.clone();
            for (k, v) in changes.0 {
                new.set(&k, v);
            }
            self.run(Event::AfterUpdate, &new, Some(&old)).await?;
            written.push(if reread { self.reread(new).await? } else { new });
        }
        Ok(written)
    }

    /// Runs before_delete now for the matching rows, and remembers them for the delete.
    async fn announce(&self, filter: &[Where]) -> StoreResult<()> {
        let Some(announced) = self.announced else { return Ok(()) };
        for row in self.tx.find_many(self.model, filter, FindMany::default()).await? {
            if !self.was_announced(&row) {
                self.run(Event::BeforeDelete, &row, None).await?;
                let key = (self.model.to_string(), row.string("id"));
                announced.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
            }
        }
        Ok(())
    }

    fn was_announced(&self, row: &Record) -> bool {
        self.announced.is_some_and(|a| {
            a.lock().unwrap_or_else(|p| p.into_inner()).contains(&(self.model.to_string(), row.string("id")))
        })
    }

    async fn delete(&self, filter: &[Where]) -> StoreResult<u64> {
        let rows = self.tx.find_many(self.model, filter, FindMany::default()).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        for row in rows.iter().filter(|r| !self.was_announced(r)) {
            self.run(Event::BeforeDelete, row, None).await?;
        }
        let ids = rows.iter().map(|r| r.get("id").cloned().unwrap_or(Value::Null)).collect();
        let n = self.tx.delete_many(self.model, &[Where::is_in("id", ids)]).await?;
        for row in &rows {
            self.run(Event::AfterDelete, row, None).await?;
        }
        Ok(n)
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

/// The adapter with hooks: writes to a hooked model run in a transaction of their own unless
/// they are already in one.
pub struct HookedStore {
    inner: Store,
    hooks: Arc<Hooks>,
    schema: Arc<Schema>,
}

impl HookedStore {
    pub fn new(inner: Store, hooks: Hooks, schema: Arc<Schema>) -> Self {
        Self { inner, hooks: Arc::new(hooks), schema }
    }

    fn runner<'a>(&'a self, tx: &'a dyn Ops, model: &'a str) -> Runner<'a> {
        Runner { hooks: &self.hooks, schema: &self.schema, tx, model, announced: None }
    }
}

/// A write on the store: straight through when `model` has no hooks for it, else in a
/// transaction of its own with the hooks.
macro_rules! hooked_write {
    ($self:ident, $model:ident, $events:expr, $plain:expr, |$r:ident| $with_hooks:expr) => {{
        if !$self.hooks.has($model, $events) {
            return $plain.await;
        }
        let tx = $self.inner.begin().await?;
        let $r = $self.runner(&*tx, $model);
        let out = $with_hooks;
        tx.commit().await?;
        $self.hooks.committed();
        Ok(out)
    }};
}

#[async_trait]
impl Ops for HookedStore {
    async fn create(&self, m: &str, d: Record) -> StoreResult<Record> {
        hooked_write!(self, m, CREATE, self.inner.create(m, d), |r| r.create(d).await?)
    }
    async fn update(&self, m: &str, w: &[Where], d: Record) -> StoreResult<Option<Record>> {
        hooked_write!(self, m, UPDATE, self.inner.update(m, w, d), |r| r.update(w, d, true).await?.into_iter().next())
    }
    async fn update_many(&self, m: &str, w: &[Where], d: Record) -> StoreResult<u64> {
        hooked_write!(self, m, UPDATE, self.inner.update_many(m, w, d), |r| r.update(w, d, false).await?.len() as u64)
    }
    async fn delete(&self, m: &str, w: &[Where]) -> StoreResult<()> {
        hooked_write!(self, m, DELETE, self.inner.delete(m, w), |r| {
            r.delete(w).await?;
        })
    }
    async fn delete_many(&self, m: &str, w: &[Where]) -> StoreResult<u64> {
        hooked_write!(self, m, DELETE, self.inner.delete_many(m, w), |r| r.delete(w).await?)
    }
    async fn find_one(&self, m: &str, w: &[Where]) -> StoreResult<Option<Record>> {
        self.inner.find_one(m, w).await
    }
    async fn find_many(&self, m: &str, w: &[Where], o: FindMany) -> StoreResult<Vec<Record>> {
        self.inner.find_many(m, w, o).await
    }
    async fn count(&self, m: &str, w: &[Where]) -> StoreResult<u64> {
        self.inner.count(m, w).await
    }
    async fn sql(&self, q: &str, p: &Record) -> StoreResult<Vec<Record>> {
        self.inner.sql(q, p).await
    }
    async fn find_for_update(&self, m: &str, w: &[Where]) -> StoreResult<Vec<Record>> {
        self.inner.find_for_update(m, w).await
    }
    fn hooked(&self, m: &str) -> bool {
        self.hooks.any(m)
    }
}

#[async_trait]
impl Adapter for HookedStore {
    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        let inner = self.inner.begin().await?;
        let (hooks, schema) = (self.hooks.clone(), self.schema.clone());
        Ok(Box::new(HookedTx { inner, hooks, schema, announced: Mutex::default(), ran: AtomicBool::new(false) }))
    }
}

struct HookedTx {
    inner: Box<dyn Transaction>,
    hooks: Arc<Hooks>,
    schema: Arc<Schema>,
    announced: Mutex<HashSet<(String, String)>>,
    /// Whether a hook may have run: the commit listeners are told at commit.
    ran: AtomicBool,
}

impl HookedTx {
    fn runner<'a>(&'a self, model: &'a str) -> Runner<'a> {
        self.ran.store(true, Ordering::Relaxed);
        Runner { hooks: &self.hooks, schema: &self.schema, tx: &*self.inner, model, announced: Some(&self.announced) }
    }
}

/// Inside a transaction every write runs its hooks (none registered: straight through).
#[async_trait]
impl Ops for HookedTx {
    async fn create(&self, m: &str, d: Record) -> StoreResult<Record> {
        if !self.hooks.has(m, CREATE) {
            return self.inner.create(m, d).await;
        }
        self.runner(m).create(d).await
    }
    async fn update(&self, m: &str, w: &[Where], d: Record) -> StoreResult<Option<Record>> {
        if !self.hooks.has(m, UPDATE) {
            return self.inner.update(m, w, d).await;
        }
        Ok(self.runner(m).update(w, d, true).await?.into_iter().next())
    }
    async fn update_many(&self, m: &str, w: &[Where], d: Record) -> StoreResult<u64> {
        if !self.hooks.has(m, UPDATE) {
            return self.inner.update_many(m, w, d).await;
        }
        Ok(self.runner(m).update(w, d, false).await?.len() as u64)
    }
    async fn delete(&self, m: &str, w: &[Where]) -> StoreResult<()> {
        self.delete_many(m, w).await.map(|_| ())
    }
    async fn delete_many(&self, m: &str, w: &[Where]) -> StoreResult<u64> {
        if !self.hooks.has(m, DELETE) {
            return self.inner.delete_many(m, w).await;
        }
        self.runner(m).delete(w).await
    }
    async fn before_delete(&self, m: &str, w: &[Where]) -> StoreResult<()> {
        if !self.hooks.has(m, DELETE) {
            return Ok(());
        }
        self.runner(m).announce(w).await
    }
    async fn find_one(&self, m: &str, w: &[Where]) -> StoreResult<Option<Record>> {
        self.inner.find_one(m, w).await
    }
    async fn find_many(&self, m: &str, w: &[Where], o: FindMany) -> StoreResult<Vec<Record>> {
        self.inner.find_many(m, w, o).await
    }
    async fn count(&self, m: &str, w: &[Where]) -> StoreResult<u64> {
        self.inner.count(m, w).await
    }
    async fn sql(&self, q: &str, p: &Record) -> StoreResult<Vec<Record>> {
        self.inner.sql(q, p).await
    }
    async fn find_for_update(&self, m: &str, w: &[Where]) -> StoreResult<Vec<Record>> {
        self.inner.find_for_update(m, w).await
    }
    fn hooked(&self, m: &str) -> bool {
        self.hooks.any(m)
    }
}

#[async_trait]
impl Transaction for HookedTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let HookedTx { inner, hooks, ran, .. } = *self;
        inner.commit().await?;
        if ran.into_inner() {
            hooks.committed();
        }
        Ok(())
    }
}
