//! From two sides' profile states to the report's column profile: the
//! summary of each side, a shared histogram, and the drift scores.
//!
//! * PSI (population stability index) for numbers and times: v1's sample
//!   deciles (nearest rank, repeated edges merged) cut both samples into
//!   bins; with `pᵢ`, `qᵢ` the shares of v1 and v2 in bin i (each at least
//!   0.0001), PSI = Σ (qᵢ − pᵢ)·ln(qᵢ / pᵢ).
//! * Jensen–Shannon distance for text and booleans, over the exact value
//!   frequencies: with M = (P + Q)/2, JSD = ½ KL(P‖M) + ½ KL(Q‖M) in bits,
//!   and the distance is √JSD, from 0 (same) to 1 (disjoint).
//!
//! Sums run in a fixed order (bins, then values by hash), so the scores are
//! the same on every run.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::{SortOptions, cast, sort};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use serde_json::Value;

use super::acc::ColAcc;
use crate::compare::cells;
use crate::report::{
    DriftScores, Histogram, Lengths, ProfileKind, Quantile, SideProfile, TopValue,
};

/// Percentiles reported.
const PERCENTILES: [u8; 7] = [1, 5, 25, 50, 75, 95, 99];
/// Values shown among the most frequent.
const TOP: usize = 10;
/// Histogram bins.
const BINS: usize = 20;
/// Non-NULL values each side needs for a distribution to be scored.
pub const MIN_SCORED: usize = 100;
/// Smallest share a PSI bin counts with.
const EPSILON: f64 = 1e-4;

/// One side of one column: its state and its sample column.
pub struct Side<'a> {
    pub acc: &'a mut ColAcc,
    /// The sampled values, sorted, without NULLs ([`sorted`]); `None`
    /// without a sample.
    pub sample: Option<ArrayRef>,
    /// Rows in the sample, NULLs included.
    pub sampled: u64,
}

fn scalar_json(v: &ScalarValue) -> Value {
    match v.to_array() {
        Ok(a) => cells::to_json(a.as_ref(), 0),
        Err(_) => Value::String(v.to_string()),
    }
}

/// The sample's non-NULL values, sorted.
pub fn sorted(sample: &ArrayRef) -> Result<ArrayRef> {
    let valid = datafusion::arrow::compute::is_not_null(sample.as_ref())?;
    let values = datafusion::arrow::compute::filter(sample.as_ref(), &valid)?;
    Ok(sort(
        values.as_ref(),
        Some(SortOptions {
            descending: false,
            nulls_first: false,
        }),
    )?)
}

/// Nearest-rank index of percentile `p` among `n` sorted values.
fn rank(p: f64, n: usize) -> usize {
    ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1
}

/// The sorted values as numbers (times as their integer count), NaN left
/// out.
fn numbers(sorted: &ArrayRef) -> Result<Vec<f64>> {
    let as_int = matches!(
        sorted.data_type(),
        DataType::Date32
            | DataType::Date64
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Timestamp(..)
    );
    let f = if as_int {
        let wide = match sorted.data_type() {
            DataType::Time32(_) => cast(&cast(sorted, &DataType::Int32)?, &DataType::Int64)?,
            _ => cast(sorted, &DataType::Int64)?,
        };
        cast(&wide, &DataType::Float64)?
    } else {
        cast(sorted, &DataType::Float64)?
    };
    Ok(f.as_primitive::<Float64Type>()
        .iter()
        .flatten()
        .filter(|x| !x.is_nan())
        .collect())
}

