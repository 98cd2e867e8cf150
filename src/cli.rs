//! The flags layer: clap definitions, and the translation of flags plus the
//! scenario config into a [`Job`]. Flags override the config. Nothing here
//! touches data; `main.rs` runs the job and maps the outcome to an exit code.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::compare::{CompareOptions, Tol, Tolerance};
use crate::config::{self, check_tol};
use crate::engine::EngineOptions;
use crate::error::{Error, Result};
use crate::git;
use crate::judge::{FailOn, Policy};
use crate::load::InputSource;
use crate::models::{self, FolderAt};
use crate::pipeline::{Job, ModelRun, Source};
use crate::render::Format;
use crate::report::{GitRef, GitRefs};
use crate::transform::{Origin, Transform, Version};

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
        ]
        .into_iter()
        .filter_map(|(n, f, p)| p.as_ref().map(|p| (n, f, p)))
        .collect()
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario directory holding diffgate.toml (or the .toml file itself).
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
    #[command(flatten)]
    pub shared: SharedArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The v1 table: a file or a directory of files.
    pub v1: PathBuf,
    /// The v2 table: a file or a directory of files.
    pub v2: PathBuf,
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

    /// Fail (exit 1) when the verdict is at or above this level.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,

    /// Set a policy key, as in the config's [policy] table, e.g.
    /// `rows_added=block` or `max_removed_or_changed_fraction=0.05`.
    /// Repeatable.
    #[arg(long = "policy", value_name = "KEY=VALUE")]
    pub policy: Vec<String>,

    /// Changed, only-v1 and only-v2 rows to sample in the report.
    #[arg(long, value_name = "N")]
    pub sample_size: Option<usize>,

    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Memory the query engine may use (e.g. `512M`, `2G`; binary units).
    /// Beyond it joins, sorts and aggregates spill to disk; a run that still
    /// does not fit stops with exit 2 naming the biggest consumers.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    pub memory_limit: Option<usize>,

    /// Directory for spill files (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<std::path::PathBuf>,

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
    let bytes = parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("{e} (examples: 512M, 2G, 1.5GiB)"))?;
    // Below a few megabytes no operator can make progress.
    if bytes < 16 << 20 {
        return Err("must be at least 16M".into());
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

/// Build the job a command describes, with where its reports go.
pub fn job(command: &Command) -> Result<(Job, &OutputArgs)> {
    let with_dead_letter = |mut job: Job, shared: &SharedArgs, output: &OutputArgs| {
        job.load.dead_letter = dead_letter_path(shared, output)?;
        Ok::<_, Error>(job)
    };
    match command {
        Command::Run(args) => Ok((
            with_dead_letter(run_job(args)?, &args.shared, &args.output)?,
            &args.output,
        )),
        Command::Check(args) => {
            if args.runs.is_some() {
                return Err(Error::Usage(
                    "--runs runs the transforms; `check` only plans them".into(),
                ));
            }
            let mut job = run_job(args)?;
            job.plan_only = true;
            // `[transform] runs` is for `run`; `check` runs nothing.
            job.runs = 1;
            Ok((job, &args.output))
        }
        Command::Diff(args) => Ok((
            with_dead_letter(diff_job(args)?, &args.shared, &args.output)?,
            &args.output,
        )),
        Command::Report(_) => Err(Error::Usage(
            "`report` re-renders a saved report and runs no comparison".into(),
        )),
    }
}

/// `--dead-letter`, else beside the first report file, else the default
/// name in the working directory.
fn dead_letter_path(shared: &SharedArgs, output: &OutputArgs) -> Result<PathBuf> {
    if let Some(p) = &shared.dead_letter {
        if p.is_dir() {
            return Err(Error::Usage(format!(
                "--dead-letter {}: is a directory; give a file path",
                p.display()
            )));
        }
        return Ok(p.clone());
    }
    Ok(match output.files().first() {
        Some((_, _, report)) => {
            let stem = report
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "report".into());
            report.with_file_name(format!("{stem}.dead-letter.ndjson"))
        }
        None => PathBuf::from(crate::pipeline::DEFAULT_DEAD_LETTER),
    })
}

