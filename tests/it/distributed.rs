//! The distributed engine (feature `distributed`) on a real cluster:
//! `diffgate worker` processes started here on loopback ports, and
//! `diff`/`run --engine distributed --workers ...` against them. Reports
//! equal the local engine's (timings and input paths aside) at several
//! thread counts, over local files and over the S3 server of
//! [`crate::storage`]; every worker runs tasks; a dead worker stops the
//! run with exit 2 naming it, and no report is written.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

use serde_json::Value;

use crate::common::{diffgate, python, root, run_args};
use crate::storage::{S3, findings, run, shuffled, stderr};

/// Worker processes, stopped when dropped.
struct Cluster {
    workers: Vec<(Child, String, PathBuf)>,
    _logs: tempfile::TempDir,
}

impl Cluster {
    /// `n` workers on free loopback ports, with `env` (a store's
    /// credentials and endpoint).
    fn start(n: usize, env: &[(&str, String)]) -> Cluster {
        let logs = tempfile::tempdir().unwrap();
        let workers = (0..n)
            .map(|i| {
                let log = logs.path().join(format!("worker{i}.log"));
                let mut cmd = diffgate();
                cmd.args(["worker", "--listen", "127.0.0.1:0", "--threads", "2"])
                    .stdout(Stdio::piped())
                    .stderr(std::fs::File::create(&log).unwrap());
                for var in ["AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"] {
                    cmd.env_remove(var);
                }
                for (k, v) in env {
                    cmd.env(k, v);
                }
                let mut child = cmd.spawn().unwrap();
                let mut line = String::new();
                BufReader::new(child.stdout.take().unwrap())
                    .read_line(&mut line)
                    .unwrap();
                let addr = line
                    .trim()
                    .strip_prefix("listening on ")
                    .unwrap_or_else(|| panic!("worker {i}: {line:?}"))
                    .to_string();
                (child, format!("http://{addr}"), log)
            })
            .collect();
        Cluster {
            workers,
            _logs: logs,
        }
    }

    /// `--engine distributed --workers URL,URL` (and small tasks, so the
    /// test's files are spread over the workers too).
    fn flags(&self) -> Vec<String> {
        let urls: Vec<&str> = self.workers.iter().map(|w| w.1.as_str()).collect();
        vec![
            "--engine".into(),
            "distributed".into(),
            "--workers".into(),
            urls.join(","),
            "--bytes-per-task".into(),
            "64K".into(),
        ]
    }

