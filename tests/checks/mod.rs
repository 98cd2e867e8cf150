//! Invariants checked on arbitrary input, shared by the property tests, the
//! fuzz-corpus replay test (`tests/it/fuzz_corpus.rs`) and the cargo-fuzz
//! targets (`fuzz/fuzz_targets/`), so a fuzzer finding and its regression
//! test run the very same code. Each function panics when an invariant
//! breaks; an input diffgate rejects with an error is fine.
#![allow(dead_code, reason = "each fuzz target uses a part of these checks")]

use std::collections::BTreeSet;

use diffgate::datafusion::arrow::array::{Array, Int64Array};
use diffgate::engine::{self, EngineOptions};
use diffgate::load::{self, DeadLetter, InputSource};
use diffgate::report::DiffReport;

/// What loading a text file gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_dead_lettered: u64,
}

/// Load `bytes` as a CSV (`ext` "csv") or NDJSON ("ndjson") input and check:
/// the engine scans every loaded row without error, counts exactly
/// `rows_read - rows_dead_lettered` of them, the dead-letter file holds one
/// line per dead-lettered record, and each of those records is, byte for
/// byte, part of the original file. `None` when diffgate rejects the file
/// with an error.
pub fn load_text(bytes: &[u8], ext: &str) -> Option<Loaded> {
    load_typed(bytes, ext, &[])
}

/// [`load_text`] with declared column types (`types` in the config).
pub fn load_typed(bytes: &[u8], ext: &str, types: &[(&str, &str)]) -> Option<Loaded> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("input.{ext}"));
    std::fs::write(&file, bytes).unwrap();
    let dead_path = dir.path().join("out/dead.ndjson");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ctx = engine::session(&EngineOptions {
            threads: Some(2),
            ..Default::default()
        })
        .unwrap();
        let scratch = diffgate::scratch::Scratch::new(None, true).unwrap();
        let mut source = InputSource::new("t", &file);
        source.types = types
            .iter()
            .map(|(c, t)| (c.to_string(), load::parse_declared_type(t).unwrap()))
            .collect();
        let mut dead = DeadLetter::new(&dead_path, false);
        let loaded = match load::register(
            &ctx,
            &source,
            &scratch,
            &mut dead,
            false,
            &load::Remote::default(),
        )
        .await
        {
            Ok(l) => l,
            Err(e) => {
                // A clear error, naming the input; nothing written.
                let msg = e.to_string();
                assert!(msg.contains("input `t`"), "error names the input: {msg}");
                drop(dead);
                assert!(!dead_path.exists(), "no dead-letter file after an error");
                return None;
            }
        };
        let rows_read = loaded.rows_read.expect("text inputs count their records");
        let dead_rows = loaded.rows_dead_lettered;
        assert!(dead_rows <= rows_read);
        assert_eq!(dead.rows(), dead_rows);

        // Every loaded row decodes: a full scan succeeds and counts them.
        let batches = ctx
            .sql("SELECT count(*) FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("a screened input must scan without error: {e}"));
        let count = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0) as u64;
        let full = ctx.sql("SELECT * FROM t").await.unwrap().collect().await;
        if let Err(e) = full {
            panic!("a screened input must decode every value: {e}");
        }
        assert_eq!(
            count,
            rows_read - dead_rows,
            "rows read = rows loaded + rows dead-lettered"
        );

        // The dead-letter file: one line per record, each record's bytes
        // found in the original.
        let written = dead.finish().unwrap();
        assert_eq!(written.is_some(), dead_rows > 0);
        if let Some(path) = written {
            let text = std::fs::read_to_string(path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len() as u64, dead_rows);
            for line in lines {
                let entry: serde_json::Value = serde_json::from_str(line).unwrap();
                for field in ["input", "file", "line", "error", "record"] {
                    assert!(!entry[field].is_null(), "entry has {field}: {line}");
                }
                let raw = match entry["record_hex"].as_str() {
                    Some(h) => unhex(h),
                    None => entry["record"].as_str().unwrap().as_bytes().to_vec(),
                };
                assert!(
                    contains(bytes, &raw),
                    "dead-lettered record is part of the original: {line}"
                );
            }
        }
        Some(Loaded {
            rows_read,
            rows_loaded: count,
            rows_dead_lettered: dead_rows,
        })
    })
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Parse arbitrary text as a scenario config and resolve its inputs in
/// every environment: an error is fine, a panic is not.
pub fn config(text: &str) {
    if let Ok(scenario) = diffgate::config::parse(text) {
        let loaded = diffgate::config::LoadedScenario {
            dir: ".".into(),
            config_path: "fuzz/diffgate.toml".into(),
            scenario,
        };
        let _ = loaded.inputs(None, None);
        let _ = loaded.inputs(None, Some("2026-02-29"));
        for env in loaded.scenario.env.keys() {
            let _ = loaded.inputs(Some(env), None);
        }
    }
}

/// A real report (weather_units: changes, samples, SQL), the base the
/// renderer checks put hostile text into.
pub fn base_report() -> DiffReport {
    static BASE: std::sync::OnceLock<DiffReport> = std::sync::OnceLock::new();
    BASE.get_or_init(|| serde_json::from_str(include_str!("report.json")).unwrap())
        .clone()
}

