//! The comparison semantics, checked on small crafted tables through the
//! real `diffgate diff` command: keyed and keyless counts, duplicate and NULL
//! keys, NULL/NaN/-0.0 rules, tolerances, type widening, schema classes.

use crate::common;

use std::path::{Path, PathBuf};

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use serde_json::{Value, json};

struct Run {
    code: i32,
    report: Value,
    stderr: String,
}

fn diff(v1: &Path, v2: &Path, extra: &[&str]) -> Run {
    let out = common::diffgate()
        .arg("diff")
        .arg(v1)
        .arg(v2)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Run {
        code: out.status.code().unwrap_or(-1),
        report,
        stderr,
    }
}

fn csv(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn parquet(dir: &Path, name: &str, columns: Vec<(&str, ArrayRef)>) -> PathBuf {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let p = dir.join(name);
    let mut w = ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    p
}

fn rows(r: &Run) -> &Value {
    &r.report["rows"]
}

fn column<'a>(r: &'a Run, name: &str) -> &'a Value {
    r.report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("column {name} in report: {}", r.report))
}

#[test]
fn keyed_counts_and_samples() {
    let d = tempfile::tempdir().unwrap();
    let v1 = csv(
        d.path(),
        "v1.csv",
        "id,name,qty\n1,a,10\n2,b,20\n3,c,30\n4,d,40\n5,e,50\n",
    );
    // Shuffled; id 1 removed, id 6 added, id 3 changed in two columns.
    let v2 = csv(
        d.path(),
        "v2.csv",
        "id,name,qty\n5,e,50\n3,C,31\n6,f,60\n2,b,20\n4,d,40\n",
    );
    let r = diff(&v1, &v2, &["--key", "id"]);
    assert_eq!(r.code, 1, "{}", r.stderr); // 2 of 5 removed or changed > 1%
    let rows = rows(&r);
    assert_eq!(rows["v1"], 5);
    assert_eq!(rows["v2"], 5);
    assert_eq!(rows["matched"], 4);
    assert_eq!(rows["only_v1"], 1);
    assert_eq!(rows["only_v2"], 1);
    assert_eq!(rows["changed"], 1);
    assert_eq!(rows["unchanged"], 3);
    assert_eq!(column(&r, "name")["mismatches"], 1);
    assert_eq!(column(&r, "qty")["mismatches"], 1);
    assert_eq!(column(&r, "qty")["max_abs_diff"], 1.0);
    let changed = &r.report["samples"]["changed"][0];
    assert_eq!(changed["key"], json!({"id": 3}));
    assert_eq!(
        changed["cells"],
        json!([{"column": "name", "v1": "c", "v2": "C"}, {"column": "qty", "v1": 30, "v2": 31}])
    );
    assert_eq!(r.report["samples"]["only_v1"][0]["key"], json!({"id": 1}));
    assert_eq!(r.report["samples"]["only_v2"][0]["key"], json!({"id": 6}));
}

#[test]
fn keyless_is_a_multiset_comparison() {
    let d = tempfile::tempdir().unwrap();
    let v1 = csv(d.path(), "v1.csv", "x\na\na\nb\n");
    let v2 = csv(d.path(), "v2.csv", "x\na\nb\nb\nc\n");
    let r = diff(&v1, &v2, &[]);
    let rows = rows(&r);
    assert_eq!(
        (rows["v1"].as_u64(), rows["v2"].as_u64()),
        (Some(3), Some(4))
    );
    assert_eq!(rows["only_v1"], 1);
    assert_eq!(rows["only_v2"], 2);
    assert!(rows.get("matched").is_none() && rows.get("changed").is_none());
    assert_eq!(
        r.report["samples"]["only_v1"],
        json!([{"row": {"x": "a"}, "count": 1}])
    );
    assert_eq!(
        r.report["samples"]["only_v2"],
        json!([{"row": {"x": "b"}, "count": 1}, {"row": {"x": "c"}, "count": 1}])
    );
}

