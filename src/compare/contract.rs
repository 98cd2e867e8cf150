//! Contracts held against v1: `[contract]` (per model `[models.NAME.contract]`;
//! a dbt project's `not_null`, `unique`, `accepted_values` and
//! `relationships` tests too)
//! states what an output must be — columns not NULL, unique, among accepted
//! values, within a range, matching a pattern; a number of rows; data no
//! older than an age; values present in another table (an input, or the
//! same version's model) — and each check is evaluated on v1 and on v2.
//!
//! What v2 newly breaks (or breaks more than v1 did) is `contract_broken`
//! (block); what v1 already broke and v2 does not make worse is
//! `contract_pre_existing` (review), so a gate never blocks a change for a
//! debt it did not create. A check on a column v2 lacks is broken.
//!
//! Each version's column checks are one aggregate over its output; a
//! `unique` check groups by its columns, a relationship is an anti join.
//! Counts are exact, so the outcome is the same at any thread count.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{JoinType, TableReference};
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{max, sum};
use datafusion::logical_expr::{Expr, cast, col, ident, lit, when};
use datafusion::prelude::{DataFrame, SessionContext};
use serde::Deserialize;

use crate::error::{EngineContext, Error, Result};
use crate::report::{ContractCheck, ContractStatus};
use crate::transform::Version;

/// `[contract]` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ContractSpec {
    /// Columns that hold no NULL.
    #[serde(default)]
    pub not_null: Vec<String>,
    /// Columns (or lists of columns, unique together) whose values do not
    /// repeat (NULLs aside).
    #[serde(default)]
    pub unique: Vec<Columns>,
    /// Per column, the values it may hold (NULL aside).
    #[serde(default)]
    pub accepted_values: BTreeMap<String, Vec<toml::Value>>,
    /// Per column, bounds its values stay within (both included).
    #[serde(default)]
    pub range: BTreeMap<String, Bounds>,
    /// Per column, a regular expression every value matches.
    #[serde(default)]
    pub regex: BTreeMap<String, String>,
    /// Bounds on the number of rows.
    pub row_count: Option<Bounds>,
    /// Per timestamp or date column, the greatest age its latest value may
    /// have.
    #[serde(default)]
    pub freshness: BTreeMap<String, Freshness>,
    /// Per column, `table.column` its values must be found in (an input,
    /// or another model's output in a folder of models).
    #[serde(default)]
    pub relationships: BTreeMap<String, String>,
}

/// One column, or several.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Columns {
    One(String),
    Many(Vec<String>),
}

impl Columns {
    fn list(&self) -> Vec<String> {
        match self {
            Columns::One(c) => vec![c.clone()],
            Columns::Many(cs) => cs.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// A duration: `36h`, `7d`.
    pub max_age: String,
    /// The moment the age is measured from (`YYYY-MM-DD` or an RFC 3339
    /// time); default: when the run starts.
    pub as_of: Option<String>,
}

/// One check of a contract.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    NotNull(String),
    Unique(Vec<String>),
    AcceptedValues(String, Vec<toml::Value>),
    Range(String, Bounds),
    Regex(String, String),
    RowCount(Bounds),
    /// Column, greatest age in seconds, as of (microseconds since the
    /// epoch, UTC).
    Freshness(String, f64, i64),
    /// Column, other table, its column.
    Relationship(String, String, String),
}

impl Check {
    fn kind(&self) -> &'static str {
        match self {
            Check::NotNull(_) => "not_null",
            Check::Unique(_) => "unique",
            Check::AcceptedValues(..) => "accepted_values",
            Check::Range(..) => "range",
            Check::Regex(..) => "regex",
            Check::RowCount(_) => "row_count",
            Check::Freshness(..) => "freshness",
            Check::Relationship(..) => "relationships",
        }
    }

    fn columns(&self) -> Vec<String> {
        match self {
            Check::NotNull(c)
            | Check::AcceptedValues(c, _)
            | Check::Range(c, _)
            | Check::Regex(c, _)
            | Check::Freshness(c, ..)
            | Check::Relationship(c, ..) => vec![c.clone()],
            Check::Unique(cs) => cs.clone(),
            Check::RowCount(_) => Vec::new(),
        }
    }

