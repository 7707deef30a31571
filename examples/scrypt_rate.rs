//! Throughput of `palisade::crypto::scrypt` at Better Auth's parameters.
//!
//! cargo run --release --example scrypt_rate -- [threads] [seconds]
//! Runs the hash in a bare loop on `threads` OS threads (default: available
//! parallelism) for `seconds` (default 5) and prints one summary line.

use palisade::crypto::scrypt::scrypt;
use std::time::{Duration, Instant};

const LOG_N: u8 = 14;
const R: u32 = 16;
const P: u32 = 1;

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = match args.next() {
        Some(a) => a.parse().expect("threads must be a positive integer"),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let seconds: f64 = match args.next() {
        Some(a) => a.parse().expect("seconds must be a number"),
        None => 5.0,
    };
    assert!(threads > 0 && seconds > 0.0, "threads and seconds must be positive");
    let budget = Duration::from_secs_f64(seconds);

    let start = Instant::now();
    let hashes: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    // Better Auth uses a 16-byte random salt, hex-encoded (32 chars).
                    let salt = format!("{:032x}", 0x0123_4567_89ab_cdef_u128 ^ t as u128);
                    let mut out = [0u8; 64];
                    let mut count = 0u64;
                    while start.elapsed() < budget {
                        let password = format!("password-{count}");
                        scrypt(password.as_bytes(), salt.as_bytes(), LOG_N, R, P, &mut out);
                        std::hint::black_box(&out);
                        count += 1;
                    }
                    count
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker panicked")).sum()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let rate = hashes as f64 / elapsed;
    println!(
        "scrypt N={} r={R} p={P}: threads={threads} hashes={hashes} seconds={elapsed:.2} rate={rate:.1}/s per_core={:.1}/s",
        1u32 << LOG_N,
        rate / threads as f64,
    );
}
