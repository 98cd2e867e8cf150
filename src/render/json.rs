//! The JSON report: the versioned machine contract (see `report.rs`).
//! Pretty-printed with a trailing newline; keys keep the model's order, so
//! the same report always gives the same bytes.

use crate::report::DiffReport;

pub fn render(report: &DiffReport) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("the report model always serialises");
    s.push('\n');
    s
}

/// Parse a saved JSON report.
pub fn parse(text: &str) -> Result<DiffReport, serde_json::Error> {
    serde_json::from_str(text)
}
