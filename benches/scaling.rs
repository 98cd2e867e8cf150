//! `cargo bench --bench scaling [-- SIZE...] [--repeats N] [--limit SIZE]
//! [--changed PCT,...] [--diff-only]`
//!
//! Generates a pair of Parquet files per size deterministically (12 mixed
//! columns besides the `id` key, 1% of common rows changed in one column,
//! 0.5% removed, 0.5% added, rows shuffled; streamed to disk a row group
//! at a time, so any size fits in memory; cached under
//! `target/bench-data/`), runs the release `diffgate diff` on them, checks
//! its counts against the generator's own, and prints wall time, rows per
//! second, nanoseconds per row and peak RSS per size: the scaling curve,
//! each size also with `--no-profile` (runs interleaved) to show what the
//! profile adds.
//! Then, at the largest size: the diff once more under `--memory-limit`
//! (default 512M); with `--changed`, the same diff at each share of rows
//! changed (the change-rate curve); and, unless `--diff-only`,
//! `diffgate run` with transforms that select the pair as it is (what
//! running and materialising adds), re-rendering its report in each
//! format, and the start-up time of `diffgate --version`.
//!
//! A benchmark, not a test: it prints figures and fails only when
//! diffgate's counts are wrong or it exits with an error.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

/// Bump when the generated data changes.
const GENERATOR_VERSION: u32 = 2;
const BATCH: usize = 131_072;

fn main() {
    let mut sizes = Vec::new();
    let mut repeats = 3;
    let mut limit = "512M".to_string();
    let mut rates: Vec<Ppm> = Vec::new();
    let mut diff_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--repeats" => repeats = args.next().and_then(|n| n.parse().ok()).unwrap_or(3),
            "--limit" => limit = args.next().unwrap_or(limit),
            "--diff-only" => diff_only = true,
            "--changed" => {
                let list = args.next().unwrap_or_default();
                for pct in list.split(',') {
                    match pct.trim_end_matches('%').parse::<f64>() {
                        Ok(p) if (0.0..=100.0).contains(&p) => {
                            rates.push(Ppm((p * 10_000.0).round() as u64));
                        }
                        _ => {
                            eprintln!("--changed takes percentages, e.g. 0.01,1,30: not {pct}");
                            std::process::exit(2);
                        }
                    }
                }
            }
            s => match parse_rows(s) {
                Some(n) => sizes.push(n),
                None => {
                    eprintln!("unknown argument {s}: sizes look like 100k, 1M, 10M");
                    std::process::exit(2);
                }
            },
        }
    }
    if sizes.is_empty() {
        sizes = vec![100_000, 1_000_000, 10_000_000];
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_diffgate"));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    println!(
        "diffgate {} | {} cores | repeats {repeats} (median wall, max RSS)",
        env!("CARGO_PKG_VERSION"),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:>12} {:>10} {:>14} {:>10} {:>10}  counts",
        "rows/side", "wall s", "rows/s/side", "ns/row", "RSS MiB"
    );
    let mut last = None;
    let mut last_wall = Duration::ZERO;
    for &n in &sizes {
        let dir = data_dir(&data, n, Ppm::DEFAULT);
        let truth = generate(&dir, n, Ppm::DEFAULT);
        let mut walls = Vec::new();
        let mut bare = Vec::new();
        let (mut rss, mut bare_rss) = (0, 0);
        let mut verdict = String::new();
        // Interleaved with the same diff without the profile, so both see
        // the machine alike.
        for _ in 0..repeats {
            let (wall, peak, report) = diff(&bin, &dir, &[]);
            verdict = check(&report, &truth);
            walls.push(wall);
            rss = rss.max(peak);
            let (wall, peak, report) = diff(&bin, &dir, &["--no-profile"]);
            check(&report, &truth);
            bare.push(wall);
            bare_rss = bare_rss.max(peak);
        }
        let wall = median(&mut walls);
        print_row(n, wall, rss, &verdict);
        let without = median(&mut bare);
        println!(
            "{:>12} {:>10.2} {:>14} {:>10} {:>10}  --no-profile: the profile adds {:+.0}%",
            "",
            without.as_secs_f64(),
            "",
            "",
            bare_rss >> 20,
            (wall.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
        );
        last = Some((n, dir, truth));
        last_wall = wall;
    }
    if let Some((n, dir, truth)) = &last {
        let (n, dir, truth) = (*n, dir.as_path(), truth);
        let spill = tempfile::tempdir().expect("a spill directory");
        let spill_arg = spill.path().to_string_lossy().to_string();
        let (wall, peak, report) = diff(
            &bin,
            dir,
            &["--memory-limit", &limit, "--spill-dir", &spill_arg],
        );
        let verdict = check(&report, truth);
        print_row(
            n,
            wall,
            peak,
            &format!("{verdict}  (--memory-limit {limit})"),
        );
        if !rates.is_empty() {
            change_rates(&bin, &data, n, &rates, repeats);
        }
        if diff_only {
            return;
        }
        run_overhead(&bin, dir, n, truth, repeats, last_wall);
        // A report with samples, from a diff without a limit.
        diff(&bin, dir, &[]);
        render(&bin, dir);
    }
    let mut starts: Vec<Duration> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let ok = Command::new(&bin).arg("--version").output().expect("runs");
            assert!(ok.status.success());
            t.elapsed()
        })
        .collect();
    println!(
        "diffgate --version: {:.1} ms (median of 21)",
        median(&mut starts).as_secs_f64() * 1e3
    );
}