    /// What the check asks, in words: `between 0 and 100`.
    /// The table a relationship looks its values up in.
    pub fn looked_up(&self) -> Option<&str> {
        match self {
            Check::Relationship(_, table, _) => Some(table),
            _ => None,
        }
    }

    fn rule(&self) -> String {
        let bounds = |b: &Bounds| match (b.min, b.max) {
            (Some(a), Some(b)) => format!("between {a} and {b}"),
            (Some(a), None) => format!("at least {a}"),
            (None, Some(b)) => format!("at most {b}"),
            (None, None) => "any".into(),
        };
        match self {
            Check::NotNull(_) => "no NULL".into(),
            Check::Unique(_) => "no value repeated".into(),
            Check::AcceptedValues(_, vs) => {
                let vs: Vec<String> = vs.iter().map(value_text).collect();
                format!("one of {}", vs.join(", "))
            }
            Check::Range(_, b) => bounds(b),
            Check::Regex(_, r) => format!("matches {r}"),
            Check::RowCount(b) => format!("{} rows", bounds(b)),
            Check::Freshness(_, age, _) => format!(
                "latest value at most {} old",
                humantime::format_duration(std::time::Duration::from_secs_f64(*age))
            ),
            Check::Relationship(_, t, c) => format!("found in {t}.{c}"),
        }
    }
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The checks of `spec`, in a fixed order (as listed, kinds in the order
/// of the table's fields); `now` is the run's start, for freshness without
/// its own `as_of` (microseconds since the epoch).
pub fn checks(spec: &ContractSpec, now: i64) -> std::result::Result<Vec<Check>, String> {
    let mut out = Vec::new();
    out.extend(spec.not_null.iter().cloned().map(Check::NotNull));
    for u in &spec.unique {
        let cols = u.list();
        if cols.is_empty() {
            return Err("unique: an empty list of columns".into());
        }
        out.push(Check::Unique(cols));
    }
    for (c, vs) in &spec.accepted_values {
        if vs.is_empty() {
            return Err(format!("accepted_values.{c}: no values"));
        }
        if let Some(bad) = vs.iter().find(|v| {
            !matches!(
                v,
                toml::Value::String(_)
                    | toml::Value::Integer(_)
                    | toml::Value::Float(_)
                    | toml::Value::Boolean(_)
            )
        }) {
            return Err(format!(
                "accepted_values.{c}: {bad} is not a string, number or boolean"
            ));
        }
        out.push(Check::AcceptedValues(c.clone(), vs.clone()));
    }
    for (c, b) in &spec.range {
        check_bounds(&format!("range.{c}"), b)?;
        out.push(Check::Range(c.clone(), *b));
    }
    for (c, r) in &spec.regex {
        regex_syntax(r).map_err(|m| format!("regex.{c}: {m}"))?;
        out.push(Check::Regex(c.clone(), r.clone()));
    }
    if let Some(b) = &spec.row_count {
        check_bounds("row_count", b)?;
        if b.min.is_some_and(|x| x < 0.0 || x.fract() != 0.0)
            || b.max.is_some_and(|x| x < 0.0 || x.fract() != 0.0)
        {
            return Err("row_count: bounds are whole numbers of rows".into());
        }
        out.push(Check::RowCount(*b));
    }
    for (c, f) in &spec.freshness {
        let age = humantime::parse_duration(&f.max_age)
            .map_err(|e| format!("freshness.{c}.max_age {:?}: {e}", f.max_age))?;
        let as_of = match &f.as_of {
            Some(t) => parse_instant(t).ok_or_else(|| {
                format!("freshness.{c}.as_of {t:?}: give YYYY-MM-DD or an RFC 3339 time")
            })?,
            None => now,
        };
        out.push(Check::Freshness(c.clone(), age.as_secs_f64(), as_of));
    }
    for (c, target) in &spec.relationships {
        let (t, tc) = target
            .rsplit_once('.')
            .filter(|(t, c)| !t.is_empty() && !c.is_empty())
            .ok_or_else(|| format!("relationships.{c} = {target:?}: give TABLE.COLUMN"))?;
        out.push(Check::Relationship(
            c.clone(),
            t.to_string(),
            tc.to_string(),
        ));
    }
    Ok(out)
}

fn check_bounds(what: &str, b: &Bounds) -> std::result::Result<(), String> {
    if b.min.is_none() && b.max.is_none() {
        return Err(format!("{what}: give min, max or both"));
    }
    if let (Some(a), Some(z)) = (b.min, b.max)
        && a > z
    {
        return Err(format!("{what}: min {a} is above max {z}"));
    }
    if [b.min, b.max].iter().flatten().any(|x| !x.is_finite()) {
        return Err(format!("{what}: bounds must be finite"));
    }
    Ok(())
}

/// Check a pattern parses as the engine's regular expressions do.
fn regex_syntax(r: &str) -> std::result::Result<(), String> {
    use datafusion::arrow::array::StringArray;
    let a = StringArray::from(vec!["x"]);
    datafusion::arrow::compute::kernels::regexp::regexp_is_match_scalar(&a, r, None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time, in microseconds.
fn parse_instant(t: &str) -> Option<i64> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros());
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp_micros())
}

/// What one version shows for one check.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// Violating rows (or values, for freshness and row_count: 0 or 1);
    /// `None` when the output lacks a column the check names.
    violations: Option<u64>,
    /// For freshness: the latest value, as text.
    latest: Option<String>,
}

