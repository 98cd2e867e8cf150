//! The stage sequence, in one place: load → run v1/v2 → align → compare →
//! judge, producing the [`DiffReport`] that renderers read. Both commands go
//! through here; `diff` simply skips the run stage and registers the two
//! tables directly as v1 and v2.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;

use crate::align;
use crate::compare::{self, CompareOptions};
use crate::config::LoadedScenario;
use crate::engine::{self, EngineOptions};
use crate::error::{EngineContext, Error, Result, engine_message};
use crate::judge::{self, Policy};
use crate::load::{self, DeadLetter, InputSource};
use crate::models::{self, ModelSet, Selection};
use crate::report::{
    self, ColumnTolerance, ComparisonInfo, Determinism, DiffReport, GitRefs, InputInfo,
    InputSubset, Mode, ModelReport, Reason, RowCounts, RuleCheck, Samples, SchemaDiff, SqlSources,
    SubsetInfo, Timings, ToleranceInfo, Verdict,
};
use crate::transform::{self, Transform, Version};

/// Where v1 and v2 come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Two transforms over shared inputs (`diffgate run`).
    Run {
        scenario: Box<LoadedScenario>,
        inputs: Vec<InputSource>,
        v1: Transform,
        v2: Transform,
        /// The commits v1/v2 were read at, when read from git.
        git: Option<GitRefs>,
        /// The canary subset of the inputs, when one applies.
        subset: Option<SubsetInfo>,
        /// A model-folder transform (then `v1`/`v2` only name the folders).
        models: Option<Box<ModelRun>>,
    },
    /// Two existing tables (`diffgate diff`).
    Diff {
        v1: InputSource,
        v2: InputSource,
        v1_label: String,
        v2_label: String,
    },
}

/// A transform that is a folder of models, in both versions.
#[derive(Debug, Clone)]
pub struct ModelRun {
    /// The folder, as errors name it.
    pub dir: std::path::PathBuf,
    pub v1: ModelSet,
    pub v2: ModelSet,
    /// Models to compare (`[transform] targets`); empty = changed ones and
    /// their downstream.
    pub targets: Vec<String>,
    /// Keys per model (`[models.NAME] key`); others use the run's key when
    /// their outputs have it, else compare whole rows.
    pub keys: BTreeMap<String, Vec<String>>,
}

/// Everything one diffgate run needs, resolved from config and flags.
#[derive(Debug, Clone)]
pub struct Job {
    pub source: Source,
    pub key: Vec<String>,
    pub ignore_columns: Vec<String>,
    pub compare: CompareOptions,
    pub policy: Policy,
    pub engine: EngineOptions,
    pub description: Option<String>,
    pub expected_verdict: Option<Verdict>,
    /// The command line that reproduces this job, for reports.
    pub reproduce: Option<String>,
    pub limits: Limits,
    pub load: LoadOptions,
    /// Runs of each version for the determinism check (`--runs`; 1 = off).
    pub runs: u32,
    /// Plan v1 and v2 only, reading no data beyond input schemas
    /// (`diffgate check`).
    pub plan_only: bool,
}

/// What to do with input records that cannot be loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Where the dead-letter file goes (written only when a record is bad).
    pub dead_letter: std::path::PathBuf,
    /// Fail on the first bad record instead (`--strict`).
    pub strict: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            dead_letter: DEFAULT_DEAD_LETTER.into(),
            strict: false,
        }
    }
}

/// The dead-letter file when no report file says where reports go.
pub const DEFAULT_DEAD_LETTER: &str = "diffgate-dead-letter.ndjson";

/// Time limits; a run or transform that passes one stops with an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// The whole run (`--timeout`).
    pub run: Option<Duration>,
    /// Each transform run (`--transform-timeout`).
    pub transform: Option<Duration>,
}

fn limit_text(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Run `fut` within `limit`, if any.
pub(crate) async fn within<T>(
    limit: Option<Duration>,
    what: impl FnOnce() -> String,
    flag: &'static str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match limit {
        None => fut.await,
        Some(d) => tokio::time::timeout(d, fut).await.unwrap_or_else(|_| {
            Err(Error::Timeout {
                what: what(),
                flag,
                limit: limit_text(d),
            })
        }),
    }
}

