//! `cargo bench --bench floats [-- ROWS] [--repeats N] [--threads N]`
//!
//! What summing floats exactly costs (`src/engine/exact.rs`): the same
//! aggregate queries over ROWS random doubles (default 10M; in memory, so
//! only the aggregation is timed) in a plain DataFusion session, whose
//! built-in float sums depend on the order partial sums arrive in, and in
//! a diffgate session, whose sums are exact. For each query and group
//! count it prints the median wall time of both, the ratio, and whether
//! the results were bit for bit the same in every repeat.
//!
//! A benchmark, not a test: it prints figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use diffgate::engine::{self, EngineOptions};

const BATCH: usize = 65_536;

fn main() {
    let mut rows: usize = 10_000_000;
    let mut repeats = 3;
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--repeats" => repeats = args.next().and_then(|n| n.parse().ok()).unwrap_or(3),
            "--threads" => threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(threads),
            s => rows = parse_rows(s).unwrap_or_else(|| panic!("not a row count: {s}")),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(rows, repeats, threads));
}

fn parse_rows(s: &str) -> Option<usize> {
    let s = s.to_ascii_lowercase();
    let (num, mult) = match s.strip_suffix('m') {
        Some(n) => (n, 1_000_000),
        None => match s.strip_suffix('k') {
            Some(n) => (n, 1_000),
            None => (s.as_str(), 1),
        },
    };
    num.parse::<usize>().ok().map(|n| n * mult)
}

/// `rows` rows of (g in 0..groups, x, y), x and y uniform in [0, 1), as
/// in-memory batches (one partition per thread).
fn table(rows: usize, groups: i64, partitions: usize) -> Arc<MemTable> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
    ]));
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut parts = vec![Vec::new(); partitions];
    let mut done = 0;
    let mut p = 0;
    while done < rows {
        let n = BATCH.min(rows - done);
        let g: Int64Array = (0..n).map(|_| (next() % groups as u64) as i64).collect();
        let mut unit = || (next() >> 11) as f64 / (1u64 << 53) as f64;
        let x: Float64Array = (0..n).map(|_| unit()).collect();
        let y: Float64Array = (0..n).map(|_| unit() * 1000.0 - 500.0).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(g), Arc::new(x), Arc::new(y)],
        )
        .unwrap();
        parts[p % partitions].push(batch);
        p += 1;
        done += n;
    }
    Arc::new(MemTable::try_new(schema, parts).unwrap())
}

const QUERIES: [(&str, &str); 3] = [
    ("SUM", "SELECT g, SUM(x) AS s FROM t GROUP BY g"),
    (
        "SUM, AVG",
        "SELECT g, SUM(x) AS s, AVG(y) AS a FROM t GROUP BY g",
    ),
    (
        "SUM, AVG, STDDEV",
        "SELECT g, SUM(x) AS s, AVG(y) AS a, STDDEV(y) AS d FROM t GROUP BY g",
    ),
];

async fn bench(rows: usize, repeats: usize, threads: usize) {
    println!(
        "{rows} rows, {threads} threads, median of {repeats}; built-in = DataFusion's float aggregates, exact = diffgate's"
    );
    println!(
        "{:<18} {:>9} {:>12} {:>12} {:>7}  same bits every run (built-in / exact)",
        "aggregates", "groups", "built-in", "exact", "ratio"
    );
    for groups in [2_000i64, 1_000_000] {
        let t = table(rows, groups, threads);
        let config = SessionConfig::new().with_target_partitions(threads);
        let builtin = SessionContext::new_with_config(config);
        let options = EngineOptions {
            threads: Some(threads),
            ..EngineOptions::default()
        };
        let exact = engine::session(&options).unwrap();
        for ctx in [&builtin, &exact] {
            ctx.register_table("t", t.clone()).unwrap();
        }
        for (what, sql) in QUERIES {
            let (b_time, b_same) = time(&builtin, sql, repeats).await;
            let (e_time, e_same) = time(&exact, sql, repeats).await;
            println!(
                "{what:<18} {groups:>9} {:>10.3} s {:>10.3} s {:>6.2}×  {b_same} / {e_same}",
                b_time.as_secs_f64(),
                e_time.as_secs_f64(),
                e_time.as_secs_f64() / b_time.as_secs_f64()
            );
        }
    }
}

/// Median wall time of `sql` over `repeats` runs, and whether every run
/// gave the same result (rows sorted by group, printed in full precision).
async fn time(ctx: &SessionContext, sql: &str, repeats: usize) -> (Duration, bool) {
    let mut times = Vec::new();
    let mut results = Vec::new();
    for _ in 0..repeats {
        let start = Instant::now();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        times.push(start.elapsed());
        let sorted = ctx
            .read_batches(batches)
            .unwrap()
            .sort_by(vec![datafusion::prelude::col("g")])
            .unwrap()
            .collect()
            .await
            .unwrap();
        results.push(fingerprint(&sorted));
    }
    times.sort();
    let same = results.windows(2).all(|w| w[0] == w[1]);
    (times[times.len() / 2], same)
}

/// The bits of every float in the result, as text.
fn fingerprint(batches: &[RecordBatch]) -> String {
    let mut bits = String::new();
    for b in batches {
        for c in b.columns() {
            if let Some(f) = c.as_any().downcast_ref::<Float64Array>() {
                for v in f.iter() {
                    bits.push_str(&format!("{:x},", v.map_or(0, f64::to_bits)));
                }
            }
        }
    }
    if bits.is_empty() {
        bits = pretty_format_batches(batches).unwrap().to_string();
    }
    bits
}
