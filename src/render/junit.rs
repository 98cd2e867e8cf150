//! JUnit XML: the gate as a test suite, so CI test reporters show it. One
//! test case per policy rule ([`crate::report::RuleCheck`]): failed when the
//! rule fired at block level, passed with its message on `system-out` when
//! it fired at review level, skipped when the policy ignores it.
//!
//! Written with quick-xml, which escapes markup in text and attributes.
//! Characters XML 1.0 cannot carry at all (control characters, U+FFFE,
//! U+FFFF) are shown as `\u{..}` escapes first; no timing attributes, so
//! the same report gives the same bytes.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::text;
use crate::report::{DiffReport, Outcome, RuleLevel};

/// Text XML 1.0 can carry: inert (no control characters) and without the
/// two non-characters it forbids.
fn xml_text(s: &str) -> String {
    text::inert(s)
        .replace('\u{FFFE}', "\\u{fffe}")
        .replace('\u{FFFF}', "\\u{ffff}")
}

pub fn render(r: &DiffReport) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write(&mut w, r).expect("writing XML to memory cannot fail");
    let mut out = String::from_utf8(w.into_inner()).expect("quick-xml writes UTF-8");
    out.push('\n');
    out
}

fn write(w: &mut Writer<Vec<u8>>, r: &DiffReport) -> std::io::Result<()> {
    let tests = r.rules.len().to_string();
    let failures = r
        .rules
        .iter()
        .filter(|c| c.outcome == Outcome::Block)
        .count()
        .to_string();
    let skipped = r
        .rules
        .iter()
        .filter(|c| c.level == RuleLevel::Ignore)
        .count()
        .to_string();
    let suite = xml_text(&format!(
        "diffgate {}: {} → {}",
        r.comparison.command.as_str(),
        text::clip(&r.comparison.v1, text::MAX_VALUE_CHARS),
        text::clip(&r.comparison.v2, text::MAX_VALUE_CHARS)
    ));
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("testsuites")
        .with_attribute(("name", "diffgate"))
        .with_attribute(("tests", tests.as_str()))
        .with_attribute(("failures", failures.as_str()))
        .with_attribute(("errors", "0"))
        .with_attribute(("skipped", skipped.as_str()))
        .write_inner_content(|w| {
            w.create_element("testsuite")
                .with_attribute(("name", suite.as_str()))
                .with_attribute(("tests", tests.as_str()))
                .with_attribute(("failures", failures.as_str()))
                .with_attribute(("errors", "0"))
                .with_attribute(("skipped", skipped.as_str()))
                .write_inner_content(|w| {
                    w.create_element("properties").write_inner_content(|w| {
                        w.create_element("property")
                            .with_attribute(("name", "verdict"))
                            .with_attribute(("value", r.verdict.as_str()))
                            .write_empty()?;
                        Ok(())
                    })?;
                    for check in &r.rules {
                        testcase(w, r, check)?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    Ok(())
}

fn testcase(
    w: &mut Writer<Vec<u8>>,
    r: &DiffReport,
    check: &crate::report::RuleCheck,
) -> std::io::Result<()> {
    let name = xml_text(check.rule.name());
    let messages: Vec<String> = r
        .reasons
        .iter()
        .filter(|reason| reason.rule == check.rule)
        .map(|reason| xml_text(&reason.message))
        .collect();
    let message = messages.join("; ");
    let case = w
        .create_element("testcase")
        .with_attribute(("classname", "diffgate.policy"))
        .with_attribute(("name", name.as_str()));
    match (check.level, check.outcome) {
        (_, Outcome::Block) => {
            case.write_inner_content(|w| {
                w.create_element("failure")
                    .with_attribute(("type", "block"))
                    .with_attribute(("message", message.as_str()))
                    .write_text_content(BytesText::new(&message))?;
                Ok(())
            })?;
        }
        (_, Outcome::Review) => {
            let out = format!("review: {message}");
            case.write_inner_content(|w| {
                w.create_element("system-out")
                    .write_text_content(BytesText::new(&out))?;
                Ok(())
            })?;
        }
        (RuleLevel::Ignore, Outcome::Pass) => {
            case.write_inner_content(|w| {
                w.create_element("skipped")
                    .with_attribute(("message", "the policy ignores this rule"))
                    .write_empty()?;
                Ok(())
            })?;
        }
        (_, Outcome::Pass) => {
            case.write_empty()?;
        }
    }
    Ok(())
}
