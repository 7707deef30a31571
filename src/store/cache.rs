//! A read-through cache in front of any [`Adapter`] for the two lookups every authenticated
//! request makes: a session by token and a user by id.
//!
//! Correctness: every write made through this process (update or delete, on the store or in a
//! transaction, and again at commit) bumps the model's generation, which invalidates every
//! cached row of that model at once, so a revocation or profile change here is seen by the very
//! next request. Creates need no invalidation: only rows that exist are cached, by unique key.
//! Writes made by *other* processes (another node, another program on the same database) are
//! seen after at most `ttl`; set `session.local_cache_ttl = 0` to turn the cache off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Adapter, FindMany, Op, Ops, Record, Store, StoreResult, Transaction, Value, Where};

/// The cacheable lookups: (model, unique field).
const KEYS: &[(&str, &str)] = &[("session", "token"), ("user", "id")];
const MAX_ENTRIES: usize = 100_000;

struct Entry {
    record: Record,
    generation: u64,
    at: Instant,
}

struct Shared {
    ttl: Duration,
    generations: HashMap<&'static str, AtomicU64>,
    entries: Mutex<HashMap<(&'static str, String), Entry>>,
}

impl Shared {
    fn generation(&self, model: &str) -> u64 {
        self.generations.get(model).map_or(0, |g| g.load(Ordering::Acquire))
    }

