//! The rules a verdict is made of, as one typed table (ruff's `codes.rs`
//! shape): each [`Rule`] has the name reports and `[policy]` use, the
//! evidence it needs to be judged at all, and the family that judges it
//! (`judge.rs`, one function per family). Reports and the policy checklist
//! list rules in the order of [`Rule::ALL`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A policy rule. The JSON name of each is a public contract (reasons,
/// the checklist, `[policy]` keys, `--policy KEY=VALUE`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A model of v1 that could not be rendered or planned (or reads one
    /// that could not): there is nothing to compare v2's with.
    ModelFailedV1,
    /// A model of v2 that could not be rendered or planned (or reads one
    /// that could not): it would fail in the warehouse too.
    ModelFailedV2,
    /// A breaking schema change shipped with a logic change to the columns
    /// both versions share.
    SchemaMigration,
    /// A removed column, narrowed type or changed kind.
    SchemaBreaking,
    /// An added, widened or reordered column.
    SchemaCompatible,
    DuplicateKeysV1,
    DuplicateKeysV2,
    NullKeysV1,
    NullKeysV2,
    /// v2 has no rows although v1 has some.
    EmptyV2,
    /// Neither version has a row: nothing was compared.
    BothEmpty,
    /// (removed + changed) / v1 rows above the policy's fraction.
    MaxRemovedOrChangedFraction,
    /// added / v1 rows above the policy's fraction (when set).
    MaxAddedFraction,
    /// More changed rows than the policy's count (when set).
    MaxChangedRows,
    /// More removed rows than the policy's count (when set).
    MaxRemovedRows,
    /// More added rows than the policy's count (when set).
    MaxAddedRows,
    /// A column whose mismatch rate is above its `[compare.columns.NAME]
    /// max_mismatch_rate`.
    MaxColumnMismatchRate,
    RowsChanged,
    RowsRemoved,
    RowsAdded,
    /// A declared change (`[[expect]]`) that explained nothing: it did not
    /// happen, so the declaration is stale.
    StaleExpectation,
    /// A declared number of rows added or removed that the rows within its
    /// `where` do not meet.
    ExpectationOutOfRange,
    /// A check of the contract v2 breaks where v1 kept it (or breaks more),
    /// or whose column v2 lacks.
    ContractBroken,
    /// A check of the contract v1 already broke, and v2 no more.
    ContractPreExisting,
    /// A column whose values are distributed differently in v2: PSI
    /// (numbers, times) or Jensen–Shannon distance (text, booleans) above
    /// the policy's limits.
    DistributionDrift,
    /// A column whose share of NULLs moved by more than the policy's
    /// limits.
    NullRateDrift,
    /// A column whose number of distinct values changed by more than the
    /// policy's limits.
    DistinctCountDrift,
    /// An input record could not be loaded (dead-lettered).
    DeadLetteredRows,
    /// An input's dead-lettered share above the policy's fraction.
    MaxDeadLetteredFraction,
    /// A version whose runs on the same inputs differ (`--runs N`).
    Nondeterministic,
}

/// What a rule needs to have been looked at before it can pass or fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The two output schemas (every command).
    Schema,
    /// Both versions' SQL planned (`run`, `check`; not `diff`).
    Plans,
    /// Rows read and compared (`run`, `diff`; not `check`).
    Rows,
    /// The determinism check ran (`--runs N`).
    Runs,
    /// A folder of models was run or planned (`run`, `check`).
    Models,
    /// Changes were declared and rows compared.
    Declared,
    /// A contract was declared and rows compared.
    Contracts,
    /// The columns were profiled (rows compared, no `--no-profile`).
    Profile,
}

/// Which judge function looks at a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Models,
    Determinism,
    Schema,
    Keys,
    Rows,
    Expectations,
    Contracts,
    Drift,
    Inputs,
}

