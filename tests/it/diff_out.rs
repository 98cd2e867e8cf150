//! `--diff-out`: every differing row as Parquet, through the real binary,
//! read back with DuckDB (another reader than the one that wrote it): one
//! row per changed, only-v1 and only-v2 key, sorted by key, with both
//! versions' values, each changed cell's class and whether a declared
//! change explains it; the same bytes at 1, 4 and 8 threads; masked
//! columns masked; a folder of files for a model folder; without a key,
//! each distinct row with how many more copies one side has.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common;

fn diff(dir: &Path, extra: &[&str]) -> Output {
    common::diffgate()
        .current_dir(dir)
        .args([
            "diff",
            "v1.csv",
            "v2.csv",
            "--format",
            "json",
            "--fail-on",
            "never",
        ])
        .args(["--dead-letter", "dead.ndjson"])
        .args(extra)
        .output()
        .unwrap()
}

/// v1 and v2 of 1000 orders: v2 scales the eu amounts (ids 1..=100) by
/// 100, rounds ids 500..=509, drops ids 990..=1000 and adds 2000..=2004.
fn orders(dir: &Path) {
    let mut v1 = String::from("id,region,email,amount\n");
    let mut v2 = v1.clone();
    for i in 1..=1000 {
        let region = if i <= 100 { "eu" } else { "us" };
        let amount = f64::from(i) + 0.25;
        let email = format!("user{i}@example.com");
        v1.push_str(&format!("{i},{region},{email},{amount}\n"));
        if i >= 990 {
            continue;
        }
        let new = match i {
            ..=100 => amount * 100.0,
            500..=509 => amount.round(),
            _ => amount,
        };
        v2.push_str(&format!("{i},{region},{email},{new}\n"));
    }
    for i in 2000..2005 {
        v2.push_str(&format!("{i},us,new{i}@example.com,1.5\n"));
    }
    std::fs::write(dir.join("v1.csv"), v1).unwrap();
    std::fs::write(dir.join("v2.csv"), v2).unwrap();
}

const EU: &str =
    r#"{column = "amount", where = "region = 'eu'", change = "scale(100)", reason = "cents"}"#;
const NEW: &str = r#"{change = "rows_added(..10)", reason = "new customers"}"#;

