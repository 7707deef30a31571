//! Better Auth's password hash: `hex(salt16):hex(scrypt(NFKC(pw), saltHex, N=16384, r=16, p=1, 64))`,
//! where the 32-char hex salt string itself (its ASCII bytes) is the scrypt salt (WIRE.md §15.3).
//! Hashing runs on the blocking pool so it never stalls the async workers.

use rand::RngCore;
use std::sync::{Mutex, OnceLock, mpsc};

use unicode_normalization::UnicodeNormalization;

use super::{ct_eq, scrypt::scrypt};
use crate::error::ApiError;

const LOG_N: u8 = 14;
const R: u32 = 16;
const P: u32 = 1;
const KEY_LEN: usize = 64;

fn derive(password: &str, salt_hex: &str) -> String {
    let normalized: String = password.nfkc().collect();
    let mut key = [0u8; KEY_LEN];
    scrypt(normalized.as_bytes(), salt_hex.as_bytes(), LOG_N, R, P, &mut key);
    hex::encode(key)
}

/// Synchronous hash; callers on async threads use [`hash`].
pub fn hash_blocking(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt_hex = hex::encode(salt);
    let key = derive(password, &salt_hex);
    format!("{salt_hex}:{key}")
}

/// Synchronous verify; a malformed stored hash never matches.
pub fn verify_blocking(stored: &str, password: &str) -> bool {
    let Some((salt, key)) = stored.split_once(':') else {
        return false;
    };
    ct_eq(&derive(password, salt), &key.to_ascii_lowercase())
}

type Job = Box<dyn FnOnce() + Send>;

/// One hashing thread per core, fed from one queue: each hash needs 32 MiB (kept per thread
/// by the scrypt module), so memory stays at cores × 32 MiB however many sign-ins wait, and
/// more hashes in flight than cores would only slow each other down.
fn pool() -> &'static Mutex<mpsc::Sender<Job>> {
    static POOL: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("palisade-hash-{i}")).spawn(move || {
                loop {
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => break,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Mutex::new(tx)
    })
}

async fn run<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    pool().lock().unwrap_or_else(|p| p.into_inner()).send(job).map_err(|e| ApiError::internal(what, e))?;
    rx.await.map_err(|e| ApiError::internal(what, e))
}

pub async fn hash(password: String) -> Result<String, ApiError> {
    run("password hashing", move || hash_blocking(&password)).await
}

pub async fn verify(stored: String, password: String) -> Result<bool, ApiError> {
    run("password verification", move || verify_blocking(&stored, &password)).await
}

/// Burns the same work as a real verification, so an unknown email costs as much as a wrong
/// password (no timing oracle).
pub async fn verify_dummy(password: String) -> Result<(), ApiError> {
    const DUMMY: &str = "00000000000000000000000000000000:00";
    verify(DUMMY.to_string(), password).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_better_auth_known_answer() {
        // Produced by Node: crypto.scryptSync("password-123".normalize("NFKC"),
        // "0123456789abcdef0123456789abcdef", 64, {N:16384, r:16, p:1, maxmem:64*1024*1024})
        let stored = format!("0123456789abcdef0123456789abcdef:{}", KNOWN_KEY);
        assert!(verify_blocking(&stored, "password-123"));
        assert!(!verify_blocking(&stored, "password-124"));
    }

    #[test]
    fn hash_then_verify() {
        let h = hash_blocking("correct horse");
        assert_eq!(h.len(), 161);
        assert!(verify_blocking(&h, "correct horse"));
        assert!(!verify_blocking(&h, "wrong horse"));
        assert!(!verify_blocking("garbage", "x"));
    }

    const KNOWN_KEY: &str = "c79549873a3166e2ca9e839c752f8f4ddf5e28aa2403eadc9d7d45a3b6d735ebdb24b37ae89fd08295e8500566657691fa943c9c8f706883b70162fe4eb6bd7a";
}