impl Rule {
    /// Every rule, in policy order.
    pub const ALL: [Rule; 30] = [
        Rule::ModelFailedV1,
        Rule::ModelFailedV2,
        Rule::SchemaMigration,
        Rule::SchemaBreaking,
        Rule::SchemaCompatible,
        Rule::DuplicateKeysV1,
        Rule::DuplicateKeysV2,
        Rule::NullKeysV1,
        Rule::NullKeysV2,
        Rule::EmptyV2,
        Rule::BothEmpty,
        Rule::MaxRemovedOrChangedFraction,
        Rule::MaxAddedFraction,
        Rule::MaxChangedRows,
        Rule::MaxRemovedRows,
        Rule::MaxAddedRows,
        Rule::MaxColumnMismatchRate,
        Rule::RowsChanged,
        Rule::RowsRemoved,
        Rule::RowsAdded,
        Rule::StaleExpectation,
        Rule::ExpectationOutOfRange,
        Rule::ContractBroken,
        Rule::ContractPreExisting,
        Rule::DistributionDrift,
        Rule::NullRateDrift,
        Rule::DistinctCountDrift,
        Rule::DeadLetteredRows,
        Rule::MaxDeadLetteredFraction,
        Rule::Nondeterministic,
    ];

    /// The rule's name in reports and in `[policy]`.
    pub fn name(self) -> &'static str {
        use Rule::*;
        match self {
            ModelFailedV1 => "model_failed_v1",
            ModelFailedV2 => "model_failed_v2",
            SchemaMigration => "schema_migration",
            SchemaBreaking => "schema_breaking",
            SchemaCompatible => "schema_compatible",
            DuplicateKeysV1 => "duplicate_keys_v1",
            DuplicateKeysV2 => "duplicate_keys_v2",
            NullKeysV1 => "null_keys_v1",
            NullKeysV2 => "null_keys_v2",
            EmptyV2 => "empty_v2",
            BothEmpty => "both_empty",
            MaxRemovedOrChangedFraction => "max_removed_or_changed_fraction",
            MaxAddedFraction => "max_added_fraction",
            MaxChangedRows => "max_changed_rows",
            MaxRemovedRows => "max_removed_rows",
            MaxAddedRows => "max_added_rows",
            MaxColumnMismatchRate => "max_column_mismatch_rate",
            RowsChanged => "rows_changed",
            RowsRemoved => "rows_removed",
            RowsAdded => "rows_added",
            StaleExpectation => "stale_expectation",
            ExpectationOutOfRange => "expectation_out_of_range",
            ContractBroken => "contract_broken",
            ContractPreExisting => "contract_pre_existing",
            DistributionDrift => "distribution_drift",
            NullRateDrift => "null_rate_drift",
            DistinctCountDrift => "distinct_count_drift",
            DeadLetteredRows => "dead_lettered_rows",
            MaxDeadLetteredFraction => "max_dead_lettered_fraction",
            Nondeterministic => "nondeterministic",
        }
    }

    pub fn needs(self) -> Needs {
        match self.family() {
            Family::Determinism => Needs::Runs,
            Family::Models => Needs::Models,
            Family::Schema if self == Rule::SchemaMigration => Needs::Plans,
            Family::Schema => Needs::Schema,
            Family::Keys | Family::Rows | Family::Inputs => Needs::Rows,
            Family::Expectations => Needs::Declared,
            Family::Contracts => Needs::Contracts,
            Family::Drift => Needs::Profile,
        }
    }

    pub fn family(self) -> Family {
        use Rule::*;
        match self {
            ModelFailedV1 | ModelFailedV2 => Family::Models,
            Nondeterministic => Family::Determinism,
            SchemaMigration | SchemaBreaking | SchemaCompatible => Family::Schema,
            DuplicateKeysV1 | DuplicateKeysV2 | NullKeysV1 | NullKeysV2 => Family::Keys,
            EmptyV2
            | BothEmpty
            | MaxRemovedOrChangedFraction
            | MaxAddedFraction
            | MaxChangedRows
            | MaxRemovedRows
            | MaxAddedRows
            | MaxColumnMismatchRate
            | RowsChanged
            | RowsRemoved
            | RowsAdded => Family::Rows,
            StaleExpectation | ExpectationOutOfRange => Family::Expectations,
            ContractBroken | ContractPreExisting => Family::Contracts,
            DistributionDrift | NullRateDrift | DistinctCountDrift => Family::Drift,
            DeadLetteredRows | MaxDeadLetteredFraction => Family::Inputs,
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_json_names_and_all_is_complete() {
        for rule in Rule::ALL {
            let json = serde_json::to_value(rule).unwrap();
            assert_eq!(json, rule.name(), "{rule:?}");
        }
        let mut sorted = Rule::ALL.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), Rule::ALL.len(), "no rule listed twice");
        // Policy order is the enum's declaration order.
        assert!(Rule::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
