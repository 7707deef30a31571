//! Better Auth's rate limiter (WIRE.md §11): per `{ip}|{path}`, a window that restarts once it
//! has passed since the last counted request; stricter rules for credential endpoints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::plugin::RateRule;
use crate::store::secondary::SecondaryStorage;
use crate::store::{Ops, Record, Store, StoreError, StoreResult, Where};

pub struct RateLimiter {
    window: Duration,
    max: u64,
    buckets: Mutex<Generations>,
    /// Where counters live when every node must share them, instead of this process's memory.
    shared: Shared,
    /// The plugins' stricter rules, after the core's.
    rules: Vec<RateRule>,
}

enum Shared {
    None,
    Secondary(Arc<dyn SecondaryStorage>),
    Database(Store),
}

struct Bucket {
    count: u64,
    last: Instant,
}

/// The core's stricter rules (credential and email endpoints); everything else uses the
/// configured default unless a plugin adds a rule.
const CORE_RULES: &[RateRule] = &[
    RateRule { prefix: "/sign-in", window_secs: 10, max: 3 },
    RateRule { prefix: "/sign-up", window_secs: 10, max: 3 },
    RateRule { prefix: "/change-password", window_secs: 10, max: 3 },
    RateRule { prefix: "/change-email", window_secs: 10, max: 3 },
    RateRule { prefix: "/request-password-reset", window_secs: 60, max: 3 },
    RateRule { prefix: "/send-verification-email", window_secs: 60, max: 3 },
    RateRule { prefix: "/forget-password", window_secs: 60, max: 3 },
];

/// Keys one generation holds at most: with the path part capped at [`MAX_PATH_IN_KEY`] bytes,
/// the buckets never take more than a few tens of megabytes, whatever paths clients invent.
const MAX_KEYS: usize = 100_000;
const MAX_PATH_IN_KEY: usize = 128;
/// The longest window of any rule: a bucket idle for this long has nothing left to count.
const LONGEST_WINDOW: Duration = Duration::from_secs(60);

/// The buckets in two generations: lookups move a bucket into `current`; every
/// `LONGEST_WINDOW` (or when `current` is full) `previous` is dropped and `current` takes its
/// place. Memory stays bounded and each request does constant work (no scan of the map).
struct Generations {
    current: HashMap<String, Bucket>,
    previous: HashMap<String, Bucket>,
    rotated: Instant,
}

impl Generations {
    fn new() -> Self {
        Self { current: HashMap::new(), previous: HashMap::new(), rotated: Instant::now() }
    }

    fn bucket(&mut self, key: &str, now: Instant, window: Duration) -> &mut Bucket {
        let longest = LONGEST_WINDOW.max(window);
        if now.duration_since(self.rotated) >= longest || self.current.len() >= MAX_KEYS {
            self.previous = std::mem::take(&mut self.current);
            self.rotated = now;
        }
        if !self.current.contains_key(key) {
            let moved = self.previous.remove(key).unwrap_or(Bucket { count: 0, last: now });
            self.current.insert(key.to_string(), moved);
        }
        self.current.get_mut(key).expect("inserted above")
    }
}

impl RateLimiter {
    pub fn new(window_secs: u64, max: u64) -> Self {
        Self {
            window: Duration::from_secs(window_secs),
            max,
            buckets: Mutex::new(Generations::new()),
            shared: Shared::None,
            rules: Vec::new(),
        }
    }

    /// Adds the plugins' rules.
    pub fn with_rules(mut self, rules: Vec<RateRule>) -> Self {
        self.rules = rules;
        self
    }

    /// Counts in secondary storage: an atomic increment per window, so that several
    /// processes enforce one limit.
    pub fn shared(window_secs: u64, max: u64, storage: Arc<dyn SecondaryStorage>) -> Self {
        Self { shared: Shared::Secondary(storage), ..Self::new(window_secs, max) }
    }

    /// Counts in the database's `rateLimit` table (Better Auth's layout), shared by every node.
    pub fn database(window_secs: u64, max: u64, store: Store) -> Self {
        Self { shared: Shared::Database(store), ..Self::new(window_secs, max) }
    }

