//! The report model: the one contract between comparing and rendering.
//!
//! [`DiffReport`] is what the compare and judge stages produce and the only
//! thing renderers read. It serialises to the versioned JSON report, whose
//! field names are a public contract (CI jobs read them), so fields are only
//! ever added, never renamed. Everything in it is deterministic for the same
//! inputs except [`Timings`], which lives in one marked field at the end.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::rules::Rule;

/// Version of the JSON report layout. Bumped only on an incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The promotion verdict, ordered from best to worst.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Promote,
    Review,
    Block,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Promote => "promote",
            Verdict::Review => "review",
            Verdict::Block => "block",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How severe a fired rule is. A rule judged `ignore` produces no reason.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Review,
    Block,
}

impl Level {
    pub fn verdict(self) -> Verdict {
        match self {
            Level::Review => Verdict::Review,
            Level::Block => Verdict::Block,
        }
    }
}

/// One rule that fired, with what was observed and the threshold it crossed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reason {
    pub rule: Rule,
    pub level: Level,
    pub message: String,
    pub observed: Value,
    pub threshold: Value,
}

/// The complete result of one diffgate run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DiffReport {
    /// Version of this layout: 1.
    #[schemars(extend("const" = 1))]
    pub schema_version: u32,
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    /// Every rule of the policy with its configured level and outcome, in
    /// policy order (fired or not): the gate as a checklist (JUnit reads it).
    #[serde(default)]
    pub rules: Vec<RuleCheck>,
    /// What was compared and how (sources, key, tolerances).
    pub comparison: ComparisonInfo,
    /// Every table loaded (a `run` input, or v1 and v2 of `diff`) with its
    /// record counts: rows read = rows loaded + rows dead-lettered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputInfo>,
    /// The dead-letter file holding the records that could not be loaded
    /// (absent when every record loaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<String>,
    /// The canary subset the run saw (absent: all rows of every input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<SubsetInfo>,
    /// The determinism check (`--runs N`), when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub determinism: Option<Determinism>,
    /// A model-folder run: one entry per compared model, each with its own
    /// verdict (the run's verdict is the worst). The top-level findings
    /// (`schema`, `rows`, `columns`, `samples`) are then empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelReport>,
    /// Models only in v2 / only in v1 of a model-folder run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models_added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models_removed: Vec<String>,
    /// What the comparison found (a single transform or two tables).
    #[serde(flatten)]
    pub findings: Findings,
    /// The scenario's own expectation, when the config states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_verdict: Option<Verdict>,
    /// Wall-clock timings. The only non-deterministic part of the report.
    #[serde(default)]
    pub timings: Timings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ComparisonInfo {
    /// `run` (two transforms over shared inputs), `check` (planned only) or
    /// `diff` (two tables).
    pub command: Command,
    /// `keyed` or `keyless`.
    pub mode: Mode,
    pub key: Vec<String>,
    /// Where v1 and v2 came from: a SQL file or a table path, as given.
    pub v1: String,
    pub v2: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tolerance: ToleranceInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_columns: Vec<String>,
    pub sample_limit: usize,
    /// The SQL of both versions as it was run (`run` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<SqlSources>,
    /// A command that reproduces this comparison from the same directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
    /// The git commits the transform was read at (`run --base`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitRefs>,
}

/// Where v1 and v2 of the transform were read in git.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GitRefs {
    /// v1, read at `--base`.
    pub base: GitRef,
    /// v2, read at `--head`, or from the working tree on top of HEAD.
    pub head: GitRef,
}

/// A ref as given and the commit it named when the transform was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GitRef {
    #[serde(rename = "ref")]
    pub reference: String,
    pub commit: String,
    /// Read from the working tree (uncommitted changes included), whose
    /// HEAD is `commit`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub working_tree: bool,
}

/// The command a report comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    Run,
    Check,
    Diff,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Check => "check",
            Command::Diff => "diff",
        }
    }
}

