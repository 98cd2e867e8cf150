//! The command line as a user meets it: every bad input in
//! `testdata/bad/` gives exit code 2 and one clear message naming the file,
//! input, column or SQL line (snapshotted), never a panic; flag mistakes are
//! usage errors (exit 2).

use std::path::Path;
use std::process::Command;

use insta_cmd::assert_cmd_snapshot;

use crate::common::{self, root};

fn cmd() -> Command {
    common::diffgate()
}

/// One catalogue case: `run testdata/bad/<name>` (plus the flags in its
/// `args` file, one per line) exits 2 with one clear line on stderr.
fn bad_input(name: &str) {
    let case = root().join("testdata/bad").join(name);
    let rel = format!("testdata/bad/{name}");
    let extra = std::fs::read_to_string(case.join("args")).unwrap_or_default();
    let out = cmd()
        .args(["run", &rel])
        .args(extra.lines().map(str::trim).filter(|l| !l.is_empty()))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
    assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
    assert!(stderr.starts_with("diffgate: error: "), "{name}: {stderr}");
    // One line, except TOML errors, which show the offending line.
    if !stderr.contains("TOML parse error") {
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{name}: {stderr}"
    );
    insta::assert_snapshot!(format!("bad_{name}"), stderr);
}

/// A named test per directory of `testdata/bad`, so each failure is
/// reported on its own, and a check that none is left out.
macro_rules! bad_inputs {
    ($($name:ident),* $(,)?) => {
        mod bad {
            $(
                #[test]
                fn $name() {
                    super::bad_input(stringify!($name));
                }
            )*

            #[test]
            fn every_catalogue_case_has_a_test() {
                let listed = [$(stringify!($name)),*];
                let mut found: Vec<String> =
                    std::fs::read_dir(super::root().join("testdata/bad"))
                        .unwrap()
                        .map(|e| e.unwrap().path())
                        .filter(|p| p.is_dir())
                        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                        .collect();
                found.sort();
                assert_eq!(found, listed, "testdata/bad and the list of cases differ");
            }
        }
    };
}

bad_inputs!(
    as_of_not_a_date,
    bad_input_name,
    binary_csv,
    copy,
    copy_query,
    csv_header_not_utf8,
    ddl,
    dead_letter_is_a_directory,
    declared_type_no_column,
    declared_type_unknown,
    describe,
    empty_csv,
    empty_dir,
    empty_json_array,
    empty_key_list,
    empty_parquet,
    empty_sql,
    env_unknown,
    explain_analyze,
    external_table,
    header_only_csv,
    insert_into,
    invalid_toml,
    json_scalars,
    key_twice,
    key_type,
    malformed_json,
    missing_input,
    missing_key,
    missing_sql,
    mixed_dir,
    mixed_schema_dir,
    models_cycle,
    models_unknown_target,
    models_unsupported_jinja,
    ndjson_not_object,
    negative_dead_letter_fraction,
    negative_sample_size,
    negative_tol,
    read_file_function,
    set_statement,
    sql_invalid_utf8,
    sql_is_directory,
    strict_type_error,
    subset_as_of_missing,
    subset_fraction_above_one,
    subset_fraction_without_sample_column,
    subset_sample_column_missing,
    subset_where_not_an_input,
    subset_where_not_boolean,
    subset_where_unknown_column,
    syntax_error,
    transform_path_and_files,
    transform_path_without_base,
    truncated_parquet,
    two_statements,
    unknown_column,
    unknown_config_key,
    unknown_table,
    unknown_tolerance_column,
    unsupported_format,
    url_table,
    wrong_delimiter,
);

#[test]
fn transforms_may_not_write_or_change_the_session() {
    for (case, kind) in [
        ("ddl", "DDL"),
        ("copy", "COPY"),
        ("set_statement", "SetVariable"),
    ] {
        let out = cmd()
            .args(["run", &format!("testdata/bad/{case}")])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr.contains(kind), "{case}: {stderr}");
    }
    assert!(!root().join("testdata/bad/copy/stolen.csv").exists());
    assert!(!root().join("stolen.csv").exists());
}

#[test]
fn version_and_help_succeed() {
    assert_cmd_snapshot!(cmd().arg("--version"));
    let help = cmd().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("run") && text.contains("diff") && text.contains("Exit codes"));
}