/// The long-running stages, as announced to a [`Observer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Load,
    RunV1,
    RunV2,
    Plan,
    Determinism,
    Compare,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Load => "load inputs",
            Stage::RunV1 => "run v1",
            Stage::RunV2 => "run v2",
            Stage::Plan => "plan v1 and v2",
            Stage::Determinism => "re-run v1 and v2 (determinism check)",
            Stage::Compare => "align and compare",
        }
    }
}

/// Told when each stage starts (progress display, CI log groups). The
/// pipeline itself prints nothing.
pub trait Observer {
    fn stage(&self, stage: Stage);
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn stage(&self, _: Stage) {}
}

/// Run every stage and return the report, within the run's time limit.
pub async fn execute(job: &Job, observer: &dyn Observer) -> Result<DiffReport> {
    within(
        job.limits.run,
        || "the run".to_string(),
        "--timeout",
        stages(job, observer),
    )
    .await
}

async fn stages(job: &Job, observer: &dyn Observer) -> Result<DiffReport> {
    let started = Instant::now();
    let ctx = engine::session(&job.engine)?;
    let mut timings = Timings::default();

    // Scratch space for converted inputs and materialised outputs; removed
    // when it drops at the end of the run.
    let scratch = tempfile::Builder::new()
        .prefix("diffgate-")
        .tempdir()
        .map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            source,
        })?;

    // Stage 1: load.
    observer.stage(Stage::Load);
    let t = Instant::now();
    // `check` screens text inputs as `run` does, but keeps no dead letters.
    let dead_path = if job.plan_only {
        scratch.path().join("dead-letter.ndjson")
    } else {
        job.load.dead_letter.clone()
    };
    let mut dead = DeadLetter::new(&dead_path, job.load.strict);
    let mut inputs = Vec::new();
    let (command, v1_label, v2_label, sources): (_, _, _, Vec<&InputSource>) = match &job.source {
        Source::Run {
            v1,
            v2,
            inputs: sources,
            ..
        } if job.plan_only => (
            "check",
            v1.label.clone(),
            v2.label.clone(),
            sources.iter().collect(),
        ),
        Source::Run {
            inputs: sources,
            v1,
            v2,
            ..
        } => (
            "run",
            v1.label.clone(),
            v2.label.clone(),
            sources.iter().collect(),
        ),
        Source::Diff {
            v1,
            v2,
            v1_label,
            v2_label,
        } => ("diff", v1_label.clone(), v2_label.clone(), vec![v1, v2]),
    };
    for source in sources {
        let loaded = load::register(&ctx, source, scratch.path(), &mut dead, job.plan_only).await?;
        inputs.push(InputInfo {
            name: source.label.clone(),
            path: source.path.display().to_string(),
            format: loaded.format.as_str().to_string(),
            rows_read: loaded.rows_read,
            rows_loaded: loaded.rows_read.map(|r| r - loaded.rows_dead_lettered),
            rows_dead_lettered: loaded.rows_dead_lettered,
            subset: loaded.subset.map(|c| InputSubset {
                where_: source.filter.predicates.clone(),
                sample_column: source.filter.sample.as_ref().map(|s| s.column.clone()),
                rows_before: c.before,
                rows_after: c.after,
            }),
        });
    }
    timings.load_ms = t.elapsed().as_millis() as u64;

    if let Source::Run {
        models: Some(m),
        inputs: sources,
        ..
    } = &job.source
    {
        let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
        let t = Instant::now();
        let (models, selection) =
            model_stages(&ctx, job, m, &names, scratch.path(), observer).await?;
        timings.compare_ms = t.elapsed().as_millis() as u64;
        let (verdict, reasons, rules) = judge_models(job, &models, &selection, &inputs);
        let dead_letter = dead
            .finish()?
            .filter(|_| !job.plan_only)
            .map(|p| p.display().to_string());
        timings.total_ms = started.elapsed().as_millis() as u64;
        return Ok(DiffReport {
            schema_version: report::SCHEMA_VERSION,
            verdict,
            reasons,
            rules,
            comparison: comparison_info(job, command, v1_label, v2_label, None),
            inputs,
            dead_letter,
            subset: run_subset(job),
            determinism: None,
            models,
            models_added: selection.added,
            models_removed: selection.removed,
            schema: SchemaDiff::default(),
            rows: RowCounts::default(),
            columns: Vec::new(),
            samples: Samples::default(),
            expected_verdict: job.expected_verdict.filter(|_| !job.plan_only),
            timings,
        });
    }

    // Stage 2: run v1 and v2 (run only), or plan them (check).
    let mut sql = None;
    let mut planned = None;
    if let Source::Run { v1, v2, .. } = &job.source
        && job.plan_only
    {
        observer.stage(Stage::Plan);
        let (v1_sql, df1) = transform::plan(&ctx, v1).await?;
        let (v2_sql, df2) = transform::plan(&ctx, v2).await?;
        sql = Some(SqlSources {
            v1_path: v1.path.display().to_string(),
            v2_path: v2.path.display().to_string(),
            v1: v1_sql,
            v2: v2_sql,
        });
        planned = Some((df1, df2));
    } else if let Source::Run { v1, v2, .. } = &job.source {
        observer.stage(Stage::RunV1);
        let t = Instant::now();
        let v1_sql = run_transform(&ctx, v1, scratch.path(), job.limits.transform).await?;
        timings.run_v1_ms = t.elapsed().as_millis() as u64;
        observer.stage(Stage::RunV2);
        let t = Instant::now();
        let v2_sql = run_transform(&ctx, v2, scratch.path(), job.limits.transform).await?;
        timings.run_v2_ms = t.elapsed().as_millis() as u64;
        sql = Some(SqlSources {
            v1_path: v1.path.display().to_string(),
            v2_path: v2.path.display().to_string(),
            v1: v1_sql,
            v2: v2_sql,
        });
    }

    // The determinism check (run only): each version again, N - 1 times.
    let mut determinism = None;
    if let Source::Run {
        inputs: sources,
        v1,
        v2,
        ..
    } = &job.source
        && job.runs >= 2
    {
        observer.stage(Stage::Determinism);
        let t = Instant::now();
        let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
        let check = crate::determinism::Check {
            ctx: &ctx,
            engine: &job.engine,
            inputs: &names,
            key: &job.key,
            ignore_columns: &job.ignore_columns,
            compare: &job.compare,
            runs: job.runs,
            transform_limit: job.limits.transform,
        };
        let mut nondeterministic = Vec::new();
        for t in [v1, v2] {
            let first = scratch.path().join(t.version.as_str());
            if let Some(drift) = check.version(t, &first, scratch.path()).await? {
                nondeterministic.push(drift);
            }
        }
        determinism = Some(Determinism {
            runs: job.runs,
            nondeterministic,
        });
        timings.determinism_ms = t.elapsed().as_millis() as u64;
    }

    // Stage 3: align.
    observer.stage(Stage::Compare);
    let t = Instant::now();
    let schema_of = |v: Version| {
        let ctx = &ctx;
        async move {
            ctx.table(v.table_name())
                .await
                .map(|df| df.schema().as_arrow().clone())
                .map_err(|e| Error::Usage(format!("{}: {}", v.as_str(), engine_message(&e))))
        }
    };
    let (s1, s2) = match &planned {
        Some((df1, df2)) => (
            df1.schema().as_arrow().clone(),
            df2.schema().as_arrow().clone(),
        ),
        None => (schema_of(Version::V1).await?, schema_of(Version::V2).await?),
    };
    let tolerated: Vec<String> = job.compare.tolerance.columns.keys().cloned().collect();
    let mut alignment = align::align(&s1, &s2, &job.key, &job.ignore_columns, &tolerated)?;
    // Whether the shared columns are computed differently (for the
    // schema-migration rule): planning is cheap, so always known for SQL.
    if let Source::Run { v1, v2, .. } = &job.source {
        let shared: Vec<String> = s1
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| s2.field_with_name(n).is_ok())
            .collect();
        let (df1, df2) = match planned.take() {
            Some(p) => p,
            None => (
                transform::plan(&ctx, v1).await?.1,
                transform::plan(&ctx, v2).await?.1,
            ),
        };
        alignment.schema.logic_changed = Some(!transform::same_logic(&ctx, &df1, &df2, &shared)?);
    }

    // Stage 4: compare (not when planning only).
    let comparison = if job.plan_only {
        compare::Comparison::default()
    } else {
        compare::compare(&ctx, &alignment, &job.compare).await?
    };
    timings.compare_ms = t.elapsed().as_millis() as u64;

    // Stage 5: judge.
    let (verdict, reasons) = judge::judge(
        &alignment.schema,
        &comparison.rows,
        &inputs,
        determinism.as_ref(),
        alignment.schema.logic_changed,
        &job.policy,
    );
    let rules = judge::checks(&job.policy, &reasons, &|rule| match rule {
        "nondeterministic" => determinism.is_some(),
        "schema_migration" => alignment.schema.logic_changed.is_some(),
        // Row rules mean nothing when no rows were compared.
        _ => !job.plan_only || rule.starts_with("schema_"),
    });
    // The run succeeded: move the dead-letter file (if any) into place.
    let dead_letter = dead
        .finish()?
        .filter(|_| !job.plan_only)
        .map(|p| p.display().to_string());
    timings.total_ms = started.elapsed().as_millis() as u64;

    Ok(DiffReport {
        schema_version: report::SCHEMA_VERSION,
        verdict,
        reasons,
        rules,
        comparison: comparison_info(job, command, v1_label, v2_label, sql),
        inputs,
        dead_letter,
        determinism,
        subset: run_subset(job),
        models: Vec::new(),
        models_added: Vec::new(),
        models_removed: Vec::new(),
        schema: alignment.schema,
        rows: comparison.rows,
        columns: comparison.columns,
        samples: comparison.samples,
        // A scenario's expected verdict is about the data; a plan-only
        // check does not see it.
        expected_verdict: job.expected_verdict.filter(|_| !job.plan_only),
        timings,
    })
}

