//! Stage 5, judge: turn findings into a verdict. Each rule of the
//! [`Policy`] (the typed table in [`crate::rules`]) is judged by the
//! function of its family — schema, keys, rows, inputs, determinism — and a
//! rule that fires at `review` or `block` becomes a reason naming the rule,
//! what was observed and the threshold. The verdict is the worst level
//! among the reasons (`promote` when none fired), and the gate fails when
//! it reaches `fail_on`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use crate::report::RuleLevel;
use crate::report::{
    ColumnStats, ContractCheck, ContractStatus, Determinism, ExpectStatus, ExpectationOutcome,
    Findings, InputInfo, Level, ModelFailure, Outcome, Reason, RowCounts, RuleCheck, SchemaDiff,
    Verdict, percent,
};
use crate::rules::{Needs, Rule};

/// The verdict at or above which the gate fails (exit code 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    Block,
    Review,
    Never,
}

impl FailOn {
    pub fn fails(self, verdict: Verdict) -> bool {
        match self {
            FailOn::Block => verdict >= Verdict::Block,
            FailOn::Review => verdict >= Verdict::Review,
            FailOn::Never => false,
        }
    }
}

/// The promotion policy: one level per rule plus the block thresholds. The
/// `[policy]` table of the config and `--policy KEY=VALUE` set these fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// A model of v1 that could not be rendered or planned.
    pub model_failed_v1: RuleLevel,
    /// A model of v2 that could not be rendered or planned.
    pub model_failed_v2: RuleLevel,
    /// A removed column, narrowed type or changed kind.
    pub schema_breaking: RuleLevel,
    /// An added, widened or reordered column.
    pub schema_compatible: RuleLevel,
    pub duplicate_keys_v1: RuleLevel,
    pub duplicate_keys_v2: RuleLevel,
    pub null_keys_v1: RuleLevel,
    pub null_keys_v2: RuleLevel,
    /// v2 has no rows although v1 has some.
    pub empty_v2: RuleLevel,
    /// Neither v1 nor v2 has a row: the comparison checked nothing.
    pub both_empty: RuleLevel,
    /// Any matched row whose values differ beyond tolerance.
    pub rows_changed: RuleLevel,
    /// Any v1 row whose key (or whole row, keyless) is gone from v2.
    pub rows_removed: RuleLevel,
    /// Any v2 row whose key (or whole row, keyless) is not in v1.
    pub rows_added: RuleLevel,
    /// A declared change that explained nothing.
    pub stale_expectation: RuleLevel,
    /// A declared row count the rows do not meet.
    pub expectation_out_of_range: RuleLevel,
    /// A check of the contract v2 newly breaks (or breaks more than v1).
    pub contract_broken: RuleLevel,
    /// A check of the contract v1 already broke.
    pub contract_pre_existing: RuleLevel,
    /// A column's distribution drifted past `psi` or `js_distance`: at
    /// `block` each limit gives its own level; at `review`, never more.
    pub distribution_drift: RuleLevel,
    /// A column's NULL rate moved past `null_rate_delta`.
    pub null_rate_drift: RuleLevel,
    /// A column's distinct count changed past `distinct_change`.
    pub distinct_count_drift: RuleLevel,
    /// PSI of numbers and times: review above, block above.
    pub psi: Limits,
    /// Jensen–Shannon distance of text and booleans.
    pub js_distance: Limits,
    /// |v2 NULL rate − v1 NULL rate|.
    pub null_rate_delta: Limits,
    /// |v2 distinct − v1 distinct| / v1 distinct (columns with 10 or more
    /// distinct values on a side).
    pub distinct_change: Limits,
    /// Per-column drift settings (`[compare.columns.NAME] drift`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub drift_columns: BTreeMap<String, ColumnDrift>,
    /// Block when (removed + changed) / v1 rows exceeds this fraction.
    pub max_removed_or_changed_fraction: f64,
    /// Block when added / v1 rows exceeds this fraction (unset: never).
    pub max_added_fraction: Option<f64>,
    /// Block when more matched rows than this changed (unset: never).
    pub max_changed_rows: Option<u64>,
    /// Block when more v1 rows than this are gone from v2 (unset: never).
    pub max_removed_rows: Option<u64>,
    /// Block when more v2 rows than this are not in v1 (unset: never).
    pub max_added_rows: Option<u64>,
    /// Block when a column's mismatch rate (mismatches / compared pairs)
    /// exceeds its limit here, by column name; `[compare.columns.NAME]
    /// max_mismatch_rate` sets the same.
    pub max_column_mismatch_rate: BTreeMap<String, f64>,
    /// Any input record that could not be loaded (it went to the
    /// dead-letter file).
    pub dead_lettered_rows: RuleLevel,
    /// Block when an input's dead-lettered / read records exceeds this
    /// fraction.
    pub max_dead_lettered_fraction: f64,
    /// A version whose runs on the same inputs differ (`--runs N`).
    pub nondeterministic: RuleLevel,
    /// A breaking schema change shipped with a logic change to the columns
    /// both versions share (`run` and `check`).
    pub schema_migration: RuleLevel,
    /// The verdict at or above which the gate fails.
    pub fail_on: FailOn,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            model_failed_v1: RuleLevel::Review,
            model_failed_v2: RuleLevel::Block,
            schema_breaking: RuleLevel::Block,
            schema_compatible: RuleLevel::Ignore,
            duplicate_keys_v1: RuleLevel::Review,
            duplicate_keys_v2: RuleLevel::Block,
            null_keys_v1: RuleLevel::Review,
            null_keys_v2: RuleLevel::Block,
            empty_v2: RuleLevel::Block,
            both_empty: RuleLevel::Review,
            rows_changed: RuleLevel::Review,
            rows_removed: RuleLevel::Review,
            rows_added: RuleLevel::Review,
            stale_expectation: RuleLevel::Review,
            expectation_out_of_range: RuleLevel::Review,
            contract_broken: RuleLevel::Block,
            contract_pre_existing: RuleLevel::Review,
            distribution_drift: RuleLevel::Block,
            null_rate_drift: RuleLevel::Block,
            distinct_count_drift: RuleLevel::Review,
            psi: Limits::new(Some(0.1), Some(0.25)),
            js_distance: Limits::new(Some(0.1), Some(0.2)),
            null_rate_delta: Limits::new(Some(0.05), Some(0.2)),
            distinct_change: Limits::new(Some(0.5), None),
            drift_columns: BTreeMap::new(),
            max_removed_or_changed_fraction: 0.01,
            max_added_fraction: None,
            max_changed_rows: None,
            max_removed_rows: None,
            max_added_rows: None,
            max_column_mismatch_rate: Default::default(),
            dead_lettered_rows: RuleLevel::Review,
            max_dead_lettered_fraction: 0.01,
            nondeterministic: RuleLevel::Block,
            schema_migration: RuleLevel::Block,
            fail_on: FailOn::Block,
        }
    }
}

