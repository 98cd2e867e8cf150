//! Terminal report: verdict and reasons first, then schema changes, the row
//! summary, columns with differences and sample changed cells as v1 → v2.
//! Every data value passes through [`inert`], so control characters, escape
//! sequences and bidi overrides from the data are shown, never obeyed.

use std::fmt::Write;

use serde_json::Value;

use crate::judge::percent;
use crate::report::{DiffReport, Mode, RowSample};

pub fn render(r: &DiffReport) -> String {
    let mut o = String::new();
    let c = &r.comparison;
    let key = if c.key.is_empty() {
        "no key (whole rows)".to_string()
    } else {
        format!(
            "key {}",
            c.key
                .iter()
                .map(|k| inert(k))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let _ = writeln!(
        o,
        "{}  diffgate {}: {} → {} ({key})",
        r.verdict.as_str().to_uppercase(),
        c.command,
        inert(&c.v1),
        inert(&c.v2)
    );
    if let Some(d) = &c.description {
        let _ = writeln!(o, "{}", inert(d));
    }
    if let Some(e) = r.expected_verdict {
        let mark = if e == r.verdict {
            "as expected"
        } else {
            "NOT as expected"
        };
        let _ = writeln!(o, "expected verdict: {e} ({mark})");
    }

    o.push_str("\nReasons\n");
    if r.reasons.is_empty() {
        o.push_str("  none: schema compatible and nothing differs beyond tolerance\n");
    }
    for reason in &r.reasons {
        let level = match reason.level {
            crate::report::Level::Block => "block ",
            crate::report::Level::Review => "review",
        };
        let _ = writeln!(o, "  {level}  {}: {}", reason.rule, inert(&reason.message));
    }

    o.push_str("\nSchema\n");
    let s = &r.schema;
    if s.is_empty() {
        o.push_str("  no changes\n");
    }
    for f in &s.added {
        let _ = writeln!(o, "  + {} ({}) added", inert(&f.name), f.data_type);
    }
    for f in &s.removed {
        let _ = writeln!(
            o,
            "  - {} ({}) removed: breaking",
            inert(&f.name),
            f.data_type
        );
    }
    for f in &s.changed {
        let class = if f.compatible {
            "compatible"
        } else {
            "breaking"
        };
        let cmp = if f.comparable {
            ""
        } else {
            "; values not compared"
        };
        let _ = writeln!(
            o,
            "  ~ {} {} → {}: {class}, {}{cmp}",
            inert(&f.name),
            f.v1_type,
            f.v2_type,
            f.note
        );
    }
    for f in &s.nullability {
        let n = |b: bool| if b { "nullable" } else { "non-null" };
        let _ = writeln!(
            o,
            "  ~ {} {} → {}",
            inert(&f.name),
            n(f.v1_nullable),
            n(f.v2_nullable)
        );
    }
    if !s.reordered.is_empty() {
        let names: Vec<String> = s.reordered.iter().map(|n| inert(n)).collect();
        let _ = writeln!(o, "  ↕ reordered: {}", names.join(", "));
    }

    o.push_str("\nRows\n");
    let rows = &r.rows;
    let _ = writeln!(o, "  {:<22}{:>12}{:>12}", "", "v1", "v2");
    let _ = writeln!(o, "  {:<22}{:>12}{:>12}", "rows", rows.v1, rows.v2);
    let pair = |a: Option<u64>, b: Option<u64>| (a.unwrap_or(0), b.unwrap_or(0));
    if c.mode == Mode::Keyed {
        let (a, b) = pair(rows.duplicate_keys_v1, rows.duplicate_keys_v2);
        let _ = writeln!(o, "  {:<22}{a:>12}{b:>12}", "duplicated keys");
        let (a, b) = pair(rows.null_keys_v1, rows.null_keys_v2);
        let _ = writeln!(o, "  {:<22}{a:>12}{b:>12}", "rows with NULL key");
        let _ = writeln!(
            o,
            "  matched {} · changed {} · unchanged {} · only in v1 {} · only in v2 {}",
            rows.matched.unwrap_or(0),
            rows.changed.unwrap_or(0),
            rows.unchanged.unwrap_or(0),
            rows.only_v1,
            rows.only_v2
        );
        if let Some(n) = rows.matched_duplicate_keys.filter(|n| *n > 0) {
            let _ = writeln!(
                o,
                "  {n} matched key(s) are duplicated, so their values were not compared"
            );
        }
    } else {
        let _ = writeln!(
            o,
            "  only in v1 {} · only in v2 {} (whole rows, counted with multiplicity)",
            rows.only_v1, rows.only_v2
        );
    }

    if c.mode == Mode::Keyed {
        let differing: Vec<_> = r.columns.iter().filter(|c| c.mismatches > 0).collect();
        let _ = writeln!(
            o,
            "\nColumns ({} of {} compared differ)",
            differing.len(),
            r.columns.len()
        );
        if !differing.is_empty() {
            let width = differing
                .iter()
                .map(|c| inert(&c.name).chars().count())
                .max()
                .unwrap_or(6)
                .max(6);
            let _ = writeln!(
                o,
                "  {:<width$}  {:>10}  {:>10}  {:>8}  {:>12}  {:>12}",
                "column", "compared", "mismatches", "rate", "max abs", "max rel"
            );
            for col in differing {
                let num = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.6}"));
                let _ = writeln!(
                    o,
                    "  {:<width$}  {:>10}  {:>10}  {:>8}  {:>12}  {:>12}",
                    inert(&col.name),
                    col.compared,
                    col.mismatches,
                    percent(col.mismatch_rate),
                    num(col.max_abs_diff),
                    num(col.max_rel_diff)
                );
            }
        }
    }

    let samples = &r.samples;
    if !samples.changed.is_empty() {
        let _ = writeln!(o, "\nChanged rows (first {} by key)", samples.changed.len());
        for row in &samples.changed {
            let _ = writeln!(o, "  {}", fields(&row.key, "="));
            for cell in &row.cells {
                let _ = writeln!(
                    o,
                    "      {}: {} → {}",
                    inert(&cell.column),
                    value(&cell.v1),
                    value(&cell.v2)
                );
            }
        }
    }
    for (title, list) in [
        ("Only in v1", &samples.only_v1),
        ("Only in v2", &samples.only_v2),
    ] {
        if !list.is_empty() {
            let _ = writeln!(o, "\n{title} (first {})", list.len());
            for s in list {
                let _ = writeln!(o, "  {}", sample_line(s));
            }
        }
    }
    o
}

fn sample_line(s: &RowSample) -> String {
    let mut line = String::new();
    if !s.key.is_empty() {
        line.push_str(&fields(&s.key, "="));
        line.push_str("  ");
    }
    line.push('{');
    line.push_str(&fields(&s.row, ": "));
    line.push('}');
    if let Some(n) = s.count.filter(|n| *n > 1) {
        let _ = write!(line, " ×{n}");
    }
    line
}

fn fields(map: &serde_json::Map<String, Value>, sep: &str) -> String {
    map.iter()
        .map(|(k, v)| format!("{}{sep}{}", inert(k), value(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value for display: strings quoted (so whitespace shows), NULL spelled.
pub fn value(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::String(s) => format!("\"{}\"", inert(s)),
        other => other.to_string(),
    }
}

/// Make text safe for a terminal: control characters (ESC included), and
/// bidi overrides are shown as `\u{..}` escapes instead of acting.
pub fn inert(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        let bidi = matches!(ch, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}');
        if ch.is_control() || bidi {
            let _ = write!(out, "\\u{{{:x}}}", ch as u32);
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(inert("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(inert("x\ny"), "x\\u{a}y");
        assert_eq!(inert("\u{202E}abc"), "\\u{202e}abc");
        assert_eq!(inert("plain é ✓"), "plain é ✓");
    }
}
