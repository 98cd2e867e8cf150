//! The stages a run announces as it goes, for a progress display or CI log
//! groups (`deliver.rs`); the pipeline itself prints nothing.

/// The long-running stages, as announced to an [`Observer`].
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

/// Told when each stage starts.
pub trait Observer {
    fn stage(&self, stage: Stage);
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn stage(&self, _: Stage) {}
}
