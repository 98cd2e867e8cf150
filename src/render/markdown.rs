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

use super::sections;
use super::text::{self, MAX_VALUE_CHARS};
use crate::report::percent;
use crate::report::{ComparisonView, DiffReport, Level, Mode, Verdict};

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
    if !r.models.is_empty() {
        models(&mut md, r);
    }
    for c in r.comparisons() {
        if let Some(m) = c.model {
            md.must(&format!(
                "---\n\n## Model {}: **{}**\n\n",
                name(&m.name),
                m.verdict.as_str().to_uppercase()
            ));
        }
        body(&mut md, &c);
    }
    reproduce(&mut md, r);
    md.finish()
}

/// Notes, schema, rows, columns, samples and SQL diff of one comparison.
fn body(md: &mut Doc, c: &ComparisonView) {
    notes(md, c);
    if !c.failures.is_empty() {
        let mut t = format!("### Not compared\n\n{}:\n\n", text::NOT_COMPARED);
        for f in c.failures {
            let _ = writeln!(t, "- {}", escape(&f.sentence()));
        }
        t.push('\n');
        md.must(&t);
    } else if c.plan_only {
        md.must(&format!("### Rows\n\n{}.\n\n", text::PLAN_ONLY));
        schema(md, c);
    } else {
        rows(md, c);
        declared(md, c);
        contracts(md, c);
        schema(md, c);
        columns(md, c);
        profile(md, c);
        samples(md, c);
    }
    sql_diff(md, c);
}

/// What the reader should know about how the comparison was made.
fn notes(md: &mut Doc, c: &ComparisonView) {
    for note in &c.findings.notes {
        md.must(&format!("> **Note:** {}\n\n", escape(note)));
    }
    if let Some(m) = text::masked_sentence(&c.findings.masked, &|n| name(n)) {
        md.must(&format!("> **Note:** {m}\n\n"));
    }
    if let Some(m) = text::diff_out_sentence(c.findings.diff_out.as_ref(), &|n| name(n)) {
        md.must(&format!("> **Note:** {m}\n\n"));
    }
}

