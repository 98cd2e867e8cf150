//! Safe samples: the columns named by `[compare] mask` (names, or
//! patterns with `*` and `?`) are compared in full, but every value of
//! theirs a report would show (sampled keys, cells, one-side rows) is
//! replaced here, before the report exists, so no format and no JSON
//! holds it. Without a mask key a value becomes `‹masked›`; with one
//! (`DIFFGATE_MASK_KEY`) it becomes `‹` + 16 hex digits of SHA-256 over the
//! key and the value + `›`: equal values show equal, so a reviewer still sees
//! whether v1 and v2 agree, and nobody without the key can look a value up.
//! NULL stays NULL (a value turning NULL is still visible).

use datafusion::arrow::datatypes::Schema;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::report::Samples;

/// The masked columns' patterns, and the key of the keyed hash.
#[derive(Debug, Clone, Default)]
pub struct Mask {
    patterns: Vec<glob::Pattern>,
    key: Option<Vec<u8>>,
}

/// What a masked value shows without a mask key.
pub const MASKED: &str = "‹masked›";

impl Mask {
    /// A mask of `patterns` (checked: a bad pattern is an error naming it),
    /// hashing with `key` when one is given.
    pub fn new(patterns: &[String], key: Option<Vec<u8>>) -> Result<Mask, String> {
        let patterns = patterns
            .iter()
            .map(|p| glob::Pattern::new(p).map_err(|e| format!("mask {p:?}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Mask {
            patterns,
            key: key.filter(|k| !k.is_empty()),
        })
    }

    pub fn matches(&self, column: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(column))
    }

    /// The columns of either output that are masked: v1's in order, then
    /// v2's not in v1.
    pub fn columns(&self, v1: &Schema, v2: &Schema) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in v1.fields().iter().chain(v2.fields().iter()) {
            if self.matches(f.name()) && !out.contains(f.name()) {
                out.push(f.name().clone());
            }
        }
        out
    }

    /// What `value` shows as.
    pub fn value(&self, value: &Value) -> Value {
        if value.is_null() {
            return Value::Null;
        }
        let Some(key) = &self.key else {
            return Value::String(MASKED.into());
        };
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut h = Sha256::new();
        h.update((key.len() as u64).to_be_bytes());
        h.update(key);
        h.update(text.as_bytes());
        let digest = h.finalize();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Value::String(format!("‹{hex}›"))
    }

    /// Mask the values of `columns` in a profile: counts, rates, lengths
    /// and scores stay; ranges, quantiles and histograms go, and the most
    /// frequent values show as masks.
    pub fn profile(&self, profile: &mut crate::report::Profile, columns: &[String]) {
        for c in profile
            .columns
            .iter_mut()
            .filter(|c| columns.contains(&c.name))
        {
            c.masked = true;
            c.histogram = None;
            for side in [&mut c.v1, &mut c.v2].into_iter().flatten() {
                side.min = None;
                side.max = None;
                side.quantiles.clear();
                side.age_seconds = None;
                for t in &mut side.top {
                    t.value = self.value(&t.value);
                }
            }
        }
    }

    /// Mask the values of `columns` wherever `samples` shows them.
    pub fn samples(&self, samples: &mut Samples, columns: &[String]) {
        if columns.is_empty() {
            return;
        }
        let map = |m: &mut Map<String, Value>| {
            for (k, v) in m.iter_mut() {
                if columns.contains(k) {
                    *v = self.value(v);
                }
            }
        };
        for row in &mut samples.changed {
            map(&mut row.key);
            for cell in &mut row.cells {
                if columns.contains(&cell.column) {
                    cell.v1 = self.value(&cell.v1);
                    cell.v2 = self.value(&cell.v2);
                }
            }
        }
        for row in samples.only_v1.iter_mut().chain(samples.only_v2.iter_mut()) {
            map(&mut row.key);
            map(&mut row.row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_match_names_and_values_never_show() {
        let m = Mask::new(&["email".into(), "*_ssn".into()], None).unwrap();
        assert!(m.matches("email") && m.matches("customer_ssn"));
        assert!(!m.matches("emails") && !m.matches("ssn"));
        assert_eq!(m.value(&json!("a@b.c")), json!(MASKED));
        assert_eq!(m.value(&json!(null)), json!(null));
        assert!(
            Mask::new(&["[".into()], None)
                .unwrap_err()
                .contains("mask \"[\"")
        );
    }

    #[test]
    fn a_keyed_mask_shows_equal_values_equal_and_depends_on_the_key() {
        let k1 = Mask::new(&["x".into()], Some(b"one".to_vec())).unwrap();
        let k2 = Mask::new(&["x".into()], Some(b"two".to_vec())).unwrap();
        let a = k1.value(&json!("alice"));
        assert_eq!(a, k1.value(&json!("alice")));
        assert_ne!(a, k1.value(&json!("bob")));
        assert_ne!(a, k2.value(&json!("alice")));
        let shown = a.as_str().unwrap();
        assert!(
            !shown.contains("alice") && shown.chars().count() == 18,
            "{shown}"
        );
        // Numbers are masked as their JSON text.
        assert_eq!(k1.value(&json!(12)), k1.value(&json!(12)));
        // An empty key is no key.
        let empty = Mask::new(&["x".into()], Some(Vec::new())).unwrap();
        assert_eq!(empty.value(&json!("alice")), json!(MASKED));
    }
}
