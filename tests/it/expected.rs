//! Declared changes (`[[expect]]`, `--expect`) through the real binary:
//! what a declaration explains is counted apart and does not raise the
//! verdict, anything beyond it still does, a declaration that explains
//! nothing is stale, row counts outside their range explain nothing, bad
//! declarations are exit 2 naming the problem, and the report is the same
//! at 1, 4 and 8 threads.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::common;

/// A temporary folder holding v1.csv and v2.csv with these texts.
fn pair(v1: &str, v2: &str) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (a, b) = (path("v1.csv", v1), path("v2.csv", v2));
    (dir, a, b)
}

/// `diffgate diff v1 v2 --key id --format json` plus `extra`, dead letters
/// in `dir`.
fn diff(dir: &Path, v1: &str, v2: &str, extra: &[&str]) -> Output {
    diff_as(dir, v1, v2, "json", extra)
}

fn diff_as(dir: &Path, v1: &str, v2: &str, format: &str, extra: &[&str]) -> Output {
    common::diffgate()
        .arg("diff")
        .args([
            v1,
            v2,
            "--key",
            "id",
            "--format",
            format,
            "--fail-on",
            "never",
        ])
        .arg("--dead-letter")
        .arg(dir.join("dead.ndjson"))
        .args(extra)
        .output()
        .unwrap()
}

/// Orders of two regions: 40 in `eu`, 60 in `us`; v2 multiplies the
/// amounts of the regions in `scaled` by 100.
fn orders(scaled: &[&str]) -> (String, String) {
    let mut v1 = String::from("id,region,amount\n");
    let mut v2 = v1.clone();
    for i in 1..=100 {
        let region = if i <= 40 { "eu" } else { "us" };
        let amount = f64::from(i) * 1.25;
        v1.push_str(&format!("{i},{region},{amount}\n"));
        let new = if scaled.contains(&region) {
            amount * 100.0
        } else {
            amount
        };
        v2.push_str(&format!("{i},{region},{new}\n"));
    }
    (v1, v2)
}

const EU_CENTS: &str = r#"{column = "amount", where = "region = 'eu'", change = "scale(100)", reason = "eu amounts in cents"}"#;

#[test]
fn a_declared_change_that_happened_is_expected_and_promotes() {
    let (v1, v2) = orders(&["eu"]);
    let (dir, a, b) = pair(&v1, &v2);
    let undeclared = common::ok_json(&diff(dir.path(), &a, &b, &[]));
    assert_eq!(undeclared["verdict"], "block", "40% of rows changed");

    let r = common::ok_json(&diff(dir.path(), &a, &b, &["--expect", EU_CENTS]));
    assert_eq!(r["verdict"], "promote", "{r:#}");
    assert_eq!(r["rows"]["changed"], 40);
    assert_eq!(r["rows"]["changed_expected"], 40);
    assert_eq!(r["rows"]["only_v1_expected"], 0);
    let amount = &r["columns"].as_array().unwrap()[1];
    assert_eq!(
        (amount["name"].as_str(), amount["mismatches"].as_u64()),
        (Some("amount"), Some(40))
    );
    assert_eq!(amount["expected"], 40);
    let e = &r["expectations"][0];
    assert_eq!(e["status"], "met");
    assert_eq!(e["matched"], 40);
    assert_eq!(e["where"], "region = 'eu'");
    assert_eq!(e["change"], "scale(100)");
    assert_eq!(e["reason"], "eu amounts in cents");
    assert!(
        r["samples"]["changed"][0]["cells"][0]["expected"] == true,
        "sampled cells say they are declared: {:#}",
        r["samples"]
    );
    let checks: Vec<&str> = r["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    assert!(checks.contains(&"stale_expectation"), "{checks:?}");
}

#[test]
fn a_change_beyond_the_declaration_still_blocks_and_is_sampled_first() {
    let (v1, v2) = orders(&["eu", "us"]);
    let (dir, a, b) = pair(&v1, &v2);
    let r = common::ok_json(&diff(dir.path(), &a, &b, &["--expect", EU_CENTS]));
    assert_eq!(r["verdict"], "block", "{r:#}");
    assert_eq!(r["rows"]["changed"], 100);
    assert_eq!(r["rows"]["changed_expected"], 40);
    let fraction = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "max_removed_or_changed_fraction")
        .expect("the unexplained rows exceed the fraction");
    assert_eq!(fraction["observed"], 0.6);
    // The samples lead with rows no declaration explains (the us ones,
    // keys 41..), then the explained ones.
    let first = &r["samples"]["changed"][0];
    assert_eq!(first["key"]["id"], 41, "{:#}", r["samples"]);
    assert!(first["cells"][0].get("expected").is_none());

    // Another kind on the declared rows is not explained either.
    let other =
        r#"{column = "amount", where = "region = 'eu'", change = "scale(10)", reason = "r"}"#;
    let (v1, v2) = orders(&["eu"]);
    let (dir, a, b) = pair(&v1, &v2);
    let r = common::ok_json(&diff(dir.path(), &a, &b, &["--expect", other]));
    assert_eq!(r["rows"]["changed_expected"], 0);
    assert_eq!(r["expectations"][0]["status"], "stale");
    assert!(
        common::rules_fired(&r).contains(&"stale_expectation"),
        "{r:#}"
    );
    assert!(common::rules_fired(&r).contains(&"max_removed_or_changed_fraction"));
}

