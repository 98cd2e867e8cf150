//! HTML report: one self-contained file (inline CSS and JavaScript, no
//! network: a Content-Security-Policy forbids every fetch). The page is
//! rendered here, in full, so it reads with JavaScript off; with it on,
//! tables sort by clicking a header and filter through a search box.
//!
//! Escaping: every value is made inert and clipped ([`text`]) and then
//! HTML-escaped (`html-escape`); the report itself is embedded as JSON in a
//! `<script type="application/json">` block with `<`, `>`, `&` and the line
//! separators written as `\u` escapes, so a value holding `</script>` stays
//! inside its string.

use std::fmt::Write;

use similar::{ChangeTag, TextDiff};

use super::sections::{self, Change};
use super::text::{self, MAX_VALUE_CHARS};
use crate::report::percent;
use crate::report::{ComparisonView, DiffReport, Level, Mode};

const STYLE: &str = r#"
svg.chart { display: block; background: #f6f8fa; } svg.chart .v1 { fill: #8c959f; } svg.chart .v2 { fill: #0969da; }
:root { --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; --line:#d0d7de; --muted:#57606a; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
.verdict { display: inline-block; padding: .15rem .6rem; border-radius: 6px; color: #fff; }
.verdict.promote { background: var(--ok); } .verdict.review { background: var(--warn); } .verdict.block { background: var(--bad); }
.meta { color: var(--muted); }
ul.reasons li.block::marker { color: var(--bad); } ul.reasons li.review::marker { color: var(--warn); }
.lvl { font-weight: 600; } .lvl.block { color: var(--bad); } .lvl.review { color: var(--warn); }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f6f8fa; }
table.sortable th { cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
tr.diff td:first-child { border-left: 3px solid var(--warn); }
td.old { background: #ffebe9; } td.new { background: #dafbe1; }
code, pre, td.v { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap; word-break: break-all; }
pre.sqldiff { background: #f6f8fa; padding: .6rem; border: 1px solid var(--line); overflow-x: auto; }
pre.sqldiff .add { background: #dafbe1; display: block; } pre.sqldiff .del { background: #ffebe9; display: block; }
pre.sqldiff .hunk { color: var(--muted); display: block; }
input.filter { margin: .3rem 0; padding: .2rem .4rem; width: 18rem; }
footer { margin-top: 2rem; color: var(--muted); font-size: 12px; }
"#;

const SCRIPT: &str = r#"
(function () {
  "use strict";
  function cellValue(td) {
    var v = td.getAttribute("data-v");
    return v === null ? td.textContent : v;
  }
  function compare(a, b) {
    var x = parseFloat(a), y = parseFloat(b);
    if (!isNaN(x) && !isNaN(y) && isFinite(a) && isFinite(b)) return x - y;
    return a.localeCompare(b);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, col) {
      th.setAttribute("tabindex", "0");
      function sort() {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var d = compare(cellValue(r1.cells[col]), cellValue(r2.cells[col]));
          return asc ? d : -d;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
    });
    var input = document.createElement("input");
    input.type = "search";
    input.className = "filter";
    input.placeholder = "Filter rows";
    input.setAttribute("aria-label", "Filter " + (table.getAttribute("data-name") || "rows"));
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.hidden = q !== "" && r.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
    table.parentNode.insertBefore(input, table);
  });
  var data = document.getElementById("diffgate-report");
  var raw = document.getElementById("raw-json");
  if (data && raw) {
    raw.textContent = JSON.stringify(JSON.parse(data.textContent), null, 2);
    raw.parentNode.hidden = false;
  }
})();
"#;

/// HTML-escape text that has already been made inert.
fn esc(s: &str) -> String {
    html_escape::encode_safe(s).into_owned()
}

/// A name or label: inert, clipped, escaped.
fn name(s: &str) -> String {
    esc(&text::name(s))
}

fn value(v: &serde_json::Value) -> String {
    esc(&text::value(v))
}

/// The report as JSON that cannot end its `<script>` element early.
fn embedded_json(r: &DiffReport) -> String {
    let json = serde_json::to_string(r).expect("the report model always serialises");
    let mut out = String::with_capacity(json.len() + 64);
    for ch in json.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            // Line separators and bidi controls (JSON allows them raw).
            c if text::is_hazard(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

pub fn render(r: &DiffReport) -> String {
    let c = &r.comparison;
    let mut o = String::with_capacity(16 * 1024);
    let verdict = r.verdict.as_str();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>diffgate: {} — {} → {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        verdict.to_uppercase(),
        name(&c.v1),
        name(&c.v2)
    );

    // Verdict and reasons first.
    let _ = writeln!(
        o,
        "<header>\n<h1>diffgate: <span id=\"verdict\" class=\"verdict {verdict}\">{}</span></h1>",
        verdict.to_uppercase()
    );
    let key = sections::key_phrase(&c.key, &|k| name(k));
    let _ = writeln!(
        o,
        "<p class=\"meta\">{} <code>{}</code> → <code>{}</code> · {key}</p>",
        name(c.command.as_str()),
        name(&c.v1),
        name(&c.v2)
    );
    if let Some(d) = &c.description {
        let _ = writeln!(o, "<p>{}</p>", esc(&text::inert(d)));
    }
    if let Some((e, met)) = sections::expected(r) {
        let mark = if met {
            "as expected"
        } else {
            "NOT as expected"
        };
        let _ = writeln!(o, "<p>Expected verdict: {e} ({mark})</p>");
    }
    o.push_str("</header>\n<main>\n<h2>Reasons</h2>\n");
    if r.reasons.is_empty() {
        let _ = writeln!(o, "<p>None: {}.</p>", text::no_reasons(r));
    } else {
        o.push_str("<ul class=\"reasons\">\n");
        for reason in &r.reasons {
            let level = match reason.level {
                Level::Block => "block",
                Level::Review => "review",
            };
            let _ = writeln!(
                o,
                "<li class=\"{level}\"><span class=\"lvl {level}\">{level}</span> \
                 <code>{}</code>: {}</li>",
                name(reason.rule.name()),
                esc(&text::inert(&reason.message))
            );
        }
        o.push_str("</ul>\n");
    }

    if let Some(sentence) = text::determinism_sentence(r) {
        let _ = writeln!(o, "<h2>Determinism</h2>\n<p>{}.</p>", esc(&sentence));
    }
    subset(&mut o, r);
    bad_records(&mut o, r);
    if !r.models.is_empty() {
        models(&mut o, r);
    }
    for (i, view) in r.comparisons().iter().enumerate() {
        if let Some(m) = view.model {
            let v = m.verdict.as_str();
            let _ = writeln!(
                o,
                "<section class=\"model\" id=\"model-{i}\">\n<h2>Model <code>{}</code>: \
                 <span class=\"verdict {v}\">{}</span></h2>",
                name(&m.name),
                v.to_uppercase()
            );
        }
        body(&mut o, view);
        if view.model.is_some() {
            o.push_str("</section>\n");
        }
    }

    if let Some(cmd) = &c.reproduce {
        let _ = writeln!(
            o,
            "<h2>Reproduce locally</h2>\n<pre><code>{}</code></pre>",
            esc(&text::inert(cmd))
        );
    }
    o.push_str(
        "<details hidden><summary>Raw JSON report</summary><pre id=\"raw-json\"></pre></details>\n",
    );
    let _ = writeln!(
        o,
        "</main>\n<footer>diffgate report, schema version {}</footer>",
        r.schema_version
    );
    let _ = writeln!(
        o,
        "<script type=\"application/json\" id=\"diffgate-report\">{}</script>",
        embedded_json(r)
    );
    let _ = writeln!(o, "<script>{SCRIPT}</script>\n</body>\n</html>");
    o
}

/// The table of compared models (each linked to its section) and the
/// models added or removed.
fn models(o: &mut String, r: &DiffReport) {
    let _ = writeln!(
        o,
        "<h2>Models</h2>\n<table id=\"models\">\n<thead><tr><th>model</th><th>verdict</th>\
         <th>compared because</th></tr></thead>\n<tbody>"
    );
    for (i, m) in sections::model_rows(r).iter().enumerate() {
        let v = m.verdict.as_str();
        let _ = writeln!(
            o,
            "<tr><td><a href=\"#model-{i}\"><code>{}</code></a></td>\
             <td><span class=\"lvl {v}\">{v}</span></td><td>{}</td></tr>",
            name(m.name),
            esc(m.why.as_str()),
        );
    }
    o.push_str("</tbody>\n</table>\n");
    for (what, list) in sections::model_changes(r) {
        let names: Vec<String> = list
            .iter()
            .map(|n| format!("<code>{}</code>", name(n)))
            .collect();
        let _ = writeln!(o, "<p>{what} models: {}</p>", names.join(", "));
    }
}

/// Notes, schema, rows, columns, samples and SQL diff of one comparison.
fn body(o: &mut String, c: &ComparisonView) {
    for note in &c.findings.notes {
        let _ = writeln!(
            o,
            "<p class=\"note\"><strong>Note:</strong> {}</p>",
            esc(note)
        );
    }
    let code = |n: &str| format!("<code>{}</code>", name(n));
    if let Some(m) = text::masked_sentence(&c.findings.masked, &code) {
        let _ = writeln!(o, "<p class=\"note\"><strong>Note:</strong> {m}</p>");
    }
    if let Some(m) = text::diff_out_sentence(c.findings.diff_out.as_ref(), &code) {
        let _ = writeln!(o, "<p class=\"note\"><strong>Note:</strong> {m}</p>");
    }
    if !c.failures.is_empty() {
        let _ = writeln!(
            o,
            "<h2>Not compared</h2>\n<p>{}:</p>\n<ul class=\"failures\">",
            esc(text::NOT_COMPARED)
        );
        for f in c.failures {
            let _ = writeln!(o, "<li>{}</li>", esc(&text::inert(&f.sentence())));
        }
        o.push_str("</ul>\n");
        sql_diff(o, c);
        return;
    }
    declared(o, c);
    contracts(o, c);
    schema(o, c);
    if c.plan_only {
        let _ = writeln!(o, "<h2>Rows</h2>\n<p>{}.</p>", esc(text::PLAN_ONLY));
    } else {
        rows(o, c);
        columns(o, c);
        profile(o, c);
        samples(o, c);
    }
    sql_diff(o, c);
}

fn subset(o: &mut String, r: &DiffReport) {
    let Some(sentence) = text::subset_sentence(r, &|s| format!("<code>{}</code>", name(s))) else {
        return;
    };
    let _ = writeln!(o, "<h2>Subset</h2>\n<p>{sentence}.</p>");
    let inputs = text::subset_inputs(r);
    if inputs.is_empty() {
        return;
    }
    o.push_str(
        "<table id=\"subset\">\n<thead><tr><th>input</th><th class=\"n\">rows before</th>\
         <th class=\"n\">rows after</th><th>kept by</th></tr></thead>\n<tbody>\n",
    );
    for (input, before, after, how) in inputs {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"n\">{before}</td><td class=\"n\">{after}</td>\
             <td><code>{}</code></td></tr>",
            name(input),
            esc(&text::inert(&how))
        );
    }
    o.push_str("</tbody>\n</table>\n");
}

fn bad_records(o: &mut String, r: &DiffReport) {
    let bad = text::dead_lettered(r);
    if bad.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<h2>Bad input records</h2>\n<p>{}.</p>\n<table id=\"bad-records\">\n<thead><tr><th>input</th>\
         <th class=\"n\">records read</th><th class=\"n\">dead-lettered</th>\
         <th class=\"n\">rate</th></tr></thead>\n<tbody>",
        text::dead_letter_sentence(r, &|s| format!("<code>{}</code>", name(s)))
    );
    for (input, read, dead, rate) in bad {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"n\">{read}</td><td class=\"n\">{dead}</td>\
             <td class=\"n\">{rate}</td></tr>",
            name(input)
        );
    }
    o.push_str("</tbody>\n</table>\n");
}

fn schema(o: &mut String, c: &ComparisonView) {
    let s = &c.findings.schema;
    o.push_str("<h2>Schema</h2>\n");
    if s.is_empty() {
        o.push_str("<p>No changes.</p>\n");
        return;
    }
    o.push_str(
        "<table class=\"sortable\" id=\"schema\" data-name=\"schema changes\">\n<thead><tr>\
         <th>column</th><th>change</th><th>v1</th><th>v2</th><th>class</th></tr></thead>\n<tbody>\n",
    );
    for row in sections::schema_rows(s) {
        // Removed and retyped columns are marked; a reordering is one row
        // per column.
        let marked = matches!(row.change, Change::Removed | Change::Type { .. });
        let tr = if marked {
            "<tr class=\"diff\">"
        } else {
            "<tr>"
        };
        for column in &row.columns {
            let _ = writeln!(
                o,
                "{tr}<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                name(column),
                row.label(&name),
                name(row.v1),
                name(row.v2),
                row.class()
            );
        }
    }
    o.push_str("</tbody>\n</table>\n");
}

fn rows(o: &mut String, c: &ComparisonView) {
    o.push_str(
        "<h2>Rows</h2>\n<table id=\"rows\">\n<thead><tr><th></th><th class=\"n\">v1</th>\
         <th class=\"n\">v2</th><th class=\"n\">Δ</th></tr></thead>\n<tbody>\n",
    );
    for (label, a, b) in text::row_pairs(c) {
        let _ = writeln!(
            o,
            "<tr><td>{label}</td><td class=\"n\">{a}</td><td class=\"n\">{b}</td>\
             <td class=\"n\">{}</td></tr>",
            text::delta(a, b)
        );
    }
    o.push_str("</tbody>\n</table>\n");
    let lines = text::row_summary(c, &|n| format!("<strong>{n}</strong>"));
    for (i, line) in lines.iter().enumerate() {
        let stop = if i == 0 { "" } else { "." };
        let _ = writeln!(o, "<p>{line}{stop}</p>");
    }
}

/// The contract's checks on both versions.
fn contracts(o: &mut String, c: &ComparisonView) {
    let rows = sections::contract_rows(c);
    if rows.is_empty() {
        return;
    }
    o.push_str(
        "<h2>Contract</h2>\n<table id=\"contract\">\n<thead><tr><th>check</th><th>rule</th>\
         <th>v1</th><th>v2</th><th>status</th></tr></thead>\n<tbody>\n",
    );
    for row in rows {
        let class = match row.status {
            crate::report::ContractStatus::Holds | crate::report::ContractStatus::Fixed => "met",
            _ => "diff",
        };
        let _ = writeln!(
            o,
            "<tr class=\"{class}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&text::inert(&row.check)),
            esc(&text::inert(row.rule)),
            esc(&row.v1),
            esc(&row.v2),
            row.status.as_str()
        );
    }
    o.push_str("</tbody>\n</table>\n");
}

/// The declared changes and what each explains.
fn declared(o: &mut String, c: &ComparisonView) {
    let rows = sections::expectation_rows(c);
    if rows.is_empty() {
        return;
    }
    o.push_str(
        "<h2>Declared changes</h2>\n<table id=\"declared\">\n<thead><tr><th>change</th>\
         <th>status</th><th>explains</th><th>reason</th></tr></thead>\n<tbody>\n",
    );
    for row in rows {
        let class = match row.status {
            crate::report::ExpectStatus::Met => "met",
            _ => "diff",
        };
        let _ = writeln!(
            o,
            "<tr class=\"{class}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&text::inert(&row.declared)),
            row.status.as_str(),
            esc(&row.explains),
            esc(&text::inert(row.reason))
        );
    }
    o.push_str("</tbody>\n</table>\n");
}

fn columns(o: &mut String, view: &ComparisonView) {
    let all = &view.findings.columns;
    if view.mode != Mode::Keyed || all.is_empty() {
        return;
    }
    let differing = all.iter().filter(|c| c.mismatches > 0).count();
    let _ = writeln!(
        o,
        "<h2>Columns</h2>\n<p>{differing} of {} compared columns differ.</p>",
        all.len()
    );
    o.push_str(
        "<table class=\"sortable\" id=\"columns\" data-name=\"columns\">\n<thead><tr>\
         <th>column</th><th>v1 type</th><th>v2 type</th><th class=\"n\">compared</th>\
         <th class=\"n\">mismatches</th><th class=\"n\">rate</th><th class=\"n\">max abs Δ</th>\
         <th class=\"n\">max rel Δ</th><th class=\"n\">value → NULL</th>\
         <th class=\"n\">NULL → value</th><th>change</th></tr></thead>\n<tbody>\n",
    );
    for c in all {
        // Sorted by data-v; an infinite difference sorts above every other.
        let num = |x: Option<f64>| match (x, text::max_diff(x, c.non_finite_diffs)) {
            (Some(_), Some(shown)) if c.non_finite_diffs > 0 => {
                format!("<td class=\"n\" data-v=\"1e308\">{shown}</td>")
            }
            (Some(v), Some(shown)) => format!("<td class=\"n\" data-v=\"{v}\">{shown}</td>"),
            _ => "<td class=\"n\" data-v=\"-1\"></td>".to_string(),
        };
        let _ = writeln!(
            o,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\" data-v=\"{}\">{}</td>\
             <td class=\"n\" data-v=\"{}\">{}</td>{}{}<td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            if c.mismatches > 0 {
                " class=\"diff\""
            } else {
                ""
            },
            name(&c.name),
            name(&c.v1_type),
            name(&c.v2_type),
            c.compared,
            c.mismatches,
            esc(&text::mismatches_cell(c)),
            c.mismatch_rate,
            esc(&percent(c.mismatch_rate)),
            num(c.max_abs_diff),
            num(c.max_rel_diff),
            c.value_to_null,
            c.null_to_value,
            esc(&text::patterns_phrase(c))
        );
    }
    o.push_str("</tbody>\n</table>\n");
}

/// Every column's profile, with its histogram (numbers, times) or its
/// most frequent values (text, booleans) drawn as inline SVG: v1's bars
/// grey, v2's blue.
fn profile(o: &mut String, c: &ComparisonView) {
    let rows = sections::profile_rows(c);
    if rows.is_empty() {
        return;
    }
    let differing = rows.iter().filter(|r| r.differs).count();
    let _ = writeln!(
        o,
        "<h2>Profile</h2>\n<p>{differing} of {} columns differ; {}.</p>",
        rows.len(),
        esc(sections::PROFILE_NOTE)
    );
    o.push_str(
        "<table id=\"profile\">\n<thead><tr><th>column</th><th>kind</th><th class=\"n\">NULLs</th>\
         <th class=\"n\">distinct</th><th class=\"n\">mean</th><th class=\"n\">median / top</th>\
         <th>drift</th><th>v1 | v2</th></tr></thead>\n<tbody>\n",
    );
    for r in &rows {
        let _ = writeln!(
            o,
            "<tr{}><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            if r.differs { " class=\"diff\"" } else { "" },
            name(r.column),
            r.kind,
            esc(&r.nulls),
            esc(&r.distinct),
            esc(&r.center),
            esc(&r.typical),
            esc(&r.drift),
            chart(r.profile)
        );
    }
    o.push_str("</tbody>\n</table>\n");
}

/// Width and height of a profile chart, in pixels.
const CHART: (f64, f64) = (240.0, 48.0);

/// A column's chart: the histogram's bins as paired bars, or the most
/// frequent values' shares; empty when there is neither.
fn chart(col: &crate::report::ColumnProfile) -> String {
    let (w, h) = CHART;
    let mut bars = String::new();
    let label;
    if let Some(hist) = &col.histogram {
        let share = |counts: &[u64]| -> Vec<f64> {
            let n: u64 = counts.iter().sum();
            counts
                .iter()
                .map(|c| if n == 0 { 0.0 } else { *c as f64 / n as f64 })
                .collect()
        };
        let (a, b) = (share(&hist.v1), share(&hist.v2));
        let top = a
            .iter()
            .chain(&b)
            .copied()
            .fold(0.0, f64::max)
            .max(f64::MIN_POSITIVE);
        let bins = a.len().max(b.len()).max(1);
        let step = w / bins as f64;
        for (j, (side, class)) in [(&a, "v1"), (&b, "v2")].into_iter().enumerate() {
            for (i, x) in side.iter().enumerate() {
                let bh = x / top * (h - 2.0);
                let _ = write!(
                    bars,
                    "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
                    i as f64 * step + j as f64 * step / 2.0,
                    h - bh,
                    step / 2.0,
                    bh
                );
            }
        }
        label = format!(
            "histogram of {} from {} to {}",
            text::name(&col.name),
            text::value(&hist.lo),
            text::value(&hist.hi)
        );
    } else {
        // The most frequent values of either side, v1's order first.
        let sides = [col.v1.as_ref(), col.v2.as_ref()];
        let mut values: Vec<&serde_json::Value> = Vec::new();
        for s in sides.iter().flatten() {
            for t in &s.top {
                if !values.contains(&&t.value) && values.len() < 6 {
                    values.push(&t.value);
                }
            }
        }
        if values.is_empty() {
            return String::new();
        }
        let row = h / values.len() as f64;
        for (i, v) in values.iter().enumerate() {
            for (j, s) in sides.iter().enumerate() {
                let Some(s) = s else { continue };
                let n = s.rows - s.nulls;
                let count = s.top.iter().find(|t| &t.value == *v).map_or(0, |t| t.count);
                let share = if n == 0 { 0.0 } else { count as f64 / n as f64 };
                let _ = write!(
                    bars,
                    "<rect class=\"v{}\" x=\"0\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {}</title></rect>",
                    j + 1,
                    i as f64 * row + j as f64 * row / 2.0,
                    share * w,
                    row / 2.0,
                    esc(&text::value(v)),
                    esc(&crate::report::percent(share))
                );
            }
        }
        label = format!("most frequent values of {}", text::name(&col.name));
    }
    format!(
        "<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"{}\"><title>{}</title>{bars}</svg>",
        esc(&label),
        esc(&label)
    )
}

fn samples(o: &mut String, c: &ComparisonView) {
    let changed = &c.findings.samples.changed;
    if !changed.is_empty() {
        let _ = writeln!(
            o,
            "<h2>Changed rows <span class=\"meta\">(first {}{})</span></h2>",
            changed.len(),
            sections::changed_order(c)
        );
        o.push_str(
            "<table class=\"sortable\" id=\"changed\" data-name=\"changed cells\">\n<thead><tr>\
             <th>key</th><th>column</th><th>v1</th><th>v2</th></tr></thead>\n<tbody>\n",
        );
        for cell in sections::changed_cells(changed) {
            let _ = writeln!(
                o,
                "<tr><td class=\"v\">{}</td><td>{}</td><td class=\"v old\">{}</td>\
                 <td class=\"v new\">{}</td></tr>",
                esc(&cell.key),
                if cell.expected {
                    format!(
                        "{} <span class=\"meta\">(declared)</span>",
                        name(cell.column)
                    )
                } else {
                    name(cell.column)
                },
                value(cell.v1),
                value(cell.v2)
            );
        }
        o.push_str("</tbody>\n</table>\n");
    }
    for ((title, list), id) in sections::one_side_lists(c)
        .into_iter()
        .zip(["only-v1", "only-v2"])
    {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "<h2>{title} <span class=\"meta\">(first {})</span></h2>",
            list.len()
        );
        let _ = writeln!(
            o,
            "<table class=\"sortable\" id=\"{id}\" data-name=\"{}\">\n<thead><tr><th>key</th>\
             <th>row</th></tr></thead>\n<tbody>",
            title.to_lowercase()
        );
        for sample in list {
            let (key, row) = sections::one_side(sample);
            let _ = writeln!(
                o,
                "<tr><td class=\"v\">{}</td><td class=\"v\">{}</td></tr>",
                esc(&key),
                esc(&row)
            );
        }
        o.push_str("</tbody>\n</table>\n");
    }
}