/// A share of the common rows, in parts per million.
#[derive(Debug, Clone, Copy)]
struct Ppm(u64);

impl Ppm {
    /// 1% of common rows changed.
    const DEFAULT: Ppm = Ppm(10_000);

    fn percent(self) -> String {
        format!("{}%", self.0 as f64 / 10_000.0)
    }
}

fn data_dir(data: &Path, n: u64, rate: Ppm) -> PathBuf {
    data.join(format!("{}-c{}-v{GENERATOR_VERSION}", label(n), rate.0))
}

/// The same diff at `n` rows per side with each share of rows changed:
/// what the detailed comparison costs as the diff grows.
fn change_rates(bin: &Path, data: &Path, n: u64, rates: &[Ppm], repeats: usize) {
    println!(
        "change rate at {} rows per side:\n{:>12} {:>10} {:>10} {:>10} {:>12}  counts",
        label(n),
        "changed",
        "wall s",
        "ns/row",
        "RSS MiB",
        "compare s"
    );
    for &rate in rates {
        let dir = data_dir(data, n, rate);
        let truth = generate(&dir, n, rate);
        let mut runs = Vec::new();
        let mut rss = 0;
        let mut verdict = String::new();
        for _ in 0..repeats {
            let (wall, peak, report) = diff(bin, &dir, &[]);
            verdict = check(&report, &truth);
            runs.push((wall, report["timings"]["compare_ms"].as_u64().unwrap_or(0)));
            rss = rss.max(peak);
        }
        runs.sort();
        let (wall, compare) = runs[runs.len() / 2];
        println!(
            "{:>12} {:>10.2} {:>10.0} {:>10} {:>12.2}  {verdict}",
            rate.percent(),
            wall.as_secs_f64(),
            wall.as_nanos() as f64 / n as f64,
            rss >> 20,
            compare as f64 / 1e3,
        );
    }
}

fn parse_rows(s: &str) -> Option<u64> {
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1_000),
        'm' | 'M' => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult).filter(|n| *n > 0)
}

