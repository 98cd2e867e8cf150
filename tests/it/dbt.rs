//! dbt projects as they are: two public projects at real commits (their
//! own files, unmodified; the two seed files jaffle-shop's repository lacks
//! synthesised by `testdata/dbt/synth_jaffle_orders.py`), checked against
//! real dbt + dbt-duckdb builds of both versions; a project with no
//! diffgate.toml read from git; what a user sees when a model cannot be
//! rendered.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{copy_into, diffgate, git, root};

/// The fixtures (each a scenario with v1/ and v2/), the models each
/// compares, and the dbt packages real dbt installs for it (diffgate
/// brings its own `dbt_utils`).
const PROJECTS: &[(&str, &[&str], Option<&str>)] = &[
    ("scenarios/dbt_project", &["orders", "customers"], None),
    ("testdata/dbt/jaffle_shop", &["customers", "orders"], None),
    (
        "testdata/dbt/introspect",
        &[
            "stg_customers",
            "all_customers",
            "orders_enriched",
            "customer_orders",
        ],
        Some("scenarios/dbt_project/v2/dbt_packages"),
    ),
];

/// A Python with dbt-core and dbt-duckdb (tests/py/requirements-dbt.txt):
/// `$DIFFGATE_DBT_PYTHON`, else the virtual environment `.ci/run` makes.
/// `None` (skipped, saying so) without one, unless DIFFGATE_PY_TESTS=require.
fn dbt_python() -> Option<std::path::PathBuf> {
    let candidates: Vec<std::path::PathBuf> = match std::env::var_os("DIFFGATE_DBT_PYTHON") {
        Some(p) => vec![p.into()],
        None => std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(".cache/diffgate-dbt-venv/bin/python"))
            .into_iter()
            .collect(),
    };
    for py in &candidates {
        let ok = Command::new(py)
            .args(["-c", "import dbt.adapters.duckdb, duckdb, yaml"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py.clone());
        }
    }
    let why = format!(
        "no Python with dbt-core and dbt-duckdb (tried {candidates:?}; \
         pip install -r tests/py/requirements-dbt.txt)"
    );
    if std::env::var("DIFFGATE_PY_TESTS").is_ok_and(|v| v == "require") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

fn json_report(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = diffgate()
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), report, stderr)
}

fn model<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["models"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("no model {name} in {report:#}"))
}

/// What the reference counts of one model, as diffgate's report has them.
fn counts(m: &Value) -> Value {
    let names = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].clone())
            .collect()
    };
    let rows = &m["rows"];
    serde_json::json!({
        "v1": rows["v1"], "v2": rows["v2"],
        "only_v1": rows["only_v1"], "only_v2": rows["only_v2"],
        "changed": rows["changed"],
        "added": names(&m["schema"]["added"]),
        "removed": names(&m["schema"]["removed"]),
    })
}

#[test]
fn per_model_counts_equal_real_dbt_builds_of_both_versions() {
    let Some(py) = dbt_python() else { return };
    for (project, models, packages) in PROJECTS {
        let (code, report, stderr) = json_report(&["run", project]);
        assert!(matches!(code, Some(0 | 1)), "{project}: {stderr}");
        let keys: serde_json::Map<String, Value> = models
            .iter()
            .map(|m| (m.to_string(), model(&report, m)["key"].clone()))
            .collect();
        let dir = root().join(project);
        let out = crate::common::stdout_of(
            Command::new(&py)
                .arg(root().join("tests/py/dbt_reference.py"))
                .arg(dir.join("v1"))
                .arg(dir.join("v2"))
                .arg(Value::Object(keys).to_string())
                .args(packages.map(|p| root().join(p))),
            project,
        );
        let reference: Value = serde_json::from_slice(&out).unwrap();
        let mut tests = 0;
        for m in *models {
            assert_eq!(
                counts(model(&report, m)),
                reference[m],
                "{project}: model {m}: diffgate (left) and real dbt + DuckDB (right) disagree"
            );
            tests += tests_agree(project, m, model(&report, m), &reference["__tests__"]);
        }
        assert!(tests > 0, "{project}: dbt ran no test on a compared model");
    }
}

/// The generic tests diffgate holds as contracts.
const MAPPED_TESTS: &[&str] = &["not_null", "unique", "accepted_values", "relationships"];