async fn run_transform(
    ctx: &SessionContext,
    t: &Transform,
    scratch: &Path,
    limit: Option<Duration>,
) -> Result<String> {
    within(
        limit,
        || format!("{} transform {}", t.version.as_str(), t.path.display()),
        "--transform-timeout",
        transform::run(ctx, t, scratch),
    )
    .await
}

/// What was compared and how, for the report.
fn comparison_info(
    job: &Job,
    command: &str,
    v1: String,
    v2: String,
    sql: Option<SqlSources>,
) -> ComparisonInfo {
    let tol = &job.compare.tolerance;
    ComparisonInfo {
        command: command.to_string(),
        mode: if job.key.is_empty() {
            Mode::Keyless
        } else {
            Mode::Keyed
        },
        key: job.key.clone(),
        v1,
        v2,
        description: job.description.clone(),
        tolerance: ToleranceInfo {
            abs: tol.default.abs,
            rel: tol.default.rel,
            columns: tol
                .columns
                .iter()
                .map(|(name, t)| ColumnTolerance {
                    name: name.clone(),
                    abs: t.abs,
                    rel: t.rel,
                })
                .collect(),
        },
        ignored_columns: job.ignore_columns.clone(),
        sample_limit: job.compare.sample_size,
        sql,
        reproduce: job.reproduce.clone(),
        git: match &job.source {
            Source::Run { git, .. } => git.clone(),
            Source::Diff { .. } => None,
        },
    }
}

