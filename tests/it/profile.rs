//! The profile and the drift rules: the keyless scenario only the
//! distributions explain, files written by pyarrow and Polars profiled
//! alike at 1, 4 and 8 threads and checked against DuckDB's own aggregates,
//! `--no-profile`, per-column drift settings and masks.

use std::process::Command;

use serde_json::Value;

use crate::common;

/// `diffgate run SCENARIO --format json` with `extra` flags, and its report.
fn run_json(scenario: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let out = common::diffgate()
        .args(common::run_args(scenario))
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

fn column<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["profile"]["columns"]
        .as_array()
        .expect("a profile")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no profile of {name}: {report:#}"))
}

#[test]
fn a_keyless_shift_with_equal_row_counts_shows_in_the_distribution() {
    let (code, r) = run_json("scenarios/keyless_shift", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(r["rows"]["v1"], 600);
    assert_eq!(r["rows"]["v2"], 600);
    let amount = column(&r, "amount");
    let psi = amount["drift"]["psi"].as_f64().unwrap();
    assert!((0.1..0.25).contains(&psi), "{psi}");
    assert!(amount["v2"]["mean"].as_f64() < amount["v1"]["mean"].as_f64());
    // The status column is untouched: the same frequencies.
    let status = column(&r, "status");
    assert_eq!(status["drift"]["js_distance"], 0.0);
    assert_eq!(status["v1"]["top"], status["v2"]["top"]);
    let drift: Vec<&Value> = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["rule"] == "distribution_drift")
        .collect();
    assert_eq!(drift.len(), 1, "{r:#}");
    assert_eq!(drift[0]["level"], "review");
    assert!(drift[0]["message"].as_str().unwrap().contains("`amount`"));
    // A lower block limit, per flag, blocks on the same score.
    let (_, r) = run_json("scenarios/keyless_shift", &["--policy", "psi.block=0.15"]);
    let levels: Vec<&Value> = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["rule"] == "distribution_drift")
        .map(|x| &x["level"])
        .collect();
    assert_eq!(levels, ["block"]);
}

#[test]
fn no_profile_leaves_out_the_profile_and_its_rules() {
    let (_, r) = run_json("scenarios/keyless_shift", &["--no-profile"]);
    assert!(r.get("profile").is_none());
    let rules: Vec<&str> = r["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    assert!(!rules.contains(&"distribution_drift"), "{rules:?}");
    assert!(!common::rules_fired(&r).contains(&"distribution_drift"));
}

#[test]
fn a_column_can_be_left_out_of_the_drift_rules() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_into(&common::root().join("scenarios/keyless_shift"), dir.path());
    let config = dir.path().join("diffgate.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "../../testdata",
        &common::root().join("testdata").display().to_string(),
    );
    std::fs::write(
        &config,
        format!("{text}\n[compare.columns.amount]\ndrift = false\n"),
    )
    .unwrap();
    let out = common::diffgate()
        .args(["run"])
        .arg(dir.path())
        .args(["--format", "json", "--github", "never"])
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !common::rules_fired(&r).contains(&"distribution_drift"),
        "{r:#}"
    );
    // Still profiled and scored: only not judged.
    assert!(column(&r, "amount")["drift"]["psi"].as_f64().unwrap() > 0.1);
}

#[test]
fn masked_columns_are_profiled_without_their_values() {
    let (_, r) = run_json("scenarios/masked_names", &[]);
    let masked: Vec<&Value> = r["profile"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["masked"] == true)
        .collect();
    assert!(!masked.is_empty(), "{r:#}");
    for c in masked {
        assert!(c.get("histogram").is_none());
        for side in [&c["v1"], &c["v2"]] {
            assert!(
                side.get("min").is_none() && side.get("quantiles").is_none(),
                "{c:#}"
            );
            assert!(side["rows"].as_u64().unwrap() > 0);
            for t in side["top"].as_array().into_iter().flatten() {
                assert!(t["value"].as_str().unwrap().starts_with('‹'), "{c:#}");
            }
        }
    }
}

