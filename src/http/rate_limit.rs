//! Better Auth's rate limiter (WIRE.md §11): per `{ip}|{path}`, a window that restarts once it
//! has passed since the last counted request; stricter rules for credential endpoints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::StoreResult;
use crate::store::secondary::SecondaryStorage;

pub struct RateLimiter {
    window: Duration,
    max: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Counters shared by every node (secondary storage), instead of this process's memory.
    shared: Option<Arc<dyn SecondaryStorage>>,
}

struct Bucket {
    count: u64,
    last: Instant,
    window: Duration,
}

/// The special rules; everything else uses the configured default.
fn rule(path: &str) -> Option<(u64, u64)> {
    const STRICT: &[&str] = &["/sign-in", "/sign-up", "/change-password", "/change-email", "/two-factor/"];
    const EMAIL: &[&str] = &["/request-password-reset", "/send-verification-email", "/forget-password"];
    if STRICT.iter().any(|p| path.starts_with(p)) {
        Some((10, 3))
    } else if EMAIL.iter().any(|p| path.starts_with(p)) {
        Some((60, 3))
    } else {
        None
    }
}

const PRUNE_ABOVE: usize = 50_000;

impl RateLimiter {
    pub fn new(window_secs: u64, max: u64) -> Self {
        Self { window: Duration::from_secs(window_secs), max, buckets: Mutex::new(HashMap::new()), shared: None }
    }

    /// Counts in secondary storage: an atomic increment per window, so that several
    /// processes enforce one limit.
    pub fn shared(window_secs: u64, max: u64, storage: Arc<dyn SecondaryStorage>) -> Self {
        Self { shared: Some(storage), ..Self::new(window_secs, max) }
    }

    fn limits(&self, path: &str) -> (Duration, u64) {
        match rule(path) {
            Some((w, m)) => (Duration::from_secs(w), m),
            None => (self.window, self.max),
        }
    }

    /// Counts the request; `Ok(Err(seconds))` to wait when over the limit.
    pub async fn check(&self, ip: &str, path: &str) -> StoreResult<Result<(), u64>> {
        let Some(storage) = &self.shared else {
            return Ok(self.check_memory(ip, path));
        };
        let (window, max) = self.limits(path);
        let (count, left) = storage.hit(&format!("{ip}|{path}"), window.as_secs()).await?;
        Ok(if count > max { Err(left.max(1)) } else { Ok(()) })
    }

    fn check_memory(&self, ip: &str, path: &str) -> Result<(), u64> {
        let (window, max) = self.limits(path);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| now.duration_since(b.last) < b.window);
        }
        let key = format!("{ip}|{path}");
        let b = buckets.entry(key).or_insert(Bucket { count: 0, last: now, window });
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

    #[tokio::test]
    async fn memory_counts() {
        three_per_window_then_wait(RateLimiter::new(10, 100)).await;
    }

    /// Two limiters on one Redis behave as one: the count is shared.
    #[tokio::test]
    async fn redis_counts_are_shared_between_processes() {
        let url = std::env::var("TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
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