fn run_subset(job: &Job) -> Option<SubsetInfo> {
    match &job.source {
        Source::Run { subset, .. } => subset.clone(),
        Source::Diff { .. } => None,
    }
}

// ---- model folders --------------------------------------------------------

/// A session for one version's models, reading the same registered inputs.
async fn version_session(
    ctx: &SessionContext,
    job: &Job,
    inputs: &[String],
) -> Result<SessionContext> {
    let v = engine::session(&job.engine)?;
    for name in inputs {
        let provider = ctx
            .table_provider(name.as_str())
            .await
            .context(|| format!("cannot read input `{name}`"))?;
        v.register_table(name.as_str(), provider)
            .context(|| format!("cannot register input `{name}`"))?;
    }
    Ok(v)
}

/// Run (or, for `check`, plan) the models of one version that `needed`
/// names, in dependency order, each registered under its own name.
/// `shared` outputs (models the same in both versions, already run for v1)
/// are registered instead of run again. Returns each model's output
/// directory (empty paths when only planned).
#[allow(clippy::too_many_arguments)]
async fn run_models(
    ctx: &SessionContext,
    job: &Job,
    version: Version,
    set: &ModelSet,
    order: &[String],
    needed: &BTreeSet<String>,
    shared: &BTreeMap<String, std::path::PathBuf>,
    scratch: &Path,
) -> Result<BTreeMap<String, std::path::PathBuf>> {
    let mut outputs = BTreeMap::new();
    for name in order.iter().filter(|n| needed.contains(*n)) {
        let model = &set.models[name];
        let t = Transform {
            version,
            path: model.path.clone(),
            label: name.clone(),
            origin: transform::Origin::Inline(model.sql.clone()),
        };
        if job.plan_only {
            let (_, df) = transform::plan(ctx, &t).await?;
            ctx.register_table(name.as_str(), df.into_view())
                .context(|| format!("cannot register model `{name}`"))?;
            outputs.insert(name.clone(), std::path::PathBuf::new());
            continue;
        }
        let dir = match shared.get(name) {
            Some(dir) => {
                transform::register_parts(ctx, name.as_str(), dir)
                    .await
                    .context(|| format!("cannot read model `{name}`"))?;
                dir.clone()
            }
            None => {
                let dir = scratch.join("models").join(version.as_str()).join(name);
                within(
                    job.limits.transform,
                    || format!("{} model {}", version.as_str(), model.path.display()),
                    "--transform-timeout",
                    transform::run_into(ctx, &t, &dir, name),
                )
                .await?;
                dir
            }
        };
        outputs.insert(name.clone(), dir);
    }
    Ok(outputs)
}