/// What one comparison of v1 with v2 found: the same for a single
/// transform, two tables, each model of a folder and each determinism
/// re-run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Findings {
    pub schema: SchemaDiff,
    pub rows: RowCounts,
    pub columns: Vec<ColumnStats>,
    pub samples: Samples,
    /// What the reader should know about how this comparison was made
    /// (e.g. a tolerance that does not apply without a key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Columns whose values the samples show masked (`[compare] mask`):
    /// compared in full, never shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
    /// The declared changes (`[[expect]]`, `--expect`) and what each came
    /// to, in declaration order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<ExpectationOutcome>,
    /// The Parquet file holding every differing row (`--diff-out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_out: Option<DiffOut>,
    /// Each check of the contract (`[contract]`) on v1 and v2, in the
    /// contract's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contracts: Vec<ContractCheck>,
    /// Each output column profiled on v1 and v2, with its drift scores
    /// (absent with `--no-profile` and when no rows were read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

/// The profile of every output column on both versions: counts, ranges
/// and moments over all rows; quantiles, histograms and the numeric drift
/// score over a sample of rows chosen by a hash of the key (of the whole
/// row without a key), so unchanged rows are sampled alike on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Profile {
    /// Rows at most in each side's sample.
    pub sample_limit: u64,
    /// The date freshness is measured at (`--as-of`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Key columns first, then the compared columns, then those only v1
    /// and only v2 have.
    pub columns: Vec<ColumnProfile>,
}

/// How a column is profiled, by its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// Integers, floats and decimals: moments, quantiles, a histogram, PSI.
    Number,
    /// Dates, times and timestamps: range, quantiles, a histogram, PSI,
    /// freshness.
    Time,
    /// Strings: lengths, top values, Jensen–Shannon distance.
    Text,
    /// Booleans: top values, Jensen–Shannon distance.
    Boolean,
    /// Anything else (binary, nested): counts only.
    Other,
}

impl ProfileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileKind::Number => "number",
            ProfileKind::Time => "time",
            ProfileKind::Text => "text",
            ProfileKind::Boolean => "boolean",
            ProfileKind::Other => "other",
        }
    }
}

/// One column on both versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColumnProfile {
    pub name: String,
    pub kind: ProfileKind,
    /// Absent when v1 has no such column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1: Option<SideProfile>,
    /// Absent when v2 has no such column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v2: Option<SideProfile>,
    /// Both samples binned alike (numbers and times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
    /// How far v2's distribution is from v1's (columns both have).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftScores>,
    /// Values are masked: counts only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub masked: bool,
}

/// One column of one version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SideProfile {
    pub rows: u64,
    pub nulls: u64,
    /// `nulls / rows` (0 without rows).
    pub null_rate: f64,
    /// Distinct non-NULL values: exact up to 1,000, else a HyperLogLog
    /// estimate (2^14 registers, standard error 0.8%).
    pub distinct: u64,
    /// Whether `distinct` is exact.
    pub distinct_exact: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// Numbers: over every non-NULL value, summed exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Numbers: sample standard deviation, from exact sums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stddev: Option<f64>,
    /// p1, p5, p25, p50, p75, p95, p99 of the sample (nearest rank).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantiles: Vec<Quantile>,
    /// The most frequent values (at most 10, most frequent first), when
    /// the column has at most 1,000 distinct values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<TopValue>,
    /// Non-NULL values not among `top`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<u64>,
    /// Strings: lengths in bytes (UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<Lengths>,
    /// Dates and timestamps: seconds from the latest value to the as-of
    /// date's midnight (UTC); negative when the data is newer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<i64>,
    /// Rows in this side's sample.
    pub sampled: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Quantile {
    /// The percentile: 1, 5, 25, 50, 75, 95 or 99.
    pub p: u8,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TopValue {
    pub value: Value,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Lengths {
    pub min: u64,
    pub max: u64,
    pub mean: f64,
}

/// Both samples counted in the same equal-width bins from `lo` to `hi`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Histogram {
    pub lo: Value,
    pub hi: Value,
    pub v1: Vec<u64>,
    pub v2: Vec<u64>,
}

/// Distances between v1's and v2's distributions of one column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftScores {
    /// Numbers and times: population stability index over v1's deciles
    /// (from the samples), empty bins smoothed to 0.0001.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    /// Text and booleans with at most 1,000 distinct values on each side:
    /// Jensen–Shannon distance (base 2, 0 to 1) of the value frequencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js_distance: Option<f64>,
    /// v2's NULL rate minus v1's.
    pub null_rate_delta: f64,
    /// (v2 distinct − v1 distinct) / v1 distinct (absent when v1 has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_change: Option<f64>,
    /// Why the distribution has no score (too few rows, too many
    /// distinct values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unscored: Option<String>,
}

