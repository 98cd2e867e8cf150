//! The one place a [`DiffReport`] is built: what a path found, judged at
//! the run's level (its comparison or its models, the inputs, the
//! determinism check), with what was compared and how.

use crate::compare::Compared;
use crate::judge;
use crate::report::{
    self, ColumnTolerance, ComparisonInfo, Determinism, DiffReport, ExpectationOutcome, Findings,
    InputInfo, Level, Mode, ModelReport, Reason, Rule, SqlSources, Timings, ToleranceInfo,
};

use super::job::{Job, Mode as JobMode, Versions};

/// What one path of the pipeline found.
pub(super) struct Found {
    pub subject: Subject,
    /// The SQL of both versions (a single transform).
    pub sql: Option<SqlSources>,
    pub determinism: Option<Determinism>,
}

/// The comparison of a transform or of two tables, or the models of a
/// folder, each already judged on its own.
pub(super) enum Subject {
    One(Box<Compared>),
    Models {
        models: Vec<ModelReport>,
        added: Vec<String>,
        removed: Vec<String>,
        /// Models with declared changes that were not compared (neither
        /// changed nor downstream of a change), so none of them happened.
        uncompared: Vec<(String, Vec<ExpectationOutcome>)>,
    },
}

/// The report of `job` from what its path `found`.
pub(super) fn report(
    job: &Job,
    inputs: Vec<InputInfo>,
    dead_letter: Option<std::path::PathBuf>,
    found: Found,
    timings: Timings,
) -> DiffReport {
    let (mut reasons, findings, models, models_added, models_removed) =
        match found.subject {
            Subject::One(mut c) => {
                if let Some(d) = &found.determinism {
                    let mine = d.nondeterministic.iter().filter(|d| d.model.is_none());
                    c.findings.without_unstable_profile(mine);
                }
                let reasons = one_reasons(job, &c, found.determinism.as_ref(), &inputs);
                (reasons, c.findings, Vec::new(), Vec::new(), Vec::new())
            }
            Subject::Models {
                models,
                added,
                removed,
                uncompared,
            } => {
                let mut reasons = model_reasons(job, &models, &removed, &inputs);
                for (name, outcomes) in &uncompared {
                    reasons.extend(judge::expectations(outcomes, &job.policy).into_iter().map(
                        |r| Reason {
                            message: format!(
                                "model `{name}` (not compared, its output is unchanged): {}",
                                r.message
                            ),
                            ..r
                        },
                    ));
                }
                (reasons, Findings::default(), models, added, removed)
            }
        };
    let verdict = judge::order(&mut reasons);
    let rules = judge::checklist(&job.policy, &reasons, job.evidence());
    DiffReport {
        schema_version: report::SCHEMA_VERSION,
        verdict,
        reasons,
        rules,
        comparison: comparison_info(job, found.sql),
        inputs,
        dead_letter: dead_letter.map(|p| p.display().to_string()),
        subset: job.transforms().and_then(|t| t.subset.clone()),
        determinism: found.determinism,
        models,
        models_added,
        models_removed,
        findings,
        // A scenario's expected verdict is about the data; a plan-only
        // check does not see it.
        expected_verdict: job.about.expected_verdict.filter(|_| !job.plan_only()),
        timings,
    }
}

/// The reasons of a single comparison: the determinism check's, the
/// comparison's, the inputs'.
fn one_reasons(
    job: &Job,
    c: &Compared,
    determinism: Option<&Determinism>,
    inputs: &[InputInfo],
) -> Vec<Reason> {
    let policy = &job.policy;
    let mut reasons = determinism.map_or_else(Vec::new, |d| judge::determinism(d, policy));
    reasons.extend(judge::comparison(&c.findings, !job.plan_only(), policy));
    reasons.extend(judge::inputs(inputs, policy));
    reasons
}

/// The run's reasons over its models: the inputs', a removed model as a
/// breaking change, and every model's reasons under its name.
fn model_reasons(
    job: &Job,
    models: &[ModelReport],
    removed: &[String],
    inputs: &[InputInfo],
) -> Vec<Reason> {
    let mut reasons = judge::inputs(inputs, &job.policy);
    if let Some(level) = job.policy.level(Rule::SchemaBreaking).level() {
        reasons.extend(removed.iter().map(|name| removed_model(name, level)));
    }
    for m in models {
        reasons.extend(m.reasons.iter().map(|r| Reason {
            message: format!("model `{}`: {}", m.name, r.message),
            ..r.clone()
        }));
    }
    reasons
}

fn removed_model(name: &str, level: Level) -> Reason {
    Reason {
        rule: Rule::SchemaBreaking,
        level,
        message: format!("model `{name}` was removed from the folder"),
        observed: serde_json::json!(name),
        threshold: serde_json::json!(0),
    }
}

/// What was compared and how, for the report.
fn comparison_info(job: &Job, sql: Option<SqlSources>) -> ComparisonInfo {
    let tol = &job.settings.options.tolerance;
    let (v1, v2) = match &job.mode {
        JobMode::Diff(t) => (t.v1_label.clone(), t.v2_label.clone()),
        JobMode::Run { transforms, .. } | JobMode::Check(transforms) => {
            match &transforms.versions {
                Versions::File { v1, v2 } => (v1.label.clone(), v2.label.clone()),
                Versions::Folder(m) => (m.v1_label.clone(), m.v2_label.clone()),
            }
        }
    };
    let key = job.settings.key.clone();
    ComparisonInfo {
        command: job.command(),
        mode: Mode::of(&key),
        key,
        v1,
        v2,
        description: job.about.description.clone(),
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
                    seconds: tol.durations.get(name).copied(),
                })
                .collect(),
        },
        ignored_columns: job.settings.ignore_columns.clone(),
        sample_limit: job.settings.options.sample_size,
        sql,
        reproduce: job.about.reproduce.clone(),
        git: job.transforms().and_then(|t| t.git.clone()),
    }
}
