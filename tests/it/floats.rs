//! Verdicts that do not depend on scheduling. Float aggregates (SUM, AVG,
//! STDDEV, VAR_POP, a window SUM) over 1,000 rows per group gave different
//! last bits from run to run and thread count to thread count, enough for
//! an unchanged transform to show "changed" rows; diffgate's sessions sum
//! floats exactly (`src/engine/exact.rs`). v2 = v1 must promote at 1, 4 and
//! 8 threads with byte-identical reports, and one cent more in one group
//! must be exactly one changed row at each.

use serde_json::Value;

use crate::common;

/// Runs of each scenario at each thread count.
const RUNS: usize = 20;

/// The report, and its bytes up to the timings (the one field that
/// differs between runs).
fn run(scenario: &str, threads: &str) -> (Value, Vec<u8>) {
    let out = common::diffgate()
        .args(common::run_args(scenario))
        .args(["--format", "json", "--threads", threads])
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0)),
        "{scenario} at {threads} threads: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let cut = text.rfind("\n  \"timings\": {").expect("timings last");
    let report = serde_json::from_str(&text).unwrap();
    (report, text.as_bytes()[..cut].to_vec())
}

#[test]
fn float_aggregates_promote_at_every_thread_count() {
    let (report, first) = run("scenarios/float_aggregates", "1");
    assert_eq!(report["verdict"], "promote");
    assert_eq!(report["rows"]["changed"], 0);
    for threads in ["1", "4", "8"] {
        for n in 0..RUNS {
            let (_, again) = run("scenarios/float_aggregates", threads);
            assert!(
                again == first,
                "run {n} at {threads} threads differs from the first run"
            );
        }
    }
}

#[test]
fn a_one_cent_change_is_one_changed_row_at_every_thread_count() {
    for threads in ["1", "4", "8"] {
        for _ in 0..3 {
            let (r, _) = run("scenarios/float_aggregates_cent", threads);
            assert_eq!(r["verdict"], "review", "{threads} threads");
            assert_eq!(r["rows"]["changed"], 1, "{threads} threads");
            let sample = &r["samples"]["changed"][0];
            assert_eq!(sample["key"]["g"], 7);
            assert_eq!(sample["cells"].as_array().unwrap().len(), 1);
            assert_eq!(sample["cells"][0]["column"], "total");
        }
    }
}
