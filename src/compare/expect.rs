//! Declared changes (`[[expect]]`, `--expect`): what a change to a
//! transform is meant to do, held against what the comparison found.
//!
//! A declaration names a column and a kind of change (`any`, `scale(100)`,
//! `offset(x)`, `round(k)`, `value_to_null`, `null_to_value`) or a number
//! of rows added or removed (`rows_added(0..500)`), optionally only where
//! a SQL predicate holds, and always with a reason. The keyed comparison
//! asks each changed cell and each one-side row whether a declaration
//! explains it; what one explains is counted as expected and the judge
//! leaves it out, what none explains is judged as ever. A declaration that
//! explained nothing is stale, and a row count outside its declared range
//! explains none of its rows: both are findings, so declarations cannot
//! rot in a repository.
//!
//! This module owns the declarations (parsing, checking them against the
//! compared columns, the predicate as a plan expression per side) and the
//! arithmetic of the kinds; the keyed stage owns where they are asked.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use serde::Deserialize;

use super::cells;
use crate::align::Alignment;
use crate::error::{Error, Result};
use crate::report::{ExpectStatus, ExpectationOutcome};
use crate::transform::Version;

/// Most declarations one comparison can take (each is a bit of a row's
/// coverage set).
pub const MAX_EXPECTATIONS: usize = 64;

/// One `[[expect]]` table (or `--expect '{...}'`) as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// The column whose values change (not for `rows_added` and
    /// `rows_removed`).
    pub column: Option<String>,
    /// Only rows where this SQL predicate holds, over the outputs' columns
    /// (as v2 names them).
    #[serde(rename = "where")]
    pub scope: Option<String>,
    pub change: String,
    /// Why the change is intended: shown beside it in every report.
    pub reason: String,
}

/// A number of rows, `lo..hi` with both ends included (`..` any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub lo: u64,
    pub hi: Option<u64>,
}

impl Count {
    fn parse(s: &str) -> std::result::Result<Count, String> {
        let s = s.trim();
        let num = |x: &str| -> std::result::Result<Option<u64>, String> {
            let x = x.trim().replace('_', "");
            if x.is_empty() {
                return Ok(None);
            }
            x.parse::<u64>()
                .map(Some)
                .map_err(|_| format!("`{x}` is not a row count"))
        };
        let (lo, hi) = match s.split_once("..") {
            Some((lo, hi)) => (num(lo)?, num(hi.strip_prefix('=').unwrap_or(hi))?),
            None => {
                let n = num(s)?;
                (n, n)
            }
        };
        let count = Count {
            lo: lo.unwrap_or(0),
            hi,
        };
        if count.hi.is_some_and(|h| h < count.lo) {
            return Err(format!("the range {s} is empty"));
        }
        Ok(count)
    }

    pub fn contains(&self, n: u64) -> bool {
        n >= self.lo && self.hi.is_none_or(|h| n <= h)
    }
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.lo, self.hi) {
            (lo, Some(hi)) if lo == hi => write!(f, "{lo}"),
            (0, None) => write!(f, ".."),
            (lo, Some(hi)) => write!(f, "{lo}..{hi}"),
            (lo, None) => write!(f, "{lo}.."),
        }
    }
}

/// The kind of change a declaration allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// Any change of the column's values.
    Any,
    /// v2 = v1 × factor.
    Scale(f64),
    /// v2 = v1 + difference.
    Offset(f64),
    /// v2 = v1 rounded to this many decimals (half away from zero or half
    /// to even).
    Round(u32),
    ValueToNull,
    NullToValue,
    /// Rows only in v2 (added), this many.
    RowsAdded(Count),
    /// Rows only in v1 (removed), this many.
    RowsRemoved(Count),
}

/// The words `change` accepts, for messages.
const KINDS: &str = "any, scale(X), offset(X), round(K), value_to_null, null_to_value, \
                     rows_added(N..M), rows_removed(N..M)";