fn sql_diff(o: &mut String, c: &ComparisonView) {
    let Some(sql) = c.sql else {
        return;
    };
    o.push_str("<h2>SQL diff v1 → v2</h2>\n");
    if sql.v1 == sql.v2 {
        o.push_str("<p>The v1 and v2 SQL are identical.</p>\n");
        return;
    }
    let diff = TextDiff::from_lines(&sql.v1, &sql.v2);
    let _ = writeln!(
        o,
        "<p class=\"meta\"><code>{}</code> → <code>{}</code></p>",
        name(&sql.v1_path),
        name(&sql.v2_path)
    );
    o.push_str("<pre class=\"sqldiff\">");
    for group in diff.grouped_ops(3) {
        let (first, last) = (&group[0], &group[group.len() - 1]);
        let _ = write!(
            o,
            "<span class=\"hunk\">@@ -{},{} +{},{} @@</span>",
            first.old_range().start + 1,
            last.old_range().end - first.old_range().start,
            first.new_range().start + 1,
            last.new_range().end - first.new_range().start
        );
        for op in &group {
            for change in diff.iter_changes(op) {
                let (class, sign) = match change.tag() {
                    ChangeTag::Delete => ("del", '-'),
                    ChangeTag::Insert => ("add", '+'),
                    ChangeTag::Equal => ("", ' '),
                };
                let line = change.value().trim_end_matches(['\n', '\r']);
                let line: String = line
                    .split('\t')
                    .map(|part| text::inert(&text::clip(part, 4 * MAX_VALUE_CHARS)))
                    .collect::<Vec<_>>()
                    .join("\t");
                if class.is_empty() {
                    let _ = writeln!(o, "{sign}{}", esc(&line));
                } else {
                    let _ = write!(o, "<span class=\"{class}\">{sign}{}</span>", esc(&line));
                }
            }
        }
    }
    o.push_str("</pre>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_its_script() {
        let mut r: DiffReport = serde_json::from_str(
            include_str!("../../tests/it/snapshots/it__scenarios__refactor.json.snap")
                .split("---\n")
                .nth(2)
                .unwrap(),
        )
        .unwrap();
        r.comparison.description = Some("</script><script>alert(1)</script> & \u{2028}".into());
        let json = embedded_json(&r);
        assert!(!json.contains("</script"), "{json}");
        assert!(!json.contains('<') && !json.contains('&'));
        let back: DiffReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let html = render(&r);
        assert_eq!(html.matches("</script>").count(), 2, "only our own two");
        assert!(html.contains("&lt;&#x2F;script&gt;&lt;script&gt;alert(1)"));
    }
}