fn run_job(args: &RunArgs) -> Result<Job> {
    let loaded = config::load(&args.scenario)?;
    let s = &loaded.scenario;
    let (inputs, subset) = loaded.inputs(args.env.as_deref(), args.as_of.as_deref())?;
    let (v1, v2, git) = transforms(&loaded, args)?;
    let models = model_run(&loaded, &v1, &v2)?;
    if models.is_some() && args.runs.is_some() {
        return Err(Error::Usage(
            "--runs: the determinism check runs single-file transforms; this one is a model folder"
                .into(),
        ));
    }
    let mut tolerance = Tolerance {
        default: Tol {
            abs: s.compare.abs_tol,
            rel: s.compare.rel_tol,
        },
        columns: BTreeMap::new(),
    };
    for (name, spec) in &s.compare.columns {
        tolerance.columns.insert(
            name.clone(),
            Tol {
                abs: spec.abs_tol.unwrap_or(tolerance.default.abs),
                rel: spec.rel_tol.unwrap_or(tolerance.default.rel),
            },
        );
    }
    let base = JobBase {
        key: s.compare.key.columns(),
        ignore_columns: s.compare.ignore_columns.clone(),
        tolerance,
        sample_size: s.compare.sample_size,
        policy: s.policy.clone(),
        description: s.description.clone(),
        expected_verdict: s.expected_verdict,
    };
    let source = Source::Run {
        scenario: Box::new(loaded.clone()),
        inputs,
        v1,
        v2,
        git,
        subset,
        models,
    };
    let mut job = base.with_flags(source, &args.shared)?;
    job.runs = args.runs.or(s.transform.runs).unwrap_or(1);
    Ok(job)
}

/// v1 and v2 of the scenario's transform: two files, or one file read at
/// `--base` (v1) and in the working tree or at `--head` (v2).
fn transforms(
    loaded: &config::LoadedScenario,
    args: &RunArgs,
) -> Result<(Transform, Transform, Option<GitRefs>)> {
    let t = &loaded.scenario.transform;
    let from_tree =
        |v: Version, file: &str| Transform::file(v, loaded.resolve(file), file.to_string());
    match (&args.base, &t.path, &t.v1, &t.v2) {
        (None, None, Some(v1), Some(v2)) => {
            Ok((from_tree(Version::V1, v1), from_tree(Version::V2, v2), None))
        }
        (None, Some(path), _, _) => Err(Error::config(
            &loaded.config_path,
            format!(
                "transform.path = {path:?} names one file: run with --base REF to read v1 from git"
            ),
        )),
        (Some(base), Some(path), _, _) => {
            let file = loaded.resolve(path);
            let repo = git::Repo::discover(&file)?;
            let rel = repo.relative(&file)?;
            let at = |v: Version, commit: &git::Commit| Transform {
                version: v,
                path: file.clone(),
                label: format!("{path} @ {}", commit.describe()),
                origin: Origin::Git {
                    repo: repo.clone(),
                    commit: commit.clone(),
                    rel: rel.clone(),
                },
            };
            let git_ref = |c: &git::Commit, working_tree| GitRef {
                reference: c.reference.clone(),
                commit: c.id.clone(),
                working_tree,
            };
            let base = repo.resolve(base)?;
            let (v2, head) = match &args.head {
                Some(head) => {
                    let head = repo.resolve(head)?;
                    (at(Version::V2, &head), git_ref(&head, false))
                }
                None => (
                    from_tree(Version::V2, path),
                    git_ref(&repo.resolve("HEAD")?, true),
                ),
            };
            let refs = GitRefs {
                base: git_ref(&base, false),
                head,
            };
            Ok((at(Version::V1, &base), v2, Some(refs)))
        }
        (Some(_), None, _, _) => Err(Error::config(
            &loaded.config_path,
            "--base reads v1 of one transform file from git, but [transform] names two \
             files (v1, v2): name the file with `path = \"...\"` instead",
        )),
        (None, None, _, _) => Err(Error::config(
            &loaded.config_path,
            "transform: give both `v1` and `v2`, or `path` with --base REF",
        )),
    }
}

