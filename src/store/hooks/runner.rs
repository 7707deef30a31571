//! Running the hooks around one write, in its transaction.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use super::{APP_USER_ID, Event, HookCtx, Hooks, app_user_id, by_id};
use crate::error::ApiError;
use crate::store::{FindMany, Intent, Ops, Record, Schema, StoreError, StoreResult, Value, Where};

/// The hooks' state in one transaction.
#[derive(Default)]
pub struct TxHooks {
    pub(super) intent: Intent,
    /// Rows whose before_delete already ran (see [`Intent::deletes`]): (model, id).
    announced: Mutex<HashSet<(String, String)>>,
    /// Whether a hook may have run: the commit listeners are told at commit.
    pub(super) ran: AtomicBool,
}

impl TxHooks {
    pub(super) fn new(intent: &Intent) -> Self {
        Self { intent: intent.clone(), ..Self::default() }
    }
}

/// Runs the hooks of `event` in order; each before hook sees the changes of the previous one.
pub(super) struct Runner<'a> {
    pub(super) hooks: &'a Hooks,
    pub(super) schema: &'a Schema,
    pub(super) tx: &'a dyn Ops,
    pub(super) model: &'a str,
    pub(super) state: &'a TxHooks,
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
            let ctx = HookCtx {
                model: self.model,
                event,
                record: &self.full(record),
                old,
                tx: self.tx,
                intent: &self.state.intent,
            };
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
            let ctx = HookCtx {
                model: self.model,
                event,
                record: &self.full(&seen),
                old,
                tx: self.tx,
                intent: &self.state.intent,
            };
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

    pub(super) async fn create(&self, mut data: Record) -> StoreResult<Record> {
        self.before(Event::BeforeCreate, &mut data, None).await?;
        let mut row = self.tx.create(self.model, data).await?;
        let event = Event::AfterCreate;
        for hook in self.hooks.get(self.model, event) {
            let ctx = HookCtx {
                model: self.model,
                event,
                record: &self.full(&row),
                old: None,
                tx: self.tx,
                intent: &self.state.intent,
            };
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
    pub(super) async fn update(&self, filter: &[Where], data: Record, reread: bool) -> StoreResult<Vec<Record>> {
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
    pub(super) async fn announce(&self, filter: &[Where]) -> StoreResult<()> {
        for row in self.tx.find_many(self.model, filter, FindMany::default()).await? {
            if !self.was_announced(&row) {
                self.run(Event::BeforeDelete, &row, None).await?;
                let key = (self.model.to_string(), row.string("id"));
                self.state.announced.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
            }
        }
        Ok(())
    }

    fn was_announced(&self, row: &Record) -> bool {
        let announced = self.state.announced.lock().unwrap_or_else(|p| p.into_inner());
        !announced.is_empty() && announced.contains(&(self.model.to_string(), row.string("id")))
    }

    pub(super) async fn delete(&self, filter: &[Where]) -> StoreResult<u64> {
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
