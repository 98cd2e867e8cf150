//! The stage sequence, in one place: load → run v1/v2 → align → compare →
//! judge, producing the [`DiffReport`] that renderers read. Each mode of a
//! [`Job`] has its path: [`single`] for one transform (`run`, `check`) and
//! for two tables (`diff`), [`dag`] for a folder of models; all of them
//! compare through the one comparison unit, [`compare::registered`], and
//! [`assemble`] builds the report from what a path found.
//!
//! [`compare::registered`]: crate::compare::registered

mod assemble;
mod dag;
mod env;
pub mod job;
pub mod progress;
mod single;

use std::time::Instant;

use crate::engine::{self, within};
use crate::error::Result;
use crate::load::{self, DeadLetter};
use crate::report::{DiffReport, InputInfo, InputSubset, Timings};
use crate::scratch::Scratch;

use env::{Env, ms};
pub use job::{Job, Mode, ModelRun, Versions};
pub use progress::{Observer, Silent, Stage};

/// Run every stage and return the report, within the run's time limit.
pub async fn execute(job: &Job, observer: &dyn Observer) -> Result<DiffReport> {
    let opened = Opened::new(job)?;
    let run = run(job, &opened, observer);
    let done = within(job.limits.run, || "the run".to_string(), "--timeout", run).await;
    // Whatever the outcome, nothing the run wrote stays in an object store.
    opened.scratch.clean().await;
    match (&job.engine.distributed, done) {
        // A worker that died mid-run leaves only a reset connection in the
        // engine's error: name the ones that no longer answer.
        (Some(d), Err(e)) => Err(crate::engine::with_unanswered(d, e).await),
        (_, done) => done,
    }
}

async fn run(job: &Job, opened: &Opened, observer: &dyn Observer) -> Result<DiffReport> {
    let started = Instant::now();
    let env = opened.env(job, observer);
    let mut timings = Timings::default();
    observer.stage(Stage::Load);
    let t = Instant::now();
    let (inputs, dead) = load_inputs(&env).await?;
    timings.load_ms = ms(t);
    let found = match &job.mode {
        Mode::Diff(_) => single::tables(&env, &mut timings).await?,
        Mode::Run { transforms, runs } => match &transforms.versions {
            Versions::File { v1, v2 } => single::run(&env, v1, v2, *runs, &mut timings).await?,
            Versions::Folder(m) => dag::run(&env, m, *runs, &mut timings).await?,
        },
        Mode::Check(transforms) => match &transforms.versions {
            Versions::File { v1, v2 } => single::check(&env, v1, v2, &mut timings).await?,
            Versions::Folder(m) => dag::run(&env, m, 1, &mut timings).await?,
        },
    };
    // The run succeeded: move the dead-letter file (if any) into place;
    // `check` keeps none.
    let dead_letter = dead.finish()?.filter(|_| !job.plan_only());
    timings.total_ms = ms(started);
    timings.peak_memory_bytes = peak_memory_bytes();
    Ok(assemble::report(job, inputs, dead_letter, found, timings))
}

/// v2's outputs planned over the loaded inputs, nothing run or compared,
/// for `diffgate init` to look for keys in: the one transform's (named by
/// its file) or each model's of a folder, with why one could not be
/// planned. Inputs copied while loading live as long as the result.
pub struct PlannedV2 {
    pub outputs: Vec<(String, dag::Planned)>,
    _scratch: Scratch,
}

/// Load the inputs of `job` (a `check` job) and plan v2 over them.
pub async fn plan_v2(job: &Job) -> Result<PlannedV2> {
    let opened = Opened::new(job)?;
    let env = opened.env(job, &Silent);
    load_inputs(&env).await?;
    let outputs = match job.transforms().map(|t| &t.versions) {
        Some(Versions::File { v2, .. }) => {
            let planned = crate::transform::plan(env.ctx, v2).await;
            vec![(
                v2.label.clone(),
                planned.map(|(_, df)| df).map_err(|e| e.to_string()),
            )]
        }
        Some(Versions::Folder(m)) => dag::plan_v2(&env, m).await?,
        None => Vec::new(),
    };
    Ok(PlannedV2 {
        outputs,
        _scratch: opened.scratch,
    })
}

/// A run's session and its scratch space (its folder removed when it
/// drops; its object-store prefix by [`Scratch::clean`]).
struct Opened {
    ctx: datafusion::prelude::SessionContext,
    scratch: Scratch,
}

impl Opened {
    fn new(job: &Job) -> Result<Opened> {
        // `check` materialises nothing: its scratch space stays local.
        let scratch = Scratch::new(job.engine.scratch.as_ref(), !job.plan_only())?;
        let inputs = job.inputs();
        scratch.outside(inputs.iter().map(|s| (s.label.as_str(), &s.path)))?;
        Ok(Opened {
            ctx: engine::session(&job.engine)?,
            scratch,
        })
    }

    fn env<'a>(&'a self, job: &'a Job, observer: &'a dyn Observer) -> Env<'a> {
        Env {
            ctx: &self.ctx,
            job,
            scratch: &self.scratch,
            observer,
        }
    }
}

/// Stage 1: register every input (for `diff`, v1 and v2 themselves),
/// screening text records into the dead-letter file.
async fn load_inputs(env: &Env<'_>) -> Result<(Vec<InputInfo>, DeadLetter)> {
    let job = env.job;
    // `check` screens text inputs as `run` does, but keeps no dead letters.
    let dead_path = if job.plan_only() {
        env.scratch.local().join("dead-letter.ndjson")
    } else {
        job.load.dead_letter.clone()
    };
    let mut dead = DeadLetter::new(&dead_path, job.load.strict);
    let remote = load::Remote {
        stores: Default::default(),
        retry: job.load.retry,
        pins: job.load.pins.objects.clone(),
        table_pins: job.load.pins.tables.clone(),
    };
    let mut inputs = Vec::new();
    for source in job.inputs() {
        let loaded = load::register(
            env.ctx,
            source,
            env.scratch,
            &mut dead,
            job.plan_only(),
            &remote,
        )
        .await?;
        inputs.push(InputInfo {
            name: source.label.clone(),
            path: load::store::shown(&source.path.display().to_string()),
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
            pinned: loaded.pinned,
        });
    }
    Ok((inputs, dead))
}

/// The process's peak resident memory so far, in bytes (0 where the
/// system does not say).
fn peak_memory_bytes() -> u64 {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes a whole `rusage` into the pointer it is
        // given and reads nothing from it.
        let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
        if !ok {
            return 0;
        }
        // SAFETY: getrusage succeeded, so it initialised the struct.
        let max = unsafe { usage.assume_init() }.ru_maxrss.max(0) as u64;
        // Linux counts kilobytes, macOS bytes.
        if cfg!(target_os = "macos") {
            max
        } else {
            max * 1024
        }
    }
    #[cfg(not(unix))]
    {
        0
    }
}
