//! Terminal report: verdict and reasons first, then schema changes, the row
//! summary, columns with differences (all columns with `--verbose`) and
//! sample changed cells as v1 → v2. Colour only when asked for (the binary
//! decides from `--color`, NO_COLOR, CLICOLOR_FORCE and whether stdout is a
//! terminal). Every data value passes through [`text`], so control
//! characters, escape sequences and bidi overrides from the data are shown,
//! never obeyed.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use super::Options;
use super::sections::{self, Change};
use super::text::{self, fields, inert, value};
use crate::report::percent;
use crate::report::{
    ComparisonView, ContractStatus, DiffReport, ExpectStatus, Level, Mode, RowSample, Verdict,
};

struct Paint(bool);

impl Paint {
    fn paint(&self, style: Style, s: &str) -> String {
        if self.0 {
            format!("{style}{s}{style:#}")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint(Style::new().bold(), s)
    }
    fn fg(&self, color: AnsiColor, s: &str) -> String {
        self.paint(Style::new().fg_color(Some(color.into())), s)
    }
    fn verdict(&self, v: Verdict) -> String {
        let color = match v {
            Verdict::Promote => AnsiColor::Green,
            Verdict::Review => AnsiColor::Yellow,
            Verdict::Block => AnsiColor::Red,
        };
        self.paint(
            Style::new().bold().fg_color(Some(color.into())),
            &v.as_str().to_uppercase(),
        )
    }
}

pub fn render(r: &DiffReport, opts: Options) -> String {
    let p = Paint(opts.color);
    let mut o = String::new();
    head(&mut o, r, &p);
    if !r.models.is_empty() {
        models(&mut o, r, &p);
    }
    for c in r.comparisons() {
        if let Some(m) = c.model {
            let _ = writeln!(
                o,
                "\n{} {}  {}",
                p.bold("━━ model"),
                p.bold(&inert(&m.name)),
                p.verdict(m.verdict)
            );
            for reason in &m.reasons {
                let _ = writeln!(o, "  {}: {}", reason.rule, inert(&reason.message));
            }
        }
        body(&mut o, &c, &p, opts);
    }
    o
}

/// The list of compared models of a model-folder run.
fn models(o: &mut String, r: &DiffReport, p: &Paint) {
    let _ = writeln!(
        o,
        "\n{}",
        p.bold(&format!("Models ({} compared)", r.models.len()))
    );
    for m in sections::model_rows(r) {
        let _ = writeln!(
            o,
            "  {}  {} ({})",
            p.verdict(m.verdict),
            inert(m.name),
            m.why.as_str()
        );
    }
    for (what, list) in sections::model_changes(r) {
        let names: Vec<String> = list.iter().map(|n| inert(n)).collect();
        let _ = writeln!(o, "  {}: {}", what.to_lowercase(), names.join(", "));
    }
}

/// Verdict, reasons and what the run as a whole found.
fn head(o: &mut String, r: &DiffReport, p: &Paint) {
    let c = &r.comparison;
    let key = sections::key_phrase(&c.key, &|k| inert(k));
    let _ = writeln!(
        o,
        "{}  diffgate {}: {} → {} ({key})",
        p.verdict(r.verdict),
        c.command.as_str(),
        inert(&c.v1),
        inert(&c.v2)
    );
    if let Some(d) = &c.description {
        let _ = writeln!(o, "{}", inert(d));
    }
    if let Some((e, met)) = sections::expected(r) {
        let mark = if met {
            "as expected"
        } else {
            "NOT as expected"
        };
        let _ = writeln!(o, "expected verdict: {e} ({mark})");
    }

    let _ = writeln!(o, "\n{}", p.bold("Reasons"));
    if r.reasons.is_empty() {
        let _ = writeln!(o, "  none: {}", text::no_reasons(r));
    }
    for reason in &r.reasons {
        let level = match reason.level {
            Level::Block => p.fg(AnsiColor::Red, "block "),
            Level::Review => p.fg(AnsiColor::Yellow, "review"),
        };
        let _ = writeln!(o, "  {level}  {}: {}", reason.rule, inert(&reason.message));
    }

    if let Some(sentence) = text::determinism_sentence(r) {
        let _ = writeln!(o, "\n{}", p.bold("Determinism"));
        let _ = writeln!(o, "  {sentence}");
    }

    if let Some(sentence) = text::subset_sentence(r, &|s| inert(s)) {
        let _ = writeln!(o, "\n{}", p.bold("Subset"));
        let _ = writeln!(o, "  {sentence}");
        for (name, before, after, how) in text::subset_inputs(r) {
            let _ = writeln!(
                o,
                "  {}: {after} of {before} rows ({})",
                inert(name),
                inert(&how)
            );
        }
    }

    let bad = text::dead_lettered(r);
    if !bad.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Bad input records"));
        let _ = writeln!(o, "  {}", text::dead_letter_sentence(r, &|s| inert(s)));
        for (name, read, dead, rate) in bad {
            let _ = writeln!(o, "  {}: {dead} of {read} ({rate})", inert(name));
        }
    }
}

