//! The run's metrics in Prometheus text format through the real binary:
//! `--metrics PATH` checked by Prometheus's own `promtool check metrics`,
//! label values that cannot forge a series, and `--pushgateway` against a
//! real Pushgateway started on loopback (its job and instance, the pushed
//! values read back), with a failed push an exit 2 that names no secret.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

/// A tool from Debian's Prometheus packages, or `None` (the test skips,
/// saying so), except with DIFFGATE_PY_TESTS=require (`.ci/run`), which
/// installs them.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let why =
            format!("no `{name}` on the PATH (apt-get install prometheus prometheus-pushgateway)");
        if std::env::var("DIFFGATE_PY_TESTS").is_ok_and(|v| v == "require") {
            panic!("{why}");
        }
        eprintln!("skipped: {why}");
    }
    found
}

fn promtool_accepts(file: &Path) {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let out = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(file).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_scenario(name: &str, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    common::diffgate()
        .args(["run", &format!("scenarios/{name}"), "--format", "json"])
        .arg("--dead-letter")
        .arg(dir.path().join("dead.ndjson"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn the_metrics_file_holds_the_pillars_and_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("diffgate.prom");
    let out = run_scenario("stale_orders", &["--metrics", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    for line in [
        "diffgate_verdict 2",
        "diffgate_rows{model=\"\",version=\"v1\"} 600",
        "diffgate_rows{model=\"\",version=\"v2\"} 206",
        "diffgate_rows_only{model=\"\",version=\"v1\"} 394",
        "diffgate_schema_breaking{model=\"\"} 0",
        "diffgate_contract_broken{model=\"\",check=\"freshness\",columns=\"order_date\"} 1",
        "diffgate_latest_timestamp_seconds{model=\"\",column=\"order_date\",version=\"v2\"} 1769817600",
        "diffgate_reasons{rule=\"contract_broken\",level=\"block\"} 1",
        "diffgate_input_records{input=\"orders\",state=\"read\"} 600",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("diffgate_stage_seconds{stage=\"total\"}"));
    assert!(text.contains("# TYPE diffgate_peak_memory_bytes gauge"));
    promtool_accepts(&file);
    // A model folder: one series per model.
    let out = run_scenario("dbt_models", &["--metrics", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("diffgate_model_verdict{model=\"stg_orders\"} 2"),
        "{text}"
    );
    promtool_accepts(&file);
}

#[test]
fn hostile_column_names_cannot_forge_a_series() {
    let dir = tempfile::tempdir().unwrap();
    let name = "a\"} 1\ndiffgate_verdict{x=\"";
    let header = format!("id,\"{}\"\n", name.replace('"', "\"\""));
    std::fs::write(dir.path().join("v1.csv"), format!("{header}1,2\n")).unwrap();
    std::fs::write(dir.path().join("v2.csv"), format!("{header}1,3\n")).unwrap();
    let file = dir.path().join("m.prom");
    let out = common::diffgate()
        .current_dir(dir.path())
        .args([
            "diff",
            "v1.csv",
            "v2.csv",
            "--key",
            "id",
            "--fail-on",
            "never",
        ])
        .args(["--dead-letter", "dead.ndjson", "--metrics", "m.prom"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let verdicts = text
        .lines()
        .filter(|l| l.starts_with("diffgate_verdict"))
        .count();
    assert_eq!(verdicts, 1, "{text}");
    assert!(
        text.contains(r#"column="a\"} 1\ndiffgate_verdict{x=\""} 1"#),
        "{text}"
    );
    promtool_accepts(&file);
}

/// A Pushgateway on a free loopback port, stopped when dropped.
struct Gateway {
    child: Child,
    url: String,
    state: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.state);
    }
}

fn gateway() -> Option<Gateway> {
    let bin = tool("prometheus-pushgateway")?;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Debian's build keeps pushed groups in a file under /var/lib by
    // default: a file of this test's own, so every run starts empty.
    let state = std::env::temp_dir().join(format!("diffgate-pushgateway-{port}.data"));
    let _ = std::fs::remove_file(&state);
    let child = Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--persistence.file={}", state.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let g = Gateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
        state,
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the Pushgateway did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(g)
}

/// What the gateway exposes, through a plain HTTP/1.0 GET.
fn scrape(url: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn metrics_are_pushed_to_a_real_pushgateway() {
    let Some(g) = gateway() else {
        return;
    };
    let out = run_scenario(
        "contract_broken",
        &[
            "--pushgateway",
            &g.url,
            "--metrics-job",
            "gate",
            "--metrics-instance",
            "ci/7",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = scrape(&g.url);
    let line = seen
        .lines()
        .find(|l| l.starts_with("diffgate_verdict{"))
        .unwrap_or_else(|| panic!("no verdict pushed:\n{seen}"));
    assert_eq!(line, r#"diffgate_verdict{instance="ci/7",job="gate"} 2"#);
    assert!(seen.contains(
        r#"diffgate_contract_broken{check="range",columns="amount",instance="ci/7",job="gate",model=""} 1"#
    ));
    // A second push replaces the group: the promoting scenario's verdict.
    let out = run_scenario(
        "refactor",
        &[
            "--pushgateway",
            &g.url,
            "--metrics-job",
            "gate",
            "--metrics-instance",
            "ci/7",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let seen = scrape(&g.url);
    assert!(
        seen.contains(r#"diffgate_verdict{instance="ci/7",job="gate"} 0"#),
        "{seen}"
    );
    assert!(
        !seen.contains("diffgate_contract_broken"),
        "the old group is replaced"
    );
}

#[test]
fn a_failed_push_is_exit_2_and_names_no_secret() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://ci:hunter2@127.0.0.1:{port}");
    let out = run_scenario("refactor", &["--pushgateway", &url]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--pushgateway http://127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(!report.to_string().contains("hunter2"));
}
