//! The hooks as a [`Layer`]: a write to a model with hooks runs them in its transaction, or in
//! a transaction of its own on the store, so a failing hook always leaves nothing behind.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::runner::{Runner, TxHooks};
use super::{CREATE, DELETE, Hooks, UPDATE};
use crate::store::layer::{At, Cx, Layer, Layered};
use crate::store::{Adapter, Intent, Ops, Record, Schema, Store, StoreResult, Where};

pub struct HookLayer {
    hooks: Hooks,
    schema: Arc<Schema>,
}

/// The adapter with hooks.
pub type HookedStore = Layered<HookLayer>;

impl HookedStore {
    pub fn new(inner: Store, hooks: Hooks, schema: Arc<Schema>) -> Self {
        Layered::wrap(inner, HookLayer { hooks, schema })
    }
}

impl HookLayer {
    fn runner<'a>(&'a self, tx: &'a dyn Ops, model: &'a str, state: &'a TxHooks) -> Runner<'a> {
        state.ran.store(true, Ordering::Relaxed);
        Runner { hooks: &self.hooks, schema: &self.schema, tx, model, state }
    }
}

/// A write: straight through when `$m` has no hooks for it; else with them, in the open
/// transaction or in one of its own (committed here, its listeners told).
macro_rules! hooked {
    ($self:ident, $cx:ident, $m:ident, $events:expr, $plain:expr, |$r:ident| $with_hooks:expr) => {{
        if !$self.hooks.has($m, $events) {
            return $plain.await;
        }
        match $cx.at {
            At::Tx(state) => {
                let $r = $self.runner($cx.ops, $m, state);
                Ok($with_hooks)
            }
            At::Store(store) => {
                let tx = store.begin().await?;
                let state = TxHooks::default();
                let out = {
                    let $r = $self.runner(&*tx, $m, &state);
                    $with_hooks
                };
                tx.commit().await?;
                $self.hooks.committed();
                Ok(out)
            }
        }
    }};
}

impl Layer for HookLayer {
    type State = TxHooks;

    /// Runs the before_delete hooks of the rows the transaction is opened to delete
    /// ([`Intent::deletes`]) first: a user's before_delete still sees the user's sessions and
    /// accounts. The delete itself then skips them.
    async fn begin(&self, tx: &dyn Ops, intent: &Intent) -> StoreResult<TxHooks> {
        let state = TxHooks::new(intent);
        if let Some((model, filter)) = &intent.deletes
            && self.hooks.has(model, DELETE)
        {
            self.runner(tx, model, &state).announce(filter).await?;
        }
        Ok(state)
    }

    async fn committed(&self, _: &dyn Adapter, state: TxHooks, ok: bool) {
        if ok && state.ran.into_inner() {
            self.hooks.committed();
        }
    }

    async fn create(&self, cx: Cx<'_, TxHooks>, m: &str, d: Record) -> StoreResult<Record> {
        hooked!(self, cx, m, CREATE, cx.ops.create(m, d), |r| r.create(d).await?)
    }
    async fn update(&self, cx: Cx<'_, TxHooks>, m: &str, w: &[Where], d: Record) -> StoreResult<Option<Record>> {
        hooked!(self, cx, m, UPDATE, cx.ops.update(m, w, d), |r| r.update(w, d, true).await?.into_iter().next())
    }
    async fn update_many(&self, cx: Cx<'_, TxHooks>, m: &str, w: &[Where], d: Record) -> StoreResult<u64> {
        hooked!(self, cx, m, UPDATE, cx.ops.update_many(m, w, d), |r| r.update(w, d, false).await?.len() as u64)
    }
    async fn delete(&self, cx: Cx<'_, TxHooks>, m: &str, w: &[Where]) -> StoreResult<()> {
        hooked!(self, cx, m, DELETE, cx.ops.delete(m, w), |r| {
            r.delete(w).await?;
        })
    }
    async fn delete_many(&self, cx: Cx<'_, TxHooks>, m: &str, w: &[Where]) -> StoreResult<u64> {
        hooked!(self, cx, m, DELETE, cx.ops.delete_many(m, w), |r| r.delete(w).await?)
    }
    fn hooked(&self, _: Cx<'_, TxHooks>, m: &str) -> bool {
        self.hooks.any(m)
    }
}
