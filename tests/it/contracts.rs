//! Contracts held against v1 (`[contract]`, `[models.NAME.contract]`)
//! through the real binary: each check evaluated on both versions, a check
//! v2 newly breaks (or breaks more) blocks, one v1 already broke is a
//! review, one v2 fixes or keeps passes, a column v2 lacks is broken;
//! bad contracts are exit 2 naming the key; the same at 1, 4 and 8 threads.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::common;

/// A scenario in `dir` over `t.csv` (ids 1..=20, `v` = id, `s` = 'a' but
/// NULL for ids 1 and 2) with the given v1 and v2 SQL and config tail.
fn scenario(dir: &Path, v1: &str, v2: &str, tail: &str) {
    let rows: String = (1..=20)
        .map(|i| format!("{i},{i},{}\n", if i <= 2 { "" } else { "a" }))
        .collect();
    std::fs::write(dir.join("t.csv"), format!("id,v,s\n{rows}")).unwrap();
    std::fs::write(dir.join("v1.sql"), v1).unwrap();
    std::fs::write(dir.join("v2.sql"), v2).unwrap();
    std::fs::write(
        dir.join("diffgate.toml"),
        format!(
            "[inputs]\nt = \"t.csv\"\n[transform]\nv1 = \"v1.sql\"\nv2 = \"v2.sql\"\n[compare]\nkey = \"id\"\n\
             [policy]\nrows_changed = \"ignore\"\nrows_removed = \"ignore\"\nmax_removed_or_changed_fraction = 1\n{tail}"
        ),
    )
    .unwrap();
}

fn run(dir: &Path, extra: &[&str]) -> Output {
    common::diffgate()
        .current_dir(dir)
        .args(["run", ".", "--format", "json", "--fail-on", "never"])
        .args(["--dead-letter", "dead.ndjson"])
        .args(extra)
        .output()
        .unwrap()
}

/// A folder of models in `dir` over `t.csv` (ids 1..=10): each
/// `(path, sql)` written, and a diffgate.toml ending in `tail`.
fn folder(dir: &Path, models: &[(&str, &str)], tail: &str) {
    let rows: String = (1..=10).map(|i| format!("{i}\n")).collect();
    std::fs::write(dir.join("t.csv"), format!("id\n{rows}")).unwrap();
    for (rel, sql) in models {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, sql).unwrap();
    }
    std::fs::write(
        dir.join("diffgate.toml"),
        format!("[inputs]\nt = \"t.csv\"\n[transform]\nv1 = \"v1\"\nv2 = \"v2\"\n{tail}"),
    )
    .unwrap();
}