/// Models the same in both versions: equal SQL and every model upstream the
/// same. Their output is computed once.
fn same_models(m: &ModelRun, order: &[String]) -> BTreeSet<String> {
    let mut same = BTreeSet::new();
    for name in order {
        let (Some(a), Some(b)) = (m.v1.models.get(name), m.v2.models.get(name)) else {
            continue;
        };
        if a.sql == b.sql && a.upstream == b.upstream && a.upstream.iter().all(|u| same.contains(u))
        {
            same.insert(name.clone());
        }
    }
    same
}

/// Run both versions' models and compare the selected ones, each judged on
/// its own.
async fn model_stages(
    ctx: &SessionContext,
    job: &Job,
    m: &ModelRun,
    inputs: &[String],
    scratch: &Path,
    observer: &dyn Observer,
) -> Result<(Vec<ModelReport>, Selection)> {
    let order1 = m.v1.order(&m.dir)?;
    let order2 = m.v2.order(&m.dir)?;
    let selection = models::select(&m.v1, &m.v2, &order2, &m.targets, &m.dir)?;
    let needed = |set: &ModelSet| -> BTreeSet<String> {
        selection
            .compared
            .iter()
            .flat_map(|n| set.with_upstream(n))
            .collect()
    };
    let (need1, need2) = (needed(&m.v1), needed(&m.v2));

    observer.stage(if job.plan_only {
        Stage::Plan
    } else {
        Stage::RunV1
    });
    let ctx1 = version_session(ctx, job, inputs).await?;
    let out1 = run_models(
        &ctx1,
        job,
        Version::V1,
        &m.v1,
        &order1,
        &need1,
        &BTreeMap::new(),
        scratch,
    )
    .await?;
    if !job.plan_only {
        observer.stage(Stage::RunV2);
    }
    let same = same_models(m, &order1);
    let shared: BTreeMap<String, std::path::PathBuf> = out1
        .iter()
        .filter(|(n, _)| same.contains(*n))
        .map(|(n, d)| (n.clone(), d.clone()))
        .collect();
    let ctx2 = version_session(ctx, job, inputs).await?;
    let out2 = run_models(
        &ctx2,
        job,
        Version::V2,
        &m.v2,
        &order2,
        &need2,
        &shared,
        scratch,
    )
    .await?;

    observer.stage(Stage::Compare);
    let tolerated: Vec<String> = job.compare.tolerance.columns.keys().cloned().collect();
    let mut reports = Vec::new();
    for name in &selection.compared {
        let cctx = engine::session(&job.engine)?;
        for (v, vctx, out) in [(Version::V1, &ctx1, &out1), (Version::V2, &ctx2, &out2)] {
            let provider = if job.plan_only {
                vctx.table_provider(name.as_str())
                    .await
                    .context(|| format!("cannot read model `{name}`"))?
            } else {
                let dir = &out[name];
                transform::register_parts(&cctx, v.table_name(), dir)
                    .await
                    .context(|| format!("cannot read model `{name}`"))?;
                continue;
            };
            cctx.register_table(v.table_name(), provider)
                .context(|| format!("cannot read model `{name}`"))?;
        }
        let schema_of = |v: Version| {
            let cctx = &cctx;
            async move {
                cctx.table(v.table_name())
                    .await
                    .map(|df| df.schema().as_arrow().clone())
                    .context(|| format!("cannot read model `{name}`"))
            }
        };
        let (s1, s2) = (schema_of(Version::V1).await?, schema_of(Version::V2).await?);
        let key = match m.keys.get(name) {
            Some(k) => k.clone(),
            None if job
                .key
                .iter()
                .all(|k| s1.field_with_name(k).is_ok() && s2.field_with_name(k).is_ok()) =>
            {
                job.key.clone()
            }
            None => Vec::new(),
        };
        let mut alignment = align::align(&s1, &s2, &key, &job.ignore_columns, &tolerated)
            .map_err(|e| model_error(m, name, e))?;
        let (a, b) = (&m.v1.models[name], &m.v2.models[name]);
        let plan_of = |vctx: &SessionContext, version: Version, sql: &str, path: &Path| {
            let t = Transform {
                version,
                path: path.to_path_buf(),
                label: name.clone(),
                origin: transform::Origin::Inline(sql.to_string()),
            };
            let vctx = vctx.clone();
            async move { transform::plan(&vctx, &t).await.map(|(_, df)| df) }
        };
        let df1 = plan_of(&ctx1, Version::V1, &a.sql, &a.path).await?;
        let df2 = plan_of(&ctx2, Version::V2, &b.sql, &b.path).await?;
        let shared_cols: Vec<String> = s1
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| s2.field_with_name(n).is_ok())
            .collect();
        let logic_changed =
            a.sql != b.sql && !transform::same_logic(&ctx2, &df1, &df2, &shared_cols)?;
        alignment.schema.logic_changed = Some(logic_changed);
        let comparison = if job.plan_only {
            compare::Comparison::default()
        } else {
            compare::compare(&cctx, &alignment, &job.compare).await?
        };
        let (verdict, reasons) = judge::judge(
            &alignment.schema,
            &comparison.rows,
            &[],
            None,
            Some(logic_changed),
            &job.policy,
        );
        let why = if !m.targets.is_empty() {
            "target"
        } else if selection.changed.contains(name) {
            "changed"
        } else {
            "downstream"
        };
        reports.push(ModelReport {
            name: name.clone(),
            why: why.to_string(),
            verdict,
            reasons,
            mode: if key.is_empty() {
                Mode::Keyless
            } else {
                Mode::Keyed
            },
            key,
            sql: SqlSources {
                v1_path: a.path.display().to_string(),
                v2_path: b.path.display().to_string(),
                v1: a.raw.clone(),
                v2: b.raw.clone(),
            },
            schema: alignment.schema,
            rows: comparison.rows,
            columns: comparison.columns,
            samples: comparison.samples,
        });
    }
    Ok((reports, selection))
}