fn label(n: u64) -> String {
    match n {
        n if n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// One line of the scaling table: size, wall, rows/s, ns/row, RSS, counts.
fn print_row(n: u64, wall: Duration, rss: u64, counts: &str) {
    println!(
        "{:>12} {:>10.2} {:>14.0} {:>10.0} {:>10}  {counts}",
        label(n),
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        wall.as_nanos() as f64 / n as f64,
        rss >> 20,
    );
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Run `diffgate diff` on the pair in `dir`: wall time, peak RSS in bytes
/// (from wait4), and the JSON report.
fn diff(bin: &Path, dir: &Path, extra: &[&str]) -> (Duration, u64, serde_json::Value) {
    let mut args = vec!["diff", "v1.parquet", "v2.parquet", "--key", "id"];
    args.extend([
        "--abs-tol",
        "1e-6",
        "--fail-on",
        "never",
        "--format",
        "json",
    ]);
    args.extend(extra);
    diffgate(bin, dir, &args)
}

/// Run diffgate with `args` in `dir`, its stdout (a JSON report) to
/// `report.json` there: wall time, peak RSS in bytes (from wait4), and the
/// report.
fn diffgate(bin: &Path, dir: &Path, args: &[&str]) -> (Duration, u64, serde_json::Value) {
    let out = dir.join("report.json");
    let t = Instant::now();
    // Reaped by wait4 below, which also reports the peak RSS.
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, which also reads its peak RSS"
    )]
    let child = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdout(File::create(&out).expect("report file"))
        .spawn()
        .expect("diffgate runs");
    let (status, peak) = wait_rss(child.id());
    let wall = t.elapsed();
    assert!(status == 0, "diffgate exited with status {status}");
    let report = serde_json::from_reader(File::open(&out).expect("report")).expect("JSON report");
    (wall, peak, report)
}

/// `run` on a scenario whose v1 and v2 transforms select the pair as it
/// is: what running and materialising transforms adds to the diff. Prints
/// the run's own stage timings beside the `diff` figure.
fn run_overhead(
    bin: &Path,
    dir: &Path,
    n: u64,
    truth: &Truth,
    repeats: usize,
    diff_wall: Duration,
) {
    let scenario = dir.join("scenario");
    std::fs::create_dir_all(&scenario).expect("scenario directory");
    std::fs::write(
        scenario.join("diffgate.toml"),
        "[inputs]\na = \"../v1.parquet\"\nb = \"../v2.parquet\"\n\n\
         [transform]\nv1 = \"v1.sql\"\nv2 = \"v2.sql\"\n\n\
         [compare]\nkey = \"id\"\nabs_tol = 1e-6\n",
    )
    .expect("scenario config");
    std::fs::write(scenario.join("v1.sql"), "SELECT * FROM a\n").expect("v1.sql");
    std::fs::write(scenario.join("v2.sql"), "SELECT * FROM b\n").expect("v2.sql");
    let args = ["run", ".", "--fail-on", "never", "--format", "json"];
    let mut runs = Vec::new();
    let mut rss = 0;
    for _ in 0..repeats {
        let (wall, peak, report) = diffgate(bin, &scenario, &args);
        check(&report, truth);
        let ms = |k: &str| report["timings"][k].as_u64().unwrap_or(0);
        runs.push((wall, ms("run_v1_ms") + ms("run_v2_ms"), ms("compare_ms")));
        rss = rss.max(peak);
    }
    runs.sort();
    let (wall, transforms, compare) = runs[runs.len() / 2];
    let mut alone: Vec<Duration> = (0..repeats).map(|_| transforms_alone(dir)).collect();
    let alone = median(&mut alone);
    println!(
        "run, {}: {:.2} s wall, {rss_mib} MiB RSS (transforms run and materialised {:.2} s, \
         compare {:.2} s)\n  vs transforms alone {:.2} s + diff of the same files {:.2} s = {:.2} s",
        label(n),
        wall.as_secs_f64(),
        transforms as f64 / 1e3,
        compare as f64 / 1e3,
        alone.as_secs_f64(),
        diff_wall.as_secs_f64(),
        (alone + diff_wall).as_secs_f64(),
        rss_mib = rss >> 20,
    );
}

/// The two transforms of [`run_overhead`] on their own, in DataFusion:
/// each query's result streamed to the end and dropped.
fn transforms_alone(dir: &Path) -> Duration {
    use datafusion::prelude::{ParquetReadOptions, SessionContext};
    use futures::StreamExt;
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let t = Instant::now();
    rt.block_on(async {
        let ctx = SessionContext::new();
        for (table, file) in [("a", "v1.parquet"), ("b", "v2.parquet")] {
            let path = dir.join(file);
            ctx.register_parquet(
                table,
                path.to_str().expect("UTF-8"),
                ParquetReadOptions::default(),
            )
            .await
            .expect("registers");
            let df = ctx
                .sql(&format!("SELECT * FROM {table}"))
                .await
                .expect("plans");
            let mut streams = df.execute_stream_partitioned().await.expect("runs");
            let drains = streams.drain(..).map(|mut s| {
                tokio::spawn(async move {
                    while let Some(batch) = s.next().await {
                        batch.expect("a batch");
                    }
                })
            });
            for d in drains.collect::<Vec<_>>() {
                d.await.expect("drained");
            }
        }
    });
    t.elapsed()
}

/// Re-render the report saved in `dir` (a diff with its samples) in each
/// format: the cost of rendering, process start included.
fn render(bin: &Path, dir: &Path) {
    let report = dir.join("report.json");
    let bytes = std::fs::metadata(&report).map_or(0, |m| m.len());
    let mut line = format!("render a {} KiB report:", bytes >> 10);
    for format in ["json", "markdown", "html", "terminal"] {
        let mut times: Vec<Duration> = (0..11)
            .map(|_| {
                let t = Instant::now();
                let out = Command::new(bin)
                    .args(["report", "--format", format, "--color", "never"])
                    .arg(&report)
                    .output()
                    .expect("runs");
                assert!(out.status.success(), "report --format {format} failed");
                t.elapsed()
            })
            .collect();
        line.push_str(&format!(
            " {format} {:.1} ms",
            median(&mut times).as_secs_f64() * 1e3
        ));
    }
    println!("{line} (median of 11, process start included)");
}

/// Wait for `pid`; its exit status and peak resident set in bytes.
fn wait_rss(pid: u32) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter for wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, status and usage outlive the call.
    let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    assert!(r == pid as i32, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss as u64 * 1024)
}

