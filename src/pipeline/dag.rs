//! A transform that is a folder of models: each version's models run (or,
//! for `check`, are planned) in dependency order in a session of their own
//! over the shared inputs; models the same in both versions run once. The
//! compared models (changed ones and their downstream, or the targets) each
//! go through the comparison unit and are judged on their own.
//!
//! A model that cannot be rendered or planned does not stop the run: it is
//! a failure of that version of the model, a finding its report carries
//! (with file, line and column), and every model reading it is not run and
//! says so; all other models are compared. With `--runs N` the needed
//! models of each version run again on reordered inputs (the determinism
//! check of `determinism.rs`) and each compared model's re-runs are
//! compared with its first run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::TableReference;
use datafusion::prelude::{DataFrame, SessionContext};

use crate::compare::expect::Expectation;
use crate::compare::{self, Depth, Key, Logic, contract};
use crate::engine;
use crate::error::{EngineContext, Error, Result};
use crate::judge::{self, Policy};
use crate::models::{self, ModelSet, Selection};
use crate::report::{
    Determinism, Drift, FailureStage, Findings, ModelFailure, ModelReport, SqlSources, Timings, Why,
};
use crate::scratch::Place;
use crate::transform::{self, Origin, Transform, Version};

use super::assemble::{Found, Subject};
use super::env::{Env, ms};
use super::job::ModelRun;
use super::progress::Stage;

/// Run (or plan) both versions' models and compare the selected ones.
pub(super) async fn run(
    env: &Env<'_>,
    m: &ModelRun,
    runs: u32,
    timings: &mut Timings,
) -> Result<Found> {
    let plan_only = env.job.plan_only();
    if !env.job.settings.expect.is_empty() {
        return Err(Error::Usage(
            "declared changes of a model folder belong to their model: \
             [[models.NAME.expect]] instead of [[expect]] or --expect"
                .into(),
        ));
    }
    if !env.job.settings.contract.is_empty() {
        return Err(Error::Usage(
            "a contract of a model folder belongs to its model: \
             [models.NAME.contract] instead of [contract]"
                .into(),
        ));
    }
    let order1 = m.v1.order(&m.dir)?;
    let order2 = m.v2.order(&m.dir)?;
    let selection = models::select(&m.v1, &m.v2, &order2, &m.targets, &m.dir)?;
    // The models compared models' relationships look values up in run too.
    let looked_up: BTreeSet<String> = selection
        .compared
        .iter()
        .filter_map(|n| m.contracts.get(n))
        .flatten()
        .filter_map(|c| c.looked_up().map(str::to_string))
        .collect();
    let v1 = VersionRun::new(
        env,
        env.ctx,
        Version::V1,
        &m.v1,
        order1,
        &selection,
        &looked_up,
    )
    .await?;
    let v2 = VersionRun::new(
        env,
        env.ctx,
        Version::V2,
        &m.v2,
        order2,
        &selection,
        &looked_up,
    )
    .await?;

    env.observer
        .stage(if plan_only { Stage::Plan } else { Stage::RunV1 });
    let t = Instant::now();
    let root = env.scratch.place("models");
    let out1 = v1.run(env, &root, &BTreeMap::new()).await?;
    timings.run_v1_ms = ms(t);
    if !plan_only {
        env.observer.stage(Stage::RunV2);
    }
    // Models the same in both versions are not run again for v2 (planning
    // is cheap and leaves no output to share).
    let same = same_models(m, &v1.order);
    let shared: BTreeMap<String, Output> = out1
        .done
        .iter()
        .filter(|(n, _)| !plan_only && same.contains(*n))
        .map(|(n, o)| {
            let reused = Output {
                dir: o.dir.clone(),
                sql: o.sql.clone(),
                plan: None,
            };
            (n.clone(), reused)
        })
        .collect();
    let t = Instant::now();
    let out2 = v2.run(env, &root, &shared).await?;
    timings.run_v2_ms = ms(t);

    let determinism = if runs >= 2 {
        env.observer.stage(Stage::Determinism);
        let t = Instant::now();
        let d = determinism(env, &m.keys, &selection, [(&v1, &out1), (&v2, &out2)], runs).await?;
        timings.determinism_ms = ms(t);
        Some(d)
    } else {
        None
    };
    let drifts = determinism
        .as_ref()
        .map_or(&[][..], |d| &d.nondeterministic);

    env.observer.stage(Stage::Compare);
    let t = Instant::now();
    let mut reports = Vec::new();
    for name in &selection.compared {
        let sides = [(&v1, &out1), (&v2, &out2)];
        let mut report = compare_model(env, m, &selection, name, sides, drifts).await?;
        judge_drift(&mut report, drifts, runs, &env.job.policy);
        reports.push(report);
    }
    timings.compare_ms = ms(t);
    let uncompared = m
        .expect
        .iter()
        .filter(|(name, _)| !plan_only && !selection.compared.contains(name))
        .map(|(name, e)| (name.clone(), e.iter().map(Expectation::stale).collect()))
        .collect();
    Ok(Found {
        subject: Subject::Models {
            models: reports,
            added: selection.added,
            removed: selection.removed,
            uncompared,
        },
        sql: None,
        determinism,
    })
}

