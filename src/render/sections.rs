//! Report content written once for every human format (hyperfine's
//! `export/markup.rs` shape): which rows the schema table has and what
//! they say, the models table, the key and expected-verdict phrases, the
//! changed cells and one-side rows of the samples. Each format only lays
//! these out as its own cells and escapes them its own way; values here are
//! raw, never escaped.

use serde_json::Value;

use super::text;
use crate::report::{
    ChangedRow, ComparisonView, ContractStatus, DiffReport, ExpectStatus, RowSample, SchemaDiff,
    Verdict, Why,
};

/// What happened to a column (or, for a reordering, to several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    Added,
    Removed,
    /// Retyped; `comparable` says whether its values were still compared.
    Type {
        note: &'a str,
        comparable: bool,
    },
    Nullability,
    Reordered,
    /// A declared rename: v1's name for the column.
    Renamed {
        from: &'a str,
    },
}

/// One row of the schema table.
#[derive(Debug, Clone)]
pub struct SchemaRow<'a> {
    /// The column; for a reordering, every reordered column.
    pub columns: Vec<&'a str>,
    pub change: Change<'a>,
    /// What v1 and v2 had: a type, `nullable`/`non-null`, or nothing.
    pub v1: &'a str,
    pub v2: &'a str,
    pub compatible: bool,
}

impl SchemaRow<'_> {
    /// The change as the table's "change" cell says it, its note already
    /// passed through `note` (each format's escaping).
    pub fn label(&self, note: &dyn Fn(&str) -> String) -> String {
        match self.change {
            Change::Added => "added".into(),
            Change::Removed => "removed".into(),
            Change::Type {
                note: n,
                comparable,
            } => {
                let not_compared = if comparable {
                    ""
                } else {
                    "; values not compared"
                };
                format!("type: {}{not_compared}", note(n))
            }
            Change::Nullability => "nullability".into(),
            Change::Reordered => "reordered".into(),
            Change::Renamed { from } => format!("renamed from {} (declared)", note(from)),
        }
    }

    pub fn class(&self) -> &'static str {
        if self.compatible {
            "compatible"
        } else {
            "breaking"
        }
    }
}

/// The schema table, in the order every format shows it: added, removed,
/// retyped, nullability, renamed, reordered.
pub fn schema_rows(s: &SchemaDiff) -> Vec<SchemaRow<'_>> {
    let mut rows = Vec::new();
    for f in &s.added {
        rows.push(SchemaRow {
            columns: vec![&f.name],
            change: Change::Added,
            v1: "",
            v2: &f.data_type,
            compatible: true,
        });
    }
    for f in &s.removed {
        rows.push(SchemaRow {
            columns: vec![&f.name],
            change: Change::Removed,
            v1: &f.data_type,
            v2: "",
            compatible: false,
        });
    }
    for f in &s.changed {
        rows.push(SchemaRow {
            columns: vec![&f.name],
            change: Change::Type {
                note: &f.note,
                comparable: f.comparable,
            },
            v1: &f.v1_type,
            v2: &f.v2_type,
            compatible: f.compatible,
        });
    }
    let nullable = |b: bool| if b { "nullable" } else { "non-null" };
    for f in &s.nullability {
        rows.push(SchemaRow {
            columns: vec![&f.name],
            change: Change::Nullability,
            v1: nullable(f.v1_nullable),
            v2: nullable(f.v2_nullable),
            compatible: f.compatible,
        });
    }
    for r in &s.renamed {
        rows.push(SchemaRow {
            columns: vec![&r.v2],
            change: Change::Renamed { from: &r.v1 },
            v1: "",
            v2: "",
            compatible: true,
        });
    }
    if !s.reordered.is_empty() {
        rows.push(SchemaRow {
            columns: s.reordered.iter().map(String::as_str).collect(),
            change: Change::Reordered,
            v1: "",
            v2: "",
            compatible: true,
        });
    }
    rows
}