#[test]
fn files_from_pyarrow_and_polars_profile_alike_at_every_thread_count_and_as_duckdb_counts() {
    let Some(py) = common::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // 60,000 rows (more than a sample holds), many row groups, dictionary
    // strings, a constant and an all-NULL column, NULLs in a float: v1 by
    // pyarrow, v2 by Polars, with v2's prices up 30% on a third of rows.
    let script = r#"
import pyarrow as pa, pyarrow.parquet as pq, polars as pl, random, decimal
random.seed(7)
n = 60000
ids = list(range(1, n + 1))
city = [random.choice(["Lyon", "Oslo", "Riga", "Lima", "Kyiv", "Zürich", "Łódź",
                       "Санкт-Петербург"]) for _ in ids]
price = [None if i % 97 == 0 else round(random.lognormvariate(3, 1), 2) for i in ids]
code = [f"c{random.randrange(5000)}" for _ in ids]
amount = pa.array([decimal.Decimal(random.randrange(-10**6, 10**8)).scaleb(-2) for _ in ids],
                  pa.decimal128(18, 2))
t = pa.table({"id": ids, "city": city, "price": price, "code": code, "amount": amount,
              "one": [1] * n, "nothing": pa.nulls(n, pa.float64())})
pq.write_table(t, "v1.parquet", row_group_size=4096, use_dictionary=True,
               write_statistics=True, compression="zstd")
v2 = pl.from_arrow(t).with_columns(
    pl.when(pl.col("id") % 3 == 0).then(pl.col("price") * 1.3).otherwise(pl.col("price")).alias("price"))
v2.write_parquet("v2.parquet", row_group_size=10000)
"#;
    common::stdout_of(
        Command::new(&py)
            .current_dir(dir.path())
            .args(["-c", script]),
        "the writers' script",
    );
    let mut profiles = Vec::new();
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
            .args([
                "--dead-letter",
                "dead.ndjson",
                "--fail-on",
                "never",
                "--threads",
                threads,
            ])
            .output()
            .unwrap();
        let r = common::ok_json(&out);
        profiles.push(serde_json::to_string(&r["profile"]).unwrap());
        if threads == "1" {
            let price = column(&r, "price");
            assert_eq!(price["v1"]["sampled"], 20000);
            assert!(price["drift"]["psi"].as_f64().unwrap() > 0.0);
            assert!(common::rules_fired(&r).contains(&"rows_changed"));
            assert_eq!(column(&r, "one")["v1"]["distinct"], 1);
            assert_eq!(column(&r, "nothing")["v2"]["null_rate"], 1.0);
            // Every count, range and mean as DuckDB computes them.
            for (file, side) in [("v1.parquet", "v1"), ("v2.parquet", "v2")] {
                let row = &common::duckdb(
                    dir.path(),
                    &format!(
                        "select count(*), count(price), min(price), max(price), avg(price), \
                         stddev_samp(price), count(distinct city), count(distinct code), \
                         min(city), max(city), min(strlen(city)), \
                         max(strlen(city)), avg(strlen(city)), min(code), max(code), avg(amount), \
                         stddev_samp(amount) from '{file}'"
                    ),
                )
                .expect("Python with DuckDB")[0];
                let p = &column(&r, "price")[side];
                assert_eq!(p["rows"], row[0]);
                assert_eq!(
                    p["rows"].as_u64().unwrap() - p["nulls"].as_u64().unwrap(),
                    row[1]
                );
                assert_eq!(p["min"], row[2]);
                assert_eq!(p["max"], row[3]);
                let close = |a: &Value, b: &Value| {
                    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                    (a - b).abs() <= 1e-9 * b.abs()
                };
                assert!(
                    close(&p["mean"], &row[4]),
                    "{side} mean {} vs {}",
                    p["mean"],
                    row[4]
                );
                assert!(close(&p["stddev"], &row[5]), "{side} stddev");
                let amount = &column(&r, "amount")[side];
                assert!(close(&amount["mean"], &row[15]), "{side} decimal mean");
                assert!(close(&amount["stddev"], &row[16]), "{side} decimal stddev");
                let city = &column(&r, "city")[side];
                assert_eq!(city["distinct"], row[6]);
                assert_eq!(city["distinct_exact"], true);
                // Text ranges in byte order, lengths in bytes.
                assert_eq!((&city["min"], &city["max"]), (&row[8], &row[9]));
                assert_eq!(city["length"]["min"], row[10]);
                assert_eq!(city["length"]["max"], row[11]);
                assert!(close(&city["length"]["mean"], &row[12]), "{side} length");
                let code = &column(&r, "code")[side];
                assert_eq!((&code["min"], &code["max"]), (&row[13], &row[14]));
                // 5,000 codes: estimated, within the sketch's error.
                assert_eq!(code["distinct_exact"], false);
                let (est, exact) = (code["distinct"].as_f64().unwrap(), row[7].as_f64().unwrap());
                assert!((est - exact).abs() <= 0.03 * exact, "{est} vs {exact}");
            }
        }
    }
    assert!(
        profiles.iter().all(|p| p == &profiles[0]),
        "the thread count changed the profile"
    );
}