#[test]
fn every_differing_row_is_written_sorted_with_its_class() {
    let dir = tempfile::tempdir().unwrap();
    orders(dir.path());
    let out = diff(
        dir.path(),
        &[
            "--key",
            "id",
            "--diff-out",
            "out/diff.parquet",
            "--expect",
            EU,
            "--expect",
            NEW,
        ],
    );
    let r = common::ok_json(&out);
    let d = &r["diff_out"];
    assert_eq!(d["path"], "out/diff.parquet", "{r:#}");
    assert_eq!(
        (&d["rows"], &d["changed"], &d["only_v1"], &d["only_v2"]),
        (&126.into(), &110.into(), &11.into(), &5.into())
    );
    let Some(rows) = common::duckdb(
        dir.path(),
        "select _status, count(*), count(*) filter (_expected), min(id), max(id) \
         from 'out/diff.parquet' group by all order by 1",
    ) else {
        return;
    };
    assert_eq!(
        rows,
        [
            serde_json::json!(["changed", 110, 100, 1, 509]),
            serde_json::json!(["only_v1", 11, 0, 990, 1000]),
            serde_json::json!(["only_v2", 5, 5, 2000, 2004]),
        ]
    );
    let classes = common::duckdb(
        dir.path(),
        "select amount__change, amount__expected, count(*) from 'out/diff.parquet' \
         where _status = 'changed' group by all order by 1",
    )
    .unwrap();
    assert_eq!(
        classes,
        [
            serde_json::json!(["rounding(0)", false, 10]),
            serde_json::json!(["scale(100)", true, 100]),
        ]
    );
    // Sorted by key, values typed as compared, unchanged cells unclassed.
    let first = common::duckdb(
        dir.path(),
        "select id, amount__v1, amount__v2, region__v1, region__change \
         from 'out/diff.parquet' limit 2",
    )
    .unwrap();
    assert_eq!(first[0], serde_json::json!([1, 1.25, 125.0, "eu", null]));
    assert_eq!(first[1][0], 2);
    let md = String::from_utf8(
        common::diffgate()
            .current_dir(dir.path())
            .args([
                "diff", "v1.csv", "v2.csv", "--key", "id", "--format", "markdown",
            ])
            .args(["--dead-letter", "dead.ndjson", "--fail-on", "never"])
            .args(["--diff-out", "out/again.parquet"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        md.contains("every difference is in out/again.parquet: 126 row(s)"),
        "{md}"
    );
}

#[test]
fn the_file_is_the_same_at_any_thread_count_and_masks_what_reports_mask() {
    let dir = tempfile::tempdir().unwrap();
    orders(dir.path());
    let mut files = Vec::new();
    for threads in ["1", "4", "8"] {
        let name = format!("t{threads}.parquet");
        let out = diff(
            dir.path(),
            &[
                "--key",
                "id",
                "--diff-out",
                &name,
                "--threads",
                threads,
                "--mask",
                "email",
            ],
        );
        common::ok_json(&out);
        files.push(std::fs::read(dir.path().join(&name)).unwrap());
    }
    assert!(
        files.iter().all(|f| f == &files[0]),
        "thread count changed the file"
    );
    let Some(emails) = common::duckdb(
        dir.path(),
        "select distinct coalesce(email__v1, email__v2) from 't1.parquet'",
    ) else {
        return;
    };
    assert_eq!(emails, [serde_json::json!(["‹masked›"])]);
}

#[test]
fn nothing_different_is_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    orders(dir.path());
    std::fs::copy(dir.path().join("v1.csv"), dir.path().join("v2.csv")).unwrap();
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    let r = common::ok_json(&diff(dir.path(), &["--key", "id", "--diff-out", "folder"]));
    assert_eq!(r["diff_out"]["path"], "folder/diff.parquet", "{r:#}");
    assert_eq!(r["diff_out"]["rows"], 0);
    if let Some(n) = common::duckdb(dir.path(), "select count(*) from 'folder/diff.parquet'") {
        assert_eq!(n, [serde_json::json!([0])]);
    }
}

#[test]
fn without_a_key_each_distinct_row_is_written_with_its_count() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v1.csv"), "a,b\n1,x\n1,x\n2,y\n3,z\n").unwrap();
    std::fs::write(dir.path().join("v2.csv"), "a,b\n1,x\n2,y\n2,y\n2,y\n4,w\n").unwrap();
    let r = common::ok_json(&diff(
        dir.path(),
        &["--diff-out", "d.parquet", "--mask", "b"],
    ));
    assert_eq!(
        (&r["rows"]["only_v1"], &r["rows"]["only_v2"]),
        (&2.into(), &3.into())
    );
    let d = &r["diff_out"];
    assert_eq!(
        (&d["rows"], &d["only_v1"], &d["only_v2"]),
        (&4.into(), &2.into(), &2.into()),
        "{r:#}"
    );
    let Some(rows) = common::duckdb(dir.path(), "select a, b, _status, _count from 'd.parquet'")
    else {
        return;
    };
    assert_eq!(
        rows,
        [
            serde_json::json!([1, "‹masked›", "only_v1", 1]),
            serde_json::json!([2, "‹masked›", "only_v2", 2]),
            serde_json::json!([3, "‹masked›", "only_v1", 1]),
            serde_json::json!([4, "‹masked›", "only_v2", 1]),
        ]
    );
}

