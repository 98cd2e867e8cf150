//! Markdown report for pull-request comments and GitHub step summaries:
//! the verdict line, reasons, a v1 | v2 | Δ table of rows, schema changes,
//! the columns with the highest mismatch rates, samples inside `<details>`,
//! a unified diff of the v1 and v2 SQL, and a command to reproduce locally.
//!
//! Two hard rules. **Size**: the output never exceeds [`LIMIT`] characters
//! (GitHub refuses comments above 65,536); sections are added in order of
//! importance and whatever does not fit is left out and named in a closing
//! note. **Escaping**: every data value goes through [`escape`], so no value
//! can break a table, mention a user or team, reference an issue, inject
//! HTML or start Markdown syntax; SQL and commands sit in code fences longer
//! than any backtick run they contain, so they cannot close their block.

use std::fmt::Write;

use similar::TextDiff;

use super::text::{self, MAX_VALUE_CHARS};
use crate::judge::percent;
use crate::report::{DiffReport, Level, Mode, RowSample, Verdict};

/// Hard cap on the rendered Markdown, in characters.
pub const LIMIT: usize = 60_000;

/// Room kept for the closing note about what was cut.
const RESERVE: usize = 1_500;

/// Most columns listed in the mismatch table.
const TOP_COLUMNS: usize = 10;

/// Longest reason message shown (schema messages list column names).
const MAX_MESSAGE_CHARS: usize = 1_000;

pub fn render(r: &DiffReport) -> String {
    let mut md = Doc::default();
    header(&mut md, r);
    reasons(&mut md, r);
    determinism(&mut md, r);
    subset(&mut md, r);
    bad_records(&mut md, r);
    if r.models.is_empty() {
        body(&mut md, r);
    } else {
        models(&mut md, r);
    }
    reproduce(&mut md, r);
    md.finish()
}

/// Schema, rows, columns, samples and SQL diff of one comparison.
fn body(md: &mut Doc, r: &DiffReport) {
    if r.plan_only() {
        md.must(&format!("### Rows\n\n{}.\n\n", text::PLAN_ONLY));
        schema(md, r);
    } else {
        rows(md, r);
        schema(md, r);
        columns(md, r);
        samples(md, r);
    }
    sql_diff(md, r);
}

/// A model-folder run: the list of compared models, then each one.
fn models(md: &mut Doc, r: &DiffReport) {
    let mut t =
        String::from("### Models\n\n| model | verdict | compared because |\n|---|---|---|\n");
    for m in &r.models {
        let _ = writeln!(
            t,
            "| {} | {} | {} |",
            name(&m.name),
            m.verdict,
            escape(&m.why)
        );
    }
    for (what, list) in [("Added", &r.models_added), ("Removed", &r.models_removed)] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|n| name(n)).collect();
            let _ = write!(t, "\n{what} models: {}\n", names.join(", "));
        }
    }
    t.push('\n');
    md.must(&t);
    for m in &r.models {
        md.must(&format!(
            "---\n\n## Model {}: **{}**\n\n",
            name(&m.name),
            m.verdict.as_str().to_uppercase()
        ));
        body(md, &r.model_view(m));
    }
}

/// The document under construction, with its character budget.
#[derive(Default)]
struct Doc {
    out: String,
    chars: usize,
    /// What was left out to stay under the limit.
    cut: Vec<String>,
}

impl Doc {
    fn room(&self) -> usize {
        (LIMIT - RESERVE).saturating_sub(self.chars)
    }

    /// Append `s` if it fits; report whether it did.
    fn push(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if n > self.room() {
            return false;
        }
        self.out.push_str(s);
        self.chars += n;
        true
    }

    /// Append text that must appear (short, fixed-size parts).
    fn must(&mut self, s: &str) {
        self.out.push_str(s);
        self.chars += s.chars().count();
    }