impl Change {
    pub fn parse(s: &str) -> std::result::Result<Change, String> {
        let s = s.trim();
        let (word, arg) = match s.split_once('(') {
            Some((w, rest)) => {
                let arg = rest
                    .strip_suffix(')')
                    .ok_or_else(|| format!("change {s:?}: missing `)`"))?;
                (w.trim(), Some(arg.trim()))
            }
            None => (s, None),
        };
        let number = |what: &str| -> std::result::Result<f64, String> {
            let a = arg.ok_or_else(|| format!("change {s:?}: {what} needs a number"))?;
            a.replace('_', "")
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("change {s:?}: `{a}` is not a finite number"))
        };
        let change = match (word, arg) {
            ("any", None) => Change::Any,
            ("value_to_null", None) => Change::ValueToNull,
            ("null_to_value", None) => Change::NullToValue,
            ("scale", _) => {
                let x = number("scale")?;
                if x == 0.0 || x == 1.0 {
                    return Err(format!("change {s:?}: a scale by {x} is not a scale"));
                }
                Change::Scale(x)
            }
            ("offset", _) => {
                let x = number("offset")?;
                if x == 0.0 {
                    return Err(format!("change {s:?}: an offset of 0 is no change"));
                }
                Change::Offset(x)
            }
            ("round", Some(k)) => Change::Round(
                k.parse::<u32>()
                    .ok()
                    .filter(|k| *k <= 18)
                    .ok_or_else(|| format!("change {s:?}: decimals must be 0 to 18"))?,
            ),
            ("rows_added", a) => Change::RowsAdded(
                Count::parse(a.unwrap_or("")).map_err(|m| format!("change {s:?}: {m}"))?,
            ),
            ("rows_removed", a) => Change::RowsRemoved(
                Count::parse(a.unwrap_or("")).map_err(|m| format!("change {s:?}: {m}"))?,
            ),
            _ => return Err(format!("change {s:?}: not one of {KINDS}")),
        };
        Ok(change)
    }

    /// Whether this declares rows rather than a column's cells.
    pub fn is_rows(&self) -> bool {
        matches!(self, Change::RowsAdded(_) | Change::RowsRemoved(_))
    }

    fn numeric(&self) -> bool {
        matches!(
            self,
            Change::Scale(_) | Change::Offset(_) | Change::Round(_)
        )
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Any => f.write_str("any"),
            Change::Scale(x) => write!(f, "scale({x})"),
            Change::Offset(x) => write!(f, "offset({x})"),
            Change::Round(k) => write!(f, "round({k})"),
            Change::ValueToNull => f.write_str("value_to_null"),
            Change::NullToValue => f.write_str("null_to_value"),
            Change::RowsAdded(c) => write!(f, "rows_added({c})"),
            Change::RowsRemoved(c) => write!(f, "rows_removed({c})"),
        }
    }
}

/// A declaration, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub column: Option<String>,
    pub scope: Option<String>,
    pub change: Change,
    pub reason: String,
}

impl Expectation {
    pub fn from_spec(spec: &ExpectSpec) -> std::result::Result<Expectation, String> {
        let change = Change::parse(&spec.change)?;
        let column = spec.column.as_deref().map(str::trim);
        if column == Some("") {
            return Err("column: empty name".into());
        }
        match (change.is_rows(), column) {
            (true, Some(c)) => {
                return Err(format!(
                    "change {change} is about rows, not column `{c}`: leave `column` out"
                ));
            }
            (false, None) => {
                return Err(format!("change {change} needs the `column` it changes"));
            }
            _ => {}
        }
        let scope = spec.scope.as_deref().map(str::trim);
        if scope == Some("") {
            return Err("where: empty predicate (leave `where` out for every row)".into());
        }
        let reason = spec.reason.trim();
        if reason.is_empty() {
            return Err("reason: say why this change is intended".into());
        }
        Ok(Expectation {
            column: column.map(str::to_string),
            scope: scope.map(str::to_string),
            change,
            reason: reason.to_string(),
        })
    }

    /// This declaration where nothing was compared: stale.
    pub fn stale(&self) -> ExpectationOutcome {
        ExpectationOutcome {
            column: self.column.clone(),
            scope: self.scope.clone(),
            change: self.change.to_string(),
            reason: self.reason.clone(),
            matched: 0,
            status: ExpectStatus::Stale,
        }
    }

    /// `price: scale(100) where region = 'eu'`, as messages name it.
    pub fn label(&self) -> String {
        crate::report::expectation_label(
            self.column.as_deref(),
            &self.change.to_string(),
            self.scope.as_deref(),
        )
    }
}

