//! One way to wrap the adapter: a [`Layer`] is written once, for the store and for the
//! transaction alike, and [`Layered`] turns it into an [`Adapter`] (and its transactions into
//! [`Transaction`]s). Every verb passes through unless the layer overrides it; a layer sees the
//! adapter below it, and inside a transaction the state it keeps there, handed back to it once
//! the transaction has committed (or failed to).
//!
//! A layer's verbs are plain `async fn`s called on the concrete type: its futures live inside
//! the one boxed future of [`Layered`]'s verb, so a layer costs no allocation of its own.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Adapter, FindMany, Intent, Ops, Record, Store, StoreResult, Transaction, Where};

/// Where a layer's verb runs.
pub enum At<'a, S> {
    /// On the store: the adapter below, for a layer that opens a transaction of its own.
    Store(&'a dyn Adapter),
    /// Inside a transaction: the layer's state in it.
    Tx(&'a S),
}

/// What a layer's verb sees: the adapter below (the store or the transaction open on it).
pub struct Cx<'a, S> {
    pub ops: &'a dyn Ops,
    pub at: At<'a, S>,
}

impl<S> Clone for Cx<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for Cx<'_, S> {}
impl<S> Clone for At<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for At<'_, S> {}

impl<'a, S> Cx<'a, S> {
    /// The layer's state when the verb runs inside a transaction.
    pub fn state(&self) -> Option<&'a S> {
        match self.at {
            At::Tx(s) => Some(s),
            At::Store(_) => None,
        }
    }
}

/// A wrapper around the adapter. Each verb defaults to passing straight through.
pub trait Layer: Send + Sync + 'static {
    /// What the layer keeps for one transaction.
    type State: Send + Sync;

    /// The state for a transaction just opened below (`tx`) with `intent`.
    fn begin<'a>(
        &'a self,
        tx: &'a dyn Ops,
        intent: &'a Intent,
    ) -> impl Future<Output = StoreResult<Self::State>> + Send + 'a;

    /// After the transaction's commit below (`ok`: it committed), with the store below.
    fn committed<'a>(
        &'a self,
        store: &'a dyn Adapter,
        state: Self::State,
        ok: bool,
    ) -> impl Future<Output = ()> + Send + 'a {
        let _ = (store, state, ok);
        async {}
    }

    fn create<'a>(
        &'a self,
        cx: Cx<'a, Self::State>,
        m: &'a str,
        d: Record,
    ) -> impl Future<Output = StoreResult<Record>> + Send + 'a {
        cx.ops.create(m, d)
    }
    fn find_one<'a>(
        &'a self,
        cx: Cx<'a, Self::State>,
        m: &'a str,
        w: &'a [Where],
    ) -> impl Future<Output = StoreResult<Option<Record>>> + Send + 'a {
        cx.ops.find_one(m, w)
    }
    fn find_many<'a>(
        &'a self,
        cx: Cx<'a, Self::State>,
        m: &'a str,
        w: &'a [Where],
        o: FindMany,
    ) -> impl Future<Output = StoreResult<Vec<Record>>> + Send + 'a {
        cx.ops.find_many(m, w, o)
    }
    fn count<'a>(
        &'a self,
        cx: Cx<'a, Self::State>,
        m: &'a str,
        w: &'a [Where],
    ) -> impl Future<Output = StoreResult<u64>> + Send + 'a {
        cx.ops.count(m, w)
    }
    fn update<'a>(
        &'a self,
        cx: Cx<'a, Self::State>,
        m: &'a str,
        w: &'a [Where],
        d: Record,
    ) -> impl Future<Output = StoreResult<Option<Record>>> + Send + 'a {
        cx.ops.update(m, w, d)
    }
    fn update_many<'a>(
        &'a self,
        cx: Cx<'a, Self::State>,
        m: &'a str,
        w: &'a [Where],
        d: Record,
    ) -> impl Future<Output = StoreResult<u64>> + Send + 'a {
        cx.ops.update_many(m, w, d)
    }
    fn delete<'a>(
        &'a self,
        cx: Cx<'a, Self::State>,
        m: &'a str,
        w: &'a [Where],
    ) -> impl Future<Output = StoreResult<()>> + Send + 'a {
        cx.ops.delete(m, w)
    }
    fn delete_many<'a>(
        &'a self,
        cx: Cx<'a, Self::State>,
        m: &'a str,
        w: &'a [Where],
    ) -> impl Future<Output = StoreResult<u64>> + Send + 'a {
        cx.ops.delete_many(m, w)
    }
    fn sql<'a>(
        &'a self,
        cx: Cx<'a, Self::State>,
        q: &'a str,
        p: &'a Record,
    ) -> impl Future<Output = StoreResult<Vec<Record>>> + Send + 'a {
        cx.ops.sql(q, p)
    }
    fn find_for_update<'a>(
        &'a self,
        cx: Cx<'a, Self::State>,
        m: &'a str,
        w: &'a [Where],
    ) -> impl Future<Output = StoreResult<Vec<Record>>> + Send + 'a {
        cx.ops.find_for_update(m, w)
    }
    fn hooked(&self, cx: Cx<'_, Self::State>, m: &str) -> bool {
        cx.ops.hooked(m)
    }
}

