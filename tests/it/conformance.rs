//! Conformance with peers' own test suites: the table-comparing tests of
//! G-Research/spark-extension (`DiffSuite`, `DiffComparatorSuite`) and of
//! erezsh/reladiff (data-diff's continuation: `test_diff_tables.py`,
//! `test_joindiff.py`, ...), ported as data in `tests/conformance/*.json`.
//! Each case names the peer test it came from and what the peer asserts;
//! where diffgate deliberately differs (duplicate keys counted as distinct
//! keys, NULL keys never paired, no case-insensitive names), the case says
//! so in `differs` and the README's semantics section documents it. Every
//! case writes its two tables as Parquet and runs `diffgate diff`.

use std::path::Path;
use std::sync::Arc;

use diffgate::datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int8Array,
    Int16Array, Int32Array, Int64Array, Int64Builder, ListBuilder, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use diffgate::datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use diffgate::datafusion::parquet::arrow::ArrowWriter;
use serde_json::Value;

use crate::common;

fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(match s.as_str() {
            "NaN" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => other.parse().expect("a float"),
        }),
        v => v.as_f64(),
    }
}

fn days(date: &str) -> i32 {
    let d = chrono_like_days(date);
    i32::try_from(d).unwrap()
}

/// Days since 1970-01-01 of `YYYY-MM-DD` (proleptic Gregorian).
fn chrono_like_days(date: &str) -> i64 {
    let p: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (y, m, d) = (p[0], p[1], p[2]);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Microseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.ffffff]`.
fn micros(ts: &str) -> i64 {
    let (date, time) = ts.split_once('T').unwrap();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let frac: i64 = format!("{frac:0<6}")[..6].parse().unwrap();
    (chrono_like_days(date) * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1_000_000 + frac
}

/// A decimal text as its unscaled integer at `scale`.
fn unscaled(s: &str, scale: i8) -> i128 {
    let neg = s.starts_with('-');
    let s = s.trim_start_matches('-');
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<width$}", width = scale as usize);
    let v: i128 = format!("{int}{}", &frac[..scale as usize]).parse().unwrap();
    if neg { -v } else { v }
}

fn data_type(name: &str) -> DataType {
    match name {
        "int8" => DataType::Int8,
        "int16" => DataType::Int16,
        "int32" => DataType::Int32,
        "int64" => DataType::Int64,
        "float32" => DataType::Float32,
        "float64" => DataType::Float64,
        "utf8" => DataType::Utf8,
        "bool" => DataType::Boolean,
        "date32" => DataType::Date32,
        "timestamp_us" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "list<int64>" => DataType::new_list(DataType::Int64, true),
        d if d.starts_with("decimal(") => {
            let inner = &d["decimal(".len()..d.len() - 1];
            let (p, s) = inner.split_once(',').unwrap();
            DataType::Decimal128(p.trim().parse().unwrap(), s.trim().parse().unwrap())
        }
        other => panic!("unknown column type {other}"),
    }
}

fn column(t: &DataType, cells: Vec<&Value>) -> ArrayRef {
    let int = |v: &Value| v.as_i64();
    match t {
        DataType::Int8 => Arc::new(
            cells
                .iter()
                .map(|v| int(v).map(|x| x as i8))
                .collect::<Int8Array>(),
        ),
        DataType::Int16 => Arc::new(
            cells
                .iter()
                .map(|v| int(v).map(|x| x as i16))
                .collect::<Int16Array>(),
        ),
        DataType::Int32 => Arc::new(
            cells
                .iter()
                .map(|v| int(v).map(|x| x as i32))
                .collect::<Int32Array>(),
        ),
        DataType::Int64 => Arc::new(cells.iter().map(|v| int(v)).collect::<Int64Array>()),
        DataType::Float32 => Arc::new(
            cells
                .iter()
                .map(|v| float(v).map(|x| x as f32))
                .collect::<Float32Array>(),
        ),
        DataType::Float64 => Arc::new(cells.iter().map(|v| float(v)).collect::<Float64Array>()),
        DataType::Utf8 => Arc::new(cells.iter().map(|v| v.as_str()).collect::<StringArray>()),
        DataType::Boolean => Arc::new(cells.iter().map(|v| v.as_bool()).collect::<BooleanArray>()),
        DataType::Date32 => Arc::new(
            cells
                .iter()
                .map(|v| v.as_str().map(days))
                .collect::<Date32Array>(),
        ),
        DataType::Timestamp(..) => Arc::new(
            cells
                .iter()
                .map(|v| v.as_str().map(micros))
                .collect::<TimestampMicrosecondArray>(),
        ),
        DataType::Decimal128(p, s) => Arc::new(
            cells
                .iter()
                .map(|v| match v {
                    Value::Null => None,
                    Value::String(x) => Some(unscaled(x, *s)),
                    n => Some(unscaled(&n.to_string(), *s)),
                })
                .collect::<Decimal128Array>()
                .with_precision_and_scale(*p, *s)
                .unwrap(),
        ),
        DataType::List(_) => {
            let mut b = ListBuilder::new(Int64Builder::new());
            for v in cells {
                match v {
                    Value::Array(items) => {
                        for i in items {
                            b.values().append_option(i.as_i64());
                        }
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        other => panic!("no writer for {other}"),
    }
}

/// Write one side of a case as a Parquet file.
fn write(side: &Value, path: &Path) {
    let cols = side["columns"].as_array().unwrap();
    let rows = side["rows"].as_array().unwrap();
    let fields: Vec<Field> = cols
        .iter()
        .map(|c| {
            Field::new(
                c["name"].as_str().unwrap(),
                data_type(c["type"].as_str().unwrap()),
                true,
            )
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(j, f)| column(f.data_type(), rows.iter().map(|r| &r[j]).collect()))
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The flags a case's `key` and `options` stand for.
fn flags(case: &Value) -> Vec<String> {
    let mut args = Vec::new();
    let key: Vec<&str> = case["key"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    if !key.is_empty() {
        args.extend(["--key".to_string(), key.join(",")]);
    }
    let o = &case["options"];
    for (name, flag) in [("abs_tol", "--abs-tol"), ("rel_tol", "--rel-tol")] {
        if let Some(x) = o[name].as_f64() {
            args.extend([flag.to_string(), x.to_string()]);
        }
    }
    if let Some(cols) = o["column_tol"].as_object() {
        for (col, t) in cols {
            for kind in ["abs", "rel"] {
                if let Some(x) = t[kind].as_f64() {
                    args.extend(["--column-tol".to_string(), format!("{col}:{kind}={x}")]);
                }
            }
        }
    }
    for col in o["ignore"].as_array().into_iter().flatten() {
        args.extend([
            "--ignore-column".to_string(),
            col.as_str().unwrap().to_string(),
        ]);
    }
    args
}

/// Every field the case's `expect` lists, as found in `report`; the
/// disagreements.
fn disagreements(expect: &Value, report: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: String, want: &Value, got: &Value| {
        if want != got {
            out.push(format!("{what}: expected {want}, got {got}"));
        }
    };
    for (field, want) in expect["rows"].as_object().into_iter().flatten() {
        check(format!("rows.{field}"), want, &report["rows"][field]);
    }
    for (name, stats) in expect["columns"].as_object().into_iter().flatten() {
        let got = report["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == *name)
            .cloned()
            .unwrap_or(Value::Null);
        for (field, want) in stats.as_object().unwrap() {
            check(format!("columns.{name}.{field}"), want, &got[field]);
        }
    }
    let schema = &expect["schema"];
    for part in ["added", "removed", "changed"] {
        if let Some(want) = schema[part].as_array() {
            let got: Vec<Value> = report["schema"][part]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].clone())
                .collect();
            check(
                format!("schema.{part}"),
                &Value::Array(want.clone()),
                &Value::Array(got),
            );
        }
    }
    if !schema["breaking"].is_null() {
        check(
            "schema.breaking".into(),
            &schema["breaking"],
            &report["schema"]["breaking"],
        );
    }
    if !expect["verdict"].is_null() {
        check("verdict".into(), &expect["verdict"], &report["verdict"]);
    }
    out
}

/// Run every case of one peer's file; returns (cases, how many differ on
/// purpose) and fails naming every case diffgate disagreed with.
fn run_peer(file: &str) -> (usize, usize) {
    let text =
        std::fs::read_to_string(common::root().join("tests/conformance").join(file)).unwrap();
    let suite: Value = serde_json::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let cases = suite["cases"].as_array().unwrap();
    for (i, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let (p1, p2) = (
            dir.path().join(format!("{i}_v1.parquet")),
            dir.path().join(format!("{i}_v2.parquet")),
        );
        write(&case["v1"], &p1);
        write(&case["v2"], &p2);
        let threads = ["1", "4", "8"][i % 3];
        let out = common::diffgate()
            .arg("diff")
            .arg(&p1)
            .arg(&p2)
            .args(flags(case))
            .args(["--format", "json", "--threads", threads])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let peer = case["peer_test"].as_str().unwrap_or("");
        if let Some(want) = case["expect"]["error"].as_str() {
            if out.status.code() != Some(2) || !stderr.contains(want) {
                failures.push(format!(
                    "{name} ({peer}): expected exit 2 with {want:?}, got {:?}: {stderr}",
                    out.status.code()
                ));
            }
            continue;
        }
        if !matches!(out.status.code(), Some(0 | 1)) {
            failures.push(format!(
                "{name} ({peer}): exit {:?}: {stderr}",
                out.status.code()
            ));
            continue;
        }
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let found = disagreements(&case["expect"], &report);
        if !found.is_empty() {
            failures.push(format!("{name} ({peer}):\n    {}", found.join("\n    ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{file}: {} of {} cases disagree:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
    let differs = cases.iter().filter(|c| c["differs"].is_string()).count();
    (cases.len(), differs)
}

#[test]
fn spark_extension_diff_suites() {
    let (cases, differs) = run_peer("spark_extension.json");
    assert!(cases >= 30, "{cases} cases");
    eprintln!("spark-extension: {cases} cases agree ({differs} where diffgate differs on purpose)");
}

#[test]
fn reladiff_and_data_diff_suites() {
    let (cases, differs) = run_peer("reladiff.json");
    assert!(cases >= 15, "{cases} cases");
    eprintln!("reladiff: {cases} cases agree ({differs} where diffgate differs on purpose)");
}