/// Parse `--expect` values: each an inline TOML table with the fields of
/// `[[expect]]`, e.g. `{column = "price", change = "scale(100)", reason =
/// "cents"}`.
pub fn parse_flag(value: &str) -> std::result::Result<Expectation, String> {
    #[derive(Deserialize)]
    struct One {
        e: ExpectSpec,
    }
    let one: One = toml::from_str(&format!("e = {value}")).map_err(|e| {
        format!(
            "--expect {value:?}: {} (give an inline table: {{column = \"price\", change = \"scale(100)\", reason = \"...\"}})",
            e.message()
        )
    })?;
    Expectation::from_spec(&one.e).map_err(|m| format!("--expect {value:?}: {m}"))
}

/// One declaration resolved against a comparison: its compared column and
/// its predicate planned on each side (`None` where that side lacks a
/// column it names; the other side's then decides).
#[derive(Debug, Clone)]
pub struct Item {
    pub exp: Expectation,
    pub column: Option<usize>,
    pub scope: [Option<Expr>; 2],
}

impl Item {
    /// The side whose one-side rows a rows declaration counts (0 = v1's
    /// removed rows, 1 = v2's added rows).
    pub fn rows_side(&self) -> Option<usize> {
        match self.exp.change {
            Change::RowsRemoved(_) => Some(0),
            Change::RowsAdded(_) => Some(1),
            _ => None,
        }
    }
}

/// The declarations of one comparison.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub items: Vec<Item>,
}