impl Findings {
    /// Leave out of the profile what the determinism check found to differ
    /// between runs of a version (`drifts`, this comparison's): its
    /// columns, or every column when rows differ. A profile of values that
    /// change from run to run is not a finding, and would make the report
    /// differ too.
    pub fn without_unstable_profile<'a>(&mut self, drifts: impl Iterator<Item = &'a Drift>) {
        let Some(p) = &mut self.profile else {
            return;
        };
        let mut left_out: Vec<String> = Vec::new();
        let mut all = false;
        for d in drifts {
            if d.columns.is_empty() {
                all = true;
            }
            left_out.extend(d.columns.iter().cloned());
        }
        if all {
            self.profile = None;
            self.notes.push(
                "no profile: rows of a version differ between runs, so no column's profile is stable"
                    .into(),
            );
            return;
        }
        left_out.sort();
        left_out.dedup();
        let before = p.columns.len();
        p.columns.retain(|c| !left_out.contains(&c.name));
        if p.columns.len() < before {
            let names: Vec<String> = left_out.iter().map(|c| format!("`{c}`")).collect();
            self.notes.push(format!(
                "the profile leaves out {}: its values differ between runs",
                names.join(", ")
            ));
        }
    }
}

/// One check of a contract, evaluated on both versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContractCheck {
    /// `not_null`, `unique`, `accepted_values`, `range`, `regex`,
    /// `row_count`, `freshness` or `relationships`.
    pub check: String,
    /// The columns it is about (none for `row_count`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// What it asks, in words: `between 0 and 100`, `no NULL`.
    pub rule: String,
    /// Rows breaking it (1 or 0 for `row_count` and `freshness`); absent
    /// when that version has no such column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v2: Option<u64>,
    /// `freshness`: each version's latest value; `row_count`: its rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1_latest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v2_latest: Option<String>,
    pub status: ContractStatus,
}

/// What v2 does to a check of the contract, measured against v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    /// v2 keeps it.
    Holds,
    /// v1 broke it and v2 keeps it.
    Fixed,
    /// v2 breaks it no more than v1 already did.
    PreExisting,
    /// v2 breaks it where v1 kept it, or breaks it more.
    Broken,
    /// v2 lacks a column it names.
    Missing,
}

impl ContractStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContractStatus::Holds => "holds",
            ContractStatus::Fixed => "fixed",
            ContractStatus::PreExisting => "pre-existing",
            ContractStatus::Broken => "broken",
            ContractStatus::Missing => "column missing",
        }
    }
}

/// The file `--diff-out` wrote: every changed, only-v1 and only-v2 row,
/// sorted by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DiffOut {
    /// The file, as given.
    pub path: String,
    pub rows: u64,
    pub changed: u64,
    pub only_v1: u64,
    pub only_v2: u64,
}

/// A declared change and what the comparison made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExpectationOutcome {
    /// The column whose values change (absent for rows added or removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The SQL predicate limiting it to some rows.
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The kind of change, as declared (normalised): `scale(100)`,
    /// `rows_added(0..500)`, ...
    pub change: String,
    pub reason: String,
    /// Changed cells (a column's change) or one-side rows (rows added or
    /// removed, within `where`) it explains; for `out_of_range`, the rows
    /// counted, none of which is explained.
    pub matched: u64,
    pub status: ExpectStatus,
}

impl ExpectationOutcome {
    /// `price: scale(100) where region = 'eu'`, as reasons and reports
    /// name a declared change.
    pub fn label(&self) -> String {
        expectation_label(self.column.as_deref(), &self.change, self.scope.as_deref())
    }
}

/// A declared change named by its column, kind and `where`.
pub fn expectation_label(column: Option<&str>, change: &str, scope: Option<&str>) -> String {
    let mut s = match column {
        Some(c) => format!("{c}: {change}"),
        None => change.to_string(),
    };
    if let Some(w) = scope {
        s.push_str(&format!(" where {w}"));
    }
    s
}

