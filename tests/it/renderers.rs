//! Every renderer on every bundled scenario, through the real binary:
//! Markdown, HTML and JUnit snapshots (rendered by `diffgate report` from the
//! saved JSON, so they show that renderers read only the report model), the
//! JSON Schema contract, colour switches, and the escaping rules on a
//! fixture full of hostile values (`testdata/hostile`).

use crate::{checks, common};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::root;

fn diffgate(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = common::diffgate();
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("diffgate runs")
}

fn scenarios() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("diffgate.toml").is_file())
        .map(|p| format!("scenarios/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    names.sort();
    names
}

/// Run a scenario and save its JSON report with timings zeroed (the one
/// non-deterministic field), so re-rendered formats are byte-stable.
fn saved_report(scenario: &str, dir: &Path) -> PathBuf {
    let mut args = common::run_args(scenario);
    args.extend(["--format".to_string(), "json".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = diffgate(&args, &[]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{scenario}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["timings"] = serde_json::json!({
        "load_ms": 0, "run_v1_ms": 0, "run_v2_ms": 0, "compare_ms": 0, "total_ms": 0
    });
    let name = scenario.replace('/', "_");
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    path
}

fn render(report: &Path, format: &str) -> String {
    let out = diffgate(
        &["report", report.to_str().unwrap(), "--format", format],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn markdown_html_and_junit_snapshots_for_every_scenario() {
    let dir = tempfile::tempdir().unwrap();
    for scenario in scenarios() {
        if !common::snapshot_stable(&scenario) {
            continue;
        }
        let report = saved_report(&scenario, dir.path());
        let name = scenario.trim_start_matches("scenarios/");
        let md = render(&report, "markdown");
        assert!(md.chars().count() <= 60_000);
        insta::assert_snapshot!(format!("{name}.md"), md);
        insta::assert_snapshot!(format!("{name}.junit"), render(&report, "junit"));
        insta::assert_snapshot!(format!("{name}.html"), render(&report, "html"));
    }
}

#[test]
fn files_written_during_a_run_equal_the_re_rendered_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let out = diffgate(
        &[
            "run",
            "scenarios/filter_bug",
            "--json",
            &p("r.json"),
            "--markdown",
            &p("r.md"),
            "--html",
            &p("r.html"),
            "--junit",
            &p("r.xml"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let json = PathBuf::from(p("r.json"));
    for (file, format) in [("r.md", "markdown"), ("r.html", "html"), ("r.xml", "junit")] {
        let written = std::fs::read_to_string(p(file)).unwrap();
        assert_eq!(written, render(&json, format), "{file}");
    }
    // No temporary files are left beside the reports.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["r.html", "r.json", "r.md", "r.xml"]);
}

/// The committed JSON Schema is the one the report model generates, and
/// every produced report (all scenarios, the hostile fixture) validates.
#[test]
fn reports_validate_against_the_committed_json_schema() {
    let generated =
        serde_json::to_string_pretty(&schemars::schema_for!(diffgate::DiffReport)).unwrap() + "\n";
    let path = root().join("docs/report.schema.json");
    if std::env::var_os("DIFFGATE_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/report.schema.json is out of date with the report model; \
         regenerate it with DIFFGATE_UPDATE_SCHEMA=1 cargo test --test renderers"
    );
    let schema: Value = serde_json::from_str(&committed).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for scenario in scenarios()
        .into_iter()
        .chain(["testdata/hostile".to_string()])
    {
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(saved_report(&scenario, dir.path())).unwrap(),
        )
        .unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{scenario}: {errors:#?}");
        checked += 1;
    }
    assert!(checked >= 11);
    // And the schema rejects what is not a report.
    let mut bad: Value = serde_json::from_str(
        &std::fs::read_to_string(saved_report("scenarios/refactor", dir.path())).unwrap(),
    )
    .unwrap();
    bad["verdict"] = "ship-it".into();
    assert!(!validator.is_valid(&bad));
    bad["verdict"] = "block".into();
    assert!(validator.is_valid(&bad));
    bad["schema_version"] = 2.into();
    assert!(!validator.is_valid(&bad));
}

#[test]
fn colour_follows_the_flag_and_the_environment() {
    let has_ansi = |o: &Output| o.stdout.contains(&0x1b);
    let run = |extra: &[&str], envs: &[(&str, &str)]| {
        let mut args = vec!["run", "scenarios/filter_bug"];
        args.extend_from_slice(extra);
        diffgate(&args, envs)
    };
    // Not a terminal: no colour unless forced, and no progress on stderr.
    let plain = run(&[], &[]);
    assert!(!has_ansi(&plain));
    assert!(
        plain.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    assert!(has_ansi(&run(&["--color", "always"], &[])));
    assert!(has_ansi(&run(&[], &[("CLICOLOR_FORCE", "1")])));
    assert!(!has_ansi(&run(
        &[],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    )));
    assert!(!has_ansi(&run(
        &["--color", "never"],
        &[("CLICOLOR_FORCE", "1")]
    )));
    // Colour styles our own text; an escape sequence in the data stays inert.
    let out = diffgate(&["run", "testdata/hostile", "--color", "always"], &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\\u{1b}[31mred"), "{text}");
    assert!(!text.contains("\u{1b}[31mred"));
}

#[test]
fn verbose_lists_every_column() {
    let quiet = diffgate(&["run", "scenarios/filter_bug"], &[]);
    let verbose = diffgate(&["run", "scenarios/filter_bug", "--verbose"], &[]);
    let count = |o: &Output| String::from_utf8_lossy(&o.stdout).lines().count();
    assert!(count(&verbose) > count(&quiet));
}

// ---- hostile values -------------------------------------------------------

fn hostile_report(dir: &Path) -> PathBuf {
    let path = saved_report("testdata/hostile", dir);
    // Renderers read only the report: give it bad records, a hostile
    // dead-letter path and a hostile subset too, so those sections are
    // exercised.
    let mut report: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    report["dead_letter"] =
        "out/<img src=x onerror=alert(1)>|`@octocat`%0A::error::dl\u{202e}.ndjson".into();
    report["inputs"][0]["rows_dead_lettered"] = 1.into();
    report["inputs"][0]["rows_loaded"] =
        (report["inputs"][0]["rows_read"].as_u64().unwrap() - 1).into();
    // And a subset whose texts come from the (untrusted) config.
    let hostile = "</td><script>alert(1)</script>|`@octocat`\n::error::x\u{1b}[31m\u{202e}";
    report["subset"] =
        serde_json::json!({"env": hostile, "fraction": 0.5, "seed": 1, "as_of": hostile});
    report["inputs"][0]["subset"] = serde_json::json!({
        "where": [hostile], "sample_column": hostile, "rows_before": 2, "rows_after": 1
    });
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    path
}

#[test]
fn hostile_values_are_inert_in_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let md = render(&hostile_report(dir.path()), "markdown");
    // No HTML from the data: the only tags are our own.
    let allowed = ["<details>", "</details>", "<summary>", "</summary>"];
    let mut rest = md.clone();
    for tag in allowed {
        rest = rest.replace(tag, "");
    }
    // Outside code fences, no '<' survives.
    let lines = checks::outside_code_fences(&rest);
    // The cell separators of the table each row belongs to (its header's).
    let mut header = None;
    for (i, &line) in lines.iter().enumerate() {
        let cells = line.matches(" | ").count();
        if lines
            .get(i + 1)
            .is_some_and(|next| next.starts_with("|---"))
        {
            header = Some(cells);
        } else if line.starts_with("| ") && line.contains(" | ") {
            assert_eq!(Some(cells), header, "a value broke a table row: {line}");
        }
        assert!(!line.contains('<'), "raw '<' in {line:?}");
        assert!(
            !line.contains("@octocat") && !line.contains("@org/team"),
            "{line}"
        );
        assert!(!line.contains("@here"), "{line}");
        assert!(
            !line.contains('\u{1b}') && !line.contains('\u{202e}'),
            "{line:?}"
        );
    }
    // The values are still there, as text.
    assert!(md.contains("window.pwned=1"), "value shown escaped");
    assert!(md.contains("@\u{200B}octocat"));
    assert!(
        md.contains("(+"),
        "the long value is clipped with its count"
    );
}

#[test]
fn hostile_values_are_inert_in_html() {
    let dir = tempfile::tempdir().unwrap();
    let html = render(&hostile_report(dir.path()), "html");
    // Only our own three script elements' ends, no data tags.
    assert_eq!(html.matches("</script>").count(), 2);
    assert!(!html.contains("<img"), "no image tag from the data");
    assert!(!html.contains("<b>gone"));
    assert!(html.contains("&lt;&#x2F;script&gt;&lt;script&gt;window.pwned=1"));
    assert!(!html.contains('\u{1b}') && !html.contains('\u{202e}'));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network"
    );
}

#[test]
fn hostile_values_are_inert_in_junit_and_the_xml_is_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let path = hostile_report(dir.path());
    let report: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let xml = render(&path, "junit");
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures) = (0, 0);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                match e.name().as_ref() {
                    "testcase" => cases += 1,
                    "failure" => failures += 1,
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(e) => panic!("not well-formed XML: {e}\n{xml}"),
        }
    }
    let rules = report["rules"].as_array().unwrap().len();
    assert!(rules >= 14);
    assert_eq!(cases, rules, "one test case per rule checked");
    assert!(failures >= 1, "the blocked rule fails");
    assert!(!xml.contains("<img") && !xml.contains('\u{1b}'));
}

#[test]
fn hostile_values_are_inert_in_the_terminal() {
    let out = diffgate(&["run", "testdata/hostile"], &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    for bad in ['\u{1b}', '\u{202e}', '\u{7}', '\r'] {
        assert!(!text.contains(bad), "{bad:?} reached the terminal");
    }
    assert!(text.contains("line1\\u{a}::error::boom"));
    assert!(text.contains("(+"), "the long value is clipped");
}

// ---- GitHub Actions mode --------------------------------------------------

struct Gh {
    _dir: tempfile::TempDir,
    summary: PathBuf,
    output: PathBuf,
}

fn gh_files() -> Gh {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let output = dir.path().join("output.txt");
    std::fs::write(&summary, "earlier step\n").unwrap();
    Gh {
        _dir: dir,
        summary,
        output,
    }
}

fn gh_env(gh: &Gh) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_ACTIONS", "true".to_string()),
        ("GITHUB_STEP_SUMMARY", gh.summary.display().to_string()),
        ("GITHUB_OUTPUT", gh.output.display().to_string()),
    ]
}

/// Parse `$GITHUB_OUTPUT` as the runner does (`name<<DELIM` blocks).
fn parse_outputs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, delim) = line.split_once("<<").expect("name<<DELIM");
        let mut value = Vec::new();
        for l in lines.by_ref() {
            if l == delim {
                break;
            }
            value.push(l);
        }
        out.push((name.to_string(), value.join("\n")));
    }
    out
}

/// Workflow commands the runner would act on: lines outside a
/// stop-commands block that start with `::` after leading whitespace.
fn active_commands(log: &str) -> Vec<String> {
    let mut active = Vec::new();
    let mut stopped: Option<String> = None;
    for line in log.lines() {
        let t = line.trim_start();
        if let Some(token) = &stopped {
            if t == format!("::{token}::") {
                stopped = None;
            }
            continue;
        }
        if let Some(token) = t.strip_prefix("::stop-commands::") {
            stopped = Some(token.to_string());
            continue;
        }
        if t.starts_with("::") {
            active.push(t.to_string());
        }
    }
    assert!(stopped.is_none(), "commands were never resumed");
    active
}

#[test]
fn github_mode_writes_summary_outputs_annotations_and_groups() {
    let gh = gh_files();
    let env = gh_env(&gh);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = diffgate(
        &["run", "testdata/hostile", "--json", json.to_str().unwrap()],
        &env,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8(out.stdout).unwrap();
    let commands = active_commands(&log);
    let kinds = ["::group::", "::endgroup::", "::error ", "::warning "];
    for c in &commands {
        assert!(
            kinds.iter().any(|k| c.starts_with(k)),
            "unexpected command {c:?}"
        );
        assert!(
            !c.contains("::add-mask::") && !c.contains("::error::boom"),
            "{c}"
        );
    }
    let annotations = commands
        .iter()
        .filter(|c| c.starts_with("::error") || c.starts_with("::warning"))
        .count();
    assert!((1..=10).contains(&annotations), "{commands:#?}");
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("::error file=testdata/hostile/v2.sql,")),
        "{commands:#?}"
    );
    assert!(commands.iter().any(|c| c == "::group::diffgate: run v2"));
    assert_eq!(
        commands
            .iter()
            .filter(|c| c.starts_with("::group::"))
            .count(),
        commands.iter().filter(|c| *c == "::endgroup::").count()
    );

    // The step summary keeps earlier content and gets the Markdown report.
    let summary = std::fs::read_to_string(&gh.summary).unwrap();
    assert!(summary.starts_with("earlier step\n"));
    let md = render(&json, "markdown");
    assert!(summary.ends_with(&format!("{md}\n")));

    let outputs = parse_outputs(&std::fs::read_to_string(&gh.output).unwrap());
    let get = |k: &str| {
        outputs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("output {k} missing: {outputs:?}"))
    };
    assert_eq!(get("verdict"), "block");
    assert_eq!(get("report-json"), json.display().to_string());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(get("changed"), report["rows"]["changed"].to_string());
    assert_eq!(get("added"), report["rows"]["only_v2"].to_string());
    assert_eq!(get("dead-lettered"), "0");
    assert!(!outputs.iter().any(|(n, _)| n == "dead-letter"));

    // With bad input records: their count and the file, as outputs.
    let gh = gh_files();
    let env = gh_env(&gh);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let json = dir.path().join("bad.json");
    let out = diffgate(
        &[
            "run",
            "scenarios/bad_records",
            "--json",
            json.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0));
    let outputs = parse_outputs(&std::fs::read_to_string(&gh.output).unwrap());
    let get = |k: &str| outputs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("dead-lettered").as_deref(), Some("4"));
    let dead = dir.path().join("bad.dead-letter.ndjson");
    assert_eq!(get("dead-letter"), Some(dead.display().to_string()));
    assert_eq!(std::fs::read_to_string(&dead).unwrap().lines().count(), 4);
}