/// Evaluate `checks` on the outputs registered as v1 and v2 in `ctx`.
pub async fn evaluate(ctx: &SessionContext, checks: &[Check]) -> Result<Vec<ContractCheck>> {
    if checks.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = Vec::with_capacity(2);
    for v in [Version::V1, Version::V2] {
        seen.push(side(ctx, v, checks).await?);
    }
    let v2 = seen.pop().expect("two sides");
    let v1 = seen.pop().expect("two sides");
    Ok(checks
        .iter()
        .zip(v1.into_iter().zip(v2))
        .map(|(c, (a, b))| {
            let status = match (a.violations, b.violations) {
                (_, None) => ContractStatus::Missing,
                (Some(x), Some(y)) if y > 0 && y <= x => ContractStatus::PreExisting,
                (_, Some(y)) if y > 0 => ContractStatus::Broken,
                (Some(x), Some(0)) if x > 0 => ContractStatus::Fixed,
                _ => ContractStatus::Holds,
            };
            ContractCheck {
                check: c.kind().to_string(),
                columns: c.columns(),
                rule: c.rule(),
                v1: a.violations,
                v2: b.violations,
                v1_latest: a.latest,
                v2_latest: b.latest,
                status,
            }
        })
        .collect())
}

/// One version's outcome of every check.
async fn side(ctx: &SessionContext, v: Version, checks: &[Check]) -> Result<Vec<Seen>> {
    let what = || format!("cannot check the contract on {}", v.as_str());
    let t = ctx.table(v.table_name()).await.context(what)?;
    let schema = t.schema().as_arrow().clone();
    let has = |c: &str| schema.field_with_name(c).is_ok();
    let mut seen = vec![Seen::default(); checks.len()];
    // The checks one aggregate answers: an expression each, by position.
    let mut aggs: Vec<Expr> = vec![count_all().alias("__rows")];
    let mut at: Vec<Option<usize>> = vec![None; checks.len()];
    let flag = |e: Expr| -> Result<Expr> {
        Ok(sum(when(e, lit(1i64))
            .otherwise(lit(0i64))
            .context(what)?))
    };
    for (i, c) in checks.iter().enumerate() {
        if !c.columns().iter().all(|c| has(c)) {
            continue;
        }
        let e = match c {
            Check::NotNull(c) => Some(flag(ident(c).is_null())?),
            Check::AcceptedValues(c, vs) => {
                let list: Vec<Expr> = vs.iter().map(literal).collect();
                let e = ident(c).is_not_null().and(ident(c).in_list(list, true));
                Some(flag(e)?)
            }
            Check::Range(c, b) => {
                let x = cast(ident(c), DataType::Float64);
                let mut out = lit(false);
                if let Some(a) = b.min {
                    out = out.or(x.clone().lt(lit(a)));
                }
                if let Some(z) = b.max {
                    out = out.or(x.gt(lit(z)));
                }
                Some(flag(out)?)
            }
            Check::Regex(c, r) => {
                use datafusion::functions::regex::expr_fn::regexp_like;
                let text = cast(ident(c), DataType::Utf8);
                let e = ident(c)
                    .is_not_null()
                    .and(regexp_like(text, lit(r.clone()), None).is_not_true());
                Some(flag(e)?)
            }
            Check::Freshness(c, ..) => Some(max(cast(
                ident(c),
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ))),
            Check::RowCount(_) | Check::Unique(_) | Check::Relationship(..) => None,
        };
        if let Some(e) = e {
            at[i] = Some(aggs.len());
            aggs.push(e.alias(format!("__c{i}")));
        }
    }
    let batches = t
        .clone()
        .aggregate(vec![], aggs)
        .context(what)?
        .collect()
        .await
        .context(what)?;
    let batch = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| Error::Internal("a contract aggregate gave no row".into()))?;
    let int = |j: usize| super::count_at(&batches, j);
    let rows = int(0);
    for (i, c) in checks.iter().enumerate() {
        if !c.columns().iter().all(|c| has(c)) {
            continue;
        }
        seen[i] = match c {
            Check::RowCount(b) => {
                let n = rows as f64;
                let out = b.min.is_some_and(|a| n < a) || b.max.is_some_and(|z| n > z);
                Seen {
                    violations: Some(u64::from(out)),
                    latest: Some(rows.to_string()),
                }
            }
            Check::Freshness(_, age, as_of) => {
                let j = at[i].expect("freshness has a column");
                let a = batch
                    .column(j)
                    .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
                let latest = (!a.is_null(0)).then(|| a.value(0));
                let oldest_allowed = *as_of as f64 - age * 1e6;
                let stale = latest.is_none_or(|l| (l as f64) < oldest_allowed);
                Seen {
                    violations: Some(u64::from(stale)),
                    latest: latest.map(|l| {
                        chrono::DateTime::from_timestamp_micros(l)
                            .map(|d| d.naive_utc().to_string())
                            .unwrap_or_default()
                    }),
                }
            }
            Check::Unique(cols) => Seen {
                violations: Some(repeated(&t, cols, &what).await?),
                latest: None,
            },
            Check::Relationship(c, table, other) => Seen {
                violations: orphans(ctx, v, &t, c, table, other, &what).await?,
                latest: None,
            },
            _ => Seen {
                violations: Some(int(at[i].expect("an aggregate per column check"))),
                latest: None,
            },
        };
    }
    Ok(seen)
}