    fn limits(&self, path: &str) -> (Duration, u64) {
        // A plugin's rule wins over the core's, as in Better Auth (`/sign-in/magic-link`).
        match self.rules.iter().chain(CORE_RULES).find(|r| path.starts_with(r.prefix)) {
            Some(r) => (Duration::from_secs(r.window_secs), r.max),
            None => (self.window, self.max),
        }
    }

    /// Counts the request; `Ok(Err(seconds))` to wait when over the limit.
    pub async fn check(&self, ip: &str, path: &str) -> StoreResult<Result<(), u64>> {
        let (window, max) = self.limits(path);
        let key = format!("{ip}|{}", key_path(path));
        match &self.shared {
            Shared::None => Ok(self.check_memory(&key, window, max)),
            Shared::Secondary(storage) => {
                let (count, left) = storage.hit(&key, window.as_secs()).await?;
                Ok(if count > max { Err(left.max(1)) } else { Ok(()) })
            }
            Shared::Database(store) => check_database(&**store, &key, window, max).await,
        }
    }

    fn check_memory(&self, key: &str, window: Duration, max: u64) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.bucket(key, now, window);
        let since = now.duration_since(b.last);
        if b.count > 0 && since >= window {
            b.count = 0;
        }
        if b.count >= max {
            let wait = window.saturating_sub(since);
            return Err(wait.as_millis().div_ceil(1000).max(1) as u64);
        }
        b.count += 1;
        b.last = now;
        Ok(())
    }
}

