//! Stage 6, render: turn a [`DiffReport`] into text for people or tools.
//! One module per format; each reads only the report model, never the
//! engine, so a saved JSON report renders exactly like a fresh one.

pub mod json;
pub mod terminal;

use crate::report::DiffReport;

/// Output formats for stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Terminal,
    Json,
}

pub fn render(report: &DiffReport, format: Format) -> String {
    match format {
        Format::Terminal => terminal::render(report),
        Format::Json => json::render(report),
    }
}