fn literal(v: &toml::Value) -> Expr {
    match v {
        toml::Value::Integer(i) => lit(*i),
        toml::Value::Float(f) => lit(*f),
        toml::Value::Boolean(b) => lit(*b),
        other => lit(value_text(other)),
    }
}

/// Rows whose values of `cols` (none NULL) occur more than once.
async fn repeated(t: &DataFrame, cols: &[String], what: &dyn Fn() -> String) -> Result<u64> {
    let not_null = cols
        .iter()
        .map(|c| ident(c).is_not_null())
        .reduce(Expr::and)
        .expect("unique names a column");
    let groups = t
        .clone()
        .filter(not_null)
        .context(what)?
        .aggregate(
            cols.iter().map(ident).collect(),
            vec![count_all().alias("__n")],
        )
        .context(what)?
        .filter(col("__n").gt(lit(1i64)))
        .context(what)?
        .aggregate(vec![], vec![sum(col("__n")).alias("__rows")])
        .context(what)?
        .collect()
        .await
        .context(what)?;
    Ok(super::count_at(&groups, 0))
}

/// The name under which version `v`'s own `table` is registered for its
/// relationships (a model of a folder, which each version has as it ran
/// it); an input is one table for both versions, under its own name.
pub fn version_table(v: Version, table: &str) -> String {
    format!("__diffgate_{}__{table}", v.as_str())
}