/// What became of a declared change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpectStatus {
    /// It happened: what it explains is counted as expected.
    Met,
    /// Nothing it declares happened: remove the declaration or fix it.
    Stale,
    /// The rows it counts are outside its declared range: none of them is
    /// expected.
    OutOfRange,
}

impl ExpectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectStatus::Met => "met",
            ExpectStatus::Stale => "stale",
            ExpectStatus::OutOfRange => "out of range",
        }
    }
}

/// Why a model of a folder was compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Why {
    /// Its SQL differs between v1 and v2.
    Changed,
    /// It reads a changed model.
    Downstream,
    /// It is named in `[transform] targets`.
    Target,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Changed => "changed",
            Why::Downstream => "downstream",
            Why::Target => "target",
        }
    }
}

/// One compared model of a model-folder run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelReport {
    /// The model (its file name without `.sql`).
    pub name: String,
    /// Why it was compared.
    pub why: Why,
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    pub mode: Mode,
    pub key: Vec<String>,
    /// The model's SQL in both versions (dbt references resolved).
    pub sql: SqlSources,
    /// Why a version of this model could not be compared (it could not be
    /// rendered or planned, or reads a model that could not). Empty when
    /// both versions were compared; else the findings are empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<ModelFailure>,
    #[serde(flatten)]
    pub findings: Findings,
}

/// One version of a model that could not be compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelFailure {
    /// `v1` or `v2`.
    pub version: String,
    /// The model's file, with the git ref it was read at (if from git).
    pub file: String,
    /// Line and column in that file, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    pub stage: FailureStage,
    /// The upstream model that failed (`stage` = `upstream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    pub message: String,
}

/// Where a model failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailureStage {
    /// Its Jinja could not be rendered.
    Render,
    /// Its SQL could not be planned over its inputs.
    Plan,
    /// It reads a model that failed, so it was not run.
    Upstream,
}

impl ModelFailure {
    /// `file:line:column`, as far as known.
    pub fn place(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", self.file),
            (Some(l), None) => format!("{}:{l}", self.file),
            _ => self.file.clone(),
        }
    }

    /// One sentence: the version, what failed where, and why.
    pub fn sentence(&self) -> String {
        let v = &self.version;
        match (self.stage, &self.upstream) {
            (FailureStage::Upstream, Some(up)) => {
                format!("{v} not run: it reads model `{up}`, which failed in {v}")
            }
            (FailureStage::Render, _) => {
                format!("{v} cannot be rendered: {}: {}", self.place(), self.message)
            }
            _ => format!("{v} cannot be planned: {}: {}", self.place(), self.message),
        }
    }
}

/// One comparison of a report as renderers walk it: the single comparison
/// of a transform or table pair, or one model of a folder.
#[derive(Debug, Clone, Copy)]
pub struct ComparisonView<'a> {
    /// The model, for a model-folder run.
    pub model: Option<&'a ModelReport>,
    pub mode: Mode,
    pub key: &'a [String],
    pub sql: Option<&'a SqlSources>,
    pub findings: &'a Findings,
    /// Why a version could not be compared (a model that failed); the
    /// findings are then empty and renderers show these instead.
    pub failures: &'a [ModelFailure],
    /// Planned only: no rows were compared (`check`).
    pub plan_only: bool,
}

impl DiffReport {
    /// The report's comparisons, in order: one per model for a model-folder
    /// run, else the one comparison.
    pub fn comparisons(&self) -> Vec<ComparisonView<'_>> {
        let plan_only = self.plan_only();
        if self.models.is_empty() {
            return vec![ComparisonView {
                model: None,
                mode: self.comparison.mode,
                key: &self.comparison.key,
                sql: self.comparison.sql.as_ref(),
                findings: &self.findings,
                failures: &[],
                plan_only,
            }];
        }
        self.models
            .iter()
            .map(|m| ComparisonView {
                model: Some(m),
                mode: m.mode,
                key: &m.key,
                sql: Some(&m.sql),
                findings: &m.findings,
                failures: &m.failures,
                plan_only,
            })
            .collect()
    }

    /// A `check` report: planned only, no rows were compared.
    pub fn plan_only(&self) -> bool {
        self.comparison.command == Command::Check
    }
}