/// What the generator planted.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Truth {
    only_v1: u64,
    only_v2: u64,
    changed: u64,
}

fn check(report: &serde_json::Value, t: &Truth) -> String {
    let rows = &report["rows"];
    let got = (
        rows["only_v1"].as_u64(),
        rows["only_v2"].as_u64(),
        rows["changed"].as_u64(),
    );
    let want = (Some(t.only_v1), Some(t.only_v2), Some(t.changed));
    assert_eq!(got, want, "diffgate's counts (only_v1, only_v2, changed)");
    format!("ok ({} changed)", t.changed)
}

/// splitmix64: the generator's only source of randomness.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn r(id: u64, salt: u64) -> u64 {
    mix(id ^ mix(salt))
}

fn removed(id: u64) -> bool {
    r(id, 1).is_multiple_of(200)
}

/// The column (1..=12) changed in v2, if any: `rate` of the rows.
fn changed(id: u64, rate: Ppm) -> Option<u64> {
    (r(id, 2) % 1_000_000 < rate.0).then(|| 1 + r(id, 3) % 12)
}

/// Write v1.parquet, v2.parquet and truth.json under `dir` (once), a row
/// group at a time.
fn generate(dir: &Path, n: u64, rate: Ppm) -> Truth {
    let truth_path = dir.join("truth.json");
    if let Ok(f) = File::open(&truth_path)
        && let Ok(t) = serde_json::from_reader(f)
    {
        return t;
    }
    std::fs::create_dir_all(dir).expect("data directory");
    let t = Instant::now();
    let added = n / 200;
    let mut truth = Truth {
        only_v1: 0,
        only_v2: added,
        changed: 0,
    };
    for v2 in [false, true] {
        let ids = shuffled(if v2 { n + added } else { n }).filter(|&id| {
            let keep = !v2 || id >= n || !removed(id);
            if v2 && !keep {
                truth.only_v1 += 1;
            }
            if v2 && keep && id < n && changed(id, rate).is_some() {
                truth.changed += 1;
            }
            keep
        });
        write(dir, v2, rate, ids);
    }
    serde_json::to_writer(File::create(&truth_path).expect("truth"), &truth).expect("truth");
    eprintln!(
        "generated {} rows per side, {} changed, in {:.1} s",
        label(n),
        rate.percent(),
        t.elapsed().as_secs_f64()
    );
    truth
}

/// 0..n in a fixed pseudo-random order: i * a mod p over the smallest
/// prime p >= n, values >= n skipped.
fn shuffled(n: u64) -> impl Iterator<Item = u64> {
    let p = (n.max(3)..)
        .find(|&p| (2..).take_while(|d| d * d <= p).all(|d| p % d != 0))
        .expect("a prime");
    let a = 1 + mix(p) % (p - 1);
    (0..p)
        .map(move |i| ((i as u128 * a as u128) % p as u128) as u64)
        .filter(move |&x| x < n)
}

const STATUS: [&str; 5] = ["new", "paid", "shipped", "returned", "cancelled"];
const WORDS: [&str; 12] = [
    "fast", "blue", "order", "parcel", "gift", "late", "fragile", "home", "office", "express",
    "return", "note",
];