impl Policy {
    /// The level rule `rule` fires at. The threshold rules always block;
    /// those without a default (`max_added_fraction`, the row counts, the
    /// per-column rates) are ignored when unset.
    pub fn level(&self, rule: Rule) -> RuleLevel {
        use Rule::*;
        match rule {
            ModelFailedV1 => self.model_failed_v1,
            ModelFailedV2 => self.model_failed_v2,
            SchemaMigration => self.schema_migration,
            SchemaBreaking => self.schema_breaking,
            SchemaCompatible => self.schema_compatible,
            DuplicateKeysV1 => self.duplicate_keys_v1,
            DuplicateKeysV2 => self.duplicate_keys_v2,
            NullKeysV1 => self.null_keys_v1,
            NullKeysV2 => self.null_keys_v2,
            EmptyV2 => self.empty_v2,
            BothEmpty => self.both_empty,
            MaxRemovedOrChangedFraction | MaxDeadLetteredFraction => RuleLevel::Block,
            MaxAddedFraction if self.max_added_fraction.is_some() => RuleLevel::Block,
            MaxAddedFraction => RuleLevel::Ignore,
            MaxChangedRows if self.max_changed_rows.is_some() => RuleLevel::Block,
            MaxRemovedRows if self.max_removed_rows.is_some() => RuleLevel::Block,
            MaxAddedRows if self.max_added_rows.is_some() => RuleLevel::Block,
            MaxChangedRows | MaxRemovedRows | MaxAddedRows => RuleLevel::Ignore,
            MaxColumnMismatchRate if !self.max_column_mismatch_rate.is_empty() => RuleLevel::Block,
            MaxColumnMismatchRate => RuleLevel::Ignore,
            RowsChanged => self.rows_changed,
            RowsRemoved => self.rows_removed,
            RowsAdded => self.rows_added,
            StaleExpectation => self.stale_expectation,
            ExpectationOutOfRange => self.expectation_out_of_range,
            ContractBroken => self.contract_broken,
            ContractPreExisting => self.contract_pre_existing,
            DistributionDrift => self.distribution_drift,
            NullRateDrift => self.null_rate_drift,
            DistinctCountDrift => self.distinct_count_drift,
            DeadLetteredRows => self.dead_lettered_rows,
            Nondeterministic => self.nondeterministic,
        }
    }

    /// Check thresholds are meaningful fractions.
    pub fn validate(&self) -> Result<(), String> {
        let fractions = [
            (
                "max_removed_or_changed_fraction",
                Some(self.max_removed_or_changed_fraction),
            ),
            ("max_added_fraction", self.max_added_fraction),
            (
                "max_dead_lettered_fraction",
                Some(self.max_dead_lettered_fraction),
            ),
        ];
        for (name, x) in fractions {
            if let Some(x) = x
                && !(x.is_finite() && x >= 0.0)
            {
                return Err(format!("{name} must be a number >= 0, got {x}"));
            }
        }
        let mut limits = vec![
            ("psi".to_string(), self.psi),
            ("js_distance".to_string(), self.js_distance),
            ("null_rate_delta".to_string(), self.null_rate_delta),
            ("distinct_change".to_string(), self.distinct_change),
        ];
        for (column, d) in &self.drift_columns {
            let named = |what: &str| format!("compare.columns.{column}.drift.{what}");
            limits.extend(d.psi.map(|l| (named("psi"), l)));
            limits.extend(d.js_distance.map(|l| (named("js_distance"), l)));
            limits.extend(d.null_rate_delta.map(|l| (named("null_rate_delta"), l)));
            limits.extend(d.distinct_change.map(|l| (named("distinct_change"), l)));
        }
        for (name, l) in limits {
            for (end, x) in [("review", l.review), ("block", l.block)] {
                if let Some(x) = x
                    && !(x.is_finite() && x >= 0.0)
                {
                    return Err(format!("{name}.{end} must be a number >= 0, got {x}"));
                }
            }
        }
        for (column, x) in &self.max_column_mismatch_rate {
            if !(x.is_finite() && (0.0..=1.0).contains(x)) {
                return Err(format!(
                    "max_mismatch_rate of column `{column}` must be a fraction in [0, 1], got {x}"
                ));
            }
        }
        Ok(())
    }
}

/// The two limits of a drift score: above `review` the rule asks for
/// review, above `block` it blocks (either unset: never).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub review: Option<f64>,
    pub block: Option<f64>,
}

impl Limits {
    pub const fn new(review: Option<f64>, block: Option<f64>) -> Self {
        Limits { review, block }
    }

