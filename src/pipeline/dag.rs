//! A transform that is a folder of models: each version's models run (or,
//! for `check`, are planned) in dependency order in a session of their own
//! over the shared inputs; models the same in both versions run once. The
//! compared models (changed ones and their downstream, or the targets) each
//! go through the comparison unit and are judged on their own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use datafusion::prelude::{DataFrame, SessionContext};

use crate::compare::{self, Depth, Key, Logic};
use crate::engine;
use crate::error::{EngineContext, Error, Result};
use crate::judge;
use crate::models::{self, ModelSet, Selection};
use crate::report::{ModelReport, SqlSources, Timings, Why};
use crate::transform::{self, Origin, Transform, Version};

use super::assemble::{Found, Subject};
use super::env::{Env, ms};
use super::job::ModelRun;
use super::progress::Stage;

/// Run (or plan) both versions' models and compare the selected ones.
pub(super) async fn run(env: &Env<'_>, m: &ModelRun, timings: &mut Timings) -> Result<Found> {
    let plan_only = env.job.plan_only();
    let order1 = m.v1.order(&m.dir)?;
    let order2 = m.v2.order(&m.dir)?;
    let selection = models::select(&m.v1, &m.v2, &order2, &m.targets, &m.dir)?;
    let v1 = VersionRun::new(env, Version::V1, &m.v1, order1, &selection).await?;
    let v2 = VersionRun::new(env, Version::V2, &m.v2, order2, &selection).await?;
    unrendered(m, [&v1, &v2])?;

    env.observer
        .stage(if plan_only { Stage::Plan } else { Stage::RunV1 });
    let t = Instant::now();
    let out1 = v1.run(env, &BTreeMap::new()).await?;
    timings.run_v1_ms = ms(t);
    if !plan_only {
        env.observer.stage(Stage::RunV2);
    }
    // Models the same in both versions are not run again for v2.
    let same = same_models(m, &v1.order);
    let shared: BTreeMap<String, PathBuf> = out1
        .iter()
        .filter(|(n, _)| same.contains(*n))
        .map(|(n, o)| (n.clone(), o.dir.clone()))
        .collect();
    let t = Instant::now();
    let out2 = v2.run(env, &shared).await?;
    timings.run_v2_ms = ms(t);

    env.observer.stage(Stage::Compare);
    let t = Instant::now();
    let mut reports = Vec::new();
    for name in &selection.compared {
        let sides = [(&v1, &out1), (&v2, &out2)];
        reports.push(compare_model(env, m, &selection, name, sides).await?);
    }
    timings.compare_ms = ms(t);
    Ok(Found {
        subject: Subject::Models {
            models: reports,
            added: selection.added,
            removed: selection.removed,
        },
        sql: None,
        determinism: None,
    })
}

/// What each model of a version gave, by name.
type Outputs = BTreeMap<String, Output>;

