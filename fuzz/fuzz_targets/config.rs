//! Arbitrary text as a scenario config: parsed and its inputs resolved, or
//! rejected with an error; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::run("config", data));
