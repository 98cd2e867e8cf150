//! The JSON report: the versioned machine contract (see `report.rs`).
//! Pretty-printed with a trailing newline; keys keep the model's order, so
//! the same report always gives the same bytes.

use crate::report::DiffReport;

pub fn render(report: &DiffReport) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("the report model always serialises");
    s.push('\n');
    s
}

/// Parse a saved JSON report of this schema version.
pub fn parse(text: &str) -> Result<DiffReport, serde_json::Error> {
    let report: DiffReport = serde_json::from_str(text)?;
    if report.schema_version != crate::report::SCHEMA_VERSION {
        return Err(serde::de::Error::custom(format!(
            "schema_version {} is not supported (this diffgate reads {})",
            report.schema_version,
            crate::report::SCHEMA_VERSION
        )));
    }
    Ok(report)
}