/// Model `m`'s contract (from v2's YAML tests) is exactly v2's generic
/// tests of the mapped kinds, and each check fails in a version exactly
/// when `dbt test` of that version found failing rows (v1 only for the
/// tests v1's YAML has too). How many of dbt's tests were matched.
fn tests_agree(project: &str, m: &str, ours: &Value, dbt: &Value) -> usize {
    let checks = ours["contracts"].as_array().cloned().unwrap_or_default();
    let of = |v: &str| -> Vec<(String, String, u64)> {
        dbt[v]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t[0] == m && MAPPED_TESTS.contains(&t[1].as_str().unwrap()))
            .map(|t| {
                let s = |i: usize| t[i].as_str().unwrap().to_string();
                (s(1), s(2), t[3].as_u64().unwrap())
            })
            .collect()
    };
    let find = |kind: &str, column: &str| {
        checks
            .iter()
            .find(|c| c["check"] == kind && c["columns"] == serde_json::json!([column]))
    };
    let v2 = of("v2");
    let mut matched = 0;
    assert_eq!(
        checks.len(),
        v2.len(),
        "{project}: {m}: diffgate's contract {checks:#?} against dbt's tests {v2:?}"
    );
    for (v, tests) in [("v1", of("v1")), ("v2", v2)] {
        for (kind, column, failures) in tests {
            let Some(c) = find(&kind, &column) else {
                assert_eq!(
                    v, "v1",
                    "{project}: {m}: dbt's {kind}({column}) is no contract"
                );
                continue;
            };
            assert_eq!(
                c[v].as_u64().map(|n| n > 0),
                Some(failures > 0),
                "{project}: {m}: {kind}({column}) in {v}: diffgate {c} against dbt's {failures} failing row(s)"
            );
            matched += 1;
        }
    }
    matched
}

#[test]
fn the_jaffle_shop_fix_is_found_model_by_model_with_keys_from_its_tests() {
    let (code, report, stderr) = json_report(&["run", "scenarios/dbt_project"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["verdict"], "block");
    let orders = model(&report, "orders");
    assert_eq!(orders["key"], serde_json::json!(["order_id"]));
    assert_eq!(orders["rows"]["changed"], 492);
    let notes = orders["notes"].to_string();
    assert!(notes.contains("unique test on `order_id`"), "{notes}");
    assert_eq!(model(&report, "customers")["verdict"], "promote");
    // Only the changed model and what reads it are compared.
    assert_eq!(report["models"].as_array().unwrap().len(), 2);
}

/// A git repository holding v1 of `project` committed and v2 in the
/// working tree, as a pull request's checkout has it.
fn pull_request(project: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_into(&root().join(project).join("v1"), dir);
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "v1"]);
    copy_into(&root().join(project).join("v2"), dir);
    tmp
}

