//! Another oracle: 200 seeded random table pairs (duplicate and NULL keys,
//! NaN, -0.0 and infinities, composite and keyless comparisons, tolerances,
//! retyped and renamed columns, empty tables; each pair written by one of
//! the writers of `tests/py/writers.py`) through `diffgate diff` at 1, 4
//! and 8 threads, and through DuckDB SQL written from the README's
//! semantics (`tests/py/oracle.py`): every row count, every per-column
//! count, and every changed, only-v1 and only-v2 key must agree. The
//! oracle's own SQL is checked against a plain-Python reading of the
//! README by its `--self-test`.

use crate::common;

/// The seed CI runs; `DIFFGATE_ORACLE_SEED` picks another.
const SEED: &str = "20261201";

#[test]
fn diffgate_agrees_with_duckdb_on_random_pairs() {
    let Some(py) = common::python() else { return };
    let seed = std::env::var("DIFFGATE_ORACLE_SEED").unwrap_or_else(|_| SEED.into());
    let script = common::root().join("tests/py/oracle.py");
    let self_test = std::process::Command::new(&py)
        .arg(&script)
        .args(["--self-test", "--cases", "200", "--seed", &seed])
        .output()
        .unwrap();
    assert!(
        self_test.status.success(),
        "the oracle's SQL disagrees with its plain reference: {}{}",
        String::from_utf8_lossy(&self_test.stdout),
        String::from_utf8_lossy(&self_test.stderr)
    );
    let out = std::process::Command::new(&py)
        .arg(&script)
        .arg("--diffgate")
        .arg(env!("CARGO_BIN_EXE_diffgate"))
        .args(["--cases", "200", "--seed", &seed])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "diffgate and DuckDB disagree (seed {seed}):\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("oracle: 200 cases, 200 agree"), "{stdout}");
    eprintln!("{}", stdout.lines().next().unwrap_or(""));
}
