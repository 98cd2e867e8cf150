//! Value comparison of two aligned columns, vectorised over Arrow arrays.
//!
//! The rules, the same for every type: NULL equals NULL, NULL differs from a
//! value; NaN equals NaN and -0.0 equals 0.0; numbers are equal when
//! `|v1 - v2| <= abs_tol + rel_tol * |v1|`; timestamps with a tolerance
//! when `|v1 - v2| <= abs_tol` seconds; everything else (strings, dates,
//! booleans, nested values) compares exactly.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Float64Array, Int64Array, UInt64Array,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::compute::kernels::cmp::distinct;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::array_value_to_string;
use serde_json::Value;

/// Numeric tolerance for one column.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tol {
    pub abs: f64,
    pub rel: f64,
}

/// The outcome of comparing two columns on the rows of a mask.
#[derive(Debug)]
pub struct ColumnCheck {
    /// True where the row is in the mask and the values differ.
    pub mismatch: BooleanBuffer,
    /// Largest |v1 - v2| among masked rows with both values present.
    pub max_abs: Option<f64>,
    /// Largest |v1 - v2| / |v1| among those with v1 != 0.
    pub max_rel: Option<f64>,
    /// Masked pairs that differ by an infinite or undefined amount (an
    /// infinity against another value, NaN against a number): left out of
    /// `max_abs` and `max_rel`, which are over finite differences.
    pub non_finite: u64,
    /// Masked rows where v1 has a value and v2 is NULL.
    pub value_to_null: u64,
    /// Masked rows where v1 is NULL and v2 has a value.
    pub null_to_value: u64,
}

/// Is this common type compared numerically (with tolerance and diff stats)?
pub fn is_numeric(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Float64 | DataType::Int64 | DataType::UInt64 | DataType::Decimal128(..)
    )
}

/// True where the array holds a value (not NULL).
pub(super) fn validity(a: &dyn Array) -> BooleanBuffer {
    match a.logical_nulls() {
        Some(n) => n.into_inner(),
        None => BooleanBuffer::new_set(a.len()),
    }
}

