//! The flags layer: clap definitions and the checks a flag value needs on
//! its own (a duration, a size, a run count, a column tolerance). Nothing
//! here reads a file: `resolve.rs` turns the parsed flags plus the scenario
//! file into a job, and `main.rs` runs it and maps the outcome to an exit
//! code.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::check_tol;
use crate::judge::FailOn;
use crate::render::Format;

/// Run v1 and v2 of a SQL transform on the same inputs, diff the outputs by
/// schema, rows and columns, and gate the release on a verdict.
///
/// Exit codes: 0 = verdict below --fail-on, 1 = verdict at or above it,
/// 2 = error (bad input, config, SQL or usage).
#[derive(Debug, Parser)]
#[command(name = "diffgate", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the v1 and v2 transforms of a scenario and compare their outputs.
    Run(RunArgs),
    /// Plan v1 and v2 of a scenario without reading data (only input
    /// schemas): SQL errors, the output schema diff and the verdict the
    /// schema alone implies. Takes seconds whatever the data size.
    Check(RunArgs),
    /// Compare two existing tables (Parquet, CSV, JSON or Arrow IPC).
    Diff(DiffArgs),
    /// Re-render a saved JSON report (JSON re-renders byte for byte).
    Report(ReportArgs),
    /// Draft a commented diffgate.toml for a folder of SQL or a dbt project.
    ///
    /// The folder holds a pair of SQL files, a folder of models (or v1/ and
    /// v2/ folders of them) or a dbt project. Inputs are matched to files by
    /// name; keys come from a dbt project's tests, else are guessed from
    /// v2's output (unique and never NULL in a sample), and say so.
    Init(InitArgs),
    /// Serve as a worker of the distributed engine (`--engine distributed`).
    ///
    /// Runs the plan stages that `run` and `diff --engine distributed
    /// --workers URL,...` send, reading their inputs from the paths and
    /// buckets they name (needs the `distributed` build). It runs whatever
    /// plan it is sent: listen only where coordinators alone can reach it.
    Worker(WorkerArgs),
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Address to listen on (`:0` picks a free port; the one chosen is
    /// printed as `listening on ADDR`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    pub listen: std::net::SocketAddr,

    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Memory this worker's tasks may use together (e.g. `4G`); beyond it
    /// they spill to disk.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    pub memory_limit: Option<usize>,

    /// Directory for spill files (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
}

/// Where a comparison's plans run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// In this process.
    Local,
    /// On the workers of --workers (`diffgate worker`).
    Distributed,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder (default: the current one); the file is written in it.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Also look for input files in this folder. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub data: Vec<PathBuf>,
    /// Rows of each output to look for keys in.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub sample_rows: usize,
    /// Replace an existing diffgate.toml.
    #[arg(long)]
    pub force: bool,
    /// Print the draft instead of writing it.
    #[arg(long, conflicts_with = "force")]
    pub stdout: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A JSON report written by `--json` or `--format json`.
    pub report: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub display: DisplayArgs,
}

/// Auto-detected switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum When {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct DisplayArgs {
    /// Colour in terminal output. `auto` colours only a terminal and
    /// honours NO_COLOR and CLICOLOR_FORCE.
    #[arg(long, value_enum, default_value_t = When::Auto, value_name = "WHEN")]
    pub color: When,
    /// List every compared column in the terminal report, not only those
    /// that differ.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// Where reports go. Files are written atomically (temporary file, then
/// rename), so a reader never sees half a report.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,

    /// Also write the JSON report to this file.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Also write the Markdown report (PR comment, step summary) here.
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,

    /// Also write the self-contained HTML report here.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,

    /// Also write the JUnit XML report (one test case per rule) here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// Also write the run's metrics (Prometheus text format: volume,
    /// schema, quality, freshness and the run's cost) to this file, for
    /// node_exporter's textfile collector.
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<PathBuf>,

    /// Also push the metrics to this Prometheus Pushgateway (its base URL).
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,

    /// The `job` the metrics are pushed under.
    #[arg(long, value_name = "NAME", default_value = "diffgate")]
    pub metrics_job: String,

    /// The `instance` the metrics are pushed under (default: none).
    #[arg(long, value_name = "NAME")]
    pub metrics_instance: Option<String>,

    /// GitHub Actions mode: step summary, step outputs, annotations and
    /// log groups. `auto` turns it on when GITHUB_ACTIONS=true.
    #[arg(long, value_enum, default_value_t = When::Auto, value_name = "WHEN")]
    pub github: When,

    #[command(flatten)]
    pub display: DisplayArgs,
}