/// v2's models planned, in dependency order, in a session of their own
/// over the inputs (for `diffgate init`): each model's planned output, or
/// why it could not be planned (file and line first when known).
pub(super) async fn plan_v2(env: &Env<'_>, m: &ModelRun) -> Result<Vec<(String, Planned)>> {
    let order = m.v2.order(&m.dir)?;
    let selection = Selection {
        compared: order.clone(),
        changed: BTreeSet::new(),
        added: Vec::new(),
        removed: Vec::new(),
    };
    let none = BTreeSet::new();
    let v2 = VersionRun::new(env, env.ctx, Version::V2, &m.v2, order, &selection, &none).await?;
    let mut out = v2
        .run(env, &env.scratch.place("models"), &BTreeMap::new())
        .await?;
    let mut planned = Vec::new();
    for name in &v2.order {
        if let Some(done) = out.done.remove(name) {
            let df = done
                .plan
                .ok_or_else(|| format!("model `{name}` was not planned"));
            planned.push((name.clone(), df));
        } else if let Some(f) = out.failed.remove(name) {
            let at = match f.line {
                Some(l) => format!("{}:{l}: ", f.file),
                None => format!("{}: ", f.file),
            };
            planned.push((name.clone(), Err(format!("{at}{}", f.message))));
        }
    }
    Ok(planned)
}

/// A planned output, or why there is none.
pub type Planned = std::result::Result<DataFrame, String>;

/// What each needed model of a version gave: its output, or why it could
/// not be run.
#[derive(Default)]
struct Outputs {
    done: BTreeMap<String, Output>,
    failed: BTreeMap<String, ModelFailure>,
}

/// One model's output: where it was written (none when only planned),
/// the SQL that ran and its planned query (absent when v2 reused v1's
/// output).
struct Output {
    dir: Option<Place>,
    sql: String,
    plan: Option<DataFrame>,
}

/// One version's models: its session (the shared inputs registered), the
/// models in dependency order, and those the compared models need.
struct VersionRun<'a> {
    ctx: SessionContext,
    version: Version,
    set: &'a ModelSet,
    order: Vec<String>,
    needed: BTreeSet<String>,
}