    /// The level `score` reaches, and the limit it passed.
    fn reached(self, score: f64) -> Option<(Level, f64)> {
        match (self.block, self.review) {
            (Some(b), _) if score > b => Some((Level::Block, b)),
            (_, Some(r)) if score > r => Some((Level::Review, r)),
            _ => None,
        }
    }
}

/// One column's drift settings: `drift = false` (not judged), or a table
/// of limits overriding the policy's.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ColumnDrift {
    /// Not judged at all.
    pub off: bool,
    pub psi: Option<Limits>,
    pub js_distance: Option<Limits>,
    pub null_rate_delta: Option<Limits>,
    pub distinct_change: Option<Limits>,
}

/// What a run looked at, deciding which rules it could judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    /// Both versions' SQL was planned (`run`, `check`).
    pub plans: bool,
    /// Rows were read and compared (`run`, `diff`).
    pub rows: bool,
    /// The determinism check ran.
    pub runs: bool,
    /// The transform is a folder of models, each of which may fail.
    pub models: bool,
    /// Changes were declared (and rows compared, so they were checked).
    pub declared: bool,
    /// A contract was declared (and rows compared).
    pub contracts: bool,
    /// The columns were profiled (and rows compared).
    pub profile: bool,
}

impl Evidence {
    fn covers(self, needs: Needs) -> bool {
        match needs {
            Needs::Schema => true,
            Needs::Plans => self.plans,
            Needs::Rows => self.rows,
            Needs::Runs => self.runs,
            Needs::Models => self.models,
            Needs::Declared => self.declared && self.rows,
            Needs::Contracts => self.contracts && self.rows,
            Needs::Profile => self.profile && self.rows,
        }
    }
}

/// The policy as a checklist: each rule the `evidence` could judge, its
/// level, and the worst level of the reasons it gave.
pub fn checklist(policy: &Policy, reasons: &[Reason], evidence: Evidence) -> Vec<RuleCheck> {
    Rule::ALL
        .into_iter()
        .filter(|rule| evidence.covers(rule.needs()))
        .map(|rule| {
            let fired = reasons
                .iter()
                .filter(|r| r.rule == rule)
                .map(|r| r.level)
                .max();
            RuleCheck {
                rule,
                level: policy.level(rule),
                outcome: match fired {
                    None => Outcome::Pass,
                    Some(Level::Review) => Outcome::Review,
                    Some(Level::Block) => Outcome::Block,
                },
            }
        })
        .collect()
}

/// Reasons as the rules fire, each at the level the policy gives it (a
/// rule at `ignore` gives none).
struct Reasons<'p> {
    policy: &'p Policy,
    found: Vec<Reason>,
}

impl<'p> Reasons<'p> {
    fn new(policy: &'p Policy) -> Self {
        Reasons {
            policy,
            found: Vec::new(),
        }
    }

    /// Fire `rule` at the level `score` reaches within `limits`, at most
    /// the rule's own level.
    fn fire_scored(&mut self, rule: Rule, score: f64, limits: Limits, message: String) {
        let (Some(cap), Some((at, limit))) =
            (self.policy.level(rule).level(), limits.reached(score))
        else {
            return;
        };
        self.found.push(Reason {
            rule,
            level: at.min(cap),
            message,
            observed: json!(score),
            threshold: json!(limit),
        });
    }

    fn fire(&mut self, rule: Rule, message: String, observed: Value, threshold: Value) {
        if let Some(level) = self.policy.level(rule).level() {
            self.found.push(Reason {
                rule,
                level,
                message,
                observed,
                threshold,
            });
        }
    }
}

/// The reasons one comparison gives: its schema always; its keys, rows,
/// columns and declared changes when rows were compared (`rows_compared`
/// is false for `check`). Rows and cells a declared change explains are
/// left out of the row and column rules.
pub fn comparison(findings: &Findings, rows_compared: bool, policy: &Policy) -> Vec<Reason> {
    let mut r = Reasons::new(policy);
    schema_rules(&mut r, &findings.schema);
    if rows_compared {
        key_rules(&mut r, &findings.rows);
        row_rules(&mut r, &findings.rows);
        column_rules(&mut r, &findings.columns);
        expectation_rules(&mut r, &findings.expectations);
        contract_rules(&mut r, &findings.contracts);
        drift_rules(&mut r, findings);
    }
    r.found
}

/// The drift scores of each profiled column both versions have, against
/// the policy's limits (or the column's own). Not judged: key columns
/// (the key rules judge them), columns with `drift.off`, columns a met
/// declared change names, and every column when declared rows explain
/// all rows added and removed (the population changed on purpose).
fn drift_rules(r: &mut Reasons, findings: &Findings) {
    let Some(profile) = &findings.profile else {
        return;
    };
    let declared: Vec<&str> = findings
        .expectations
        .iter()
        .filter(|e| e.status == ExpectStatus::Met)
        .filter_map(|e| e.column.as_deref())
        .collect();
    let rows = &findings.rows;
    let one_side_declared = rows.only_v1_expected.unwrap_or(0) + rows.only_v2_expected.unwrap_or(0);
    if one_side_declared > 0 && one_side_declared == rows.only_v1 + rows.only_v2 {
        return;
    }
    for c in &profile.columns {
        let (Some(d), Some(v1), Some(v2)) = (&c.drift, &c.v1, &c.v2) else {
            continue;
        };
        let own = r.policy.drift_columns.get(&c.name).copied();
        if own.is_some_and(|o| o.off) || declared.contains(&c.name.as_str()) {
            continue;
        }
        let own = own.unwrap_or_default();
        let name = &c.name;
        if let Some(psi) = d.psi {
            let limits = own.psi.unwrap_or(r.policy.psi);
            let message = format!(
                "column `{name}`: v2's values are distributed differently (PSI {psi:.3} over v1's deciles)"
            );
            r.fire_scored(Rule::DistributionDrift, psi, limits, message);
        }
        if let Some(js) = d.js_distance {
            let limits = own.js_distance.unwrap_or(r.policy.js_distance);
            let message = format!(
                "column `{name}`: v2's values are distributed differently (Jensen–Shannon distance {js:.3})"
            );
            r.fire_scored(Rule::DistributionDrift, js, limits, message);
        }
        // Rates of a few rows swing with each row; the row rules see them.
        if v1.rows.min(v2.rows) < 100 {
            continue;
        }
        let delta = d.null_rate_delta;
        let limits = own.null_rate_delta.unwrap_or(r.policy.null_rate_delta);
        let message = format!(
            "column `{name}`: NULLs went from {} to {} of rows",
            percent(v1.null_rate),
            percent(v2.null_rate)
        );
        r.fire_scored(Rule::NullRateDrift, delta.abs(), limits, message);
        if let Some(change) = d.distinct_change
            && v1.distinct.max(v2.distinct) >= 10
        {
            let limits = own.distinct_change.unwrap_or(r.policy.distinct_change);
            let approx = |exact: bool| if exact { "" } else { "≈" };
            let message = format!(
                "column `{name}`: distinct values went from {}{} to {}{} ({:+.0}%)",
                approx(v1.distinct_exact),
                v1.distinct,
                approx(v2.distinct_exact),
                v2.distinct,
                change * 100.0
            );
            r.fire_scored(Rule::DistinctCountDrift, change.abs(), limits, message);
        }
    }
}