/// "no key (whole rows)" or "key a, b", each column through `name`.
pub fn key_phrase(key: &[String], name: &dyn Fn(&str) -> String) -> String {
    if key.is_empty() {
        "no key (whole rows)".to_string()
    } else {
        let keys: Vec<String> = key.iter().map(|k| name(k)).collect();
        format!("key {}", keys.join(", "))
    }
}

/// The scenario's expected verdict and whether the run met it.
pub fn expected(r: &DiffReport) -> Option<(Verdict, bool)> {
    r.expected_verdict.map(|e| (e, e == r.verdict))
}

/// One row of the models table.
pub struct ModelRow<'a> {
    pub name: &'a str,
    pub verdict: Verdict,
    pub why: Why,
}

/// The compared models of a model-folder run, in report order.
pub fn model_rows(r: &DiffReport) -> Vec<ModelRow<'_>> {
    r.models
        .iter()
        .map(|m| ModelRow {
            name: &m.name,
            verdict: m.verdict,
            why: m.why,
        })
        .collect()
}

/// Models only in v2 and only in v1, under the words each list is shown
/// with ("Added", "Removed"); empty lists are left out.
pub fn model_changes(r: &DiffReport) -> Vec<(&'static str, &[String])> {
    [
        ("Added", &r.models_added[..]),
        ("Removed", &r.models_removed[..]),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
    .collect()
}

/// One row of the declared-changes table.
pub struct ExpectationRow<'a> {
    /// `price: scale(100) where region = 'eu'`.
    pub declared: String,
    pub status: ExpectStatus,
    /// What it explains: `99 changed value(s)`, `12 row(s)`, `nothing`.
    pub explains: String,
    pub reason: &'a str,
}

/// The declared changes of a comparison, in declaration order.
pub fn expectation_rows<'a>(c: &ComparisonView<'a>) -> Vec<ExpectationRow<'a>> {
    c.findings
        .expectations
        .iter()
        .map(|o| {
            let what = if o.column.is_some() {
                "changed value(s)"
            } else {
                "row(s)"
            };
            let explains = match o.status {
                ExpectStatus::Met => format!("{} {what}", o.matched),
                ExpectStatus::Stale => "nothing".to_string(),
                ExpectStatus::OutOfRange => {
                    format!("none: {} row(s), outside the range", o.matched)
                }
            };
            ExpectationRow {
                declared: o.label(),
                status: o.status,
                explains,
                reason: &o.reason,
            }
        })
        .collect()
}

/// One row of the contract table: the check, what it asks, what each
/// version shows, and the status.
pub struct ContractRow<'a> {
    /// `not_null(id)`, `row_count`.
    pub check: String,
    pub rule: &'a str,
    pub v1: String,
    pub v2: String,
    pub status: ContractStatus,
}

/// The checks of a comparison's contract, in the contract's order.
pub fn contract_rows<'a>(c: &ComparisonView<'a>) -> Vec<ContractRow<'a>> {
    c.findings
        .contracts
        .iter()
        .map(|k| {
            let shown = |n: Option<u64>, latest: &Option<String>| match (k.check.as_str(), n) {
                (_, None) => "no such column".to_string(),
                ("freshness", Some(n)) => {
                    let latest = latest.as_deref().unwrap_or("no value");
                    format!(
                        "{} (latest {latest})",
                        if n > 0 { "stale" } else { "fresh" }
                    )
                }
                ("row_count", Some(n)) => {
                    let rows = latest.as_deref().unwrap_or("?");
                    format!("{rows} rows{}", if n > 0 { ", outside" } else { "" })
                }
                (_, Some(0)) => "ok".to_string(),
                (_, Some(n)) => format!("{n} row(s) break it"),
            };
            ContractRow {
                check: match k.columns.len() {
                    0 => k.check.clone(),
                    _ => format!("{}({})", k.check, k.columns.join(", ")),
                },
                rule: &k.rule,
                v1: shown(k.v1, &k.v1_latest),
                v2: shown(k.v2, &k.v2_latest),
                status: k.status,
            }
        })
        .collect()
}

