//! Better Auth's rate limiter (WIRE.md §11): per `{ip}|{path}`, a window that restarts once it
//! has passed since the last counted request; stricter rules for credential endpoints.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    window: Duration,
    max: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
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
        Self { window: Duration::from_secs(window_secs), max, buckets: Mutex::new(HashMap::new()) }
    }

    /// Counts the request; `Err(seconds)` to wait when over the limit.
    pub fn check(&self, ip: &str, path: &str) -> Result<(), u64> {
        let (window, max) = match rule(path) {
            Some((w, m)) => (Duration::from_secs(w), m),
            None => (self.window, self.max),
        };
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

    #[test]
    fn sign_in_allows_three_per_window() {
        let rl = RateLimiter::new(10, 100);
        for _ in 0..3 {
            assert!(rl.check("1.2.3.4", "/sign-in/email").is_ok());
        }
        let wait = rl.check("1.2.3.4", "/sign-in/email").unwrap_err();
        assert!((1..=10).contains(&wait));
        assert!(rl.check("1.2.3.5", "/sign-in/email").is_ok());
        for _ in 0..100 {
            assert!(rl.check("1.2.3.4", "/get-session").is_ok());
        }
        assert!(rl.check("1.2.3.4", "/get-session").is_err());
    }
}