/// What running each version several times on the same inputs found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Determinism {
    /// Runs of each version (the first plus N - 1 re-runs, each reading the
    /// inputs in a different seeded row order).
    pub runs: u32,
    /// The versions whose runs gave different outputs (empty: every run of
    /// each version agreed).
    pub nondeterministic: Vec<Drift>,
}

/// How a version's re-runs differed from its first run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Drift {
    /// `v1` or `v2`.
    pub version: String,
    /// The model, in a model-folder run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Re-runs whose output differed from the first run's.
    pub runs_differing: u32,
    /// Most rows that differed (changed, or present in one run only)
    /// between the first run and a re-run.
    pub rows: u64,
    /// Columns whose values differed between runs, in column order.
    pub columns: Vec<String>,
}

/// The canary subset a run saw (`[subset]`, or `[env.NAME]` with `--env`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubsetInfo {
    /// The environment chosen with `--env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Share of keys kept by the key-hash sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    /// Seed of the key-hash sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The date `{as_of}` stood for in predicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// What an input's subset filter kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InputSubset {
    /// Predicates applied, as run (`{as_of}` filled in).
    #[serde(default, rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub where_: Vec<String>,
    /// The column the key-hash sample hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_column: Option<String>,
    /// Rows of the input (after loading) and rows the transforms saw.
    pub rows_before: u64,
    pub rows_after: u64,
}

/// One loaded table and what became of its records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InputInfo {
    /// The table name the SQL uses (`v1`/`v2` for `diff`).
    pub name: String,
    /// Where it was read from.
    pub path: String,
    /// `parquet`, `csv`, `json` or `arrow`.
    pub format: String,
    /// Data records read (CSV and JSON only; typed formats have none to
    /// reject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_read: Option<u64>,
    /// Records loaded into the table (`rows_read - rows_dead_lettered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_loaded: Option<u64>,
    /// Records that could not be loaded and went to the dead-letter file.
    pub rows_dead_lettered: u64,
    /// The canary subset of this input, when it is filtered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<InputSubset>,
    /// The objects of a remote input as they were when first read, and
    /// read by both versions: in path order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pinned: Vec<PinnedObject>,
}

/// What an input read, pinned: one object of a remote input, a Delta
/// table's version, or a Postgres table's copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PinnedObject {
    /// `scheme://bucket/key`; a Delta table's folder or URL;
    /// `postgresql://host:port/database/table`.
    pub url: String,
    /// Bytes (an object; a Delta version's data files), or rows copied (a
    /// Postgres table).
    pub size: u64,
    /// The object's ETag; a Postgres copy's content hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    /// The version id, where the store keeps versions (then the version
    /// read); a Delta table's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// RFC 3339: the object's; the Delta version's commit; when the
    /// Postgres copy was made.
    pub last_modified: String,
    #[serde(default, skip_serializing_if = "PinKind::is_object")]
    pub kind: PinKind,
}

/// What a pin stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PinKind {
    /// An object of a store.
    #[default]
    Object,
    /// A Delta table at a version.
    Delta,
    /// A copy of a Postgres table.
    Postgres,
}

impl PinKind {
    pub fn is_object(&self) -> bool {
        *self == PinKind::Object
    }
}

impl InputInfo {
    /// Dead-lettered records as a fraction of records read.
    pub fn dead_lettered_fraction(&self) -> f64 {
        match self.rows_read {
            Some(read) if read > 0 => self.rows_dead_lettered as f64 / read as f64,
            _ => 0.0,
        }
    }
}

/// The SQL text of each version, for the SQL diff in reports, and where it
/// was read from (relative to where diffgate ran; annotations point there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SqlSources {
    pub v1_path: String,
    pub v2_path: String,
    pub v1: String,
    pub v2: String,
}

/// One policy rule as checked on this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuleCheck {
    pub rule: Rule,
    /// The level the policy gives this rule when it fires.
    pub level: RuleLevel,
    /// `pass` (did not fire, or fired at level ignore), `review` or `block`.
    pub outcome: Outcome,
}

/// What a rule does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleLevel {
    Ignore,
    Review,
    Block,
}

impl RuleLevel {
    pub fn level(self) -> Option<Level> {
        match self {
            RuleLevel::Ignore => None,
            RuleLevel::Review => Some(Level::Review),
            RuleLevel::Block => Some(Level::Block),
        }
    }
}