struct Parts<L> {
    below: Store,
    layer: L,
}

/// Where a [`Layered`] runs: on the store ([`OnStore`]) or in a transaction ([`InTx`]).
pub trait Side<L: Layer>: Send + Sync + 'static {
    fn cx<'a>(&'a self, below: &'a Store) -> Cx<'a, L::State>;
}

pub struct OnStore;

impl<L: Layer> Side<L> for OnStore {
    fn cx<'a>(&'a self, below: &'a Store) -> Cx<'a, L::State> {
        Cx { ops: &**below, at: At::Store(&**below) }
    }
}

pub struct InTx<L: Layer> {
    tx: Box<dyn Transaction>,
    state: L::State,
}

impl<L: Layer> Side<L> for InTx<L> {
    fn cx<'a>(&'a self, _: &'a Store) -> Cx<'a, L::State> {
        Cx { ops: &*self.tx, at: At::Tx(&self.state) }
    }
}

/// The adapter below with `L` around it; in a transaction, `Layered<L, InTx<L>>`.
pub struct Layered<L: Layer, S: Side<L> = OnStore> {
    parts: Arc<Parts<L>>,
    side: S,
}

impl<L: Layer> Layered<L> {
    pub fn wrap(below: Store, layer: L) -> Self {
        Self { parts: Arc::new(Parts { below, layer }), side: OnStore }
    }

    pub fn layer(&self) -> &L {
        &self.parts.layer
    }
}

impl<L: Layer, S: Side<L>> Layered<L, S> {
    fn cx(&self) -> Cx<'_, L::State> {
        self.side.cx(&self.parts.below)
    }
}

#[async_trait]
impl<L: Layer, S: Side<L>> Ops for Layered<L, S> {
    async fn create(&self, m: &str, d: Record) -> StoreResult<Record> {
        self.parts.layer.create(self.cx(), m, d).await
    }
    async fn find_one(&self, m: &str, w: &[Where]) -> StoreResult<Option<Record>> {
        self.parts.layer.find_one(self.cx(), m, w).await
    }
    async fn find_many(&self, m: &str, w: &[Where], o: FindMany) -> StoreResult<Vec<Record>> {
        self.parts.layer.find_many(self.cx(), m, w, o).await
    }
    async fn count(&self, m: &str, w: &[Where]) -> StoreResult<u64> {
        self.parts.layer.count(self.cx(), m, w).await
    }
    async fn update(&self, m: &str, w: &[Where], d: Record) -> StoreResult<Option<Record>> {
        self.parts.layer.update(self.cx(), m, w, d).await
    }
    async fn update_many(&self, m: &str, w: &[Where], d: Record) -> StoreResult<u64> {
        self.parts.layer.update_many(self.cx(), m, w, d).await
    }
    async fn delete(&self, m: &str, w: &[Where]) -> StoreResult<()> {
        self.parts.layer.delete(self.cx(), m, w).await
    }
    async fn delete_many(&self, m: &str, w: &[Where]) -> StoreResult<u64> {
        self.parts.layer.delete_many(self.cx(), m, w).await
    }
    async fn sql(&self, q: &str, p: &Record) -> StoreResult<Vec<Record>> {
        self.parts.layer.sql(self.cx(), q, p).await
    }
    async fn find_for_update(&self, m: &str, w: &[Where]) -> StoreResult<Vec<Record>> {
        self.parts.layer.find_for_update(self.cx(), m, w).await
    }
    fn hooked(&self, m: &str) -> bool {
        self.parts.layer.hooked(self.cx(), m)
    }
}