/// When the transform is a folder of models (in the working tree or at a
/// git ref), both versions' models.
fn model_run(
    loaded: &config::LoadedScenario,
    v1: &Transform,
    v2: &Transform,
) -> Result<Option<Box<ModelRun>>> {
    let is_dir = |t: &Transform| match &t.origin {
        Origin::Git { repo, commit, rel } => repo.is_dir(commit, rel),
        _ => t.path.is_dir(),
    };
    match (is_dir(v1), is_dir(v2)) {
        (false, false) => return Ok(None),
        (true, true) => {}
        (v1_dir, _) => {
            let kind = |dir: bool| if dir { "a model folder" } else { "a SQL file" };
            return Err(Error::config(
                &loaded.config_path,
                format!(
                    "transform: v1 ({}) is {} but v2 ({}) is {}; both must be SQL files or both model folders",
                    v1.label,
                    kind(v1_dir),
                    v2.label,
                    kind(!v1_dir)
                ),
            ));
        }
    }
    let inputs: Vec<String> = loaded.scenario.inputs.keys().cloned().collect();
    let read = |t: &Transform| match &t.origin {
        Origin::Git { repo, commit, .. } => {
            models::read(&t.path, FolderAt::Git { repo, commit }, &inputs)
        }
        _ => models::read(&t.path, FolderAt::WorkingTree, &inputs),
    };
    let s = &loaded.scenario;
    let (m1, m2) = (read(v1)?, read(v2)?);
    // A typo in [models.NAME] would silently fall back to the default key.
    for name in s.models.keys() {
        if !m1.models.contains_key(name) && !m2.models.contains_key(name) {
            let hint = crate::error::did_you_mean(name, m2.models.keys().map(String::as_str))
                .map(|h| format!(" (did you mean `{h}`?)"))
                .unwrap_or_default();
            return Err(Error::config(
                &loaded.config_path,
                format!("[models.{name}]: no model `{name}` in the folder{hint}"),
            ));
        }
    }
    Ok(Some(Box::new(ModelRun {
        dir: v2.path.clone(),
        v1: m1,
        v2: m2,
        targets: s.transform.targets.clone(),
        keys: s
            .models
            .iter()
            .map(|(n, spec)| (n.clone(), spec.key.columns()))
            .filter(|(_, k)| !k.is_empty())
            .collect(),
    })))
}

fn diff_job(args: &DiffArgs) -> Result<Job> {
    let side = |v: Version, path: &PathBuf| InputSource {
        label: v.as_str().to_string(),
        ..InputSource::new(v.table_name(), path)
    };
    let source = Source::Diff {
        v1: side(Version::V1, &args.v1),
        v2: side(Version::V2, &args.v2),
        v1_label: args.v1.display().to_string(),
        v2_label: args.v2.display().to_string(),
    };
    JobBase {
        sample_size: crate::compare::DEFAULT_SAMPLE_SIZE,
        ..JobBase::default()
    }
    .with_flags(source, &args.shared)
}

/// Settings from the config (or defaults) before flags apply.
#[derive(Default)]
struct JobBase {
    key: Vec<String>,
    ignore_columns: Vec<String>,
    tolerance: Tolerance,
    sample_size: usize,
    policy: Policy,
    description: Option<String>,
    expected_verdict: Option<crate::report::Verdict>,
}