/// Compare `a` (v1) with `b` (v2) on the rows set in `mask`.
pub fn compare_column(
    a: &ArrayRef,
    b: &ArrayRef,
    mask: &BooleanBuffer,
    tol: Tol,
) -> Result<ColumnCheck, ArrowError> {
    let (va, vb) = (validity(a.as_ref()), validity(b.as_ref()));
    let value_to_null = (&(&va & &!&vb) & mask).count_set_bits() as u64;
    let null_to_value = (&(&!&va & &vb) & mask).count_set_bits() as u64;
    let numeric = match a.data_type() {
        DataType::Float64 => Some(numeric_diff(
            a.as_primitive::<datafusion::arrow::datatypes::Float64Type>(),
            b.as_primitive::<datafusion::arrow::datatypes::Float64Type>(),
            mask,
            tol,
            float_diff,
            |x| x.abs(),
        )),
        DataType::Int64 => Some(numeric_diff(
            a.as_any().downcast_ref::<Int64Array>().unwrap(),
            b.as_any().downcast_ref::<Int64Array>().unwrap(),
            mask,
            tol,
            |x: i64, y: i64| {
                if x == y {
                    Some(0.0)
                } else {
                    Some((x as i128 - y as i128).unsigned_abs() as f64)
                }
            },
            |x: i64| (x as f64).abs(),
        )),
        DataType::UInt64 => Some(numeric_diff(
            a.as_any().downcast_ref::<UInt64Array>().unwrap(),
            b.as_any().downcast_ref::<UInt64Array>().unwrap(),
            mask,
            tol,
            |x: u64, y: u64| Some(x.abs_diff(y) as f64),
            |x: u64| x as f64,
        )),
        DataType::Decimal128(_, scale) => {
            let factor = 10f64.powi(i32::from(*scale));
            Some(numeric_diff(
                a.as_any().downcast_ref::<Decimal128Array>().unwrap(),
                b.as_any().downcast_ref::<Decimal128Array>().unwrap(),
                mask,
                tol,
                move |x: i128, y: i128| {
                    if x == y {
                        return Some(0.0);
                    }
                    let d = match x.checked_sub(y) {
                        Some(d) => d.unsigned_abs() as f64,
                        None => (x as f64 - y as f64).abs(),
                    };
                    Some(d / factor)
                },
                move |x: i128| (x as f64 / factor).abs(),
            ))
        }
        // Timestamps within a tolerance (`abs`, in seconds) are equal; without
        // one they compare exactly, below.
        DataType::Timestamp(unit, _) if tol.abs > 0.0 => {
            let per_second = match unit {
                TimeUnit::Second => 1.0,
                TimeUnit::Millisecond => 1e3,
                TimeUnit::Microsecond => 1e6,
                TimeUnit::Nanosecond => 1e9,
            };
            let ticks = |x: &ArrayRef| {
                datafusion::arrow::compute::cast(x, &DataType::Timestamp(*unit, None))
                    .and_then(|t| datafusion::arrow::compute::cast(&t, &DataType::Int64))
            };
            let (ta, tb) = (ticks(a)?, ticks(b)?);
            let (mismatch, _, _, _) = numeric_diff(
                ta.as_any().downcast_ref::<Int64Array>().unwrap(),
                tb.as_any().downcast_ref::<Int64Array>().unwrap(),
                mask,
                Tol {
                    abs: tol.abs,
                    rel: 0.0,
                },
                move |x: i64, y: i64| {
                    Some((x as i128 - y as i128).unsigned_abs() as f64 / per_second)
                },
                |_| 0.0,
            );
            return Ok(ColumnCheck {
                mismatch,
                max_abs: None,
                max_rel: None,
                non_finite: 0,
                value_to_null,
                null_to_value,
            });
        }
        _ => None,
    };
    if let Some((mismatch, max_abs, max_rel, non_finite)) = numeric {
        return Ok(ColumnCheck {
            mismatch,
            max_abs,
            max_rel,
            non_finite,
            value_to_null,
            null_to_value,
        });
    }
    let differs = exact_distinct(a, b)?;
    Ok(ColumnCheck {
        mismatch: &differs & mask,
        max_abs: None,
        max_rel: None,
        non_finite: 0,
        value_to_null,
        null_to_value,
    })
}

/// Absolute difference of two floats with NaN == NaN and -0.0 == 0.0.
/// `None` means "not comparable numerically" (NaN against a number).
fn float_diff(x: f64, y: f64) -> Option<f64> {
    if x == y || (x.is_nan() && y.is_nan()) {
        Some(0.0)
    } else {
        let d = (x - y).abs();
        if d.is_nan() { None } else { Some(d) }
    }
}

/// Mismatches, largest finite absolute and relative differences, and the
/// count of non-finite differences.
type Diff4 = (BooleanBuffer, Option<f64>, Option<f64>, u64);

fn numeric_diff<T, A>(
    a: &A,
    b: &A,
    mask: &BooleanBuffer,
    tol: Tol,
    diff: impl Fn(T, T) -> Option<f64>,
    magnitude: impl Fn(T) -> f64,
) -> Diff4
where
    T: Copy,
    A: Array + PrimitiveValues<T>,
{
    let (na, nb): (Option<&NullBuffer>, Option<&NullBuffer>) = (a.nulls(), b.nulls());
    let mut max_abs: Option<f64> = None;
    let mut max_rel: Option<f64> = None;
    let mut non_finite = 0u64;
    let mismatch = BooleanBuffer::collect_bool(a.len(), |i| {
        if !mask.value(i) {
            return false;
        }
        let (pa, pb) = (
            na.is_none_or(|n| n.is_valid(i)),
            nb.is_none_or(|n| n.is_valid(i)),
        );
        match (pa, pb) {
            (false, false) => false,
            (true, true) => {
                let (x, y) = (a.value_at(i), b.value_at(i));
                match diff(x, y) {
                    None => {
                        non_finite += 1;
                        true
                    }
                    // Equal values (NaN = NaN, inf = inf) never reach the
                    // tolerance formula, where rel * |inf| would be NaN.
                    Some(0.0) => {
                        max_abs.get_or_insert(0.0);
                        false
                    }
                    // An infinity against a number differs whatever the
                    // tolerance (rel * |inf| would otherwise absorb it).
                    Some(d) if d.is_infinite() => {
                        non_finite += 1;
                        true
                    }
                    Some(d) => {
                        let m = magnitude(x);
                        max_abs = Some(max_abs.map_or(d, |cur| cur.max(d)));
                        if m > 0.0 {
                            let r = d / m;
                            max_rel = Some(max_rel.map_or(r, |cur| cur.max(r)));
                        }
                        // d and m are finite here, so this is the tolerance rule.
                        d > tol.abs + tol.rel * m
                    }
                }
            }
            _ => true,
        }
    });
    // Equal values everywhere still report a zero difference.
    if max_abs.is_some() && max_rel.is_none() {
        max_rel = Some(0.0);
    }
    (mismatch, max_abs, max_rel, non_finite)
}