    fn invalidate(&self, model: &str) {
        if let Some(g) = self.generations.get(model) {
            g.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The cache key when `filter` is exactly `field = text` on a cacheable model.
    fn key(model: &str, filter: &[Where]) -> Option<(&'static str, String)> {
        let [w] = filter else { return None };
        let (m, _) = KEYS.iter().find(|(m, f)| *m == model && *f == w.field)?;
        match (&w.op, &w.value, w.insensitive) {
            (Op::Eq, Value::Text(v), false) => Some((m, v.clone())),
            _ => None,
        }
    }

    fn get(&self, key: &(&'static str, String)) -> Option<Record> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let e = entries.get(key)?;
        (e.generation == self.generation(key.0) && e.at.elapsed() < self.ttl).then(|| e.record.clone())
    }

    fn put(&self, key: (&'static str, String), record: Record, generation: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, Entry { record, generation, at: Instant::now() });
    }
}

pub struct CachedStore {
    inner: Store,
    shared: std::sync::Arc<Shared>,
}

impl CachedStore {
    pub fn new(inner: Store, ttl: Duration) -> Self {
        let generations = KEYS.iter().map(|(m, _)| (*m, AtomicU64::new(0))).collect();
        let shared = Shared { ttl, generations, entries: Mutex::new(HashMap::new()) };
        Self { inner, shared: std::sync::Arc::new(shared) }
    }
}

/// A cached lookup on the store (never inside a transaction).
async fn find_one(shared: &Shared, ops: &dyn Ops, model: &str, filter: &[Where]) -> StoreResult<Option<Record>> {
    let Some(key) = Shared::key(model, filter) else {
        return ops.find_one(model, filter).await;
    };
    if let Some(hit) = shared.get(&key) {
        return Ok(Some(hit));
    }
    // Read the generation before the database: a write racing with this read bumps it, and
    // the entry is then born stale instead of wrongly fresh.
    let generation = shared.generation(model);
    let found = ops.find_one(model, filter).await?;
    if let Some(rec) = &found {
        shared.put(key, rec.clone(), generation);
    }
    Ok(found)
}

/// The cached models a write to `model` may change: the model itself, or all of them when the
/// write runs hooks (a session's after-create hook may update the user's row, in SQL that
/// names no model).
fn written(ops: &dyn Ops, model: &str) -> Vec<&'static str> {
    let hooked = ops.hooked(model);
    KEYS.iter().map(|(m, _)| *m).filter(|m| hooked || *m == model).collect()
}

/// Implements the verbs for a type with `ops()`, `lookup()`, `invalidate()` and `on_write()`
/// (which invalidates what [`written`] names).
macro_rules! cached_ops {
    ($ty:ty) => {
        #[async_trait]
        impl Ops for $ty {
            async fn create(&self, m: &str, d: Record) -> StoreResult<Record> {
                let r = self.ops().create(m, d).await;
                // The new row is not cached yet, but its hooks may have written cached rows.
                if self.ops().hooked(m) {
                    self.on_write(m);
                }
                r
            }
            async fn find_one(&self, m: &str, w: &[Where]) -> StoreResult<Option<Record>> {
                self.lookup(m, w).await
            }
            async fn find_many(&self, m: &str, w: &[Where], o: FindMany) -> StoreResult<Vec<Record>> {
                self.ops().find_many(m, w, o).await
            }
            async fn count(&self, m: &str, w: &[Where]) -> StoreResult<u64> {
                self.ops().count(m, w).await
            }
            async fn update(&self, m: &str, w: &[Where], d: Record) -> StoreResult<Option<Record>> {
                self.on_write(m);
                let r = self.ops().update(m, w, d).await;
                self.on_write(m);
                r
            }
            async fn update_many(&self, m: &str, w: &[Where], d: Record) -> StoreResult<u64> {
                self.on_write(m);
                let r = self.ops().update_many(m, w, d).await;
                self.on_write(m);
                r
            }
            async fn delete(&self, m: &str, w: &[Where]) -> StoreResult<()> {
                self.on_write(m);
                let r = self.ops().delete(m, w).await;
                self.on_write(m);
                r
            }
            async fn delete_many(&self, m: &str, w: &[Where]) -> StoreResult<u64> {
                self.on_write(m);
                let r = self.ops().delete_many(m, w).await;
                self.on_write(m);
                r
            }
            async fn before_delete(&self, m: &str, w: &[Where]) -> StoreResult<()> {
                self.ops().before_delete(m, w).await
            }
            async fn sql(&self, q: &str, p: &Record) -> StoreResult<Vec<Record>> {
                // Raw SQL may touch any cached row.
                let r = self.ops().sql(q, p).await;
                KEYS.iter().for_each(|(m, _)| self.invalidate(m));
                r
            }
            async fn find_for_update(&self, m: &str, w: &[Where]) -> StoreResult<Vec<Record>> {
                self.ops().find_for_update(m, w).await
            }
            fn hooked(&self, m: &str) -> bool {
                self.ops().hooked(m)
            }
        }
    };
}

impl CachedStore {
    fn ops(&self) -> &dyn Ops {
        &*self.inner
    }
    async fn lookup(&self, m: &str, w: &[Where]) -> StoreResult<Option<Record>> {
        find_one(&self.shared, &*self.inner, m, w).await
    }
    fn invalidate(&self, m: &str) {
        self.shared.invalidate(m)
    }
    fn on_write(&self, m: &str) {
        written(self.ops(), m).into_iter().for_each(|m| self.invalidate(m))
    }
}

cached_ops!(CachedStore);

#[async_trait]
impl Adapter for CachedStore {
    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        let tx = self.inner.begin().await?;
        Ok(Box::new(CachedTx { tx, shared: self.shared.clone(), written: Mutex::new(Vec::new()) }))
    }
}

/// A transaction that remembers what it wrote, to invalidate those models again at commit
/// (a reader may have cached the old row between the write and the commit).
struct CachedTx {
    tx: Box<dyn Transaction>,
    shared: std::sync::Arc<Shared>,
    written: Mutex<Vec<String>>,
}

impl CachedTx {
    fn ops(&self) -> &dyn Ops {
        &*self.tx
    }
    /// Reads inside a transaction bypass the cache: they may see rows that never commit.
    async fn lookup(&self, m: &str, w: &[Where]) -> StoreResult<Option<Record>> {
        self.tx.find_one(m, w).await
    }
    fn invalidate(&self, model: &str) {
        self.shared.invalidate(model);
        self.written.lock().unwrap_or_else(|p| p.into_inner()).push(model.to_string());
    }
    fn on_write(&self, m: &str) {
        written(self.ops(), m).into_iter().for_each(|m| self.invalidate(m))
    }
}

cached_ops!(CachedTx);

#[async_trait]
impl Transaction for CachedTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let this = *self;
        let written = this.written.into_inner().unwrap_or_else(|p| p.into_inner());
        let r = this.tx.commit().await;
        for m in written {
            this.shared.invalidate(&m);
        }
        r
    }
}