    /// Tasks each worker has run so far.
    fn tasks(&self) -> Vec<usize> {
        self.workers
            .iter()
            .map(|w| {
                std::fs::read_to_string(&w.2)
                    .unwrap()
                    .lines()
                    .filter(|l| *l == "diffgate worker: running a task")
                    .count()
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (child, ..) in &mut self.workers {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The pair of [`shuffled`] in a new folder, with its two paths; `None`
/// (skipped) without the test Python.
fn pair() -> Option<(tempfile::TempDir, PathBuf, PathBuf)> {
    python()?;
    let tmp = tempfile::tempdir().unwrap();
    shuffled(tmp.path());
    let (p1, p2) = (tmp.path().join("v1.parquet"), tmp.path().join("v2.parquet"));
    Some((tmp, p1, p2))
}

fn with<S: AsRef<str>>(base: &[S], extra: &[String]) -> Vec<String> {
    base.iter()
        .map(|a| a.as_ref().to_string())
        .chain(extra.iter().cloned())
        .collect()
}

fn run_owned(args: &[String], env: &[(&str, String)]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, env)
}

fn counts(report: &Value) -> [&Value; 4] {
    let rows = &report["rows"];
    [
        &rows["changed"],
        &rows["only_v1"],
        &rows["duplicate_keys_v2"],
        &rows["null_keys_v2"],
    ]
}

#[test]
fn a_diff_on_two_workers_gives_the_local_report_at_any_thread_count() {
    let Some((_tmp, p1, p2)) = pair() else { return };
    let base = ["diff", s(&p1), s(&p2), "--key", "id", "--fail-on", "never"];
    let local = run(&base, &[]);
    assert_eq!(local.status.code(), Some(0), "{}", stderr(&local));
    let expected = findings(&local);
    assert_eq!(counts(&expected), [4000, 200, 1, 1]);
    let cluster = Cluster::start(2, &[]);
    for threads in ["1", "4", "8"] {
        let mut extra = cluster.flags();
        extra.extend(["--threads".into(), threads.into()]);
        let out = run_owned(&with(&base, &extra), &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(findings(&out), expected, "--threads {threads}");
    }
    // Without the profile, the row hash is the comparison's own function,
    // which the workers look up by name.
    let plain = with(&base, &["--no-profile".into()]);
    let local_plain = findings(&run_owned(&plain, &[]));
    let out = run_owned(&with(&plain, &cluster.flags()), &[]);
    assert_eq!(findings(&out), local_plain, "{}", stderr(&out));
    // Without a key, rows are compared as a multiset, by one aggregate.
    let keyless = ["diff", s(&p1), s(&p2), "--fail-on", "never"];
    let local_keyless = findings(&run(&keyless, &[]));
    let out = run_owned(&with(&keyless, &cluster.flags()), &[]);
    assert_eq!(findings(&out), local_keyless, "{}", stderr(&out));
    // Both workers ran some of it.
    let tasks = cluster.tasks();
    assert!(tasks.iter().all(|n| *n > 0), "tasks per worker: {tasks:?}");
}

#[test]
fn a_diff_of_s3_objects_on_two_workers_gives_the_local_report() {
    let Some(mut s3) = S3::start() else { return };
    let Some((_tmp, p1, p2)) = pair() else { return };
    s3.cmd("bucket shop");
    s3.put("shop", "v1.parquet", &p1);
    s3.put("shop", "v2.parquet", &p2);
    let local = findings(&run(
        &["diff", s(&p1), s(&p2), "--key", "id", "--fail-on", "never"],
        &[],
    ));
    // The workers read the bucket with credentials and endpoint from their
    // own environment, as the coordinator does.
    let env = s3.env(false);
    let cluster = Cluster::start(2, &env);
    let base = [
        "diff",
        "s3://shop/v1.parquet",
        "s3://shop/v2.parquet",
        "--key",
        "id",
        "--fail-on",
        "never",
    ];
    let out = run_owned(&with(&base, &cluster.flags()), &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(findings(&out), local);
    let tasks = cluster.tasks();
    assert!(tasks.iter().all(|n| *n > 0), "tasks per worker: {tasks:?}");
}

#[test]
fn a_scenario_run_on_two_workers_gives_the_local_report() {
    let scenario = "scenarios/currency_leak";
    let args = run_args(scenario);
    let mut local = diffgate();
    local.args(&args).args(["--format", "json"]);
    let local = local.output().unwrap();
    let cluster = Cluster::start(2, &[]);
    let mut dist = diffgate();
    dist.args(&args)
        .args(["--format", "json"])
        .args(cluster.flags());
    let out = dist.output().unwrap();
    assert_eq!(out.status.code(), local.status.code(), "{}", stderr(&out));
    assert_eq!(findings(&out), findings(&local));
    // A key-hash sample of the inputs: its function is sent to the workers
    // with its fraction and seed as arguments.
    let sampled = run_args("scenarios/canary_subset");
    let on = |extra: &[String]| {
        diffgate()
            .args(&sampled)
            .args(["--format", "json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let (a, b) = (on(&cluster.flags()), on(&[]));
    assert_eq!(a.status.code(), b.status.code(), "{}", stderr(&a));
    let report = findings(&a);
    assert_eq!(report, findings(&b));
    assert_eq!(report["verdict"], "promote");
    // A re-run on reordered inputs (the reordering stays in this process).
    let rerun = |extra: &[String]| {
        diffgate()
            .args(&args)
            .args(["--format", "json", "--runs", "2"])
            .args(extra)
            .output()
            .unwrap()
    };
    let (a, b) = (rerun(&cluster.flags()), rerun(&[]));
    assert_eq!(a.status.code(), b.status.code(), "{}", stderr(&a));
    assert_eq!(findings(&a), findings(&b));
    // The transforms' outputs are written where the workers read them.
    let tasks = cluster.tasks();
    assert!(tasks.iter().all(|n| *n > 0), "tasks per worker: {tasks:?}");
    // The same from the scenario's `[engine]` table instead of flags.
    let tmp = tempfile::tempdir().unwrap();
    let dir = root().join(scenario);
    for f in ["v1.sql", "v2.sql"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    let config = std::fs::read_to_string(dir.join("diffgate.toml"))
        .unwrap()
        .replace("../../testdata", root().join("testdata").to_str().unwrap());
    let urls: Vec<String> = cluster
        .workers
        .iter()
        .map(|w| format!("{:?}", w.1))
        .collect();
    let engine = format!(
        "\n[engine]\nkind = \"distributed\"\nworkers = [{}]\nbytes_per_task = \"64K\"\n",
        urls.join(", ")
    );
    std::fs::write(tmp.path().join("diffgate.toml"), config + &engine).unwrap();
    let out = diffgate()
        .args(["run", s(tmp.path()), "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), local.status.code(), "{}", stderr(&out));
    let (a, b) = (findings(&out), findings(&local));
    for part in ["verdict", "rows", "columns", "samples", "profile"] {
        assert_eq!(a[part], b[part], "{part}");
    }
    let more = cluster.tasks();
    assert!(
        more.iter().zip(&tasks).all(|(m, t)| m > t),
        "tasks per worker: {tasks:?}, then {more:?}"
    );
}

#[test]
fn a_worker_killed_mid_run_stops_it_naming_the_worker_and_no_report_is_written() {
    let Some((tmp, p1, p2)) = pair() else { return };
    let json = tmp.path().join("report.json");
    let mut cluster = Cluster::start(2, &[]);
    let victim = cluster.workers[1].1.clone();
    let args = with(
        &[
            "diff",
            s(&p1),
            s(&p2),
            "--key",
            "id",
            "--threads",
            "1",
            "--json",
            s(&json),
        ],
        &cluster.flags(),
    );
    let mut diff = diffgate()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed once it has been given its first task.
    let started = std::time::Instant::now();
    while cluster.tasks()[1] == 0 {
        assert!(
            started.elapsed().as_secs() < 60,
            "the worker was never given a task"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (child, ..) = &mut cluster.workers[1];
    child.kill().unwrap();
    child.wait().unwrap();
    // The run ends (no hang), and ends whole or not at all.
    let mut waited = 0;
    let status = loop {
        if let Some(status) = diff.try_wait().unwrap() {
            break status;
        }
        assert!(
            waited < 120_000,
            "the run did not end after its worker died"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        waited += 50;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut diff.stderr.take().unwrap(), &mut err).unwrap();
    match status.code() {
        Some(2) => {
            let port = victim.rsplit(':').next().unwrap();
            assert!(
                err.contains(port),
                "the dead worker {victim} is not named: {err}"
            );
            assert!(!json.exists(), "a report was written");
        }
        // It had finished its share before it died: the whole report.
        Some(0 | 1) => {
            let local = run(&["diff", s(&p1), s(&p2), "--key", "id"], &[]);
            let written: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
            assert_eq!(written["rows"], findings(&local)["rows"], "{err}");
            eprintln!("the run finished before the worker died");
        }
        other => panic!("exit {other:?}: {err}"),
    }
}

#[test]
fn a_dead_worker_stops_the_run_naming_it_and_no_report_is_written() {
    let Some((tmp, p1, p2)) = pair() else { return };
    let mut cluster = Cluster::start(2, &[]);
    let dead = cluster.workers[1].1.clone();
    let child = &mut cluster.workers[1].0;
    child.kill().unwrap();
    child.wait().unwrap();
    let json = tmp.path().join("report.json");
    let base = ["diff", s(&p1), s(&p2), "--key", "id", "--json", s(&json)];
    let out = run_owned(&with(&base, &cluster.flags()), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let port = dead.rsplit(':').next().unwrap();
    assert!(
        err.contains(port),
        "the dead worker {dead} is not named: {err}"
    );
    assert!(out.stdout.is_empty(), "a report was printed");
    assert!(!json.exists(), "a report was written");
    // A worker URL that is not one is a usage error before anything runs.
    let out = run_owned(
        &with(
            &base[..5],
            &[
                "--engine".into(),
                "distributed".into(),
                "--workers".into(),
                "ftp://x".into(),
            ],
        ),
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--workers \"ftp://x\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_run_whose_scratch_is_a_bucket_gives_the_local_report_on_two_workers() {
    let Some(mut s3) = S3::start() else { return };
    s3.cmd("bucket scratch");
    // The workers read the materialised tables from the bucket, with
    // their own credentials: nothing of them is on a disk they share.
    let env = s3.env(false);
    let cluster = Cluster::start(2, &env);
    let mut extra = cluster.flags();
    extra.extend(["--scratch".into(), "s3://scratch/runs".into()]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut before = vec![0, 0];
    for scenario in ["scenarios/currency_leak", "scenarios/dbt_models"] {
        let local = crate::storage::run_scenario(scenario, &[], &[]);
        let out = crate::storage::run_scenario(scenario, &extra, &env);
        assert_eq!(out.status.code(), local.status.code(), "{}", stderr(&out));
        assert_eq!(findings(&out), findings(&local), "{scenario}");
        let tasks = cluster.tasks();
        assert!(
            tasks.iter().zip(&before).all(|(t, b)| t > b),
            "{scenario}: tasks per worker {before:?}, then {tasks:?}"
        );
        before = tasks;
        assert_eq!(s3.cmd("keys scratch"), "", "{scenario}: left behind");
    }
}
