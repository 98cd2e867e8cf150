//! Canary subsets end to end on `scenarios/canary_subset`: the rows each
//! input keeps equal a plain computation over the CSV files (the key-hash
//! sample keeps the same customers in both inputs, so joins stay whole;
//! the date window keeps the last 30 days), and the report says so.

use crate::common;

use std::collections::BTreeSet;

use diffgate::load::subset::Sample;
use serde_json::Value;

use crate::common::input;

fn run(extra: &[&str]) -> Value {
    let out = common::diffgate()
        .args(["run", "scenarios/canary_subset", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    common::ok_json(&out)
}

/// Rows of a CSV as maps from header to text.
fn csv(path: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(common::root().join(path)).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn the_key_hash_sample_keeps_the_same_customers_in_every_input() {
    let customers = csv("testdata/shop/customers.csv");
    let orders = csv("testdata/shop/orders.csv");
    for (env, fraction) in [(None, 0.25), (Some("dev"), 0.1)] {
        let sample = Sample {
            column: "customer_id".into(),
            fraction,
            seed: 7,
        };
        let kept: BTreeSet<&str> = customers
            .iter()
            .map(|c| c["customer_id"].as_str())
            .filter(|id| sample.keeps(id.as_bytes()))
            .collect();
        // Every order of a kept customer, and no other.
        let kept_orders = orders
            .iter()
            .filter(|o| kept.contains(o["customer_id"].as_str()))
            .count();

        let args: Vec<&str> = env.map_or(vec![], |e| vec!["--env", e]);
        let r = run(&args);
        assert_eq!(r["subset"]["fraction"], fraction);
        assert_eq!(r["subset"]["seed"], 7);
        assert_eq!(r["subset"]["env"], env.map_or(Value::Null, Value::from));
        let c = &input(&r, "customers")["subset"];
        assert_eq!(c["rows_before"], 60);
        assert_eq!(c["rows_after"], kept.len() as u64);
        assert_eq!(c["sample_column"], "customer_id");
        let o = &input(&r, "orders")["subset"];
        assert_eq!(o["rows_before"], 600);
        assert_eq!(o["rows_after"], kept_orders as u64, "env {env:?}");
        assert_eq!(o["where"], serde_json::json!(["status <> 'test'"]));
        // The transform's output (one row per customer) is the sample.
        assert_eq!(r["rows"]["v1"], kept.len() as u64);
        assert!(kept.len() > 3 && kept.len() < 30, "{}", kept.len());
    }
}

#[test]
fn environments_filter_by_date_relative_to_as_of() {
    let orders = csv("testdata/shop/orders.csv");
    // `order_date > as_of - 30 days`: dates are ISO text, so they compare
    // as strings. 2026-03-31 - 30 days = 2026-03-01; 2026-02-15 - 30 days
    // = 2026-01-16.
    let after = |day: &str| {
        orders
            .iter()
            .filter(|o| o["order_date"].as_str() > day)
            .count() as u64
    };

    let r = run(&["--env", "staging"]);
    assert_eq!(r["subset"]["as_of"], "2026-03-31");
    assert!(r["subset"].get("fraction").is_none());
    let o = &input(&r, "orders")["subset"];
    assert_eq!(o["rows_after"], after("2026-03-01"));
    assert_eq!(
        o["where"][1],
        "order_date > DATE '2026-03-31' - INTERVAL '30' DAY"
    );
    // Customers are not sampled in staging: no subset entry.
    assert!(input(&r, "customers").get("subset").is_none());
    assert_eq!(r["rows"]["v1"], 60);

    let r = run(&["--env", "staging", "--as-of", "2026-02-15"]);
    assert_eq!(r["subset"]["as_of"], "2026-02-15");
    assert_eq!(
        input(&r, "orders")["subset"]["rows_after"],
        after("2026-01-16")
    );
    assert!(after("2026-01-16") != after("2026-03-01"));

    let r = run(&["--env", "prod"]);
    assert_eq!(input(&r, "orders")["subset"]["rows_after"], 600);
    assert_eq!(r["subset"], serde_json::json!({"env": "prod"}));
}

#[test]
fn every_format_states_the_subset() {
    let md = common::diffgate()
        .args([
            "run",
            "scenarios/canary_subset",
            "--env",
            "dev",
            "--format",
            "markdown",
        ])
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.contains("### Subset"), "{md}");
    assert!(
        md.contains("environment dev, key-hash sample of 10.0% (seed 7)"),
        "{md}"
    );
    let term = common::diffgate()
        .args(["run", "scenarios/canary_subset", "--env", "dev"])
        .output()
        .unwrap();
    let term = String::from_utf8(term.stdout).unwrap();
    assert!(
        term.contains("Subset") && term.contains("of 600 rows"),
        "{term}"
    );
}
