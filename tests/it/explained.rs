//! How changed cells are explained (`columns[].patterns`), through the real
//! binary on a table large enough to be split between threads: the same
//! classes and counts at 1, 4 and 8 threads, in every format's columns table.

use crate::common;

#[test]
fn patterns_are_counted_the_same_at_every_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 30_000;
    let mut v1 = String::from("id,price,name\n");
    let mut v2 = String::from("id,price,name\n");
    for i in 0..n {
        let price = 1.0 + (i % 997) as f64 / 8.0;
        v1.push_str(&format!("{i},{price},Name {i}\n"));
        // A third scaled ×100, a third shifted by +0.25, every tenth name
        // upper-cased, the rest equal.
        let p2 = match i % 3 {
            0 => price * 100.0,
            1 => price + 0.25,
            _ => price,
        };
        let name = if i % 10 == 0 {
            format!("NAME {i}")
        } else {
            format!("Name {i}")
        };
        v2.push_str(&format!("{i},{p2},{name}\n"));
    }
    std::fs::write(d.join("v1.csv"), v1).unwrap();
    std::fs::write(d.join("v2.csv"), v2).unwrap();
    let mut seen = None;
    for threads in ["1", "4", "8"] {
        let md = d.join("report.md");
        let out = common::diffgate()
            .arg("diff")
            .arg(d.join("v1.csv"))
            .arg(d.join("v2.csv"))
            .args(["--key", "id", "--format", "json", "--fail-on", "never"])
            .args(["--threads", threads, "--markdown"])
            .arg(&md)
            .arg("--dead-letter")
            .arg(d.join("dead.ndjson"))
            .output()
            .unwrap();
        let report = common::ok_json(&out);
        let columns = report["columns"].clone();
        let price = columns
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "price")
            .unwrap();
        // 0.0 → 0.0 rows stay equal; every third row from 0 is ×100 unless
        // its price is such that ×100 is also +0.25 (never here).
        assert_eq!(
            price["patterns"],
            serde_json::json!([
                {"kind": "scale", "by": 100.0, "count": 10_000},
                {"kind": "offset", "by": 0.25, "count": 10_000},
            ]),
            "threads {threads}"
        );
        let name = columns
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "name")
            .unwrap();
        assert_eq!(
            name["patterns"],
            serde_json::json!([{"kind": "case_only", "count": 3_000}])
        );
        let text = std::fs::read_to_string(&md).unwrap();
        assert!(text.contains("| 10000 ×100, 10000 +0.25 |"), "{text}");
        assert!(text.contains("| all case only |"), "{text}");
        match &seen {
            None => seen = Some(columns),
            Some(s) => assert_eq!(s, &columns, "threads {threads}"),
        }
    }
}