/// Uniform access to primitive values for the numeric kernel.
pub trait PrimitiveValues<T> {
    fn value_at(&self, i: usize) -> T;
}

impl PrimitiveValues<f64> for Float64Array {
    fn value_at(&self, i: usize) -> f64 {
        self.value(i)
    }
}
impl PrimitiveValues<i64> for Int64Array {
    fn value_at(&self, i: usize) -> i64 {
        self.value(i)
    }
}
impl PrimitiveValues<u64> for UInt64Array {
    fn value_at(&self, i: usize) -> u64 {
        self.value(i)
    }
}
impl PrimitiveValues<i128> for Decimal128Array {
    fn value_at(&self, i: usize) -> i128 {
        self.value(i)
    }
}

/// Exact, NULL-aware inequality (`IS DISTINCT FROM`) for any type, nested
/// types included.
fn exact_distinct(a: &ArrayRef, b: &ArrayRef) -> Result<BooleanBuffer, ArrowError> {
    if !a.data_type().is_nested() {
        let d: BooleanArray = distinct(a, b)?;
        return Ok(d.values().clone());
    }
    let cmp =
        datafusion::arrow::array::make_comparator(a.as_ref(), b.as_ref(), SortOptions::default())?;
    Ok(BooleanBuffer::collect_bool(a.len(), |i| {
        cmp(i, i) != std::cmp::Ordering::Equal
    }))
}

