//! Inputs where they live, against real servers started here on loopback:
//! an S3 server (moto, with a fault-injecting proxy in front:
//! `tests/py/s3_server.py`) and a plain HTTP server. Remote inputs give
//! the same report as the same files read locally; transient faults are
//! retried and permanent ones fail at once naming the URL; an object that
//! changes between reads stops the run, or is read at its pinned version
//! where the bucket keeps versions; a diff fetches each object about once;
//! compressed text files are read decompressed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};

use serde_json::Value;

use crate::common::{diffgate, python, root};

/// A Python with moto and boto3 as well; `None` (skipped) without one,
/// unless DIFFGATE_PY_TESTS=require.
fn s3_python() -> Option<PathBuf> {
    let py = python()?;
    let ok = Command::new(&py)
        .args(["-c", "import moto.server, boto3"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let why = "no moto[server] and boto3 (pip install -r tests/py/requirements.txt)";
    if std::env::var("DIFFGATE_PY_TESTS").is_ok_and(|v| v == "require") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// The S3 server and its proxy, stopped when dropped.
pub(crate) struct S3 {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    moto: u16,
    proxy: u16,
}

impl S3 {
    pub(crate) fn start() -> Option<S3> {
        let py = s3_python()?;
        let mut child = Command::new(py)
            .arg(root().join("tests/py/s3_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let ports: Vec<u16> = line
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("s3_server.py: {line:?}"))
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        Some(S3 {
            child,
            stdin,
            stdout,
            moto: ports[0],
            proxy: ports[1],
        })
    }

    /// Send one command; its answer after `ok`.
    pub(crate) fn cmd(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let line = line.trim_end();
        match line.strip_prefix("ok") {
            Some(rest) => rest.trim().to_string(),
            None => panic!("{command}: {line}"),
        }
    }

    pub(crate) fn put(&mut self, bucket: &str, key: &str, file: &Path) {
        self.cmd(&format!("put {bucket} {key} {}", file.display()));
    }

    /// The environment a CI job would give diffgate for this server:
    /// through the proxy or straight to moto.
    pub(crate) fn env(&self, proxy: bool) -> Vec<(&'static str, String)> {
        let port = if proxy { self.proxy } else { self.moto };
        vec![
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = diffgate();
    for var in ["AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"] {
        cmd.env_remove(var);
    }
    cmd.args(args).args(["--format", "json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A report without what names where the data was read from (paths,
/// pins) and without timings: what must equal between local and remote.
pub(crate) fn findings(out: &Output) -> Value {
    let mut r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no report: {}", stderr(out)));
    let o = r.as_object_mut().unwrap();
    o.remove("timings");
    o.remove("inputs");
    o.remove("dead_letter");
    let c = o["comparison"].as_object_mut().unwrap();
    for k in ["v1", "v2", "reproduce"] {
        c.remove(k);
    }
    r
}

/// v1 and v2 of the shop's orders as Parquet (many row groups, written by
/// DuckDB), v2 with 30 changed amounts and 5 orders gone, and the same as
/// CSV.
pub(crate) fn data(dir: &Path) {
    let orders = root().join("testdata/shop/orders.csv");
    let script = format!(
        "import duckdb\n\
         c = duckdb.connect()\n\
         c.execute(\"create table v1 as select * from read_csv('{o}')\")\n\
         c.execute(\"create table v2 as select order_id, customer_id, order_date, status, \
           case when order_id % 20 = 0 then quantity + 1 else quantity end as quantity, unit_price \
           from v1 where order_id % 120 <> 7\")\n\
         for t in ['v1', 'v2']:\n\
         \x20   c.execute(f\"copy {{t}} to '{d}/{{t}}.parquet' (format parquet, row_group_size 64)\")\n\
         \x20   c.execute(f\"copy {{t}} to '{d}/{{t}}.csv' (header)\")\n",
        o = orders.display(),
        d = dir.display()
    );
    py_script(&script);
}

/// 200k rows a side in shuffled order (a differing row on nearly every
/// page), ten row groups, written by DuckDB as `v1.parquet` and
/// `v2.parquet`; v2 with one row in fifty changed and 200 gone, one key
/// twice and one NULL key.
pub(crate) fn shuffled(d: &Path) {
    py_script(&format!(
        "import duckdb\n\
         c = duckdb.connect()\n\
         c.execute(\"create table v1 as select i as id, i * 3 as a, 'name-' || (i % 1000) as s, \
           i * 1.5 as f from range(200000) t(i)\")\n\
         c.execute(\"create table v2 as select id, case when id % 50 = 0 then a + 1 else a end as a, \
           s, f from v1 where id % 1000 <> 7 \
           union all select 5, 0, 'again', 0 union all select null, 1, 'no key', 1\")\n\
         for t in ['v1', 'v2']:\n\
         \x20   c.execute(f\"copy (select * from {{t}} order by hash(id)) to '{d}/{{t}}.parquet' \
           (format parquet, row_group_size 20000)\")\n",
        d = d.display()
    ));
}

/// Run a Python script with the test Python; it must succeed.
pub(crate) fn py_script(script: &str) {
    crate::common::stdout_of(
        Command::new(python().unwrap()).args(["-c", script]),
        "python",
    );
}

/// `file` compressed next to it as `file.EXT` by Python's own modules.
pub(crate) fn compress(file: &Path, ext: &str) -> PathBuf {
    let module = match ext {
        "gz" => "gzip",
        "bz2" => "bz2",
        "xz" => "lzma",
        _ => unreachable!(),
    };
    let dst = PathBuf::from(format!("{}.{ext}", file.display()));
    let script = format!(
        "import {module}, shutil\n\
         with open('{}', 'rb') as f, {module}.open('{}', 'wb') as g: shutil.copyfileobj(f, g)\n",
        file.display(),
        dst.display()
    );
    py_script(&script);
    dst
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn s3_inputs_give_the_report_local_files_give_and_are_pinned() {
    let Some(mut s3) = S3::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    data(d);
    s3.cmd("bucket shop versioned");
    for f in ["v1.parquet", "v2.parquet"] {
        s3.put("shop", &format!("pq/{f}"), &d.join(f));
    }
    let local = run(
        &[
            "diff",
            s(&d.join("v1.parquet")),
            s(&d.join("v2.parquet")),
            "--key",
            "order_id",
        ],
        &[],
    );
    assert_eq!(local.status.code(), Some(1), "{}", stderr(&local));
    let remote = run(
        &[
            "diff",
            "s3://shop/pq/v1.parquet",
            "s3://shop/pq/v2.parquet",
            "--key",
            "order_id",
        ],
        &s3.env(false),
    );
    assert_eq!(remote.status.code(), Some(1), "{}", stderr(&remote));
    assert_eq!(findings(&remote), findings(&local));
    let r: Value = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!(r["rows"]["changed"], 30);
    let pin = &r["inputs"][0]["pinned"][0];
    assert_eq!(pin["url"], "s3://shop/pq/v1.parquet", "{pin}");
    assert!(
        pin["e_tag"].is_string() && pin["version"].is_string(),
        "{pin}"
    );
    assert_eq!(
        pin["size"],
        std::fs::metadata(d.join("v1.parquet")).unwrap().len()
    );

    // A folder of CSV parts, some compressed, as a scenario's input, the
    // endpoint given in the TOML (credentials still from the environment).
    let csv = std::fs::read_to_string(d.join("v1.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    let (header, rows) = (lines[0], &lines[1..]);
    let parts = d.join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    for (i, chunk) in rows.chunks(rows.len() / 3 + 1).enumerate() {
        let p = parts.join(format!("part-{i}.csv"));
        std::fs::write(&p, format!("{header}\n{}\n", chunk.join("\n"))).unwrap();
        let key = match i {
            0 => {
                s3.put("shop", "orders/part-0.csv", &p);
                continue;
            }
            1 => ("orders/part-1.csv.gz", compress(&p, "gz")),
            _ => ("orders/part-2.csv.xz", compress(&p, "xz")),
        };
        s3.put("shop", key.0, &key.1);
    }
    let scenario = d.join("scenario");
    std::fs::create_dir_all(&scenario).unwrap();
    for f in ["v1.sql", "v2.sql"] {
        std::fs::copy(
            root().join("scenarios/filter_bug").join(f),
            scenario.join(f),
        )
        .unwrap();
    }
    let toml = |orders: &str| {
        format!(
            "[inputs]\norders = {orders}\n[transform]\nv1 = \"v1.sql\"\nv2 = \"v2.sql\"\n[compare]\nkey = \"order_id\"\n"
        )
    };
    std::fs::write(
        scenario.join("diffgate.toml"),
        toml(&format!(
            "{{ path = \"s3://shop/orders/\", storage = {{ endpoint = \"http://127.0.0.1:{}\", allow_http = true }} }}",
            s3.moto
        )),
    )
    .unwrap();
    let mut env = s3.env(false);
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    let remote = run(&["run", s(&scenario)], &env);
    assert_eq!(remote.status.code(), Some(1), "{}", stderr(&remote));
    std::fs::write(
        scenario.join("diffgate.toml"),
        toml(&format!("{:?}", s(&d.join("v1.csv")))),
    )
    .unwrap();
    let local = run(&["run", s(&scenario)], &[]);
    assert_eq!(findings(&remote), findings(&local));
    let r: Value = serde_json::from_slice(&remote.stdout).unwrap();
    let pinned = r["inputs"][0]["pinned"].as_array().unwrap();
    let urls: Vec<&str> = pinned.iter().map(|p| p["url"].as_str().unwrap()).collect();
    assert_eq!(
        urls,
        [
            "s3://shop/orders/part-0.csv",
            "s3://shop/orders/part-1.csv.gz",
            "s3://shop/orders/part-2.csv.xz"
        ]
    );
    assert_eq!(r["inputs"][0]["rows_read"], rows.len());
}

#[test]
fn transient_faults_are_retried_and_permanent_ones_fail_at_once() {
    let Some(mut s3) = S3::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    data(d);
    s3.cmd("bucket shop");
    for f in ["v1.parquet", "v2.parquet", "v2.csv"] {
        s3.put("shop", f, &d.join(f));
    }
    let args = [
        "diff",
        "s3://shop/v1.parquet",
        "s3://shop/v2.parquet",
        "--key",
        "order_id",
    ];
    let clean = run(&args, &s3.env(true));
    assert_eq!(clean.status.code(), Some(1), "{}", stderr(&clean));
    // Every third request answered 503 SlowDown: retried, the same report.
    s3.cmd("faults fail_every 3");
    let slow = run(&args, &s3.env(true));
    assert_eq!(slow.status.code(), Some(1), "{}", stderr(&slow));
    assert_eq!(findings(&slow), findings(&clean));
    // A CSV object cut off half-way: read again in full, or a clean error;
    // never a report of half the rows.
    s3.cmd("faults reset_get 1");
    let cut = run(
        &[
            "diff",
            "s3://shop/v2.csv",
            "s3://shop/v2.csv",
            "--key",
            "order_id",
        ],
        &s3.env(true),
    );
    match cut.status.code() {
        Some(0) => {
            let r: Value = serde_json::from_slice(&cut.stdout).unwrap();
            assert_eq!(r["inputs"][0]["rows_read"], 595, "{r}");
        }
        Some(2) => assert!(
            stderr(&cut).contains("s3://shop/v2.csv"),
            "{}",
            stderr(&cut)
        ),
        other => panic!("{other:?}: {}", stderr(&cut)),
    }
    // Permanent: denied, missing object, missing bucket; at once, naming
    // the URL.
    s3.cmd("faults status 403");
    let t = std::time::Instant::now();
    let denied = run(&args, &s3.env(true));
    assert_eq!(denied.status.code(), Some(2));
    let e = stderr(&denied);
    assert!(
        e.contains("s3://shop/v1.parquet") && e.contains("access denied"),
        "{e}"
    );
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "not retried: {:?}",
        t.elapsed()
    );
    s3.cmd("faults none");
    for (url, what) in [
        ("s3://shop/nope.parquet", "no such object"),
        ("s3://no-bucket/v1.parquet", "s3://no-bucket"),
    ] {
        let out = run(&["diff", url, "s3://shop/v2.parquet"], &s3.env(true));
        assert_eq!(out.status.code(), Some(2), "{url}");
        let e = stderr(&out);
        assert!(e.contains(url) && e.contains(what), "{e}");
    }
}

#[test]
fn a_diff_fetches_each_object_about_once() {
    let Some(mut s3) = S3::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    shuffled(d);
    s3.cmd("bucket shop");
    let mut size = 0;
    for f in ["v1.parquet", "v2.parquet"] {
        s3.put("shop", f, &d.join(f));
        size += std::fs::metadata(d.join(f)).unwrap().len();
    }
    let diff = |extra: &[&str], s3: &mut S3| {
        s3.cmd("faults none");
        let mut args = vec![
            "diff",
            "s3://shop/v1.parquet",
            "s3://shop/v2.parquet",
            "--key",
            "id",
            "--fail-on",
            "never",
        ];
        args.extend(extra);
        let out = run(&args, &s3.env(true));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let stats = s3.cmd("stats");
        let sent: u64 = stats.split_whitespace().nth(2).unwrap().parse().unwrap();
        (out, sent as f64 / size as f64)
    };
    let (p1, p2) = (d.join("v1.parquet"), d.join("v2.parquet"));
    let local_args = vec!["diff", s(&p1), s(&p2), "--key", "id", "--fail-on", "never"];
    let local = run(&local_args, &[]);
    let (out, read) = diff(&[], &mut s3);
    assert_eq!(findings(&out), findings(&local));
    let report = findings(&out);
    let rows = &report["rows"];
    let counts = [
        &rows["changed"],
        &rows["duplicate_keys_v2"],
        &rows["null_keys_v2"],
    ];
    assert_eq!(counts, [4000, 1, 1], "{rows}");
    // The census reads each object once (and its footer) and keeps a copy
    // of what the second pass reads.
    assert!(read < 1.5, "fetched {read:.2} times the objects' size");
    // The same report at 1 and 8 threads (a partition's copy is a file).
    for threads in ["1", "8"] {
        let (at, read) = diff(&["--threads", threads], &mut s3);
        assert_eq!(findings(&at), findings(&local), "--threads {threads}");
        assert!(read < 1.5, "--threads {threads}: fetched {read:.2} times");
    }
    // So it does without the profile, whose row hash is made apart.
    let (plain, read) = diff(&["--no-profile"], &mut s3);
    let mut local_plain = local_args.clone();
    local_plain.push("--no-profile");
    assert_eq!(findings(&plain), findings(&run(&local_plain, &[])));
    assert!(read < 1.5, "fetched {read:.2} times the objects' size");
    // A declared change with a `where` may name any column, so the second
    // pass reads the objects again: the figure above tells the two apart.
    let expect = r#"{column = "a", change = "any", where = "s = 'none'", reason = "a test"}"#;
    let (again, twice) = diff(&["--expect", expect], &mut s3);
    assert_eq!(findings(&again)["rows"]["changed"], 4000);
    assert!(twice > 1.8, "fetched {twice:.2} times the objects' size");
}

#[test]
fn an_object_that_changes_between_reads_stops_the_run_unless_its_version_is_pinned() {
    let Some(mut s3) = S3::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    data(d);
    for (bucket, versioned) in [("plain", ""), ("kept", " versioned")] {
        s3.cmd(&format!("bucket {bucket}{versioned}"));
        s3.put(bucket, "t.parquet", &d.join("v1.parquet"));
        s3.put(bucket, "u.parquet", &d.join("v2.parquet"));
    }
    let args = |b: &str| {
        vec![
            "diff".to_string(),
            format!("s3://{b}/t.parquet"),
            format!("s3://{b}/u.parquet"),
            "--key".into(),
            "order_id".into(),
        ]
    };
    let argv = |b: &str| args(b);
    let report = |b: &str| d.join(format!("{b}.json"));
    let first = |b: &str, s3: &S3| {
        let mut a = argv(b);
        a.extend(["--json".to_string(), s(&report(b)).to_string()]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&a, &s3.env(true))
    };
    let unchanged = first("kept", &s3);
    assert_eq!(unchanged.status.code(), Some(1), "{}", stderr(&unchanged));
    assert_eq!(first("plain", &s3).status.code(), Some(1));
    // After diffgate's first read of t.parquet, it is replaced (with v2's
    // data) while the run goes on.
    for (bucket, expect_stop) in [("plain", true), ("kept", false)] {
        s3.cmd("faults none");
        s3.cmd(&format!(
            "mutate_after 1 {bucket} t.parquet {}",
            s(&d.join("v2.parquet"))
        ));
        let a = argv(bucket);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = run(&a, &s3.env(true));
        // The change came after the first read, and (where the run goes
        // on) before later ones.
        let gets: u32 = s3.cmd(&format!("gets {bucket} t.parquet")).parse().unwrap();
        let least = if expect_stop { 1 } else { 2 };
        assert!(gets >= least, "{bucket}: read {gets} time(s)");
        if expect_stop {
            assert_eq!(out.status.code(), Some(2), "{bucket}: {}", stderr(&out));
            let e = stderr(&out);
            assert!(e.contains("s3://plain/t.parquet changed"), "{e}");
        } else {
            assert_eq!(out.status.code(), Some(1), "{bucket}: {}", stderr(&out));
            assert_eq!(
                findings(&out),
                findings(&unchanged),
                "read at the pinned version"
            );
        }
    }
    // Both t.parquet objects now hold other data. Re-run as the first
    // reports pinned them: the kept version is read; the plain bucket has
    // no version to go back to.
    for (bucket, ok) in [("kept", true), ("plain", false)] {
        let mut a = argv(bucket);
        a.extend(["--pin-from".to_string(), s(&report(bucket)).to_string()]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = run(&a, &s3.env(false));
        if ok {
            assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
            assert_eq!(findings(&out), findings(&unchanged));
        } else {
            assert_eq!(out.status.code(), Some(2));
            let e = stderr(&out);
            assert!(
                e.contains("s3://plain/t.parquet changed since the report was made"),
                "{e}"
            );
        }
    }
}

#[test]
fn http_urls_and_compressed_files_read_as_their_plain_local_files() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    data(d);
    // A bad record in v2, to see the dead-letter file name the URL.
    let mut v2 = std::fs::read_to_string(d.join("v2.csv")).unwrap();
    v2.push_str("9999,1,2026-02-30,placed,1,1.00\n");
    std::fs::write(d.join("v2.csv"), v2).unwrap();
    let gz = compress(&d.join("v1.csv"), "gz");
    let bz = compress(&d.join("v2.csv"), "bz2");
    let plain = run(
        &[
            "diff",
            s(&d.join("v1.csv")),
            s(&d.join("v2.csv")),
            "--key",
            "order_id",
            "--dead-letter",
            s(&d.join("plain.ndjson")),
        ],
        &[],
    );
    assert_eq!(plain.status.code(), Some(1), "{}", stderr(&plain));
    let dl = d.join("packed.ndjson");
    let packed = run(
        &[
            "diff",
            s(&gz),
            s(&bz),
            "--key",
            "order_id",
            "--dead-letter",
            s(&dl),
        ],
        &[],
    );
    assert_eq!(findings(&packed), findings(&plain));
    // The same files from a web server.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Command::new(py)
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
            "--directory",
            s(d),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "http.server did not start");
    let base = format!("http://127.0.0.1:{port}");
    let dead = d.join("dead.ndjson");
    let web = run(
        &[
            "diff",
            &format!("{base}/v1.csv.gz"),
            &format!("{base}/v2.csv.bz2"),
            "--key",
            "order_id",
            "--dead-letter",
            s(&dead),
        ],
        &[],
    );
    // A signed URL: its token is masked in GitHub mode before anything is
    // printed, never repeated, and the URL is refused (the query would not
    // be sent).
    let signed = format!("{base}/v1.csv.gz?sig=abcdef123456");
    let gh = diffgate()
        .args(["diff", &signed, s(&bz), "--github", "always"])
        .env("GITHUB_STEP_SUMMARY", d.join("summary.md"))
        .env("GITHUB_OUTPUT", d.join("outputs"))
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let log = String::from_utf8_lossy(&gh.stdout);
    assert!(
        log.starts_with("::add-mask::sig=abcdef123456\n::add-mask::abcdef123456\n"),
        "{log}"
    );
    assert_eq!(gh.status.code(), Some(2));
    assert!(log.contains("query string"), "{log}");
    assert!(!log.lines().skip(2).any(|l| l.contains("abcdef")), "{log}");
    assert_eq!(web.status.code(), Some(1), "{}", stderr(&web));
    let mut a = findings(&web);
    let mut b = findings(&plain);
    // The dead-letter rule names the input; both have one bad record.
    for r in [&mut a, &mut b] {
        r.as_object_mut().unwrap().remove("rules");
        for reason in r["reasons"].as_array_mut().unwrap() {
            reason.as_object_mut().unwrap().remove("message");
        }
    }
    assert_eq!(a, b);
    let letter: Value = serde_json::from_str(
        std::fs::read_to_string(&dead)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(letter["file"], format!("{base}/v2.csv.bz2"), "{letter}");
}

#[test]
fn an_aws_profile_gives_keys_region_and_endpoint_when_the_environment_has_none() {
    let Some(mut s3) = S3::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    data(d);
    s3.cmd("bucket prof");
    for f in ["v1.parquet", "v2.parquet"] {
        s3.put("prof", f, &d.join(f));
    }
    let local = run(
        &[
            "diff",
            s(&d.join("v1.parquet")),
            s(&d.join("v2.parquet")),
            "--key",
            "order_id",
        ],
        &[],
    );
    // Keys in the credentials file, region and endpoint in the config file,
    // nothing of them in the environment.
    std::fs::write(
        d.join("credentials"),
        "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n\
         [ci]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .unwrap();
    std::fs::write(
        d.join("config"),
        format!(
            "[profile ci]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:{}\n\
             [profile admin]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = ci\n",
            s3.moto
        ),
    )
    .unwrap();
    let env = |profile: &str| {
        vec![
            ("AWS_PROFILE", profile.to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                s(&d.join("credentials")).to_string(),
            ),
            ("AWS_CONFIG_FILE", s(&d.join("config")).to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    };
    let args = [
        "diff",
        "s3://prof/v1.parquet",
        "s3://prof/v2.parquet",
        "--key",
        "order_id",
    ];
    let mut cmd_env = env("ci");
    let remote = {
        let mut cmd = crate::common::diffgate();
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
        ] {
            cmd.env_remove(var);
        }
        cmd.args(args).args(["--format", "json"]);
        for (k, v) in cmd_env.drain(..) {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    assert_eq!(remote.status.code(), Some(1), "{}", stderr(&remote));
    assert_eq!(findings(&remote), findings(&local));
    // A profile that needs the SDK's sign-in: exit 2 saying what to run.
    let mut cmd = crate::common::diffgate();
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.args(args).envs(env("admin")).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("role_arn") && e.contains("aws configure export-credentials --profile admin"),
        "{e}"
    );
    assert!(!e.contains("testing"), "{e}");
}

#[test]
fn text_objects_with_bad_records_stream_to_the_local_report_and_dead_letters() {
    let Some(mut s3) = S3::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    data(d);
    py_script(&format!(
        "import duckdb\n\
         duckdb.execute(\"copy (select * from read_csv('{d}/v2.csv')) to '{d}/v2.ndjson' (format json)\")\n",
        d = d.display()
    ));
    // Bad records at the start, in the middle (across the readers'
    // buffers) and at the end: wrong field counts; for JSON, lines that are
    // not JSON and one that is not an object. (The data is smaller than the
    // schema's sample, so a value of another type would change the schema
    // rather than be a bad record.)
    let insert = |file: &str, bad: &[(usize, &str)]| {
        let text = std::fs::read_to_string(d.join(file)).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        for (at, line) in bad {
            let at = (*at).min(lines.len());
            lines.insert(at, line.to_string());
        }
        let p = d.join(format!("bad-{file}"));
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        p
    };
    let csv = insert(
        "v2.csv",
        &[(2, "only,two"), (300, "1,2,3,4,5,6,7"), (usize::MAX, "1,2")],
    );
    let json = insert(
        "v2.ndjson",
        &[
            (1, "not json"),
            (250, "[1, 2]"),
            (usize::MAX, "{\"order_id\": 9"),
        ],
    );
    s3.cmd("bucket raw");
    s3.put("raw", "v2.csv.gz", &compress(&csv, "gz"));
    s3.put("raw", "v2.ndjson.bz2", &compress(&json, "bz2"));
    let dead = |out: &Path| -> Vec<Value> {
        std::fs::read_to_string(out)
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("file");
                v
            })
            .collect()
    };
    for (local, url, bad) in [
        (&csv, "s3://raw/v2.csv.gz", 3),
        (&json, "s3://raw/v2.ndjson.bz2", 3),
    ] {
        let v1 = d.join("v1.csv");
        let diff = |v2: &str, letters: &Path, env: &[(&str, String)], more: &[&str]| {
            let mut args = vec![
                "diff",
                s(&v1),
                v2,
                "--key",
                "order_id",
                "--dead-letter",
                s(letters),
            ];
            args.extend(more);
            run(&args, env)
        };
        let (at_home, away) = (d.join("local.ndjson"), d.join("remote.ndjson"));
        let here = diff(s(local), &at_home, &[], &[]);
        assert_eq!(here.status.code(), Some(1), "{}", stderr(&here));
        let there = diff(url, &away, &s3.env(false), &[]);
        assert_eq!(there.status.code(), Some(1), "{url}: {}", stderr(&there));
        assert_eq!(findings(&there), findings(&here), "{url}");
        let r: Value = serde_json::from_slice(&there.stdout).unwrap();
        let l: Value = serde_json::from_slice(&here.stdout).unwrap();
        for k in ["rows_read", "rows_dead_lettered"] {
            assert_eq!(r["inputs"][1][k], l["inputs"][1][k], "{url}: {k}");
        }
        assert_eq!(r["inputs"][1]["rows_dead_lettered"], bad, "{url}");
        // The same records, lines and errors, named by the URL.
        assert_eq!(dead(&away), dead(&at_home), "{url}");
        assert_eq!(dead(&away).len(), bad, "{url}");
        let first: Value = serde_json::from_str(
            std::fs::read_to_string(&away)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(first["file"], url, "{first}");
        // Files dealt out to partitions, each read on its own thread: the
        // same report at every thread count.
        for threads in ["1", "4", "8"] {
            let out = diff(url, &away, &s3.env(false), &["--threads", threads]);
            assert_eq!(findings(&out), findings(&here), "{url}, {threads} threads");
        }
    }
}

/// `run_args(scenario)` with `--format json --runs 2` and `extra`, in
/// the environment `env` alone (of the AWS variables).
pub(crate) fn run_scenario(scenario: &str, extra: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = diffgate();
    for var in ["AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"] {
        cmd.env_remove(var);
    }
    cmd.args(crate::common::run_args(scenario))
        .args(["--format", "json", "--runs", "2"])
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn a_run_whose_scratch_is_a_bucket_gives_the_local_report_and_leaves_nothing_there() {
    let Some(mut s3) = S3::start() else { return };
    s3.cmd("bucket scratch");
    let env = s3.env(true);
    // A transform (re-run on reordered inputs) and a folder of models:
    // every table they materialise goes to the bucket, and is read back.
    for scenario in ["scenarios/currency_leak", "scenarios/dbt_models"] {
        let local = run_scenario(scenario, &[], &[]);
        s3.cmd("faults none");
        let out = run_scenario(scenario, &["--scratch", "s3://scratch/runs"], &env);
        assert_eq!(out.status.code(), local.status.code(), "{}", stderr(&out));
        assert_eq!(findings(&out), findings(&local), "{scenario}");
        let puts: u64 = s3.cmd("method PUT").parse().unwrap();
        assert!(puts > 0, "{scenario}: nothing was written to the bucket");
        assert_eq!(s3.cmd("keys scratch"), "", "{scenario}: left behind");
    }
    // A run that fails after v1's output was written removes it too.
    let tmp = tempfile::tempdir().unwrap();
    let dir = root().join("scenarios/currency_leak");
    std::fs::copy(dir.join("v1.sql"), tmp.path().join("v1.sql")).unwrap();
    std::fs::write(tmp.path().join("v2.sql"), "SELECT * FROM no_such_table\n").unwrap();
    let config = std::fs::read_to_string(dir.join("diffgate.toml"))
        .unwrap()
        .replace("../../testdata", root().join("testdata").to_str().unwrap());
    std::fs::write(tmp.path().join("diffgate.toml"), config).unwrap();
    s3.cmd("faults none");
    let out = run(
        &["run", s(tmp.path()), "--scratch", "s3://scratch/runs"],
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no_such_table"), "{}", stderr(&out));
    let puts: u64 = s3.cmd("method PUT").parse().unwrap();
    assert!(puts > 0, "v1's output was not written to the bucket");
    assert_eq!(
        s3.cmd("keys scratch"),
        "",
        "a failed run left objects behind"
    );
    // A scratch prefix inside an input is refused before anything is read.
    let out = run(
        &[
            "diff",
            "s3://scratch/in/",
            "s3://scratch/in2/",
            "--key",
            "id",
            "--scratch",
            "s3://scratch/in/tmp",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("lies inside input `v1` (s3://scratch/in/)"),
        "{}",
        stderr(&out)
    );
}
