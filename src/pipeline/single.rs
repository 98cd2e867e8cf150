//! The paths of one comparison: two tables (`diff`), one transform run in
//! both versions (`run`, with the determinism check when asked) or planned
//! (`check`). Each ends in the comparison unit.

use std::time::Instant;

use datafusion::prelude::DataFrame;

use crate::compare::{self, Depth, Key, Logic, Settings};
use crate::error::{EngineContext, Result};
use crate::report::{Determinism, SqlSources, Timings};
use crate::transform::{self, Transform, Version};

use super::assemble::{Found, Subject};
use super::env::{Env, ms};
use super::progress::Stage;

/// `diff`: the tables registered as v1 and v2 when loaded, compared.
pub(super) async fn tables(env: &Env<'_>, timings: &mut Timings) -> Result<Found> {
    env.observer.stage(Stage::Compare);
    let t = Instant::now();
    // An input in a store or behind a URL would be fetched a second time
    // for the detail pass: the census keeps a local copy of what that pass
    // reads instead. Local files are read again, which costs less than
    // writing and reading the copy (at 10M rows per side, 11.2 s against
    // 14.2 s, the README's performance section).
    let mut settings = env.job.settings.clone();
    let remote = env
        .job
        .inputs()
        .iter()
        .any(|s| crate::load::store::is_url(&s.path.to_string_lossy()));
    // (The copy's files are this machine's: not for distributed workers.)
    if remote && env.job.engine.distributed.is_none() {
        settings.options.spool = Some(env.scratch.local().join("census"));
    }
    let subject = compare(env, &settings, Depth::Rows, Logic::Unknown).await?;
    timings.compare_ms = ms(t);
    Ok(Found {
        subject,
        sql: None,
        determinism: None,
    })
}

/// `run`: v1 and v2 run and materialised, re-run `runs - 1` more times each
/// when `runs` ≥ 2, then compared.
pub(super) async fn run(
    env: &Env<'_>,
    v1: &Transform,
    v2: &Transform,
    runs: u32,
    timings: &mut Timings,
) -> Result<Found> {
    env.observer.stage(Stage::RunV1);
    let t = Instant::now();
    let (v1_sql, df1) = materialise(env, v1).await?;
    timings.run_v1_ms = ms(t);
    env.observer.stage(Stage::RunV2);
    let t = Instant::now();
    let (v2_sql, df2) = materialise(env, v2).await?;
    timings.run_v2_ms = ms(t);
    let determinism = if runs >= 2 {
        env.observer.stage(Stage::Determinism);
        let t = Instant::now();
        let d = determinism(env, [v1, v2], runs).await?;
        timings.determinism_ms = ms(t);
        Some(d)
    } else {
        None
    };
    env.observer.stage(Stage::Compare);
    let t = Instant::now();
    let subject = compare(
        env,
        &env.job.settings,
        Depth::Rows,
        Logic::Plans(env.ctx, &df1, &df2),
    )
    .await?;
    timings.compare_ms = ms(t);
    Ok(Found {
        subject,
        sql: Some(sql_sources(v1, v2, v1_sql, v2_sql)),
        determinism,
    })
}

/// `check`: v1 and v2 planned, their planned outputs registered as v1 and
/// v2, compared by schema only.
pub(super) async fn check(
    env: &Env<'_>,
    v1: &Transform,
    v2: &Transform,
    timings: &mut Timings,
) -> Result<Found> {
    env.observer.stage(Stage::Plan);
    let (v1_sql, df1) = transform::plan(env.ctx, v1).await?;
    let (v2_sql, df2) = transform::plan(env.ctx, v2).await?;
    for (v, df) in [(Version::V1, &df1), (Version::V2, &df2)] {
        env.ctx
            .register_table(v.table_name(), df.clone().into_view())
            .context(|| format!("cannot register the planned {} output", v.as_str()))?;
    }
    env.observer.stage(Stage::Compare);
    let t = Instant::now();
    let subject = compare(
        env,
        &env.job.settings,
        Depth::Schema,
        Logic::Plans(env.ctx, &df1, &df2),
    )
    .await?;
    timings.compare_ms = ms(t);
    Ok(Found {
        subject,
        sql: Some(sql_sources(v1, v2, v1_sql, v2_sql)),
        determinism: None,
    })
}

/// The outputs registered as v1 and v2, through the comparison unit on
/// the run's key, with `settings` (the job's, but for `diff`'s copy).
async fn compare(
    env: &Env<'_>,
    settings: &Settings,
    depth: Depth,
    logic: Logic<'_>,
) -> Result<Subject> {
    let key = Key::Given(&settings.key);
    let c = compare::registered(env.ctx, settings, key, depth, logic).await?;
    Ok(Subject::One(Box::new(c)))
}

/// Run one version into its scratch directory, registered as that side:
/// its SQL and its planned query.
async fn materialise(env: &Env<'_>, t: &Transform) -> Result<(String, DataFrame)> {
    let v = t.version;
    let place = env.scratch.place(v.as_str());
    let what = || format!("{} transform {}", v.as_str(), t.path.display());
    let limit = env.job.limits.transform;
    transform::run_into(env.ctx, t, &place, v.table_name(), limit, what).await
}

/// Re-run each version on reordered inputs and compare with its first run.
async fn determinism(env: &Env<'_>, versions: [&Transform; 2], runs: u32) -> Result<Determinism> {
    let rerun = env.rerun(runs);
    let mut nondeterministic = Vec::new();
    for t in versions {
        let first = env.scratch.place(t.version.as_str());
        if let Some(drift) = rerun.version(t, &first, env.scratch).await? {
            nondeterministic.push(drift);
        }
    }
    Ok(Determinism {
        runs,
        nondeterministic,
    })
}

fn sql_sources(v1: &Transform, v2: &Transform, v1_sql: String, v2_sql: String) -> SqlSources {
    SqlSources {
        v1_path: v1.path.display().to_string(),
        v2_path: v2.path.display().to_string(),
        v1: v1_sql,
        v2: v2_sql,
    }
}