impl Plan {
    /// Check `expect` against the aligned outputs registered in `ctx`.
    pub async fn new(
        ctx: &SessionContext,
        alignment: &Alignment,
        expect: &[Expectation],
    ) -> Result<Plan> {
        if expect.len() > MAX_EXPECTATIONS {
            return Err(Error::Usage(format!(
                "{} declared changes: at most {MAX_EXPECTATIONS} per comparison",
                expect.len()
            )));
        }
        let keyless = alignment.key.is_empty();
        let mut items = Vec::with_capacity(expect.len());
        for e in expect {
            let bad = |m: String| Error::Usage(format!("declared change `{}`: {m}", e.label()));
            let column = match &e.column {
                None => None,
                Some(c) => {
                    if alignment.key.iter().any(|k| &k.name == c) {
                        return Err(bad(format!(
                            "`{c}` is the key; a changed key is a row removed and one added \
                             (declare rows_removed and rows_added)"
                        )));
                    }
                    let j = alignment
                        .columns
                        .iter()
                        .position(|p| &p.name == c)
                        .ok_or_else(|| {
                            let names: Vec<&str> =
                                alignment.columns.iter().map(|p| p.name.as_str()).collect();
                            let hint = crate::error::did_you_mean(c, names.iter().copied())
                                .map(|h| format!("; did you mean `{h}`?"))
                                .unwrap_or_default();
                            bad(format!(
                                "`{c}` is not a column v1 and v2 both have and compare{hint}"
                            ))
                        })?;
                    let p = &alignment.columns[j];
                    if e.change.numeric() && !cells::is_numeric(&p.common) {
                        return Err(bad(format!(
                            "{} needs a numeric column; `{c}` is {}",
                            e.change, p.common
                        )));
                    }
                    Some(j)
                }
            };
            if keyless && (column.is_some() || e.scope.is_some()) {
                return Err(bad(
                    "without a key rows are not paired, so only rows_added and rows_removed \
                     without `where` can be checked; give a key"
                        .into(),
                ));
            }
            let mut scope = [None, None];
            if let Some(sql) = &e.scope {
                let mut errors = Vec::new();
                for (i, v) in [Version::V1, Version::V2].into_iter().enumerate() {
                    let df = ctx
                        .table(v.table_name())
                        .await
                        .map_err(|err| Error::Internal(err.to_string()))?;
                    let planned = df
                        .parse_sql_expr(sql)
                        .and_then(|x| df.clone().filter(x.clone()).map(|_| x));
                    match planned {
                        Ok(x) => scope[i] = Some(x),
                        Err(err) => errors.push(format!("{}: {}", v.as_str(), first_line(&err))),
                    }
                }
                if scope.iter().all(Option::is_none) {
                    return Err(bad(format!(
                        "`where` cannot be planned on v1 or v2 ({})",
                        errors.join("; ")
                    )));
                }
            }
            items.push(Item {
                exp: e.clone(),
                column,
                scope,
            });
        }
        Ok(Plan { items })
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether every one-side row must be read to count the rows of a
    /// declaration (one with a `where`); else counts suffice.
    pub fn rows_need_detail(&self) -> bool {
        self.items
            .iter()
            .any(|i| i.exp.change.is_rows() && i.exp.scope.is_some())
    }

    /// The declarations about cells of column `j`, by index.
    pub fn on_column(&self, j: usize) -> impl Iterator<Item = (usize, &Item)> {
        self.items
            .iter()
            .enumerate()
            .filter(move |(_, i)| i.column == Some(j))
    }

    /// The rows declarations about side `s` (0 removed, 1 added), by index.
    pub fn on_rows(&self, s: usize) -> impl Iterator<Item = (usize, &Item)> {
        self.items
            .iter()
            .enumerate()
            .filter(move |(_, i)| i.rows_side() == Some(s))
    }

    /// The rows declarations that were met, as bits per side (v1's
    /// removed rows, v2's added rows), from their `outcomes`.
    pub fn met_rows(&self, outcomes: &[ExpectationOutcome]) -> [u64; 2] {
        let mut met = [0u64; 2];
        for (e, (item, o)) in self.items.iter().zip(outcomes).enumerate() {
            if let Some(s) = item.rows_side()
                && o.status == ExpectStatus::Met
            {
                met[s] |= 1 << e;
            }
        }
        met
    }

    /// The rows declarations of side `s` whose `where` row `r` meets
    /// (`holds`: per declaration, where its `where` holds; absent for
    /// none), as bits.
    pub fn row_bits(&self, s: usize, holds: &[Option<BooleanBuffer>], r: usize) -> u64 {
        self.on_rows(s)
            .filter(|(e, _)| holds[*e].as_ref().is_none_or(|b| b.value(r)))
            .fold(0u64, |bits, (e, _)| bits | (1 << e))
    }

    /// What each declaration came to, given the cells each explained, the
    /// one-side rows by the set of declarations whose `where` they meet
    /// (`cover`, complete when [`Plan::rows_need_detail`]) and the one-side
    /// row counts; with the one-side rows that are expected.
    pub fn outcomes(
        &self,
        cells: &[u64],
        cover: &[BTreeMap<u64, u64>; 2],
        only: [u64; 2],
    ) -> (Vec<ExpectationOutcome>, [u64; 2]) {
        let mut in_range = [0u64; 2];
        let mut outcomes = Vec::with_capacity(self.items.len());
        for (e, item) in self.items.iter().enumerate() {
            let (matched, status) = match (item.rows_side(), item.exp.change) {
                (Some(s), Change::RowsAdded(range) | Change::RowsRemoved(range)) => {
                    let n = if item.exp.scope.is_none() {
                        only[s]
                    } else {
                        cover[s]
                            .iter()
                            .filter(|(bits, _)| *bits & (1 << e) != 0)
                            .map(|(_, n)| n)
                            .sum()
                    };
                    let status = if !range.contains(n) {
                        ExpectStatus::OutOfRange
                    } else if n == 0 {
                        ExpectStatus::Stale
                    } else {
                        in_range[s] |= 1 << e;
                        ExpectStatus::Met
                    };
                    (n, status)
                }
                _ => {
                    let n = cells.get(e).copied().unwrap_or(0);
                    let status = if n == 0 {
                        ExpectStatus::Stale
                    } else {
                        ExpectStatus::Met
                    };
                    (n, status)
                }
            };
            outcomes.push(ExpectationOutcome {
                column: item.exp.column.clone(),
                scope: item.exp.scope.clone(),
                change: item.exp.change.to_string(),
                reason: item.exp.reason.clone(),
                matched,
                status,
            });
        }
        let mut expected = [0u64; 2];
        for s in 0..2 {
            expected[s] = if self.rows_need_detail() {
                cover[s]
                    .iter()
                    .filter(|(bits, _)| *bits & in_range[s] != 0)
                    .map(|(_, n)| n)
                    .sum()
            } else if in_range[s] != 0 {
                only[s]
            } else {
                0
            };
        }
        (outcomes, expected)
    }
}

fn first_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or("").to_string()
}

/// Values true and not NULL.
pub fn truthy(a: &ArrayRef) -> BooleanBuffer {
    let b = a.as_boolean();
    match b.nulls() {
        Some(n) => b.values() & n.inner(),
        None => b.values().clone(),
    }
}