/// One model's output: where it was written (empty when only planned) and
/// its planned query (absent when v2 reused v1's output).
struct Output {
    dir: PathBuf,
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
    async fn new(
        env: &Env<'_>,
        version: Version,
        set: &'a ModelSet,
        order: Vec<String>,
        selection: &Selection,
    ) -> Result<Self> {
        let ctx = engine::session(&env.job.engine)?;
        for source in env.job.inputs() {
            let name = source.name.as_str();
            let provider = env
                .ctx
                .table_provider(name)
                .await
                .context(|| format!("cannot read input `{name}`"))?;
            ctx.register_table(name, provider)
                .context(|| format!("cannot register input `{name}`"))?;
        }
        let needed = selection
            .compared
            .iter()
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

    /// The model `name` as a transform of this version.
    fn transform(&self, name: &str) -> Transform {
        let model = &self.set.models[name];
        Transform {
            version: self.version,
            path: model.path.clone(),
            label: name.to_string(),
            origin: Origin::Inline(model.sql.clone()),
        }
    }

    /// Run (or plan) the needed models in order, each registered under its
    /// own name; `shared` outputs (already run for v1) are registered
    /// instead of run again.
    async fn run(&self, env: &Env<'_>, shared: &BTreeMap<String, PathBuf>) -> Result<Outputs> {
        let mut outputs = BTreeMap::new();
        for name in self.order.iter().filter(|n| self.needed.contains(*n)) {
            let t = self.transform(name);
            let output = if env.job.plan_only() {
                let (_, df) = transform::plan(&self.ctx, &t).await?;
                self.ctx
                    .register_table(name.as_str(), df.clone().into_view())
                    .context(|| format!("cannot register model `{name}`"))?;
                Output {
                    dir: PathBuf::new(),
                    plan: Some(df),
                }
            } else if let Some(dir) = shared.get(name) {
                transform::register_parts(&self.ctx, name.as_str(), dir)
                    .await
                    .context(|| format!("cannot read model `{name}`"))?;
                Output {
                    dir: dir.clone(),
                    plan: None,
                }
            } else {
                let v = self.version.as_str();
                let dir = env.scratch.join("models").join(v).join(name);
                let what = || format!("{v} model {}", t.path.display());
                let limit = env.job.limits.transform;
                let (_, df) = transform::run_into(&self.ctx, &t, &dir, name, limit, what).await?;
                Output {
                    dir,
                    plan: Some(df),
                }
            };
            outputs.insert(name.clone(), output);
        }
        Ok(outputs)
    }

    /// Register model `name`'s output in `ctx` as this version's side.
    async fn register_side(&self, ctx: &SessionContext, name: &str, out: &Outputs) -> Result<()> {
        let table = self.version.table_name();
        let what = || format!("cannot read model `{name}`");
        let dir = &out[name].dir;
        if dir.as_os_str().is_empty() {
            let provider = self.ctx.table_provider(name).await.context(what)?;
            ctx.register_table(table, provider).context(what)?;
        } else {
            transform::register_parts(ctx, table, dir)
                .await
                .context(what)?;
        }
        Ok(())
    }
}

/// Compare model `name` of both versions and judge it.
async fn compare_model(
    env: &Env<'_>,
    m: &ModelRun,
    selection: &Selection,
    name: &str,
    sides: [(&VersionRun<'_>, &Outputs); 2],
) -> Result<ModelReport> {
    let job = env.job;
    let ctx = engine::session(&job.engine)?;
    for (run, out) in sides {
        run.register_side(&ctx, name, out).await?;
    }
    let [(_, out1), (v2, out2)] = sides;
    let (a, b) = (&m.v1.models[name], &m.v2.models[name]);
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
    let plans = (out1[name].plan.as_ref(), out2[name].plan.as_ref());
    let logic = match plans {
        _ if a.sql == b.sql => Logic::Same,
        (Some(df1), Some(df2)) => Logic::Plans(&v2.ctx, df1, df2),
        _ => {
            let message = format!("model `{name}` changed but was not planned in both versions");
            return Err(Error::Internal(message));
        }
    };
    let mut c = compare::registered(&ctx, &job.settings, key, depth, logic)
        .await
        .map_err(|e| model_error(m, name, e))?;
    if let Some(notes) = m.notes.get(name) {
        c.findings.notes.splice(0..0, notes.iter().cloned());
    }
    let rows = (!job.plan_only()).then_some(&c.findings.rows);
    let mut reasons = judge::comparison(&c.findings.schema, rows, &job.policy);
    let verdict = judge::order(&mut reasons);
    let why = if !m.targets.is_empty() {
        Why::Target
    } else if selection.changed.contains(name) {
        Why::Changed
    } else {
        Why::Downstream
    };
    Ok(ModelReport {
        name: name.to_string(),
        why,
        verdict,
        reasons,
        mode: c.mode(),
        key: c.key,
        sql: SqlSources {
            v1_path: a.path.display().to_string(),
            v2_path: b.path.display().to_string(),
            v1: a.raw.clone(),
            v2: b.raw.clone(),
        },
        findings: c.findings,
    })
}

/// Every model a compared model needs that could not be rendered, in both
/// versions at once, as one error; models nothing compared needs do not
/// stop the run.
fn unrendered(m: &ModelRun, runs: [&VersionRun<'_>; 2]) -> Result<()> {
    let mut errors = Vec::new();
    for run in runs {
        for name in run.order.iter().filter(|n| run.needed.contains(*n)) {
            if let Some(e) = &run.set.models[name].error {
                errors.push(format!("{} model `{name}`: {e}", run.version.as_str()));
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(Error::Models {
        path: m.dir.clone(),
        message: format!(
            "{} model(s) that the compared models need cannot be rendered:\n  {}",
            errors.len(),
            errors.join("\n  ")
        ),
    })
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

/// An error comparing one model's outputs, naming the model and folder.
fn model_error(m: &ModelRun, name: &str, e: Error) -> Error {
    Error::Models {
        path: m.dir.clone(),
        message: format!("model `{name}`: {e}"),
    }
}
