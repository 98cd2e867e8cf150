//! Text rules shared by every renderer: how a data value becomes a short,
//! inert string before a format adds its own escaping on top.
//!
//! Data (values, column names, file names in configs, SQL) is untrusted.
//! [`inert`] makes control characters, escape sequences and bidi overrides
//! visible as `\u{..}` instead of letting them act, and [`clip`] bounds very
//! long values so one cell cannot swamp a report.

use std::fmt::Write;

use serde_json::Value;

use crate::report::{ChangePattern, ColumnStats, ComparisonView, DiffReport, Mode, PatternKind};

/// Longest value, in characters, shown in a report cell.
pub const MAX_VALUE_CHARS: usize = 200;

/// Make text safe to show: control characters (ESC, CR, LF included), and
/// bidi controls are shown as `\u{..}` escapes instead of acting.
pub fn inert(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if is_hazard(ch) {
            let _ = write!(out, "\\u{{{:x}}}", ch as u32);
        } else {
            out.push(ch);
        }
    }
    out
}

/// Characters that change how the text around them is shown or read.
pub(crate) fn is_hazard(ch: char) -> bool {
    ch.is_control()
        || matches!(ch,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}'
            | '\u{061C}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// At most `max` characters of `s`, saying how many were left out.
pub fn clip(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}… (+{} chars)", count - max)
}

/// A data value for display: strings quoted (so whitespace shows) and
/// clipped, NULL spelled out, numbers and booleans as JSON writes them.
pub fn value(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::String(s) => format!("\"{}\"", inert(&clip(s, MAX_VALUE_CHARS))),
        other => inert(&clip(&other.to_string(), MAX_VALUE_CHARS)),
    }
}

/// A name (column, file, rule) for display: inert and clipped.
pub fn name(s: &str) -> String {
    inert(&clip(s, MAX_VALUE_CHARS))
}

