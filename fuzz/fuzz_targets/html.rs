//! Arbitrary text placed in every data-carrying field of a real report: the
//! HTML gains no element or script, and embeds exactly the report.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::run("html", data));
