//! Explained differences: each changed cell of a column is put in one
//! class of change, so a report can lead with what happened ("price: 3,036
//! changed, all ×100") before it shows cells. Numbers: a sign flip, a scale
//! by a power of ten, rounding or truncation to k decimals, float32
//! precision loss, else a difference that, when many cells share it, is a
//! constant offset. Strings: a value turned NULL or back, an empty string
//! against NULL, a change of case only, of whitespace only, a prefix or
//! suffix added or removed. Timestamps: a shift by whole hours (a time
//! zone). Anything else is `other`.
//!
//! Only changed cells are classified, so the cost follows the size of the
//! diff. Counts add up across partitions, and the offsets are kept as a
//! complete set (up to [`MAX_OFFSETS`] distinct values, else none), so the
//! result does not depend on how rows were split between threads.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, UInt64Type};

use crate::report::{ChangePattern, PatternKind};

/// Distinct differences kept to find a constant offset.
pub const MAX_OFFSETS: usize = 4096;

/// Patterns shown per column.
const SHOWN: usize = 4;

/// One class of change: its kind (the report's) and its parameter, the
/// power of ten of a scale, the decimals of a rounding or truncation, the
/// hours of a shift (0 for kinds without one).
type Class = (PatternKind, i16);

const fn class(kind: PatternKind) -> Class {
    (kind, 0)
}

/// A changed pair of numbers by its class, `None` for no named class, and
/// its difference or ratio (v2 - v1 or v2 / v1, in units of 1e-9).
type Shared = BTreeMap<(Option<Class>, i64), u64>;

#[derive(Debug, Clone, Default)]
pub struct Patterns {
    /// Cells that are not pairs of numbers, by class.
    classes: BTreeMap<Class, u64>,
    /// Pairs of numbers by named class, `None` for those without one
    /// (always kept).
    numbers: BTreeMap<Option<Class>, u64>,
    /// Differences and ratios of the pairs a shared one may explain (those
    /// with no named class, or rounded or truncated, which can be chance);
    /// `None` once more than [`MAX_OFFSETS`] distinct ones were seen.
    offsets: Option<Shared>,
    ratios: Option<Shared>,
}

impl Patterns {
    pub fn new() -> Self {
        Patterns {
            offsets: Some(BTreeMap::new()),
            ratios: Some(BTreeMap::new()),
            ..Default::default()
        }
    }

    /// Classify the cells of `a` (v1) and `b` (v2) set in `changed`.
    pub fn add(&mut self, a: &ArrayRef, b: &ArrayRef, changed: &BooleanBuffer) {
        if changed.count_set_bits() == 0 {
            return;
        }
        let rows: Vec<usize> = changed.set_indices().collect();
        let mut others = Vec::new();
        for &i in &rows {
            match (a.is_valid(i), b.is_valid(i)) {
                (true, false) => {
                    let empty = is_string(a.data_type()) && string_at(a, i).as_deref() == Some("");
                    self.count(if empty {
                        class(PatternKind::EmptyToNull)
                    } else {
                        class(PatternKind::ValueToNull)
                    });
                }
                (false, true) => {
                    let empty = is_string(b.data_type()) && string_at(b, i).as_deref() == Some("");
                    self.count(if empty {
                        class(PatternKind::NullToEmpty)
                    } else {
                        class(PatternKind::NullToValue)
                    });
                }
                _ => others.push(i),
            }
        }
        match a.data_type() {
            DataType::Float64 | DataType::Int64 | DataType::UInt64 | DataType::Decimal128(..) => {
                for &i in &others {
                    match (number_at(a, i), number_at(b, i)) {
                        (Some(x), Some(y)) => self.number(x, y),
                        _ => self.count(class(PatternKind::Other)),
                    }
                }
            }
            DataType::Timestamp(unit, _) => {
                let per_second = match unit {
                    TimeUnit::Second => 1,
                    TimeUnit::Millisecond => 1_000,
                    TimeUnit::Microsecond => 1_000_000,
                    TimeUnit::Nanosecond => 1_000_000_000,
                };
                let (x, y) = (as_i64(a), as_i64(b));
                for &i in &others {
                    let class = match (&x, &y) {
                        (Some(x), Some(y)) => hour_shift(x.value(i), y.value(i), per_second),
                        _ => class(PatternKind::Other),
                    };
                    self.count(class);
                }
            }
            t if is_string(t) => {
                for &i in &others {
                    let class = match (string_at(a, i), string_at(b, i)) {
                        (Some(x), Some(y)) => text(&x, &y),
                        _ => class(PatternKind::Other),
                    };
                    self.count(class);
                }
            }
            _ => {
                for _ in &others {
                    self.count(class(PatternKind::Other));
                }
            }
        }
    }