#[test]
fn duplicate_keys_are_findings_and_never_inflate_counts() {
    let d = tempfile::tempdir().unwrap();
    // v1: id 4 twice. v2: id 2 twice (different values), id 7 twice (only in v2).
    let v1 = csv(d.path(), "v1.csv", "id,v\n1,x\n2,x\n3,x\n4,x\n4,y\n");
    let v2 = csv(
        d.path(),
        "v2.csv",
        "id,v\n1,x\n2,x\n2,z\n3,changed\n4,x\n7,q\n7,q\n",
    );
    let r = diff(&v1, &v2, &["--key", "id"]);
    let rows = rows(&r);
    assert_eq!(rows["v1"], 5);
    assert_eq!(rows["v2"], 7);
    assert_eq!(rows["duplicate_keys_v1"], 1);
    assert_eq!(rows["duplicate_rows_v1"], 1);
    assert_eq!(rows["duplicate_keys_v2"], 2);
    assert_eq!(rows["duplicate_rows_v2"], 2);
    // Presence by distinct key: 1,2,3,4 matched; 7 only in v2, counted once.
    assert_eq!(rows["matched"], 4);
    assert_eq!(rows["only_v1"], 0);
    assert_eq!(rows["only_v2"], 1);
    // 2 and 4 are duplicated, so only 1 and 3 are compared; 3 changed.
    assert_eq!(rows["matched_duplicate_keys"], 2);
    assert_eq!(rows["changed"], 1);
    assert_eq!(rows["unchanged"], 1);
    assert_eq!(column(&r, "v")["compared"], 2);
    // The documented invariants.
    let n = |k: &str| rows[k].as_u64().unwrap();
    assert_eq!(
        n("matched"),
        n("changed") + n("unchanged") + n("matched_duplicate_keys")
    );
    for side in ["v1", "v2"] {
        let only = if side == "v1" {
            n("only_v1")
        } else {
            n("only_v2")
        };
        assert_eq!(
            n(side),
            n("matched")
                + only
                + n(&format!("duplicate_rows_{side}"))
                + n(&format!("null_keys_{side}")),
            "{side}"
        );
    }
    assert_eq!(r.report["verdict"], "block");
    let rules: Vec<&str> = r.report["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"duplicate_keys_v2") && rules.contains(&"duplicate_keys_v1"),
        "{rules:?}"
    );
}

#[test]
fn null_keys_are_counted_not_matched() {
    let d = tempfile::tempdir().unwrap();
    let v1 = csv(d.path(), "v1.csv", "id,region,v\n1,eu,a\n2,eu,b\n3,us,c\n");
    let v2 = csv(
        d.path(),
        "v2.csv",
        "id,region,v\n1,eu,a\n2,,b\n,us,c\n3,us,c\n",
    );
    let r = diff(&v1, &v2, &["--key", "id,region"]);
    let rows = rows(&r);
    assert_eq!(rows["null_keys_v1"], 0);
    assert_eq!(rows["null_keys_v2"], 2);
    assert_eq!(rows["matched"], 2);
    assert_eq!(rows["only_v1"], 1); // (2, eu) has no non-NULL partner
    assert_eq!(rows["only_v2"], 0);
    assert_eq!(r.report["verdict"], "block");
    assert_eq!(r.report["reasons"][0]["rule"], "null_keys_v2");
}

#[test]
fn null_nan_and_signed_zero_rules() {
    let d = tempfile::tempdir().unwrap();
    let id = |n: i64| -> ArrayRef { Arc::new(Int64Array::from_iter_values(0..n)) };
    let v1 = parquet(
        d.path(),
        "v1.parquet",
        vec![
            ("id", id(6)),
            (
                "f",
                Arc::new(Float64Array::from(vec![
                    None,
                    Some(f64::NAN),
                    Some(-0.0),
                    Some(1.0),
                    None,
                    Some(2.0),
                ])),
            ),
        ],
    );
    let v2 = parquet(
        d.path(),
        "v2.parquet",
        vec![
            ("id", id(6)),
            (
                "f",
                Arc::new(Float64Array::from(vec![
                    None,
                    Some(f64::NAN),
                    Some(0.0),
                    Some(1.0),
                    Some(0.0),
                    None,
                ])),
            ),
        ],
    );
    let r = diff(&v1, &v2, &["--key", "id"]);
    let f = column(&r, "f");
    assert_eq!(f["mismatches"], 2, "{}", r.report);
    assert_eq!(f["null_to_value"], 1);
    assert_eq!(f["value_to_null"], 1);
    assert_eq!(rows(&r)["changed"], 2);
}

