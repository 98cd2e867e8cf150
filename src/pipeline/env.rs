//! What every stage of one run shares, at the ground floor of the
//! pipeline so that each path (`single.rs`, `dag.rs`) imports it without
//! importing the module that dispatches to it.

use std::time::Instant;

use datafusion::prelude::SessionContext;

use crate::determinism::Rerun;
use crate::scratch::Scratch;

use super::job::Job;
use super::progress::Observer;

/// The run's session, job, scratch space and observer.
pub(super) struct Env<'a> {
    /// The session the inputs are registered in.
    pub ctx: &'a SessionContext,
    pub job: &'a Job,
    /// Scratch space for converted inputs and materialised outputs.
    pub scratch: &'a Scratch,
    pub observer: &'a dyn Observer,
}

impl Env<'_> {
    /// The determinism check's re-runs of this run's versions, `runs` in
    /// all, over its inputs.
    pub fn rerun(&self, runs: u32) -> Rerun<'_> {
        Rerun {
            ctx: self.ctx,
            engine: &self.job.engine,
            inputs: self.job.inputs().iter().map(|s| s.name.clone()).collect(),
            settings: &self.job.settings,
            runs,
            transform_limit: self.job.limits.transform,
        }
    }
}

/// Milliseconds since `t`.
pub(super) fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}
