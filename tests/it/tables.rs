//! Table sources against the real things: Delta tables written by delta-rs's
//! own Python writer (`tests/py/delta_tables.py`), locally and on the S3
//! server of `storage.rs`, and a PostgreSQL server started here on loopback
//! (`initdb`, `pg_ctl`). Each gives the report the same rows give as files,
//! and is pinned: a Delta table at its version, a Postgres table by the hash
//! of the one copy both versions read.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{diffgate, python, root};

/// A scenario in `dir` comparing input `before` (v1) with `after` (v2),
/// keyed on `key`; `inputs` is the `[inputs]` table's body.
fn scenario(dir: &Path, inputs: &str, key: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("diffgate.toml"),
        format!(
            "[inputs]\n{inputs}\n[transform]\nv1 = \"v1.sql\"\nv2 = \"v2.sql\"\n\n[compare]\nkey = \"{key}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("v1.sql"), "select * from before\n").unwrap();
    std::fs::write(dir.join("v2.sql"), "select * from after\n").unwrap();
}

fn run(dir: &Path, extra: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = diffgate();
    cmd.arg("run")
        .arg(dir)
        .args(["--format", "json", "--dead-letter"])
        .arg(dir.join("dead.ndjson"))
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn report(out: &std::process::Output, code: i32) -> Value {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        serde_json::from_slice::<Value>(&out.stdout)
            .map_or(String::new(), |r| r["reasons"].to_string())
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What must agree between a table source and the same rows as files: the
/// report without inputs, timings and where things were read from.
#[cfg(any(feature = "delta", feature = "postgres"))]
fn findings(mut r: Value) -> Value {
    let o = r.as_object_mut().unwrap();
    for k in ["timings", "inputs", "dead_letter", "comparison"] {
        o.remove(k);
    }
    r
}

/// Delta table `orders` (versions 0 to 2) and each version's rows as
/// Parquet, in `dir`.
fn delta_tables(dir: &Path) -> Option<()> {
    let py = python()?;
    crate::common::stdout_of(
        Command::new(py)
            .arg(root().join("tests/py/delta_tables.py"))
            .arg(dir),
        "delta_tables.py",
    );
    Some(())
}

#[test]
fn a_delta_folder_is_never_read_as_its_parquet_files() {
    let Some(_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    delta_tables(d).unwrap();
    scenario(
        &d.join("as_parquet"),
        "before = \"../orders_v2.parquet\"\nafter = { path = \"../orders\", format = \"parquet\" }\n",
        "id",
    );
    let out = run(&d.join("as_parquet"), &[], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("after") && e.contains("is a Delta table") && e.contains("format = \"delta\""),
        "{e}"
    );
    // And `diff` of the folder itself: read as Delta, or refused when
    // this build has no Delta support; never the removed files' rows.
    let out = diffgate()
        .args(["diff"])
        .arg(d.join("orders_v2.parquet"))
        .arg(d.join("orders"))
        .args(["--key", "id", "--format", "json"])
        .output()
        .unwrap();
    if cfg!(feature = "delta") {
        let r = report(&out, 0);
        assert_eq!(r["rows"]["v2"], 270, "{}", r["rows"]);
    } else {
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("built without the `delta` feature"),
            "{}",
            stderr(&out)
        );
    }
}

#[cfg(feature = "delta")]
mod delta {
    use super::*;
    use crate::common::input;

    #[test]
    fn delta_versions_give_the_report_their_rows_give_as_parquet() {
        let Some(_) = python() else { return };
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        delta_tables(d).unwrap();
        for (name, before, after) in [
            (
                "v0_newest",
                "{ path = \"../orders\", version = 0 }",
                "\"../orders\"",
            ),
            (
                "v0_v2",
                "\"../orders_v0.parquet\"",
                "\"../orders_v2.parquet\"",
            ),
        ] {
            scenario(
                &d.join(name),
                &format!("before = {before}\nafter = {after}\n"),
                "id",
            );
        }
        // Deleted orders are removed rows: a gate failure. The same report
        // at 1, 4 and 8 threads.
        let files = report(&run(&d.join("v0_v2"), &[], &[]), 1);
        let delta = report(&run(&d.join("v0_newest"), &[], &[]), 1);
        for threads in ["1", "4", "8"] {
            let at = report(&run(&d.join("v0_newest"), &["--threads", threads], &[]), 1);
            assert_eq!(
                findings(at),
                findings(files.clone()),
                "at {threads} threads"
            );
        }
        assert_eq!(findings(delta.clone()), findings(files));
        assert_eq!(delta["rows"]["only_v1"], 30, "{}", delta["rows"]);
        assert_eq!(delta["rows"]["changed"], 5, "{}", delta["rows"]);
        let pin = |name: &str| input(&delta, name)["pinned"][0].clone();
        assert_eq!(pin("before")["version"], "0");
        assert_eq!(pin("after")["version"], "2");
        assert_eq!(pin("after")["kind"], "delta");
        assert_eq!(input(&delta, "after")["format"], "delta");
        // The partition column is read from the log, not the files.
        let region = delta["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "region")
            .expect("region compared");
        assert_eq!(region["mismatches"], 0);
    }

    #[test]
    fn a_delta_table_as_of_a_time_where_pushed_and_rerun_at_its_pinned_version() {
        let Some(py) = python() else { return };
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        delta_tables(d).unwrap();
        // A second after the last commit: `as_of` then means version 2
        // even once a newer version lands (times are whole seconds).
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let then = chrono_now();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        for (name, after) in [
            ("newest", String::new()),
            ("as_of", format!(", as_of = \"{then}\"")),
        ] {
            scenario(
                &d.join(name),
                &format!(
                    "before = {{ path = \"../orders\", version = 1, where = \"region = 'eu'\" }}\n\
                     after = {{ path = \"../orders\", where = \"region = 'eu'\"{after} }}\n"
                ),
                "id",
            );
        }
        // Three of 150 EU amounts changed: above the default 1% (exit 1).
        let first = report(&run(&d.join("newest"), &[], &[]), 1);
        assert_eq!(input(&first, "after")["pinned"][0]["version"], "2");
        let subset = &input(&first, "after")["subset"];
        assert_eq!(subset["rows_before"], 270, "{subset}");
        // The EU orders are the odd ids, none of them deleted.
        assert_eq!(subset["rows_after"], 150, "{subset}");
        assert_eq!(first["rows"]["changed"], 3, "{}", first["rows"]);
        let saved = d.join("first.json");
        std::fs::write(&saved, serde_json::to_vec(&first).unwrap()).unwrap();
        // A new version lands (five EU orders more).
        crate::common::stdout_of(
            Command::new(&py)
                .arg(root().join("tests/py/delta_tables.py"))
                .arg("append")
                .arg(d),
            "delta_tables.py append",
        );
        let newest = report(&run(&d.join("newest"), &[], &[]), 1);
        assert_eq!(input(&newest, "after")["pinned"][0]["version"], "3");
        assert_eq!(newest["rows"]["only_v2"], 5, "{}", newest["rows"]);
        // A rerun from the report, and `as_of` the earlier time, read 2.
        let pinned = run(
            &d.join("newest"),
            &["--pin-from", saved.to_str().unwrap()],
            &[],
        );
        let pinned = report(&pinned, 1);
        assert_eq!(input(&pinned, "after")["pinned"][0]["version"], "2");
        assert_eq!(findings(pinned), findings(first.clone()));
        let as_of = report(&run(&d.join("as_of"), &[], &[]), 1);
        assert_eq!(input(&as_of, "after")["pinned"][0]["version"], "2");
        assert_eq!(findings(as_of), findings(first));
        // A version that does not exist: exit 2 naming the input.
        scenario(
            &d.join("bad"),
            "before = { path = \"../orders\", version = 9 }\nafter = \"../orders\"\n",
            "id",
        );
        let out = run(&d.join("bad"), &[], &[]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("before"), "{}", stderr(&out));
    }

    fn chrono_now() -> String {
        let out = Command::new("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn a_delta_table_on_s3_gives_the_report_the_local_table_gives() {
        let Some(mut s3) = crate::storage::S3::start() else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        delta_tables(d).unwrap();
        s3.cmd("bucket lake");
        let table = d.join("orders");
        for entry in walk(&table) {
            let key = entry.strip_prefix(&table).unwrap().to_str().unwrap();
            s3.put("lake", &format!("orders/{key}"), &entry);
        }
        let env = s3.env(true);
        scenario(
            &d.join("local"),
            "before = { path = \"../orders\", version = 0 }\nafter = \"../orders\"\n",
            "id",
        );
        scenario(
            &d.join("remote"),
            "before = { path = \"s3://lake/orders\", version = 0 }\nafter = \"s3://lake/orders\"\n",
            "id",
        );
        let local = report(&run(&d.join("local"), &[], &[]), 1);
        let remote = report(&run(&d.join("remote"), &[], &env), 1);
        assert_eq!(findings(remote.clone()), findings(local));
        let pin = &input(&remote, "after")["pinned"][0];
        assert_eq!(pin["url"], "s3://lake/orders", "{pin}");
        assert_eq!(pin["version"], "2", "{pin}");
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out.sort();
        out
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::path::PathBuf;

    use super::*;
    use crate::common::input;

    const PASSWORD: &str = "pg-test-Secret-7731";

    /// A PostgreSQL server on loopback in a temporary folder, with password
    /// authentication; stopped when dropped. `None` (skipped) without the
    /// server binaries, unless DIFFGATE_PG_TESTS=require.
    pub(crate) struct Postgres {
        dir: tempfile::TempDir,
        bin: PathBuf,
        pub port: u16,
    }

    fn server_bin() -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").is_file())
            .collect();
        found.sort();
        if let Some(b) = found.pop() {
            return Some(b);
        }
        let why =
            "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)";
        if std::env::var("DIFFGATE_PG_TESTS").is_ok_and(|v| v == "require") {
            panic!("{why}");
        }
        eprintln!("skipped: {why}");
        None
    }

    fn is_root() -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    }

    /// `program` as the `postgres` user when run as root (the server
    /// refuses to run as root).
    fn as_server_user(bin: &Path, program: &str) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin.join(program));
            c
        } else {
            Command::new(bin.join(program))
        }
    }

    impl Postgres {
        pub(crate) fn start() -> Option<Postgres> {
            let bin = server_bin()?;
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            std::fs::write(d.join("pw"), PASSWORD).unwrap();
            // The server user reads the folder; only it may hold the data.
            Command::new("chmod").arg("755").arg(d).status().unwrap();
            Command::new("chmod")
                .arg("644")
                .arg(d.join("pw"))
                .status()
                .unwrap();
            std::fs::create_dir(d.join("data")).unwrap();
            if is_root() {
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(d.join("data"))
                    .status()
                    .unwrap();
            }
            crate::common::stdout_of(
                as_server_user(&bin, "initdb")
                    .arg("-D")
                    .arg(d.join("data"))
                    .args(["-U", "diffgate", "-A", "scram-sha-256", "--no-sync"])
                    .arg(format!("--pwfile={}", d.join("pw").display())),
                "initdb",
            );
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            crate::common::stdout_of(
                as_server_user(&bin, "pg_ctl")
                    .arg("-D")
                    .arg(d.join("data"))
                    .arg("-o")
                    .arg(format!(
                        "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c log_statement=all",
                        d.join("data").display()
                    ))
                    .arg("-l")
                    .arg(d.join("data/log"))
                    .args(["-w", "start"]),
                "pg_ctl start",
            );
            Some(Postgres { dir, bin, port })
        }

        /// Run SQL through psql; its output.
        pub(crate) fn psql(&self, sql: &str) -> String {
            let out = crate::common::stdout_of(
                Command::new(self.bin.join("psql"))
                    .args([
                        "-X",
                        "-q",
                        "-v",
                        "ON_ERROR_STOP=1",
                        "-At",
                        "-h",
                        "127.0.0.1",
                    ])
                    .args([
                        "-p",
                        &self.port.to_string(),
                        "-U",
                        "diffgate",
                        "-d",
                        "postgres",
                    ])
                    .args(["-c", sql])
                    .env("PGPASSWORD", PASSWORD),
                "psql",
            );
            String::from_utf8(out).unwrap()
        }

        /// The server's log: every statement it was sent.
        pub(crate) fn log(&self) -> String {
            std::fs::read_to_string(self.dir.path().join("data/log")).unwrap_or_default()
        }

        pub(crate) fn url(&self) -> String {
            format!(
                "postgresql://diffgate@127.0.0.1:{}/postgres?sslmode=disable",
                self.port
            )
        }
    }

    impl Drop for Postgres {
        fn drop(&mut self) {
            let _ = as_server_user(&self.bin, "pg_ctl")
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-m", "immediate", "stop"])
                .output();
        }
    }

    /// A server holding [`orders`], and a folder for the scenario.
    fn with_orders() -> Option<(Postgres, tempfile::TempDir)> {
        let pg = Postgres::start()?;
        orders(&pg);
        Some((pg, tempfile::tempdir().unwrap()))
    }

    /// The `[inputs]` of a scenario comparing Postgres table `t1` at `url1`
    /// (v1) with `t2` at `url2` (v2).
    fn pg_inputs(url1: &str, t1: &str, url2: &str, t2: &str) -> String {
        format!(
            "before = {{ path = \"{url1}\", table = \"{t1}\" }}\n\
             after = {{ path = \"{url2}\", table = \"{t2}\" }}\n"
        )
    }

    fn env() -> Vec<(&'static str, String)> {
        vec![("PGPASSWORD", PASSWORD.to_string())]
    }

    /// Orders v1 and v2 in Postgres: 500 rows; v2 drops 10, changes the
    /// amount of 25 and blanks 5 notes; numeric, text, date and float
    /// columns.
    fn orders(pg: &Postgres) {
        pg.psql(
            "create table orders_v1 as select g as id, round(g * 1.25, 2)::numeric(12,2) as amount, \
               case when g % 3 = 0 then 'open' else 'paid' end as status, \
               date '2026-01-01' + g % 30 as day, g * 0.5::float8 as weight, \
               'note ' || g as note from generate_series(1, 500) g; \
             create table orders_v2 as select * from orders_v1 where id % 50 <> 7; \
             update orders_v2 set amount = amount + 1 where id % 20 = 0; \
             update orders_v2 set note = null where id % 100 = 1;",
        );
    }

    /// The reference, asked of Postgres: orders only in v1, only in v2,
    /// with another amount, with another note, and changed at all.
    fn reference_counts(pg: &Postgres) -> Vec<u64> {
        pg.psql(
            "select (select count(*) from orders_v1 a where not exists (select 1 from orders_v2 b where b.id = a.id)), \
                    (select count(*) from orders_v2 b where not exists (select 1 from orders_v1 a where a.id = b.id)), \
                    (select count(*) from orders_v1 a join orders_v2 b using (id) where a.amount is distinct from b.amount), \
                    (select count(*) from orders_v1 a join orders_v2 b using (id) where a.note is distinct from b.note), \
                    (select count(*) from orders_v1 a join orders_v2 b using (id) \
                      where (a.amount, a.note) is distinct from (b.amount, b.note))",
        )
        .trim()
        .split('|')
        .map(|n| n.parse().unwrap())
        .collect()
    }

    /// The report's row counts are the reference's.
    fn assert_rows_as_counted(r: &Value, want: &[u64]) {
        let rows = &r["rows"];
        assert_eq!(
            [
                rows["only_v1"].as_u64(),
                rows["only_v2"].as_u64(),
                rows["changed"].as_u64()
            ],
            [Some(want[0]), Some(want[1]), Some(want[4])],
            "{rows}"
        );
    }

    #[test]
    fn postgres_tables_give_the_counts_postgres_itself_gives() {
        let Some((pg, tmp)) = with_orders() else {
            return;
        };
        let (d, url) = (tmp.path(), pg.url());
        scenario(
            d,
            &pg_inputs(&url, "public.orders_v1", &url, "orders_v2"),
            "id",
        );
        let r = report(&run(d, &[], &env()), 1);
        // The same report at 1, 4 and 8 threads.
        for threads in ["1", "4", "8"] {
            let again = report(&run(d, &["--threads", threads], &env()), 1);
            assert_eq!(findings(again), findings(r.clone()), "at {threads} threads");
        }
        // Copied into a bucket instead (`--scratch`, where the distributed
        // engine's workers read it), read back from there, then removed.
        if let Some(mut s3) = crate::storage::S3::start() {
            s3.cmd("bucket scratch");
            let mut both = env();
            both.extend(s3.env(false));
            let again = report(&run(d, &["--scratch", "s3://scratch/pg"], &both), 1);
            assert_eq!(findings(again), findings(r.clone()), "scratch in a bucket");
            assert_eq!(s3.cmd("keys scratch"), "", "copies left behind");
        }
        // The reference: the same counts asked of Postgres.
        let want = reference_counts(&pg);
        assert_rows_as_counted(&r, &want);
        let column = |name: &str| {
            r["columns"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .unwrap_or_else(|| panic!("no column {name}"))
                .clone()
        };
        assert_eq!(column("amount")["mismatches"], want[2]);
        assert_eq!(column("note")["mismatches"], want[3]);
        assert_eq!(column("note")["value_to_null"], want[3]);
        assert!(
            column("amount")["v1_type"]
                .as_str()
                .unwrap()
                .starts_with("Decimal128(12, 2)"),
            "{}",
            column("amount")
        );
        let pin = &input(&r, "before")["pinned"][0];
        assert_eq!(pin["kind"], "postgres");
        assert_eq!(pin["size"], 500);
        assert_eq!(
            pin["url"],
            format!(
                "postgresql://127.0.0.1:{}/postgres/public.orders_v1",
                pg.port
            )
        );
        assert!(!r.to_string().contains(PASSWORD));
    }

    #[test]
    fn a_postgres_where_is_sent_along_and_a_changed_table_stops_a_pinned_rerun() {
        let Some((pg, tmp)) = with_orders() else {
            return;
        };
        let (d, url) = (tmp.path(), pg.url());
        scenario(
            d,
            &format!(
                "before = {{ path = \"{url}\", table = \"orders_v1\", where = \"status = 'open'\" }}\n\
                 after = {{ path = \"{url}\", table = \"orders_v2\", where = \"status = 'open'\" }}\n"
            ),
            "id",
        );
        let first = report(&run(d, &[], &env()), 1);
        let subset = &input(&first, "before")["subset"];
        let open: u64 = pg
            .psql("select count(*) from orders_v1 where status = 'open'")
            .trim()
            .parse()
            .unwrap();
        assert_eq!(subset["rows_before"], 500, "{subset}");
        assert_eq!(subset["rows_after"], open, "{subset}");
        // The filter went to Postgres with the query that read the rows.
        let log = pg.log();
        assert!(
            log.lines()
                .any(|l| l.contains("orders_v1") && l.contains("WHERE") && l.contains("'open'")),
            "{log}"
        );
        let saved = d.join("first.json");
        std::fs::write(&saved, serde_json::to_vec(&first).unwrap()).unwrap();
        // Unchanged: a rerun from the report reads the same rows.
        let again = run(d, &["--pin-from", saved.to_str().unwrap()], &env());
        assert_eq!(findings(report(&again, 1)), findings(first));
        // Changed: Postgres keeps no earlier version, so the rerun stops.
        pg.psql("update orders_v2 set amount = amount * 2 where id = 3");
        let changed = run(d, &["--pin-from", saved.to_str().unwrap()], &env());
        assert_eq!(changed.status.code(), Some(2), "{}", stderr(&changed));
        let e = stderr(&changed);
        assert!(
            e.contains("orders_v2") && e.contains("changed since the report"),
            "{e}"
        );
    }

    #[test]
    fn a_postgres_query_reads_one_snapshot_read_only_typed_as_its_table() {
        let Some((pg, tmp)) = with_orders() else {
            return;
        };
        let (d, url) = (tmp.path(), pg.url());
        let query = |t: &str| {
            format!(
                "select o.id, o.amount, o.amount * 2 as doubled, o.note, s.label \
                 from {t} o join statuses s on s.status = o.status;"
            )
        };
        pg.psql(
            "create table statuses (status text primary key, label text); \
             insert into statuses values ('open', 'Open'), ('paid', 'Paid');",
        );
        let inputs = |q1: &str, q2: &str, extra: &str| {
            format!(
                "before = {{ path = \"{url}\", query = \"{q1}\"{extra} }}\n\
                 after = {{ path = \"{url}\", query = \"{q2}\"{extra} }}\n"
            )
        };
        // The queries' rows give the counts the tables give (the reference:
        // Postgres's own counts, as in the table test above).
        scenario(
            d,
            &inputs(&query("orders_v1"), &query("orders_v2"), ""),
            "id",
        );
        let r = report(&run(d, &[], &env()), 1);
        for threads in ["1", "4", "8"] {
            let again = report(&run(d, &["--threads", threads], &env()), 1);
            assert_eq!(findings(again), findings(r.clone()), "at {threads} threads");
        }
        let want = reference_counts(&pg);
        assert_rows_as_counted(&r, &want);
        let column = |r: &Value, name: &str| {
            r["columns"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .unwrap_or_else(|| panic!("no column {name}: {}", r["columns"]))
                .clone()
        };
        // `numeric(12,2)` keeps its precision and scale through a query, as
        // through a table; an expression's bare numeric is still a decimal.
        let amount = column(&r, "amount");
        assert!(
            amount["v1_type"]
                .as_str()
                .unwrap()
                .starts_with("Decimal128(12, 2)"),
            "{amount}"
        );
        assert_eq!(amount["mismatches"], want[2], "{amount}");
        let doubled = column(&r, "doubled");
        assert!(
            doubled["v1_type"]
                .as_str()
                .unwrap()
                .starts_with("Decimal128(38"),
            "{doubled}"
        );
        assert_eq!(doubled["mismatches"], want[2], "{doubled}");
        assert_eq!(column(&r, "note")["value_to_null"], want[3]);
        let pin = &input(&r, "before")["pinned"][0];
        assert_eq!(pin["kind"], "postgres");
        assert_eq!(pin["size"], 500);
        assert!(
            pin["url"].as_str().unwrap().starts_with(&format!(
                "postgresql://127.0.0.1:{}/postgres/query-",
                pg.port
            )),
            "{pin}"
        );
        // `where` applies to the query's rows.
        scenario(
            &d.join("open"),
            &inputs(
                &query("orders_v1"),
                &query("orders_v2"),
                ", where = \"label = 'Open'\"",
            ),
            "id",
        );
        let open = report(&run(&d.join("open"), &[], &env()), 1);
        let subset = &input(&open, "before")["subset"];
        let want: u64 = pg
            .psql("select count(*) from orders_v1 where status = 'open'")
            .trim()
            .parse()
            .unwrap();
        assert_eq!(subset["rows_before"], 500, "{subset}");
        assert_eq!(subset["rows_after"], want, "{subset}");
        // A query with no rows still has its columns: every v2 row is new.
        scenario(
            &d.join("empty"),
            &inputs(
                &query("orders_v1").replace(';', " where false"),
                &query("orders_v2"),
                "",
            ),
            "id",
        );
        let empty = report(&run(&d.join("empty"), &[], &env()), 0);
        assert_eq!(empty["verdict"], "review", "{}", empty["reasons"]);
        let v2_rows: u64 = pg
            .psql("select count(*) from orders_v2")
            .trim()
            .parse()
            .unwrap();
        assert_eq!(empty["rows"]["only_v2"], v2_rows, "{}", empty["rows"]);
        assert!(
            column(&empty, "amount")["v1_type"]
                .as_str()
                .unwrap()
                .starts_with("Decimal128(12, 2)"),
        );
        // Pinned by the hash of the result: unchanged, a rerun reads the
        // same; changed, it stops.
        let saved = d.join("first.json");
        std::fs::write(&saved, serde_json::to_vec(&r).unwrap()).unwrap();
        let again = run(d, &["--pin-from", saved.to_str().unwrap()], &env());
        assert_eq!(findings(report(&again, 1)), findings(r.clone()));
        pg.psql("update statuses set label = 'Settled' where status = 'paid'");
        let changed = run(d, &["--pin-from", saved.to_str().unwrap()], &env());
        assert_eq!(changed.status.code(), Some(2), "{}", stderr(&changed));
        assert!(
            stderr(&changed).contains("query's result changed since the report"),
            "{}",
            stderr(&changed)
        );
        // The transaction is read-only: a query that would write fails,
        // naming the input, and writes nothing.
        scenario(
            &d.join("writes"),
            &inputs(
                &query("orders_v1"),
                "with gone as (delete from orders_v2 returning *) select * from gone",
                "",
            ),
            "id",
        );
        let out = run(&d.join("writes"), &[], &env());
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let e = stderr(&out);
        assert!(
            e.contains("input `after`") && e.contains("read-only transaction"),
            "{e}"
        );
        assert_eq!(
            pg.psql("select count(*) from orders_v2").trim(),
            v2_rows.to_string()
        );
        // A query that does not parse names the input and Postgres's words.
        scenario(
            &d.join("bad"),
            &inputs(&query("orders_v1"), "select frm orders_v2", ""),
            "id",
        );
        let out = run(&d.join("bad"), &[], &env());
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let e = stderr(&out);
        assert!(e.contains("input `after`") && e.contains("query: "), "{e}");
    }

    #[test]
    fn a_postgres_password_comes_from_the_environment_and_is_never_printed() {
        let Some((pg, tmp)) = with_orders() else {
            return;
        };
        let (d, url) = (tmp.path(), pg.url());
        let with_password = url.replace("diffgate@", &format!("diffgate:{PASSWORD}@"));
        scenario(
            &d.join("in_url"),
            &pg_inputs(&with_password, "orders_v1", &url, "orders_v2"),
            "id",
        );
        let out = run(&d.join("in_url"), &[], &env());
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("PGPASSWORD"), "{}", stderr(&out));
        assert!(!stderr(&out).contains(PASSWORD));
        // Without it, the server refuses: exit 2 naming the input.
        scenario(
            &d.join("ok"),
            &pg_inputs(&url, "orders_v1", &url, "orders_v2"),
            "id",
        );
        let out = run(&d.join("ok"), &[], &[("PGPASSWORD", "wrong".into())]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let e = stderr(&out);
        assert!(
            e.contains("input `") && e.contains("cannot connect") && !e.contains("wrong"),
            "{e}"
        );
        // In GitHub mode the password is masked before anything is printed.
        let mut cmd = diffgate();
        cmd.arg("run")
            .arg(d.join("ok"))
            .args(["--dead-letter"])
            .arg(d.join("dead.ndjson"))
            .env("GITHUB_ACTIONS", "true")
            .env("PGPASSWORD", PASSWORD);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap_or("");
        assert_eq!(first, format!("::add-mask::{PASSWORD}"), "{text}");
        assert_eq!(text.matches(PASSWORD).count(), 1, "{text}");
        // A table that is not there names it.
        scenario(
            &d.join("missing"),
            &pg_inputs(&url, "nope", &url, "orders_v2"),
            "id",
        );
        let out = run(&d.join("missing"), &[], &env());
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    }
}