    /// A block of lines: `head`, as many `lines` as fit, then `tail`. Left-out
    /// lines are recorded as `what`. Nothing is written if not even the head
    /// and one line fit.
    fn block(&mut self, head: &str, lines: &[String], tail: &str, what: &str) {
        let fixed = head.chars().count() + tail.chars().count();
        let first = lines.first().map_or(0, |l| l.chars().count());
        if fixed + first > self.room() {
            if !lines.is_empty() {
                self.cut.push(format!("{what} ({} lines)", lines.len()));
            }
            return;
        }
        self.must(head);
        let mut shown = 0;
        for line in lines {
            if line.chars().count() + tail.chars().count() > self.room() {
                break;
            }
            self.must(line);
            shown += 1;
        }
        self.must(tail);
        if shown < lines.len() {
            self.cut.push(format!(
                "{what}: {} of {} lines",
                lines.len() - shown,
                lines.len()
            ));
        }
    }

    fn finish(mut self) -> String {
        if !self.cut.is_empty() {
            let mut note = format!(
                "\n> **Cut to fit {LIMIT} characters.** Left out: {}. \
                 The JSON and HTML reports have everything.\n",
                self.cut.join("; ")
            );
            // The note lists our own section names only, but stay bounded.
            if note.chars().count() > RESERVE {
                note = format!(
                    "\n> **Cut to fit {LIMIT} characters.** \
                     The JSON and HTML reports have everything.\n"
                );
            }
            self.must(&note);
        }
        debug_assert!(self.chars <= LIMIT);
        self.out
    }
}

/// Escape a data value for Markdown text or a table cell. Control and bidi
/// characters become visible escapes; the punctuation that can start
/// Markdown or HTML syntax inside a line (emphasis, code, links, tables,
/// tags, entities, math) becomes numeric character references (shown as
/// the character, never parsed); values never start a line, so line-start
/// syntax (lists, headings) cannot arise;
/// `@` and `#` are followed by a zero-width space so they cannot mention a
/// user or team or reference an issue; `://` and `www.` are broken the same
/// way so values are not turned into links.
pub fn escape(s: &str) -> String {
    let s = text::inert(s)
        .replace("://", ":\u{200B}//")
        .replace("www.", "www\u{200B}.");
    let mut out = String::with_capacity(s.len() + 16);
    let chars: Vec<char> = s.chars().collect();
    for (i, &ch) in chars.iter().enumerate() {
        // An underscore inside a word (`order_id`) is never emphasis in GFM;
        // keep it readable.
        let inside_word = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_alphanumeric())
        };
        if ch == '_' && inside_word(i.checked_sub(1)) && inside_word(Some(i + 1)) {
            out.push('_');
            continue;
        }
        match ch {
            '@' | '#' => {
                out.push(ch);
                out.push('\u{200B}');
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '$' => {
                let _ = write!(out, "&#{};", ch as u32);
            }
            _ => out.push(ch),
        }
    }
    out
}

/// A data value for a cell: clipped, quoted if a string, escaped.
fn cell(v: &serde_json::Value) -> String {
    escape(&text::value(v))
}

/// A name for a cell: clipped and escaped.
fn name(s: &str) -> String {
    escape(&text::clip(s, MAX_VALUE_CHARS))
}