#[test]
fn widened_ints_compare_by_value_and_the_change_is_compatible() {
    let d = tempfile::tempdir().unwrap();
    let v1 = parquet(
        d.path(),
        "v1.parquet",
        vec![
            ("id", Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef),
            (
                "n",
                Arc::new(Int32Array::from(vec![10, 20, 30])) as ArrayRef,
            ),
        ],
    );
    let v2 = parquet(
        d.path(),
        "v2.parquet",
        vec![
            ("id", Arc::new(Int64Array::from(vec![3, 1, 2])) as ArrayRef),
            (
                "n",
                Arc::new(Int64Array::from(vec![30, 10, 20])) as ArrayRef,
            ),
        ],
    );
    let r = diff(&v1, &v2, &["--key", "id"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report["verdict"], "promote");
    assert_eq!(rows(&r)["matched"], 3);
    assert_eq!(column(&r, "n")["mismatches"], 0);
    let changed = &r.report["schema"]["changed"];
    assert_eq!(changed.as_array().unwrap().len(), 2);
    assert!(
        changed
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["compatible"] == true)
    );
    assert_eq!(r.report["schema"]["breaking"], false);
}

#[test]
fn tolerances_global_and_per_column() {
    let d = tempfile::tempdir().unwrap();
    let v1 = csv(d.path(), "v1.csv", "id,a,b\n1,100.0,100.0\n2,200.0,200.0\n");
    let v2 = csv(d.path(), "v2.csv", "id,a,b\n1,100.4,100.4\n2,200.0,201.0\n");
    // Exact: a differs in 1 row, b in 2.
    let exact = diff(&v1, &v2, &["--key", "id"]);
    assert_eq!(column(&exact, "a")["mismatches"], 1);
    assert_eq!(column(&exact, "b")["mismatches"], 2);
    // |d| <= 0.5 + 0 * |v1|: only b's 1.0 difference remains.
    let abs = diff(&v1, &v2, &["--key", "id", "--abs-tol", "0.5"]);
    assert_eq!(column(&abs, "a")["mismatches"], 0);
    assert_eq!(column(&abs, "b")["mismatches"], 1);
    // rel 0.005 * 200 = 1.0 absorbs b's difference in row 2 (<=).
    let rel = diff(&v1, &v2, &["--key", "id", "--rel-tol", "0.005"]);
    assert_eq!(column(&rel, "b")["mismatches"], 0);
    // Per column: only a is loosened.
    let per = diff(&v1, &v2, &["--key", "id", "--column-tol", "a:abs=1"]);
    assert_eq!(column(&per, "a")["mismatches"], 0);
    assert_eq!(column(&per, "b")["mismatches"], 2);
}

#[test]
fn strings_compare_exactly_and_row_order_never_matters() {
    let d = tempfile::tempdir().unwrap();
    let v1 = csv(d.path(), "v1.csv", "id,s\n1,abc\n2,abc\n3,abc\n4,abc\n");
    let v2 = csv(
        d.path(),
        "v2.csv",
        "id,s\n4,abc\n3,\"abc \"\n2,ABC\n1,abc\n",
    );
    let r = diff(&v1, &v2, &["--key", "id"]);
    assert_eq!(column(&r, "s")["mismatches"], 2);
    assert!(column(&r, "s").get("max_abs_diff").is_none());
}