/// A cell as a JSON value for reports: numbers and strings natively, NaN and
/// infinities and everything else as their display text.
pub fn to_json(array: &dyn Array, i: usize) -> Value {
    // Logical nulls: a column of type Null (all-NULL text input) has no
    // validity buffer, yet every value is NULL.
    if array.logical_nulls().is_some_and(|n| n.is_null(i)) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            let v = datafusion::arrow::compute::cast(&array.slice(i, 1), &DataType::Int64)
                .ok()
                .map(|c| {
                    c.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .value(0)
                });
            v.map_or(Value::Null, Value::from)
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            let v = datafusion::arrow::compute::cast(&array.slice(i, 1), &DataType::UInt64)
                .ok()
                .map(|c| {
                    c.as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
                        .value(0)
                });
            v.map_or(Value::Null, Value::from)
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let v = datafusion::arrow::compute::cast(&array.slice(i, 1), &DataType::Float64)
                .ok()
                .map(|c| {
                    c.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                        .value(0)
                });
            match v {
                Some(f) if f.is_finite() => {
                    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
                }
                Some(f) if f.is_nan() => Value::String("NaN".into()),
                Some(f) if f > 0.0 => Value::String("inf".into()),
                Some(_) => Value::String("-inf".into()),
                None => Value::Null,
            }
        }
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Value::String(array.as_string_view().value(i).to_string()),
        _ => Value::String(array_value_to_string(array, i).unwrap_or_else(|e| format!("<{e}>"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ListArray, StringArray};
    use datafusion::arrow::datatypes::Int32Type;
    use std::sync::Arc;

    fn all(n: usize) -> BooleanBuffer {
        BooleanBuffer::new_set(n)
    }

    fn bits(b: &BooleanBuffer) -> Vec<bool> {
        b.iter().collect()
    }

    #[test]
    fn floats_follow_null_nan_and_signed_zero_rules() {
        let a: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            None,
            None,
            Some(f64::NAN),
            Some(-0.0),
            Some(1.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
        ]));
        let b: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            None,
            Some(2.0),
            Some(f64::NAN),
            Some(0.0),
            Some(1.5),
            Some(3.0),
            Some(f64::INFINITY),
        ]));
        let c = compare_column(&a, &b, &all(8), Tol::default()).unwrap();
        assert_eq!(
            bits(&c.mismatch),
            [false, false, true, false, false, true, true, false]
        );
        assert_eq!(c.null_to_value, 1);
        assert_eq!(c.value_to_null, 0);
        assert_eq!(c.max_abs, Some(0.5));
        assert_eq!(c.max_rel, Some(0.5));
    }

    #[test]
    fn tolerance_is_abs_plus_rel_times_v1() {
        let a: ArrayRef = Arc::new(Float64Array::from(vec![100.0, 100.0, 100.0, f64::INFINITY]));
        let b: ArrayRef = Arc::new(Float64Array::from(vec![100.5, 101.0, 101.5, 1.0]));
        let c = compare_column(
            &a,
            &b,
            &all(4),
            Tol {
                abs: 0.5,
                rel: 0.005,
            },
        )
        .unwrap();
        assert_eq!(bits(&c.mismatch), [false, false, true, true]);
    }

    #[test]
    fn ints_compare_exactly_by_default_and_respect_the_mask() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(3), None]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(5), Some(4), Some(1)]));
        let mask = BooleanBuffer::from(vec![true, true, false, true]);
        let c = compare_column(&a, &b, &mask, Tol::default()).unwrap();
        assert_eq!(bits(&c.mismatch), [false, true, false, true]);
        assert_eq!(c.max_abs, Some(3.0));
        assert_eq!(c.null_to_value, 1);
    }

    #[test]
    fn decimals_compare_by_scaled_value() {
        let a: ArrayRef = Arc::new(
            Decimal128Array::from(vec![1234, 1000])
                .with_precision_and_scale(38, 2)
                .unwrap(),
        );
        let b: ArrayRef = Arc::new(
            Decimal128Array::from(vec![1235, 1000])
                .with_precision_and_scale(38, 2)
                .unwrap(),
        );
        let exact = compare_column(&a, &b, &all(2), Tol::default()).unwrap();
        assert_eq!(bits(&exact.mismatch), [true, false]);
        assert!((exact.max_abs.unwrap() - 0.01).abs() < 1e-12);
        let loose = compare_column(
            &a,
            &b,
            &all(2),
            Tol {
                abs: 0.011,
                rel: 0.0,
            },
        )
        .unwrap();
        assert_eq!(bits(&loose.mismatch), [false, false]);
    }

    #[test]
    fn strings_compare_exactly_including_case_and_whitespace() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("a"),
            Some("a "),
            None,
        ]));
        let b: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("A"),
            Some("a"),
            None,
        ]));
        let c = compare_column(&a, &b, &all(4), Tol { abs: 1.0, rel: 1.0 }).unwrap();
        assert_eq!(bits(&c.mismatch), [false, true, true, false]);
        assert_eq!(c.max_abs, None);
    }

    #[test]
    fn nested_values_compare_exactly() {
        let a: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![Some(1)]),
            None,
        ]));
        let b: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![Some(2)]),
            None,
        ]));
        let c = compare_column(&a, &b, &all(3), Tol::default()).unwrap();
        assert_eq!(bits(&c.mismatch), [false, true, false]);
    }

    #[test]
    fn json_values_keep_numbers_and_name_non_finite_floats() {
        let f = Float64Array::from(vec![Some(1.5), Some(f64::NAN), None]);
        assert_eq!(to_json(&f, 0), serde_json::json!(1.5));
        assert_eq!(to_json(&f, 1), serde_json::json!("NaN"));
        assert_eq!(to_json(&f, 2), Value::Null);
        let i = Int64Array::from(vec![i64::MAX]);
        assert_eq!(to_json(&i, 0), serde_json::json!(i64::MAX));
    }
}