impl<'a> VersionRun<'a> {
    /// The models of `set` in a session of their own, the inputs registered
    /// as `from` has them. The compared models are needed, with `also`
    /// and everything upstream (names that are no model of `set` are
    /// never run).
    async fn new(
        env: &Env<'_>,
        from: &SessionContext,
        version: Version,
        set: &'a ModelSet,
        order: Vec<String>,
        selection: &Selection,
        also: &BTreeSet<String>,
    ) -> Result<Self> {
        let ctx = engine::session(&env.job.engine)?;
        for source in env.job.inputs() {
            let name = source.name.as_str();
            let provider = from
                .table_provider(name)
                .await
                .context(|| format!("cannot read input `{name}`"))?;
            ctx.register_table(name, provider)
                .context(|| format!("cannot register input `{name}`"))?;
        }
        let needed = selection
            .compared
            .iter()
            .chain(also)
            .flat_map(|n| set.with_upstream(n))
            .collect();
        Ok(VersionRun {
            ctx,
            version,
            set,
            order,
            needed,
        })
    }

    /// The model `name` as a transform of this version, running `sql`.
    fn transform(&self, name: &str, sql: String) -> Transform {
        Transform {
            version: self.version,
            path: PathBuf::from(&self.set.models[name].shown),
            label: name.to_string(),
            origin: Origin::Inline(sql),
        }
    }