#[test]
fn usage_errors_exit_2() {
    // Each snapshot records the exit code (2) and the one-line message.
    let cases: &[(&str, &[&str])] = &[
        ("no_arguments", &[]),
        (
            "negative_abs_tol",
            &["run", "scenarios/refactor", "--abs-tol", "-1"],
        ),
        (
            "nan_rel_tol",
            &["run", "scenarios/refactor", "--rel-tol", "NaN"],
        ),
        (
            "bad_column_tol",
            &["run", "scenarios/refactor", "--column-tol", "revenue=1"],
        ),
        (
            "zero_threads",
            &["run", "scenarios/refactor", "--threads", "0"],
        ),
        (
            "unknown_policy_key",
            &["run", "scenarios/refactor", "--policy", "rows_chnged=block"],
        ),
        (
            "bad_fail_on",
            &["run", "scenarios/refactor", "--fail-on", "sometimes"],
        ),
        (
            "unknown_ignored_column",
            &["run", "scenarios/refactor", "--ignore-column", "revenu"],
        ),
        ("missing_scenario", &["run", "scenarios/no_such_scenario"]),
        (
            "workers_without_distributed_engine",
            &[
                "run",
                "scenarios/refactor",
                "--workers",
                "http://127.0.0.1:50051",
            ],
        ),
        (
            "distributed_engine_without_workers",
            &["run", "scenarios/refactor", "--engine", "distributed"],
        ),
        (
            "worker_url_not_http",
            &[
                "run",
                "scenarios/refactor",
                "--engine",
                "distributed",
                "--workers",
                "127.0.0.1:50051",
            ],
        ),
        (
            "diff_missing_file",
            &[
                "diff",
                "testdata/shop/orders.csv",
                "testdata/shop/nope.parquet",
                "--key",
                "order_id",
            ],
        ),
    ];
    for (name, args) in cases {
        assert_cmd_snapshot!(*name, cmd().args(*args));
    }
}

#[test]
fn an_unwritable_report_path_is_an_error_and_leaves_nothing_behind() {
    let out = cmd()
        .args([
            "run",
            "scenarios/refactor",
            "--json",
            "no_such_dir/report.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no_such_dir/report.json"), "{stderr}");
    assert!(!root().join("no_such_dir").exists());
}

#[test]
fn diff_compares_two_existing_tables() {
    let out = cmd()
        .args([
            "diff",
            "testdata/shop/orders.csv",
            "testdata/shop/orders.csv",
            "--key",
            "order_id",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "promote");
    assert_eq!(report["rows"]["matched"], 600);
    assert_eq!(report["comparison"]["command"], "diff");
}

/// A runaway transform (a four-way cross join, about 10^11 rows) ends with
/// exit 2 and a message naming the limit, soon after the limit passes.
#[test]
fn time_limits_stop_a_runaway_transform() {
    for (flag, limit, what) in [
        (
            "--transform-timeout",
            "2s",
            "v2 transform testdata/runaway/v2.sql did not finish within --transform-timeout 2s",
        ),
        (
            "--timeout",
            "1500ms",
            "the run did not finish within --timeout 1s 500ms",
        ),
    ] {
        let started = std::time::Instant::now();
        let out = cmd()
            .args(["run", "testdata/runaway", flag, limit])
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(what), "{stderr}");
        assert!(
            elapsed < std::time::Duration::from_secs(20),
            "{flag} {limit} took {elapsed:?} to stop"
        );
    }
    // Durations are checked before anything runs.
    for bad in ["0s", "soon", "-1s"] {
        let out = cmd()
            .args(["run", "testdata/runaway", &format!("--timeout={bad}")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--timeout {bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--timeout"));
    }
}

/// Transforms are untrusted: they may read the declared inputs only. Each
/// attempt below is refused at planning time by DataFusion's SQL options or
/// catalog, with an error naming the statement kind; nothing is read from or
/// written outside the inputs.
#[test]
fn a_transform_cannot_read_undeclared_files_write_or_change_settings() {
    let stolen = Path::new("/tmp/diffgate-stolen.csv");
    let _ = std::fs::remove_file(stolen);
    for (case, says) in [
        (
            "url_table",
            "table 'datafusion.public./etc/passwd' not found",
        ),
        ("read_file_function", "table function 'read_csv' not found"),
        ("external_table", "DDL not supported: CreateExternalTable"),
        ("ddl", "DDL not supported: CreateMemoryTable"),
        ("copy", "DML not supported: COPY"),
        ("copy_query", "DML not supported: COPY"),
        ("insert_into", "DML not supported: Insert Into"),
        ("set_statement", "Statement not supported: SetVariable"),
        ("explain_analyze", "EXPLAIN ANALYZE is not a query"),
        ("describe", "DESCRIBE is not a query"),
        ("two_statements", "holds several statements"),
    ] {
        let out = cmd()
            .args(["run", &format!("testdata/bad/{case}")])
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{case}: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "diffgate: error: v2 transform testdata/bad/{case}/v2.sql"
            )),
            "{case}: {stderr}"
        );
        assert!(stderr.contains(says), "{case}: {stderr}");
        assert!(!stderr.contains("root:"), "{case} leaked /etc/passwd");
        assert!(out.stdout.is_empty());
    }
    assert!(!stolen.exists(), "COPY wrote a file");
}
