//! Arbitrary bytes as a CSV input, with and without declared types: every
//! record is loaded or dead-lettered, and what was loaded scans cleanly
//! (the invariants are in `tests/checks`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::run("load_csv", data));