#[test]
fn a_model_folder_writes_a_file_per_compared_model() {
    let dir = tempfile::tempdir().unwrap();
    common::model_folder(
        dir.path(),
        "",
        &[
            ("a.sql", "SELECT id, g FROM t"),
            ("b.sql", "SELECT id, g FROM {{ ref('a') }}"),
            ("c.sql", "SELECT 1 AS one"),
        ],
        &[
            ("a.sql", "SELECT id, g + 1 AS g FROM t WHERE id > 5"),
            ("b.sql", "SELECT id, g FROM {{ ref('a') }}"),
            ("c.sql", "SELECT 1 AS one"),
        ],
    );
    let out = common::diffgate()
        .current_dir(dir.path())
        .args(["run", ".", "--format", "json", "--fail-on", "never"])
        .args(["--dead-letter", "dead.ndjson", "--diff-out", "diffs"])
        .output()
        .unwrap();
    let r = common::ok_json(&out);
    let written: Vec<(&str, &Value)> = r["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), &m["diff_out"]["rows"]))
        .collect();
    assert_eq!(written, [("a", &50.into()), ("b", &50.into())], "{r:#}");
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("diffs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["a.parquet", "b.parquet"], "no partial files left");
}

#[test]
fn files_from_pyarrow_and_polars_declare_and_export_alike_at_every_thread_count() {
    let Some(py) = common::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // v1 by pyarrow (dictionary-encoded strings, row groups of 64 rows,
    // statistics), v2 by Polars (its own string layout): 1,000 orders, v2
    // scales the eu amounts by 100 and drops ids 991..=1000.
    let script = r#"
import pyarrow as pa, pyarrow.parquet as pq, polars as pl
ids = list(range(1, 1001))
region = ["eu" if i % 4 == 0 else "us" for i in ids]
amount = [i + 0.25 for i in ids]
pq.write_table(pa.table({"id": ids, "region": region, "amount": amount}), "v1.parquet",
               row_group_size=64, use_dictionary=True, write_statistics=True)
v2 = pl.DataFrame({"id": ids, "region": region,
                   "amount": [a * 100 if r == "eu" else a for a, r in zip(amount, region)]})
v2.filter(pl.col("id") <= 990).write_parquet("v2.parquet")
"#;
    common::stdout_of(
        Command::new(py)
            .current_dir(dir.path())
            .args(["-c", script]),
        "the writers' script",
    );
    let eu =
        r#"{column = "amount", where = "region = 'eu'", change = "scale(100)", reason = "cents"}"#;
    let gone = r#"{change = "rows_removed(10)", where = "id > 990", reason = "test orders"}"#;
    let mut files = Vec::new();
    for threads in ["1", "4", "8"] {
        let out = common::diffgate()
            .current_dir(dir.path())
            .args([
                "diff",
                "v1.parquet",
                "v2.parquet",
                "--key",
                "id",
                "--format",
                "json",
            ])
            .args(["--dead-letter", "dead.ndjson", "--fail-on", "never"])
            .args(["--expect", eu, "--expect", gone, "--threads", threads])
            .args(["--diff-out", &format!("d{threads}.parquet")])
            .output()
            .unwrap();
        let r = common::ok_json(&out);
        assert_eq!(r["verdict"], "promote", "{threads} threads: {r:#}");
        // ids 4, 8, ..., 988 (992..=1000 are removed).
        assert_eq!(r["rows"]["changed_expected"], 247);
        assert_eq!(r["rows"]["only_v1_expected"], 10);
        assert_eq!(r["diff_out"]["rows"], 257);
        files.push(std::fs::read(dir.path().join(format!("d{threads}.parquet"))).unwrap());
    }
    assert!(
        files.iter().all(|f| f == &files[0]),
        "thread count changed the file"
    );
    if let Some(rows) = common::duckdb(
        dir.path(),
        "select _status, count(*) filter (_expected), count(*) from 'd1.parquet' group by 1 order by 1",
    ) {
        assert_eq!(
            rows,
            [
                serde_json::json!(["changed", 247, 247]),
                serde_json::json!(["only_v1", 10, 10])
            ]
        );
    }
}