/// Checks of the contract v2 breaks, newly or as v1 already did.
fn contract_rules(r: &mut Reasons, checks: &[ContractCheck]) {
    for c in checks {
        let what = match c.columns.len() {
            0 => c.check.clone(),
            _ => format!("{} of `{}`", c.check, c.columns.join("`, `")),
        };
        let n = |x: Option<u64>| x.map_or("no such column".to_string(), |n| n.to_string());
        let broken = |x: Option<u64>| match (c.check.as_str(), x) {
            ("row_count" | "freshness", _) => String::new(),
            (_, Some(n)) => format!(" ({n} row(s))"),
            (_, None) => String::new(),
        };
        match c.status {
            ContractStatus::Holds | ContractStatus::Fixed => {}
            ContractStatus::Missing => r.fire(
                Rule::ContractBroken,
                format!("contract {what} ({}): v2 has no such column", c.rule),
                json!(null),
                json!(0),
            ),
            ContractStatus::Broken => r.fire(
                Rule::ContractBroken,
                match c.v1 {
                    Some(0) => format!(
                        "contract {what} ({}): v2 breaks it{}, v1 kept it",
                        c.rule,
                        broken(c.v2)
                    ),
                    Some(_) => format!(
                        "contract {what} ({}): v2 breaks it more than v1 did ({} → {} row(s))",
                        c.rule,
                        n(c.v1),
                        n(c.v2)
                    ),
                    None => format!(
                        "contract {what} ({}): v2 breaks it{} (v1 has no such column)",
                        c.rule,
                        broken(c.v2)
                    ),
                },
                json!(c.v2),
                json!(c.v1.unwrap_or(0)),
            ),
            ContractStatus::PreExisting => r.fire(
                Rule::ContractPreExisting,
                format!(
                    "contract {what} ({}): broken already in v1{}, and v2 no worse{}",
                    c.rule,
                    broken(c.v1),
                    broken(c.v2)
                ),
                json!(c.v2),
                json!(c.v1),
            ),
        }
    }
}

/// The reasons declared changes give on their own (those of a model that
/// was not compared).
pub fn expectations(outcomes: &[ExpectationOutcome], policy: &Policy) -> Vec<Reason> {
    let mut r = Reasons::new(policy);
    expectation_rules(&mut r, outcomes);
    r.found
}

/// Declared changes that did not happen, or whose rows are out of range.
fn expectation_rules(r: &mut Reasons, outcomes: &[ExpectationOutcome]) {
    for o in outcomes {
        let label = o.label();
        match o.status {
            ExpectStatus::Met => {}
            ExpectStatus::Stale => r.fire(
                Rule::StaleExpectation,
                format!(
                    "declared change `{label}` did not happen (it explains no {}): remove the declaration or correct it",
                    if o.column.is_some() { "changed value" } else { "row" }
                ),
                json!(0),
                json!(1),
            ),
            ExpectStatus::OutOfRange => r.fire(
                Rule::ExpectationOutOfRange,
                format!(
                    "declared change `{label}`: {} row(s) {} {}, outside the declared range, so none of them is taken as expected",
                    o.matched,
                    if o.change.starts_with("rows_added") { "added" } else { "removed" },
                    if o.scope.is_some() { "where it applies" } else { "in all" },
                ),
                json!(o.matched),
                json!(o.change),
            ),
        }
    }
}

/// The per-column limits on mismatch rates, column by column in report
/// order.
fn column_rules(r: &mut Reasons, columns: &[ColumnStats]) {
    for c in columns {
        let Some(&max) = r.policy.max_column_mismatch_rate.get(&c.name) else {
            continue;
        };
        let rate = c.unexpected_rate();
        if rate > max {
            let declared = if c.expected > 0 {
                format!(" ({} more as declared)", c.expected)
            } else {
                String::new()
            };
            r.fire(
                Rule::MaxColumnMismatchRate,
                format!(
                    "column `{}`: {} of {} compared value(s) differ ({}){declared}, above its {} limit",
                    c.name,
                    c.unexpected(),
                    c.compared,
                    percent(rate),
                    percent(max)
                ),
                json!(rate),
                json!(max),
            );
        }
    }
}