fn write(dir: &Path, v2: bool, rate: Ppm, ids: impl Iterator<Item = u64>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("quantity", DataType::Int64, true),
        Field::new("price", DataType::Float64, false),
        Field::new("score", DataType::Float64, true),
        Field::new("amount", DataType::Decimal128(18, 2), false),
        Field::new("discount", DataType::Decimal128(18, 2), true),
        Field::new("status", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("description", DataType::Utf8, true),
        Field::new("is_active", DataType::Boolean, true),
        Field::new("order_date", DataType::Date32, false),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(BATCH))
        .build();
    let name = if v2 { "v2.parquet" } else { "v1.parquet" };
    let file = File::create(dir.join(name)).expect("data file");
    let mut w = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)).expect("writer");
    let mut ids = ids.peekable();
    while ids.peek().is_some() {
        let chunk: Vec<u64> = ids.by_ref().take(BATCH).collect();
        // The column changed in this row of v2 (0 = none).
        let ch = |id: u64| {
            if v2 {
                changed(id, rate).unwrap_or(0)
            } else {
                0
            }
        };
        // 5% NULLs; a change to a NULL cell gives it a value.
        let null = |id: u64, salt: u64, c: u64| r(id, salt).is_multiple_of(20) && ch(id) != c;
        let bump = |id: u64, c: u64| i64::from(ch(id) == c);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                chunk.iter().map(|&i| i as i64),
            )),
            Arc::new(Int64Array::from_iter_values(
                chunk
                    .iter()
                    .map(|&i| (r(i, 10) % 50_000) as i64 + bump(i, 1)),
            )),
            Arc::new(Int64Array::from_iter(chunk.iter().map(|&i| {
                (!null(i, 11, 2)).then(|| (r(i, 12) % 100) as i64 + 7 * bump(i, 2))
            }))),
            Arc::new(Float64Array::from_iter_values(chunk.iter().map(|&i| {
                (r(i, 13) % 100_000) as f64 / 100.0 + 0.25 * bump(i, 3) as f64
            }))),
            Arc::new(Float64Array::from_iter(chunk.iter().map(|&i| {
                (!null(i, 14, 4)).then(|| (r(i, 15) % 1000) as f64 / 7.0 + bump(i, 4) as f64)
            }))),
            Arc::new(
                Decimal128Array::from_iter_values(
                    chunk
                        .iter()
                        .map(|&i| (r(i, 16) % 1_000_000) as i128 + 99 * bump(i, 5) as i128),
                )
                .with_precision_and_scale(18, 2)
                .expect("decimal"),
            ),
            Arc::new(
                // A change here moves a value to NULL or a NULL to a value.
                Decimal128Array::from_iter(chunk.iter().map(|&i| {
                    let is_null = r(i, 17).is_multiple_of(20) ^ (ch(i) == 6);
                    (!is_null).then(|| (r(i, 18) % 5_000) as i128)
                }))
                .with_precision_and_scale(18, 2)
                .expect("decimal"),
            ),
            Arc::new(StringArray::from_iter_values(chunk.iter().map(|&i| {
                STATUS[((r(i, 19) + bump(i, 7) as u64) % STATUS.len() as u64) as usize]
            }))),
            Arc::new(StringArray::from_iter(chunk.iter().map(|&i| {
                (!null(i, 20, 8)).then(|| {
                    let tail = if ch(i) == 8 { "e" } else { "" };
                    format!("customer {}{tail}", r(i, 21) % 100_000)
                })
            }))),
            Arc::new(StringArray::from_iter(chunk.iter().map(|&i| {
                (!null(i, 22, 9)).then(|| {
                    let words = 8 + r(i, 23) % 33;
                    let mut s = String::new();
                    for k in 0..words {
                        if k > 0 {
                            s.push(' ');
                        }
                        s.push_str(WORDS[(r(i, 24 + k) % WORDS.len() as u64) as usize]);
                        if ch(i) == 9 && k == words / 2 {
                            s.push('x');
                        }
                    }
                    s
                })
            }))),
            Arc::new(BooleanArray::from_iter(chunk.iter().map(|&i| {
                (!null(i, 70, 10)).then(|| r(i, 71).is_multiple_of(2) ^ (ch(i) == 10))
            }))),
            Arc::new(Date32Array::from_iter_values(chunk.iter().map(|&i| {
                19_000 + (r(i, 72) % 1_000) as i32 + 3 * bump(i, 11) as i32
            }))),
            Arc::new(
                TimestampMicrosecondArray::from_iter(chunk.iter().map(|&i| {
                    (!null(i, 73, 12)).then(|| {
                        1_700_000_000_000_000
                            + (r(i, 74) % 10_000_000_000) as i64
                            + 1_000 * bump(i, 12)
                    })
                }))
                .with_timezone("UTC"),
            ),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), cols).expect("batch");
        w.write(&batch).expect("write");
    }
    w.close().expect("close");
}
