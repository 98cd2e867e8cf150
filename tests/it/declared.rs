//! What a scenario declares about its comparison, through the real binary:
//! renamed columns compared under their new name, masked columns whose
//! values no report holds (at 1, 4 and 8 threads, byte for byte), and the
//! absolute and per-column limits.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::common;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A temporary folder holding v1.csv and v2.csv with these texts: the
/// folder (removed when it drops), both paths and a dead-letter path in it.
fn pair(v1: &str, v2: &str) -> (tempfile::TempDir, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "v1.csv", v1);
    let b = write(dir.path(), "v2.csv", v2);
    let dl = dir.path().join("dead.ndjson").display().to_string();
    (dir, a, b, dl)
}

/// A keyed `diff` of `v1` and `v2` printing JSON, dead letters to `dl`, then
/// `extra`.
fn keyed<'a>(v1: &'a str, v2: &'a str, dl: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        v1,
        v2,
        "--key",
        "id",
        "--format",
        "json",
        "--dead-letter",
        dl,
    ];
    args.extend_from_slice(extra);
    args
}

/// Count every removed or changed row as a count, not a block.
const ANY_FRACTION: [&str; 2] = ["--policy", "max_removed_or_changed_fraction=1"];

fn diff(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::diffgate();
    cmd.arg("diff").args(args).args(["--fail-on", "never"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn json(out: &Output) -> Value {
    common::ok_json(out)
}

#[test]
fn a_declared_rename_compares_the_values_under_the_new_name() {
    let (_dir, v1, v2, dl) = pair(
        "id,amount\n1,10\n2,20\n3,30\n",
        "id,total\n1,10\n2,21\n3,30\n",
    );
    let base = keyed(&v1, &v2, &dl, &ANY_FRACTION);

    // Undeclared: a removed and an added column, nothing compared.
    let plain = json(&diff(&base, &[]));
    assert_eq!(plain["verdict"], "block");
    assert_eq!(plain["schema"]["removed"][0]["name"], "amount");

    let renamed = json(&diff(
        &[&base[..], &["--rename", "amount=total"]].concat(),
        &[],
    ));
    assert_eq!(renamed["verdict"], "review", "{renamed:#}");
    assert_eq!(
        renamed["schema"]["renamed"],
        serde_json::json!([{"v1": "amount", "v2": "total"}])
    );
    assert_eq!(renamed["schema"]["removed"], serde_json::json!([]));
    assert_eq!(renamed["schema"]["breaking"], false);
    assert_eq!(renamed["rows"]["changed"], 1);
    let cell = &renamed["samples"]["changed"][0]["cells"][0];
    assert_eq!(
        (&cell["column"], &cell["v1"], &cell["v2"]),
        (&"total".into(), &20.into(), &21.into())
    );

    // A rename that does not fit (v2 has no such column) changes nothing.
    let unfit = json(&diff(
        &[&base[..], &["--rename", "amount=sum"]].concat(),
        &[],
    ));
    assert_eq!(unfit["verdict"], "block");
    assert!(unfit["schema"].get("renamed").is_none());

    let bad = diff(
        &[&[v1.as_str(), &v2][..], &["--rename", "amount"]].concat(),
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--rename \"amount\": expected OLD=NEW"));
}

#[test]
fn masked_values_are_in_no_report_and_the_same_at_every_thread_count() {
    // 2's email changes, 3 is gone, 4 is new.
    let (dir, v1, v2, dl) = pair(
        "id,email,plan\n1,ann@example.com,free\n2,bob@example.com,pro\n3,cy@example.com,free\n",
        "id,email,plan\n1,ann@example.com,free\n2,BOB@example.com,pro\n4,dee@example.com,pro\n",
    );
    let d = dir.path();
    let secrets = [
        "ann@example.com",
        "bob@example.com",
        "BOB@example.com",
        "cy@example.com",
        "dee@example.com",
    ];
    let files = [
        v1.as_str(),
        &v2,
        "--key",
        "id",
        "--mask",
        "e*l",
        "--dead-letter",
        &dl,
    ];
    for key in [None, Some("a mask key")] {
        let env: Vec<(&str, &str)> = key.map(|k| ("DIFFGATE_MASK_KEY", k)).into_iter().collect();
        let mut first: Option<String> = None;
        for threads in ["1", "4", "8"] {
            let md = d.join("report.md");
            let html = d.join("report.html");
            let out = diff(
                &[
                    &files[..],
                    &["--format", "json", "--threads", threads],
                    &["--markdown", md.to_str().unwrap()],
                    &["--html", html.to_str().unwrap()],
                ]
                .concat(),
                &env,
            );
            let report = json(&out);
            assert_eq!(report["masked"], serde_json::json!(["email"]));
            assert_eq!(report["rows"]["changed"], 1);
            let texts = [
                String::from_utf8_lossy(&out.stdout).into_owned(),
                std::fs::read_to_string(&md).unwrap(),
                std::fs::read_to_string(&html).unwrap(),
            ];
            for text in &texts {
                for s in secrets {
                    assert!(!text.contains(s), "{s} shown: {text}");
                }
            }
            let cell = &report["samples"]["changed"][0]["cells"][0];
            let (a, b) = (cell["v1"].as_str().unwrap(), cell["v2"].as_str().unwrap());
            let gone = report["samples"]["only_v1"][0]["row"]["email"]
                .as_str()
                .unwrap();
            match key {
                None => assert!([a, b, gone].iter().all(|s| *s == "‹masked›")),
                Some(_) => {
                    // Keyed: the changed value shows changed.
                    assert!(a.starts_with('‹') && a.chars().count() == 18, "{a}");
                    assert_ne!(a, b);
                }
            }
            // The same report at every thread count, but for its timings
            // and the command line.
            let mut same = report.clone();
            same.as_object_mut().unwrap().remove("timings");
            same["comparison"]
                .as_object_mut()
                .unwrap()
                .remove("reproduce");
            let same = serde_json::to_string_pretty(&same).unwrap();
            match &first {
                None => first = Some(same),
                Some(f) => assert!(f == &same, "threads {threads}: {f}\n{same}"),
            }
        }
    }
    // The terminal report too.
    let out = diff(&files, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("the values of email are masked"), "{text}");
    assert!(secrets.iter().all(|s| !text.contains(s)), "{text}");
}

#[test]
fn absolute_and_per_column_limits_block_by_count() {
    let rows = |f: &dyn Fn(u32) -> String| -> String {
        let body: String = (1..=1000).map(|i| format!("{i},{}\n", f(i))).collect();
        format!("id,price,label\n{body}")
    };
    // Three prices change (0.3%, under the 1% default fraction).
    let (_dir, v1, v2, dl) = pair(
        &rows(&|i| format!("{i}.5,a{i}")),
        &rows(&|i| {
            let p = if i <= 3 {
                format!("{i}.6")
            } else {
                format!("{i}.5")
            };
            format!("{p},a{i}")
        }),
    );
    let base = keyed(&v1, &v2, &dl, &[]);
    let verdict = |extra: &[&str]| -> (String, Vec<String>) {
        let r = json(&diff(&[&base[..], extra].concat(), &[]));
        let rules = r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["level"] == "block")
            .map(|x| x["rule"].as_str().unwrap().to_string())
            .collect();
        (r["verdict"].as_str().unwrap().to_string(), rules)
    };
    assert_eq!(verdict(&[]), ("review".into(), vec![]));
    assert_eq!(
        verdict(&["--policy", "max_changed_rows=3"]),
        ("review".into(), vec![])
    );
    assert_eq!(
        verdict(&["--policy", "max_changed_rows=2"]),
        ("block".into(), vec!["max_changed_rows".into()])
    );
    assert_eq!(
        verdict(&["--policy", "max_column_mismatch_rate={ price = 0.002 }"]),
        ("block".into(), vec!["max_column_mismatch_rate".into()])
    );
    assert_eq!(
        verdict(&["--policy", "max_column_mismatch_rate={ label = 0.0 }"]),
        ("review".into(), vec![])
    );
    let bad = diff(
        &[
            &base[..],
            &["--policy", "max_column_mismatch_rate={ price = 2.0 }"],
        ]
        .concat(),
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("must be a fraction in [0, 1]"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn normalised_strings_and_folded_column_names_compare_as_declared() {
    let (_dir, v1, v2, dl) = pair(
        "id,Name,city\n1, Alice ,Paris\n2,BOB,New  York\n3,cy,Rome\n",
        "id,name,city\n1,alice,Paris\n2,Bob,New York\n3,cy,Roma\n",
    );
    let base = keyed(&v1, &v2, &dl, &ANY_FRACTION);
    // As they are: `Name` removed, `name` added, `city` differs twice.
    let plain = json(&diff(&base, &[]));
    assert_eq!(plain["schema"]["removed"][0]["name"], "Name");
    assert_eq!(plain["rows"]["changed"], 2);

    let declared = json(&diff(
        &[
            &base[..],
            &["--fold-column-case"],
            &["--normalize", "name:trim,ignore_case"],
            &["--normalize", "city:collapse_whitespace"],
        ]
        .concat(),
        &[],
    ));
    assert_eq!(
        declared["schema"]["renamed"],
        serde_json::json!([{"v1": "Name", "v2": "name"}])
    );
    // Only Rome → Roma is left.
    assert_eq!(declared["rows"]["changed"], 1, "{declared:#}");
    let cell = &declared["samples"]["changed"][0]["cells"][0];
    assert_eq!((&cell["v1"], &cell["v2"]), (&"Rome".into(), &"Roma".into()));
    assert_eq!(declared["verdict"], "review");

    let bad = diff(&[&base[..], &["--normalize", "city:upper"]].concat(), &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`upper` is not trim"));
    let typo = diff(&[&base[..], &["--normalize", "cty:trim"]].concat(), &[]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("normalised column `cty` is in neither"),
        "{}",
        String::from_utf8_lossy(&typo.stderr)
    );
}

#[test]
fn timestamps_within_a_declared_duration_are_equal() {
    let (dir, _, _, dl) = pair(
        "id,at\n1,2026-01-01T10:00:00\n2,2026-01-01T10:00:00\n3,2026-01-01T10:00:00\n",
        "id,at\n1,2026-01-01T10:00:03\n2,2026-01-01T10:00:09\n3,2026-01-01T10:00:00\n",
    );
    let d = dir.path();
    write(d, "v1.sql", "SELECT * FROM a");
    write(d, "v2.sql", "SELECT * FROM b");
    let scenario = |column: &str| {
        let toml = format!(
            "[inputs]\na = \"v1.csv\"\nb = \"v2.csv\"\n[transform]\nv1 = \"v1.sql\"\nv2 = \"v2.sql\"\n\
             [compare]\nkey = \"id\"\n[compare.columns.at]\n{column}\n\
             [policy]\nmax_removed_or_changed_fraction = 1.0\n"
        );
        write(d, "diffgate.toml", &toml);
        common::diffgate()
            .arg("run")
            .arg(d)
            .args(["--format", "json", "--dead-letter", &dl])
            .output()
            .unwrap()
    };
    let exact = json(&scenario(""));
    assert_eq!(exact["rows"]["changed"], 2);
    let within = json(&scenario("tolerance = \"5s\""));
    assert_eq!(within["rows"]["changed"], 1, "{within:#}");
    assert_eq!(within["samples"]["changed"][0]["key"]["id"], 2);
    assert_eq!(
        within["comparison"]["tolerance"]["columns"][0]["seconds"],
        5.0
    );
    // A numeric tolerance never makes timestamps equal.
    let numeric = json(&scenario("abs_tol = 60.0"));
    assert_eq!(numeric["rows"]["changed"], 2);
    let out = scenario("tolerance = \"5 parsecs\"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("compare.columns.at.tolerance \"5 parsecs\""),
        "{err}"
    );
}

#[test]
fn a_removed_and_an_added_column_with_equal_values_are_proposed_as_a_rename() {
    let (_dir, v1, v2, dl) = pair(
        "id,amount,flag,note\n1,10,y,a\n2,20,y,b\n3,,y,c\n",
        "id,total,on,other\n1,10,y,a\n2,20,y,b\n3,,y,d\n",
    );
    let r = json(&diff(&keyed(&v1, &v2, &dl, &ANY_FRACTION), &[]));
    // `amount`/`total` agree on every row (NULL with NULL); `flag` and
    // `on` too; `note`/`other` differ in one row, so no proposal.
    assert_eq!(
        r["schema"]["proposed_renames"],
        serde_json::json!([
            {"v1": "amount", "v2": "total", "rows": 3},
            {"v1": "flag", "v2": "on", "rows": 3},
        ]),
        "{r:#}"
    );
    assert_eq!(r["verdict"], "block", "still a removal until declared");
    let note = r["notes"][0].as_str().unwrap();
    assert!(note.contains("--rename amount=total"), "{note}");
    // Declared, it is compared and no longer proposed.
    let declared = json(&diff(
        &[
            &keyed(&v1, &v2, &dl, &ANY_FRACTION)[..],
            &["--rename", "amount=total"],
        ]
        .concat(),
        &[],
    ));
    let proposed = &declared["schema"]["proposed_renames"];
    assert_eq!(proposed[0]["v1"], "flag", "{declared:#}");
    assert_eq!(proposed.as_array().unwrap().len(), 1);
    // Two constant columns on each side agree with both: ambiguous, so
    // nothing is proposed for them.
    let (_dir, v1, v2, dl) = pair("id,a,b\n1,k,k\n2,k,k\n", "id,c,d\n1,k,k\n2,k,k\n");
    let r = json(&diff(&keyed(&v1, &v2, &dl, &ANY_FRACTION), &[]));
    assert!(r["schema"].get("proposed_renames").is_none(), "{r:#}");
}

#[test]
fn a_string_column_is_compared_with_a_date_through_its_format() {
    let (_dir, v1, v2, dl) = pair(
        "id,day\n1,31/01/2024\n2,01/02/2024\n3,31/02/2024\n4,05/03/2024\n",
        "id,day\n1,2024-01-31\n2,2024-02-02\n3,2024-02-28\n4,2024-03-05\n",
    );
    let base = keyed(&v1, &v2, &dl, &ANY_FRACTION);
    // Without a format the kinds differ: nothing is compared.
    let plain = json(&diff(&base, &[]));
    assert_eq!(plain["schema"]["changed"][0]["comparable"], false);
    let r = json(&diff(
        &[&base[..], &["--column-format", "day=%d/%m/%Y"]].concat(),
        &[],
    ));
    assert_eq!(r["schema"]["changed"][0]["comparable"], true, "{r:#}");
    assert_eq!(r["rows"]["changed"], 2, "a day off, and 31 February");
    let cells: Vec<(&Value, &Value)> = r["samples"]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (&row["cells"][0]["v1"], &row["cells"][0]["v2"]))
        .collect();
    assert_eq!(
        cells,
        [
            (&"2024-02-01".into(), &"2024-02-02".into()),
            (&Value::Null, &"2024-02-28".into())
        ]
    );
    assert!(
        r["notes"][0]
            .as_str()
            .unwrap()
            .contains("does not read as one shows as NULL")
    );
    // The config says the same.
    let (dir, _, _, _) = pair("", "");
    let cfg = dir.path().join("diffgate.toml");
    std::fs::write(&cfg, format!(
        "[inputs]\nt1 = {v1:?}\nt2 = {v2:?}\n[transform]\nv1 = \"a.sql\"\nv2 = \"b.sql\"\n\
         [compare]\nkey = \"id\"\n[compare.columns.day]\nformat = \"%d/%m/%Y\"\n[policy]\nmax_removed_or_changed_fraction = 1\n"
    )).unwrap();
    std::fs::write(dir.path().join("a.sql"), "SELECT * FROM t1").unwrap();
    std::fs::write(dir.path().join("b.sql"), "SELECT * FROM t2").unwrap();
    let out = common::diffgate()
        .current_dir(dir.path())
        .args([
            "run",
            ".",
            "--format",
            "json",
            "--fail-on",
            "never",
            "--dead-letter",
            "d.ndjson",
        ])
        .output()
        .unwrap();
    assert_eq!(json(&out)["rows"]["changed"], 2);
    // A format on a column that is not a string against a date is refused.
    let out = diff(&[&base[..], &["--column-format", "id=%d"]].concat(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("format of column `id`"));
}