#[test]
fn github_mode_keeps_json_stdout_pure_and_is_off_by_flag() {
    let gh = gh_files();
    let env = gh_env(&gh);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = diffgate(&["run", "testdata/hostile", "--format", "json"], &env);
    let _: Value = serde_json::from_slice(&out.stdout).expect("stdout is only JSON");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("::group::diffgate: load inputs"), "{err}");
    assert!(
        active_commands(&err)
            .iter()
            .any(|c| c.starts_with("::error "))
    );

    let gh2 = gh_files();
    let env = gh_env(&gh2);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = diffgate(&["run", "scenarios/refactor", "--github", "never"], &env);
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("::"));
    assert_eq!(
        std::fs::read_to_string(&gh2.summary).unwrap(),
        "earlier step\n"
    );
    assert!(!gh2.output.exists());
}

#[test]
fn the_step_summary_stays_under_one_mebibyte() {
    let gh = gh_files();
    // Earlier steps have nearly filled the summary.
    let earlier = "x".repeat(1024 * 1024 - 2_000) + "\n";
    std::fs::write(&gh.summary, &earlier).unwrap();
    let env = gh_env(&gh);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = diffgate(&["run", "scenarios/weather_units"], &env);
    assert_eq!(out.status.code(), Some(1));
    let summary = std::fs::read_to_string(&gh.summary).unwrap();
    assert!(summary.len() <= 1024 * 1024, "{}", summary.len());
    assert!(summary.starts_with(&earlier));
    assert!(summary.ends_with("see the report files for this run.\n"));
}

