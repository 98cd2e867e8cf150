//! Property tests: on random table pairs (small key and value domains, so
//! that matches, changes, duplicate keys, NULL keys and NULL/NaN values are
//! all common), `diffgate diff`'s counts equal a plain reference computed
//! here from the same rows, in keyed and keyless mode.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::ipc::writer::FileWriter;
use proptest::prelude::*;
use serde_json::Value;

#[derive(Debug, Clone)]
struct Row {
    k: Option<i64>,
    a: Option<i64>,
    s: Option<String>,
    f: Option<f64>,
}

/// A row's values as a hashable, comparable tuple (every NaN equals every
/// NaN and -0.0 equals 0.0, as in diffgate's value comparison).
type Values = (Option<i64>, Option<String>, Option<u64>);

fn values(r: &Row) -> Values {
    let f = r.f.map(|x| {
        if x.is_nan() {
            u64::MAX
        } else if x == 0.0 {
            0
        } else {
            x.to_bits()
        }
    });
    (r.a, r.s.clone(), f)
}

fn row() -> impl Strategy<Value = Row> {
    (
        prop::option::weighted(0.9, 0i64..12),
        prop::option::weighted(0.8, 0i64..3),
        prop::option::weighted(0.8, "[ab]{0,2}"),
        prop::option::weighted(
            0.8,
            // Zeros of both signs and NaNs of other signs and payloads:
            // equal by the comparison, apart in their bits.
            prop_oneof![
                Just(0.0),
                Just(-0.0),
                Just(1.5),
                Just(-2.25),
                Just(f64::NAN),
                Just(-f64::NAN),
                Just(f64::from_bits(0x7ff8_0000_0000_0001)),
            ],
        ),
    )
        .prop_map(|(k, a, s, f)| Row { k, a, s, f })
}

fn table() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(row(), 0..40)
}

fn write(dir: &Path, name: &str, rows: &[Row]) -> PathBuf {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("a", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("f", DataType::Float64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.k).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.a).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.s.clone()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.f).collect::<Float64Array>()),
    ];
    let path = dir.join(name);
    let mut w = FileWriter::try_new(std::fs::File::create(&path).unwrap(), &schema).unwrap();
    w.write(&RecordBatch::try_new(schema, columns).unwrap())
        .unwrap();
    w.finish().unwrap();
    path
}

fn diffgate(v1: &[Row], v2: &[Row], extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2) = (
        write(dir.path(), "v1.arrow", v1),
        write(dir.path(), "v2.arrow", v2),
    );
    let out = common::diffgate()
        .arg("diff")
        .arg(&p1)
        .arg(&p2)
        .args(["--format", "json", "--fail-on", "never", "--threads", "2"])
        .args(extra)
        .output()
        .unwrap();
    common::ok_json(&out)
}

/// Keyed reference counts, following the documented semantics.
fn keyed_reference(v1: &[Row], v2: &[Row]) -> HashMap<&'static str, u64> {
    let by_key = |rows: &[Row]| {
        let mut m: HashMap<i64, Vec<Values>> = HashMap::new();
        for r in rows {
            if let Some(k) = r.k {
                m.entry(k).or_default().push(values(r));
            }
        }
        m
    };
    let (m1, m2) = (by_key(v1), by_key(v2));
    let mut c: HashMap<&'static str, u64> = HashMap::new();
    let mut add = |k: &'static str, n: u64| *c.entry(k).or_default() += n;
    add("v1", v1.len() as u64);
    add("v2", v2.len() as u64);
    add(
        "null_keys_v1",
        v1.iter().filter(|r| r.k.is_none()).count() as u64,
    );
    add(
        "null_keys_v2",
        v2.iter().filter(|r| r.k.is_none()).count() as u64,
    );
    for (m, side) in [(&m1, "1"), (&m2, "2")] {
        let dups = m.values().filter(|v| v.len() > 1);
        add(
            if side == "1" {
                "duplicate_keys_v1"
            } else {
                "duplicate_keys_v2"
            },
            dups.clone().count() as u64,
        );
        add(
            if side == "1" {
                "duplicate_rows_v1"
            } else {
                "duplicate_rows_v2"
            },
            dups.map(|v| v.len() as u64 - 1).sum(),
        );
    }
    add(
        "only_v1",
        m1.keys().filter(|k| !m2.contains_key(k)).count() as u64,
    );
    add(
        "only_v2",
        m2.keys().filter(|k| !m1.contains_key(k)).count() as u64,
    );
    for (k, r1) in &m1 {
        let Some(r2) = m2.get(k) else { continue };
        add("matched", 1);
        if r1.len() > 1 || r2.len() > 1 {
            add("matched_duplicate_keys", 1);
            continue;
        }
        let (x, y) = (&r1[0], &r2[0]);
        add("mismatches_a", u64::from(x.0 != y.0));
        add("mismatches_s", u64::from(x.1 != y.1));
        add("mismatches_f", u64::from(x.2 != y.2));
        if x != y {
            add("changed", 1);
        } else {
            add("unchanged", 1);
        }
    }
    c
}