fn model_error(m: &ModelRun, name: &str, e: Error) -> Error {
    Error::Models {
        path: m.dir.clone(),
        message: format!("model `{name}`: {e}"),
    }
}

/// The run's verdict over its models: every model's reasons (named), a
/// removed model as a breaking change, and the input rules; rules merged
/// to their worst outcome.
fn judge_models(
    job: &Job,
    models: &[ModelReport],
    selection: &Selection,
    inputs: &[InputInfo],
) -> (Verdict, Vec<Reason>, Vec<RuleCheck>) {
    let (_, mut reasons) = judge::judge(
        &SchemaDiff::default(),
        &RowCounts::default(),
        inputs,
        None,
        None,
        &job.policy,
    );
    if let Some(level) = job.policy.schema_breaking.level() {
        for name in &selection.removed {
            reasons.push(Reason {
                rule: "schema_breaking".into(),
                level,
                message: format!("model `{name}` was removed from the folder"),
                observed: serde_json::json!(name),
                threshold: serde_json::Value::Null,
            });
        }
    }
    for m in models {
        for r in &m.reasons {
            reasons.push(Reason {
                message: format!("model `{}`: {}", m.name, r.message),
                ..r.clone()
            });
        }
    }
    let verdict = judge::order(&mut reasons);
    let rules = judge::checks(&job.policy, &reasons, &|rule| match rule {
        "nondeterministic" => false,
        _ => !job.plan_only || rule.starts_with("schema_"),
    });
    (verdict, reasons, rules)
}