impl OutputArgs {
    /// The report files asked for, as (format name, format, path).
    pub fn files(&self) -> Vec<(&'static str, Format, &PathBuf)> {
        [
            ("json", Format::Json, &self.json),
            ("markdown", Format::Markdown, &self.markdown),
            ("html", Format::Html, &self.html),
            ("junit", Format::Junit, &self.junit),
            ("metrics", Format::Prometheus, &self.metrics),
        ]
        .into_iter()
        .filter_map(|(n, f, p)| p.as_ref().map(|p| (n, f, p)))
        .collect()
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario directory holding diffgate.toml (or the .toml file itself),
    /// or a dbt project directory (then --base REF reads v1 from git).
    pub scenario: PathBuf,
    /// Read v1 of the transform as it is at this git ref (e.g.
    /// `origin/main`); v2 comes from the working tree, or from --head.
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Read v2 as it is at this git ref instead of the working tree.
    #[arg(long, value_name = "REF", requires = "base")]
    pub head: Option<String>,
    /// Determinism check: run each version N times (N >= 2) on the same
    /// inputs, each re-run reading the inputs in another row order; any
    /// difference between runs is a `nondeterministic` finding.
    #[arg(long, value_name = "N", value_parser = parse_runs)]
    pub runs: Option<u32>,
    /// Run on the canary subset of environment NAME (`[env.NAME]` in the
    /// config) instead of `[subset]`.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// The date `{as_of}` stands for in subset predicates (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// The warehouse the SQL is written for (snowflake, bigquery, duckdb,
    /// postgres, redshift, databricks): its parser, integer division and
    /// common functions. Default: `[transform] dialect`, else a dbt
    /// profile's adapter type.
    #[arg(long, value_name = "NAME")]
    pub dialect: Option<String>,
    /// dbt: variables as YAML or JSON (`{key: value}`), winning over the
    /// project's `vars:`, as `dbt --vars` does.
    #[arg(long, value_name = "YAML")]
    pub vars: Option<String>,
    /// dbt: the profile target that `target.name` names (default: the
    /// profile's own, else `dev`).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    #[command(flatten)]
    pub shared: SharedArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The v1 table: a file, a directory of files, or a URL (s3://, gs://,
    /// az://, abfss://, http(s)://; a prefix ending in `/` or a glob).
    pub v1: PathBuf,
    /// The v2 table, as v1.
    pub v2: PathBuf,
    /// CSV files: the field delimiter (one character; `\t` for a tab).
    #[arg(long, value_name = "C")]
    pub delimiter: Option<String>,
    /// CSV files: the first line is data, not a header (columns are
    /// named column_1, column_2, ...).
    #[arg(long)]
    pub no_header: bool,
    /// CSV files: the quote character (default `"`).
    #[arg(long, value_name = "C")]
    pub quote: Option<String>,
    /// CSV files: the character that escapes the next one inside quotes,
    /// e.g. `\` (default: none; a doubled quote is one quote).
    #[arg(long, value_name = "C")]
    pub escape: Option<String>,
    #[command(flatten)]
    pub shared: SharedArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct SharedArgs {
    /// Key column(s) to pair rows on, comma-separated. Without a key, whole
    /// rows are compared as a multiset.
    #[arg(long, value_delimiter = ',', value_name = "COL[,COL...]")]
    pub key: Option<Vec<String>>,

    /// Absolute numeric tolerance: equal when |v1 - v2| <= abs + rel * |v1|.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub abs_tol: Option<f64>,

    /// Relative numeric tolerance (see --abs-tol).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub rel_tol: Option<f64>,

    /// Per-column tolerance, e.g. `price:abs=0.01` or `score:rel=1e-6`.
    /// Repeatable.
    #[arg(long = "column-tol", value_name = "COL:abs|rel=X")]
    pub column_tol: Vec<String>,

    /// Column to leave out of the value comparison. Repeatable.
    #[arg(long = "ignore-column", value_name = "COL")]
    pub ignore_column: Vec<String>,

    /// Compare v1's column OLD with v2's column NEW (a renamed column), as
    /// `[compare] rename`. Repeatable.
    #[arg(long = "rename", value_name = "OLD=NEW")]
    pub rename: Vec<String>,

    /// Pair v1 and v2 columns whose names differ only in case, as renames.
    #[arg(long)]
    pub fold_column_case: bool,

    /// Normalise a string column's values on both sides before comparing:
    /// `COL:trim`, `COL:ignore_case`, `COL:collapse_whitespace`, or several
    /// comma-separated. Repeatable.
    #[arg(long = "normalize", value_name = "COL:HOW")]
    pub normalize: Vec<String>,

    /// Compare a string column with the other side's date or timestamp by
    /// parsing it with this `strftime` format, e.g. `day=%d/%m/%Y`, as
    /// `[compare.columns.NAME] format`. Repeatable.
    #[arg(long = "column-format", value_name = "COL=FORMAT")]
    pub column_format: Vec<String>,

    /// Never show the values of these columns (a name, or a pattern with
    /// `*` and `?`) in any report: samples show a mask, a keyed hash when
    /// DIFFGATE_MASK_KEY is set. They are still compared. Repeatable.
    #[arg(long = "mask", value_name = "COLUMN")]
    pub mask: Vec<String>,

    /// A change v2 is meant to make, as an inline table with the fields of
    /// `[[expect]]`: `{column = "price", change = "scale(100)", where =
    /// "region = 'eu'", reason = "prices in cents"}`. Repeatable.
    #[arg(long = "expect", value_name = "TABLE")]
    pub expect: Vec<String>,

    /// Fail (exit 1) when the verdict is at or above this level.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,

    /// Set a policy key, as in the config's [policy] table, e.g.
    /// `rows_added=block` or `max_removed_or_changed_fraction=0.05`.
    /// Repeatable.
    #[arg(long = "policy", value_name = "KEY=VALUE")]
    pub policy: Vec<String>,

    /// Write every changed, only-v1 and only-v2 row (key, both versions'
    /// values, each changed cell's class, whether a declared change
    /// explains it) to this Parquet file, sorted by key; for a model
    /// folder, a folder with one file per compared model.
    #[arg(long, value_name = "PATH")]
    pub diff_out: Option<std::path::PathBuf>,

    /// Do not profile the columns (no profile, no drift rules): saves the
    /// profile's share of the first pass.
    #[arg(long)]
    pub no_profile: bool,

    /// Changed, only-v1 and only-v2 rows to sample in the report.
    #[arg(long, value_name = "N")]
    pub sample_size: Option<usize>,

    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Where the plans run: `local` (this process, the default) or
    /// `distributed` (the workers of --workers; needs the `distributed`
    /// build). Overrides the scenario's `[engine] kind`.
    #[arg(long, value_enum, value_name = "ENGINE")]
    pub engine: Option<EngineKind>,

    /// The distributed engine's workers, comma-separated
    /// (`http://host:port`, each a `diffgate worker`).
    #[arg(long, value_name = "URL[,URL...]", value_delimiter = ',')]
    pub workers: Vec<String>,

    /// With the distributed engine: input bytes each task reading files is
    /// given (default 16M); fewer bytes, more tasks, up to one per worker.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub bytes_per_task: Option<usize>,

    /// Memory the query engine may use (e.g. `512M`, `2G`; binary units).
    /// Beyond it joins, sorts and aggregates spill to disk; a run that still
    /// does not fit stops with exit 2 naming the biggest consumers.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    pub memory_limit: Option<usize>,

    /// Directory for spill files (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<std::path::PathBuf>,

    /// Where the run writes the tables it materialises (each version's
    /// output, Postgres copies): a folder (default: the system temporary
    /// directory), or an object-store prefix (`s3://bucket/prefix`) that
    /// the distributed engine's workers read. Removed when the run ends.
    #[arg(long, value_name = "DIR|URL")]
    pub scratch: Option<String>,

    /// Stop the whole run after this long (e.g. `90s`, `10m`): exit 2.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,

    /// Stop a transform (v1 or v2) that runs longer than this: exit 2.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub transform_timeout: Option<std::time::Duration>,

    /// Fail (exit 2) on the first input record that cannot be loaded,
    /// instead of sending it to the dead-letter file.
    #[arg(long)]
    pub strict: bool,

    /// Where input records that cannot be loaded go (newline-delimited
    /// JSON). Default: beside the first report file
    /// (`<name>.dead-letter.ndjson`), else diffgate-dead-letter.ndjson.
    #[arg(long, value_name = "PATH", conflicts_with = "strict")]
    pub dead_letter: Option<PathBuf>,

    /// Read remote inputs as a saved JSON report pinned them: the recorded
    /// object versions where the store keeps versions, else the objects
    /// only if they are unchanged (exit 2 naming any that changed or no
    /// longer exist).
    #[arg(long, value_name = "REPORT.json")]
    pub pin_from: Option<PathBuf>,
}

/// A run count for the determinism check: 2 or more.
fn parse_runs(s: &str) -> std::result::Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if n >= 2 => Ok(n),
        Ok(_) => Err("the determinism check needs 2 runs or more".into()),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// `512M`, `2G`, `1.5GiB` (binary units); at least 16 MiB.
fn parse_memory(s: &str) -> std::result::Result<usize, String> {
    let bytes = parse_bytes(s)?;
    // Below a few megabytes no operator can make progress.
    if bytes < 16 << 20 {
        return Err("must be at least 16M".into());
    }
    Ok(bytes)
}

/// A size in bytes (`64K`, `16M`; binary units), at least one.
pub fn parse_bytes(s: &str) -> std::result::Result<usize, String> {
    let bytes = parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("{e} (examples: 512M, 2G, 1.5GiB)"))?;
    if bytes == 0 {
        return Err("must be at least 1 byte".into());
    }
    usize::try_from(bytes).map_err(|_| "too large for this machine".into())
}

/// `90s`, `10m`, `1h 30m`, `500ms`; never zero.
fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    let d =
        humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (examples: 90s, 10m, 1h)"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

/// The command line that reproduces a run, from the arguments diffgate was
/// started with: output, display and thread flags are dropped (they do not
/// change the result), everything else is kept and shell-quoted.
pub fn reproduce<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    const WITH_VALUE: &[&str] = &[
        "--format",
        "--json",
        "--markdown",
        "--html",
        "--junit",
        "--metrics",
        "--pushgateway",
        "--metrics-job",
        "--metrics-instance",
        "--github",
        "--color",
        "--threads",
        "--memory-limit",
        "--spill-dir",
        "--dead-letter",
    ];
    const ALONE: &[&str] = &["--verbose", "-v"];
    let mut out = vec!["diffgate".to_string()];
    let mut skip_next = false;
    for arg in args.iter().skip(1) {
        let arg = arg.as_ref().to_string_lossy();
        if skip_next {
            skip_next = false;
            continue;
        }
        let flag = arg.split('=').next().unwrap_or("");
        if WITH_VALUE.contains(&flag) {
            skip_next = !arg.contains('=');
            continue;
        }
        if ALONE.contains(&arg.as_ref()) {
            continue;
        }
        // A URL's password or query (a token) is never repeated.
        let arg = match crate::load::store::is_url(&arg) {
            true => std::borrow::Cow::Owned(crate::load::store::shown(&arg)),
            false => arg,
        };
        let quoted = shlex::try_quote(&arg).map_or_else(
            |_| format!("'{}'", arg.replace('\0', "")),
            |q| q.into_owned(),
        );
        out.push(quoted);
    }
    out.join(" ")
}

/// `COL:abs=X` or `COL:rel=X`.
pub(crate) fn parse_column_tol(
    spec: &str,
) -> std::result::Result<(String, &'static str, f64), String> {
    let bad = || format!("--column-tol {spec:?}: expected COL:abs=X or COL:rel=X");
    let (col, rest) = spec.rsplit_once(':').ok_or_else(bad)?;
    let (kind, value) = rest.split_once('=').ok_or_else(bad)?;
    let kind = match kind.trim() {
        "abs" => "abs",
        "rel" => "rel",
        _ => return Err(bad()),
    };
    let x: f64 = value.trim().parse().map_err(|_| bad())?;
    check_tol(&format!("--column-tol {col}:{kind}"), x)?;
    if col.is_empty() {
        return Err(bad());
    }
    Ok((col.to_string(), kind, x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_tolerances_parse() {
        assert_eq!(
            parse_column_tol("price:abs=0.01").unwrap(),
            ("price".into(), "abs", 0.01)
        );
        assert_eq!(
            parse_column_tol("a:b:rel=1e-6").unwrap(),
            ("a:b".into(), "rel", 1e-6)
        );
        assert!(parse_column_tol("price=0.01").is_err());
        assert!(parse_column_tol("price:abs=-1").is_err());
        assert!(parse_column_tol("price:max=1").is_err());
    }

    #[test]
    fn reproduce_keeps_what_changes_the_result() {
        let args = [
            "/usr/local/bin/diffgate",
            "run",
            "scenarios/my case",
            "--format",
            "json",
            "--json=out.json",
            "--threads",
            "4",
            "--key",
            "id",
            "-v",
            "--abs-tol",
            "0.01",
        ];
        assert_eq!(
            reproduce(&args),
            "diffgate run 'scenarios/my case' --key id --abs-tol 0.01"
        );
    }
}
