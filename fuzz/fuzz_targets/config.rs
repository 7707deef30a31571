//! libFuzzer entry for the `config` target of `fuzz/`: the input bytes are the target's choices.
#![no_main]

#[path = "../mod.rs"]
#[allow(dead_code, reason = "the seeded generator and the target list serve the stable driver")]
mod fuzz;

use std::cell::RefCell;

thread_local! {
    static TARGET: RefCell<fuzz::Target> = RefCell::new(fuzz::Target::new("config").expect("a known target"));
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    TARGET.with(|t| t.borrow_mut().run(&mut fuzz::generator::Gen::from_bytes(data)));
});