#[test]
fn a_declaration_that_explains_nothing_is_stale() {
    let (v1, _) = orders(&[]);
    let (dir, a, b) = pair(&v1, &v1);
    let r = common::ok_json(&diff(dir.path(), &a, &b, &["--expect", EU_CENTS]));
    assert_eq!(r["verdict"], "review", "{r:#}");
    assert_eq!(common::rules_fired(&r), ["stale_expectation"]);
    assert!(
        r["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`amount: scale(100) where region = 'eu'` did not happen")
    );
    // Its level is the policy's.
    let quiet = common::ok_json(&diff(
        dir.path(),
        &a,
        &b,
        &["--expect", EU_CENTS, "--policy", "stale_expectation=ignore"],
    ));
    assert_eq!(quiet["verdict"], "promote");
}

/// v1 with ids 1..=10 in `eu`; v2 adds `added` rows in `us` and removes
/// ids 1..=removed.
fn grown(added: usize, removed: usize) -> (String, String) {
    let mut v1 = String::from("id,region,amount\n");
    for i in 1..=10 {
        v1.push_str(&format!("{i},eu,{i}\n"));
    }
    let mut v2 = String::from("id,region,amount\n");
    for i in removed + 1..=10 {
        v2.push_str(&format!("{i},eu,{i}\n"));
    }
    for i in 0..added {
        v2.push_str(&format!("{},us,1\n", 100 + i));
    }
    (v1, v2)
}

#[test]
fn declared_rows_count_within_their_range_and_where() {
    let (v1, v2) = grown(5, 2);
    let (dir, a, b) = pair(&v1, &v2);
    let added = r#"{where = "region = 'us'", change = "rows_added(1..5)", reason = "us launch"}"#;
    let removed = r#"{change = "rows_removed(..2)", reason = "two test orders deleted"}"#;
    let r = common::ok_json(&diff(
        dir.path(),
        &a,
        &b,
        &["--expect", added, "--expect", removed],
    ));
    assert_eq!(r["verdict"], "promote", "{r:#}");
    assert_eq!(r["rows"]["only_v2_expected"], 5);
    assert_eq!(r["rows"]["only_v1_expected"], 2);
    assert_eq!(r["expectations"][0]["matched"], 5);
    assert_eq!(r["expectations"][1]["matched"], 2);

    // A `where` the added rows do not meet explains none of them.
    let eu = r#"{where = "region = 'eu'", change = "rows_added(..)", reason = "r"}"#;
    let r = common::ok_json(&diff(dir.path(), &a, &b, &["--expect", eu]));
    assert_eq!(r["rows"]["only_v2_expected"], 0);
    assert_eq!(r["expectations"][0]["status"], "stale");

    // More rows than declared: out of range, and none is expected.
    let (v1, v2) = grown(7, 0);
    let (dir, a, b) = pair(&v1, &v2);
    let r = common::ok_json(&diff(dir.path(), &a, &b, &["--expect", added]));
    assert_eq!(r["expectations"][0]["status"], "out_of_range", "{r:#}");
    assert_eq!(r["expectations"][0]["matched"], 7);
    assert_eq!(r["rows"]["only_v2_expected"], 0);
    let rules = common::rules_fired(&r);
    assert!(rules.contains(&"expectation_out_of_range"), "{rules:?}");
    assert!(rules.contains(&"rows_added"), "{rules:?}");
}