/// Put pieces of `data` everywhere a report carries text from data or
/// config: description, reasons, column names, sample values, SQL, input
/// names, dead-letter path.
pub fn hostile_report(data: &[u8]) -> DiffReport {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{0}').map(str::to_string);
    let mut next = || parts.next().unwrap_or_default();
    let mut r = base_report();
    r.comparison.description = Some(next());
    if let Some(reason) = r.reasons.first_mut() {
        reason.message = next();
    }
    if let Some(col) = r.findings.columns.first_mut() {
        col.name = next();
    }
    if let Some(row) = r.findings.samples.changed.first_mut()
        && let Some(cell) = row.cells.first_mut()
    {
        cell.column = next();
        cell.v1 = next().into();
        cell.v2 = next().into();
    }
    if let Some(sql) = r.comparison.sql.as_mut() {
        sql.v2 = next();
    }
    r.comparison.v2 = next();
    r.dead_letter = Some(next());
    if let Some(input) = r.inputs.first_mut() {
        input.name = next();
        input.rows_dead_lettered = 1;
        input.subset = Some(diffgate::report::InputSubset {
            where_: vec![next()],
            sample_column: Some(next()),
            rows_before: 2,
            rows_after: 1,
        });
    }
    r.subset = Some(diffgate::report::SubsetInfo {
        env: Some(next()),
        fraction: Some(0.5),
        seed: Some(1),
        as_of: Some(next()),
    });
    r
}

fn has_hazard(s: &str) -> Option<char> {
    s.chars().find(|&c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
    })
}

/// The lines of a Markdown text outside fenced code blocks (where GitHub
/// renders text as Markdown, so HTML and mentions would be live). Every
/// fence must be closed.
pub fn outside_code_fences(md: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut in_fence: Option<String> = None;
    for line in md.lines() {
        let trimmed = line.trim_start();
        if let Some(fence) = &in_fence {
            if trimmed == fence {
                in_fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") {
            let n = trimmed.chars().take_while(|c| *c == '`').count();
            in_fence = Some("`".repeat(n));
            continue;
        }
        lines.push(line);
    }
    assert!(in_fence.is_none(), "a code fence was left open");
    lines
}

/// The Markdown report of a hostile report stays within GitHub's size
/// limit, holds no HTML but our own tags, no @mention and no raw control or
/// bidi characters.
pub fn markdown(data: &[u8]) {
    let md = diffgate::render::markdown::render(&hostile_report(data));
    assert!(md.chars().count() <= diffgate::render::markdown::LIMIT);
    if let Some(c) = has_hazard(&md) {
        panic!("raw {:?} in Markdown", c);
    }
    for line in outside_code_fences(&md) {
        let mut rest = line.to_string();
        for tag in ["<details>", "</details>", "<summary>", "</summary>"] {
            rest = rest.replace(tag, "");
        }
        assert!(!rest.contains('<'), "HTML from data in Markdown: {line}");
        let bytes = rest.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'@' {
                let after = bytes.get(i + 1).copied().unwrap_or(b' ');
                assert!(!after.is_ascii_alphanumeric(), "a live @mention: {line}");
            }
        }
    }
}

/// Tag names in an HTML document, in order.
fn tags(html: &str) -> Vec<String> {
    html.split('<')
        .skip(1)
        .map(|t| {
            t.trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
                .collect::<String>()
                .to_ascii_lowercase()
        })
        .collect()
}

/// The HTML report of a hostile report has no element the base report does
/// not have, exactly its two scripts, no raw control characters, and its
/// embedded JSON is the report itself.
pub fn html(data: &[u8]) {
    let report = hostile_report(data);
    let html = diffgate::render::html::render(&report);
    if let Some(c) = has_hazard(&html) {
        panic!("raw {:?} in HTML", c);
    }
    let known: BTreeSet<String> = tags(&diffgate::render::html::render(&base_report()))
        .into_iter()
        .chain(
            // Elements that appear only with some content.
            ["del", "ins", "strong", "em", "br"].map(String::from),
        )
        .collect();
    for tag in tags(&html) {
        assert!(known.contains(&tag), "element <{tag}> from data");
    }
    assert_eq!(
        html.matches("<script").count(),
        2,
        "exactly our two scripts"
    );
    let start = html
        .find("id=\"diffgate-report\">")
        .expect("embedded report")
        + "id=\"diffgate-report\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let embedded: DiffReport = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(embedded, report, "the embedded JSON is the report");
}

/// The fuzz targets by name: what `fuzz/fuzz_targets/<name>.rs` runs on each
/// input, and what the corpus replay test runs on each committed input.
pub const TARGETS: [&str; 5] = ["config", "load_csv", "load_ndjson", "markdown", "html"];

pub fn run(target: &str, data: &[u8]) {
    match target {
        "config" => {
            if let Ok(text) = std::str::from_utf8(data) {
                config(text);
            }
        }
        "load_csv" => {
            load_typed(data, "csv", &[("a", "int64"), ("b", "float64")]);
            load_text(data, "csv");
        }
        "load_ndjson" => {
            load_typed(data, "ndjson", &[("a", "int64")]);
            load_text(data, "ndjson");
        }
        "markdown" => markdown(data),
        "html" => html(data),
        other => panic!("no fuzz target {other}"),
    }
}
