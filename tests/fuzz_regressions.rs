//! Inputs the fuzz targets of `fuzz/` found to panic, kept as tests. Its own test binary: it
//! sets process environment variables, which no other test here reads.

use palisade::config::Config;

/// figment 0.10 sliced a quoted environment value at a character index and panicked on a
/// `\` escape after a non-ASCII character (`config` target). Now an error naming the variable.
#[test]
fn quoted_env_value_with_escape_after_non_ascii_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "").unwrap();
    // SAFETY: the only test of this binary; nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("PALISADE_APP_NAME", "\"é\\n\"") };
    let result = Config::load(Some(&path));
    unsafe { std::env::remove_var("PALISADE_APP_NAME") };
    let err = result.unwrap_err().to_string();
    assert!(err.contains("PALISADE_APP_NAME"), "{err}");
    // The same value without the escape is read as it is.
    unsafe { std::env::set_var("PALISADE_APP_NAME", "\"é\"") };
    let result = Config::load(Some(&path));
    unsafe { std::env::remove_var("PALISADE_APP_NAME") };
    assert_eq!(result.unwrap().app_name, "é");
}
