//! The one way the tests start diffgate: the real binary, from the project
//! root, with the environment variables that change its output removed
//! (GitHub Actions mode and its files, colour forcing), so the tests behave
//! the same on a laptop and on a CI runner, and never write to the runner's
//! own step summary.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn diffgate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_diffgate"));
    cmd.current_dir(root());
    for var in [
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_OUTPUT",
        "NO_COLOR",
        "CLICOLOR_FORCE",
        "CLICOLOR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// `run <scenario>` with the dead-letter file sent under `target/tmp`, so
/// a scenario with bad records never writes into the source tree, and the
/// path in its report stays the same from run to run.
pub fn run_args(scenario: &str) -> Vec<String> {
    let name = scenario.replace('/', "_");
    vec![
        "run".into(),
        scenario.into(),
        "--dead-letter".into(),
        format!("target/tmp/dead-letter/{name}.ndjson"),
    ]
}

/// Scenarios whose v2 is order-dependent by design: which rows it keeps
/// varies with the thread count, so their reports are not snapshotted;
/// their verdict and their `nondeterministic` finding are asserted instead.
pub const ORDER_DEPENDENT: &[&str] = &["nondeterministic_row_number"];

/// Whether a scenario's reports are the same on every machine.
pub fn snapshot_stable(scenario: &str) -> bool {
    let name = scenario.trim_start_matches("scenarios/");
    !ORDER_DEPENDENT.contains(&name)
}

/// The JSON report a successful run printed (exit 0, or the stderr shown).
pub fn ok_json(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is a JSON report")
}

/// A scenario in `dir` with one input and the model folders `v1/` and
/// `v2/` given as (relative path, SQL) pairs.
pub fn model_folder(dir: &Path, extra_config: &str, v1: &[(&str, &str)], v2: &[(&str, &str)]) {
    let rows: String = (1..=50).map(|i| format!("{i},{}\n", i % 7)).collect();
    std::fs::write(dir.join("t.csv"), format!("id,g\n{rows}")).unwrap();
    std::fs::write(
        dir.join("diffgate.toml"),
        format!(
            "[inputs]\nt = \"t.csv\"\n[transform]\nv1 = \"v1\"\nv2 = \"v2\"\n{extra_config}\n[compare]\nkey = \"id\"\n"
        ),
    )
    .unwrap();
    for (side, models) in [("v1", v1), ("v2", v2)] {
        for (rel, sql) in models {
            let p = dir.join(side).join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, sql).unwrap();
        }
    }
}

/// The rules of a report's reasons, in order.
pub fn rules_fired(report: &serde_json::Value) -> Vec<&str> {
    report["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["rule"].as_str().expect("a rule name"))
        .collect()
}

/// The report's entry for input `name`.
pub fn input<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no input {name}"))
}

/// `git -C dir args...` with a fixed identity and no system config; its
/// trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A Python with pyarrow, Polars and DuckDB for the tests that write files
/// as other writers do and ask DuckDB for reference counts
/// (`tests/py/requirements.txt`): `$DIFFGATE_PYTHON`, else the virtual
/// environment `.ci/run` makes, else `python3`. `None` (the test skips,
/// saying so) when it lacks them, except with DIFFGATE_PY_TESTS=require,
/// which `.ci/run` sets: then a missing tool fails the test.
pub fn python() -> Option<std::path::PathBuf> {
    let candidates: Vec<std::path::PathBuf> = match std::env::var_os("DIFFGATE_PYTHON") {
        Some(p) => vec![p.into()],
        None => {
            let mut c = Vec::new();
            if let Some(home) = std::env::var_os("HOME") {
                c.push(Path::new(&home).join(".cache/diffgate-venv/bin/python"));
            }
            c.push("python3".into());
            c
        }
    };
    for py in &candidates {
        let ok = Command::new(py)
            .args(["-c", "import pyarrow, polars, duckdb"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py.clone());
        }
    }
    let why = format!(
        "no Python with pyarrow, polars and duckdb (tried {candidates:?}; \
         pip install -r tests/py/requirements.txt)"
    );
    if std::env::var("DIFFGATE_PY_TESTS").is_ok_and(|v| v == "require") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// Copy what folder `from` holds into `to`, over what is there.
pub fn copy_into(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let status = Command::new("cp")
        .arg("-R")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Run `cmd`, which must succeed (else the test fails with `what` and its
/// stderr); its stdout.
pub fn stdout_of(cmd: &mut Command, what: &str) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Rows of a DuckDB query as JSON lines, or `None` when no Python with
/// DuckDB is here (the test then skips that part, saying so).
pub fn duckdb(dir: &Path, sql: &str) -> Option<Vec<Value>> {
    let py = python()?;
    let script = format!(
        "import duckdb, json\nfor r in duckdb.sql({sql:?}).fetchall():\n    print(json.dumps(r, default=str))"
    );
    let out = stdout_of(
        Command::new(py).current_dir(dir).args(["-c", &script]),
        "duckdb",
    );
    Some(
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}