impl JobBase {
    fn with_flags(mut self, source: Source, f: &SharedArgs) -> Result<Job> {
        let usage = |m: String| Error::Usage(m);
        if let Some(key) = &f.key {
            self.key = key.iter().map(|k| k.trim().to_string()).collect();
            if self.key.iter().any(String::is_empty) {
                return Err(usage("--key: empty column name".into()));
            }
        }
        if let Some(x) = f.abs_tol {
            check_tol("--abs-tol", x).map_err(usage)?;
            self.tolerance.default.abs = x;
        }
        if let Some(x) = f.rel_tol {
            check_tol("--rel-tol", x).map_err(usage)?;
            self.tolerance.default.rel = x;
        }
        for spec in &f.column_tol {
            let (col, kind, x) = parse_column_tol(spec).map_err(usage)?;
            let default = self.tolerance.default;
            let entry = self.tolerance.columns.entry(col).or_insert(default);
            if kind == "abs" {
                entry.abs = x;
            } else {
                entry.rel = x;
            }
        }
        self.ignore_columns.extend(f.ignore_column.iter().cloned());
        if let Some(n) = f.sample_size {
            self.sample_size = n;
        }
        let mut policy = apply_policy_flags(&self.policy, &f.policy)?;
        if let Some(fail_on) = f.fail_on {
            policy.fail_on = fail_on;
        }
        if let Some(0) = f.threads {
            return Err(usage("--threads must be at least 1".into()));
        }
        if let Some(dir) = &f.spill_dir
            && !dir.is_dir()
        {
            return Err(usage(format!(
                "--spill-dir {}: not an existing directory",
                dir.display()
            )));
        }
        if let Some(k) = self
            .key
            .iter()
            .enumerate()
            .find_map(|(i, k)| self.key[..i].contains(k).then_some(k))
        {
            return Err(usage(format!("key column `{k}` is listed twice")));
        }
        if self.key.iter().any(|k| self.ignore_columns.contains(k)) {
            return Err(usage("a key column cannot also be ignored".into()));
        }
        Ok(Job {
            source,
            key: self.key,
            ignore_columns: self.ignore_columns,
            compare: CompareOptions {
                tolerance: self.tolerance,
                sample_size: self.sample_size,
            },
            policy,
            engine: EngineOptions {
                threads: f.threads,
                memory_limit: f.memory_limit,
                spill_dir: f.spill_dir.clone(),
            },
            description: self.description,
            expected_verdict: self.expected_verdict,
            reproduce: None,
            limits: crate::pipeline::Limits {
                run: f.timeout,
                transform: f.transform_timeout,
            },
            load: crate::pipeline::LoadOptions {
                strict: f.strict,
                ..Default::default()
            },
            runs: 1,
            plan_only: false,
        })
    }
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
        let quoted = shlex::try_quote(&arg).map_or_else(
            |_| format!("'{}'", arg.replace('\0', "")),
            |q| q.into_owned(),
        );
        out.push(quoted);
    }
    out.join(" ")
}

/// `COL:abs=X` or `COL:rel=X`.
fn parse_column_tol(spec: &str) -> std::result::Result<(String, &'static str, f64), String> {
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

/// Apply `KEY=VALUE` overrides to a policy through the same deserialiser as
/// the config's [policy] table, so flags and TOML accept the same keys.
fn apply_policy_flags(base: &Policy, flags: &[String]) -> Result<Policy> {
    if flags.is_empty() {
        return Ok(base.clone());
    }
    let mut table =
        toml::Table::try_from(base).map_err(|e| Error::Usage(format!("--policy: {e}")))?;
    for flag in flags {
        let (k, v) = flag
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--policy {flag:?}: expected KEY=VALUE")))?;
        let value: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {v}")) {
            Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(v.to_string())),
            Err(_) => toml::Value::String(v.trim().to_string()),
        };
        table.insert(k.trim().to_string(), value);
    }
    let policy: Policy = table.try_into().map_err(|e: toml::de::Error| {
        Error::Usage(format!(
            "--policy: {}",
            config::explain_message(e.message())
        ))
    })?;
    policy
        .validate()
        .map_err(|m| Error::Usage(format!("--policy: {m}")))?;
    Ok(policy)
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

    #[test]
    fn policy_flags_use_config_keys() {
        let p = apply_policy_flags(
            &Policy::default(),
            &[
                "rows_added=block".into(),
                "max_removed_or_changed_fraction=0.05".into(),
            ],
        )
        .unwrap();
        assert_eq!(p.rows_added, crate::judge::RuleLevel::Block);
        assert_eq!(p.max_removed_or_changed_fraction, 0.05);
        let err = apply_policy_flags(&Policy::default(), &["rows_addd=block".into()]).unwrap_err();
        assert!(err.to_string().contains("rows_addd"), "{err}");
        assert!(apply_policy_flags(&Policy::default(), &["rows_added=maybe".into()]).is_err());
    }
}
