//! Model folders (a DAG of SQL models, dbt references resolved) through the
//! real binary: what is compared and why, one verdict per model with the
//! worst for the run, models the same in both versions run once, targets,
//! cycles and unsupported Jinja as clear errors, `check` and `--base` on a
//! folder.

use crate::common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

fn diffgate(dir: &Path, args: &[&str]) -> Output {
    common::diffgate()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)))
}

fn stderr(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "exit 2 expected");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn names<'a>(r: &'a Value, field: &str) -> Vec<&'a str> {
    r[field]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m.as_str().or_else(|| m["name"].as_str()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_dbt_scenario_compares_changed_models_and_their_downstream() {
    let out = common::diffgate()
        .args(["run", "scenarios/dbt_models", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    assert_eq!(r["verdict"], "block");
    // Running the models is timed apart from comparing them.
    let t = &r["timings"];
    let ms = |f: &str| t[f].as_u64().unwrap();
    assert!(ms("run_v1_ms") > 0 && ms("run_v2_ms") > 0, "{t}");
    assert!(
        ms("run_v1_ms") + ms("run_v2_ms") + ms("compare_ms") <= ms("total_ms"),
        "{t}"
    );
    // Dependency order; order_statuses is untouched and not compared.
    assert_eq!(
        names(&r, "models"),
        [
            "stg_customers",
            "stg_orders",
            "customer_revenue",
            "country_revenue"
        ]
    );
    let m = |n: &str| {
        r["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == n)
            .unwrap()
            .clone()
    };
    // A rewrite that keeps the output promotes on its own.
    assert_eq!(m("stg_customers")["verdict"], "promote");
    assert_eq!(m("stg_customers")["why"], "changed");
    assert_eq!(m("customer_revenue")["why"], "downstream");
    // Per-model keys: [models.stg_orders] and [models.country_revenue].
    assert_eq!(m("stg_orders")["key"], serde_json::json!(["order_id"]));
    assert_eq!(m("country_revenue")["key"], serde_json::json!(["country"]));
    assert_eq!(
        m("customer_revenue")["key"],
        serde_json::json!(["customer_id"])
    );
    // 46 returned orders lose their amount.
    assert_eq!(m("stg_orders")["rows"]["changed"], 46);
    // Reports show the SQL as written, dbt references included.
    assert!(
        m("stg_orders")["sql"]["v2"]
            .as_str()
            .unwrap()
            .contains("{{ source('shop', 'orders') }}")
    );
    // The run's reasons name their model.
    for reason in r["reasons"].as_array().unwrap() {
        assert!(reason["message"].as_str().unwrap().starts_with("model `"));
    }
    let md = common::diffgate()
        .args(["run", "scenarios/dbt_models", "--format", "markdown"])
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.contains("## Model stg_orders: **BLOCK**"), "{md}");
}

#[test]
fn a_model_the_same_in_both_versions_runs_once() {
    // `noise` is unchanged but random: run twice it would differ in every
    // row, and so would `report`, which reads it. Run once, only the
    // changed column of `report` differs.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let noise = "select id, random() as r from t";
    common::model_folder(
        d,
        "",
        &[
            ("noise.sql", noise),
            ("report.sql", "select id, r, g from noise join t using (id)"),
        ],
        &[
            ("noise.sql", noise),
            (
                "report.sql",
                "select id, r, g + 1 as g from noise join t using (id)",
            ),
        ],
    );
    let out = diffgate(d, &["run", ".", "--format", "json", "--fail-on", "never"]);
    let r = json(&out);
    assert_eq!(names(&r, "models"), ["report"]);
    let cols = r["models"][0]["columns"].as_array().unwrap();
    let mismatches = |c: &str| {
        cols.iter().find(|x| x["name"] == c).unwrap()["mismatches"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(mismatches("g"), 50);
    assert_eq!(mismatches("r"), 0, "noise ran once for both versions");
}

#[test]
fn targets_choose_what_is_compared_and_models_can_be_added_or_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::model_folder(
        d,
        "targets = [\"b\"]",
        &[
            ("a.sql", "select id, g from t"),
            ("b.sql", "select id, g * 2 as g2 from {{ ref('a') }}"),
            ("old.sql", "select 1 as id"),
        ],
        &[
            ("a.sql", "select id, g + 1 as g from t"),
            ("b.sql", "select id, g * 2 as g2 from {{ ref('a') }}"),
            ("new.sql", "select 2 as id"),
        ],
    );
    let r = json(&diffgate(
        d,
        &["run", ".", "--format", "json", "--fail-on", "never"],
    ));
    assert_eq!(names(&r, "models"), ["b"]);
    assert_eq!(r["models"][0]["why"], "target");
    assert_eq!(r["models"][0]["rows"]["changed"], 50);
    assert_eq!(names(&r, "models_added"), ["new"]);
    assert_eq!(names(&r, "models_removed"), ["old"]);
    assert!(
        r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["message"] == "model `old` was removed from the folder")
    );
}

#[test]
fn cycles_jinja_and_sql_errors_name_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cycle = [
        ("a.sql", "select * from {{ ref('b') }}"),
        ("b.sql", "select * from c"),
        ("c.sql", "select * from a"),
    ];
    common::model_folder(d, "", &cycle, &cycle);
    let e = stderr(&diffgate(d, &["run", "."]));
    assert!(
        e.contains("cycle") && e.contains("a → ") && e.contains("c"),
        "{e}"
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jinja = [("a.sql", "select id\nfrom {{ var('table') }}")];
    common::model_folder(d, "", &jinja, &jinja);
    let e = stderr(&diffgate(d, &["run", "."]));
    assert!(
        e.contains("a.sql") && e.contains("line 2, column 6") && e.contains("var"),
        "{e}"
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::model_folder(
        d,
        "",
        &[("m.sql", "select id from t")],
        &[("m.sql", "select id,\n  {{ ref('m') }}.nope from t")],
    );
    // SQL that does not plan is a finding of that model, at its place.
    let out = diffgate(d, &["run", ".", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let f = &json(&out)["models"][0]["failures"][0];
    assert_eq!(
        (&f["version"], &f["line"], &f["stage"]),
        (&"v2".into(), &2.into(), &"plan".into())
    );
    assert!(f["file"].as_str().unwrap().ends_with("m.sql"), "{f}");
}

/// v1 and v2 of a folder where `stg` does not plan in v2 (a column that is
/// not there), `mart` reads it, and `other` changed on its own.
fn broken_stg(d: &Path) {
    let v1 = [
        ("stg.sql", "select id, g from t"),
        ("mart.sql", "select id, g * 2 as g2 from {{ ref('stg') }}"),
        ("other.sql", "select id, g + 1 as h from t"),
    ];
    let mut v2 = v1;
    v2[0].1 = "select id,\n  nope as g from t";
    v2[2].1 = "select id, g + 2 as h from t";
    common::model_folder(d, "", &v1, &v2);
}

#[test]
fn a_model_that_cannot_be_planned_is_a_finding_and_what_reads_it_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    broken_stg(d);
    let out = diffgate(d, &["run", ".", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "the gate fails; not an error");
    let r = json(&out);
    assert_eq!(r["verdict"], "block");
    let m = |n: &str| {
        r["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == n)
            .unwrap_or_else(|| panic!("no model {n}"))
            .clone()
    };
    let stg = m("stg");
    let f = &stg["failures"][0];
    assert_eq!(stg["failures"].as_array().unwrap().len(), 1, "{stg}");
    assert_eq!(f["version"], "v2");
    assert_eq!(f["stage"], "plan");
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(2), Some(3)),
        "{f}"
    );
    assert!(f["message"].as_str().unwrap().contains("nope"), "{f}");
    assert_eq!(stg["reasons"][0]["rule"], "model_failed_v2");
    // What reads it is not run, and says why.
    let mart = m("mart");
    assert_eq!(mart["failures"][0]["stage"], "upstream");
    assert_eq!(mart["failures"][0]["upstream"], "stg");
    assert_eq!(mart["verdict"], "block");
    // The others are compared as usual.
    let other = m("other");
    assert_eq!(other["rows"]["changed"], 50);
    assert!(other.get("failures").is_none());
    // Every format shows the failure instead of empty findings.
    let md = diffgate(d, &["run", ".", "--format", "markdown"]);
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.contains("### Not compared"), "{md}");
    assert!(
        md.contains("v2 cannot be planned: ") && md.contains("stg.sql:2:3"),
        "{md}"
    );
    assert!(
        md.contains("v2 not run: it reads model &#96;stg&#96;"),
        "{md}"
    );
    let text = diffgate(d, &["run", "."]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("Not compared") && text.contains("stg.sql:2:3"),
        "{text}"
    );
    // A CI annotation points at the line.
    let summary = d.join("summary.md");
    let gh = common::diffgate()
        .current_dir(d)
        .args(["run", ".", "--github", "always"])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", d.join("outputs"))
        .output()
        .unwrap();
    let log = String::from_utf8(gh.stdout).unwrap();
    assert!(
        log.lines().any(|l| l.starts_with("::error file=")
            && l.contains("stg.sql,line=2,col=3,")
            && l.contains("model_failed_v2")),
        "{log}"
    );
    // `check` finds it too, without data.
    let out = diffgate(d, &["check", ".", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    let stg = r["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "stg");
    assert_eq!(stg.unwrap()["failures"][0]["stage"], "plan");
}

#[test]
fn a_model_broken_in_v1_and_fixed_in_v2_asks_for_review() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    broken_stg(d);
    // Swap the versions: v1 is the broken one.
    std::fs::rename(d.join("v1"), d.join("old")).unwrap();
    std::fs::rename(d.join("v2"), d.join("v1")).unwrap();
    std::fs::rename(d.join("old"), d.join("v2")).unwrap();
    let out = diffgate(d, &["run", ".", "--format", "json"]);
    let r = json(&out);
    let stg = &r["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "stg")
        .unwrap();
    assert_eq!(stg["verdict"], "review", "{stg}");
    assert_eq!(stg["reasons"][0]["rule"], "model_failed_v1");
    assert_eq!(stg["failures"][0]["version"], "v1");
    // The policy sets its level like any rule's.
    let out = diffgate(
        d,
        &[
            "run",
            ".",
            "--format",
            "json",
            "--policy",
            "model_failed_v1=block",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn runs_on_a_folder_finds_the_model_whose_output_depends_on_row_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pick = |order: &str| {
        format!(
            "select g, id from (select g, id, row_number() over (partition by g{order}) as rn from {{{{ ref('stg') }}}}) where rn = 1"
        )
    };
    let (first, fixed) = (pick(""), pick(" order by id"));
    let v1 = [
        ("stg.sql", "select id, g from t"),
        ("pick.sql", first.as_str()),
    ];
    let v2 = [
        ("stg.sql", "select id, g from t"),
        ("pick.sql", fixed.as_str()),
    ];
    common::model_folder(d, "[models.pick]\nkey = \"g\"", &v1, &v2);
    let out = diffgate(d, &["run", ".", "--runs", "3", "--format", "json"]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    let drifts = r["determinism"]["nondeterministic"].as_array().unwrap();
    assert_eq!(r["determinism"]["runs"], 3);
    assert_eq!(drifts.len(), 1, "only v1 of pick: {drifts:?}");
    assert_eq!(
        (&drifts[0]["model"], &drifts[0]["version"]),
        (&"pick".into(), &"v1".into())
    );
    let pick = &r["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "pick")
        .unwrap();
    assert_eq!(pick["reasons"][0]["rule"], "nondeterministic");
    assert_eq!(pick["verdict"], "block");
    assert!(
        r["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["rule"] == "nondeterministic" && c["outcome"] == "block")
    );
    let md = diffgate(d, &["run", ".", "--runs", "3", "--format", "markdown"]);
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.contains("v1 of model `pick` differed in"), "{md}");
}

#[test]
fn check_plans_every_model_without_data() {
    let out = common::diffgate()
        .args(["check", "scenarios/dbt_models", "--format", "json"])
        .output()
        .unwrap();
    let r = json(&out);
    assert_eq!(out.status.code(), Some(0), "no schema change");
    assert_eq!(r["comparison"]["command"], "check");
    assert_eq!(r["models"].as_array().unwrap().len(), 4);
    for m in r["models"].as_array().unwrap() {
        assert_eq!(m["rows"]["v1"], 0);
    }
}

#[test]
fn base_reads_a_model_folder_from_git() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::git(d, &["init", "-q", "-b", "main"]);
    let rows: String = (1..=50).map(|i| format!("{i},{}\n", i % 7)).collect();
    std::fs::write(d.join("t.csv"), format!("id,g\n{rows}")).unwrap();
    std::fs::write(
        d.join("diffgate.toml"),
        "[inputs]\nt = \"t.csv\"\n[transform]\npath = \"models\"\n[compare]\nkey = \"id\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(d.join("models/staging")).unwrap();
    std::fs::write(d.join("models/staging/stg.sql"), "select id, g from t").unwrap();
    std::fs::write(
        d.join("models/mart.sql"),
        "select id, g * 10 as v from {{ ref('stg') }}",
    )
    .unwrap();
    common::git(d, &["add", "."]);
    common::git(d, &["commit", "-q", "-m", "one"]);
    std::fs::write(
        d.join("models/staging/stg.sql"),
        "select id, g + 1 as g from t",
    )
    .unwrap();

    let out = diffgate(
        d,
        &[
            "run",
            ".",
            "--base",
            "main",
            "--format",
            "json",
            "--fail-on",
            "never",
        ],
    );
    let r = json(&out);
    assert_eq!(names(&r, "models"), ["stg", "mart"]);
    assert_eq!(r["models"][1]["rows"]["changed"], 50);
    assert!(
        r["comparison"]["v1"]
            .as_str()
            .unwrap()
            .starts_with("models @ main (")
    );
}
