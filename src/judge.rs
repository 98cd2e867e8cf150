//! Stage 5, judge: turn findings into a verdict. Each rule of the [`Policy`]
//! looks at the schema diff and row counts; a rule that fires at `review` or
//! `block` becomes a reason naming the rule, what was observed and the
//! threshold. The verdict is the worst level among the reasons (`promote`
//! when none fired), and the gate fails when it reaches `fail_on`.

use serde::{Deserialize, Serialize};
use serde_json::json;

pub use crate::report::RuleLevel;
use crate::report::{
    Determinism, InputInfo, Level, Outcome, Reason, RowCounts, RuleCheck, SchemaDiff, Verdict,
};

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
    /// Any matched row whose values differ beyond tolerance.
    pub rows_changed: RuleLevel,
    /// Any v1 row whose key (or whole row, keyless) is gone from v2.
    pub rows_removed: RuleLevel,
    /// Any v2 row whose key (or whole row, keyless) is not in v1.
    pub rows_added: RuleLevel,
    /// Block when (removed + changed) / v1 rows exceeds this fraction.
    pub max_removed_or_changed_fraction: f64,
    /// Block when added / v1 rows exceeds this fraction (unset: never).
    pub max_added_fraction: Option<f64>,
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
            schema_breaking: RuleLevel::Block,
            schema_compatible: RuleLevel::Ignore,
            duplicate_keys_v1: RuleLevel::Review,
            duplicate_keys_v2: RuleLevel::Block,
            null_keys_v1: RuleLevel::Review,
            null_keys_v2: RuleLevel::Block,
            empty_v2: RuleLevel::Block,
            rows_changed: RuleLevel::Review,
            rows_removed: RuleLevel::Review,
            rows_added: RuleLevel::Review,
            max_removed_or_changed_fraction: 0.01,
            max_added_fraction: None,
            dead_lettered_rows: RuleLevel::Review,
            max_dead_lettered_fraction: 0.01,
            nondeterministic: RuleLevel::Block,
            schema_migration: RuleLevel::Block,
            fail_on: FailOn::Block,
        }
    }
}

impl Policy {
    /// Every rule with the level it fires at, in the order they are judged.
    /// The threshold rules always block; `max_added_fraction` is ignored
    /// when unset.
    pub fn rules(&self) -> [(&'static str, RuleLevel); 16] {
        let added = if self.max_added_fraction.is_some() {
            RuleLevel::Block
        } else {
            RuleLevel::Ignore
        };
        [
            ("schema_migration", self.schema_migration),
            ("schema_breaking", self.schema_breaking),
            ("schema_compatible", self.schema_compatible),
            ("duplicate_keys_v1", self.duplicate_keys_v1),
            ("duplicate_keys_v2", self.duplicate_keys_v2),
            ("null_keys_v1", self.null_keys_v1),
            ("null_keys_v2", self.null_keys_v2),
            ("empty_v2", self.empty_v2),
            ("max_removed_or_changed_fraction", RuleLevel::Block),
            ("max_added_fraction", added),
            ("rows_changed", self.rows_changed),
            ("rows_removed", self.rows_removed),
            ("rows_added", self.rows_added),
            ("dead_lettered_rows", self.dead_lettered_rows),
            ("max_dead_lettered_fraction", RuleLevel::Block),
            ("nondeterministic", self.nondeterministic),
        ]
    }

    /// Check thresholds are meaningful fractions.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        if !ok(self.max_removed_or_changed_fraction) {
            return Err(format!(
                "max_removed_or_changed_fraction must be a number >= 0, got {}",
                self.max_removed_or_changed_fraction
            ));
        }
        if let Some(x) = self.max_added_fraction
            && !ok(x)
        {
            return Err(format!("max_added_fraction must be a number >= 0, got {x}"));
        }
        if !ok(self.max_dead_lettered_fraction) {
            return Err(format!(
                "max_dead_lettered_fraction must be a number >= 0, got {}",
                self.max_dead_lettered_fraction
            ));
        }
        Ok(())
    }
}

