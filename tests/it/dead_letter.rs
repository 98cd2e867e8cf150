//! Bad input records, end to end through the real binary: each kind of bad
//! CSV and NDJSON record goes to the dead-letter file with its file, line,
//! error and original bytes; the report counts them per input; rows read =
//! rows loaded + rows dead-lettered, where "loaded" is what the engine then
//! counted; the policy reviews, then blocks above the threshold; `--strict`
//! stops at the first one; and clean inputs write no file at all.

use crate::{checks, common};

use std::path::Path;

use serde_json::Value;

use crate::common::input;

fn run(args: &[&str]) -> std::process::Output {
    common::diffgate()
        .args(args)
        .output()
        .expect("diffgate runs")
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `diffgate diff v1 v2 --key id --fail-on never`, its JSON report written
/// to `json`; the run must succeed. Returns the report.
fn diff_report(v1: &Path, v2: &Path, json: &Path) -> Value {
    let out = run(&[
        "diff",
        v1.to_str().unwrap(),
        v2.to_str().unwrap(),
        "--key",
        "id",
        "--json",
        json.to_str().unwrap(),
        "--fail-on",
        "never",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report(json)
}

fn dead_letters(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A clean CSV of `n` rows, as lines (header first).
fn clean_csv(n: u64) -> Vec<Vec<u8>> {
    let mut lines = vec![b"id,amount,name,flag,day".to_vec()];
    for i in 1..=n {
        lines.push(
            format!(
                "{i},{}.5,n{i},{},2026-01-{:02}",
                i % 97,
                i % 2 == 0,
                i % 28 + 1
            )
            .into_bytes(),
        );
    }
    lines
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    let mut bytes = lines.join(&b"\n"[..]);
    bytes.push(b'\n');
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn every_kind_of_bad_csv_record_is_dead_lettered_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (dir.path().join("v1.csv"), dir.path().join("v2.csv"));
    let good = clean_csv(1500);
    write_lines(&v2, &good);
    // v1: the same rows, six of them broken. Types are inferred from the
    // first 1,000 records, so the type errors sit after those.
    let mut lines = good.clone();
    let bad: Vec<(u64, Vec<u8>, &str)> = vec![
        (
            10,
            b"10,9.5,n10,false".to_vec(),
            "expected 5 fields, found 4",
        ),
        (
            20,
            b"20,20.5,n20,true,2026-01-21,extra".to_vec(),
            "expected 5 fields, found 6",
        ),
        (
            30,
            b"30,30.5,caf\xe9,true,2026-01-03".to_vec(),
            "field 3 is not valid UTF-8",
        ),
        (
            1200,
            b"1200,abc,n1200,true,2026-01-25".to_vec(),
            "column `amount`: \"abc\" is not a valid Float64",
        ),
        (
            1300,
            b"1300,39.5,n1300,maybe,2026-01-13".to_vec(),
            "column `flag`: \"maybe\" is not a valid Boolean",
        ),
        (
            1400,
            b"1400,42.5,n1400,true,2026-13-45".to_vec(),
            "column `day`: \"2026-13-45\" is not a valid Date32",
        ),
    ];
    for (id, line, _) in &bad {
        lines[*id as usize] = line.clone();
    }
    // A quoted value across two lines is not bad, in both versions; it
    // shifts the line numbers of everything after it by one.
    let multiline = b"50,50.5,\"two\nlines\",true,2026-01-23".to_vec();
    lines[50] = multiline.clone();
    let mut good2 = good.clone();
    good2[50] = multiline;
    write_lines(&v1, &lines);
    write_lines(&v2, &good2);

    let json = dir.path().join("out/report.json");
    let r = diff_report(&v1, &v2, &json);
    let i1 = input(&r, "v1");
    assert_eq!(i1["rows_read"], 1500);
    assert_eq!(i1["rows_dead_lettered"], 6);
    assert_eq!(i1["rows_loaded"], 1494);
    // "Loaded" is what the engine counted afterwards.
    assert_eq!(r["rows"]["v1"], 1494);
    assert_eq!(r["rows"]["only_v2"], 6);
    assert_eq!(r["rows"]["changed"], 0, "the multi-line value is intact");
    assert_eq!(input(&r, "v2")["rows_dead_lettered"], 0);
    assert_eq!(r["schema"]["changed"], serde_json::json!([]));

    // The dead-letter file sits beside the report.
    let dl = dir.path().join("out/report.dead-letter.ndjson");
    assert_eq!(r["dead_letter"], dl.to_str().unwrap());
    let entries = dead_letters(&dl);
    assert_eq!(entries.len(), 6);
    for ((id, raw, error), e) in bad.iter().zip(&entries) {
        assert_eq!(e["input"], "v1");
        assert_eq!(e["file"], v1.to_str().unwrap());
        // Header is line 1, row i is line i + 1, one more after row 50.
        let line = id + 1 + u64::from(*id > 50);
        assert_eq!(e["line"], line, "{e}");
        assert_eq!(e["error"], *error, "{e}");
        match std::str::from_utf8(raw) {
            Ok(text) => {
                assert_eq!(e["record"], text);
                assert!(e["record_hex"].is_null());
            }
            Err(_) => {
                let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(e["record_hex"], hex, "original bytes kept");
            }
        }
    }
    // 6 of 1,500 (0.4%) is under the 1% limit: review, not block.
    assert_eq!(r["verdict"], "review");
    let rules: Vec<&str> = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"dead_lettered_rows"), "{rules:?}");
    assert!(!rules.contains(&"max_dead_lettered_fraction"));
    // Only the two files: nothing temporary left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["report.dead-letter.ndjson", "report.json"]);
}

#[test]
fn bad_ndjson_records_are_dead_lettered_and_late_fields_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut good: Vec<Vec<u8>> = Vec::new();
    for i in 1..=1200u64 {
        // `note` is absent from the first 1,000 records (the inference
        // sample) and present later: its values must load, not vanish.
        let note = if i > 1000 {
            format!(",\"note\":\"late {i}\"")
        } else {
            String::new()
        };
        good.push(format!("{{\"id\":{i},\"amount\":{}.25{note}}}", i % 50).into_bytes());
    }
    let v2 = dir.path().join("v2.ndjson");
    write_lines(&v2, &good);
    let mut lines = good.clone();
    lines[4] = b"{\"id\":5,\"amount\":".to_vec(); // cut short
    lines[5] = b"[6, 1.25]".to_vec(); // not an object
    lines[6] = b"{\"id\":7,\"amount\":7.25,\"x\":\"\xff\"}".to_vec(); // not UTF-8
    lines[1099] = b"{\"id\":1100,\"amount\":\"lots\"}".to_vec(); // wrong type, late
    lines.insert(20, b"   ".to_vec()); // a blank line: not a record
    let v1 = dir.path().join("v1.ndjson");
    write_lines(&v1, &lines);

    let json = dir.path().join("r.json");
    let r = diff_report(&v1, &v2, &json);
    let i1 = input(&r, "v1");
    assert_eq!(i1["rows_read"], 1200);
    assert_eq!(i1["rows_dead_lettered"], 4);
    assert_eq!(r["rows"]["v1"], 1196);
    assert_eq!(r["rows"]["changed"], 0);
    let note = r["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "note")
        .expect("the late field is a column");
    assert_eq!(note["mismatches"], 0, "late values loaded in both versions");
    let entries = dead_letters(&dir.path().join("r.dead-letter.ndjson"));
    let got: Vec<(u64, &str)> = entries
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["error"].as_str().unwrap()))
        .collect();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].0, 5);
    assert!(got[0].1.starts_with("not valid JSON"), "{got:?}");
    assert_eq!(
        got[1],
        (6, "not a JSON object (each line holds one object)")
    );
    assert_eq!(got[2].0, 7);
    assert!(got[2].1.contains("UTF-8"), "{got:?}");
    // Line 1101: one blank line inserted before it.
    assert_eq!(got[3].0, 1101);
    assert!(got[3].1.contains("lots"), "{got:?}");
}