#[test]
fn without_a_key_only_whole_rows_can_be_declared() {
    let (v1, v2) = grown(3, 0);
    let (dir, a, b) = pair(&v1, &v2);
    let run = |extra: &[&str]| {
        common::diffgate()
            .arg("diff")
            .args([&a, &b, "--format", "json", "--fail-on", "never"])
            .arg("--dead-letter")
            .arg(dir.path().join("dead.ndjson"))
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = r#"{change = "rows_added(3)", reason = "three new orders"}"#;
    let r = common::ok_json(&run(&["--expect", ok]));
    assert_eq!(r["verdict"], "promote", "{r:#}");
    assert_eq!(r["rows"]["only_v2_expected"], 3);
    let out = run(&["--expect", EU_CENTS]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("give a key"), "{err}");
}

#[test]
fn the_other_kinds_explain_their_cells_only() {
    let v1 = "id,price,note\n1,1.234,a\n2,2.5,b\n3,7,c\n4,9.99,d\n";
    let v2 = "id,price,note\n1,1.23,a\n2,3,\n3,9,c\n4,9.99,d\n";
    let (dir, a, b) = pair(v1, v2);
    let round = r#"{column = "price", change = "round(0)", reason = "whole units"}"#;
    let nulls = r#"{column = "note", change = "value_to_null", reason = "notes dropped"}"#;
    let r = common::ok_json(&diff(
        dir.path(),
        &a,
        &b,
        &["--expect", round, "--expect", nulls],
    ));
    // 2.5 → 3 is a rounding; 1.234 → 1.23 (2 decimals) and 7 → 9 are not.
    assert_eq!(r["expectations"][0]["matched"], 1, "{r:#}");
    assert_eq!(r["expectations"][1]["matched"], 1);
    assert_eq!(r["rows"]["changed"], 3);
    assert_eq!(
        r["rows"]["changed_expected"], 1,
        "row 2 is explained entirely"
    );
    let offset = r#"{column = "price", change = "offset(2)", where = "id = 3", reason = "fee"}"#;
    let r = common::ok_json(&diff(dir.path(), &a, &b, &["--expect", offset]));
    assert_eq!(r["expectations"][0]["matched"], 1, "{r:#}");
}

#[test]
fn bad_declarations_are_usage_errors_naming_them() {
    let (v1, v2) = orders(&["eu"]);
    let (dir, a, b) = pair(&v1, &v2);
    let cases = [
        (
            r#"{column = "amout", change = "scale(100)", reason = "r"}"#,
            "did you mean `amount`?",
        ),
        (
            r#"{column = "region", change = "scale(100)", reason = "r"}"#,
            "needs a numeric column",
        ),
        (
            r#"{column = "id", change = "any", reason = "r"}"#,
            "is the key",
        ),
        (
            r#"{column = "amount", change = "any", where = "nope > 1", reason = "r"}"#,
            "`where` cannot be planned",
        ),
        (
            r#"{column = "amount", change = "scale(100)", reason = ""}"#,
            "say why",
        ),
        (r#"{column = "amount", change = "double"}"#, "--expect"),
        ("amount:scale(100)", "inline table"),
    ];
    for (spec, says) in cases {
        let out = diff(dir.path(), &a, &b, &["--expect", spec]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{spec}: {err}");
        assert!(err.contains(says), "{spec}: {err}");
    }
}

#[test]
fn a_scenario_declares_changes_in_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let (v1, _) = orders(&[]);
    std::fs::write(dir.path().join("t.csv"), v1).unwrap();
    std::fs::write(dir.path().join("v1.sql"), "SELECT * FROM t").unwrap();
    std::fs::write(
        dir.path().join("v2.sql"),
        "SELECT id, region, CASE WHEN region = 'eu' THEN amount * 100 ELSE amount END AS amount FROM t",
    )
    .unwrap();
    let config = |expect: &str| {
        format!(
            "[inputs]\nt = \"t.csv\"\n[transform]\nv1 = \"v1.sql\"\nv2 = \"v2.sql\"\n[compare]\nkey = \"id\"\n{expect}"
        )
    };
    let run = || {
        common::diffgate()
            .current_dir(dir.path())
            .args(["run", ".", "--format", "json", "--fail-on", "never"])
            .args(["--dead-letter", "dead.ndjson"])
            .output()
            .unwrap()
    };
    std::fs::write(
        dir.path().join("diffgate.toml"),
        config("[[expect]]\ncolumn = \"amount\"\nwhere = \"region = 'eu'\"\nchange = \"scale(100)\"\nreason = \"cents\"\n"),
    )
    .unwrap();
    let r = common::ok_json(&run());
    assert_eq!(r["verdict"], "promote", "{r:#}");
    // A declaration without its reason is refused, naming the table.
    std::fs::write(
        dir.path().join("diffgate.toml"),
        config("[[expect]]\ncolumn = \"amount\"\nchange = \"scale(100)\"\nreason = \" \"\n"),
    )
    .unwrap();
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("expect[1]: reason"), "{err}");
}

#[test]
fn a_model_declares_its_own_changes() {
    let dir = tempfile::tempdir().unwrap();
    common::model_folder(
        dir.path(),
        "[[models.a.expect]]\ncolumn = \"g\"\nchange = \"scale(10)\"\nreason = \"g in tenths\"\n\
         [[models.b.expect]]\nchange = \"rows_added(..)\"\nreason = \"never happens\"",
        &[
            ("a.sql", "SELECT id, g FROM t"),
            ("b.sql", "SELECT id FROM t"),
        ],
        &[
            ("a.sql", "SELECT id, g * 10 AS g FROM t"),
            ("b.sql", "SELECT id FROM t"),
        ],
    );
    let out = common::diffgate()
        .current_dir(dir.path())
        .args(["run", ".", "--format", "json", "--fail-on", "never"])
        .args(["--dead-letter", "dead.ndjson"])
        .output()
        .unwrap();
    let r = common::ok_json(&out);
    let a = &r["models"][0];
    assert_eq!(a["name"], "a");
    assert_eq!(a["verdict"], "promote", "{r:#}");
    assert_eq!(a["expectations"][0]["matched"], 43, "every non-zero g");
    // b is unchanged, so not compared: its declaration is stale.
    assert_eq!(r["verdict"], "review");
    let stale = r["reasons"][0]["message"].as_str().unwrap();
    assert!(stale.starts_with("model `b` (not compared"), "{stale}");
}

#[test]
fn reports_with_declarations_are_the_same_at_any_thread_count() {
    let (v1, v2) = orders(&["eu", "us"]);
    let (dir, a, b) = pair(&v1, &v2);
    let added = r#"{where = "amount > 100", change = "rows_removed(..)", reason = "r"}"#;
    let mut seen: Vec<String> = Vec::new();
    for threads in ["1", "4", "8"] {
        for format in ["json", "markdown"] {
            let out = diff_as(
                dir.path(),
                &a,
                &b,
                format,
                &[
                    "--expect",
                    EU_CENTS,
                    "--expect",
                    added,
                    "--threads",
                    threads,
                ],
            );
            let mut text = String::from_utf8(out.stdout).unwrap();
            if format == "json" {
                let mut v: Value = serde_json::from_str(&text).unwrap();
                v["timings"] = Value::Null;
                text = v.to_string();
            }
            seen.push(text);
        }
    }
    assert!(seen[0].contains("\"changed_expected\":40"), "{}", seen[0]);
    for (i, text) in seen.iter().enumerate().skip(2) {
        assert_eq!(text, &seen[i % 2], "thread count changed the report");
    }
}

#[test]
fn check_plans_declarations_without_reading_data() {
    let out = common::diffgate()
        .args(["check", "scenarios/currency_declared", "--format", "json"])
        .args([
            "--expect",
            r#"{column = "amout", change = "any", reason = "r"}"#,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean `amount`?"), "{err}");
    // A good one plans; `check` reads no rows, so nothing is judged stale.
    let out = common::diffgate()
        .args(["check", "scenarios/currency_declared", "--format", "json"])
        .output()
        .unwrap();
    let r = common::ok_json(&out);
    assert_eq!(r["verdict"], "promote", "{r:#}");
    assert!(r.get("expectations").is_none());
    let rules: Vec<&str> = r["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    assert!(!rules.contains(&"stale_expectation"), "{rules:?}");
}