/// The path as counted: at most [`MAX_PATH_IN_KEY`] bytes (on a character boundary), so a
/// client cannot make keys of any size.
fn key_path(path: &str) -> &str {
    if path.len() <= MAX_PATH_IN_KEY {
        return path;
    }
    let mut end = MAX_PATH_IN_KEY;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// Compare-and-set on the row of `key`: the update names the count and time it read, so of two
/// nodes counting at once one wins and the other reads again. Same window rule as in memory.
async fn check_database(store: &dyn Ops, key: &str, window: Duration, max: u64) -> StoreResult<Result<(), u64>> {
    const TRIES: usize = 16;
    let now = chrono::Utc::now().timestamp_millis();
    let window_ms = window.as_millis() as i64;
    for _ in 0..TRIES {
        let Some(row) = store.find_one("rateLimit", &[Where::eq("key", key)]).await? else {
            let row = Record::new().with("key", key).with("count", 1i64).with("lastRequest", now);
            match store.create("rateLimit", row).await {
                Err(StoreError::Unique(_)) => continue,
                other => return other.map(|_| Ok(())),
            }
        };
        let (count, last) = (row.int("count").unwrap_or(0), row.int("lastRequest").unwrap_or(0));
        let since = now - last;
        let restart = since >= window_ms;
        if !restart && count as u64 >= max {
            return Ok(Err(((window_ms - since) as u64).div_ceil(1000).max(1)));
        }
        let next = Record::new().with("count", if restart { 1 } else { count + 1 }).with("lastRequest", now);
        let read = [Where::eq("key", key), Where::eq("count", count), Where::eq("lastRequest", last)];
        if store.update_many("rateLimit", &read, next).await? > 0 {
            return Ok(Ok(()));
        }
    }
    // Still contended after every try: refuse rather than count past the limit.
    Ok(Err(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn three_per_window_then_wait(rl: RateLimiter) {
        let ip = crate::crypto::random_id(12);
        for _ in 0..3 {
            assert!(rl.check(&ip, "/sign-in/email").await.unwrap().is_ok());
        }
        let wait = rl.check(&ip, "/sign-in/email").await.unwrap().unwrap_err();
        assert!((1..=10).contains(&wait));
        assert!(rl.check(&format!("{ip}-other"), "/sign-in/email").await.unwrap().is_ok());
        for _ in 0..100 {
            assert!(rl.check(&ip, "/get-session").await.unwrap().is_ok());
        }
        assert!(rl.check(&ip, "/get-session").await.unwrap().is_err());
    }

    /// A flood of invented paths: memory stays bounded (two generations of at most MAX_KEYS)
    /// and the limits still hold for the keys in use.
    #[tokio::test]
    async fn invented_paths_do_not_grow_the_buckets_without_bound() {
        let rl = RateLimiter::new(10, 100);
        for i in 0..(3 * MAX_KEYS) {
            let path = format!("/no-such-route/{i}/{}", "x".repeat(300));
            assert!(rl.check("10.9.9.9", &path).await.unwrap().is_ok());
        }
        {
            let g = rl.buckets.lock().unwrap();
            assert!(g.current.len() <= MAX_KEYS && g.previous.len() <= MAX_KEYS);
            assert!(g.current.keys().all(|k| k.len() <= "10.9.9.9|".len() + MAX_PATH_IN_KEY));
        }
        three_per_window_then_wait(rl).await;
    }

    #[tokio::test]
    async fn memory_counts() {
        three_per_window_then_wait(RateLimiter::new(10, 100)).await;
    }

    /// Two limiters on one Redis behave as one: the count is shared.
    #[tokio::test]
    async fn redis_counts_are_shared_between_processes() {
        let Some(url) = crate::testing::require(crate::testing::Service::Redis, "shared rate limits on Redis") else {
            return;
        };
        let a = crate::store::secondary::open(&url).await.unwrap();
        let b = crate::store::secondary::open(&url).await.unwrap();
        let ip = format!("test-{}", crate::crypto::random_id(8));
        let (one, two) = (RateLimiter::shared(10, 100, a), RateLimiter::shared(10, 100, b));
        assert!(one.check(&ip, "/sign-in/email").await.unwrap().is_ok());
        assert!(two.check(&ip, "/sign-in/email").await.unwrap().is_ok());
        assert!(one.check(&ip, "/sign-in/email").await.unwrap().is_ok());
        assert!(two.check(&ip, "/sign-in/email").await.unwrap().is_err(), "the 4th hit across both is refused");
        let other = format!("{ip}-x");
        three_per_window_then_wait(RateLimiter::shared(10, 100, crate::store::secondary::open(&url).await.unwrap()))
            .await;
        assert!(one.check(&other, "/sign-in/email").await.unwrap().is_ok());
    }
}

#[cfg(test)]
mod database_tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::schema::Plugins;
    use crate::store::sql::{SqlStore, open};
    use crate::store::{Schema, migrate};
    use crate::testing::{dialects, fresh_database};

    async fn limiter(url: &str) -> RateLimiter {
        let mut schema = Schema::better_auth(Plugins { jwt: false, two_factor: false });
        schema.add_rate_limit();
        let schema = Arc::new(schema);
        let pool = open(url).await.unwrap();
        migrate::migrate(&pool, &schema, |_| {}).await.unwrap();
        RateLimiter::database(10, 100, Arc::new(SqlStore::new(pool, schema)))
    }

    /// Two nodes on one database, 24 concurrent sign-in attempts from one IP: exactly the 3
    /// the rule allows get through, on every backend.
    #[tokio::test]
    async fn database_counts_are_shared_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        for d in dialects("rate limits in the database") {
            let url = fresh_database(d).await.unwrap_or_else(|| format!("sqlite://{}/rl.db", dir.path().display()));
            let (a, b) = (Arc::new(limiter(&url).await), Arc::new(limiter(&url).await));
            let mut tasks = Vec::new();
            for i in 0..24 {
                let rl = if i % 2 == 0 { a.clone() } else { b.clone() };
                tasks.push(tokio::spawn(async move { rl.check("10.0.0.1", "/sign-in/email").await.unwrap() }));
            }
            let mut passed = 0;
            for t in tasks {
                passed += usize::from(t.await.unwrap().is_ok());
            }
            assert_eq!(passed, 3, "{d:?}");
            let wait = a.check("10.0.0.1", "/sign-in/email").await.unwrap().unwrap_err();
            assert!((1..=10).contains(&wait), "{d:?}: {wait}");
            assert!(b.check("10.0.0.2", "/sign-in/email").await.unwrap().is_ok(), "{d:?}: per IP");
        }
    }
}
