//! Prometheus text exposition (`--format prometheus`, `--metrics PATH`,
//! `--pushgateway URL`): the four monitoring pillars of a run and its own
//! cost as gauges, for node_exporter's textfile collector or a Pushgateway.
//!
//! * volume: each version's rows, the changed, only-v1 and only-v2 rows;
//! * schema: schema changes by kind, and whether one breaks;
//! * quality: mismatches per column, contract violations per check and
//!   version, each column's NULL share and drift score, the verdict and
//!   the reasons by rule;
//! * freshness: each version's latest value of a column a `freshness`
//!   contract watches, as a Unix time;
//! * cost: wall seconds per stage, peak memory, input records read.
//!
//! A comparison's series carry `model` (empty for a single transform or
//! two tables). Every label value is escaped as the format says
//! (backslash, double quote, line feed), so no value can forge a series.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::report::{ContractStatus, DiffReport, Verdict};

/// One metric family: its help, and its samples as (labels, value).
struct Family {
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// The families of a report, by name (written in name order).
#[derive(Default)]
struct Families(BTreeMap<&'static str, Family>);

impl Families {
    fn add(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: Vec<(&'static str, String)>,
        value: f64,
    ) {
        self.0
            .entry(name)
            .or_insert(Family {
                help,
                samples: Vec::new(),
            })
            .samples
            .push((labels, value));
    }
}

fn verdict_value(v: Verdict) -> f64 {
    match v {
        Verdict::Promote => 0.0,
        Verdict::Review => 1.0,
        Verdict::Block => 2.0,
    }
}

pub fn render(r: &DiffReport) -> String {
    let mut f = Families::default();
    f.add(
        "diffgate_verdict",
        "The verdict: 0 promote, 1 review, 2 block.",
        vec![],
        verdict_value(r.verdict),
    );
    let mut by_rule: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    for reason in &r.reasons {
        let level = match reason.level {
            crate::report::Level::Review => "review",
            crate::report::Level::Block => "block",
        };
        *by_rule
            .entry((reason.rule.name().to_string(), level))
            .or_default() += 1;
    }
    for ((rule, level), n) in by_rule {
        f.add(
            "diffgate_reasons",
            "Reasons the verdict gives, by rule and level.",
            vec![("rule", rule), ("level", level.to_string())],
            n as f64,
        );
    }
    for c in r.comparisons() {
        let model = || ("model", c.model.map_or(String::new(), |m| m.name.clone()));
        if let Some(m) = c.model {
            f.add(
                "diffgate_model_verdict",
                "A compared model's verdict: 0 promote, 1 review, 2 block.",
                vec![model()],
                verdict_value(m.verdict),
            );
        }
        let x = c.findings;
        let s = &x.schema;
        for (change, n) in [
            ("added", s.added.len()),
            ("removed", s.removed.len()),
            ("retyped", s.changed.len()),
            ("nullability", s.nullability.len()),
            ("reordered", s.reordered.len()),
            ("renamed", s.renamed.len()),
        ] {
            f.add(
                "diffgate_schema_changes",
                "Schema changes from v1 to v2, by kind.",
                vec![model(), ("change", change.to_string())],
                n as f64,
            );
        }
        f.add(
            "diffgate_schema_breaking",
            "1 when the schema change breaks readers of v1's output.",
            vec![model()],
            f64::from(u8::from(s.breaking)),
        );
        if c.plan_only || !c.failures.is_empty() {
            continue;
        }
        let rows = &x.rows;
        for (version, n) in [("v1", rows.v1), ("v2", rows.v2)] {
            f.add(
                "diffgate_rows",
                "Rows of each version's output.",
                vec![model(), ("version", version.to_string())],
                n as f64,
            );
        }
        for (version, n) in [("v1", rows.only_v1), ("v2", rows.only_v2)] {
            f.add(
                "diffgate_rows_only",
                "Rows (keys, or whole rows without a key) found in one version only.",
                vec![model(), ("version", version.to_string())],
                n as f64,
            );
        }
        if let Some(n) = rows.changed {
            f.add(
                "diffgate_rows_changed",
                "Matched rows whose values differ beyond tolerance.",
                vec![model()],
                n as f64,
            );
            f.add(
                "diffgate_rows_changed_unexpected",
                "Changed rows no declared change explains.",
                vec![model()],
                rows.changed_unexpected() as f64,
            );
        }
        for col in &x.columns {
            f.add(
                "diffgate_column_mismatches",
                "Compared values of a column that differ beyond tolerance.",
                vec![model(), ("column", col.name.clone())],
                col.mismatches as f64,
            );
        }
        for col in x.profile.iter().flat_map(|p| &p.columns) {
            for (version, side) in [("v1", &col.v1), ("v2", &col.v2)] {
                if let Some(side) = side {
                    f.add(
                        "diffgate_column_null_ratio",
                        "Share of a column's rows that are NULL, per version.",
                        vec![
                            model(),
                            ("column", col.name.clone()),
                            ("version", version.to_string()),
                        ],
                        side.null_rate,
                    );
                }
            }
            let scores = col.drift.iter().flat_map(|d| {
                [("psi", d.psi), ("js_distance", d.js_distance)]
                    .into_iter()
                    .filter_map(|(m, x)| Some((m, x?)))
            });
            for (metric, score) in scores {
                f.add(
                    "diffgate_column_drift",
                    "How far v2's distribution of a column is from v1's (PSI or Jensen-Shannon distance).",
                    vec![
                        model(),
                        ("column", col.name.clone()),
                        ("metric", metric.to_string()),
                    ],
                    score,
                );
            }
        }
        for k in &x.contracts {
            let check = || {
                vec![
                    model(),
                    ("check", k.check.clone()),
                    ("columns", k.columns.join(",")),
                ]
            };
            for (version, n) in [("v1", k.v1), ("v2", k.v2)] {
                if let Some(n) = n {
                    let mut labels = check();
                    labels.push(("version", version.to_string()));
                    f.add(
                        "diffgate_contract_violations",
                        "Rows breaking a contract check (0 or 1 for row_count and freshness).",
                        labels,
                        n as f64,
                    );
                }
            }
            let broken = matches!(k.status, ContractStatus::Broken | ContractStatus::Missing);
            f.add(
                "diffgate_contract_broken",
                "1 when v2 breaks a contract check v1 kept (or breaks it more).",
                check(),
                f64::from(u8::from(broken)),
            );
            if k.check == "freshness" {
                for (version, latest) in [("v1", &k.v1_latest), ("v2", &k.v2_latest)] {
                    let Some(t) = latest.as_deref().and_then(unix_seconds) else {
                        continue;
                    };
                    f.add(
                        "diffgate_latest_timestamp_seconds",
                        "The latest value of a column a freshness contract watches, as a Unix time.",
                        vec![
                            model(),
                            ("column", k.columns.join(",")),
                            ("version", version.to_string()),
                        ],
                        t,
                    );
                }
            }
        }
    }
    for i in &r.inputs {
        for (state, n) in [
            ("read", i.rows_read),
            ("loaded", i.rows_loaded),
            ("dead_lettered", Some(i.rows_dead_lettered)),
        ] {
            if let Some(n) = n {
                f.add(
                    "diffgate_input_records",
                    "Records of each input: read, loaded, and sent to the dead-letter file.",
                    vec![("input", i.name.clone()), ("state", state.to_string())],
                    n as f64,
                );
            }
        }
    }
    let t = &r.timings;
    for (stage, ms) in [
        ("load", t.load_ms),
        ("run_v1", t.run_v1_ms),
        ("run_v2", t.run_v2_ms),
        ("determinism", t.determinism_ms),
        ("compare", t.compare_ms),
        ("total", t.total_ms),
    ] {
        f.add(
            "diffgate_stage_seconds",
            "Wall time of each stage of the run.",
            vec![("stage", stage.to_string())],
            ms as f64 / 1000.0,
        );
    }
    if t.peak_memory_bytes > 0 {
        f.add(
            "diffgate_peak_memory_bytes",
            "Peak resident memory of the run.",
            vec![],
            t.peak_memory_bytes as f64,
        );
    }
    let mut out = String::new();
    for (name, family) in &f.0 {
        let _ = writeln!(out, "# HELP {name} {}", family.help);
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in &family.samples {
            out.push_str(name);
            if !labels.is_empty() {
                let parts: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                let _ = write!(out, "{{{}}}", parts.join(","));
            }
            let _ = writeln!(out, " {value}");
        }
    }
    out
}

/// A label value as the exposition format writes it.
pub fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// `2026-03-31 00:00:00` (UTC) as Unix seconds.
fn unix_seconds(t: &str) -> Option<f64> {
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|d| d.and_utc().timestamp_micros() as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_cannot_forge_a_series() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(unix_seconds("2026-03-31 00:00:00"), Some(1_774_915_200.0));
    }
}