/// How the changed-row samples are ordered: by key, or (with declared
/// changes) rows with a change nothing declared first.
pub fn changed_order(c: &ComparisonView) -> &'static str {
    if c.findings.rows.declared() {
        ", unexplained first, then by key"
    } else {
        " by key"
    }
}

/// One changed cell of the samples, with its row's key as `k=v, ...`.
pub struct ChangedCellRow<'a> {
    pub key: String,
    pub column: &'a str,
    pub v1: &'a Value,
    pub v2: &'a Value,
    /// A declared change explains it.
    pub expected: bool,
}

/// Every changed cell of the sampled changed rows, row by row.
pub fn changed_cells(rows: &[ChangedRow]) -> Vec<ChangedCellRow<'_>> {
    rows.iter()
        .flat_map(|row| {
            let key = text::fields(&row.key, "=");
            row.cells.iter().map(move |c| ChangedCellRow {
                key: key.clone(),
                column: &c.column,
                v1: &c.v1,
                v2: &c.v2,
                expected: c.expected,
            })
        })
        .collect()
}

/// A row found on one side only, as its key (`k=v, ...`) and its values
/// (`c: v, ...`, then ` ×n` for several copies or rows).
pub fn one_side(s: &RowSample) -> (String, String) {
    let mut row = text::fields(&s.row, ": ");
    if let Some(n) = s.count.filter(|n| *n > 1) {
        row.push_str(&format!(" ×{n}"));
    }
    (text::fields(&s.key, "="), row)
}

/// The two one-side sample lists of a comparison, titled.
pub fn one_side_lists<'a>(c: &ComparisonView<'a>) -> [(&'static str, &'a [RowSample]); 2] {
    let s = &c.findings.samples;
    [
        ("Only in v1", &s.only_v1[..]),
        ("Only in v2", &s.only_v2[..]),
    ]
}

/// One row of the profile table: each cell says v1 → v2.
pub struct ProfileRow<'a> {
    pub column: &'a str,
    pub kind: &'static str,
    pub nulls: String,
    pub distinct: String,
    /// Numbers: the mean; times: the latest value; text: the mean length;
    /// booleans: the share of `true`.
    pub center: String,
    /// Numbers and times: the median; text: the most frequent value.
    pub typical: String,
    /// The drift score, or why there is none.
    pub drift: String,
    /// Whether anything in the row differs between the versions.
    pub differs: bool,
    pub profile: &'a crate::report::ColumnProfile,
}

/// `a → b`, or one side's value with a dash for the other.
fn both(a: Option<String>, b: Option<String>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a == b => a,
        (a, b) => format!(
            "{} → {}",
            a.unwrap_or_else(|| "—".into()),
            b.unwrap_or_else(|| "—".into())
        ),
    }
}

/// A number for a profile cell: at most four significant decimals.
pub fn short_number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{x:.digits$}")
}