/// A fenced code block whose fence cannot be closed by its content.
fn fenced(info: &str, body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in body.chars() {
        if ch == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat((longest + 1).max(3));
    let mut body = body.to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    format!("{fence}{info}\n{body}{fence}\n")
}

/// Code-block text: control characters made visible (tabs kept).
fn code_line(s: &str) -> String {
    s.split('\t')
        .map(text::inert)
        .collect::<Vec<_>>()
        .join("\t")
}

fn header(md: &mut Doc, r: &DiffReport) {
    let icon = match r.verdict {
        Verdict::Promote => "✅",
        Verdict::Review => "⚠️",
        Verdict::Block => "⛔",
    };
    let c = &r.comparison;
    md.must(&format!(
        "## {icon} diffgate: **{}**\n\n",
        r.verdict.as_str().to_uppercase()
    ));
    let key = if c.key.is_empty() {
        "no key (whole rows)".to_string()
    } else {
        let keys: Vec<String> = c.key.iter().map(|k| name(k)).collect();
        format!("key {}", keys.join(", "))
    };
    md.must(&format!(
        "{} {} → {} · {key}\n\n",
        escape(&c.command),
        name(&c.v1),
        name(&c.v2)
    ));
    if let Some(d) = &c.description {
        md.push(&format!(
            "{}\n\n",
            escape(&text::clip(d, MAX_MESSAGE_CHARS))
        ));
    }
    if let Some(e) = r.expected_verdict {
        let mark = if e == r.verdict {
            "as expected"
        } else {
            "**not** as expected"
        };
        md.must(&format!("Expected verdict: {e} ({mark})\n\n"));
    }
}

fn reasons(md: &mut Doc, r: &DiffReport) {
    md.must("### Reasons\n\n");
    if r.reasons.is_empty() {
        md.must(if r.plan_only() {
            "None: the output schema is compatible.\n\n"
        } else {
            "None: the schema is compatible and nothing differs beyond tolerance.\n\n"
        });
        return;
    }
    let lines: Vec<String> = r
        .reasons
        .iter()
        .map(|reason| {
            let level = match reason.level {
                Level::Block => "⛔ **block**",
                Level::Review => "⚠️ **review**",
            };
            format!(
                "- {level} {}: {}\n",
                escape(&reason.rule),
                escape(&text::clip(&reason.message, MAX_MESSAGE_CHARS))
            )
        })
        .collect();
    md.block("", &lines, "\n", "reasons");
}

fn determinism(md: &mut Doc, r: &DiffReport) {
    if let Some(sentence) = text::determinism_sentence(r) {
        md.must(&format!("### Determinism\n\n{sentence}.\n\n"));
    }
}

fn subset(md: &mut Doc, r: &DiffReport) {
    let Some(sentence) = text::subset_sentence(r, &|s| escape(s)) else {
        return;
    };
    let mut t = format!("### Subset\n\n{sentence}.\n\n");
    let inputs = text::subset_inputs(r);
    if !inputs.is_empty() {
        t.push_str("| input | rows before | rows after | kept by |\n|---|---:|---:|---|\n");
        for (name, before, after, how) in inputs {
            let _ = writeln!(
                t,
                "| {} | {before} | {after} | {} |",
                escape(name),
                escape(&text::clip(&how, MAX_MESSAGE_CHARS))
            );
        }
        t.push('\n');
    }
    md.must(&t);
}

fn bad_records(md: &mut Doc, r: &DiffReport) {
    let bad = text::dead_lettered(r);
    if bad.is_empty() {
        return;
    }
    let mut t = format!(
        "### Bad input records\n\n{}.\n\n| input | records read | dead-lettered | rate |\n|---|---:|---:|---:|\n",
        text::dead_letter_sentence(r, &|s| escape(s))
    );
    for (name, read, dead, rate) in bad {
        let _ = writeln!(t, "| {} | {read} | {dead} | {rate} |", escape(name));
    }
    t.push('\n');
    md.must(&t);
}

fn rows(md: &mut Doc, r: &DiffReport) {
    let mut t = String::from("### Rows\n\n|  | v1 | v2 | Δ |\n|---|---:|---:|---:|\n");
    for (label, a, b) in text::row_pairs(r) {
        let _ = writeln!(t, "| {label} | {a} | {b} | {} |", text::delta(a, b));
    }
    // The first line is a tally, the others are sentences.
    let summary = text::row_summary(r, &|n| format!("**{n}**"));
    for (i, line) in summary.iter().enumerate() {
        let stop = if i == 0 { "" } else { "." };
        let _ = writeln!(t, "\n{line}{stop}");
    }
    t.push('\n');
    md.must(&t);
}

fn schema(md: &mut Doc, r: &DiffReport) {
    let s = &r.schema;
    if s.is_empty() {
        md.must("### Schema\n\nNo changes.\n\n");
        return;
    }
    let class = |compatible: bool| {
        if compatible {
            "compatible"
        } else {
            "**breaking**"
        }
    };
    let mut lines = Vec::new();
    for f in &s.added {
        lines.push(format!(
            "| {} | added |  | {} | compatible |\n",
            name(&f.name),
            name(&f.data_type)
        ));
    }
    for f in &s.removed {
        lines.push(format!(
            "| {} | removed | {} |  | **breaking** |\n",
            name(&f.name),
            name(&f.data_type)
        ));
    }
    for f in &s.changed {
        let note = if f.comparable {
            escape(&f.note)
        } else {
            format!("{}; values not compared", escape(&f.note))
        };
        lines.push(format!(
            "| {} | type: {note} | {} | {} | {} |\n",
            name(&f.name),
            name(&f.v1_type),
            name(&f.v2_type),
            class(f.compatible)
        ));
    }
    for f in &s.nullability {
        let n = |b: bool| if b { "nullable" } else { "non-null" };
        lines.push(format!(
            "| {} | nullability | {} | {} | {} |\n",
            name(&f.name),
            n(f.v1_nullable),
            n(f.v2_nullable),
            class(f.compatible)
        ));
    }
    if !s.reordered.is_empty() {
        let names: Vec<String> = s.reordered.iter().map(|n| name(n)).collect();
        lines.push(format!(
            "| {} | reordered |  |  | compatible |\n",
            names.join(", ")
        ));
    }
    md.block(
        "### Schema\n\n| column | change | v1 | v2 | class |\n|---|---|---|---|---|\n",
        &lines,
        "\n",
        "schema changes",
    );
}

fn columns(md: &mut Doc, r: &DiffReport) {
    if r.comparison.mode != Mode::Keyed || r.columns.is_empty() {
        return;
    }
    let mut differing: Vec<_> = r.columns.iter().filter(|c| c.mismatches > 0).collect();
    if differing.is_empty() {
        md.push(&format!(
            "### Columns\n\nAll {} compared columns are equal within tolerance.\n\n",
            r.columns.len()
        ));
        return;
    }
    differing.sort_by(|a, b| {
        b.mismatch_rate
            .total_cmp(&a.mismatch_rate)
            .then_with(|| a.name.cmp(&b.name))
    });
    let total = differing.len();
    let lines: Vec<String> = differing
        .iter()
        .take(TOP_COLUMNS)
        .map(|c| {
            let num = |x: Option<f64>| {
                text::max_diff(x, c.non_finite_diffs).map_or(String::new(), |v| escape(&v))
            };
            format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                name(&c.name),
                c.compared,
                c.mismatches,
                escape(&percent(c.mismatch_rate)),
                num(c.max_abs_diff),
                num(c.max_rel_diff)
            )
        })
        .collect();
    let head = format!(
        "### Columns with the highest mismatch rates ({} of {} compared columns differ{})\n\n\
         | column | compared | mismatches | rate | max abs Δ | max rel Δ |\n\
         |---|---:|---:|---:|---:|---:|\n",
        total,
        r.columns.len(),
        if total > TOP_COLUMNS {
            format!("; top {TOP_COLUMNS} shown")
        } else {
            String::new()
        }
    );
    md.block(&head, &lines, "\n", "column table");
}

