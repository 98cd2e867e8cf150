//! GitHub Actions' workflow-command language: annotations, log groups,
//! `stop-commands`, and the `$GITHUB_OUTPUT` file. Pure text; the binary
//! decides where it goes.
//!
//! Escaping follows the runner's rules: in a message `%`, CR and LF become
//! `%25`, `%0D`, `%0A`; in a property (`file=`, `title=`) `:` and `,` also
//! become `%3A`, `%2C`. Values are made inert first (no control characters
//! at all), so data can never end the command line and start another one.

use crate::report::{DiffReport, Level, Reason, Rule};

/// At most this many annotations per run (GitHub documents a limit of 10
/// errors and 10 warnings per step; this keeps all of them under it).
pub const MAX_ANNOTATIONS: usize = 10;

/// Escape a workflow-command message.
pub fn escape_data(s: &str) -> String {
    super::text::inert(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a workflow-command property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation: `::error` or `::warning`, optionally at a file position.
pub fn annotation(
    level: Level,
    file: Option<&str>,
    position: Option<(u64, u64)>,
    title: &str,
    message: &str,
) -> String {
    let command = match level {
        Level::Block => "error",
        Level::Review => "warning",
    };
    let mut props = Vec::new();
    if let Some(file) = file {
        props.push(format!("file={}", escape_property(file)));
        if let Some((line, col)) = position {
            props.push(format!("line={line}"));
            props.push(format!("col={col}"));
        }
    }
    props.push(format!("title={}", escape_property(title)));
    format!("::{command} {}::{}", props.join(","), escape_data(message))
}

/// The annotations for a report: one per reason (block first, as reasons
/// are ordered), pointing at the v2 SQL file when there is one (a model's
/// own file, at the line a v2 failure names), at most [`MAX_ANNOTATIONS`];
/// when more reasons exist the last one says so.
pub fn annotations(r: &DiffReport) -> Vec<String> {
    let file = r.comparison.sql.as_ref().map(|s| s.v2_path.as_str());
    let mut out: Vec<String> = r
        .reasons
        .iter()
        .map(|reason| {
            let (file, position) = match r.models.is_empty() {
                true => (file, None),
                false => model_place(r, reason),
            };
            annotation(
                reason.level,
                file,
                position,
                &format!("diffgate {}: {}", reason.level.verdict(), reason.rule),
                &reason.message,
            )
        })
        .collect();
    if out.len() > MAX_ANNOTATIONS {
        let more = out.len() - (MAX_ANNOTATIONS - 1);
        out.truncate(MAX_ANNOTATIONS - 1);
        let level = r.reasons[MAX_ANNOTATIONS - 1..]
            .iter()
            .map(|x| x.level)
            .max()
            .unwrap_or(Level::Review);
        out.push(annotation(
            level,
            file,
            None,
            "diffgate",
            &format!("{more} more reason(s); see the step summary or the report"),
        ));
    }
    out
}

/// The file (and line) of the model a run-level reason is about: its v2
/// file, at the place its v2 failure names.
fn model_place<'a>(r: &'a DiffReport, reason: &Reason) -> (Option<&'a str>, Option<(u64, u64)>) {
    for m in &r.models {
        let Some(rest) = reason
            .message
            .strip_prefix(&format!("model `{}`: ", m.name))
        else {
            continue;
        };
        if !m
            .reasons
            .iter()
            .any(|x| x.rule == reason.rule && x.message == rest)
        {
            continue;
        }
        let position = match reason.rule {
            Rule::ModelFailedV2 => m
                .failures
                .iter()
                .find(|f| f.version == "v2")
                .and_then(|f| Some((f.line?, f.column.unwrap_or(1)))),
            _ => None,
        };
        return (Some(m.sql.v2_path.as_str()), position);
    }
    (None, None)
}

pub fn group(title: &str) -> String {
    format!("::group::{}", escape_data(title))
}

pub fn endgroup() -> &'static str {
    "::endgroup::"
}

/// Stop the runner from reading commands until `::{token}::` is printed.
pub fn stop_commands(token: &str) -> String {
    format!("::stop-commands::{token}")
}

pub fn resume_commands(token: &str) -> String {
    format!("::{token}::")
}