/// Of the cells set in `cand`, those whose change from `a` (v1) to `b`
/// (v2) is `change`.
pub fn cells_matching(
    change: Change,
    a: &ArrayRef,
    b: &ArrayRef,
    cand: &BooleanBuffer,
) -> std::result::Result<BooleanBuffer, ArrowError> {
    if cand.count_set_bits() == 0 {
        return Ok(cand.clone());
    }
    let va = cells::validity(a.as_ref());
    let vb = cells::validity(b.as_ref());
    let test: fn(f64, f64, f64) -> bool = match change {
        Change::Any => return Ok(cand.clone()),
        Change::ValueToNull => return Ok(&(cand & &va) & &!&vb),
        Change::NullToValue => return Ok(&(cand & &!&va) & &vb),
        Change::RowsAdded(_) | Change::RowsRemoved(_) => {
            return Ok(BooleanBuffer::new_unset(cand.len()));
        }
        Change::Scale(_) => |x, y, f| close(x * f, y),
        Change::Offset(_) => |x, y, d| close_by(y - x, d, x.abs().max(y.abs())),
        Change::Round(_) => |x, y, k| {
            let p = 10f64.powi(k as i32);
            close((x * p).round() / p, y) || close((x * p).round_ties_even() / p, y)
        },
    };
    let param = match change {
        Change::Scale(f) => f,
        Change::Offset(d) => d,
        Change::Round(k) => k as f64,
        _ => 0.0,
    };
    let fa = cast(a, &DataType::Float64)?;
    let fb = cast(b, &DataType::Float64)?;
    let (fa, fb) = (
        fa.as_primitive::<Float64Type>(),
        fb.as_primitive::<Float64Type>(),
    );
    let both = &(cand & &va) & &vb;
    Ok(BooleanBuffer::collect_bool(cand.len(), |i| {
        both.value(i) && test(fa.value(i), fb.value(i), param)
    }))
}

/// Equal up to float noise (nine significant digits).
fn close(x: f64, y: f64) -> bool {
    x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
}

