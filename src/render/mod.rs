//! Stage 6, render: turn a [`DiffReport`] into text for people or tools.
//! One module per format (as hyperfine has one exporter per format); each
//! reads only the report model, never the engine, so a saved JSON report
//! renders exactly like a fresh one. [`text`] holds the value rules they
//! share, [`sections`] the content of the tables every human format shows
//! (each format writes the cells and escapes them its own way); [`github`]
//! speaks GitHub Actions' workflow-command language. A report is walked as
//! its comparisons ([`DiffReport::comparisons`]): one for a transform or
//! two tables, one per model of a folder.

pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod prometheus;
pub mod sections;
pub mod terminal;
pub mod text;

use crate::report::DiffReport;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text for a terminal or a CI log.
    Terminal,
    /// The versioned machine contract (see docs/report.schema.json).
    Json,
    /// GitHub-flavoured Markdown for PR comments and step summaries.
    Markdown,
    /// One self-contained HTML page.
    Html,
    /// JUnit XML: one test case per policy rule.
    Junit,
    /// Prometheus text exposition: the run's pillars and cost as gauges.
    Prometheus,
}

/// Presentation choices that do not change what a report says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// ANSI colour in terminal output.
    pub color: bool,
    /// Terminal: list every compared column, not only those that differ.
    pub verbose: bool,
}

pub fn render(report: &DiffReport, format: Format, opts: Options) -> String {
    match format {
        Format::Terminal => terminal::render(report, opts),
        Format::Json => json::render(report),
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report),
        Format::Junit => junit::render(report),
        Format::Prometheus => prometheus::render(report),
    }
}
