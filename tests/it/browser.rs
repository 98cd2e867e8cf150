//! The HTML report in a real headless Chromium (Debian `chromium`, driven by
//! playwright-core from `tests/browser/`): the verdict is visible, sorting
//! and filtering work, there are no console errors or network requests, the
//! page reads with JavaScript off, and hostile values show as text. A
//! screenshot is kept for CI artifacts.
//!
//! Needs node, Chromium and `npm ci --prefix tests/browser`; `.ci/run`
//! installs them and sets DIFFGATE_BROWSER_TESTS=require, so in CI a missing
//! browser fails the test instead of skipping it.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::root;

fn report(scenario: &str, html: &Path) {
    let out = common::diffgate()
        .args(["run", scenario, "--github", "never", "--html"])
        .arg(html)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn missing() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("no Chromium at {chromium}"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node".into());
    }
    if !root()
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        return Some("playwright-core not installed (npm ci --prefix tests/browser)".into());
    }
    None
}

#[test]
fn html_report_works_in_headless_chromium() {
    if let Some(why) = missing() {
        if std::env::var("DIFFGATE_BROWSER_TESTS").is_ok_and(|v| v == "require") {
            panic!("browser test required but {why}");
        }
        eprintln!("skipping the browser test: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("report.html");
    let hostile = dir.path().join("hostile.html");
    report("scenarios/weather_units", &main);
    report("testdata/hostile", &hostile);
    let artifacts = std::env::var_os("DIFFGATE_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("artifacts"));
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("html-report.png");
    let _ = std::fs::remove_file(&screenshot);
    let out = Command::new("node")
        .current_dir(root().join("tests/browser"))
        .arg("html_report.mjs")
        .arg(&main)
        .arg("block")
        .arg(&hostile)
        .arg(&screenshot)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "browser checks failed:\n{log}");
    assert!(!log.contains("not ok"), "{log}");
    assert_eq!(
        log.matches("\nok - ").count() + usize::from(log.starts_with("ok - ")),
        8,
        "{log}"
    );
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
    eprintln!("screenshot: {}", screenshot.display());
}