    fn count(&mut self, c: Class) {
        *self.classes.entry(c).or_default() += 1;
    }

    fn number(&mut self, x: f64, y: f64) {
        let class = number_class(x, y);
        *self.numbers.entry(class).or_default() += 1;
        if !matches!(
            class,
            None | Some((PatternKind::Rounding | PatternKind::Truncation, _))
        ) {
            return;
        }
        let nano = |v: f64| (v.is_finite() && v.abs() < 1e9).then(|| (v * 1e9).round() as i64);
        keep(&mut self.offsets, class, nano(y - x));
        keep(
            &mut self.ratios,
            class,
            if x != 0.0 { nano(y / x) } else { None },
        );
    }

    pub fn merge(&mut self, o: Patterns) {
        for (c, n) in o.classes {
            *self.classes.entry(c).or_default() += n;
        }
        for (c, n) in o.numbers {
            *self.numbers.entry(c).or_default() += n;
        }
        merge_shared(&mut self.offsets, o.offsets);
        merge_shared(&mut self.ratios, o.ratios);
    }

    /// The patterns, most cells first (ties in class order), at most
    /// [`SHOWN`]. Pairs of numbers: the difference or ratio most of them
    /// share (two cells or more) explains them when it covers more cells
    /// than any named class (`7.01 → 7.00` among many `-0.01` is an offset,
    /// not a rounding); the rest keep their class, and those without one
    /// are `other`.
    pub fn finish(self) -> Vec<ChangePattern> {
        // By kind (ties sort in the kind's declaration order) and parameter.
        let mut counts: BTreeMap<(PatternKind, u64), (u64, ChangePattern)> = BTreeMap::new();
        let mut add = |kind: PatternKind, p: ChangePattern| {
            let key = (kind, p.by.map_or(0, f64::to_bits));
            let e = counts
                .entry(key)
                .or_insert((0, ChangePattern { count: 0, ..p }));
            e.0 += p.count;
            e.1.count += p.count;
        };
        for (c, n) in &self.classes {
            add(c.0, pattern(*c, *n));
        }
        let mut numbers = self.numbers.clone();
        // The largest class a shared difference may take cells from.
        let weak = numbers
            .iter()
            .filter(|(c, _)| {
                matches!(
                    c,
                    Some((PatternKind::Rounding | PatternKind::Truncation, _))
                )
            })
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0);
        let top = |all: bool| -> Option<(PatternKind, i64, u64)> {
            let best = |m: &Option<Shared>, kind: PatternKind| {
                let mut by: BTreeMap<i64, u64> = BTreeMap::new();
                for ((c, k), n) in m.iter().flatten() {
                    if all || c.is_none() {
                        *by.entry(*k).or_default() += n;
                    }
                }
                by.into_iter()
                    .max_by(|(ka, na), (kb, nb)| na.cmp(nb).then(kb.cmp(ka)))
                    .map(|(k, n)| (kind, k, n))
            };
            let o = best(&self.offsets, PatternKind::Offset);
            let r = best(&self.ratios, PatternKind::Ratio);
            // An offset wins over a ratio covering as many cells.
            [o, r]
                .into_iter()
                .flatten()
                .filter(|(_, _, n)| *n >= 2)
                .max_by(|a, b| {
                    let offset = |x: &(PatternKind, i64, u64)| x.0 == PatternKind::Offset;
                    a.2.cmp(&b.2).then(offset(a).cmp(&offset(b)))
                })
        };
        // Over rounded and truncated pairs too when it covers more cells
        // than any such class, else over the pairs without a name.
        let (winner, all) = match top(true).filter(|(_, _, n)| *n > weak) {
            Some(w) => (Some(w), true),
            None => (top(false), false),
        };
        if let Some((kind, k, _)) = winner {
            let map = match kind {
                PatternKind::Offset => &self.offsets,
                _ => &self.ratios,
            };
            let mut explained = 0;
            for ((c, key), n) in map.iter().flatten() {
                if *key == k && (all || c.is_none()) {
                    explained += n;
                    *numbers.entry(*c).or_default() -= n;
                }
            }
            add(
                kind,
                ChangePattern {
                    kind,
                    by: Some(k as f64 / 1e9),
                    count: explained,
                },
            );
        }
        for (c, n) in numbers {
            if n > 0 {
                let c = c.unwrap_or(class(PatternKind::Other));
                add(c.0, pattern(c, n));
            }
        }
        let mut out: Vec<(u64, (PatternKind, u64), ChangePattern)> =
            counts.into_iter().map(|(k, (n, p))| (n, k, p)).collect();
        out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        out.into_iter().take(SHOWN).map(|(_, _, p)| p).collect()
    }
}