/// The result of one rule on this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Review,
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Keyed,
    Keyless,
}

impl Mode {
    /// Keyed when there is a key, keyless (whole rows) when it is empty.
    pub fn of(key: &[String]) -> Mode {
        if key.is_empty() {
            Mode::Keyless
        } else {
            Mode::Keyed
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToleranceInfo {
    pub abs: f64,
    pub rel: f64,
    /// Per-column overrides, sorted by column name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnTolerance>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColumnTolerance {
    pub name: String,
    pub abs: f64,
    pub rel: f64,
    /// For a timestamp column: equal within this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SchemaDiff {
    pub added: Vec<NamedType>,
    pub removed: Vec<NamedType>,
    pub changed: Vec<TypeChange>,
    #[serde(default)]
    pub nullability: Vec<NullabilityChange>,
    /// Columns present on both sides whose relative order changed.
    #[serde(default)]
    pub reordered: Vec<String>,
    /// v1 columns compared with a v2 column of another name, as declared
    /// (`[compare] rename`, `--rename`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renamed: Vec<Renamed>,
    /// A removed and an added column holding the same value on every
    /// matched key: most likely a rename, not declared (so still judged as
    /// a removal and an addition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposed_renames: Vec<ProposedRename>,
    pub breaking: bool,
    /// Whether the SQL computes the columns both versions share
    /// differently (their optimized plans differ); known for `run` and
    /// `check`, absent for `diff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logic_changed: Option<bool>,
}

impl SchemaDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.nullability.is_empty()
            && self.reordered.is_empty()
            && self.renamed.is_empty()
    }
}

/// v1's removed column `v1` and v2's added `v2` agree on all `rows`
/// matched rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProposedRename {
    pub v1: String,
    pub v2: String,
    pub rows: u64,
}

