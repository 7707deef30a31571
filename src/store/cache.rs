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

use super::layer::{Cx, Layer, Layered};
use super::{Adapter, Intent, Op, Ops, Record, Store, StoreResult, Value, Where};

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

/// The cache as a [`Layer`]; in a transaction it remembers the models written, to invalidate
/// them again at commit (a reader may have cached the old row between the write and the commit).
pub struct Cache {
    shared: Shared,
}

/// The adapter with the cache in front.
pub type CachedStore = Layered<Cache>;

impl CachedStore {
    pub fn new(inner: Store, ttl: Duration) -> Self {
        let generations = KEYS.iter().map(|(m, _)| (*m, AtomicU64::new(0))).collect();
        let shared = Shared { ttl, generations, entries: Mutex::new(HashMap::new()) };
        Layered::wrap(inner, Cache { shared })
    }
}

type Written = Mutex<Vec<&'static str>>;

impl Cache {
    fn invalidate(&self, cx: Cx<'_, Written>, model: &'static str) {
        self.shared.invalidate(model);
        if let Some(written) = cx.state() {
            written.lock().unwrap_or_else(|p| p.into_inner()).push(model);
        }
    }

    /// Invalidates the cached models a write to `model` may change: the model itself, or all
    /// of them when the write runs hooks (a session's after-create hook may update the user's
    /// row, in SQL that names no model).
    fn on_write(&self, cx: Cx<'_, Written>, model: &str) {
        let hooked = cx.ops.hooked(model);
        for (m, _) in KEYS.iter().filter(|(m, _)| hooked || *m == model) {
            self.invalidate(cx, m);
        }
    }

    /// A cached lookup on the store. Reads inside a transaction bypass the cache: they may see
    /// rows that never commit.
    async fn lookup(&self, cx: Cx<'_, Written>, model: &str, filter: &[Where]) -> StoreResult<Option<Record>> {
        let (Some(key), None) = (Shared::key(model, filter), cx.state()) else {
            return cx.ops.find_one(model, filter).await;
        };
        if let Some(hit) = self.shared.get(&key) {
            return Ok(Some(hit));
        }
        // Read the generation before the database: a write racing with this read bumps it, and
        // the entry is then born stale instead of wrongly fresh.
        let generation = self.shared.generation(model);
        let found = cx.ops.find_one(model, filter).await?;
        if let Some(rec) = &found {
            self.shared.put(key, rec.clone(), generation);
        }
        Ok(found)
    }
}

/// Update and delete invalidate before and after the write.
macro_rules! around {
    ($self:ident, $cx:ident, $m:ident, $write:expr) => {{
        $self.on_write($cx, $m);
        let r = $write.await;
        $self.on_write($cx, $m);
        r
    }};
}

impl Layer for Cache {
    type State = Written;

    async fn begin(&self, _: &dyn Ops, _: &Intent) -> StoreResult<Written> {
        Ok(Mutex::new(Vec::new()))
    }

    async fn committed(&self, _: &dyn Adapter, written: Written, _: bool) {
        for m in written.into_inner().unwrap_or_else(|p| p.into_inner()) {
            self.shared.invalidate(m);
        }
    }

    async fn create(&self, cx: Cx<'_, Written>, m: &str, d: Record) -> StoreResult<Record> {
        let r = cx.ops.create(m, d).await;
        // The new row is not cached yet, but its hooks may have written cached rows.
        if cx.ops.hooked(m) {
            self.on_write(cx, m);
        }
        r
    }
    async fn find_one(&self, cx: Cx<'_, Written>, m: &str, w: &[Where]) -> StoreResult<Option<Record>> {
        self.lookup(cx, m, w).await
    }
    async fn update(&self, cx: Cx<'_, Written>, m: &str, w: &[Where], d: Record) -> StoreResult<Option<Record>> {
        around!(self, cx, m, cx.ops.update(m, w, d))
    }
    async fn update_many(&self, cx: Cx<'_, Written>, m: &str, w: &[Where], d: Record) -> StoreResult<u64> {
        around!(self, cx, m, cx.ops.update_many(m, w, d))
    }
    async fn delete(&self, cx: Cx<'_, Written>, m: &str, w: &[Where]) -> StoreResult<()> {
        around!(self, cx, m, cx.ops.delete(m, w))
    }
    async fn delete_many(&self, cx: Cx<'_, Written>, m: &str, w: &[Where]) -> StoreResult<u64> {
        around!(self, cx, m, cx.ops.delete_many(m, w))
    }
    async fn sql(&self, cx: Cx<'_, Written>, q: &str, p: &Record) -> StoreResult<Vec<Record>> {
        // Raw SQL may touch any cached row.
        let r = cx.ops.sql(q, p).await;
        KEYS.iter().for_each(|(m, _)| self.invalidate(cx, m));
        r
    }
}
