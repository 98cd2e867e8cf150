//! `diffgate check`: v1 and v2 planned from the input schemas without
//! reading data; SQL errors with file:line:column; the verdict the schema
//! alone implies; and the schema-migration rule (a breaking change shipped
//! with a logic change is blocked, a pure rename or removal is not).

use crate::common;

use std::process::Output;

use serde_json::Value;

fn check(args: &[&str]) -> Output {
    common::diffgate().arg("check").args(args).output().unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)))
}

fn rules(r: &Value) -> Vec<String> {
    r["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_breaking_change_with_a_logic_change_is_blocked_with_the_safe_order() {
    let out = check(&["scenarios/rename_with_logic_change", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    assert_eq!(r["comparison"]["command"], "check");
    assert_eq!(r["verdict"], "block");
    assert_eq!(r["reasons"][0]["rule"], "schema_migration");
    let msg = r["reasons"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("add the new column") && msg.contains("later release"),
        "{msg}"
    );
    assert_eq!(r["schema"]["logic_changed"], true);
    assert_eq!(r["schema"]["removed"][0]["name"], "status");
    // Only schema rules are judged: no rows were compared.
    assert!(
        rules(&r).iter().all(|x| x.starts_with("schema_")),
        "{:?}",
        rules(&r)
    );
    assert_eq!(r["rows"]["v1"], 0);
    assert!(r.get("expected_verdict").is_none());

    // `run` applies the same rule, with the data.
    let run = common::diffgate()
        .args([
            "run",
            "scenarios/rename_with_logic_change",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let r = json(&run);
    assert!(
        r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["rule"] == "schema_migration")
    );
    assert_eq!(r["rows"]["changed"], 600, "every amount changed");
}

#[test]
fn a_removal_without_a_logic_change_is_only_a_breaking_change() {
    let r = json(&check(&["scenarios/removed_column", "--format", "json"]));
    assert_eq!(r["verdict"], "block");
    assert_eq!(r["schema"]["logic_changed"], false);
    let fired: Vec<&str> = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    assert_eq!(fired, ["schema_breaking"]);

    // A logic change without a schema change passes `check`: only `run`
    // can see what the data does.
    let out = check(&["scenarios/filter_bug", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let r = json(&out);
    assert_eq!(r["verdict"], "promote");
    assert_eq!(r["schema"]["logic_changed"], true);
}

#[test]
fn check_counts_and_keeps_no_records() {
    // Rows after the inference sample are broken: `run` screens every
    // record and dead-letters them; `check` screens them too (which records
    // are bad decides the schema `run` infers) but neither counts them nor
    // writes a dead-letter file.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut csv = String::from("id,amount\n");
    for i in 1..=1500 {
        csv.push_str(&format!("{i},{}.5\n", i % 90));
    }
    csv.push_str("1501,not a number\n1502\n");
    std::fs::write(d.join("t.csv"), csv).unwrap();
    std::fs::write(
        d.join("diffgate.toml"),
        "[inputs]\nt = \"t.csv\"\n[transform]\nv1 = \"a.sql\"\nv2 = \"b.sql\"\n[compare]\nkey = \"id\"\n",
    )
    .unwrap();
    std::fs::write(d.join("a.sql"), "SELECT id, amount FROM t\n").unwrap();
    std::fs::write(d.join("b.sql"), "SELECT id, amount * 2 AS amount FROM t\n").unwrap();
    let scenario = d.to_str().unwrap();
    let dead = d.join("dl.ndjson");

    let out = check(&[
        scenario,
        "--format",
        "json",
        "--dead-letter",
        dead.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert!(
        r["inputs"][0].get("rows_read").is_none(),
        "no records were counted"
    );
    assert!(!dead.exists());

    let run = common::diffgate()
        .args([
            "run",
            scenario,
            "--format",
            "json",
            "--dead-letter",
            dead.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let r = json(&run);
    assert_eq!(r["inputs"][0]["rows_dead_lettered"], 2);
    assert!(dead.exists());
}

#[test]
fn sql_errors_name_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("diffgate.toml"),
        format!(
            "[inputs]\norders = \"{}\"\n[transform]\nv1 = \"a.sql\"\nv2 = \"b.sql\"\n",
            common::root().join("testdata/shop/orders.csv").display()
        ),
    )
    .unwrap();
    std::fs::write(d.join("a.sql"), "SELECT order_id FROM orders\n").unwrap();
    std::fs::write(
        d.join("b.sql"),
        "SELECT order_id,\n       amount_typo\nFROM orders\n",
    )
    .unwrap();
    let out = check(&[d.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("b.sql:2:8") && stderr.contains("amount_typo"),
        "{stderr}"
    );

    let out = check(&["scenarios/refactor", "--runs", "2"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `check` plans every bundled scenario (exit 0 or 1, never an error):
/// `[transform] runs` is for `run` only, and a bad CSV record does not
/// break the schema `check` infers.
#[test]
fn every_scenario_passes_check() {
    let mut dirs: Vec<_> = std::fs::read_dir(common::root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("diffgate.toml").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let out = check(&[&format!("scenarios/{name}"), "--format", "json"]);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = json(&out);
        assert_eq!(r["comparison"]["command"], "check", "{name}");
        assert!(r.get("determinism").is_none(), "{name}: nothing re-ran");
    }
}