/// Keyless reference: whole rows as a multiset.
fn keyless_reference(v1: &[Row], v2: &[Row]) -> (u64, u64) {
    let mut counts: HashMap<(Option<i64>, Values), (u64, u64)> = HashMap::new();
    for r in v1 {
        counts.entry((r.k, values(r))).or_default().0 += 1;
    }
    for r in v2 {
        counts.entry((r.k, values(r))).or_default().1 += 1;
    }
    counts.values().fold((0, 0), |(a, b), (c1, c2)| {
        (a + c1.saturating_sub(*c2), b + c2.saturating_sub(*c1))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn keyed_counts_equal_the_reference(v1 in table(), v2 in table(), profile in any::<bool>()) {
        // With a profile, the census's row hash is made from the profile's
        // value hashes; without, by a function of its own: both are checked.
        let args: &[&str] = if profile { &["--key", "k"] } else { &["--key", "k", "--no-profile"] };
        let report = diffgate(&v1, &v2, args);
        let want = keyed_reference(&v1, &v2);
        let rows = &report["rows"];
        for field in [
            "v1", "v2", "matched", "only_v1", "only_v2", "changed", "unchanged",
            "matched_duplicate_keys", "duplicate_keys_v1", "duplicate_keys_v2",
            "duplicate_rows_v1", "duplicate_rows_v2", "null_keys_v1", "null_keys_v2",
        ] {
            prop_assert_eq!(
                rows[field].as_u64(), Some(want.get(field).copied().unwrap_or(0)),
                "rows.{}", field
            );
        }
        for column in report["columns"].as_array().unwrap() {
            let name = column["name"].as_str().unwrap();
            let key: &str = match name { "a" => "mismatches_a", "s" => "mismatches_s", _ => "mismatches_f" };
            prop_assert_eq!(
                column["mismatches"].as_u64(), Some(want.get(key).copied().unwrap_or(0)),
                "columns.{}.mismatches", name
            );
        }
    }

    #[test]
    fn keyless_counts_equal_the_reference(v1 in table(), v2 in table()) {
        let report = diffgate(&v1, &v2, &[]);
        let (only_v1, only_v2) = keyless_reference(&v1, &v2);
        prop_assert_eq!(report["rows"]["v1"].as_u64(), Some(v1.len() as u64));
        prop_assert_eq!(report["rows"]["v2"].as_u64(), Some(v2.len() as u64));
        prop_assert_eq!(report["rows"]["only_v1"].as_u64(), Some(only_v1));
        prop_assert_eq!(report["rows"]["only_v2"].as_u64(), Some(only_v2));
    }
}

/// Edge tables every writer must carry: constant columns, a column NULL
/// throughout, one NaN throughout, NaN beside one value, an empty table.
fn edge_pairs() -> Vec<(Vec<Row>, Vec<Row>)> {
    let row = |k: i64, a: Option<i64>, s: Option<&str>, f: Option<f64>| Row {
        k: Some(k),
        a,
        s: s.map(String::from),
        f,
    };
    let constant: Vec<Row> = (0..6)
        .map(|k| row(k, Some(2), Some("x"), Some(1.5)))
        .collect();
    let mut constant_changed = constant.clone();
    constant_changed[3].a = Some(5);
    let nulls: Vec<Row> = (0..5).map(|k| row(k, None, None, None)).collect();
    let nans: Vec<Row> = (0..5)
        .map(|k| row(k, Some(1), Some("a"), Some(f64::NAN)))
        .collect();
    let mut nan_and_one = nans.clone();
    nan_and_one[0].f = Some(1.5);
    vec![
        (constant.clone(), constant.clone()),
        (constant.clone(), constant_changed),
        (nulls.clone(), nulls),
        (nans.clone(), nan_and_one.clone()),
        (nan_and_one.clone(), nan_and_one),
        (Vec::new(), Vec::new()),
        (Vec::new(), constant),
    ]
}

/// The manifest `tests/py/writers.py` reads: one table per side and pair.
fn manifest(pairs: &[(Vec<Row>, Vec<Row>)]) -> Value {
    let cell_f = |f: Option<f64>| match f {
        Some(x) if x.is_nan() => serde_json::json!("NaN"),
        Some(x) => serde_json::json!(x),
        None => Value::Null,
    };
    let table = |name: String, rows: &[Row]| {
        serde_json::json!({
            "name": name,
            "columns": [
                {"name": "k", "type": "int64"}, {"name": "a", "type": "int64"},
                {"name": "s", "type": "utf8"}, {"name": "f", "type": "float64"},
            ],
            "rows": rows.iter().map(|r| serde_json::json!([r.k, r.a, r.s, cell_f(r.f)])).collect::<Vec<_>>(),
        })
    };
    let tables: Vec<Value> = pairs
        .iter()
        .enumerate()
        .flat_map(|(i, (a, b))| [table(format!("p{i}_v1"), a), table(format!("p{i}_v2"), b)])
        .collect();
    serde_json::json!({ "tables": tables })
}

/// What a writer may change without changing any count: NaN's sign, NaN
/// written as a word, integral floats read as integers, a column NULL
/// throughout read with the Null type.
const HARMLESS: &[&str] = &[
    "nan_sign_lost",
    "nonfinite_as_words",
    "float_integral_as_int",
    "all_null_column_untyped",
    "int32_widened",
];

/// The random pairs of the property tests (seeded) and the edge pairs,
/// each side written by every writer variant of `tests/py/writers.py`
/// (pyarrow with and without statistics and dictionaries, row groups of
/// three, 64-byte pages, every compression, format versions and page v2;
/// Polars; DuckDB; pandas; CSV; NDJSON; Arrow IPC): diffgate's counts on
/// every pair of files equal the plain reference, keyed for even pairs and
/// keyless for odd ones, at 1, 4 and 8 threads in turn.
#[test]
fn counts_hold_for_files_from_every_writer() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let Some(py) = common::python() else { return };
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[42; 32]),
    );
    let mut pairs: Vec<(Vec<Row>, Vec<Row>)> = (0..6)
        .map(|_| {
            let a = table().new_tree(&mut runner).unwrap().current();
            let b = table().new_tree(&mut runner).unwrap().current();
            (a, b)
        })
        .collect();
    pairs.extend(edge_pairs());
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("manifest.json");
    std::fs::write(&manifest_path, manifest(&pairs).to_string()).unwrap();
    let out = common::stdout_of(
        std::process::Command::new(&py)
            .arg(common::root().join("tests/py/writers.py"))
            .arg(&manifest_path)
            .arg(dir.path().join("files")),
        "tests/py/writers.py",
    );
    let written: Vec<Value> = serde_json::from_slice(&out).unwrap();
    let mut files: HashMap<(String, String), (PathBuf, bool)> = HashMap::new();
    let mut variants: Vec<String> = Vec::new();
    for e in &written {
        let variant = e["variant"].as_str().unwrap().to_string();
        let ok = e["limitations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| HARMLESS.contains(&l.as_str().unwrap()));
        files.insert(
            (variant.clone(), e["table"].as_str().unwrap().to_string()),
            (PathBuf::from(e["path"].as_str().unwrap()), ok),
        );
        if !variants.contains(&variant) {
            variants.push(variant);
        }
    }
    assert!(variants.len() >= 30, "{} writer variants", variants.len());
    let (mut checked, mut skipped) = (0, 0);
    for (i, (v1, v2)) in pairs.iter().enumerate() {
        for (n, variant) in variants.iter().enumerate() {
            let (p1, ok1) = &files[&(variant.clone(), format!("p{i}_v1"))];
            let (p2, ok2) = &files[&(variant.clone(), format!("p{i}_v2"))];
            if !(ok1 & ok2) {
                skipped += 1;
                continue;
            }
            let threads = ["1", "4", "8"][n % 3];
            let what = format!("pair {i} written by {variant}");
            let mut cmd = common::diffgate();
            cmd.arg("diff").arg(p1).arg(p2).args([
                "--format",
                "json",
                "--fail-on",
                "never",
                "--threads",
                threads,
            ]);
            if i % 2 == 0 {
                cmd.args(["--key", "k"]);
            }
            let out = cmd.output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{what}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            let rows = &report["rows"];
            if i % 2 == 0 {
                let want = keyed_reference(v1, v2);
                for field in [
                    "v1",
                    "v2",
                    "matched",
                    "only_v1",
                    "only_v2",
                    "changed",
                    "unchanged",
                    "matched_duplicate_keys",
                    "duplicate_keys_v1",
                    "duplicate_keys_v2",
                    "null_keys_v1",
                    "null_keys_v2",
                ] {
                    assert_eq!(
                        rows[field].as_u64(),
                        Some(want.get(field).copied().unwrap_or(0)),
                        "{what}: rows.{field}"
                    );
                }
            } else {
                let (only_v1, only_v2) = keyless_reference(v1, v2);
                assert_eq!(rows["only_v1"].as_u64(), Some(only_v1), "{what}: only_v1");
                assert_eq!(rows["only_v2"].as_u64(), Some(only_v2), "{what}: only_v2");
            }
            checked += 1;
        }
    }
    // Text formats cannot carry every table (an empty CSV has no types, an
    // NDJSON NaN is null); everything else must have been compared.
    assert!(
        checked >= pairs.len() * variants.len() * 4 / 5,
        "{checked} checked, {skipped} skipped"
    );
    eprintln!(
        "{checked} file pairs from {} writers checked, {skipped} skipped",
        variants.len()
    );
}