/// The class of each changed cell at `rows` (set in `changed`) of `a`
/// (v1) against `b` (v2), NULL for an unchanged one, as the diff export
/// names it: `scale(100)`, `rounding(2)`, `value_to_null`, `hour_shift(-2)`;
/// a pair of numbers with no other name is `offset(v2 - v1)`; anything else
/// `other`.
pub fn cell_changes(
    a: &ArrayRef,
    b: &ArrayRef,
    changed: &BooleanBuffer,
    rows: &[usize],
) -> datafusion::arrow::array::StringArray {
    let per_second = match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => Some(1),
        DataType::Timestamp(TimeUnit::Millisecond, _) => Some(1_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Some(1_000_000),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Some(1_000_000_000),
        _ => None,
    };
    let times = per_second.and_then(|_| as_i64(a).zip(as_i64(b)));
    let numeric = matches!(
        a.data_type(),
        DataType::Float64 | DataType::Int64 | DataType::UInt64 | DataType::Decimal128(..)
    );
    let one = |i: usize| -> String {
        let empty =
            |x: &ArrayRef| is_string(x.data_type()) && string_at(x, i).as_deref() == Some("");
        let class = match (a.is_valid(i), b.is_valid(i)) {
            (true, false) if empty(a) => class(PatternKind::EmptyToNull),
            (true, false) => class(PatternKind::ValueToNull),
            (false, true) if empty(b) => class(PatternKind::NullToEmpty),
            (false, true) => class(PatternKind::NullToValue),
            (false, false) => class(PatternKind::Other),
            (true, true) if numeric => match (number_at(a, i), number_at(b, i)) {
                (Some(x), Some(y)) => match number_class(x, y) {
                    Some(c) => c,
                    None if (y - x).is_finite() => return format!("offset({})", y - x),
                    None => class(PatternKind::Other),
                },
                _ => class(PatternKind::Other),
            },
            (true, true) => match (&times, per_second) {
                (Some((x, y)), Some(p)) => hour_shift(x.value(i), y.value(i), p),
                _ if is_string(a.data_type()) => match (string_at(a, i), string_at(b, i)) {
                    (Some(x), Some(y)) => text(&x, &y),
                    _ => class(PatternKind::Other),
                },
                _ => class(PatternKind::Other),
            },
        };
        let p = pattern(class, 1);
        let kind = serde_json::to_value(p.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        match p.by {
            Some(by) if by.fract() == 0.0 && by.abs() < 1e15 => format!("{kind}({})", by as i64),
            Some(by) => format!("{kind}({by})"),
            None => kind,
        }
    };
    rows.iter()
        .map(|&i| changed.value(i).then(|| one(i)))
        .collect()
}

/// Count a pair's difference or ratio `k` under `class`, unless the map
/// overflowed (then it is dropped for good).
fn keep(map: &mut Option<Shared>, class: Option<Class>, k: Option<i64>) {
    let Some(k) = k else { return };
    if let Some(m) = map {
        *m.entry((class, k)).or_default() += 1;
        if m.len() > MAX_OFFSETS {
            *map = None;
        }
    }
}

fn merge_shared(mine: &mut Option<Shared>, theirs: Option<Shared>) {
    match (mine.as_mut(), theirs) {
        (Some(m), Some(t)) => {
            for (k, n) in t {
                *m.entry(k).or_default() += n;
            }
            if m.len() > MAX_OFFSETS {
                *mine = None;
            }
        }
        (Some(_), None) => *mine = None,
        _ => {}
    }
}

/// A class as the report states it: its kind, its parameter as a number
/// (the factor of a scale), and how many cells show it.
fn pattern((kind, param): Class, count: u64) -> ChangePattern {
    let by = match kind {
        PatternKind::Scale => Some(10f64.powi(i32::from(param))),
        PatternKind::Rounding | PatternKind::Truncation | PatternKind::HourShift => {
            Some(f64::from(param))
        }
        _ => None,
    };
    ChangePattern { kind, by, count }
}

/// Equal within the noise of a float computation.
fn close(x: f64, y: f64) -> bool {
    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-300)
}