/// Seconds since the epoch of a date or timestamp value.
fn epoch_seconds(v: &ScalarValue) -> Option<i64> {
    let a = v.to_array().ok()?;
    let secs = match a.data_type() {
        DataType::Date32 => {
            i64::from(
                a.as_primitive::<datafusion::arrow::datatypes::Date32Type>()
                    .value(0),
            ) * 86_400
        }
        DataType::Date64 => {
            a.as_primitive::<datafusion::arrow::datatypes::Date64Type>()
                .value(0)
                / 1000
        }
        DataType::Timestamp(unit, _) => {
            let n = cast(&a, &DataType::Int64)
                .ok()?
                .as_primitive::<Int64Type>()
                .value(0);
            match unit {
                TimeUnit::Second => n,
                TimeUnit::Millisecond => n.div_euclid(1000),
                TimeUnit::Microsecond => n.div_euclid(1_000_000),
                TimeUnit::Nanosecond => n.div_euclid(1_000_000_000),
            }
        }
        _ => return None,
    };
    Some(secs)
}

/// The summary of one side.
pub fn summary(side: &mut Side, as_of: Option<i64>) -> Result<SideProfile> {
    let acc = &mut *side.acc;
    let (distinct, distinct_exact) = acc.distinct().unwrap_or((0, false));
    let (min, max) = acc.range()?;
    let mut p = SideProfile {
        rows: acc.rows,
        nulls: acc.nulls,
        null_rate: if acc.rows == 0 {
            0.0
        } else {
            acc.nulls as f64 / acc.rows as f64
        },
        distinct,
        distinct_exact,
        min: min.as_ref().map(scalar_json),
        max: max.as_ref().map(scalar_json),
        sampled: side.sampled,
        ..Default::default()
    };
    if let Some(m) = &acc.moments {
        // Decimals are summed unscaled.
        let unit = match acc.data_type {
            DataType::Decimal32(_, s) | DataType::Decimal64(_, s) | DataType::Decimal128(_, s) => {
                10f64.powi(i32::from(s))
            }
            _ => 1.0,
        };
        p.mean = m.mean().map(|x| x / unit).filter(|x| x.is_finite());
        p.stddev = m.stddev().map(|x| x / unit).filter(|x| x.is_finite());
    }
    if let Some((lo, hi, total)) = acc.lengths {
        let n = acc.rows - acc.nulls;
        p.length = Some(Lengths {
            min: lo,
            max: hi,
            mean: if n == 0 { 0.0 } else { total as f64 / n as f64 },
        });
    }
    if matches!(acc.kind, ProfileKind::Number | ProfileKind::Time)
        && let Some(s) = &side.sample
        && !s.is_empty()
    {
        p.quantiles = PERCENTILES
            .iter()
            .map(|&q| Quantile {
                p: q,
                value: cells::to_json(s.as_ref(), rank(f64::from(q), s.len())),
            })
            .collect();
    }
    if let Some(freq) = &acc.freq {
        let mut all: Vec<(&u64, &(u64, ScalarValue))> = freq.iter().collect();
        all.sort_by(|a, b| {
            b.1.0
                .cmp(&a.1.0)
                .then_with(|| {
                    a.1.1
                        .partial_cmp(&b.1.1)
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .then_with(|| a.0.cmp(b.0))
        });
        // Every value once: no value is more frequent than another.
        if all.first().is_some_and(|e| e.1.0 == 1) && all.len() > TOP {
            all.clear();
        }
        let shown: u64 = all.iter().take(TOP).map(|e| e.1.0).sum();
        p.top = all
            .iter()
            .take(TOP)
            .map(|(_, (n, v))| TopValue {
                value: scalar_json(v),
                count: *n,
            })
            .collect();
        if !all.is_empty() {
            p.other = Some(acc.rows - acc.nulls - shown);
        }
    }
    if let (Some(as_of), Some(latest)) = (as_of, max.as_ref().and_then(epoch_seconds)) {
        p.age_seconds = Some(as_of - latest);
    }
    Ok(p)
}

/// Both (sorted) samples in [`BINS`] equal bins from the smaller minimum
/// to the larger maximum.
pub fn histogram(sa: Option<&ArrayRef>, sb: Option<&ArrayRef>) -> Result<Option<Histogram>> {
    let na = sa.map(numbers).transpose()?.unwrap_or_default();
    let nb = sb.map(numbers).transpose()?.unwrap_or_default();
    // The ends, as values of the column's type: the sorted samples' ends.
    let mut ends: Vec<(f64, Value)> = Vec::new();
    for (s, n) in [(&sa, &na), (&sb, &nb)] {
        if let (Some(s), Some(first), Some(last)) = (s, n.first(), n.last()) {
            let (i, j) = end_positions(s);
            ends.push((*first, cells::to_json(s.as_ref(), i)));
            ends.push((*last, cells::to_json(s.as_ref(), j)));
        }
    }
    if ends.is_empty() {
        return Ok(None);
    }
    let lo = ends
        .iter()
        .min_by(|x, y| x.0.total_cmp(&y.0))
        .expect("not empty")
        .clone();
    let hi = ends
        .iter()
        .max_by(|x, y| x.0.total_cmp(&y.0))
        .expect("not empty")
        .clone();
    let width = (hi.0 - lo.0) / BINS as f64;
    let bins = |xs: &[f64], present: bool| -> Vec<u64> {
        if !present {
            return Vec::new();
        }
        let mut out = vec![0u64; BINS];
        for &x in xs {
            let i = if width > 0.0 {
                (((x - lo.0) / width) as usize).min(BINS - 1)
            } else {
                0
            };
            out[i] += 1;
        }
        out
    };
    Ok(Some(Histogram {
        lo: lo.1,
        hi: hi.1,
        v1: bins(&na, sa.is_some()),
        v2: bins(&nb, sb.is_some()),
    }))
}

/// Positions of the first and last non-NaN value of a sorted array (NaN
/// sorts last).
fn end_positions(s: &ArrayRef) -> (usize, usize) {
    let mut j = s.len() - 1;
    if let Some(f) = s.as_primitive_opt::<Float64Type>() {
        while j > 0 && f.value(j).is_nan() {
            j -= 1;
        }
    }
    (0, j)
}

/// PSI of v2's sorted sample against v1's deciles; `None` with too few
/// values.
pub fn psi(a: &ArrayRef, b: &ArrayRef) -> Result<Option<f64>> {
    let na = numbers(a)?;
    let nb = numbers(b)?;
    if na.len() < MIN_SCORED || nb.len() < MIN_SCORED {
        return Ok(None);
    }
    let mut edges: Vec<f64> = (1..10)
        .map(|k| na[rank(k as f64 * 10.0, na.len())])
        .collect();
    edges.dedup();
    let count = |xs: &[f64]| {
        let mut out = vec![0u64; edges.len() + 1];
        for &x in xs {
            out[edges.partition_point(|e| *e < x)] += 1;
        }
        out
    };
    let (ca, cb) = (count(&na), count(&nb));
    let mut total = 0.0;
    for (x, y) in ca.iter().zip(&cb) {
        let p = (*x as f64 / na.len() as f64).max(EPSILON);
        let q = (*y as f64 / nb.len() as f64).max(EPSILON);
        total += (q - p) * (q / p).ln();
    }
    Ok(Some(total))
}

/// Jensen–Shannon distance of two exact frequency tables.
pub fn js_distance(a: &ColAcc, b: &ColAcc) -> Option<f64> {
    let (fa, fb) = (a.freq.as_ref()?, b.freq.as_ref()?);
    let na: u64 = fa.values().map(|e| e.0).sum();
    let nb: u64 = fb.values().map(|e| e.0).sum();
    if (na as usize) < MIN_SCORED || (nb as usize) < MIN_SCORED {
        return None;
    }
    let mut keys: Vec<u64> = fa.keys().chain(fb.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    let mut jsd = 0.0;
    for k in keys {
        let p = fa.get(&k).map_or(0.0, |e| e.0 as f64 / na as f64);
        let q = fb.get(&k).map_or(0.0, |e| e.0 as f64 / nb as f64);
        let m = (p + q) / 2.0;
        if p > 0.0 {
            jsd += 0.5 * p * (p / m).log2();
        }
        if q > 0.0 {
            jsd += 0.5 * q * (q / m).log2();
        }
    }
    Some(jsd.max(0.0).sqrt().min(1.0))
}

/// The drift scores of a column both sides have.
pub fn drift(
    kind: ProfileKind,
    (a, b): (&Side, &Side),
    (pa, pb): (&SideProfile, &SideProfile),
) -> Result<DriftScores> {
    let mut d = DriftScores {
        null_rate_delta: pb.null_rate - pa.null_rate,
        distinct_change: (pa.distinct > 0)
            .then(|| (pb.distinct as f64 - pa.distinct as f64) / pa.distinct as f64),
        ..Default::default()
    };
    let few = || format!("fewer than {MIN_SCORED} non-NULL values on a side");
    match kind {
        ProfileKind::Number | ProfileKind::Time => match (&a.sample, &b.sample) {
            (Some(x), Some(y)) => {
                d.psi = psi(x, y)?;
                if d.psi.is_none() {
                    d.unscored = Some(few());
                }
            }
            _ => d.unscored = Some(few()),
        },
        ProfileKind::Text | ProfileKind::Boolean => {
            if a.acc.freq.is_none() || b.acc.freq.is_none() {
                d.unscored = Some(format!(
                    "more than {} distinct values",
                    super::acc::FREQ_CAP
                ));
            } else {
                d.js_distance = js_distance(a.acc, b.acc);
                if d.js_distance.is_none() {
                    d.unscored = Some(few());
                }
            }
        }
        ProfileKind::Other => d.unscored = Some("no distribution for this type".into()),
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;
    use std::sync::Arc;

    fn arr(xs: impl IntoIterator<Item = f64>) -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(xs))
    }

    #[test]
    fn psi_is_zero_for_the_same_sample_and_large_for_a_shift() {
        let a = arr((0..1000).map(f64::from));
        assert_eq!(psi(&a, &a).unwrap(), Some(0.0));
        // A tenth of the values moved beyond v1's range: one bin gains 0.1.
        let b = arr((0..1000).map(|i| {
            if i < 100 {
                5000.0 + f64::from(i)
            } else {
                f64::from(i)
            }
        }));
        let s = psi(&a, &b).unwrap().unwrap();
        // Bin 0 empties (smoothed to 0.0001), the last bin doubles:
        // (0.0001 − 0.1)·ln(0.001) + (0.2 − 0.1)·ln 2 ≈ 0.7594.
        let want = (1e-4 - 0.1) * (1e-3f64).ln() + 0.1 * 2f64.ln();
        assert!((s - want).abs() < 1e-9, "{s}");
        // Too few values: no score.
        assert_eq!(psi(&arr([1.0, 2.0]), &a).unwrap(), None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(rank(50.0, 10), 4);
        assert_eq!(rank(1.0, 10), 0);
        assert_eq!(rank(99.0, 10), 9);
        assert_eq!(rank(50.0, 1), 0);
    }

    #[test]
    fn js_distance_of_disjoint_and_equal_tables() {
        let acc = |values: Vec<&str>| {
            let mut c = ColAcc::new(&DataType::Utf8).unwrap();
            let a: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(values));
            c.add(&a).unwrap();
            c
        };
        let a = acc(vec!["x"; 200]);
        let b = acc(vec!["y"; 200]);
        assert_eq!(js_distance(&a, &a), Some(0.0));
        assert!((js_distance(&a, &b).unwrap() - 1.0).abs() < 1e-12);
        let mut half = vec!["x"; 100];
        half.extend(vec!["y"; 100]);
        let c = acc(half);
        // P = (1, 0), Q = (½, ½): JSD = ¾·log2(4/3)·… = 0.311; √ = 0.558.
        let d = js_distance(&a, &c).unwrap();
        assert!((d - 0.5579).abs() < 1e-3, "{d}");
    }
}