/// The rows of a comparison's profile, in profile order.
pub fn profile_rows<'a>(c: &ComparisonView<'a>) -> Vec<ProfileRow<'a>> {
    use crate::report::{ProfileKind, SideProfile};
    let Some(p) = &c.findings.profile else {
        return Vec::new();
    };
    p.columns
        .iter()
        .map(|col| {
            let side = |f: &dyn Fn(&SideProfile) -> Option<String>| {
                both(col.v1.as_ref().and_then(f), col.v2.as_ref().and_then(f))
            };
            let nulls = side(&|s| Some(crate::report::percent(s.null_rate)));
            let distinct = side(&|s| {
                Some(format!(
                    "{}{}",
                    if s.distinct_exact { "" } else { "≈" },
                    s.distinct
                ))
            });
            let center = match col.kind {
                ProfileKind::Number => side(&|s| s.mean.map(short_number)),
                ProfileKind::Time => side(&|s| s.max.as_ref().map(text::value)),
                ProfileKind::Text => side(&|s| {
                    s.length
                        .as_ref()
                        .map(|l| format!("{} bytes", short_number(l.mean)))
                }),
                ProfileKind::Boolean => side(&|s| {
                    let yes = s.top.iter().find(|t| t.value == Value::Bool(true));
                    let n = s.rows - s.nulls;
                    (n > 0).then(|| {
                        crate::report::percent(yes.map_or(0, |t| t.count) as f64 / n as f64)
                    })
                }),
                ProfileKind::Other => String::new(),
            };
            let typical = match col.kind {
                ProfileKind::Number | ProfileKind::Time => side(&|s| {
                    s.quantiles
                        .iter()
                        .find(|q| q.p == 50)
                        .map(|q| match &q.value {
                            Value::Number(n) if n.is_f64() => {
                                short_number(n.as_f64().unwrap_or(0.0))
                            }
                            v => text::value(v),
                        })
                }),
                ProfileKind::Text => side(&|s| {
                    s.top
                        .first()
                        .map(|t| format!("{} ({})", text::value(&t.value), t.count))
                }),
                _ => String::new(),
            };
            let drift = match (&col.drift, &col.v1, &col.v2) {
                (Some(d), _, _) => match (d.psi, d.js_distance, &d.unscored) {
                    (Some(x), _, _) => format!("PSI {}", short_number(x)),
                    (_, Some(x), _) => format!("JS {}", short_number(x)),
                    (_, _, Some(why)) => format!("not scored: {why}"),
                    _ => String::new(),
                },
                (None, Some(_), None) => "only in v1".into(),
                (None, None, Some(_)) => "only in v2".into(),
                _ => "key".into(),
            };
            let differs = col.v1 != col.v2
                || col
                    .drift
                    .as_ref()
                    .is_some_and(|d| d.psi.or(d.js_distance).is_some_and(|x| x > 0.0));
            ProfileRow {
                column: &col.name,
                kind: col.kind.as_str(),
                nulls,
                distinct,
                center,
                typical,
                drift,
                differs,
                profile: col,
            }
        })
        .collect()
}

/// What the profile table's "center" column holds, by kind.
pub const PROFILE_NOTE: &str = "each cell is v1 → v2 (one value when equal); \
     mean: numbers' mean, times' latest value, text's mean length in bytes, booleans' share of true; \
     median / top: numbers' and times' median, text's most frequent value; \
     quantiles and PSI from a sample of rows chosen by a hash of the key (of the whole row without one)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{NamedType, NullabilityChange, TypeChange};

    #[test]
    fn schema_rows_come_in_one_order_with_their_class() {
        let s = SchemaDiff {
            added: vec![NamedType {
                name: "new".into(),
                data_type: "Int64".into(),
            }],
            removed: vec![NamedType {
                name: "old".into(),
                data_type: "Utf8".into(),
            }],
            changed: vec![TypeChange {
                name: "n".into(),
                v1_type: "Int32".into(),
                v2_type: "Utf8".into(),
                compatible: false,
                note: "changes kind".into(),
                comparable: false,
            }],
            nullability: vec![NullabilityChange {
                name: "m".into(),
                v1_nullable: false,
                v2_nullable: true,
                compatible: true,
            }],
            reordered: vec!["a".into(), "b".into()],
            ..SchemaDiff::default()
        };
        let rows = schema_rows(&s);
        let cells: Vec<(String, String, &str, &str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r.columns.join(", "),
                    r.label(&|n| n.to_uppercase()),
                    r.v1,
                    r.v2,
                    r.class(),
                )
            })
            .collect();
        assert_eq!(
            cells,
            [
                ("new".into(), "added".into(), "", "Int64", "compatible"),
                ("old".into(), "removed".into(), "Utf8", "", "breaking"),
                (
                    "n".into(),
                    "type: CHANGES KIND; values not compared".into(),
                    "Int32",
                    "Utf8",
                    "breaking"
                ),
                (
                    "m".into(),
                    "nullability".into(),
                    "non-null",
                    "nullable",
                    "compatible"
                ),
                ("a, b".into(), "reordered".into(), "", "", "compatible"),
            ]
        );
    }
}