/// A declared rename: v1's column `v1` is v2's `v2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Renamed {
    pub v1: String,
    pub v2: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NamedType {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TypeChange {
    pub name: String,
    pub v1_type: String,
    pub v2_type: String,
    pub compatible: bool,
    /// Why the change is (in)compatible, e.g. "widening", "changes kind".
    pub note: String,
    /// Whether values of this column could still be compared.
    pub comparable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NullabilityChange {
    pub name: String,
    pub v1_nullable: bool,
    pub v2_nullable: bool,
    pub compatible: bool,
}

/// Row-level counts. In keyed mode presence counts (`matched`, `only_v1`,
/// `only_v2`) are of distinct non-null keys, so duplicates never inflate them;
/// `v1`/`v2` are raw row counts. Keyless mode leaves the keyed fields absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RowCounts {
    pub v1: u64,
    pub v2: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<u64>,
    pub only_v1: u64,
    pub only_v2: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<u64>,
    /// Matched keys duplicated on either side: present on both, values not
    /// compared because there is no single row to pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_duplicate_keys: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_keys_v1: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_keys_v2: Option<u64>,
    /// Rows beyond the first for each duplicated key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_rows_v1: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_rows_v2: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_keys_v1: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_keys_v2: Option<u64>,
    /// Of `changed`, `only_v1` and `only_v2`: the rows declared changes
    /// explain entirely (present when changes are declared). The rules
    /// judge the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_expected: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_v1_expected: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_v2_expected: Option<u64>,
}

impl RowCounts {
    /// Changed rows no declared change explains entirely.
    pub fn changed_unexpected(&self) -> u64 {
        self.changed
            .unwrap_or(0)
            .saturating_sub(self.changed_expected.unwrap_or(0))
    }

    /// Removed (only-v1) rows no declared change explains.
    pub fn only_v1_unexpected(&self) -> u64 {
        self.only_v1
            .saturating_sub(self.only_v1_expected.unwrap_or(0))
    }

    /// Added (only-v2) rows no declared change explains.
    pub fn only_v2_unexpected(&self) -> u64 {
        self.only_v2
            .saturating_sub(self.only_v2_expected.unwrap_or(0))
    }

    /// Whether any changes were declared for this comparison.
    pub fn declared(&self) -> bool {
        self.changed_expected.is_some()
            || self.only_v1_expected.is_some()
            || self.only_v2_expected.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColumnStats {
    pub name: String,
    pub v1_type: String,
    pub v2_type: String,
    /// Matched row pairs whose values were compared.
    pub compared: u64,
    pub mismatches: u64,
    /// `mismatches / compared`, 0 when nothing was compared.
    pub mismatch_rate: f64,
    /// Largest |v1 - v2| over compared numeric pairs (absent for non-numeric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_abs_diff: Option<f64>,
    /// Largest |v1 - v2| / |v1| over compared numeric pairs with v1 != 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rel_diff: Option<f64>,
    /// Compared pairs that differ by an infinite or undefined amount (an
    /// infinity against a finite value or the other infinity, NaN against a
    /// number). `max_abs_diff` and `max_rel_diff` are over the finite
    /// differences; reports show the maximum as ∞ when this is not zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub non_finite_diffs: u64,
    /// v1 had a value and v2 NULL.
    pub value_to_null: u64,
    /// v1 NULL and v2 a value.
    pub null_to_value: u64,
    /// What kind of change the changed cells show, most cells first (at
    /// most four; the rest of the cells are in `other`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<ChangePattern>,
    /// Of `mismatches`: the cells a declared change explains.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub expected: u64,
}

impl ColumnStats {
    /// Mismatches no declared change explains.
    pub fn unexpected(&self) -> u64 {
        self.mismatches.saturating_sub(self.expected)
    }

    /// `unexpected / compared`, 0 when nothing was compared.
    pub fn unexpected_rate(&self) -> f64 {
        if self.compared == 0 {
            0.0
        } else {
            self.unexpected() as f64 / self.compared as f64
        }
    }
}

/// A kind of change and how many changed cells of a column show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangePattern {
    pub kind: PatternKind,
    /// The factor (`scale`), difference (`offset`), decimals (`rounding`,
    /// `truncation`) or hours (`hour_shift`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<f64>,
    pub count: u64,
}

/// The classes of change of a cell, v1 → v2 (in the order reports list
/// patterns of equal count).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PatternKind {
    ValueToNull,
    NullToValue,
    EmptyToNull,
    NullToEmpty,
    CaseOnly,
    WhitespaceOnly,
    PrefixAdded,
    SuffixAdded,
    PrefixRemoved,
    SuffixRemoved,
    SignFlip,
    /// v2 = v1 × `by` (a power of ten).
    Scale,
    /// v2 = v1 + `by` for every cell of this pattern.
    Offset,
    /// v2 = v1 × `by` for every cell of this pattern (not a power of ten).
    Ratio,
    /// v2 = v1 rounded to `by` decimals.
    Rounding,
    /// v2 = v1 truncated to `by` decimals.
    Truncation,
    /// v2 = v1 through a 32-bit float.
    Float32Precision,
    /// v2 = v1 shifted by `by` whole hours (a time zone).
    HourShift,
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Samples {
    pub changed: Vec<ChangedRow>,
    pub only_v1: Vec<RowSample>,
    pub only_v2: Vec<RowSample>,
}

/// A matched key whose values differ: the key and each differing cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangedRow {
    pub key: serde_json::Map<String, Value>,
    pub cells: Vec<ChangedCell>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangedCell {
    pub column: String,
    pub v1: Value,
    pub v2: Value,
    /// A declared change explains this cell.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expected: bool,
}

/// A row present on one side only. In keyless mode `key` is empty and
/// `count` says how many more copies that side has than the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RowSample {
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub key: serde_json::Map<String, Value>,
    pub row: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// Wall-clock milliseconds per stage. Differs between runs by nature.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Timings {
    pub load_ms: u64,
    pub run_v1_ms: u64,
    pub run_v2_ms: u64,
    /// Re-running both versions for the determinism check (`--runs`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub determinism_ms: u64,
    pub compare_ms: u64,
    pub total_ms: u64,
    /// Peak resident memory of the process (0 where not measured).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub peak_memory_bytes: u64,
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// A fraction as a short percentage ("1.5%", "0.012%"), as every report
/// and reason message writes it.
pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p == 0.0 {
        "0%".into()
    } else if p >= 10.0 {
        format!("{p:.1}%")
    } else if p >= 0.1 {
        format!("{p:.2}%")
    } else {
        format!("{p:.3}%")
    }
}