/// Notes, schema, rows, columns and samples of one comparison.
fn body(o: &mut String, c: &ComparisonView, p: &Paint, opts: Options) {
    for note in &c.findings.notes {
        let _ = writeln!(o, "\n{} {}", p.bold("Note:"), inert(note));
    }
    if let Some(m) = text::masked_sentence(&c.findings.masked, &|n| text::name(n)) {
        let _ = writeln!(o, "\n{} {m}", p.bold("Note:"));
    }
    if let Some(m) = text::diff_out_sentence(c.findings.diff_out.as_ref(), &|n| text::name(n)) {
        let _ = writeln!(o, "\n{} {m}", p.bold("Note:"));
    }
    if !c.failures.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Not compared"));
        let _ = writeln!(o, "  {}:", text::NOT_COMPARED);
        for f in c.failures {
            let _ = writeln!(o, "  {}", p.fg(AnsiColor::Red, &inert(&f.sentence())));
        }
        return;
    }
    declared(o, c, p);
    contracts(o, c, p);
    schema(o, c, p);
    if c.plan_only {
        let _ = writeln!(o, "\n{}", p.bold("Rows"));
        let _ = writeln!(o, "  {}", text::PLAN_ONLY);
        return;
    }
    rows(o, c, p);
    columns(o, c, p, opts);
    profile(o, c, p, opts);
    samples(o, c, p);
}

/// Profile lines of the columns whose profile differs (every column with
/// `--verbose`).
fn profile(o: &mut String, c: &ComparisonView, p: &Paint, opts: Options) {
    let rows = sections::profile_rows(c);
    if rows.is_empty() {
        return;
    }
    let differing = rows.iter().filter(|r| r.differs).count();
    let title = format!("Profile ({differing} of {} columns differ)", rows.len());
    let _ = writeln!(o, "\n{}", p.bold(&title));
    for r in rows.iter().filter(|r| opts.verbose || r.differs) {
        let mut cells = vec![
            format!("NULLs {}", r.nulls),
            format!("distinct {}", r.distinct),
        ];
        if !r.center.is_empty() {
            cells.push(format!("mean {}", r.center));
        }
        if !r.typical.is_empty() {
            cells.push(format!("median/top {}", r.typical));
        }
        let _ = writeln!(
            o,
            "  {} ({}): {}\n      {}",
            text::name(r.column),
            r.kind,
            inert(&r.drift),
            inert(&cells.join(" · "))
        );
    }
}

/// The contract's checks on both versions.
fn contracts(o: &mut String, c: &ComparisonView, p: &Paint) {
    let rows = sections::contract_rows(c);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{}", p.bold("Contract"));
    for row in rows {
        let status = match row.status {
            ContractStatus::Holds | ContractStatus::Fixed => {
                p.fg(AnsiColor::Green, row.status.as_str())
            }
            ContractStatus::PreExisting => p.fg(AnsiColor::Yellow, row.status.as_str()),
            _ => p.fg(AnsiColor::Red, row.status.as_str()),
        };
        let _ = writeln!(
            o,
            "  {status}  {}: {}\n      v1 {} · v2 {}",
            inert(&row.check),
            inert(row.rule),
            inert(&row.v1),
            inert(&row.v2)
        );
    }
}

/// The declared changes and what each explains.
fn declared(o: &mut String, c: &ComparisonView, p: &Paint) {
    let rows = sections::expectation_rows(c);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{}", p.bold("Declared changes"));
    for row in rows {
        let status = match row.status {
            ExpectStatus::Met => p.fg(AnsiColor::Green, row.status.as_str()),
            _ => p.fg(AnsiColor::Yellow, row.status.as_str()),
        };
        let _ = writeln!(
            o,
            "  {status}  {}: explains {}\n      because {}",
            inert(&row.declared),
            row.explains,
            inert(row.reason)
        );
    }
}

