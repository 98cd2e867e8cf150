//! Files other writers made (`testdata/writers/`, written by pyarrow,
//! Polars and DuckDB with their defaults; `generate.py` there says how),
//! each pair a way a reader once went wrong on ordinary files: columns the
//! planner folded into constants from statistics, all-NULL columns, NaN
//! left out of Parquet's min/max, empty tables.

use serde_json::{Value, json};

use crate::common;

fn diff(v1: &str, v2: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let out = common::diffgate()
        .arg("diff")
        .arg(format!("testdata/writers/{v1}.parquet"))
        .arg(format!("testdata/writers/{v2}.parquet"))
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{v1} vs {v2}: {stderr}"
    );
    let report = serde_json::from_slice(&out.stdout).expect("a JSON report");
    (out.status.code(), report)
}

#[test]
fn constant_columns_from_every_writer_compare_without_a_panic() {
    for writer in ["", "polars_", "duckdb_"] {
        let (v1, v2) = (
            format!("{writer}constant_v1"),
            format!("{writer}constant_v2"),
        );
        // A file against itself: every column constant, nothing differs.
        for side in [&v1, &v2] {
            let (code, r) = diff(side, side, &["--key", "id"]);
            assert_eq!(code, Some(0), "{side}");
            assert_eq!(r["verdict"], "promote", "{side}");
        }
        let (_, r) = diff(&v1, &v2, &["--key", "id"]);
        assert_eq!(r["rows"]["changed"], 1, "{writer}");
        assert_eq!(
            r["samples"]["changed"][0],
            json!({"key": {"id": 2}, "cells": [{"column": "b", "v1": 2, "v2": 5}]}),
            "{writer}"
        );
        // Keyless too: the row (2, 2) became (2, 5).
        let (_, r) = diff(&v1, &v2, &[]);
        assert_eq!(
            (&r["rows"]["only_v1"], &r["rows"]["only_v2"]),
            (&json!(1), &json!(1))
        );
    }
}

#[test]
fn an_all_null_column_is_null_in_every_cell() {
    let (_, r) = diff("all_null_v1", "all_null_v2", &["--key", "id"]);
    assert_eq!(r["rows"]["changed"], 1);
    let b = &r["columns"][0];
    assert_eq!((&b["name"], &b["null_to_value"]), (&json!("b"), &json!(1)));
    assert_eq!(r["samples"]["changed"][0]["cells"][0]["v1"], Value::Null);
    let (code, _) = diff("all_null_v1", "all_null_v1", &["--key", "id"]);
    assert_eq!(code, Some(0));
}

#[test]
fn nan_cells_are_read_as_nan_whatever_the_statistics_say() {
    // min = max = 1.0 in the statistics (NaN left out) must not make the
    // column a constant 1.0; nor may a row group without bounds be read as
    // another group's bounds.
    for (stats, nostats) in [
        ("nan_stats", "nan_nostats"),
        ("nan_row_groups", "nan_row_groups_nostats"),
    ] {
        for extra in [&["--key", "k"][..], &[]] {
            let (code, r) = diff(stats, nostats, extra);
            assert_eq!(code, Some(0), "{stats} {extra:?}: {r}");
            assert_eq!(r["rows"]["only_v1"], 0, "{stats} {extra:?}");
        }
    }
    // Across the two files: k 1 is 1.0 against NaN (a change, shown as
    // NaN, not as a bound), k 2 NaN against NaN (equal), k 3 and 4 only in
    // the second file.
    let (_, r) = diff("nan_stats", "nan_row_groups", &["--key", "k"]);
    assert_eq!(
        (
            &r["rows"]["changed"],
            &r["rows"]["unchanged"],
            &r["rows"]["only_v2"]
        ),
        (&json!(1), &json!(1), &json!(2))
    );
    assert_eq!(
        r["samples"]["changed"][0],
        json!({"key": {"k": 1}, "cells": [{"column": "x", "v1": 1.0, "v2": "NaN"}]})
    );
}

#[test]
fn two_empty_tables_are_not_a_silent_promote() {
    let (code, r) = diff("empty_v1", "empty_v2", &["--key", "id"]);
    assert_eq!(
        (r["rows"]["v1"].as_u64(), r["rows"]["v2"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(code, Some(0), "review is below the default --fail-on");
    assert_eq!(r["verdict"], "review");
    let rules: Vec<&Value> = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["rule"])
        .collect();
    assert_eq!(rules, [&json!("both_empty")]);
}
