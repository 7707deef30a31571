//! Secondary storage (Better Auth's `secondaryStorage`): a key-value store shared by every
//! Palisade node — Redis, or memory for a single process — holding what Better Auth keeps there:
//! `<token>` → `{"session":…,"user":…}` and `active-sessions-<userId>` →
//! `[{"token":…,"expiresAt":<ms>}]`, with TTLs in seconds; and rate-limit counters.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{StoreError, StoreResult};

#[async_trait]
pub trait SecondaryStorage: Send + Sync {
    async fn get(&self, key: &str) -> StoreResult<Option<String>>;
    /// `ttl` in seconds; `None` keeps the value until deleted.
    async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> StoreResult<()>;
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Atomically counts one hit in the window that starts with the key's first hit;
    /// returns the count so far and the seconds left in the window.
    async fn hit(&self, key: &str, window: u64) -> StoreResult<(u64, u64)>;
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("secondary storage: {e}"))
}

/// Redis through a connection manager that reconnects by itself when Redis comes back.
pub struct RedisStorage {
    conn: ConnectionManager,
}

impl RedisStorage {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client, config).await.map_err(unavailable)?;
        Ok(Self { conn })
    }
}

#[async_trait]
impl SecondaryStorage for RedisStorage {
    async fn get(&self, key: &str) -> StoreResult<Option<String>> {
        self.conn.clone().get(key).await.map_err(unavailable)
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> StoreResult<()> {
        let mut c = self.conn.clone();
        match ttl {
            Some(0) => c.del(key).await.map_err(unavailable),
            Some(t) => c.set_ex(key, value, t).await.map_err(unavailable),
            None => c.set(key, value).await.map_err(unavailable),
        }
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.conn.clone().del(key).await.map_err(unavailable)
    }

    async fn hit(&self, key: &str, window: u64) -> StoreResult<(u64, u64)> {
        // One round trip, atomic: several nodes share the count.
        let (count, _, ttl): (u64, i64, i64) = redis::pipe()
            .atomic()
            .incr(key, 1u64)
            .cmd("EXPIRE")
            .arg(key)
            .arg(window)
            .arg("NX")
            .ttl(key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok((count, u64::try_from(ttl).unwrap_or(window)))
    }
}

/// One process's memory (tests, single node).
#[derive(Default)]
pub struct MemoryStorage {
    map: Mutex<HashMap<String, (String, Option<Instant>)>>,
}

impl MemoryStorage {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Option<Instant>)>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
        map
    }
}

#[async_trait]
impl SecondaryStorage for MemoryStorage {
    async fn get(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self.live().get(key).map(|(v, _)| v.clone()))
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> StoreResult<()> {
        let exp = ttl.map(|t| Instant::now() + Duration::from_secs(t));
        self.live().insert(key.to_string(), (value.to_string(), exp));
        Ok(())
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.live().remove(key);
        Ok(())
    }

    async fn hit(&self, key: &str, window: u64) -> StoreResult<(u64, u64)> {
        let mut map = self.live();
        let now = Instant::now();
        let entry = map.entry(key.to_string()).or_insert_with(|| ("0".into(), Some(now + Duration::from_secs(window))));
        let count = entry.0.parse::<u64>().unwrap_or(0) + 1;
        entry.0 = count.to_string();
        let left = entry.1.map_or(window, |e| e.saturating_duration_since(now).as_secs().max(1));
        Ok((count, left))
    }
}

/// `redis://…` / `rediss://…`, or `memory://`.
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn SecondaryStorage>> {
    if url.starts_with("memory:") {
        return Ok(std::sync::Arc::new(MemoryStorage::default()));
    }
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        return Ok(std::sync::Arc::new(RedisStorage::connect(url).await?));
    }
    Err(StoreError::Database(format!("unsupported secondary storage URL {url:?} (redis://, memory://)")))
}