fn samples(md: &mut Doc, r: &DiffReport) {
    let s = &r.samples;
    if !s.changed.is_empty() {
        let mut lines = Vec::new();
        for row in &s.changed {
            let key = escape(&text::fields(&row.key, "="));
            for cell_diff in &row.cells {
                lines.push(format!(
                    "| {key} | {} | {} | {} |\n",
                    name(&cell_diff.column),
                    cell(&cell_diff.v1),
                    cell(&cell_diff.v2)
                ));
            }
        }
        let head = format!(
            "<details><summary>Changed rows: first {} by key</summary>\n\n\
             | key | column | v1 | v2 |\n|---|---|---|---|\n",
            s.changed.len()
        );
        md.block(&head, &lines, "\n</details>\n\n", "changed-row samples");
    }
    for (title, list) in [("Only in v1", &s.only_v1), ("Only in v2", &s.only_v2)] {
        if list.is_empty() {
            continue;
        }
        let lines: Vec<String> = list.iter().map(sample_line).collect();
        let head = format!(
            "<details><summary>{title}: first {}</summary>\n\n| key | row |\n|---|---|\n",
            list.len()
        );
        md.block(
            &head,
            &lines,
            "\n</details>\n\n",
            &format!("{} samples", title.to_lowercase()),
        );
    }
}