fn schema(o: &mut String, c: &ComparisonView, p: &Paint) {
    let _ = writeln!(o, "\n{}", p.bold("Schema"));
    let s = &c.findings.schema;
    if s.is_empty() {
        o.push_str("  no changes\n");
    }
    for row in sections::schema_rows(s) {
        let names: Vec<String> = row.columns.iter().map(|n| text::name(n)).collect();
        let names = names.join(", ");
        let (v1, v2) = (inert(row.v1), inert(row.v2));
        match row.change {
            Change::Added => {
                let line = format!("+ {names} ({v2}) added");
                let _ = writeln!(o, "  {}", p.fg(AnsiColor::Green, &line));
            }
            Change::Removed => {
                let line = format!("- {names} ({v1}) removed: breaking");
                let _ = writeln!(o, "  {}", p.fg(AnsiColor::Red, &line));
            }
            Change::Type { note, comparable } => {
                let cmp = if comparable {
                    ""
                } else {
                    "; values not compared"
                };
                let class = row.class();
                let note = inert(note);
                let _ = writeln!(o, "  ~ {names} {v1} → {v2}: {class}, {note}{cmp}");
            }
            Change::Nullability => {
                let _ = writeln!(o, "  ~ {names} {v1} → {v2}");
            }
            Change::Reordered => {
                let _ = writeln!(o, "  ↕ reordered: {names}");
            }
            Change::Renamed { from } => {
                let _ = writeln!(o, "  ~ {} → {names}: renamed (declared)", text::name(from));
            }
        }
    }
}

fn rows(o: &mut String, c: &ComparisonView, p: &Paint) {
    let _ = writeln!(o, "\n{}", p.bold("Rows"));
    let _ = writeln!(o, "  {:<22}{:>12}{:>12}", "", "v1", "v2");
    for (label, a, b) in text::row_pairs(c) {
        let _ = writeln!(o, "  {label:<22}{a:>12}{b:>12}");
    }
    for line in text::row_summary(c, &|n| n.to_string()) {
        let _ = writeln!(o, "  {line}");
    }
}

/// The columns that differ (every compared column with `--verbose`).
fn columns(o: &mut String, c: &ComparisonView, p: &Paint, opts: Options) {
    if c.mode == Mode::Keyed {
        let all = &c.findings.columns;
        let differing = all.iter().filter(|c| c.mismatches > 0).count();
        let shown: Vec<_> = all
            .iter()
            .filter(|c| opts.verbose || c.mismatches > 0)
            .collect();
        let title = format!("Columns ({differing} of {} compared differ)", all.len());
        let _ = writeln!(o, "\n{}", p.bold(&title));
        let differing = shown;
        if !differing.is_empty() {
            let width = differing
                .iter()
                .map(|c| text::name(&c.name).chars().count())
                .max()
                .unwrap_or(6)
                .max(6);
            let mw = differing
                .iter()
                .map(|c| text::mismatches_cell(c).chars().count())
                .max()
                .unwrap_or(10)
                .max(10);
            let _ = writeln!(
                o,
                "  {:<width$}  {:>10}  {:>mw$}  {:>8}  {:>12}  {:>12}  change",
                "column", "compared", "mismatches", "rate", "max abs", "max rel"
            );
            for col in differing {
                let num = |x: Option<f64>| {
                    text::max_diff(x, col.non_finite_diffs).unwrap_or_else(|| "-".to_string())
                };
                let line = format!(
                    "  {:<width$}  {:>10}  {:>mw$}  {:>8}  {:>12}  {:>12}  {}",
                    text::name(&col.name),
                    col.compared,
                    text::mismatches_cell(col),
                    percent(col.mismatch_rate),
                    num(col.max_abs_diff),
                    num(col.max_rel_diff),
                    inert(&text::patterns_phrase(col))
                );
                let _ = writeln!(o, "{}", line.trim_end());
            }
        }
    }
}

fn samples(o: &mut String, c: &ComparisonView, p: &Paint) {
    let samples = &c.findings.samples;
    if !samples.changed.is_empty() {
        let title = format!(
            "Changed rows (first {}{})",
            samples.changed.len(),
            sections::changed_order(c)
        );
        let _ = writeln!(o, "\n{}", p.bold(&title));
        for row in &samples.changed {
            let _ = writeln!(o, "  {}", fields(&row.key, "="));
            for cell in &row.cells {
                let _ = writeln!(
                    o,
                    "      {}: {} → {}{}",
                    text::name(&cell.column),
                    p.fg(AnsiColor::Red, &value(&cell.v1)),
                    p.fg(AnsiColor::Green, &value(&cell.v2)),
                    if cell.expected { "  (declared)" } else { "" }
                );
            }
        }
    }
    for (title, list) in [
        ("Only in v1", &samples.only_v1),
        ("Only in v2", &samples.only_v2),
    ] {
        if !list.is_empty() {
            let title = format!("{title} (first {})", list.len());
            let _ = writeln!(o, "\n{}", p.bold(&title));
            for s in list {
                let _ = writeln!(o, "  {}", sample_line(s));
            }
        }
    }
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
