//! The stable fuzz driver: runs the targets of `fuzz/` on seeded, structure-aware inputs for a
//! time or a number of inputs each, and stops a target at its first failure (a panic or a
//! property that does not hold), printing the command that replays that one input.
//!
//! cargo run --release --example fuzz -- [--seconds S] [--iterations N] [--seed S]
//!                                        [--start I] [--target NAME]... [--bytes FILE]
//! `--seconds` is the whole run's time, shared equally by the targets (default 30 when no
//! `--iterations` is given); `--iterations` caps each target. Targets: see `fuzz::NAMES`.

#[path = "../fuzz/mod.rs"]
mod fuzz;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use fuzz::generator::{Gen, input_seed};

struct Args {
    seconds: Option<f64>,
    iterations: Option<u64>,
    seed: u64,
    start: u64,
    targets: Vec<String>,
    bytes: Option<Vec<u8>>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { seconds: None, iterations: None, seed: 0, start: 0, targets: Vec::new(), bytes: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = Some(value()?.parse().map_err(|e| format!("--seconds: {e}"))?),
            "--iterations" => a.iterations = Some(value()?.parse().map_err(|e| format!("--iterations: {e}"))?),
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--start" => a.start = value()?.parse().map_err(|e| format!("--start: {e}"))?,
            "--target" => a.targets.push(value()?),
            "--bytes" => {
                let path = value()?;
                a.bytes = Some(std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?);
                a.iterations = Some(1);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.seconds.is_none() && a.iterations.is_none() {
        a.seconds = Some(30.0);
    }
    if a.targets.is_empty() {
        a.targets = fuzz::NAMES.iter().map(|s| s.to_string()).collect();
    }
    if let Some(bad) = a.targets.iter().find(|t| !fuzz::NAMES.contains(&t.as_str())) {
        return Err(format!("unknown target {bad}; targets: {}", fuzz::NAMES.join(", ")));
    }
    // `config` sets environment variables: it runs before any target that starts threads.
    a.targets.sort_by_key(|t| fuzz::NAMES.iter().position(|n| n == t));
    Ok(a)
}

thread_local! {
    /// The last panic's message: printed when a target fails, silent when the code under test
    /// caught it (e.g. `Config::load` around a dependency that panics).
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| LAST_PANIC.with(|p| *p.borrow_mut() = info.to_string())));
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let share = args.seconds.map(|s| Duration::from_secs_f64(s / args.targets.len() as f64));
    let started = Instant::now();
    let (mut total, mut failed) = (0u64, 0usize);
    for name in &args.targets {
        let setup = Instant::now();
        let mut target = fuzz::Target::new(name).expect("a known target");
        let t0 = Instant::now();
        let mut done = 0u64;
        let mut failure = None;
        loop {
            if args.iterations.is_some_and(|n| done >= n)
                || share.is_some_and(|s| done.is_multiple_of(16) && t0.elapsed() >= s)
            {
                break;
            }
            let i = args.start + done;
            let mut g = match &args.bytes {
                Some(b) => Gen::from_bytes(b),
                None => Gen::seeded(input_seed(args.seed, name, i)),
            };
            done += 1;
            if catch_unwind(AssertUnwindSafe(|| target.run(&mut g))).is_err() {
                failure = Some(i);
                break;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        total += done;
        let rate = done as f64 / secs.max(1e-9);
        println!(
            "{name}: {done} inputs in {secs:.1} s ({rate:.0}/s, set-up {:.1} s), {} failures",
            (t0 - setup).as_secs_f64(),
            usize::from(failure.is_some())
        );
        if let Some(i) = failure {
            failed += 1;
            LAST_PANIC.with(|p| println!("  {}", p.borrow().replace('\n', "\n  ")));
            println!(
                "  FAILED at input {i}; replay: cargo run --release --example fuzz -- --target {name} --seed {} --start {i} --iterations 1",
                args.seed
            );
        }
    }
    println!("fuzz: {total} inputs in {:.1} s, seed {}", started.elapsed().as_secs_f64(), args.seed);
    println!("fuzz: {} passed, {failed} failed", args.targets.len() - failed);
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