/// Rows whose `column` (not NULL) is not found in `table.other`: version
/// `v`'s own `table` when it has one, else the input. `None` when only the
/// other version has the table (a model added or removed).
async fn orphans(
    ctx: &SessionContext,
    v: Version,
    t: &DataFrame,
    column: &str,
    table: &str,
    other: &str,
    what: &dyn Fn() -> String,
) -> Result<Option<u64>> {
    let own = TableReference::bare(version_table(v, table));
    let theirs = TableReference::bare(version_table(v.other(), table));
    let target = match ctx.table(own).await {
        Ok(own) => own,
        Err(_) => match ctx.table(TableReference::bare(table)).await {
            Ok(input) => input,
            Err(_) if ctx.table_exist(theirs).unwrap_or(false) => return Ok(None),
            Err(_) => {
                return Err(Error::Usage(format!(
                    "contract relationships.{column}: no table `{table}` to look values up in (an input, or a model of the folder)"
                )));
            }
        },
    };
    if target.schema().as_arrow().field_with_name(other).is_err() {
        return Err(Error::Usage(format!(
            "contract relationships.{column}: table `{table}` has no column `{other}`"
        )));
    }
    let keys = target
        .select(vec![ident(other).alias("__to")])
        .context(what)?
        .filter(col("__to").is_not_null())
        .context(what)?;
    let from = t
        .clone()
        .select(vec![ident(column).alias("__from")])
        .context(what)?
        .filter(col("__from").is_not_null())
        .context(what)?;
    let missing = from
        .join_on(
            keys,
            JoinType::LeftAnti,
            vec![col("__from").eq(col("__to"))],
        )
        .context(what)?
        .aggregate(vec![], vec![count_all().alias("n")])
        .context(what)?
        .collect()
        .await
        .context(what)?;
    Ok(Some(super::count_at(&missing, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_become_checks_or_say_what_is_wrong() {
        let spec: ContractSpec = toml::from_str(
            r#"
            not_null = ["id"]
            unique = ["id", ["region", "seq"]]
            accepted_values = { status = ["open", "shipped"] }
            range = { amount = { min = 0 } }
            regex = { email = '^[^@]+@[^@]+$' }
            row_count = { min = 1, max = 1000 }
            freshness = { updated_at = { max_age = "1d", as_of = "2026-04-01" } }
            relationships = { customer_id = "customers.customer_id" }
            "#,
        )
        .unwrap();
        let cs = checks(&spec, 0).unwrap();
        let kinds: Vec<&str> = cs.iter().map(Check::kind).collect();
        assert_eq!(
            kinds,
            [
                "not_null",
                "unique",
                "unique",
                "accepted_values",
                "range",
                "regex",
                "row_count",
                "freshness",
                "relationships"
            ]
        );
        assert_eq!(
            cs[7],
            Check::Freshness("updated_at".into(), 86400.0, 1_775_001_600_000_000)
        );
        assert_eq!(cs[4].rule(), "at least 0");
        assert_eq!(cs[3].rule(), "one of open, shipped");
        for bad in [
            "range = { a = {} }",
            "range = { a = { min = 2, max = 1 } }",
            "regex = { a = '(' }",
            "row_count = { min = 1.5 }",
            "freshness = { a = { max_age = \"soon\" } }",
            "relationships = { a = \"customers\" }",
            "accepted_values = { a = [] }",
        ] {
            let spec: ContractSpec = toml::from_str(bad).unwrap();
            assert!(checks(&spec, 0).is_err(), "{bad}");
        }
    }
}