#[test]
fn schema_changes_are_classed() {
    let d = tempfile::tempdir().unwrap();
    let v1 = csv(d.path(), "v1.csv", "id,gone,kind,same\n1,x,5,a\n");
    let v2 = csv(d.path(), "v2.csv", "id,kind,same,new\n1,five,a,1.5\n");
    let r = diff(&v1, &v2, &["--key", "id"]);
    let s = &r.report["schema"];
    assert_eq!(s["added"], json!([{"name": "new", "type": "Float64"}]));
    assert_eq!(s["removed"], json!([{"name": "gone", "type": "Utf8"}]));
    assert_eq!(s["changed"][0]["name"], "kind");
    assert_eq!(s["changed"][0]["compatible"], false);
    assert_eq!(s["changed"][0]["comparable"], false);
    assert_eq!(s["breaking"], true);
    assert_eq!(r.report["verdict"], "block");
    // Only `same` is compared by value.
    let names: Vec<&str> = r.report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["same"]);
}

#[test]
fn empty_v2_blocks() {
    let d = tempfile::tempdir().unwrap();
    let v1 = csv(d.path(), "v1.csv", "id,v\n1,a\n");
    let v2 = parquet(
        d.path(),
        "v2.parquet",
        vec![
            (
                "id",
                Arc::new(Int64Array::from(Vec::<i64>::new())) as ArrayRef,
            ),
            (
                "v",
                Arc::new(StringArray::from(Vec::<&str>::new())) as ArrayRef,
            ),
        ],
    );
    let r = diff(&v1, &v2, &["--key", "id"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.report["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["rule"] == "empty_v2")
    );
}

#[test]
fn a_missing_key_column_is_an_error_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let v1 = csv(d.path(), "v1.csv", "order_id,v\n1,a\n");
    let v2 = csv(d.path(), "v2.csv", "orderid,v\n1,a\n");
    let r = diff(&v1, &v2, &["--key", "order_id"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`order_id`") && r.stderr.contains("v2"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("did you mean `orderid`"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn counts_match_a_plain_reference_on_generated_data() {
    // 2,000 rows per side with every kind of difference; the reference
    // counts are computed here in plain Rust from the same rows.
    let d = tempfile::tempdir().unwrap();
    let n = 2000i64;
    let mut a = String::from("id,x,s\n");
    let mut b = String::from("id,x,s\n");
    let (mut only_v1, mut only_v2, mut changed) = (0, 0, 0);
    for i in 0..n {
        let x = (i * 7919) % 1000;
        if i % 97 != 0 {
            a.push_str(&format!("{i},{x},s{}\n", i % 13));
        }
        if i % 89 != 0 {
            let x2 = if i % 31 == 0 { x + 1 } else { x };
            b.push_str(&format!("{i},{x2},s{}\n", i % 13));
        }
        match (i % 97 != 0, i % 89 != 0) {
            (true, false) => only_v1 += 1,
            (false, true) => only_v2 += 1,
            (true, true) if i % 31 == 0 => changed += 1,
            _ => {}
        }
    }
    let v1 = csv(d.path(), "v1.csv", &a);
    let v2 = csv(d.path(), "v2.csv", &b);
    for threads in ["1", "2", "3"] {
        let r = diff(&v1, &v2, &["--key", "id", "--threads", threads]);
        let rows = rows(&r);
        assert_eq!(rows["only_v1"], only_v1, "threads {threads}");
        assert_eq!(rows["only_v2"], only_v2, "threads {threads}");
        assert_eq!(rows["changed"], changed, "threads {threads}");
        assert_eq!(column(&r, "x")["mismatches"], changed);
    }
}

/// Every NaN is one value: a NaN with its sign bit set (what `inf - inf`
/// gives) equals a plain NaN, keyed and keyless.
#[test]
fn nan_of_every_bit_pattern_is_one_value() {
    let dir = tempfile::tempdir().unwrap();
    let minus_nan = f64::from_bits(0xfff8_0000_0000_0000);
    let payload = f64::from_bits(0x7ff8_0000_0000_0001);
    let nan = |x: f64| -> ArrayRef { Arc::new(Float64Array::from(vec![x, 1.0])) };
    let ids = || -> ArrayRef { Arc::new(Int64Array::from(vec![1, 2])) };
    let v1 = parquet(
        dir.path(),
        "v1.parquet",
        vec![("k", ids()), ("x", nan(f64::NAN))],
    );
    for (name, other) in [("minus", minus_nan), ("payload", payload)] {
        let v2 = parquet(
            dir.path(),
            &format!("{name}.parquet"),
            vec![("k", ids()), ("x", nan(other))],
        );
        let keyless = diff(&v1, &v2, &[]);
        assert_eq!(
            (keyless.code, &rows(&keyless)["only_v1"]),
            (0, &json!(0)),
            "{name}: {}",
            keyless.stderr
        );
        let keyed = diff(&v1, &v2, &["--key", "k"]);
        assert_eq!(rows(&keyed)["changed"], 0, "{name}");
    }
}

/// Without a key, values are matched exactly: a tolerance does not apply,
/// and the report says so instead of listing it silently.
#[test]
fn a_tolerance_without_a_key_is_a_note_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = csv(dir.path(), "v1.csv", "k,x\n1,1.0\n2,2.0\n");
    let v2 = csv(dir.path(), "v2.csv", "k,x\n1,1.0\n2,2.0001\n");
    let r = diff(&v1, &v2, &["--abs-tol", "0.01"]);
    assert_eq!(
        (&rows(&r)["only_v1"], &rows(&r)["only_v2"]),
        (&json!(1), &json!(1))
    );
    let notes = r.report["notes"].as_array().expect("notes");
    assert!(
        notes[0]
            .as_str()
            .unwrap()
            .contains("not applied without a key"),
        "{notes:?}"
    );
    for format in ["terminal", "markdown", "html"] {
        let out = common::diffgate()
            .arg("diff")
            .args([&v1, &v2])
            .args(["--abs-tol", "0.01", "--format", format])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("tolerances are not applied without a key"),
            "{format}"
        );
    }
    // With a key, the same tolerance applies and there is no note.
    let keyed = diff(&v1, &v2, &["--abs-tol", "0.01", "--key", "k"]);
    assert_eq!(rows(&keyed)["changed"], 0);
    assert!(keyed.report.get("notes").is_none());
}

/// An infinite difference is counted, shown as ∞, never folded into a
/// finite maximum.
#[test]
fn infinite_differences_are_counted_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let ids = || -> ArrayRef { Arc::new(Int64Array::from(vec![1, 2])) };
    let v1 = parquet(
        dir.path(),
        "v1.parquet",
        vec![
            ("k", ids()),
            ("x", Arc::new(Float64Array::from(vec![2.0, 1.0]))),
        ],
    );
    let v2 = parquet(
        dir.path(),
        "v2.parquet",
        vec![
            ("k", ids()),
            ("x", Arc::new(Float64Array::from(vec![f64::INFINITY, 1.5]))),
        ],
    );
    let r = diff(&v1, &v2, &["--key", "k"]);
    let x = column(&r, "x");
    assert_eq!(
        (&x["mismatches"], &x["non_finite_diffs"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(x["max_abs_diff"], 0.5, "the finite differences' maximum");
    let out = common::diffgate()
        .arg("diff")
        .args([&v1, &v2])
        .args(["--key", "k", "--format", "terminal"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains('∞'), "{text}");
}

/// A float key pairs by the same rules as a float value: NaN of any bit
/// pattern is one key, -0.0 is 0.0.
#[test]
fn float_keys_pair_nan_with_nan_and_signed_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let minus_nan = f64::from_bits(0xfff8_0000_0000_0000);
    let keys = |k: Vec<f64>| -> ArrayRef { Arc::new(Float64Array::from(k)) };
    let vals = || -> ArrayRef { Arc::new(Int64Array::from(vec![1, 2, 3])) };
    let v1 = parquet(
        dir.path(),
        "v1.parquet",
        vec![("k", keys(vec![f64::NAN, 0.0, 1.0])), ("v", vals())],
    );
    let v2 = parquet(
        dir.path(),
        "v2.parquet",
        vec![("k", keys(vec![minus_nan, -0.0, 1.0])), ("v", vals())],
    );
    let r = diff(&v1, &v2, &["--key", "k"]);
    let rows = rows(&r);
    assert_eq!(
        (&rows["matched"], &rows["only_v1"], &rows["only_v2"]),
        (&json!(3), &json!(0), &json!(0)),
        "{}",
        r.stderr
    );
    assert_eq!(rows["unchanged"], 3);
    // Two NaN keys of different bits on one side are one duplicated key.
    let v3 = parquet(
        dir.path(),
        "v3.parquet",
        vec![("k", keys(vec![f64::NAN, minus_nan, 1.0])), ("v", vals())],
    );
    let r = diff(&v1, &v3, &["--key", "k"]);
    assert_eq!(rows_of(&r, "duplicate_keys_v2"), 1);
}

fn rows_of(r: &Run, field: &str) -> u64 {
    r.report["rows"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("rows.{field}: {}", r.report))
}

#[test]
fn diff_reads_csv_with_another_delimiter_and_no_header() {
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (dir.path().join("v1.csv"), dir.path().join("v2.csv"));
    std::fs::write(&v1, "1;a;10\n2;b;20\n").unwrap();
    std::fs::write(&v2, "1;a;10\n2;b;21\n").unwrap();
    let dl = dir.path().join("dead.ndjson");
    let args = [
        "--delimiter",
        ";",
        "--no-header",
        "--key",
        "column_1",
        "--dead-letter",
        dl.to_str().unwrap(),
    ];
    let r = diff(&v1, &v2, &args);
    assert_eq!(r.report["rows"]["v1"], 2, "{}", r.stderr);
    assert_eq!(r.report["rows"]["changed"], 1);
    assert_eq!(
        r.report["samples"]["changed"][0]["cells"][0],
        json!({"column": "column_3", "v1": 20, "v2": 21})
    );
    // A delimiter of more than one character is refused.
    let bad = diff(&v1, &v2, &["--delimiter", ";;"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("--delimiter: delimiter must be one ASCII character")
    );
}

#[test]
fn diff_reads_csv_with_another_quote_and_an_escape() {
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (dir.path().join("v1.csv"), dir.path().join("v2.csv"));
    // Quoted with `'`, the delimiter and an escaped quote inside values.
    std::fs::write(&v1, "id,name\n1,'a, b'\n2,'it\\'s'\n3,'x'\n").unwrap();
    std::fs::write(&v2, "id,name\n1,'a, b'\n2,'it\\'z'\n3,'x'\n").unwrap();
    let dl = dir.path().join("dead.ndjson");
    let dl = dl.to_str().unwrap();
    let args = [
        "--quote",
        "'",
        "--escape",
        "\\",
        "--key",
        "id",
        "--dead-letter",
        dl,
    ];
    let r = diff(&v1, &v2, &args);
    assert_eq!(r.report["rows"]["v1"], 3, "{}", r.stderr);
    assert_eq!(r.report["rows"]["changed"], 1, "{}", r.report);
    assert_eq!(
        r.report["samples"]["changed"][0]["cells"][0],
        json!({"column": "name", "v1": "it's", "v2": "it'z"})
    );
    // Read with the default quote, the same files split at the comma
    // inside quotes and so are records of the wrong width.
    let plain = diff(&v1, &v2, &["--key", "id", "--dead-letter", dl]);
    assert_eq!(
        plain.report["inputs"][0]["rows_dead_lettered"], 1,
        "{}",
        plain.report
    );
    let bad = diff(&v1, &v2, &["--escape", "ab", "--dead-letter", dl]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("--escape: escape must be one ASCII character"),
        "{}",
        bad.stderr
    );
}