fn statuses(r: &Value) -> Vec<(String, String)> {
    r["contracts"]
        .as_array()
        .unwrap_or_else(|| panic!("no contracts: {r:#}"))
        .iter()
        .map(|c| {
            (
                format!(
                    "{}({})",
                    c["check"].as_str().unwrap(),
                    c["columns"].as_array().map_or(String::new(), |a| a
                        .iter()
                        .map(|x| x.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join(","))
                ),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn each_check_is_judged_against_v1() {
    let dir = tempfile::tempdir().unwrap();
    scenario(
        dir.path(),
        "SELECT id, v, s, v AS w FROM t",
        // s: the NULLs filled (fixed); v: one negative (broken); w dropped
        // (missing); id repeated for 3 and 4 in both (pre-existing).
        "SELECT id, CASE WHEN id = 5 THEN -1 ELSE v END AS v, coalesce(s, 'b') AS s FROM t",
        "[contract]\nnot_null = [\"s\", \"w\"]\nrange = { v = { min = 0 } }\nrow_count = { max = 20 }\n",
    );
    let r = common::ok_json(&run(dir.path(), &[]));
    assert_eq!(
        statuses(&r),
        [
            ("not_null(s)".to_string(), "fixed".to_string()),
            ("not_null(w)".into(), "missing".into()),
            ("range(v)".into(), "broken".into()),
            ("row_count()".into(), "holds".into()),
        ],
        "{r:#}"
    );
    assert_eq!(r["verdict"], "block");
    let c = &r["contracts"][2];
    assert_eq!((&c["v1"], &c["v2"]), (&0.into(), &1.into()));
    let rules = common::rules_fired(&r);
    // The schema change (w removed, with a logic change) blocks too,
    // beside the two broken checks.
    assert_eq!(
        rules,
        [
            "schema_migration",
            "schema_breaking",
            "contract_broken",
            "contract_broken"
        ],
        "{r:#}"
    );
}

#[test]
fn a_debt_v1_already_had_is_a_review_and_more_of_it_blocks() {
    let dir = tempfile::tempdir().unwrap();
    // g = id % 19 repeats 1 (ids 1 and 20): two rows break `unique`.
    scenario(
        dir.path(),
        "SELECT id, id % 19 AS g, v FROM t",
        "SELECT id, id % 19 AS g, v + 1 AS v FROM t",
        "[contract]\nunique = [\"g\"]\n",
    );
    let r = common::ok_json(&run(dir.path(), &[]));
    assert_eq!(r["verdict"], "review", "{r:#}");
    assert_eq!(statuses(&r)[0].1, "pre_existing");
    let c = &r["contracts"][0];
    assert_eq!((&c["v1"], &c["v2"]), (&2.into(), &2.into()));
    // id % 18 repeats 1 and 2: four rows, worse than v1, so it blocks.
    std::fs::write(
        dir.path().join("v2.sql"),
        "SELECT id, id % 18 AS g, v FROM t",
    )
    .unwrap();
    let r = common::ok_json(&run(dir.path(), &[]));
    assert_eq!(statuses(&r)[0].1, "broken", "{r:#}");
    let message = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "contract_broken")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("more than v1 did (2 → 4 row(s))"),
        "{message}"
    );
}

#[test]
fn freshness_regex_and_relationships_read_what_they_name() {
    let dir = tempfile::tempdir().unwrap();
    scenario(
        dir.path(),
        "SELECT id, CAST('2026-03-30' AS DATE) AS day, 'x' || CAST(id AS VARCHAR) AS code FROM t",
        "SELECT id, CAST('2026-03-01' AS DATE) AS day, CASE WHEN id = 7 THEN 'y7' ELSE 'x' || CAST(id AS VARCHAR) END AS code, id + 15 AS parent FROM t",
        "[contract]\nfreshness = { day = { max_age = \"3d\", as_of = \"2026-04-01\" } }\n\
         regex = { code = '^x[0-9]+$' }\nrelationships = { parent = \"t.id\" }\n",
    );
    let r = common::ok_json(&run(dir.path(), &[]));
    assert_eq!(
        statuses(&r),
        [
            ("regex(code)".to_string(), "broken".to_string()),
            ("freshness(day)".into(), "broken".into()),
            ("relationships(parent)".into(), "broken".into()),
        ],
        "{r:#}"
    );
    let c = &r["contracts"];
    assert_eq!(c[0]["v2"], 1);
    assert_eq!(c[1]["v1_latest"], "2026-03-30 00:00:00");
    assert_eq!(c[1]["v2_latest"], "2026-03-01 00:00:00");
    assert!(c[2].get("v1").is_none(), "v1 has no parent column");
    assert_eq!(c[2]["v2"], 15, "parents 21..35 are not ids");
    // Rows at 1, 4 and 8 threads: the same report.
    let mut seen = Vec::new();
    for t in ["1", "4", "8"] {
        let mut v = common::ok_json(&run(dir.path(), &["--threads", t]));
        v["timings"] = Value::Null;
        seen.push(v);
    }
    assert!(seen.iter().all(|v| v == &seen[0]));
}

#[test]
fn bad_contracts_are_usage_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (tail, says) in [
        (
            "[contract]\nrange = { v = { min = 3, max = 1 } }\n",
            "contract.range.v: min 3 is above max 1",
        ),
        ("[contract]\nregex = { s = '(' }\n", "contract.regex.s"),
        ("[contract]\nnot_nul = [\"v\"]\n", "not_nul"),
        (
            "[contract]\nrelationships = { v = \"nowhere.id\" }\n",
            "no table `nowhere`",
        ),
        (
            "[contract]\nrelationships = { v = \"t.nope\" }\n",
            "has no column `nope`",
        ),
    ] {
        scenario(dir.path(), "SELECT * FROM t", "SELECT * FROM t", tail);
        let out = run(dir.path(), &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{tail}: {err}");
        assert!(err.contains(says), "{tail}: {err}");
    }
}

#[test]
fn a_model_has_a_contract_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    folder(
        dir.path(),
        &[
            ("v1/a.sql", "SELECT id FROM t"),
            (
                "v2/a.sql",
                "SELECT CASE WHEN id = 1 THEN NULL ELSE id END AS id, id AS k FROM t",
            ),
        ],
        "[models.a.contract]\nnot_null = [\"id\"]\n",
    );
    let r = common::ok_json(&run(dir.path(), &[]));
    let a = &r["models"][0];
    assert_eq!(a["contracts"][0]["status"], "broken", "{r:#}");
    assert_eq!(a["verdict"], "block");
    // A run-level [contract] in a folder is refused.
    std::fs::write(
        dir.path().join("diffgate.toml"),
        "[inputs]\nt = \"t.csv\"\n[transform]\nv1 = \"v1\"\nv2 = \"v2\"\n[contract]\nnot_null = [\"id\"]\n",
    )
    .unwrap();
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[models.NAME.contract]"));
}

#[test]
fn a_relationship_looks_up_the_same_versions_model_or_an_input() {
    let dir = tempfile::tempdir().unwrap();
    // v2's customers lose id 3; orders (changed too) still point at it.
    // `people` is compared by no one: it runs only for the relationship.
    // `extra` is new in v2, so v1 has no relationship with it to check.
    folder(
        dir.path(),
        &[
            ("v1/customers.sql", "SELECT id FROM t"),
            ("v2/customers.sql", "SELECT id FROM t WHERE id <> 3"),
            ("v1/people.sql", "SELECT id FROM t"),
            ("v2/extra.sql", "SELECT id FROM t"),
            ("v2/people.sql", "SELECT id FROM t"),
            (
                "v1/orders.sql",
                "SELECT id, id AS customer_id, id AS person_id FROM t",
            ),
            (
                "v2/orders.sql",
                "SELECT id, id AS customer_id, id AS person_id, 1 AS x FROM t",
            ),
        ],
        "[models.orders]\nkey = \"id\"\n\
         [models.orders.contract]\nrelationships = { customer_id = \"customers.id\", id = \"extra.id\", person_id = \"people.id\", x = \"t.id\" }\n",
    );
    for threads in ["1", "4", "8"] {
        let r = common::ok_json(&run(dir.path(), &["--threads", threads]));
        let orders = r["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "orders")
            .unwrap_or_else(|| panic!("{r:#}"));
        assert_eq!(
            statuses(orders),
            [
                (
                    "relationships(customer_id)".to_string(),
                    "broken".to_string()
                ),
                ("relationships(id)".into(), "holds".into()),
                ("relationships(person_id)".into(), "holds".into()),
                ("relationships(x)".into(), "holds".into()),
            ],
            "{orders:#}"
        );
        let c = &orders["contracts"];
        let counts = |i: usize| (c[i]["v1"].as_u64(), c[i]["v2"].as_u64());
        assert_eq!(counts(0), (Some(0), Some(1)));
        assert_eq!(counts(1), (None, Some(0)), "v1 has no `extra`");
        assert_eq!(counts(3), (None, Some(0)), "v1 has no `x`");
        assert_eq!(orders["verdict"], "block");
    }
}
