//! `diffgate init` on each kind of folder, through the real binary: what
//! the draft finds (inputs matched to files, keys declared by a dbt
//! project or guessed from the data) and that the file it writes runs, with
//! the verdict the same change gets from its hand-written scenario.

use std::path::Path;
use std::process::Output;

use crate::common::{self, copy_into, git, root};

fn init(dir: &Path, args: &[&str]) -> Output {
    common::diffgate()
        .arg("init")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// The draft `init` wrote into `dir`.
fn written(dir: &Path) -> String {
    let out = init(dir, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(dir.join("diffgate.toml")).unwrap()
}

/// `run` on `dir` with `extra` flags: the JSON report's verdict.
fn verdict(dir: &Path, extra: &[&str]) -> String {
    let dead = dir.join("dead.ndjson");
    let out = common::diffgate()
        .arg("run")
        .arg(dir)
        .args(["--format", "json", "--fail-on", "never", "--dead-letter"])
        .arg(&dead)
        .args(extra)
        .output()
        .unwrap();
    let report = common::ok_json(&out);
    report["verdict"].as_str().unwrap().to_string()
}

#[test]
fn a_pair_of_files_gets_its_input_and_a_guessed_key_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = root().join("scenarios/rounding_change");
    std::fs::copy(s.join("v1.sql"), d.join("before.sql")).unwrap();
    std::fs::copy(s.join("v2.sql"), d.join("after.sql")).unwrap();
    std::fs::create_dir(d.join("data")).unwrap();
    std::fs::copy(
        root().join("testdata/shop/orders.csv"),
        d.join("data/orders.csv"),
    )
    .unwrap();
    let text = written(d);
    assert!(text.contains("orders = \"data/orders.csv\"\n"), "{text}");
    assert!(
        text.contains("v1 = \"before.sql\"\nv2 = \"after.sql\"\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "# A guess from all 600 rows of v2's output, where it is unique and never NULL.\nkey = \"order_id\"\n"
        ),
        "{text}"
    );
    // The scenario written by hand says review; so does the draft.
    assert_eq!(verdict(d, &[]), "review");

    // A second init does not overwrite it; --stdout prints the same draft.
    let again = init(d, &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists: --force replaces it"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let printed = init(d, &["--stdout"]);
    assert_eq!(String::from_utf8_lossy(&printed.stdout), text);
}

#[test]
fn model_folders_get_inputs_from_another_folder_and_a_key_per_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_into(&root().join("scenarios/dbt_models/v1"), &d.join("v1"));
    copy_into(&root().join("scenarios/dbt_models/v2"), &d.join("v2"));
    let shop = root().join("testdata/shop");
    let out = init(d, &["--data", shop.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(d.join("diffgate.toml")).unwrap();
    assert!(
        text.contains("v1 = \"v1/models\"\nv2 = \"v2/models\"\n"),
        "{text}"
    );
    // Paths relative to the folder the file is in.
    let orders = format!(
        "orders = \"{}/orders.csv\"",
        relative_to(&shop, &std::fs::canonicalize(d).unwrap())
    );
    assert!(text.contains(&orders), "{orders} in {text}");
    for (model, key) in [
        ("stg_orders", "order_id"),
        ("stg_customers", "customer_id"),
        ("customer_revenue", "customer_id"),
        ("country_revenue", "country"),
    ] {
        let want = format!("[models.{model}]\n");
        let at = text
            .find(&want)
            .unwrap_or_else(|| panic!("{want} in {text}"));
        let key_line = format!("key = \"{key}\"\n");
        let next = text[at..].find(&key_line).unwrap();
        assert!(
            !text[at + want.len()..at + next].contains("[models."),
            "{model}: {key_line} in {text}"
        );
    }
    // The hand-written scenario of the same change says block.
    assert_eq!(verdict(d, &[]), "block");
}

/// `to` relative to `from`, both absolute (what the draft writes).
fn relative_to(to: &Path, from: &Path) -> String {
    let to = std::fs::canonicalize(to).unwrap();
    let (t, f): (Vec<_>, Vec<_>) = (to.components().collect(), from.components().collect());
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

#[test]
fn one_model_folder_reads_v1_from_git() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    std::fs::create_dir(d.join("models")).unwrap();
    std::fs::write(
        d.join("models/order_totals.sql"),
        "SELECT customer_id, count(*) AS orders, sum(quantity * unit_price) AS amount FROM {{ source('shop', 'orders') }} GROUP BY customer_id\n",
    )
    .unwrap();
    std::fs::write(
        d.join("models/big_customers.sql"),
        "SELECT customer_id FROM {{ ref('order_totals') }} WHERE orders > 5\n",
    )
    .unwrap();
    std::fs::copy(
        root().join("testdata/shop/orders.csv"),
        d.join("orders.csv"),
    )
    .unwrap();
    let text = written(d);
    assert!(text.contains("path = \"models\"\n"), "{text}");
    assert!(text.contains("orders = \"orders.csv\"\n"), "{text}");
    assert!(
        text.contains("[models.order_totals]\n# A guess from all 58 rows of v2's output, where it is unique and never NULL.\nkey = \"customer_id\"\n"),
        "{text}"
    );
    git(d, &["add", "."]);
    git(d, &["commit", "-q", "-m", "models"]);
    // Nothing changed since the commit: nothing to compare, promote.
    assert_eq!(verdict(d, &["--base", "HEAD"]), "promote");
    // A change after it is compared on the guessed key.
    std::fs::write(
        d.join("models/order_totals.sql"),
        "SELECT customer_id, count(*) AS orders, sum(quantity * unit_price) * 2 AS amount FROM {{ source('shop', 'orders') }} GROUP BY customer_id\n",
    )
    .unwrap();
    assert_eq!(verdict(d, &["--base", "HEAD"]), "block");
}

#[test]
fn a_dbt_project_gets_its_sources_files_and_its_tests_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    std::fs::write(
        d.join("dbt_project.yml"),
        "name: shop\nversion: '1.0'\nprofile: shop\nmodel-paths: ['models']\n",
    )
    .unwrap();
    std::fs::create_dir_all(d.join("models")).unwrap();
    std::fs::create_dir_all(d.join("raw")).unwrap();
    std::fs::write(
        d.join("models/schema.yml"),
        "version: 2\nsources:\n  - name: shop\n    tables:\n      - name: orders\n      - name: refunds\nmodels:\n  - name: stg_orders\n    columns:\n      - name: order_id\n        tests: [unique, not_null]\n",
    )
    .unwrap();
    std::fs::write(
        d.join("models/stg_orders.sql"),
        "select order_id, customer_id, quantity * unit_price as amount from {{ source('shop', 'orders') }}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("models/customer_totals.sql"),
        "select customer_id, sum(amount) as amount from {{ ref('stg_orders') }} group by 1\n",
    )
    .unwrap();
    std::fs::write(
        d.join("models/refunds.sql"),
        "select * from {{ source('shop', 'refunds') }}\n",
    )
    .unwrap();
    std::fs::copy(
        root().join("testdata/shop/orders.csv"),
        d.join("raw/orders.csv"),
    )
    .unwrap();
    let text = written(d);
    assert!(
        text.contains("# source \"shop.orders\"\norders = \"raw/orders.csv\"\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "# shop__refunds = \"PATH\"  # source \"shop.refunds\": no file named refunds.* found"
        ),
        "{text}"
    );
    assert!(
        text.contains("[models.stg_orders]\n# Key \"order_id\": the unique test on `order_id` in models/schema.yml.\n"),
        "{text}"
    );
    assert!(
        text.contains("[models.customer_totals]\n# A guess from all 58 rows of v2's output, where it is unique and never NULL.\nkey = \"customer_id\"\n"),
        "{text}"
    );
    // The model reading the missing source says why it has no key.
    assert!(
        text.contains("[models.refunds]\n# v2 could not be planned here: models/refunds.sql:1: source('shop', 'refunds'): no data for it: add `shop__refunds = \"PATH\"`"),
        "{text}"
    );
    assert!(text.contains("path = \".\"\n"), "{text}");
    // Once the missing input is given, the project runs from git as is.
    std::fs::copy(
        root().join("testdata/shop/orders.csv"),
        d.join("raw/refunds.csv"),
    )
    .unwrap();
    let again = init(d, &["--force"]);
    assert_eq!(again.status.code(), Some(0));
    let text = std::fs::read_to_string(d.join("diffgate.toml")).unwrap();
    assert!(
        text.contains("shop__refunds = \"raw/refunds.csv\"\n"),
        "{text}"
    );
    git(d, &["add", "."]);
    git(d, &["commit", "-q", "-m", "project"]);
    assert_eq!(verdict(d, &["--base", "HEAD"]), "promote");
}

#[test]
fn a_folder_with_nothing_to_compare_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let out = init(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing to compare"), "{err}");
    assert!(!dir.path().join("diffgate.toml").exists());

    // Two SQL files whose names do not say which is v1.
    std::fs::write(dir.path().join("a.sql"), "SELECT 1").unwrap();
    std::fs::write(dir.path().join("b.sql"), "SELECT 2").unwrap();
    let out = init(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("neither name says which is v1"), "{err}");
}
