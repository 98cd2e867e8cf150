//! The determinism check (`--runs N`) through the real binary: a transform
//! using `random()` and one using `ROW_NUMBER()` over a tied ordering are
//! `nondeterministic` findings naming the version and columns; deterministic
//! transforms pass it; the rule is a policy key like any other.

use crate::common;

use serde_json::Value;

fn run(args: &[&str]) -> (Option<i32>, Value) {
    let out = common::diffgate()
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

fn rule<'a>(r: &'a Value, name: &str) -> Option<&'a Value> {
    r["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == name)
}

#[test]
fn random_values_are_nondeterministic_in_every_row() {
    let (code, r) = run(&["run", "scenarios/nondeterministic_random"]);
    assert_eq!(code, Some(1));
    assert_eq!(r["verdict"], "block");
    let d = &r["determinism"];
    assert_eq!(d["runs"], 2);
    assert_eq!(
        d["nondeterministic"],
        serde_json::json!([{
            "version": "v2", "runs_differing": 1, "rows": 60,
            "columns": ["spot_check_score"]
        }])
    );
    assert_eq!(r["reasons"][0]["rule"], "nondeterministic");
    assert_eq!(r["reasons"][0]["level"], "block");
    assert_eq!(rule(&r, "nondeterministic").unwrap()["outcome"], "block");
    // Apart from that, v1 and v2 agree: the rule alone blocks.
    assert_eq!(r["reasons"].as_array().unwrap().len(), 1);

    // A policy key like any other.
    let (code, r) = run(&[
        "run",
        "scenarios/nondeterministic_random",
        "--policy",
        "nondeterministic=review",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(r["verdict"], "review");
}

#[test]
fn row_number_over_ties_is_caught_and_the_tie_breaker_is_not() {
    let (code, r) = run(&["run", "scenarios/nondeterministic_row_number"]);
    assert_eq!(code, Some(1));
    let drifts = r["determinism"]["nondeterministic"].as_array().unwrap();
    // v1 breaks ties by order id: the same on every run, so not listed.
    assert_eq!(drifts.len(), 1, "{drifts:?}");
    let v2 = &drifts[0];
    assert_eq!(v2["version"], "v2");
    assert_eq!(v2["columns"], serde_json::json!(["order_id"]));
    assert_eq!(v2["runs_differing"], 2, "each reordered re-run differs");
    // 37 of 58 customers have tied biggest orders; how many land on
    // another order depends on the reordering, but never none or more.
    let rows = v2["rows"].as_u64().unwrap();
    assert!((1..=37).contains(&rows), "{rows}");
}

#[test]
fn deterministic_transforms_pass_and_the_check_is_off_by_default() {
    let (code, r) = run(&["run", "scenarios/refactor", "--runs", "3"]);
    assert_eq!(code, Some(0));
    assert_eq!(r["verdict"], "promote");
    assert_eq!(
        r["determinism"],
        serde_json::json!({"runs": 3, "nondeterministic": []})
    );
    assert_eq!(rule(&r, "nondeterministic").unwrap()["outcome"], "pass");
    assert!(r["timings"]["determinism_ms"].as_u64().is_some());

    let (_, r) = run(&["run", "scenarios/refactor"]);
    assert!(r.get("determinism").is_none());
    assert!(
        rule(&r, "nondeterministic").is_none(),
        "not listed when not checked"
    );
}

#[test]
fn fewer_than_two_runs_is_a_usage_error() {
    for n in ["1", "0", "x"] {
        let out = common::diffgate()
            .args(["run", "scenarios/refactor", "--runs", n])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--runs {n}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--runs"));
    }
}

#[test]
fn models_are_rerun_and_compared_on_their_own_keys() {
    // `country_revenue` has no `customer_id` (the folder's key) but a key
    // of its own, `country`: its re-run is joined on that, as its
    // comparison is, and the report is the one-run report plus the check.
    let (once_code, once) = run(&["run", "scenarios/dbt_models"]);
    let (code, r) = run(&["run", "scenarios/dbt_models", "--runs", "2"]);
    assert_eq!(code, once_code);
    assert_eq!(
        r["determinism"],
        serde_json::json!({"runs": 2, "nondeterministic": []})
    );
    assert_eq!(r["verdict"], once["verdict"]);
    assert_eq!(r["models"], once["models"]);
}