    /// The SQL model `name` runs: as rendered, or, for a model that asked
    /// for the columns of relations, rendered again knowing them (the
    /// inputs' and the upstream models' as planned in this session).
    async fn sql(&self, name: &str) -> std::result::Result<String, String> {
        let model = &self.set.models[name];
        let Some(again) = self
            .set
            .rerender
            .as_ref()
            .filter(|_| !model.introspected.is_empty())
        else {
            return Ok(model.sql.clone());
        };
        let mut columns = models::Columns::new();
        for relation in &model.introspected {
            if let Ok(table) = self.ctx.table_provider(relation.as_str()).await {
                let schema = table.schema();
                let cols = schema
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), sql_type(f.data_type())))
                    .collect();
                columns.insert(relation.clone(), cols);
            }
        }
        (again.0)(name, columns)
    }

    /// Run (or plan) the needed models in order, each written under
    /// `root` and registered under its own name; `shared` outputs (already
    /// run for v1) are registered instead of run again. A model that cannot
    /// be rendered or planned, or reads one, is a failure, not an error.
    async fn run(
        &self,
        env: &Env<'_>,
        root: &Place,
        shared: &BTreeMap<String, Output>,
    ) -> Result<Outputs> {
        let mut out = Outputs::default();
        for name in self.order.iter().filter(|n| self.needed.contains(*n)) {
            if let Some(failure) = self.failure_before_planning(name, &out.failed) {
                out.failed.insert(name.clone(), failure);
                continue;
            }
            if let Some(o) = shared.get(name) {
                if let Some(dir) = &o.dir {
                    transform::register_parts(&self.ctx, name.as_str(), dir)
                        .await
                        .context(|| format!("cannot read model `{name}`"))?;
                }
                let (dir, sql) = (o.dir.clone(), o.sql.clone());
                let plan = None;
                out.done.insert(name.clone(), Output { dir, sql, plan });
                continue;
            }
            let sql = match self.sql(name).await {
                Ok(sql) => sql,
                Err(e) => {
                    let failure = self.render_failure(name, &e);
                    out.failed.insert(name.clone(), failure);
                    continue;
                }
            };
            let t = self.transform(name, sql.clone());
            let df = match transform::plan(&self.ctx, &t).await {
                Ok((_, df)) => df,
                Err(e) => {
                    out.failed
                        .insert(name.clone(), self.plan_failure(name, &sql, e)?);
                    continue;
                }
            };
            let dir = if env.job.plan_only() {
                self.ctx
                    .register_table(name.as_str(), df.clone().into_view())
                    .context(|| format!("cannot register model `{name}`"))?;
                None
            } else {
                let v = self.version.as_str();
                let dir = root.join(v).join(name);
                let what = || format!("{v} model {}", t.path.display());
                let limit = env.job.limits.transform;
                transform::run_planned(&self.ctx, &t, &df, &dir, name, limit, what).await?;
                Some(dir)
            };
            let plan = Some(df);
            out.done.insert(name.clone(), Output { dir, sql, plan });
        }
        Ok(out)
    }

    /// Why model `name` cannot even be planned: its Jinja failed, or it
    /// reads a model that `failed`.
    fn failure_before_planning(
        &self,
        name: &str,
        failed: &BTreeMap<String, ModelFailure>,
    ) -> Option<ModelFailure> {
        let model = &self.set.models[name];
        if let Some(e) = &model.error {
            return Some(self.render_failure(name, e));
        }
        let up = model.upstream.iter().find(|u| failed.contains_key(*u))?;
        Some(ModelFailure {
            version: self.version.as_str().to_string(),
            file: model.shown.clone(),
            line: None,
            column: None,
            stage: FailureStage::Upstream,
            upstream: Some(up.clone()),
            message: format!("reads model `{up}`, which failed"),
        })
    }

    /// Rendering model `name` failed with `e`, which starts `file:line: `
    /// when the error is in the model's own file.
    fn render_failure(&self, name: &str, e: &str) -> ModelFailure {
        let model = &self.set.models[name];
        let (line, message) = e
            .strip_prefix(&model.shown)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|rest| rest.split_once(": "))
            .and_then(|(l, m)| Some((l.parse().ok()?, m.to_string())))
            .map_or((None, e.to_string()), |(l, m)| (Some(l), m));
        ModelFailure {
            version: self.version.as_str().to_string(),
            file: model.shown.clone(),
            line,
            column: None,
            stage: FailureStage::Render,
            upstream: None,
            message,
        }
    }

    /// Planning model `name` (as `sql`) failed with `e`: a failure naming
    /// the place in the model's file, when `e` is about its SQL; else `e`.
    fn plan_failure(&self, name: &str, sql: &str, e: Error) -> Result<ModelFailure> {
        let Error::Transform {
            location, message, ..
        } = e
        else {
            return Err(e);
        };
        let model = &self.set.models[name];
        let (line, column, message) = match location {
            None => (None, None, message),
            Some((l, c)) => match models::source_position(&model.raw, sql, l, c) {
                Some((l, c)) => (Some(l), Some(c), message),
                None => (
                    None,
                    None,
                    format!("{message} (line {l}, column {c} of the SQL it rendered to)"),
                ),
            },
        };
        Ok(ModelFailure {
            version: self.version.as_str().to_string(),
            file: model.shown.clone(),
            line,
            column,
            stage: FailureStage::Plan,
            upstream: None,
            message,
        })
    }

    /// Register model `name`'s output in `ctx` as this version's side.
    async fn register_side(&self, ctx: &SessionContext, name: &str, out: &Outputs) -> Result<()> {
        let table = self.version.table_name();
        let what = || format!("cannot read model `{name}`");
        match &out.done[name].dir {
            None => {
                let provider = self.ctx.table_provider(name).await.context(what)?;
                ctx.register_table(table, provider).context(what)?;
            }
            Some(dir) => {
                transform::register_parts(ctx, table, dir)
                    .await
                    .context(what)?;
            }
        }
        Ok(())
    }
}

