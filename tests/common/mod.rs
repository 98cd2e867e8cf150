//! The one way the tests start diffgate: the real binary, from the project
//! root, with the environment variables that change its output removed
//! (GitHub Actions mode and its files, colour forcing), so the tests behave
//! the same on a laptop and on a CI runner, and never write to the runner's
//! own step summary.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

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