/// The reasons a model that could not be compared gives: one per version
/// that failed, naming the first failure (the report lists them all).
pub fn failures(failures: &[ModelFailure], policy: &Policy) -> Vec<Reason> {
    let mut r = Reasons::new(policy);
    for (v, rule) in [("v1", Rule::ModelFailedV1), ("v2", Rule::ModelFailedV2)] {
        let mine: Vec<&ModelFailure> = failures.iter().filter(|f| f.version == v).collect();
        if let Some(f) = mine.first() {
            r.fire(rule, f.sentence(), json!(mine.len()), json!(0));
        }
    }
    r.found
}

/// The reasons the loaded inputs give (dead-lettered records).
pub fn inputs(inputs: &[InputInfo], policy: &Policy) -> Vec<Reason> {
    let mut r = Reasons::new(policy);
    input_rules(&mut r, inputs);
    r.found
}

/// The reasons the determinism check gives.
pub fn determinism(determinism: &Determinism, policy: &Policy) -> Vec<Reason> {
    let mut r = Reasons::new(policy);
    for drift in &determinism.nondeterministic {
        let columns = if drift.columns.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = drift.columns.iter().map(|c| format!("`{c}`")).collect();
            format!("; columns {}", names.join(", "))
        };
        r.fire(
            Rule::Nondeterministic,
            format!(
                "{} gives different output on the same inputs: {} of {} re-run(s) differed from the first, in up to {} row(s){columns}",
                drift.version,
                drift.runs_differing,
                determinism.runs.saturating_sub(1),
                drift.rows
            ),
            json!(drift.rows),
            json!(0),
        );
    }
    r.found
}

fn schema_rules(r: &mut Reasons, schema: &SchemaDiff) {
    if schema.breaking && schema.logic_changed == Some(true) {
        r.fire(
            Rule::SchemaMigration,
            "a breaking schema change ships together with a logic change to the columns v1 and v2 share; \
             ship it in steps: add the new column(s) beside the old ones with the logic unchanged, \
             move readers over, then drop or change the old column(s) in a later release"
                .to_string(),
            json!(true),
            json!(false),
        );
    }
    if schema.breaking {
        let mut what: Vec<String> = schema
            .removed
            .iter()
            .map(|c| format!("`{}` removed", c.name))
            .collect();
        what.extend(
            schema
                .changed
                .iter()
                .filter(|c| !c.compatible)
                .map(|c| format!("`{}` {} → {} ({})", c.name, c.v1_type, c.v2_type, c.note)),
        );
        let n = what.len();
        r.fire(
            Rule::SchemaBreaking,
            format!("breaking schema change: {}", what.join(", ")),
            json!(n),
            json!(0),
        );
    }
    let mut what: Vec<String> = schema
        .added
        .iter()
        .map(|c| format!("`{}` added", c.name))
        .collect();
    what.extend(
        schema
            .changed
            .iter()
            .filter(|c| c.compatible)
            .map(|c| format!("`{}` {} → {}", c.name, c.v1_type, c.v2_type)),
    );
    what.extend(
        schema
            .renamed
            .iter()
            .map(|r| format!("`{}` renamed to `{}` (declared)", r.v1, r.v2)),
    );
    if !schema.reordered.is_empty() {
        what.push("columns reordered".into());
    }
    if !what.is_empty() {
        let n = what.len();
        r.fire(
            Rule::SchemaCompatible,
            format!("compatible schema change: {}", what.join(", ")),
            json!(n),
            json!(0),
        );
    }
}

fn key_rules(r: &mut Reasons, rows: &RowCounts) {
    let sides = [
        (
            "v1",
            Rule::DuplicateKeysV1,
            rows.duplicate_keys_v1,
            rows.duplicate_rows_v1,
        ),
        (
            "v2",
            Rule::DuplicateKeysV2,
            rows.duplicate_keys_v2,
            rows.duplicate_rows_v2,
        ),
    ];
    for (side, rule, keys, extra) in sides {
        if let Some(n) = keys.filter(|n| *n > 0) {
            r.fire(
                rule,
                format!(
                    "{n} key value(s) occur more than once in {side} ({} extra row(s))",
                    extra.unwrap_or(0)
                ),
                json!(n),
                json!(0),
            );
        }
    }
    let sides = [
        ("v1", Rule::NullKeysV1, rows.null_keys_v1),
        ("v2", Rule::NullKeysV2, rows.null_keys_v2),
    ];
    for (side, rule, count) in sides {
        if let Some(n) = count.filter(|n| *n > 0) {
            r.fire(
                rule,
                format!("{n} row(s) in {side} have a NULL key"),
                json!(n),
                json!(0),
            );
        }
    }
}

fn row_rules(r: &mut Reasons, rows: &RowCounts) {
    if rows.v1 > 0 && rows.v2 == 0 {
        let message = format!("v2 is empty but v1 has {} row(s)", rows.v1);
        r.fire(Rule::EmptyV2, message, json!(0), json!(1));
    }
    if rows.v1 == 0 && rows.v2 == 0 {
        let message = "v1 and v2 are both empty: no rows were compared".to_string();
        r.fire(Rule::BothEmpty, message, json!(0), json!(1));
    }
    // Rows a declared change explains are not judged.
    let unexpected = Unexpected {
        changed: rows.changed_unexpected(),
        removed: rows.only_v1_unexpected(),
        added: rows.only_v2_unexpected(),
    };
    if rows.v1 > 0 {
        fraction_rules(r, rows, unexpected);
    }
    count_rules(r, unexpected);
    let declared = |n: Option<u64>| match n.filter(|n| *n > 0) {
        Some(n) => format!(" ({n} more as declared)"),
        None => String::new(),
    };
    let counts = [
        (
            Rule::RowsChanged,
            unexpected.changed,
            "matched row(s) differ beyond tolerance",
            declared(rows.changed_expected),
        ),
        (
            Rule::RowsRemoved,
            unexpected.removed,
            "row(s) of v1 are missing from v2",
            declared(rows.only_v1_expected),
        ),
        (
            Rule::RowsAdded,
            unexpected.added,
            "row(s) of v2 are not in v1",
            declared(rows.only_v2_expected),
        ),
    ];
    for (rule, n, what, more) in counts {
        if n > 0 {
            r.fire(rule, format!("{n} {what}{more}"), json!(n), json!(0));
        }
    }
}