/// The class of a changed pair of numbers, when it has a name.
fn number_class(x: f64, y: f64) -> Option<Class> {
    if !(x.is_finite() && y.is_finite()) {
        return None;
    }
    if x != 0.0 && close(-x, y) {
        return Some(class(PatternKind::SignFlip));
    }
    if x != 0.0 {
        for k in (-9i8..=9).filter(|k| *k != 0) {
            if close(x * 10f64.powi(i32::from(k)), y) {
                return Some((PatternKind::Scale, i16::from(k)));
            }
        }
    }
    for k in 0u8..=6 {
        let f = 10f64.powi(i32::from(k));
        if close((x * f).round() / f, y) {
            return Some((PatternKind::Rounding, i16::from(k)));
        }
        if close((x * f).trunc() / f, y) {
            return Some((PatternKind::Truncation, i16::from(k)));
        }
    }
    if (x as f32) as f64 == y {
        return Some(class(PatternKind::Float32Precision));
    }
    None
}

/// A whole number of hours between two timestamps (at most 26), else other.
fn hour_shift(x: i64, y: i64, per_second: i64) -> Class {
    let per_hour = 3600 * per_second;
    let d = y.wrapping_sub(x);
    if d != 0 && d % per_hour == 0 && (d / per_hour).abs() <= 26 {
        (PatternKind::HourShift, (d / per_hour) as i16)
    } else {
        class(PatternKind::Other)
    }
}

/// The class of a changed pair of strings.
fn text(x: &str, y: &str) -> Class {
    if x.to_lowercase() == y.to_lowercase() {
        return class(PatternKind::CaseOnly);
    }
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    if squeeze(x) == squeeze(y)
        || x.replace(char::is_whitespace, "") == y.replace(char::is_whitespace, "")
    {
        return class(PatternKind::WhitespaceOnly);
    }
    if !x.is_empty() && y.len() > x.len() {
        if y.ends_with(x) {
            return class(PatternKind::PrefixAdded);
        }
        if y.starts_with(x) {
            return class(PatternKind::SuffixAdded);
        }
    }
    if !y.is_empty() && x.len() > y.len() {
        if x.ends_with(y) {
            return class(PatternKind::PrefixRemoved);
        }
        if x.starts_with(y) {
            return class(PatternKind::SuffixRemoved);
        }
    }
    class(PatternKind::Other)
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn string_at(a: &ArrayRef, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    match a.data_type() {
        DataType::Utf8 => Some(a.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Some(a.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Some(a.as_string_view().value(i).to_string()),
        _ => None,
    }
}

fn number_at(a: &ArrayRef, i: usize) -> Option<f64> {
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Float64 => a.as_primitive::<Float64Type>().value(i),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i) as f64,
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i) as f64,
        DataType::Decimal128(_, scale) => {
            let v = a
                .as_primitive::<datafusion::arrow::datatypes::Decimal128Type>()
                .value(i);
            v as f64 / 10f64.powi(i32::from(*scale))
        }
        _ => return None,
    })
}

