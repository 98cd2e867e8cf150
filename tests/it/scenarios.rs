//! Every bundled scenario, run as a user would (the real binary), is a golden
//! end-to-end case: its verdict equals the one its config expects, the exit
//! code follows the contract, and its JSON and terminal reports match the
//! committed snapshots (timings removed; they are the one non-deterministic
//! field).

use crate::common;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::root;

fn diffgate(args: &[&str]) -> std::process::Output {
    common::diffgate()
        .args(args)
        .output()
        .expect("diffgate runs")
}

/// `diffgate run <scenario> <extra>`, dead letters kept out of the tree.
fn run(scenario: &str, extra: &[&str]) -> std::process::Output {
    common::diffgate()
        .args(common::run_args(scenario))
        .args(extra)
        .output()
        .expect("diffgate runs")
}

fn scenarios() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("diffgate.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// The JSON report with the timings field removed.
fn stable_json(stdout: &[u8]) -> Value {
    let mut report: Value = serde_json::from_slice(stdout).expect("stdout is a JSON report");
    report.as_object_mut().unwrap().remove("timings");
    report
}

#[test]
fn every_scenario_gives_its_expected_verdict_and_exit_code() {
    let dirs = scenarios();
    assert!(
        dirs.len() >= 9,
        "at least 9 scenarios, found {}",
        dirs.len()
    );
    for dir in dirs {
        let config: toml::Table = std::fs::read_to_string(dir.join("diffgate.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let expected = config["expected_verdict"]
            .as_str()
            .expect("expected_verdict set");
        assert!(
            config["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{} has a description",
            name(&dir)
        );
        let rel = format!("scenarios/{}", name(&dir));
        let out = run(&rel, &["--format", "json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let report = stable_json(&out.stdout);
        assert_eq!(report["verdict"], expected, "{rel}: {stderr}");
        let want_code = if expected == "block" { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(want_code), "{rel}: {stderr}");
        assert_eq!(report["schema_version"], 1);
        // Every reason names its rule, level, observation and threshold.
        for reason in report["reasons"].as_array().unwrap() {
            for field in ["rule", "level", "message", "observed", "threshold"] {
                assert!(!reason[field].is_null(), "{rel}: reason without {field}");
            }
        }
    }
}

#[test]
fn scenario_reports_match_snapshots() {
    for dir in scenarios() {
        let n = name(&dir);
        if !common::snapshot_stable(&n) {
            continue;
        }
        let rel = format!("scenarios/{n}");
        let json = run(&rel, &["--format", "json"]);
        insta::assert_json_snapshot!(format!("{n}.json"), stable_json(&json.stdout));
        let terminal = run(&rel, &[]);
        insta::assert_snapshot!(
            format!("{n}.terminal"),
            String::from_utf8(terminal.stdout).unwrap()
        );
    }
}

#[test]
fn reports_are_identical_across_runs_and_thread_counts() {
    // The raw bytes up to the `timings` field, the one marked
    // non-deterministic part (always last in the report).
    fn without_timings(stdout: &[u8]) -> &[u8] {
        let text = std::str::from_utf8(stdout).unwrap();
        let cut = text
            .rfind("\n  \"timings\": {")
            .expect("timings is the last field");
        &stdout[..cut]
    }
    for dir in scenarios() {
        let n = name(&dir);
        if !common::snapshot_stable(&n) {
            continue;
        }
        let rel = format!("scenarios/{n}");
        let one = run(&rel, &["--format", "json", "--threads", "1"]);
        assert!(!without_timings(&one.stdout).is_empty());
        for threads in ["4", "8", "4"] {
            let other = run(&rel, &["--format", "json", "--threads", threads]);
            assert_eq!(
                without_timings(&one.stdout),
                without_timings(&other.stdout),
                "{n}: --threads 1 vs {threads}"
            );
        }
    }
}

#[test]
fn json_file_equals_json_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let out = diffgate(&[
        "run",
        "scenarios/rounding_change",
        "--format",
        "json",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let file = std::fs::read(&path).unwrap();
    assert_eq!(stable_json(&file), stable_json(&out.stdout));
}

#[test]
fn fail_on_moves_the_gate() {
    let review = diffgate(&["run", "scenarios/rounding_change", "--fail-on", "review"]);
    assert_eq!(review.status.code(), Some(1));
    let never = diffgate(&["run", "scenarios/filter_bug", "--fail-on", "never"]);
    assert_eq!(never.status.code(), Some(0));
    // The filter also moves `status`'s distribution, which blocks too.
    let policy = diffgate(&[
        "run",
        "scenarios/filter_bug",
        "--policy",
        "max_removed_or_changed_fraction=0.9",
        "--policy",
        "distribution_drift=review",
    ]);
    assert_eq!(
        policy.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&policy.stderr)
    );
}

#[test]
fn json_reports_round_trip_through_the_model() {
    for dir in scenarios() {
        let rel = format!("scenarios/{}", name(&dir));
        let out = run(&rel, &["--format", "json"]);
        let text = String::from_utf8(out.stdout).unwrap();
        let model = diffgate::render::json::parse(&text).expect("report parses into the model");
        assert_eq!(diffgate::render::json::render(&model), text, "{rel}");
    }
}

#[test]
fn saved_reports_re_render_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    for dir in scenarios() {
        let n = name(&dir);
        let rel = format!("scenarios/{n}");
        let saved = tmp.path().join(format!("{n}.json"));
        let saved_str = saved.to_str().unwrap();
        let live = diffgate(&["run", &rel, "--json", saved_str]);
        // JSON round-trips byte for byte.
        let json = diffgate(&["report", saved_str, "--format", "json"]);
        assert_eq!(json.status.code(), Some(0));
        assert_eq!(json.stdout, std::fs::read(&saved).unwrap(), "{n}");
        // The terminal rendering of the saved report is the live one.
        let terminal = diffgate(&["report", saved_str]);
        assert_eq!(terminal.stdout, live.stdout, "{n}");
        // --output writes the same bytes.
        let out = tmp.path().join(format!("{n}.txt"));
        let written = diffgate(&["report", saved_str, "--output", out.to_str().unwrap()]);
        assert_eq!(written.status.code(), Some(0));
        assert_eq!(std::fs::read(&out).unwrap(), live.stdout, "{n}");
    }
}

#[test]
fn a_file_that_is_not_a_report_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "{\"verdict\": \"promote\"}").unwrap();
    let out = diffgate(&["report", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a diffgate JSON report"));
    let newer = tmp.path().join("newer.json");
    let run = diffgate(&["run", "scenarios/refactor", "--format", "json"]);
    let text = String::from_utf8(run.stdout).unwrap().replacen(
        "\"schema_version\": 1",
        "\"schema_version\": 2",
        1,
    );
    std::fs::write(&newer, text).unwrap();
    let out = diffgate(&["report", newer.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("schema_version 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