/// A random token: for `stop-commands` and `$GITHUB_OUTPUT` delimiters,
/// which must not be guessable from the data.
pub fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut parts = [0u64; 2];
    for (i, part) in parts.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        *part = h.finish();
    }
    format!("diffgate_{:016x}{:016x}", parts[0], parts[1])
}

/// Step outputs in the `$GITHUB_OUTPUT` multi-line form `name<<DELIM`,
/// which carries any value safely as long as DELIM is not in it.
pub fn outputs(pairs: &[(&str, String)], delimiter: &str) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        // A value holding the delimiter could end its block early and set
        // another output; drop such a value rather than write it.
        let value = if value.contains(delimiter) {
            String::new()
        } else {
            value.replace(['\r', '\n'], " ")
        };
        out.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    out
}

/// The outputs diffgate sets: verdict, row counts, and the report files
/// that were written.
pub fn output_pairs(r: &DiffReport, files: &[(&str, String)]) -> Vec<(&'static str, String)> {
    let rows = &r.findings.rows;
    let mut pairs = vec![
        ("verdict", r.verdict.as_str().to_string()),
        ("rows-v1", rows.v1.to_string()),
        ("rows-v2", rows.v2.to_string()),
        ("changed", rows.changed.unwrap_or(0).to_string()),
        ("removed", rows.only_v1.to_string()),
        ("added", rows.only_v2.to_string()),
        ("reasons", r.reasons.len().to_string()),
        (
            "dead-lettered",
            r.inputs
                .iter()
                .map(|i| i.rows_dead_lettered)
                .sum::<u64>()
                .to_string(),
        ),
    ];
    if let Some(path) = &r.dead_letter {
        pairs.push(("dead-letter", path.clone()));
    }
    for (name, path) in files {
        let key = match *name {
            "json" => "report-json",
            "html" => "report-html",
            "markdown" => "summary-md",
            "junit" => "report-junit",
            _ => continue,
        };
        pairs.push((key, path.clone()));
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_start_a_command() {
        let msg = escape_data("a%0A::error::boom\n::add-mask::x\r%");
        assert!(!msg.contains('\n') && !msg.contains('\r'));
        assert_eq!(
            msg, "a%250A::error::boom\\u{a}::add-mask::x\\u{d}%25",
            "percent first, then no raw line breaks"
        );
        let prop = escape_property("models/a,b:c.sql");
        assert_eq!(prop, "models/a%2Cb%3Ac.sql");
        let a = annotation(
            Level::Block,
            Some("x.sql"),
            Some((3, 7)),
            "t",
            "m\n::error::y",
        );
        assert_eq!(
            a,
            "::error file=x.sql,line=3,col=7,title=t::m\\u{a}::error::y"
        );
        assert_eq!(a.lines().count(), 1);
    }

    #[test]
    fn at_most_ten_annotations_and_the_last_says_how_many_more() {
        let snap = include_str!("../../tests/it/snapshots/it__scenarios__filter_bug.json.snap");
        let mut r: DiffReport = serde_json::from_str(snap.split("---\n").nth(2).unwrap()).unwrap();
        let reason = r.reasons[0].clone();
        r.reasons = (0..14)
            .map(|i| crate::report::Reason {
                rule: crate::rules::Rule::ALL[i],
                level: if i == 12 { Level::Block } else { Level::Review },
                ..reason.clone()
            })
            .collect();
        let lines = annotations(&r);
        assert_eq!(lines.len(), MAX_ANNOTATIONS);
        assert!(lines[..9].iter().all(|l| l.starts_with("::warning ")));
        // Reasons 10..14 are folded into one, at the worst level among them.
        assert!(lines[9].starts_with("::error "), "{}", lines[9]);
        assert!(lines[9].ends_with("::5 more reason(s); see the step summary or the report"));
    }

    #[test]
    fn outputs_use_a_delimiter_the_value_cannot_hold() {
        let d = random_token();
        assert_ne!(d, random_token(), "tokens differ between calls");
        let text = outputs(
            &[
                ("verdict", "block".into()),
                ("evil", format!("x\n{d}\nverdict<<{d}\npromote")),
            ],
            &d,
        );
        assert_eq!(text.matches(&format!("\n{d}\n")).count(), 2, "{text}");
        assert!(text.starts_with(&format!("verdict<<{d}\nblock\n{d}\n")));
    }
}