#[test]
fn strict_stops_at_the_first_bad_record_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("v1.csv");
    let mut lines = clean_csv(20);
    lines[7] = b"7,1.5".to_vec();
    lines[9] = b"9,2.5".to_vec();
    write_lines(&v1, &lines);
    let json = dir.path().join("r.json");
    let out = run(&[
        "diff",
        v1.to_str().unwrap(),
        v1.to_str().unwrap(),
        "--key",
        "id",
        "--strict",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("input `v1`")
            && stderr.contains("line 8: expected 5 fields, found 2")
            && stderr.contains("--strict"),
        "{stderr}"
    );
    assert!(!json.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the input is there");
    // --strict and --dead-letter contradict each other.
    let out = run(&[
        "diff",
        v1.to_str().unwrap(),
        v1.to_str().unwrap(),
        "--strict",
        "--dead-letter",
        "x.ndjson",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn many_bad_records_block_and_the_threshold_is_a_policy_key() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("v1.csv");
    let mut lines = clean_csv(100);
    for i in (5..=100).step_by(5) {
        lines[i] = format!("{i},oops").into_bytes();
    }
    write_lines(&v1, &lines);
    let dl = dir.path().join("dl.ndjson");
    let args = |extra: &'static [&'static str]| {
        let mut a = vec![
            "diff".to_string(),
            v1.to_str().unwrap().to_string(),
            v1.to_str().unwrap().to_string(),
            "--key".into(),
            "id".into(),
            "--format".into(),
            "json".into(),
            "--dead-letter".into(),
            dl.to_str().unwrap().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let out = common::diffgate().args(args(&[])).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "blocked: exit 1");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["verdict"], "block");
    assert_eq!(r["reasons"][0]["rule"], "max_dead_lettered_fraction");
    assert_eq!(r["reasons"][0]["observed"], 0.2);
    assert_eq!(dead_letters(&dl).len(), 40, "20 from each side");
    let out = common::diffgate()
        .args(args(&["--policy", "max_dead_lettered_fraction=0.5"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["verdict"], "review");
}

#[test]
fn clean_inputs_write_no_dead_letter_file() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("v1.csv");
    write_lines(&v1, &clean_csv(50));
    let json = dir.path().join("r.json");
    let out = run(&[
        "diff",
        v1.to_str().unwrap(),
        v1.to_str().unwrap(),
        "--key",
        "id",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let r = report(&json);
    assert!(r.get("dead_letter").is_none());
    assert_eq!(input(&r, "v1")["rows_read"], 50);
    assert!(!dir.path().join("r.dead-letter.ndjson").exists());
}

#[test]
fn the_invariant_holds_on_hand_made_edge_cases() {
    // CRLF endings, a final record without a newline, quoted delimiters,
    // a blank line, an unterminated quote at the end.
    for (bytes, read, dead) in [
        (&b"a,b\r\n1,x\r\n2,y\r\n"[..], 2, 0),
        (b"a,b\n1,x\n2,y", 2, 0),
        (b"a,b\n1,\"x,y\"\n2,\"q\"\"q\"\n", 2, 0),
        (b"a,b\n1,x\n\n2,y\n", 2, 0),
        (b"a,b\n1,x\n2,\"open\n", 2, 0),
        (b"a,b\n1,x\n2\n3,z,w\n", 3, 2),
    ] {
        let got = checks::load_text(bytes, "csv").expect("loads");
        assert_eq!(
            (got.rows_read, got.rows_dead_lettered),
            (read, dead),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    for (bytes, read, dead) in [
        (&b"{\"a\":1}\n{\"a\":2}\n"[..], 2, 0),
        (b"{\"a\":1}\n\n  \n{\"a\":2}", 2, 0),
        (b"{\"a\":1}{\"a\":2}\n{\"a\":3}\n", 2, 1),
        (b"{\"a\":1}\nnull\n\"s\"\n", 3, 2),
    ] {
        let got = checks::load_text(bytes, "ndjson").expect("loads");
        assert_eq!(
            (got.rows_read, got.rows_dead_lettered),
            (read, dead),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}