/// Compare model `name` of both versions and judge it; a model that failed
/// in either version is judged by its failures alone.
async fn compare_model(
    env: &Env<'_>,
    m: &ModelRun,
    selection: &Selection,
    name: &str,
    sides: [(&VersionRun<'_>, &Outputs); 2],
    drifts: &[Drift],
) -> Result<ModelReport> {
    let job = env.job;
    let [(_, out1), (v2, out2)] = sides;
    let (a, b) = (&m.v1.models[name], &m.v2.models[name]);
    let why = if !m.targets.is_empty() {
        Why::Target
    } else if selection.changed.contains(name) {
        Why::Changed
    } else {
        Why::Downstream
    };
    let sql = SqlSources {
        v1_path: a.path.display().to_string(),
        v2_path: b.path.display().to_string(),
        v1: a.raw.clone(),
        v2: b.raw.clone(),
    };
    let notes = m.notes.get(name).cloned().unwrap_or_default();
    let failures: Vec<ModelFailure> = [out1, out2]
        .iter()
        .filter_map(|o| o.failed.get(name).cloned())
        .collect();
    if !failures.is_empty() {
        let mut reasons = judge::failures(&failures, &job.policy);
        let key = m.keys.get(name).cloned().unwrap_or_default();
        return Ok(ModelReport {
            name: name.to_string(),
            why,
            verdict: judge::order(&mut reasons),
            reasons,
            mode: crate::report::Mode::of(&key),
            key,
            sql,
            failures,
            findings: Findings {
                notes,
                ..Findings::default()
            },
        });
    }
    let ctx = engine::session(&job.engine)?;
    for (run, out) in sides {
        run.register_side(&ctx, name, out).await?;
    }
    let mut notes = notes;
    let mut contract = m.contracts.get(name).cloned().unwrap_or_default();
    let looked_up: BTreeSet<String> = contract
        .iter()
        .filter_map(|c| c.looked_up().map(str::to_string))
        .collect();
    for table in &looked_up {
        for (run, out) in sides {
            if let Some(f) = out.failed.get(table) {
                let v = run.version.as_str();
                notes.push(format!(
                    "relationships with `{table}` not checked: the model failed in {v} ({})",
                    f.message
                ));
                contract.retain(|c| c.looked_up() != Some(table.as_str()));
            } else if let Ok(provider) = run.ctx.table_provider(table.as_str()).await {
                let own = contract::version_table(run.version, table);
                ctx.register_table(TableReference::bare(own), provider)
                    .context(|| format!("cannot register `{table}` for the contract"))?;
            }
        }
    }
    let key = match m.keys.get(name) {
        Some(k) => Key::Given(k),
        None => Key::IfPresent(&job.settings.key),
    };
    let depth = if job.plan_only() {
        Depth::Schema
    } else {
        Depth::Rows
    };
    // A model whose SQL changed ran (or was planned) in both versions, so
    // both its plans are at hand.
    let (o1, o2) = (&out1.done[name], &out2.done[name]);
    let logic = match (o1.plan.as_ref(), o2.plan.as_ref()) {
        _ if o1.sql == o2.sql => Logic::Same,
        (Some(df1), Some(df2)) => Logic::Plans(&v2.ctx, df1, df2),
        _ => {
            let message = format!("model `{name}` changed but was not planned in both versions");
            return Err(Error::Internal(message));
        }
    };
    let mut settings = compare::Settings {
        expect: m.expect.get(name).cloned().unwrap_or_default(),
        contract,
        ..job.settings.clone()
    };
    // `--diff-out` of a folder: a folder with a file per model.
    if let Some(dir) = &job.settings.options.diff_out {
        settings.options.diff_out = Some(dir.join(format!("{name}.parquet")));
    }
    let mut c = compare::registered(&ctx, &settings, key, depth, logic)
        .await
        .map_err(|e| model_error(m, name, e))?;
    c.findings.notes.splice(0..0, notes);
    let mine = drifts.iter().filter(|d| d.model.as_deref() == Some(name));
    c.findings.without_unstable_profile(mine);
    let mut reasons = judge::comparison(&c.findings, !job.plan_only(), &job.policy);
    let verdict = judge::order(&mut reasons);
    Ok(ModelReport {
        name: name.to_string(),
        why,
        verdict,
        reasons,
        mode: c.mode(),
        key: c.key,
        sql,
        failures: Vec::new(),
        findings: c.findings,
    })
}

/// Re-run each version's needed models `runs - 1` more times on reordered
/// inputs and compare every compared model's re-runs with its first run,
/// joined on the model's key (`keys`) as its comparison is.
async fn determinism(
    env: &Env<'_>,
    keys: &BTreeMap<String, Vec<String>>,
    selection: &Selection,
    firsts: [(&VersionRun<'_>, &Outputs); 2],
    runs: u32,
) -> Result<Determinism> {
    let rerun = env.rerun(runs);
    let mut drifts: BTreeMap<(Version, String), Drift> = BTreeMap::new();
    for k in 2..=runs {
        let inputs = rerun.session(k, env.scratch).await?;
        let root = env.scratch.place(&format!("models-run{k}"));
        for (first, out) in firsts {
            let again = VersionRun::new(
                env,
                &inputs,
                first.version,
                first.set,
                first.order.clone(),
                selection,
                &BTreeSet::new(),
            )
            .await?;
            let rerun_out = again.run(env, &root, &BTreeMap::new()).await?;
            for name in &selection.compared {
                let (Some(a), Some(b)) = (
                    out.done.get(name).and_then(|o| o.dir.as_ref()),
                    rerun_out.done.get(name).and_then(|o| o.dir.as_ref()),
                ) else {
                    continue;
                };
                let v = first.version;
                // The model's own key, as its comparison takes it.
                let key = match keys.get(name) {
                    Some(k) => Key::Given(k),
                    None => Key::IfPresent(&env.job.settings.key),
                };
                drifts
                    .entry((v, name.clone()))
                    .or_insert_with(|| Drift::new(v, Some(name.clone())))
                    .add(rerun.differs(a, b, key).await?);
            }
        }
    }
    // Reported in the order the models are compared, v1 before v2.
    let mut nondeterministic = Vec::new();
    for name in &selection.compared {
        for v in [Version::V1, Version::V2] {
            if let Some(d) = drifts.remove(&(v, name.clone()))
                && d.runs_differing > 0
            {
                nondeterministic.push(d);
            }
        }
    }
    Ok(Determinism {
        runs,
        nondeterministic,
    })
}

/// Add the determinism check's reasons about model `report` to its own.
fn judge_drift(report: &mut ModelReport, drifts: &[Drift], runs: u32, policy: &Policy) {
    let mine: Vec<Drift> = drifts
        .iter()
        .filter(|d| d.model.as_deref() == Some(report.name.as_str()))
        .cloned()
        .collect();
    if mine.is_empty() {
        return;
    }
    let d = Determinism {
        runs,
        nondeterministic: mine,
    };
    let mut reasons = judge::determinism(&d, policy);
    reasons.append(&mut report.reasons);
    report.verdict = judge::order(&mut reasons);
    report.reasons = reasons;
}

/// A column type as SQL names it, for `adapter.get_columns_in_relation`
/// (what `union_relations` casts to); other types as Arrow names them.
fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt8 => "tinyint unsigned".into(),
        DataType::UInt16 => "smallint unsigned".into(),
        DataType::UInt32 => "integer unsigned".into(),
        DataType::UInt64 => "bigint unsigned".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "varchar".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Dictionary(_, v) => sql_type(v),
        other => other.to_string(),
    }
}

/// Models the same in both versions: equal SQL and every model upstream the
/// same. Their output is computed once.
fn same_models(m: &ModelRun, order: &[String]) -> BTreeSet<String> {
    let mut same = BTreeSet::new();
    for name in order {
        let (Some(a), Some(b)) = (m.v1.models.get(name), m.v2.models.get(name)) else {
            continue;
        };
        if !a.differs(b) && a.upstream == b.upstream && a.upstream.iter().all(|u| same.contains(u))
        {
            same.insert(name.clone());
        }
    }
    same
}

/// An error comparing one model's outputs, naming the model and folder.
fn model_error(m: &ModelRun, name: &str, e: Error) -> Error {
    Error::Models {
        path: m.dir.clone(),
        message: format!("model `{name}`: {e}"),
    }
}