/// The changed, removed and added rows no declared change explains.
#[derive(Debug, Clone, Copy)]
struct Unexpected {
    changed: u64,
    removed: u64,
    added: u64,
}

/// The block thresholds on the counts of changed, removed and added rows.
fn count_rules(r: &mut Reasons, n: Unexpected) {
    let policy = r.policy;
    let counts = [
        (
            Rule::MaxChangedRows,
            policy.max_changed_rows,
            n.changed,
            "changed",
        ),
        (
            Rule::MaxRemovedRows,
            policy.max_removed_rows,
            n.removed,
            "removed",
        ),
        (Rule::MaxAddedRows, policy.max_added_rows, n.added, "added"),
    ];
    for (rule, max, n, what) in counts {
        if let Some(max) = max
            && n > max
        {
            r.fire(
                rule,
                format!("{n} row(s) {what}, above the limit of {max}"),
                json!(n),
                json!(max),
            );
        }
    }
}

/// The block thresholds on removed-or-changed and added rows.
fn fraction_rules(r: &mut Reasons, rows: &RowCounts, n: Unexpected) {
    let policy = r.policy;
    let removed_or_changed = n.removed + n.changed;
    let fraction = removed_or_changed as f64 / rows.v1 as f64;
    let max = policy.max_removed_or_changed_fraction;
    if fraction > max {
        r.fire(
            Rule::MaxRemovedOrChangedFraction,
            format!(
                "{removed_or_changed} of {} v1 row(s) removed or changed ({}), above the {} limit",
                rows.v1,
                percent(fraction),
                percent(max)
            ),
            json!(fraction),
            json!(max),
        );
    }
    if let Some(max) = policy.max_added_fraction {
        let fraction = n.added as f64 / rows.v1 as f64;
        if fraction > max {
            r.fire(
                Rule::MaxAddedFraction,
                format!(
                    "{} row(s) added to {} v1 row(s) ({}), above the {} limit",
                    n.added,
                    rows.v1,
                    percent(fraction),
                    percent(max)
                ),
                json!(fraction),
                json!(max),
            );
        }
    }
}

fn input_rules(r: &mut Reasons, inputs: &[InputInfo]) {
    let dead: Vec<&InputInfo> = inputs.iter().filter(|i| i.rows_dead_lettered > 0).collect();
    if dead.is_empty() {
        return;
    }
    let total: u64 = dead.iter().map(|i| i.rows_dead_lettered).sum();
    let each: Vec<String> = dead
        .iter()
        .map(|i| {
            format!(
                "`{}` {} of {}",
                i.name,
                i.rows_dead_lettered,
                i.rows_read.unwrap_or(0)
            )
        })
        .collect();
    r.fire(
        Rule::DeadLetteredRows,
        format!(
            "{total} input record(s) could not be loaded and went to the dead-letter file ({})",
            each.join(", ")
        ),
        json!(total),
        json!(0),
    );
    let max = r.policy.max_dead_lettered_fraction;
    let worst = dead
        .iter()
        .filter(|i| i.dead_lettered_fraction() > max)
        .max_by(|a, b| {
            a.dead_lettered_fraction()
                .total_cmp(&b.dead_lettered_fraction())
        });
    if let Some(worst) = worst {
        r.fire(
            Rule::MaxDeadLetteredFraction,
            format!(
                "input `{}`: {} of {} record(s) could not be loaded ({}), above the {} limit",
                worst.name,
                worst.rows_dead_lettered,
                worst.rows_read.unwrap_or(0),
                percent(worst.dead_lettered_fraction()),
                percent(max)
            ),
            json!(worst.dead_lettered_fraction()),
            json!(max),
        );
    }
}

