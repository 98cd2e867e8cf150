//! Arbitrary bytes as a newline-delimited JSON input: every record is loaded
//! or dead-lettered, and what was loaded scans cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::run("load_ndjson", data));