/// The list of compared models of a model-folder run.
fn models(md: &mut Doc, r: &DiffReport) {
    let mut t =
        String::from("### Models\n\n| model | verdict | compared because |\n|---|---|---|\n");
    for m in sections::model_rows(r) {
        let _ = writeln!(
            t,
            "| {} | {} | {} |",
            name(m.name),
            m.verdict,
            escape(m.why.as_str())
        );
    }
    for (what, list) in sections::model_changes(r) {
        let names: Vec<String> = list.iter().map(|n| name(n)).collect();
        let _ = write!(t, "\n{what} models: {}\n", names.join(", "));
    }
    t.push('\n');
    md.must(&t);
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
fn value_cell(v: &serde_json::Value) -> String {
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
    let key = sections::key_phrase(&c.key, &|k| name(k));
    md.must(&format!(
        "{} {} → {} · {key}\n\n",
        escape(c.command.as_str()),
        name(&c.v1),
        name(&c.v2)
    ));
    if let Some(d) = &c.description {
        md.push(&format!(
            "{}\n\n",
            escape(&text::clip(d, MAX_MESSAGE_CHARS))
        ));
    }
    if let Some((e, met)) = sections::expected(r) {
        let mark = if met {
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
        md.must(&format!("None: {}.\n\n", text::no_reasons(r)));
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
                escape(reason.rule.name()),
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

fn rows(md: &mut Doc, c: &ComparisonView) {
    let mut t = String::from("### Rows\n\n|  | v1 | v2 | Δ |\n|---|---:|---:|---:|\n");
    for (label, a, b) in text::row_pairs(c) {
        let _ = writeln!(t, "| {label} | {a} | {b} | {} |", text::delta(a, b));
    }
    // The first line is a tally, the others are sentences.
    let summary = text::row_summary(c, &|n| format!("**{n}**"));
    for (i, line) in summary.iter().enumerate() {
        let stop = if i == 0 { "" } else { "." };
        let _ = writeln!(t, "\n{line}{stop}");
    }
    t.push('\n');
    md.must(&t);
}

/// A status word, in bold when it needs a reader's attention.
fn status_cell(ok: bool, word: &str) -> String {
    if ok {
        word.to_string()
    } else {
        format!("**{word}**")
    }
}

/// The contract's checks on both versions.
fn contracts(md: &mut Doc, c: &ComparisonView) {
    let rows = sections::contract_rows(c);
    if rows.is_empty() {
        return;
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|row| {
            let ok = matches!(
                row.status,
                crate::report::ContractStatus::Holds | crate::report::ContractStatus::Fixed
            );
            let status = status_cell(ok, row.status.as_str());
            format!(
                "| {} | {} | {} | {} | {status} |\n",
                escape(&row.check),
                escape(row.rule),
                escape(&row.v1),
                escape(&row.v2)
            )
        })
        .collect();
    md.block(
        "### Contract\n\n| check | rule | v1 | v2 | status |\n|---|---|---|---|---|\n",
        &lines,
        "\n",
        "contract checks",
    );
}

/// The declared changes and what each explains.
fn declared(md: &mut Doc, c: &ComparisonView) {
    let rows = sections::expectation_rows(c);
    if rows.is_empty() {
        return;
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|row| {
            let ok = row.status == crate::report::ExpectStatus::Met;
            let status = status_cell(ok, row.status.as_str());
            format!(
                "| {} | {status} | {} | {} |\n",
                escape(&row.declared),
                escape(&row.explains),
                escape(row.reason)
            )
        })
        .collect();
    md.block(
        "### Declared changes\n\n| change | status | explains | reason |\n|---|---|---|---|\n",
        &lines,
        "\n",
        "declared changes",
    );
}

fn schema(md: &mut Doc, c: &ComparisonView) {
    let s = &c.findings.schema;
    if s.is_empty() {
        md.must("### Schema\n\nNo changes.\n\n");
        return;
    }
    let lines: Vec<String> = sections::schema_rows(s)
        .iter()
        .map(|row| {
            let columns: Vec<String> = row.columns.iter().map(|n| name(n)).collect();
            let class = if row.compatible {
                "compatible"
            } else {
                "**breaking**"
            };
            format!(
                "| {} | {} | {} | {} | {class} |\n",
                columns.join(", "),
                row.label(&escape),
                name(row.v1),
                name(row.v2)
            )
        })
        .collect();
    md.block(
        "### Schema\n\n| column | change | v1 | v2 | class |\n|---|---|---|---|---|\n",
        &lines,
        "\n",
        "schema changes",
    );
}

fn columns(md: &mut Doc, c: &ComparisonView) {
    let all = &c.findings.columns;
    if c.mode != Mode::Keyed || all.is_empty() {
        return;
    }
    let mut differing: Vec<_> = all.iter().filter(|c| c.mismatches > 0).collect();
    if differing.is_empty() {
        md.push(&format!(
            "### Columns\n\nAll {} compared columns are equal within tolerance.\n\n",
            all.len()
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
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                name(&c.name),
                c.compared,
                escape(&text::mismatches_cell(c)),
                escape(&percent(c.mismatch_rate)),
                num(c.max_abs_diff),
                num(c.max_rel_diff),
                escape(&text::patterns_phrase(c))
            )
        })
        .collect();
    let head = format!(
        "### Columns with the highest mismatch rates ({} of {} compared columns differ{})\n\n\
         | column | compared | mismatches | rate | max abs Δ | max rel Δ | change |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
        total,
        all.len(),
        if total > TOP_COLUMNS {
            format!("; top {TOP_COLUMNS} shown")
        } else {
            String::new()
        }
    );
    md.block(&head, &lines, "\n", "column table");
}

/// The profile of the columns whose profile differs (all when asked for
/// in the HTML and JSON reports).
fn profile(md: &mut Doc, c: &ComparisonView) {
    let rows = sections::profile_rows(c);
    if rows.is_empty() {
        return;
    }
    let total = rows.len();
    let differing: Vec<_> = rows.iter().filter(|r| r.differs).collect();
    if differing.is_empty() {
        md.push(&format!(
            "### Profile\n\nAll {total} columns have the same profile on v1 and v2.\n\n"
        ));
        return;
    }
    let lines: Vec<String> = differing
        .iter()
        .map(|r| {
            format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                name(r.column),
                r.kind,
                escape(&r.nulls),
                escape(&r.distinct),
                escape(&r.center),
                escape(&r.typical),
                escape(&r.drift)
            )
        })
        .collect();
    let head = format!(
        "### Profile ({} of {total} columns differ)\n\n{}.\n\n\
         | column | kind | NULLs | distinct | mean | median / top | drift |\n\
         |---|---|---:|---:|---:|---:|---|\n",
        differing.len(),
        escape(&capitalise(sections::PROFILE_NOTE))
    );
    md.block(&head, &lines, "\n", "profile rows");
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn samples(md: &mut Doc, c: &ComparisonView) {
    let changed = &c.findings.samples.changed;
    if !changed.is_empty() {
        let lines: Vec<String> = sections::changed_cells(changed)
            .iter()
            .map(|cell| {
                format!(
                    "| {} | {}{} | {} | {} |\n",
                    escape(&cell.key),
                    name(cell.column),
                    if cell.expected { " (declared)" } else { "" },
                    value_cell(cell.v1),
                    value_cell(cell.v2)
                )
            })
            .collect();
        let head = format!(
            "<details><summary>Changed rows: first {}{}</summary>\n\n\
             | key | column | v1 | v2 |\n|---|---|---|---|\n",
            changed.len(),
            sections::changed_order(c)
        );
        md.block(&head, &lines, "\n</details>\n\n", "changed-row samples");
    }
    for (title, list) in sections::one_side_lists(c) {
        if list.is_empty() {
            continue;
        }
        let lines: Vec<String> = list
            .iter()
            .map(|s| {
                let (key, row) = sections::one_side(s);
                format!("| {} | {} |\n", escape(&key), escape(&row))
            })
            .collect();
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

fn sql_diff(md: &mut Doc, c: &ComparisonView) {
    let Some(sql) = c.sql else {
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