impl<L: Layer> Layered<L> {
    async fn open(&self, intent: &Intent) -> StoreResult<Box<dyn Transaction>> {
        let tx = self.parts.below.begin_with(intent).await?;
        let state = self.parts.layer.begin(&*tx, intent).await?;
        Ok(Box::new(Layered { parts: self.parts.clone(), side: InTx::<L> { tx, state } }))
    }
}

// Both verbs, so a plain `begin` costs no extra boxed future.
#[async_trait]
impl<L: Layer> Adapter for Layered<L> {
    async fn begin_with(&self, intent: &Intent) -> StoreResult<Box<dyn Transaction>> {
        self.open(intent).await
    }
    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        self.open(&Intent::NONE).await
    }
}

#[async_trait]
impl<L: Layer> Transaction for Layered<L, InTx<L>> {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let Layered { parts, side: InTx { tx, state } } = *self;
        let r = tx.commit().await;
        parts.layer.committed(&*parts.below, state, r.is_ok()).await;
        r
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::store::schema::Plugins;
    use crate::store::sql::{SqlStore, open};
    use crate::store::{Schema, migrate, now};

    /// A layer in a few lines: counts creates, and the transactions that committed.
    #[derive(Default)]
    struct Count {
        creates: AtomicUsize,
        commits: AtomicUsize,
    }

    impl Layer for Count {
        type State = ();

        async fn begin(&self, _: &dyn Ops, _: &Intent) -> StoreResult<()> {
            Ok(())
        }
        async fn committed(&self, _: &dyn Adapter, _: (), ok: bool) {
            if ok {
                self.commits.fetch_add(1, Ordering::Relaxed);
            }
        }
        async fn create(&self, cx: Cx<'_, ()>, m: &str, d: Record) -> StoreResult<Record> {
            self.creates.fetch_add(1, Ordering::Relaxed);
            cx.ops.create(m, d).await
        }
    }

    fn user(id: &str) -> Record {
        Record::new()
            .with("id", id)
            .with("name", "N")
            .with("email", format!("{id}@x.io"))
            .with("emailVerified", false)
            .with("createdAt", now())
            .with("updatedAt", now())
    }

    #[tokio::test]
    async fn a_layer_sees_the_store_and_its_transactions_and_passes_the_rest_through() {
        let pool = open("sqlite::memory:").await.unwrap();
        let schema = Arc::new(Schema::better_auth(Plugins::default()));
        migrate::migrate(&pool, &schema, |_| {}).await.unwrap();
        let s = Layered::wrap(Arc::new(SqlStore::new(pool, schema)), Count::default());
        s.create("user", user("u1")).await.unwrap();
        let tx = s.begin().await.unwrap();
        tx.create("user", user("u2")).await.unwrap();
        assert_eq!(tx.count("user", &[]).await.unwrap(), 2, "reads pass through, in the transaction");
        tx.commit().await.unwrap();
        let tx = s.begin().await.unwrap();
        tx.create("user", user("u3")).await.unwrap();
        drop(tx);
        assert_eq!(s.count("user", &[]).await.unwrap(), 2, "the dropped transaction rolled back");
        assert_eq!(s.layer().creates.load(Ordering::Relaxed), 3);
        assert_eq!(s.layer().commits.load(Ordering::Relaxed), 1);
    }
}
