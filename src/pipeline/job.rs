//! What one diffgate run is asked to do, as `resolve.rs` builds it from the
//! flags and the scenario file: the [`Mode`] (each variant carrying what its
//! path needs) and the settings every path shares.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::compare::Settings;
use crate::engine::{EngineOptions, Limits};
use crate::judge::{Evidence, Policy};
use crate::load::InputSource;
use crate::models::ModelSet;
use crate::report::{Command, GitRefs, SubsetInfo, Verdict};
use crate::transform::Transform;

/// Everything one diffgate run needs, resolved.
#[derive(Debug, Clone)]
pub struct Job {
    pub mode: Mode,
    /// Key, ignored columns, tolerances and samples.
    pub settings: Settings,
    pub policy: Policy,
    pub engine: EngineOptions,
    pub limits: Limits,
    pub load: LoadOptions,
    pub about: About,
}

/// What is compared, and how far.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `diff`: two existing tables, registered as v1 and v2.
    Diff(Tables),
    /// `run`: both versions of a transform run over the inputs; `runs` ≥ 2
    /// re-runs each (every needed model of a folder) for the determinism
    /// check.
    Run { transforms: Transforms, runs: u32 },
    /// `check`: both versions planned over the inputs' schemas; nothing is
    /// run and no rows are compared.
    Check(Transforms),
}

/// The two tables of `diff`.
#[derive(Debug, Clone)]
pub struct Tables {
    pub v1: InputSource,
    pub v2: InputSource,
    /// The paths as given, for the report.
    pub v1_label: String,
    pub v2_label: String,
}

/// The transform of `run` and `check`, in both versions, and its inputs.
#[derive(Debug, Clone)]
pub struct Transforms {
    pub inputs: Vec<InputSource>,
    pub versions: Versions,
    /// The commits v1/v2 were read at, when read from git.
    pub git: Option<GitRefs>,
    /// The canary subset of the inputs, when one applies.
    pub subset: Option<SubsetInfo>,
}

/// One SQL file per version, or a folder of models per version.
#[derive(Debug, Clone)]
pub enum Versions {
    File { v1: Transform, v2: Transform },
    Folder(ModelRun),
}

/// A transform that is a folder of models, in both versions.
#[derive(Debug, Clone)]
pub struct ModelRun {
    /// The folder, as errors name it.
    pub dir: PathBuf,
    /// How reports name each version's folder (with its git ref).
    pub v1_label: String,
    pub v2_label: String,
    pub v1: ModelSet,
    pub v2: ModelSet,
    /// Models to compare (`[transform] targets`); empty = changed ones and
    /// their downstream.
    pub targets: Vec<String>,
    /// Keys per model (`[models.NAME] key`, or a dbt project's); others use
    /// the run's key when their outputs have it, else compare whole rows.
    pub keys: BTreeMap<String, Vec<String>>,
    /// Where each key the project declared came from (a dbt test or
    /// constraint), for the models whose key it gave.
    pub key_from: BTreeMap<String, String>,
    /// Changes declared per model (`[[models.NAME.expect]]`).
    pub expect: BTreeMap<String, Vec<crate::compare::expect::Expectation>>,
    /// Contracts per model (`[models.NAME.contract]`).
    pub contracts: BTreeMap<String, Vec<crate::compare::contract::Check>>,
    /// Notes each compared model's report carries (where a dbt project's
    /// key came from, `is_incremental()` taken as false).
    pub notes: BTreeMap<String, Vec<String>>,
}

/// What the report says about the run beyond its findings.
#[derive(Debug, Clone, Default)]
pub struct About {
    pub description: Option<String>,
    /// The scenario's expectation (checked by the tests; a `check` report
    /// leaves it out, as it sees no data).
    pub expected_verdict: Option<Verdict>,
    /// The command line that reproduces this job.
    pub reproduce: Option<String>,
}

/// What to do with input records that cannot be loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Where the dead-letter file goes (written only when a record is bad).
    pub dead_letter: PathBuf,
    /// Fail on the first bad record instead (`--strict`).
    pub strict: bool,
    /// How remote reads are retried (`[storage]`).
    pub retry: crate::load::store::Retry,
    /// What a saved report pinned, to read again (`--pin-from`).
    pub pins: crate::load::Recorded,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            dead_letter: DEFAULT_DEAD_LETTER.into(),
            strict: false,
            retry: crate::load::store::Retry::default(),
            pins: Default::default(),
        }
    }
}

/// The dead-letter file when no report file says where reports go.
pub const DEFAULT_DEAD_LETTER: &str = "diffgate-dead-letter.ndjson";

impl Job {
    /// The command the report names.
    pub fn command(&self) -> Command {
        match self.mode {
            Mode::Diff(_) => Command::Diff,
            Mode::Run { .. } => Command::Run,
            Mode::Check(_) => Command::Check,
        }
    }

    /// Whether only plans are made (`check`).
    pub fn plan_only(&self) -> bool {
        matches!(self.mode, Mode::Check(_))
    }

    /// The transform, for `run` and `check`.
    pub fn transforms(&self) -> Option<&Transforms> {
        match &self.mode {
            Mode::Diff(_) => None,
            Mode::Run { transforms, .. } | Mode::Check(transforms) => Some(transforms),
        }
    }

    /// The tables loaded before anything runs.
    pub fn inputs(&self) -> Vec<&InputSource> {
        match &self.mode {
            Mode::Diff(t) => vec![&t.v1, &t.v2],
            Mode::Run { transforms, .. } | Mode::Check(transforms) => {
                transforms.inputs.iter().collect()
            }
        }
    }

    /// What this job looks at, deciding which rules it can judge.
    pub fn evidence(&self) -> Evidence {
        Evidence {
            plans: self.transforms().is_some(),
            rows: !self.plan_only(),
            runs: matches!(self.mode, Mode::Run { runs, .. } if runs >= 2),
            models: self
                .transforms()
                .is_some_and(|t| matches!(t.versions, Versions::Folder(_))),
            contracts: !self.settings.contract.is_empty()
                || self.transforms().is_some_and(|t| match &t.versions {
                    Versions::Folder(m) => !m.contracts.is_empty(),
                    _ => false,
                }),
            declared: !self.settings.expect.is_empty()
                || self.transforms().is_some_and(|t| match &t.versions {
                    Versions::Folder(m) => m.expect.values().any(|e| !e.is_empty()),
                    _ => false,
                }),
            profile: self.settings.options.profile,
        }
    }
}
