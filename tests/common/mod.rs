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
