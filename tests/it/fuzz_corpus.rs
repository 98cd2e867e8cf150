//! The fuzz corpus as regression tests: every committed input under
//! `fuzz/corpus/<target>/` (seeds, and what fuzzing found and minimised) runs
//! through the same check its cargo-fuzz target runs (`tests/checks`), in
//! the ordinary test suite, with no fuzzing toolchain needed.

use crate::{checks, common};

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = common::root().join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{target}: an empty corpus");
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// Run `check` on each input, naming the input when one fails.
fn replay(target: &str, check: impl Fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&bytes)));
        if let Err(panic) = outcome {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target}: {} fails: {msg}", path.display());
        }
    }
}

#[test]
fn every_target_has_a_corpus_and_every_input_passes() {
    for target in checks::TARGETS {
        replay(target, |data| checks::run(target, data));
    }
    // And every corpus directory belongs to a target.
    for entry in std::fs::read_dir(common::root().join("fuzz/corpus")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            checks::TARGETS.contains(&name.as_str()),
            "corpus {name} has no target"
        );
    }
}