/// The policy as a checklist: each rule, its level, and whether one of the
/// reasons came from it.
/// Only rules that were `evaluated` are listed (`nondeterministic` needs
/// `--runs`, `schema_migration` needs SQL).
pub fn checks(
    policy: &Policy,
    reasons: &[Reason],
    evaluated: &dyn Fn(&str) -> bool,
) -> Vec<RuleCheck> {
    policy
        .rules()
        .into_iter()
        .filter(|(rule, _)| evaluated(rule))
        .map(|(rule, level)| {
            let fired = reasons
                .iter()
                .filter(|r| r.rule == rule)
                .map(|r| r.level)
                .max();
            RuleCheck {
                rule: rule.to_string(),
                level,
                outcome: match fired {
                    None => Outcome::Pass,
                    Some(Level::Review) => Outcome::Review,
                    Some(Level::Block) => Outcome::Block,
                },
            }
        })
        .collect()
}

/// Judge a comparison: the verdict and the reasons for it, block first.
pub fn judge(
    schema: &SchemaDiff,
    rows: &RowCounts,
    inputs: &[InputInfo],
    determinism: Option<&Determinism>,
    logic_changed: Option<bool>,
    policy: &Policy,
) -> (Verdict, Vec<Reason>) {
    let mut reasons = Vec::new();
    let mut fire = |rule: &str,
                    level: RuleLevel,
                    message: String,
                    observed: serde_json::Value,
                    threshold: serde_json::Value| {
        if let Some(level) = level.level() {
            reasons.push(Reason {
                rule: rule.to_string(),
                level,
                message,
                observed,
                threshold,
            });
        }
    };

    for drift in determinism.map_or(&[][..], |d| &d.nondeterministic[..]) {
        let columns = if drift.columns.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = drift.columns.iter().map(|c| format!("`{c}`")).collect();
            format!("; columns {}", names.join(", "))
        };
        fire(
            "nondeterministic",
            policy.nondeterministic,
            format!(
                "{} gives different output on the same inputs: {} of {} re-run(s) differed from the first, in up to {} row(s){columns}",
                drift.version,
                drift.runs_differing,
                determinism.map_or(0, |d| d.runs.saturating_sub(1)),
                drift.rows
            ),
            json!(drift.rows),
            json!(0),
        );
    }

    if schema.breaking && logic_changed == Some(true) {
        fire(
            "schema_migration",
            policy.schema_migration,
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
        fire(
            "schema_breaking",
            policy.schema_breaking,
            format!("breaking schema change: {}", what.join(", ")),
            json!(what.len()),
            json!(0),
        );
    }
    let compatible = schema.added.len()
        + schema.changed.iter().filter(|c| c.compatible).count()
        + usize::from(!schema.reordered.is_empty());
    if compatible > 0 {
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
        if !schema.reordered.is_empty() {
            what.push("columns reordered".into());
        }
        fire(
            "schema_compatible",
            policy.schema_compatible,
            format!("compatible schema change: {}", what.join(", ")),
            json!(compatible),
            json!(0),
        );
    }

    for (rule, level, count, side) in [
        (
            "duplicate_keys_v1",
            policy.duplicate_keys_v1,
            rows.duplicate_keys_v1,
            "v1",
        ),
        (
            "duplicate_keys_v2",
            policy.duplicate_keys_v2,
            rows.duplicate_keys_v2,
            "v2",
        ),
    ] {
        if let Some(n) = count.filter(|n| *n > 0) {
            let extra = if side == "v1" {
                rows.duplicate_rows_v1
            } else {
                rows.duplicate_rows_v2
            };
            fire(
                rule,
                level,
                format!(
                    "{n} key value(s) occur more than once in {side} ({} extra row(s))",
                    extra.unwrap_or(0)
                ),
                json!(n),
                json!(0),
            );
        }
    }
    for (rule, level, count, side) in [
        ("null_keys_v1", policy.null_keys_v1, rows.null_keys_v1, "v1"),
        ("null_keys_v2", policy.null_keys_v2, rows.null_keys_v2, "v2"),
    ] {
        if let Some(n) = count.filter(|n| *n > 0) {
            fire(
                rule,
                level,
                format!("{n} row(s) in {side} have a NULL key"),
                json!(n),
                json!(0),
            );
        }
    }

    if rows.v1 > 0 && rows.v2 == 0 {
        fire(
            "empty_v2",
            policy.empty_v2,
            format!("v2 is empty but v1 has {} row(s)", rows.v1),
            json!(0),
            json!(1),
        );
    }

    let changed = rows.changed.unwrap_or(0);
    let removed_or_changed = rows.only_v1 + changed;
    if rows.v1 > 0 {
        let fraction = removed_or_changed as f64 / rows.v1 as f64;
        if fraction > policy.max_removed_or_changed_fraction {
            fire(
                "max_removed_or_changed_fraction",
                RuleLevel::Block,
                format!(
                    "{} of {} v1 row(s) removed or changed ({}), above the {} limit",
                    removed_or_changed,
                    rows.v1,
                    percent(fraction),
                    percent(policy.max_removed_or_changed_fraction)
                ),
                json!(fraction),
                json!(policy.max_removed_or_changed_fraction),
            );
        }
        if let Some(max) = policy.max_added_fraction {
            let fraction = rows.only_v2 as f64 / rows.v1 as f64;
            if fraction > max {
                fire(
                    "max_added_fraction",
                    RuleLevel::Block,
                    format!(
                        "{} row(s) added to {} v1 row(s) ({}), above the {} limit",
                        rows.only_v2,
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
    if changed > 0 {
        fire(
            "rows_changed",
            policy.rows_changed,
            format!("{changed} matched row(s) differ beyond tolerance"),
            json!(changed),
            json!(0),
        );
    }
    if rows.only_v1 > 0 {
        fire(
            "rows_removed",
            policy.rows_removed,
            format!("{} row(s) of v1 are missing from v2", rows.only_v1),
            json!(rows.only_v1),
            json!(0),
        );
    }
    if rows.only_v2 > 0 {
        fire(
            "rows_added",
            policy.rows_added,
            format!("{} row(s) of v2 are not in v1", rows.only_v2),
            json!(rows.only_v2),
            json!(0),
        );
    }

    let dead: Vec<&InputInfo> = inputs.iter().filter(|i| i.rows_dead_lettered > 0).collect();
    if !dead.is_empty() {
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
        fire(
            "dead_lettered_rows",
            policy.dead_lettered_rows,
            format!(
                "{total} input record(s) could not be loaded and went to the dead-letter file ({})",
                each.join(", ")
            ),
            json!(total),
            json!(0),
        );
        let max = policy.max_dead_lettered_fraction;
        if let Some(worst) = dead
            .iter()
            .filter(|i| i.dead_lettered_fraction() > max)
            .max_by(|a, b| {
                a.dead_lettered_fraction()
                    .total_cmp(&b.dead_lettered_fraction())
            })
        {
            fire(
                "max_dead_lettered_fraction",
                RuleLevel::Block,
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

    let verdict = order(&mut reasons);
    (verdict, reasons)
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

/// A fraction as a short percentage ("1.5%", "0.012%").
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
        }
    }

    #[test]
    fn identical_outputs_promote() {
        let (v, r) = judge(
            &SchemaDiff::default(),
            &keyed(100, 100, 0, 0, 0),
            &[],
            None,
            None,
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
        let schema = SchemaDiff {
            removed: vec![NamedType {
                name: "a".into(),
                data_type: "Int64".into(),
            }],
            added: vec![NamedType {
                name: "b".into(),
                data_type: "Int64".into(),
            }],
            breaking: true,
            ..SchemaDiff::default()
        };
        let policy = Policy {
            schema_compatible: RuleLevel::Review,
            ..Policy::default()
        };
        let (_, reasons) = judge(&schema, &rows, &[input(10, 5)], None, None, &policy);
        let checks = checks(&policy, &reasons, &|r| {
            r != "nondeterministic" && r != "schema_migration"
        });
        assert_eq!(checks.len(), 14);
        for reason in &reasons {
            let check = checks.iter().find(|c| c.rule == reason.rule);
            assert!(check.is_some(), "{} is not a checked rule", reason.rule);
        }
        let outcome = |rule: &str| checks.iter().find(|c| c.rule == rule).unwrap().outcome;
        assert_eq!(outcome("schema_breaking"), Outcome::Block);
        assert_eq!(outcome("schema_compatible"), Outcome::Review);
        assert_eq!(outcome("duplicate_keys_v1"), Outcome::Review);
        assert_eq!(outcome("empty_v2"), Outcome::Block);
        assert_eq!(outcome("rows_changed"), Outcome::Pass);
        assert_eq!(outcome("max_added_fraction"), Outcome::Pass);
        assert_eq!(outcome("dead_lettered_rows"), Outcome::Review);
        assert_eq!(outcome("max_dead_lettered_fraction"), Outcome::Block);
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
        }
    }

    #[test]
    fn dead_lettered_records_review_then_block_above_the_fraction() {
        let same = keyed(100, 100, 0, 0, 0);
        let judge_with = |inputs: &[InputInfo]| {
            judge(
                &SchemaDiff::default(),
                &same,
                inputs,
                None,
                None,
                &Policy::default(),
            )
        };
        assert_eq!(judge_with(&[input(1000, 0)]).0, Verdict::Promote);
        // 1 in 1,000 is under the 1% limit: review.
        let (v, r) = judge_with(&[input(1000, 0), input(1000, 1)]);
        assert_eq!(v, Verdict::Review);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].rule, "dead_lettered_rows");
        assert!(
            r[0].message.contains("`orders` 1 of 1000"),
            "{}",
            r[0].message
        );
        // 11 in 1,000 is above it: block, naming the input.
        let (v, r) = judge_with(&[input(1000, 11)]);
        assert_eq!(v, Verdict::Block);
        assert_eq!(r[0].rule, "max_dead_lettered_fraction");
        assert!(r[0].message.contains("1.10%"), "{}", r[0].message);
    }

    #[test]
    fn small_differences_ask_for_review() {
        let (v, r) = judge(
            &SchemaDiff::default(),
            &keyed(1000, 1000, 0, 0, 10),
            &[],
            None,
            None,
            &Policy::default(),
        );
        assert_eq!(v, Verdict::Review);
        assert_eq!(r[0].rule, "rows_changed");
    }

    #[test]
    fn more_than_one_percent_removed_or_changed_blocks() {
        let (v, r) = judge(
            &SchemaDiff::default(),
            &keyed(1000, 995, 6, 1, 5),
            &[],
            None,
            None,
            &Policy::default(),
        );
        assert_eq!(v, Verdict::Block);
        assert_eq!(r[0].rule, "max_removed_or_changed_fraction");
        assert_eq!(r[0].observed, json!(0.011));
        assert_eq!(r[0].threshold, json!(0.01));
        // Exactly at the threshold does not block.
        let (v, _) = judge(
            &SchemaDiff::default(),
            &keyed(1000, 995, 5, 0, 5),
            &[],
            None,
            None,
            &Policy::default(),
        );
        assert_eq!(v, Verdict::Review);
    }

    #[test]
    fn duplicate_and_null_keys_in_v2_block() {
        let mut rows = keyed(10, 11, 0, 0, 0);
        rows.duplicate_keys_v2 = Some(1);
        rows.duplicate_rows_v2 = Some(1);
        let (v, r) = judge(
            &SchemaDiff::default(),
            &rows,
            &[],
            None,
            None,
            &Policy::default(),
        );
        assert_eq!(
            (v, r[0].rule.as_str()),
            (Verdict::Block, "duplicate_keys_v2")
        );
        let mut rows = keyed(10, 10, 0, 0, 0);
        rows.null_keys_v2 = Some(2);
        let (v, r) = judge(
            &SchemaDiff::default(),
            &rows,
            &[],
            None,
            None,
            &Policy::default(),
        );
        assert_eq!((v, r[0].rule.as_str()), (Verdict::Block, "null_keys_v2"));
    }

    #[test]
    fn empty_v2_and_breaking_schema_block_and_levels_are_configurable() {
        let (v, r) = judge(
            &SchemaDiff::default(),
            &keyed(10, 0, 10, 0, 0),
            &[],
            None,
            None,
            &Policy::default(),
        );
        assert_eq!(v, Verdict::Block);
        assert!(r.iter().any(|r| r.rule == "empty_v2"));
        let schema = SchemaDiff {
            removed: vec![NamedType {
                name: "x".into(),
                data_type: "Int64".into(),
            }],
            breaking: true,
            ..Default::default()
        };
        let (v, _) = judge(
            &schema,
            &keyed(10, 10, 0, 0, 0),
            &[],
            None,
            None,
            &Policy::default(),
        );
        assert_eq!(v, Verdict::Block);
        let lenient = Policy {
            schema_breaking: RuleLevel::Review,
            ..Policy::default()
        };
        let (v, _) = judge(&schema, &keyed(10, 10, 0, 0, 0), &[], None, None, &lenient);
        assert_eq!(v, Verdict::Review);
    }

    #[test]
    fn fail_on_sets_the_gate() {
        assert!(FailOn::Block.fails(Verdict::Block));
        assert!(!FailOn::Block.fails(Verdict::Review));
        assert!(FailOn::Review.fails(Verdict::Review));
        assert!(!FailOn::Never.fails(Verdict::Block));
    }
}