#[test]
fn a_project_runs_with_no_config_reading_v1_from_git() {
    let tmp = pull_request("scenarios/dbt_project");
    let dir = tmp.path().to_str().unwrap();
    let (code, report, stderr) = json_report(&["run", dir, "--base", "HEAD"]);
    assert_eq!(code, Some(1), "{stderr}");
    let orders = model(&report, "orders");
    assert_eq!(orders["rows"]["changed"], 492);
    // v1 is named with its ref.
    assert!(
        orders["sql"]["v1_path"]
            .as_str()
            .unwrap()
            .contains("@ HEAD"),
        "{}",
        orders["sql"]["v1_path"]
    );
    // `check` plans every needed model without running one.
    let (code, report, stderr) = json_report(&["check", dir, "--base", "HEAD"]);
    assert!(matches!(code, Some(0 | 1)), "{stderr}");
    assert_eq!(report["comparison"]["command"], "check");
    // Without --base a project alone has no v1.
    let (code, _, stderr) = json_report(&["run", dir]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--base"), "{stderr}");
}

#[test]
fn a_model_that_cannot_be_rendered_is_a_finding_of_it_and_what_reads_it() {
    let tmp = pull_request("testdata/dbt/jaffle_shop");
    let dir = tmp.path();
    // A model nothing compared reads, broken in v2: the run goes on.
    std::fs::write(
        dir.join("models/broken.sql"),
        "select 1 as x\n{{ no_such_macro() }}\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let (code, report, stderr) = json_report(&["run", d, "--base", "HEAD", "--dialect", "duckdb"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["verdict"], "promote");
    // A compared model that needs a broken one: every such error at once,
    // each naming the version, the file and the line.
    let stg = dir.join("models/staging/stg_orders.sql");
    let sql = std::fs::read_to_string(&stg).unwrap();
    std::fs::write(
        &stg,
        format!("-- orders as of {{{{ var('not_set') }}}}\n{sql}"),
    )
    .unwrap();
    let (code, report, stderr) = json_report(&["run", d, "--base", "HEAD", "--dialect", "duckdb"]);
    assert_eq!(code, Some(1), "{stderr}");
    let f = &model(&report, "stg_orders")["failures"][0];
    assert_eq!(
        (&f["version"], &f["stage"], &f["line"]),
        (&"v2".into(), &"render".into(), &1.into())
    );
    assert!(
        f["file"].as_str().unwrap().ends_with("stg_orders.sql"),
        "{f}"
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("required var `not_set`"),
        "{f}"
    );
    // What reads it is not run, and says which model it waits for.
    assert_eq!(
        model(&report, "orders")["failures"][0]["upstream"],
        "stg_orders"
    );
    assert!(model(&report, "customers")["failures"][0]["upstream"].is_string());
    // --vars gives it.
    let (code, _, stderr) = json_report(&[
        "run",
        d,
        "--base",
        "HEAD",
        "--dialect",
        "duckdb",
        "--vars",
        "{not_set: 1}",
    ]);
    assert!(matches!(code, Some(0 | 1)), "{stderr}");
}

#[test]
fn a_git_lfs_pointer_seed_is_an_error_naming_it() {
    let tmp = pull_request("testdata/dbt/jaffle_shop");
    let seed = tmp.path().join("data/raw_orders.csv");
    std::fs::write(
        &seed,
        "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
    )
    .unwrap();
    let d = tmp.path().to_str().unwrap();
    let (code, _, stderr) = json_report(&["run", d, "--base", "HEAD", "--dialect", "duckdb"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("raw_orders.csv") && stderr.contains("Git LFS pointer"),
        "{stderr}"
    );
}

/// Source tables as files other writers made, under `[dbt] data`:
/// raw_orders by pyarrow, raw_items by Polars, raw_stores by DuckDB (under
/// its source's folder), in place of the seeds; the same counts.
#[test]
fn source_tables_are_found_as_files_from_other_writers() {
    let Some(py) = crate::common::python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for v in ["v1", "v2"] {
        copy_into(&root().join("scenarios/dbt_project").join(v), &dir.join(v));
    }
    let seeds = dir.join("v2/jaffle-data");
    let extracts = dir.join("extracts");
    std::fs::create_dir_all(extracts.join("ecom")).unwrap();
    let script = r#"
import sys, pyarrow.csv, pyarrow.parquet, polars, duckdb
seeds, out = sys.argv[1], sys.argv[2]
pyarrow.parquet.write_table(pyarrow.csv.read_csv(f"{seeds}/raw_orders.csv"), f"{out}/raw_orders.parquet")
polars.read_csv(f"{seeds}/raw_items.csv").write_parquet(f"{out}/raw_items.parquet")
duckdb.sql(f"copy (select * from read_csv_auto('{seeds}/raw_stores.csv')) to '{out}/ecom/raw_stores.parquet' (format parquet)")
"#;
    let out = Command::new(&py)
        .args(["-c", script])
        .arg(&seeds)
        .arg(&extracts)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for seed in ["raw_orders", "raw_items", "raw_stores"] {
        std::fs::remove_file(seeds.join(format!("{seed}.csv"))).unwrap();
    }
    std::fs::write(
        dir.join("diffgate.toml"),
        "[transform]\nv1 = \"v1\"\nv2 = \"v2\"\n\n[dbt]\ndata = \"extracts\"\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let (code, report, stderr) = json_report(&["run", d]);
    assert_eq!(code, Some(1), "{stderr}");
    let orders = model(&report, "orders");
    assert_eq!(orders["rows"]["changed"], 492);
    assert_eq!(orders["rows"]["v1"], 1200);
    assert_eq!(model(&report, "customers")["rows"]["changed"], 0);
    let inputs: Vec<&str> = report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["path"].as_str())
        .collect();
    for file in [
        "raw_orders.parquet",
        "raw_items.parquet",
        "ecom/raw_stores.parquet",
    ] {
        assert!(
            inputs.iter().any(|p| p.ends_with(file)),
            "{file} in {inputs:?}"
        );
    }
}
