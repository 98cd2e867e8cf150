//! Arbitrary text placed in every data-carrying field of a real report: the
//! Markdown stays inert and within GitHub's size limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::run("markdown", data));
