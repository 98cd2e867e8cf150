//! `run --base/--head`: v1 read from git, end to end through the real
//! binary, on a temporary repository with two commits (and a shallow clone
//! of it, as GitHub Actions checks out).

use crate::common;

use std::path::Path;
use std::process::Output;

use crate::common::git;

const V1_SQL: &str = "SELECT id, amount * 2 AS doubled FROM orders\n";
const V2_SQL: &str =
    "SELECT id, amount * 2 + CASE WHEN id = 3 THEN 1 ELSE 0 END AS doubled FROM orders\n";

/// A repository: `main` has the scenario (100 orders) with V1_SQL, `feature` one more
/// commit changing it to V2_SQL. Returns the two commit ids.
fn repo(dir: &Path) -> (String, String) {
    git(dir, &["init", "-q", "-b", "main"]);
    let s = dir.join("gate");
    std::fs::create_dir(&s).unwrap();
    std::fs::write(
        s.join("diffgate.toml"),
        "[inputs]\norders = \"orders.csv\"\n[transform]\npath = \"model.sql\"\n[compare]\nkey = \"id\"\n",
    )
    .unwrap();
    let rows: String = (1..=100).map(|i| format!("{i},{}\n", i * 10)).collect();
    std::fs::write(s.join("orders.csv"), format!("id,amount\n{rows}")).unwrap();
    std::fs::write(s.join("model.sql"), V1_SQL).unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "v1"]);
    let first = git(dir, &["rev-parse", "HEAD"]);
    git(dir, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(s.join("model.sql"), V2_SQL).unwrap();
    git(dir, &["commit", "-q", "-am", "v2"]);
    let second = git(dir, &["rev-parse", "HEAD"]);
    (first, second)
}

fn run(dir: &Path, args: &[&str]) -> Output {
    common::diffgate()
        .current_dir(dir)
        .args(["run", "gate", "--format", "json", "--fail-on", "never"])
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "exit 2 expected");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn base_reads_v1_from_git_and_the_report_records_both_commits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (first, second) = repo(d);

    // v1 at main, v2 from the working tree (= feature).
    let r = common::ok_json(&run(d, &["--base", "main"]));
    assert_eq!(r["rows"]["changed"], 1, "{r}");
    assert_eq!(r["verdict"], "review");
    assert_eq!(r["comparison"]["git"]["base"]["ref"], "main");
    assert_eq!(r["comparison"]["git"]["base"]["commit"], first.as_str());
    assert_eq!(r["comparison"]["git"]["head"]["commit"], second.as_str());
    assert_eq!(r["comparison"]["git"]["head"]["working_tree"], true);
    assert_eq!(r["comparison"]["sql"]["v1"], V1_SQL);
    assert_eq!(r["comparison"]["sql"]["v2"], V2_SQL);
    let label = r["comparison"]["v1"].as_str().unwrap();
    assert!(
        label.contains("model.sql @ main (") && label.contains(&first[..12]),
        "{label}"
    );

    // An uncommitted edit is what v2 reads without --head...
    std::fs::write(d.join("gate/model.sql"), V1_SQL).unwrap();
    let r = common::ok_json(&run(d, &["--base", "main"]));
    assert_eq!(r["verdict"], "promote", "{r}");
    // ...and --head reads the committed v2 instead.
    let r = common::ok_json(&run(d, &["--base", "main", "--head", "feature"]));
    assert_eq!(r["rows"]["changed"], 1);
    assert_eq!(r["comparison"]["git"]["head"]["ref"], "feature");
    assert!(r["comparison"]["git"]["head"].get("working_tree").is_none());
    // Refs can be any revision git understands.
    let r = common::ok_json(&run(d, &["--base", "HEAD~1", "--head", &second]));
    assert_eq!(r["rows"]["changed"], 1);
}

#[test]
fn bad_refs_and_paths_name_the_ref_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    repo(d);

    let e = stderr(&run(d, &["--base", "no-such-branch"]));
    assert!(
        e.contains("`no-such-branch`") && e.contains("no such commit"),
        "{e}"
    );
    let e = stderr(&run(d, &["--base", "main", "--head", "nope"]));
    assert!(e.contains("`nope`"), "{e}");

    // The file did not exist at the base commit.
    git(d, &["mv", "gate/model.sql", "gate/renamed.sql"]);
    std::fs::write(
        d.join("gate/diffgate.toml"),
        "[inputs]\norders = \"orders.csv\"\n[transform]\npath = \"renamed.sql\"\n[compare]\nkey = \"id\"\n",
    )
    .unwrap();
    let e = stderr(&run(d, &["--base", "main"]));
    assert!(e.contains("gate/renamed.sql: no such file at main"), "{e}");

    // --head without --base is a usage error.
    let e = stderr(&run(d, &["--head", "main"]));
    assert!(e.contains("--base"), "{e}");
}

#[test]
fn path_alone_needs_base_and_base_needs_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = d.join("gate");
    std::fs::create_dir(&s).unwrap();
    std::fs::write(
        s.join("diffgate.toml"),
        "[inputs]\norders = \"orders.csv\"\n[transform]\npath = \"model.sql\"\n",
    )
    .unwrap();
    std::fs::write(s.join("orders.csv"), "id,amount\n1,10\n").unwrap();
    std::fs::write(s.join("model.sql"), V1_SQL).unwrap();

    let e = stderr(&run(d, &[]));
    assert!(e.contains("transform.path") && e.contains("--base"), "{e}");
    let e = stderr(&run(d, &["--base", "main"]));
    assert!(
        e.contains("error: git:") && e.contains("not a git repository"),
        "{e}"
    );
}

#[test]
fn works_in_a_shallow_clone_once_the_base_is_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    let (first, _) = repo(&origin);

    // As actions/checkout does for a pull request: one commit, one branch.
    let clone = dir.path().join("clone");
    let url = format!("file://{}", origin.display());
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "--branch",
            "feature",
            "--single-branch",
            &url,
            "clone",
        ],
    );
    let e = stderr(&run(&clone, &["--base", "origin/main"]));
    assert!(e.contains("`origin/main`") && e.contains("fetch"), "{e}");

    git(
        &clone,
        &[
            "fetch",
            "-q",
            "--depth",
            "1",
            "origin",
            "main:refs/remotes/origin/main",
        ],
    );
    let r = common::ok_json(&run(&clone, &["--base", "origin/main"]));
    assert_eq!(r["comparison"]["git"]["base"]["commit"], first.as_str());
    assert_eq!(r["rows"]["changed"], 1);
}