/// A timestamp array's raw values.
fn as_i64(a: &ArrayRef) -> Option<datafusion::arrow::array::Int64Array> {
    let DataType::Timestamp(unit, _) = a.data_type() else {
        return None;
    };
    let plain = datafusion::arrow::compute::cast(a, &DataType::Timestamp(*unit, None)).ok()?;
    let ints = datafusion::arrow::compute::cast(&plain, &DataType::Int64).ok()?;
    Some(ints.as_primitive::<Int64Type>().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray, TimestampSecondArray};
    use std::sync::Arc;

    fn all(n: usize) -> BooleanBuffer {
        BooleanBuffer::new_set(n)
    }

    fn kinds(p: &[ChangePattern]) -> Vec<(PatternKind, Option<f64>, u64)> {
        p.iter().map(|p| (p.kind, p.by, p.count)).collect()
    }

    #[test]
    fn numbers_by_scale_rounding_sign_and_offset() {
        let a: ArrayRef = Arc::new(Float64Array::from(vec![
            1.5, 2.25, 3.0, 1.234, 7.0, 9.0, 4.0, 10.0,
        ]));
        let b: ArrayRef = Arc::new(Float64Array::from(vec![
            150.0, 225.0, -3.0, 1.23, 7.5, 9.5, 4.5, 10.5,
        ]));
        let mut p = Patterns::new();
        p.add(&a, &b, &all(8));
        assert_eq!(
            kinds(&p.finish()),
            [
                (PatternKind::Offset, Some(0.5), 4),
                (PatternKind::Scale, Some(100.0), 2),
                (PatternKind::SignFlip, None, 1),
                (PatternKind::Rounding, Some(2.0), 1),
            ]
        );
    }

    #[test]
    fn partitions_merge_to_the_same_patterns_in_any_order() {
        let a: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0]));
        let b: ArrayRef = Arc::new(Float64Array::from(vec![1.1, 2.1, 30.0, 4.7]));
        let whole = {
            let mut p = Patterns::new();
            p.add(&a, &b, &all(4));
            p.finish()
        };
        let halves = |first: bool| {
            let lo = BooleanBuffer::collect_bool(4, |i| i < 2);
            let hi = BooleanBuffer::collect_bool(4, |i| i >= 2);
            let (mut x, mut y) = (Patterns::new(), Patterns::new());
            x.add(&a, &b, if first { &lo } else { &hi });
            y.add(&a, &b, if first { &hi } else { &lo });
            x.merge(y);
            x.finish()
        };
        assert_eq!(kinds(&whole), kinds(&halves(true)));
        assert_eq!(kinds(&whole), kinds(&halves(false)));
        assert_eq!(
            kinds(&whole),
            [
                (PatternKind::Offset, Some(0.1), 2),
                (PatternKind::Scale, Some(10.0), 1),
                (PatternKind::Other, None, 1),
            ]
        );
    }

    #[test]
    fn strings_and_nulls_and_hours() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("Ann"),
            Some("a  b"),
            Some("x"),
            Some(""),
            Some("v"),
            None,
            Some("zzz"),
        ]));
        let b: ArrayRef = Arc::new(StringArray::from(vec![
            Some("ANN"),
            Some("a b"),
            Some("pre-x"),
            None,
            None,
            Some("w"),
            Some("q"),
        ]));
        let mut p = Patterns::new();
        p.add(&a, &b, &all(7));
        let mut got = kinds(&p.finish());
        got.sort_by_key(|k| format!("{:?}", k.0));
        assert_eq!(got.len(), 4, "at most four are shown: {got:?}");

        let t1: ArrayRef = Arc::new(TimestampSecondArray::from(vec![0, 0, 10]));
        let t2: ArrayRef = Arc::new(TimestampSecondArray::from(vec![7200, 7200, 11]));
        let mut p = Patterns::new();
        p.add(&t1, &t2, &all(3));
        assert_eq!(
            kinds(&p.finish()),
            [
                (PatternKind::HourShift, Some(2.0), 2),
                (PatternKind::Other, None, 1)
            ]
        );
    }

    #[test]
    fn string_classes() {
        assert_eq!(text("Ann", "ann"), class(PatternKind::CaseOnly));
        assert_eq!(text(" a b", "a b "), class(PatternKind::WhitespaceOnly));
        assert_eq!(text("42", "id-42"), class(PatternKind::PrefixAdded));
        assert_eq!(text("42", "42.0"), class(PatternKind::SuffixAdded));
        assert_eq!(text("id-42", "42"), class(PatternKind::PrefixRemoved));
        assert_eq!(text("abc", "xyz"), class(PatternKind::Other));
        assert_eq!(
            number_class(0.1, 0.1f32 as f64),
            Some(class(PatternKind::Float32Precision))
        );
    }
}