/// `d` equal to `want` up to float noise at the magnitude `scale` of the
/// values whose difference it is.
fn close_by(d: f64, want: f64, scale: f64) -> bool {
    d == want || (d - want).abs() <= 1e-9 * scale.max(want.abs())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array};

    use super::*;

    #[test]
    fn changes_parse_and_print_back() {
        for s in [
            "any",
            "scale(100)",
            "scale(0.01)",
            "offset(-2.5)",
            "round(2)",
            "value_to_null",
            "null_to_value",
            "rows_added(0..500)",
            "rows_added(..)",
            "rows_removed(10..)",
            "rows_removed(0..20)",
            "rows_added(7)",
        ] {
            assert_eq!(Change::parse(s).unwrap().to_string(), s, "{s}");
        }
        assert_eq!(
            Change::parse(" rows_added( 1_000 ..= 2_000 ) ").unwrap(),
            Change::RowsAdded(Count {
                lo: 1000,
                hi: Some(2000)
            })
        );
        assert_eq!(
            Change::parse("rows_removed").unwrap(),
            Change::RowsRemoved(Count { lo: 0, hi: None })
        );
        for bad in [
            "scale",
            "scale(1)",
            "scale(x)",
            "offset(0)",
            "round(-1)",
            "round(19)",
            "rows_added(5..2)",
            "rows_added(a)",
            "grow",
            "scale(2",
        ] {
            assert!(Change::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn a_declaration_needs_a_reason_and_the_right_subject() {
        let spec = |column: Option<&str>, change: &str, reason: &str| ExpectSpec {
            column: column.map(str::to_string),
            scope: None,
            change: change.into(),
            reason: reason.into(),
        };
        assert!(Expectation::from_spec(&spec(Some("price"), "scale(100)", "cents")).is_ok());
        assert!(Expectation::from_spec(&spec(Some("price"), "scale(100)", " ")).is_err());
        assert!(Expectation::from_spec(&spec(None, "scale(100)", "cents")).is_err());
        assert!(Expectation::from_spec(&spec(Some("price"), "rows_added(..)", "x")).is_err());
        let e = parse_flag(
            r#"{column = "price", change = "scale(100)", where = "region = 'eu'", reason = "cents"}"#,
        )
        .unwrap();
        assert_eq!(e.label(), "price: scale(100) where region = 'eu'");
        assert!(parse_flag("price:scale(100)").is_err());
        assert!(parse_flag(r#"{change = "any", reason = "x", colum = "a"}"#).is_err());
    }

    fn arr(v: &[Option<f64>]) -> ArrayRef {
        Arc::new(Float64Array::from(v.to_vec()))
    }

    fn bits(b: &BooleanBuffer) -> Vec<bool> {
        b.iter().collect()
    }

    #[test]
    fn kinds_match_only_their_cells() {
        let all = BooleanBuffer::new_set(5);
        let a = arr(&[Some(1.1), Some(2.0), Some(0.1), None, Some(3.0)]);
        let b = arr(&[
            Some(110.0),
            Some(200.0),
            Some(10.000000000000002),
            Some(1.0),
            None,
        ]);
        let m = |c| bits(&cells_matching(Change::parse(c).unwrap(), &a, &b, &all).unwrap());
        assert_eq!(m("scale(100)"), [true, true, true, false, false]);
        assert_eq!(m("value_to_null"), [false, false, false, false, true]);
        assert_eq!(m("null_to_value"), [false, false, false, true, false]);
        assert_eq!(m("any"), [true; 5]);
        let a = arr(&[Some(1.005), Some(2.5), Some(-2.5), Some(1.0)]);
        let b = arr(&[Some(1.0), Some(3.0), Some(-2.0), Some(1.5)]);
        let all = BooleanBuffer::new_set(4);
        let m = |c| bits(&cells_matching(Change::parse(c).unwrap(), &a, &b, &all).unwrap());
        // 2.5 → 3 (half away from zero), -2.5 → -2 (half to even).
        assert_eq!(m("round(0)"), [true, true, true, false]);
        assert_eq!(m("offset(0.5)"), [false, true, true, true]);
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(7)]));
        let more: ArrayRef = Arc::new(Int64Array::from(vec![Some(500), Some(701)]));
        let only_first = BooleanBuffer::from(vec![true, false]);
        let got = cells_matching(Change::Scale(100.0), &ints, &more, &only_first).unwrap();
        assert_eq!(bits(&got), [true, false]);
    }

    #[test]
    fn counts_decide_rows_and_staleness() {
        let item = |change: &str, scope: Option<&str>| Item {
            exp: Expectation {
                column: None,
                scope: scope.map(str::to_string),
                change: Change::parse(change).unwrap(),
                reason: "r".into(),
            },
            column: None,
            scope: [None, None],
        };
        let plan = Plan {
            items: vec![
                item("rows_added(1..5)", None),
                item("rows_removed(..)", None),
            ],
        };
        let none = [BTreeMap::new(), BTreeMap::new()];
        // Only rows: [removed, added].
        let (o, expected) = plan.outcomes(&[], &none, [3, 0]);
        assert_eq!(
            o[0].status,
            ExpectStatus::OutOfRange,
            "0 added, 1..5 declared"
        );
        assert_eq!(o[1].status, ExpectStatus::Met);
        assert_eq!(expected, [3, 0]);
        let (o, _) = plan.outcomes(&[], &none, [0, 2]);
        assert_eq!(o[1].status, ExpectStatus::Stale);
        let (o, expected) = plan.outcomes(&[], &none, [2, 3]);
        assert_eq!(
            (o[0].status, o[1].status),
            (ExpectStatus::Met, ExpectStatus::Met)
        );
        assert_eq!(expected, [2, 3]);
        // With a `where`, rows count by the declarations whose scope they
        // meet: 4 added rows meet the first, 6 the second, 1 both.
        let plan = Plan {
            items: vec![
                item("rows_added(..4)", Some("a")),
                item("rows_added(..10)", Some("b")),
            ],
        };
        let cover = [
            BTreeMap::new(),
            BTreeMap::from([(0b01, 3), (0b10, 5), (0b11, 1), (0, 2)]),
        ];
        let (o, expected) = plan.outcomes(&[], &cover, [0, 11]);
        assert_eq!((o[0].matched, o[1].matched), (4, 6));
        assert_eq!(
            (o[0].status, o[1].status),
            (ExpectStatus::Met, ExpectStatus::Met)
        );
        assert_eq!(expected, [0, 9]);
    }
}