/// Put block reasons first (within a level, the order they were found) and
/// return the verdict they imply: the worst level, `promote` when none.
pub fn order(reasons: &mut [Reason]) -> Verdict {
    reasons.sort_by_key(|r| std::cmp::Reverse(r.level));
    reasons
        .iter()
        .map(|r| r.level.verdict())
        .max()
        .unwrap_or(Verdict::Promote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::NamedType;

    fn keyed(v1: u64, v2: u64, only_v1: u64, only_v2: u64, changed: u64) -> RowCounts {
        RowCounts {
            v1,
            v2,
            matched: Some(v1 - only_v1),
            only_v1,
            only_v2,
            changed: Some(changed),
            unchanged: Some(v1 - only_v1 - changed),
            matched_duplicate_keys: Some(0),
            duplicate_keys_v1: Some(0),
            duplicate_keys_v2: Some(0),
            duplicate_rows_v1: Some(0),
            duplicate_rows_v2: Some(0),
            null_keys_v1: Some(0),
            null_keys_v2: Some(0),
            ..RowCounts::default()
        }
    }

    /// The reasons of a comparison's schema and (when compared) rows and
    /// columns.
    fn comparison_of(
        schema: &SchemaDiff,
        rows: Option<(&RowCounts, &[ColumnStats])>,
        policy: &Policy,
    ) -> Vec<Reason> {
        let findings = Findings {
            schema: schema.clone(),
            rows: rows.map(|r| r.0.clone()).unwrap_or_default(),
            columns: rows.map(|r| r.1.to_vec()).unwrap_or_default(),
            ..Findings::default()
        };
        comparison(&findings, rows.is_some(), policy)
    }

    /// Verdict and reasons of one comparison with the default policy.
    fn judge(schema: &SchemaDiff, rows: &RowCounts, policy: &Policy) -> (Verdict, Vec<Reason>) {
        let mut reasons = comparison_of(schema, Some((rows, &[])), policy);
        (order(&mut reasons), reasons)
    }

    fn removed(name: &str) -> SchemaDiff {
        SchemaDiff {
            removed: vec![NamedType {
                name: name.into(),
                data_type: "Int64".into(),
            }],
            breaking: true,
            ..SchemaDiff::default()
        }
    }

    const ALL_BUT_RUNS: Evidence = Evidence {
        plans: false,
        rows: true,
        runs: false,
        models: false,
        declared: false,
        contracts: false,
        profile: false,
    };

    #[test]
    fn identical_outputs_promote() {
        let (v, r) = judge(
            &SchemaDiff::default(),
            &keyed(100, 100, 0, 0, 0),
            &Policy::default(),
        );
        assert_eq!(v, Verdict::Promote);
        assert!(r.is_empty());
    }

    #[test]
    fn every_reason_is_one_of_the_checked_rules() {
        // Everything fires: empty v2 with NULL and duplicate keys, a breaking
        // and a compatible schema change, removed rows.
        let mut rows = keyed(100, 0, 100, 0, 0);
        rows.duplicate_keys_v1 = Some(2);
        rows.null_keys_v1 = Some(1);
        let mut schema = removed("a");
        schema.added = vec![NamedType {
            name: "b".into(),
            data_type: "Int64".into(),
        }];
        let policy = Policy {
            schema_compatible: RuleLevel::Review,
            ..Policy::default()
        };
        let mut reasons = comparison_of(&schema, Some((&rows, &[])), &policy);
        reasons.extend(inputs(&[input(10, 5)], &policy));
        let checks = checklist(&policy, &reasons, ALL_BUT_RUNS);
        assert_eq!(
            checks.len(),
            19,
            "all but schema_migration and nondeterministic"
        );
        for reason in &reasons {
            assert!(
                checks.iter().any(|c| c.rule == reason.rule),
                "{} is not checked",
                reason.rule
            );
        }
        let outcome = |rule: Rule| checks.iter().find(|c| c.rule == rule).unwrap().outcome;
        assert_eq!(outcome(Rule::SchemaBreaking), Outcome::Block);
        assert_eq!(outcome(Rule::SchemaCompatible), Outcome::Review);
        assert_eq!(outcome(Rule::DuplicateKeysV1), Outcome::Review);
        assert_eq!(outcome(Rule::EmptyV2), Outcome::Block);
        assert_eq!(outcome(Rule::BothEmpty), Outcome::Pass);
        assert_eq!(outcome(Rule::RowsChanged), Outcome::Pass);
        assert_eq!(outcome(Rule::MaxAddedFraction), Outcome::Pass);
        assert_eq!(outcome(Rule::DeadLetteredRows), Outcome::Review);
        assert_eq!(outcome(Rule::MaxDeadLetteredFraction), Outcome::Block);
    }

    #[test]
    fn a_plan_only_check_judges_the_schema_rules_alone() {
        let reasons = comparison_of(&removed("a"), None, &Policy::default());
        assert_eq!(reasons.len(), 1);
        let evidence = Evidence {
            plans: true,
            rows: false,
            runs: false,
            models: false,
            declared: false,
            contracts: false,
            profile: false,
        };
        let checked: Vec<Rule> = checklist(&Policy::default(), &reasons, evidence)
            .iter()
            .map(|c| c.rule)
            .collect();
        assert_eq!(
            checked,
            [
                Rule::SchemaMigration,
                Rule::SchemaBreaking,
                Rule::SchemaCompatible
            ]
        );
    }

    fn input(read: u64, dead: u64) -> InputInfo {
        InputInfo {
            name: "orders".into(),
            path: "orders.csv".into(),
            format: "csv".into(),
            rows_read: Some(read),
            rows_loaded: Some(read - dead),
            rows_dead_lettered: dead,
            subset: None,
            pinned: Vec::new(),
        }
    }

    #[test]
    fn dead_lettered_records_review_then_block_above_the_fraction() {
        let judge_with = |list: &[InputInfo]| {
            let mut r = inputs(list, &Policy::default());
            (order(&mut r), r)
        };
        assert_eq!(judge_with(&[input(1000, 0)]).0, Verdict::Promote);
        // 1 in 1,000 is under the 1% limit: review.
        let (v, r) = judge_with(&[input(1000, 0), input(1000, 1)]);
        assert_eq!(v, Verdict::Review);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].rule, Rule::DeadLetteredRows);
        assert!(
            r[0].message.contains("`orders` 1 of 1000"),
            "{}",
            r[0].message
        );
        // 11 in 1,000 is above it: block, naming the input.
        let (v, r) = judge_with(&[input(1000, 11)]);
        assert_eq!(v, Verdict::Block);
        assert_eq!(r[0].rule, Rule::MaxDeadLetteredFraction);
        assert!(r[0].message.contains("1.10%"), "{}", r[0].message);
    }

    #[test]
    fn small_differences_ask_for_review() {
        let (v, r) = judge(
            &SchemaDiff::default(),
            &keyed(1000, 1000, 0, 0, 10),
            &Policy::default(),
        );
        assert_eq!(v, Verdict::Review);
        assert_eq!(r[0].rule, Rule::RowsChanged);
    }

    #[test]
    fn more_than_one_percent_removed_or_changed_blocks() {
        let (v, r) = judge(
            &SchemaDiff::default(),
            &keyed(1000, 995, 6, 1, 5),
            &Policy::default(),
        );
        assert_eq!(v, Verdict::Block);
        assert_eq!(r[0].rule, Rule::MaxRemovedOrChangedFraction);
        assert_eq!(r[0].observed, json!(0.011));
        assert_eq!(r[0].threshold, json!(0.01));
        // Exactly at the threshold does not block.
        let (v, _) = judge(
            &SchemaDiff::default(),
            &keyed(1000, 995, 5, 0, 5),
            &Policy::default(),
        );
        assert_eq!(v, Verdict::Review);
    }

    #[test]
    fn duplicate_and_null_keys_in_v2_block() {
        let mut rows = keyed(10, 11, 0, 0, 0);
        rows.duplicate_keys_v2 = Some(1);
        rows.duplicate_rows_v2 = Some(1);
        let (v, r) = judge(&SchemaDiff::default(), &rows, &Policy::default());
        assert_eq!((v, r[0].rule), (Verdict::Block, Rule::DuplicateKeysV2));
        let mut rows = keyed(10, 10, 0, 0, 0);
        rows.null_keys_v2 = Some(2);
        let (v, r) = judge(&SchemaDiff::default(), &rows, &Policy::default());
        assert_eq!((v, r[0].rule), (Verdict::Block, Rule::NullKeysV2));
    }

    #[test]
    fn empty_outputs_never_promote_silently() {
        let (v, r) = judge(
            &SchemaDiff::default(),
            &keyed(10, 0, 10, 0, 0),
            &Policy::default(),
        );
        assert_eq!(v, Verdict::Block);
        assert!(r.iter().any(|r| r.rule == Rule::EmptyV2));
        let (v, r) = judge(
            &SchemaDiff::default(),
            &keyed(0, 0, 0, 0, 0),
            &Policy::default(),
        );
        assert_eq!(
            (v, r.len(), r[0].rule),
            (Verdict::Review, 1, Rule::BothEmpty)
        );
        let quiet = Policy {
            both_empty: RuleLevel::Ignore,
            ..Policy::default()
        };
        assert_eq!(
            judge(&SchemaDiff::default(), &keyed(0, 0, 0, 0, 0), &quiet).0,
            Verdict::Promote
        );
    }

    #[test]
    fn breaking_schema_blocks_and_levels_are_configurable() {
        let schema = removed("x");
        let (v, _) = judge(&schema, &keyed(10, 10, 0, 0, 0), &Policy::default());
        assert_eq!(v, Verdict::Block);
        let lenient = Policy {
            schema_breaking: RuleLevel::Review,
            ..Policy::default()
        };
        let (v, _) = judge(&schema, &keyed(10, 10, 0, 0, 0), &lenient);
        assert_eq!(v, Verdict::Review);
        // With a logic change to the shared columns, also a migration.
        let migrating = SchemaDiff {
            logic_changed: Some(true),
            ..schema
        };
        let (_, r) = judge(&migrating, &keyed(10, 10, 0, 0, 0), &Policy::default());
        assert_eq!(r[0].rule, Rule::SchemaMigration);
    }

    #[test]
    fn fail_on_sets_the_gate() {
        assert!(FailOn::Block.fails(Verdict::Block));
        assert!(!FailOn::Block.fails(Verdict::Review));
        assert!(FailOn::Review.fails(Verdict::Review));
        assert!(!FailOn::Never.fails(Verdict::Block));
    }

    #[test]
    fn absolute_and_per_column_limits_block_only_when_set_and_exceeded() {
        let rows = keyed(1000, 1000, 3, 5, 2);
        let (verdict, reasons) = judge(&SchemaDiff::default(), &rows, &Policy::default());
        assert_eq!(verdict, Verdict::Review);
        assert!(
            reasons.iter().all(|r| r.level == Level::Review),
            "{reasons:?}"
        );

        let policy = Policy {
            max_changed_rows: Some(2),
            max_removed_rows: Some(2),
            max_added_rows: Some(10),
            ..Policy::default()
        };
        let (verdict, reasons) = judge(&SchemaDiff::default(), &rows, &policy);
        assert_eq!(verdict, Verdict::Block);
        let blocking: Vec<&str> = reasons
            .iter()
            .filter(|r| r.level == Level::Block)
            .map(|r| r.rule.name())
            .collect();
        // 2 changed is at the limit, 3 removed above it, 5 added below.
        assert_eq!(blocking, ["max_removed_rows"]);
        assert_eq!(reasons[0].message, "3 row(s) removed, above the limit of 2");

        let column = |name: &str, mismatches: u64| ColumnStats {
            name: name.into(),
            v1_type: "Int64".into(),
            v2_type: "Int64".into(),
            compared: 1000,
            mismatches,
            mismatch_rate: mismatches as f64 / 1000.0,
            max_abs_diff: None,
            max_rel_diff: None,
            non_finite_diffs: 0,
            value_to_null: 0,
            null_to_value: 0,
            patterns: Vec::new(),
            expected: 0,
        };
        let mut policy = Policy::default();
        policy
            .max_column_mismatch_rate
            .insert("price".into(), 0.001);
        policy.max_column_mismatch_rate.insert("qty".into(), 0.001);
        let columns = [column("price", 2), column("qty", 1), column("other", 900)];
        let reasons = comparison_of(&SchemaDiff::default(), Some((&rows, &columns)), &policy);
        let fired: Vec<&Reason> = reasons
            .iter()
            .filter(|r| r.rule == Rule::MaxColumnMismatchRate)
            .collect();
        assert_eq!(fired.len(), 1, "{reasons:?}");
        assert!(
            fired[0].message.starts_with("column `price`: 2 of 1000"),
            "{}",
            fired[0].message
        );
        assert_eq!(policy.level(Rule::MaxColumnMismatchRate), RuleLevel::Block);
        assert_eq!(
            Policy::default().level(Rule::MaxColumnMismatchRate),
            RuleLevel::Ignore
        );
    }
}