fn sample_line(s: &RowSample) -> String {
    let mut row = escape(&text::fields(&s.row, ": "));
    if let Some(n) = s.count.filter(|n| *n > 1) {
        let _ = write!(row, " ×{n}");
    }
    format!("| {} | {row} |\n", escape(&text::fields(&s.key, "=")))
}

fn sql_diff(md: &mut Doc, r: &DiffReport) {
    let Some(sql) = &r.comparison.sql else {
        return;
    };
    if sql.v1 == sql.v2 {
        md.push("The v1 and v2 SQL are identical.\n\n");
        return;
    }
    let v1 = code_line(&sql.v1_path);
    let v2 = code_line(&sql.v2_path);
    let diff = TextDiff::from_lines(&sql.v1, &sql.v2);
    let unified = diff
        .unified_diff()
        .context_radius(3)
        .header(&v1, &v2)
        .to_string();
    let body: String = unified
        .lines()
        .map(|l| format!("{}\n", code_line(l)))
        .collect();
    let block = format!(
        "<details><summary>SQL diff v1 → v2</summary>\n\n{}\n</details>\n\n",
        fenced("diff", &body)
    );
    if !md.push(&block) {
        md.cut.push("SQL diff".into());
    }
}

fn reproduce(md: &mut Doc, r: &DiffReport) {
    let Some(cmd) = &r.comparison.reproduce else {
        return;
    };
    let block = format!("**Reproduce locally**\n\n{}", fenced("sh", &code_line(cmd)));
    if !md.push(&block) {
        md.cut.push("reproduce command".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_break_tables_mention_or_inject() {
        let e = escape("a|b @team #12 <script>x</script> `c` [l](http://e.com) **b** $x$");
        assert!(!e.contains('|'), "{e}");
        assert!(!e.contains('<') && !e.contains('>'), "{e}");
        assert!(!e.contains('`'), "{e}");
        assert!(!e.contains("@team") && !e.contains(" #12"), "{e}");
        assert!(!e.contains("http://") && !e.contains('['), "{e}");
        assert!(!e.contains("**") && !e.contains('$'), "{e}");
        assert_eq!(escape("line\nbreak"), "line&#92;u{a}break");
        assert_eq!(escape("order_id"), "order_id");
        assert_eq!(escape("_em_ a_ _b"), "&#95;em&#95; a&#95; &#95;b");
    }

    #[test]
    fn fences_are_longer_than_any_backtick_run_inside() {
        let f = fenced("sql", "select '```' as x, '`````' as y");
        assert!(f.starts_with("``````sql\n"), "{f}");
        assert!(f.ends_with("\n``````\n"), "{f}");
        assert!(fenced("", "plain").starts_with("```\n"));
    }

    #[test]
    fn the_budget_cuts_blocks_and_says_so() {
        let mut md = Doc::default();
        let lines: Vec<String> = (0..100_000).map(|i| format!("| row {i} |\n")).collect();
        md.block("head\n", &lines, "tail\n", "big table");
        let out = md.finish();
        assert!(out.chars().count() <= LIMIT);
        assert!(out.contains("tail\n"));
        assert!(
            out.contains("Left out: big table"),
            "{}",
            &out[out.len() - 300..]
        );
    }
}