/// `key=value, ...` for a sample's key or row.
pub fn fields(map: &serde_json::Map<String, Value>, sep: &str) -> String {
    map.iter()
        .map(|(k, v)| format!("{}{sep}{}", name(k), value(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column's largest difference for display: `∞` when some compared pair
/// differed by an infinite or undefined amount, else six decimals; `None`
/// for a column that is not numeric.
pub fn max_diff(x: Option<f64>, non_finite: u64) -> Option<String> {
    let x = x?;
    Some(if non_finite > 0 {
        "∞".to_string()
    } else {
        format!("{x:.6}")
    })
}

/// Signed difference v2 − v1 of two counts, e.g. `+3`, `−2`, `0`.
pub fn delta(v1: u64, v2: u64) -> String {
    match v2.cmp(&v1) {
        std::cmp::Ordering::Equal => "0".into(),
        std::cmp::Ordering::Greater => format!("+{}", v2 - v1),
        std::cmp::Ordering::Less => format!("−{}", v1 - v2),
    }
}

/// The rows of the v1 | v2 table: label, v1 count, v2 count.
pub fn row_pairs(c: &ComparisonView) -> Vec<(&'static str, u64, u64)> {
    let rows = &c.findings.rows;
    let mut pairs = vec![("rows", rows.v1, rows.v2)];
    if c.mode == Mode::Keyed {
        let z = |x: Option<u64>| x.unwrap_or(0);
        pairs.push((
            "duplicated keys",
            z(rows.duplicate_keys_v1),
            z(rows.duplicate_keys_v2),
        ));
        pairs.push((
            "rows with NULL key",
            z(rows.null_keys_v1),
            z(rows.null_keys_v2),
        ));
    }
    pairs
}

/// The sentences under the row table (no final full stop); `em` marks the
/// figures a reader should see first (changed, only in v1, only in v2).
pub fn row_summary(c: &ComparisonView, em: &dyn Fn(u64) -> String) -> Vec<String> {
    let rows = &c.findings.rows;
    let z = |x: Option<u64>| x.unwrap_or(0);
    let keyed = c.mode == Mode::Keyed;
    let mut lines = if keyed {
        vec![format!(
            "matched {} · changed {} · unchanged {} · only in v1 {} · only in v2 {}",
            z(rows.matched),
            em(z(rows.changed)),
            z(rows.unchanged),
            em(rows.only_v1),
            em(rows.only_v2)
        )]
    } else {
        vec![format!(
            "only in v1 {} · only in v2 {} (whole rows, counted with multiplicity)",
            em(rows.only_v1),
            em(rows.only_v2)
        )]
    };
    if rows.declared() {
        let changed = |n: u64| {
            if keyed {
                format!("{n} changed · ")
            } else {
                String::new()
            }
        };
        lines.push(format!(
            "declared changes explain {}{} only in v1 · {} only in v2; unexplained: {}{} only in v1 · {} only in v2",
            changed(z(rows.changed_expected)),
            z(rows.only_v1_expected),
            z(rows.only_v2_expected),
            if keyed { format!("{} changed · ", em(rows.changed_unexpected())) } else { String::new() },
            em(rows.only_v1_unexpected()),
            em(rows.only_v2_unexpected())
        ));
    }
    if let Some(n) = rows.matched_duplicate_keys.filter(|n| *n > 0) {
        lines.push(format!(
            "{n} matched key(s) are duplicated, so their values were not compared"
        ));
    }
    lines
}

/// Inputs with records that could not be loaded, as (name, read, dead-lettered,
/// rate) — empty when every record loaded.
pub fn dead_lettered(r: &DiffReport) -> Vec<(&str, u64, u64, String)> {
    r.inputs
        .iter()
        .filter(|i| i.rows_dead_lettered > 0)
        .map(|i| {
            (
                i.name.as_str(),
                i.rows_read.unwrap_or(0),
                i.rows_dead_lettered,
                crate::report::percent(i.dead_lettered_fraction()),
            )
        })
        .collect()
}

/// The sentence above the bad-records table.
pub fn dead_letter_sentence(r: &DiffReport, code: &dyn Fn(&str) -> String) -> String {
    let total: u64 = r.inputs.iter().map(|i| i.rows_dead_lettered).sum();
    match &r.dead_letter {
        Some(path) => format!(
            "{total} input record(s) could not be loaded; they are in {}, with file, line and error",
            code(path)
        ),
        None => format!("{total} input record(s) could not be loaded"),
    }
}

/// A number as a pattern states it: whole numbers without a fraction.
fn plain_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// One kind of change in words: `×100`, `+0.5`, `rounded to 2 decimals`.
pub fn pattern_words(p: &ChangePattern) -> String {
    use PatternKind::*;
    let by = p.by.unwrap_or(0.0);
    let decimals = |what: &str| match by as i64 {
        0 => format!("{what} to whole numbers"),
        1 => format!("{what} to 1 decimal"),
        k => format!("{what} to {k} decimals"),
    };
    let signed = |x: f64| {
        let sign = if x < 0.0 { "-" } else { "+" };
        format!("{sign}{}", plain_number(x.abs()))
    };
    match p.kind {
        ValueToNull => "value → NULL".into(),
        NullToValue => "NULL → value".into(),
        EmptyToNull => "'' → NULL".into(),
        NullToEmpty => "NULL → ''".into(),
        CaseOnly => "case only".into(),
        WhitespaceOnly => "whitespace only".into(),
        PrefixAdded => "prefix added".into(),
        SuffixAdded => "suffix added".into(),
        PrefixRemoved => "prefix removed".into(),
        SuffixRemoved => "suffix removed".into(),
        SignFlip => "sign flipped".into(),
        Scale | Ratio => format!("×{}", plain_number(by)),
        Offset => signed(by),
        Rounding => decimals("rounded"),
        Truncation => decimals("truncated"),
        Float32Precision => "float32 precision".into(),
        HourShift => format!("shifted {} h", signed(by)),
        Other => "other".into(),
    }
}

/// A column's mismatches, with how many a declared change explains:
/// `172 (99 declared)`.
pub fn mismatches_cell(c: &ColumnStats) -> String {
    if c.expected > 0 {
        format!("{} ({} declared)", c.mismatches, c.expected)
    } else {
        c.mismatches.to_string()
    }
}

/// How a column changed, most cells first: `all ×100`, `85 +0.5, 2 other`;
/// empty when nothing was classified.
pub fn patterns_phrase(c: &ColumnStats) -> String {
    c.patterns
        .iter()
        .map(|p| {
            let n = if p.count == c.mismatches && c.patterns.len() == 1 {
                "all".to_string()
            } else {
                p.count.to_string()
            };
            format!("{n} {}", pattern_words(p))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The note naming the file `--diff-out` wrote, its name through `code`.
pub fn diff_out_sentence(
    d: Option<&crate::report::DiffOut>,
    code: &dyn Fn(&str) -> String,
) -> Option<String> {
    let d = d?;
    Some(format!(
        "every difference is in {}: {} row(s) ({} changed, {} only in v1, {} only in v2), sorted by key",
        code(&d.path),
        d.rows,
        d.changed,
        d.only_v1,
        d.only_v2
    ))
}

/// The note saying which columns' values are masked, each name through
/// `code` (each format's escaping), or nothing when none are.
pub fn masked_sentence(masked: &[String], code: &dyn Fn(&str) -> String) -> Option<String> {
    if masked.is_empty() {
        return None;
    }
    let names: Vec<String> = masked.iter().map(|c| code(c)).collect();
    Some(format!(
        "the values of {} are masked in this report (compared in full, never shown)",
        names.join(", ")
    ))
}

/// Why a report has no reasons, as a sentence without its full stop.
pub fn no_reasons(r: &DiffReport) -> &'static str {
    let declared = r.comparisons().iter().any(|c| {
        let rows = &c.findings.rows;
        rows.changed_expected.unwrap_or(0) > 0
            || rows.only_v1_expected.unwrap_or(0) > 0
            || rows.only_v2_expected.unwrap_or(0) > 0
    });
    if r.plan_only() {
        "the output schema is compatible"
    } else if declared {
        "the schema is compatible and nothing differs beyond tolerance but the declared changes"
    } else {
        "the schema is compatible and nothing differs beyond tolerance"
    }
}

/// Heads the failures shown instead of the findings of a model that
/// could not be compared.
pub const NOT_COMPARED: &str =
    "not compared: a version of this model could not be run, so there is nothing to compare";

/// Shown instead of rows, columns and samples in a `check` report.
pub const PLAN_ONLY: &str =
    "not compared: `check` plans v1 and v2 from the input schemas without reading data";

/// The sentence saying what the determinism check (`--runs`) found.
pub fn determinism_sentence(r: &DiffReport) -> Option<String> {
    let d = r.determinism.as_ref()?;
    let differed = |x: &crate::report::Drift| {
        format!(
            "differed in {} of {} re-run(s), up to {} row(s)",
            x.runs_differing,
            d.runs.saturating_sub(1),
            x.rows
        )
    };
    let mut parts = Vec::new();
    if r.models.is_empty() {
        for v in ["v1", "v2"] {
            match d.nondeterministic.iter().find(|x| x.version == v) {
                None => parts.push(format!("{v} gave the same output every time")),
                Some(x) => parts.push(format!("{v} {}", differed(x))),
            }
        }
    } else if d.nondeterministic.is_empty() {
        parts.push("every compared model gave the same output every time".to_string());
    } else {
        for x in &d.nondeterministic {
            let model = x.model.as_deref().unwrap_or_default();
            parts.push(format!(
                "{} of model `{}` {}",
                x.version,
                name(model),
                differed(x)
            ));
        }
    }
    Some(format!(
        "Each version ran {} times on the same inputs (re-runs read them in another row order): {}",
        d.runs,
        parts.join("; ")
    ))
}

/// The sentence naming the canary subset, when the run saw one: which
/// environment, sample and date. Values pass through `code` (escaping).
pub fn subset_sentence(r: &DiffReport, code: &dyn Fn(&str) -> String) -> Option<String> {
    let s = r.subset.as_ref()?;
    let mut parts = Vec::new();
    if let Some(env) = &s.env {
        parts.push(format!("environment {}", code(env)));
    }
    if let Some(f) = s.fraction {
        parts.push(format!(
            "key-hash sample of {} (seed {})",
            crate::report::percent(f),
            s.seed.unwrap_or(0)
        ));
    }
    if let Some(d) = &s.as_of {
        parts.push(format!("as of {}", code(d)));
    }
    if parts.is_empty() {
        parts.push("filtered inputs".into());
    }
    Some(format!("The inputs are a subset: {}", parts.join(", ")))
}

/// Filtered inputs as (name, rows before, rows after, what kept them):
/// `where` predicates and the sample column, for the subset table.
pub fn subset_inputs(r: &DiffReport) -> Vec<(&str, u64, u64, String)> {
    r.inputs
        .iter()
        .filter_map(|i| {
            let s = i.subset.as_ref()?;
            let mut how: Vec<String> = s.where_.iter().map(|w| format!("where {w}")).collect();
            if let Some(c) = &s.sample_column {
                how.push(format!("sampled on {c}"));
            }
            Some((i.name.as_str(), s.rows_before, s.rows_after, how.join("; ")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(inert("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(inert("x\ny\r"), "x\\u{a}y\\u{d}");
        assert_eq!(inert("\u{202E}abc\u{2028}"), "\\u{202e}abc\\u{2028}");
        assert_eq!(inert("plain é ✓ 日本"), "plain é ✓ 日本");
    }

    #[test]
    fn long_values_are_clipped_with_the_count() {
        assert_eq!(clip("abcdef", 6), "abcdef");
        assert_eq!(clip("abcdefgh", 3), "abc… (+5 chars)");
        let long = Value::String("é".repeat(1000));
        let shown = value(&long);
        assert!(shown.chars().count() < MAX_VALUE_CHARS + 30, "{shown}");
        assert!(shown.ends_with("(+800 chars)\""), "{shown}");
    }

    #[test]
    fn deltas_are_signed() {
        assert_eq!(delta(5, 5), "0");
        assert_eq!(delta(5, 8), "+3");
        assert_eq!(delta(5, 2), "−3");
    }
}