#[test]
fn github_mode_turns_an_sql_error_into_an_annotation_at_its_position() {
    let out = diffgate(
        &["run", "testdata/bad/syntax_error", "--github", "always"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let log = String::from_utf8(out.stdout).unwrap();
    let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(
        errors[0].starts_with("::error file=testdata/bad/syntax_error/v2.sql,line="),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains(",col="), "{}", errors[0]);
}

#[test]
fn a_huge_report_is_cut_to_the_markdown_limit_and_says_so() {
    // A report with thousands of sampled rows of long values.
    let dir = tempfile::tempdir().unwrap();
    let mut report: Value =
        serde_json::from_str(&std::fs::read_to_string(hostile_report(dir.path())).unwrap())
            .unwrap();
    let row = report["samples"]["changed"][0].clone();
    report["samples"]["changed"] = Value::Array(vec![row; 5000]);
    let path = dir.path().join("huge.json");
    std::fs::write(&path, serde_json::to_string(&report).unwrap()).unwrap();
    let md = render(&path, "markdown");
    assert!(md.chars().count() <= 60_000, "{}", md.chars().count());
    assert!(
        md.contains("Cut to fit 60000 characters"),
        "{}",
        &md[md.len() - 500..]
    );
    assert!(md.contains("changed-row samples"));
    // The cut keeps the document well-formed: the details block is closed.
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );
}

/// On a terminal, stderr shows a spinner naming each stage, cleared at the
/// end. `script` (util-linux) gives the run a pseudo-terminal.
#[test]
fn a_terminal_shows_stage_progress_that_is_cleared_at_the_end() {
    let mut cmd = Command::new("script");
    cmd.current_dir(root()).args([
        "-qec",
        &format!(
            "{} run scenarios/weather_units --format json > /dev/null",
            env!("CARGO_BIN_EXE_diffgate")
        ),
        "/dev/null",
    ]);
    for var in ["GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("script (util-linux) runs");
    let tty = String::from_utf8_lossy(&out.stdout);
    // Redraws are rate-limited, so a fast stage may not be drawn; the first
    // one always is.
    let stages = ["load inputs", "run v1", "run v2", "align and compare"];
    assert!(tty.contains("diffgate: load inputs"), "{tty:?}");
    assert!(
        stages
            .iter()
            .filter(|s| tty.contains(&format!("diffgate: {s}")))
            .count()
            >= 2,
        "{tty:?}"
    );
    assert!(
        tty.trim_end().ends_with("\u{1b}[2K"),
        "cleared at the end: {tty:?}"
    );
}
