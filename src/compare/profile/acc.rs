//! The state a side's profile folds its rows into, per partition, and how
//! two states merge. Every part merges without regard to order, so the
//! profile is the same at any thread count:
//!
//! * counts, the exact sums of [`Moments`], minimum and maximum;
//! * value frequencies, kept exactly while a column has at most
//!   [`FREQ_CAP`] distinct values (a partition over the cap means the whole
//!   column is), then a HyperLogLog of the values;
//! * a sample of the rows with the smallest hashes ([`Sample`]): the same
//!   rows whichever partition they come from.
//!
//! Values are hashed by [`value_hashes`], the same on every machine (the
//! engine's own hashing may differ between CPUs), so distinct estimates and
//! samples are too.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringViewArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{
    cast, filter_record_batch, interleave_record_batch, max_string, min_string,
};
use datafusion::arrow::datatypes::*;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use datafusion::logical_expr::Accumulator;
use twox_hash::XxHash64;

use super::sum::Moments;
use crate::compare::row_hash::fmix64;
use crate::report::ProfileKind;
use crate::transform::compact_views;

/// Distinct values a column may have for its frequencies to be kept.
pub const FREQ_CAP: usize = 1000;

const SEED: u64 = 0x6469_6666_6761_7465;
const NULL_HASH: u64 = 0x9e37_79b9_7f4a_7c15;

/// How a column of type `t` is profiled.
pub fn kind_of(t: &DataType) -> ProfileKind {
    use DataType::*;
    match t {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float16 | Float32
        | Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => {
            ProfileKind::Number
        }
        Date32 | Date64 | Time32(_) | Time64(_) | Timestamp(..) => ProfileKind::Time,
        Utf8 | LargeUtf8 | Utf8View => ProfileKind::Text,
        Boolean => ProfileKind::Boolean,
        Dictionary(_, v) => kind_of(v),
        _ => ProfileKind::Other,
    }
}

/// The type a column is profiled in: a dictionary's values.
pub fn plain_type(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, v) => plain_type(v),
        t => t.clone(),
    }
}

fn float_bits(x: f64) -> u64 {
    if x.is_nan() {
        f64::NAN.to_bits()
    } else if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

/// A hash of each value of `a`, equal for equal values and the same on
/// every machine; NULLs get one marker. `None` for a type no hash is made
/// for here.
pub fn value_hashes(a: &dyn Array) -> Option<Vec<u64>> {
    use DataType::*;
    macro_rules! prim {
        ($t:ty, $f:expr) => {
            a.as_primitive::<$t>()
                .values()
                .iter()
                .map(|v| fmix64(($f)(*v) ^ SEED))
                .collect::<Vec<u64>>()
        };
    }
    macro_rules! bytes {
        ($arr:expr) => {{
            let arr = $arr;
            (0..arr.len())
                .map(|i| XxHash64::oneshot(SEED, AsRef::<[u8]>::as_ref(arr.value(i))))
                .collect::<Vec<u64>>()
        }};
    }
    let mut out: Vec<u64> = match a.data_type() {
        Boolean => {
            let b = a.as_boolean();
            (0..a.len())
                .map(|i| fmix64((b.value(i) as u64 + 1) ^ SEED))
                .collect()
        }
        Int8 => prim!(Int8Type, |v: i8| v as i64 as u64),
        Int16 => prim!(Int16Type, |v: i16| v as i64 as u64),
        Int32 => prim!(Int32Type, |v: i32| v as i64 as u64),
        Int64 => prim!(Int64Type, |v: i64| v as u64),
        UInt8 => prim!(UInt8Type, |v: u8| v as u64),
        UInt16 => prim!(UInt16Type, |v: u16| v as u64),
        UInt32 => prim!(UInt32Type, |v: u32| v as u64),
        UInt64 => prim!(UInt64Type, |v: u64| v),
        Float32 => prim!(Float32Type, |v: f32| float_bits(v as f64)),
        Float64 => prim!(Float64Type, float_bits),
        Decimal128(..) => prim!(Decimal128Type, |v: i128| (v as u64)
            ^ fmix64((v >> 64) as u64)),
        Date32 => prim!(Date32Type, |v: i32| v as i64 as u64),
        Date64 => prim!(Date64Type, |v: i64| v as u64),
        Timestamp(..) | Time64(_) | Time32(_) | Duration(_) => {
            let wide = match a.data_type() {
                Time32(_) => cast(&cast(a, &Int32).ok()?, &Int64).ok()?,
                _ => cast(a, &Int64).ok()?,
            };
            wide.as_primitive::<Int64Type>()
                .values()
                .iter()
                .map(|v| fmix64(*v as u64 ^ SEED))
                .collect()
        }
        Utf8 => bytes!(a.as_string::<i32>()),
        LargeUtf8 => bytes!(a.as_string::<i64>()),
        Utf8View => bytes!(a.as_string_view()),
        Binary => bytes!(a.as_binary::<i32>()),
        LargeBinary => bytes!(a.as_binary::<i64>()),
        BinaryView => bytes!(a.as_binary_view()),
        FixedSizeBinary(_) => bytes!(a.as_fixed_size_binary()),
        t => {
            let conv = RowConverter::new(vec![SortField::new(t.clone())]).ok()?;
            let rows = conv
                .convert_columns(&[Arc::new(a.slice(0, a.len()))])
                .ok()?;
            rows.iter()
                .map(|r| XxHash64::oneshot(SEED, r.as_ref()))
                .collect()
        }
    };
    if let Some(n) = a.logical_nulls() {
        for (i, h) in out.iter_mut().enumerate() {
            if n.is_null(i) {
                *h = NULL_HASH;
            }
        }
    }
    Some(out)
}

/// One hash per row over `columns` (a constant for none).
pub fn row_hashes(columns: &[&ArrayRef], rows: usize) -> Vec<u64> {
    combine(columns.iter().map(|c| value_hashes(c.as_ref())), rows)
}

/// One hash per row from each column's value hashes (`None`: a column
/// without them, as if each were 0).
pub fn combine<H: AsRef<[u64]>>(columns: impl Iterator<Item = Option<H>>, rows: usize) -> Vec<u64> {
    let mut out = vec![SEED; rows];
    for (j, hs) in columns.enumerate() {
        let j = j as u64;
        match hs {
            Some(hs) => {
                for (r, h) in out.iter_mut().zip(hs.as_ref()) {
                    *r = fmix64(*r ^ h.wrapping_add(j));
                }
            }
            None => out.iter_mut().for_each(|r| *r = fmix64(*r ^ j)),
        }
    }
    out
}

/// HyperLogLog with 2^14 one-byte registers (standard error 0.81%).
#[derive(Debug, Clone)]
pub struct Hll(Box<[u8]>);

const HLL_P: u32 = 14;

impl Hll {
    fn new() -> Self {
        Hll(vec![0; 1 << HLL_P].into_boxed_slice())
    }

    fn add(&mut self, h: u64) {
        let i = (h >> (64 - HLL_P)) as usize;
        let w = (h << HLL_P) | (1 << (HLL_P - 1));
        let rank = w.leading_zeros() as u8 + 1;
        if rank > self.0[i] {
            self.0[i] = rank;
        }
    }

    fn merge(&mut self, o: &Hll) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a = (*a).max(*b);
        }
    }

    /// The estimate, with linear counting for small ones.
    pub fn estimate(&self) -> u64 {
        let m = self.0.len() as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let mut sum = 0.0;
        let mut zeros = 0u64;
        for &r in self.0.iter() {
            sum += (-(r as f64)).exp2();
            zeros += u64::from(r == 0);
        }
        let e = alpha * m * m / sum;
        let e = if e <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            e
        };
        e.round() as u64
    }
}

/// A hasher that passes an already mixed `u64` through.
#[derive(Default)]
pub struct Passthrough(u64);

impl Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Value hash → (rows holding it, the value).
pub type Frequencies = HashMap<u64, (u64, ScalarValue), BuildHasherDefault<Passthrough>>;

/// One column of one side.
#[derive(Debug)]
pub struct ColAcc {
    pub kind: ProfileKind,
    pub data_type: DataType,
    pub rows: u64,
    pub nulls: u64,
    /// Least and greatest value (not for `Other`).
    range: Option<Range>,
    pub moments: Option<Moments>,
    /// Exact frequencies while at most [`FREQ_CAP`] values are distinct.
    pub freq: Option<Frequencies>,
    /// All values, once the frequencies are gone (or never kept).
    pub hll: Option<Hll>,
    /// No hash exists for the type: no distinct count.
    pub unhashable: bool,
    /// Strings: shortest, longest, total length in bytes (UTF-8).
    pub lengths: Option<(u64, u64, u64)>,
}

impl ColAcc {
    pub fn new(data_type: &DataType) -> Result<Self> {
        let kind = kind_of(data_type);
        let data_type = plain_type(data_type);
        let range = match kind {
            ProfileKind::Other => None,
            // In byte order (the order of UTF-8 code points).
            ProfileKind::Text => Some(Range::Text(TextRange::default())),
            _ => Some(Range::Engine(
                MinAccumulator::try_new(&data_type)?,
                MaxAccumulator::try_new(&data_type)?,
            )),
        };
        Ok(ColAcc {
            kind,
            rows: 0,
            nulls: 0,
            range,
            moments: (kind == ProfileKind::Number).then(Moments::default),
            freq: (kind != ProfileKind::Other).then(Frequencies::default),
            hll: (kind == ProfileKind::Other).then(Hll::new),
            unhashable: false,
            lengths: None,
            data_type,
        })
    }

    /// Fold `a` in; the values' hashes, when made, for the sample to reuse.
    pub fn add(&mut self, a: &ArrayRef) -> Result<Option<Vec<u64>>> {
        let n = a.len();
        let nulls = a.logical_nulls();
        let is_null = |i: usize| nulls.as_ref().is_some_and(|b| b.is_null(i));
        self.rows += n as u64;
        self.nulls += nulls.as_ref().map_or(0, |b| b.null_count()) as u64;
        if let Some(r) = &mut self.range {
            r.add(a)?;
        }
        if let Some(moments) = &mut self.moments {
            add_moments(moments, a)?;
        }
        if self.kind == ProfileKind::Text {
            let mut l = self.lengths.unwrap_or((u64::MAX, 0, 0));
            let mut one = |n: usize| {
                let c = n as u64;
                l = (l.0.min(c), l.1.max(c), l.2 + c);
            };
            let valid = |i: usize| !is_null(i);
            match a.data_type() {
                DataType::Utf8 => {
                    let s = a.as_string::<i32>();
                    (0..n)
                        .filter(|&i| valid(i))
                        .for_each(|i| one(s.value_length(i) as usize));
                }
                DataType::LargeUtf8 => {
                    let s = a.as_string::<i64>();
                    (0..n)
                        .filter(|&i| valid(i))
                        .for_each(|i| one(s.value_length(i) as usize));
                }
                DataType::Utf8View => {
                    let views = a.as_string_view().views();
                    (0..n)
                        .filter(|&i| valid(i))
                        .for_each(|i| one((views[i] as u32) as usize));
                }
                _ => {}
            }
            if l.0 != u64::MAX {
                self.lengths = Some(l);
            }
        }
        if self.unhashable {
            return Ok(None);
        }
        let Some(hs) = value_hashes(a.as_ref()) else {
            self.unhashable = true;
            self.freq = None;
            self.hll = None;
            return Ok(None);
        };
        self.count_values(a, &hs, nulls.as_ref())?;
        Ok(Some(hs))
    }

    /// Count each non-NULL value of `a` (hashed as `hs`): in the
    /// frequencies while they last, else in the HyperLogLog.
    fn count_values(&mut self, a: &ArrayRef, hs: &[u64], nulls: Option<&NullBuffer>) -> Result<()> {
        let nulls = nulls.filter(|n| n.null_count() > 0);
        let is_null = |i: usize| nulls.is_some_and(|b| b.is_null(i));
        let n = a.len();
        let mut i = 0;
        if let Some(freq) = &mut self.freq {
            while i < n {
                if !is_null(i) {
                    match freq.get_mut(&hs[i]) {
                        Some(e) => e.0 += 1,
                        None => {
                            freq.insert(hs[i], (1, ScalarValue::try_from_array(a, i)?));
                        }
                    }
                    if freq.len() > FREQ_CAP {
                        i += 1;
                        break;
                    }
                }
                i += 1;
            }
            if freq.len() <= FREQ_CAP {
                return Ok(());
            }
            self.overflow();
        }
        let hll = self.hll.get_or_insert_with(Hll::new);
        match nulls {
            None => hs[i..].iter().for_each(|h| hll.add(*h)),
            Some(b) => b
                .valid_indices()
                .filter(|&j| j >= i)
                .for_each(|j| hll.add(hs[j])),
        }
        Ok(())
    }

    /// Too many distinct values: the frequencies become a HyperLogLog.
    fn overflow(&mut self) {
        if let Some(freq) = self.freq.take() {
            let hll = self.hll.get_or_insert_with(Hll::new);
            for h in freq.keys() {
                hll.add(*h);
            }
        }
    }

    pub fn merge(&mut self, mut o: ColAcc) -> Result<()> {
        self.rows += o.rows;
        self.nulls += o.nulls;
        if let (Some(a), Some(b)) = (&mut self.range, o.range.take()) {
            a.merge(b)?;
        }
        if let (Some(a), Some(b)) = (&mut self.moments, &o.moments) {
            a.merge(b);
        }
        self.lengths = match (self.lengths, o.lengths) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1), a.2 + b.2)),
            (a, b) => a.or(b),
        };
        if self.unhashable || o.unhashable {
            self.unhashable = true;
            self.freq = None;
            self.hll = None;
            return Ok(());
        }
        match (&mut self.freq, o.freq.take()) {
            (Some(a), Some(b)) => {
                for (h, (n, v)) in b {
                    a.entry(h).or_insert((0, v)).0 += n;
                }
                if a.len() > FREQ_CAP {
                    self.overflow();
                }
            }
            (Some(_), None) => self.overflow(),
            (None, Some(b)) => {
                let hll = self.hll.get_or_insert_with(Hll::new);
                for h in b.keys() {
                    hll.add(*h);
                }
            }
            (None, None) => {}
        }
        if let Some(b) = &o.hll {
            self.hll.get_or_insert_with(Hll::new).merge(b);
        }
        Ok(())
    }

    /// The least and greatest non-NULL value, when ranged.
    pub fn range(&mut self) -> Result<(Option<ScalarValue>, Option<ScalarValue>)> {
        self.range.as_mut().map_or(Ok((None, None)), Range::ends)
    }

    /// Distinct non-NULL values and whether the count is exact.
    pub fn distinct(&self) -> Option<(u64, bool)> {
        match (&self.freq, &self.hll) {
            (Some(f), _) => Some((f.len() as u64, true)),
            (None, Some(h)) => Some((h.estimate(), false)),
            (None, None) => None,
        }
    }
}

/// A column's least and greatest value: the engine's accumulators, or
/// text's own (byte order, faster on string views).
#[derive(Debug)]
enum Range {
    Engine(MinAccumulator, MaxAccumulator),
    Text(TextRange),
}

impl Range {
    fn add(&mut self, a: &ArrayRef) -> Result<()> {
        match self {
            Range::Engine(lo, hi) => {
                lo.update_batch(std::slice::from_ref(a))?;
                hi.update_batch(std::slice::from_ref(a))
            }
            Range::Text(t) => {
                t.add(a);
                Ok(())
            }
        }
    }

    fn merge(&mut self, o: Range) -> Result<()> {
        fn state(acc: &mut dyn Accumulator) -> Result<Vec<ArrayRef>> {
            acc.state()?.into_iter().map(|s| s.to_array()).collect()
        }
        match (self, o) {
            (Range::Engine(lo, hi), Range::Engine(mut olo, mut ohi)) => {
                lo.merge_batch(&state(&mut olo)?)?;
                hi.merge_batch(&state(&mut ohi)?)
            }
            (Range::Text(t), Range::Text(ot)) => {
                t.merge(ot);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn ends(&mut self) -> Result<(Option<ScalarValue>, Option<ScalarValue>)> {
        Ok(match self {
            Range::Engine(lo, hi) => {
                let some = |v: ScalarValue| Some(v).filter(|v| !v.is_null());
                (some(lo.evaluate()?), some(hi.evaluate()?))
            }
            Range::Text(t) => {
                let text = |v: &Option<String>| v.clone().map(|s| ScalarValue::Utf8(Some(s)));
                (text(&t.min), text(&t.max))
            }
        })
    }
}

/// The least and greatest text, in byte order.
#[derive(Debug, Default)]
struct TextRange {
    min: Option<String>,
    max: Option<String>,
}

impl TextRange {
    fn add(&mut self, a: &ArrayRef) {
        let (lo, hi) = match a.data_type() {
            DataType::Utf8View => view_range(a.as_string_view()),
            DataType::Utf8 => {
                let s = a.as_string::<i32>();
                (min_string(s), max_string(s))
            }
            DataType::LargeUtf8 => {
                let s = a.as_string::<i64>();
                (min_string(s), max_string(s))
            }
            _ => (None, None),
        };
        self.offer(lo, hi);
    }

    fn offer(&mut self, lo: Option<&str>, hi: Option<&str>) {
        if let Some(lo) = lo
            && self.min.as_deref().is_none_or(|m| lo < m)
        {
            self.min = Some(lo.to_string());
        }
        if let Some(hi) = hi
            && self.max.as_deref().is_none_or(|m| hi > m)
        {
            self.max = Some(hi.to_string());
        }
    }

    fn merge(&mut self, o: TextRange) {
        self.offer(o.min.as_deref(), o.max.as_deref());
    }
}

/// The least and greatest non-NULL value of a string view array. A view
/// holds a value's first four bytes: compared as a big-endian number they
/// order values as their bytes do, so most values are settled by one
/// integer comparison and only ties read the whole value.
fn view_range(s: &StringViewArray) -> (Option<&str>, Option<&str>) {
    let views = s.views();
    let prefix = |i: usize| ((views[i] >> 32) as u32).swap_bytes();
    let nulls = s.logical_nulls();
    let mut valid = (0..s.len()).filter(|&i| nulls.as_ref().is_none_or(|n| n.is_valid(i)));
    let Some(first) = valid.next() else {
        return (None, None);
    };
    let (mut lo, mut hi) = (first, first);
    let (mut lo_p, mut hi_p) = (prefix(first), prefix(first));
    for i in valid {
        let p = prefix(i);
        if p < lo_p || (p == lo_p && s.value(i) < s.value(lo)) {
            (lo, lo_p) = (i, p);
        }
        if p > hi_p || (p == hi_p && s.value(i) > s.value(hi)) {
            (hi, hi_p) = (i, p);
        }
    }
    (Some(s.value(lo)), Some(s.value(hi)))
}

/// Add integers below 2^31 in magnitude to `m` at once: their sum fits 64
/// bits and their squares' sum 128, so no value needs an overflow check.
fn small_sums(m: &mut Moments, values: impl Iterator<Item = i64>) {
    let (mut n, mut s1, mut s2) = (0u64, 0i64, 0i128);
    for v in values {
        n += 1;
        s1 += v;
        s2 += i128::from(v * v);
    }
    m.add_int_sums(n, i128::from(s1), s2);
}

/// Add every non-NULL value of `a` to `m`: integers (and decimals'
/// unscaled values, then scaled) exactly in 128 bits, the rest as doubles.
fn add_moments(m: &mut Moments, a: &ArrayRef) -> Result<()> {
    use DataType::*;
    // A batch whose values are all below 2^31 in magnitude is summed in
    // one pass without overflow checks (squares below 2^62, their sum in
    // 128 bits), and its sums added at once; others value by value.
    macro_rules! ints {
        ($t:ty) => {{
            let p = a.as_primitive::<$t>();
            let vals = p.values();
            let nulls = p.nulls().filter(|n| n.null_count() > 0);
            const SMALL: u128 = 1 << 31;
            let small = vals.iter().all(|v| i128::from(*v).unsigned_abs() < SMALL);
            let small_value = |v: &_| i128::from(*v) as i64;
            match (small, nulls) {
                (true, None) => small_sums(m, vals.iter().map(small_value)),
                (true, Some(n)) => small_sums(m, n.valid_indices().map(|i| small_value(&vals[i]))),
                (false, _) => p.iter().flatten().for_each(|v| m.add_int(i128::from(v))),
            }
        }};
    }
    match a.data_type() {
        Int8 => ints!(Int8Type),
        Int16 => ints!(Int16Type),
        Int32 => ints!(Int32Type),
        Int64 => ints!(Int64Type),
        UInt8 => ints!(UInt8Type),
        UInt16 => ints!(UInt16Type),
        UInt32 => ints!(UInt32Type),
        UInt64 => ints!(UInt64Type),
        // Unscaled, exactly; the profile scales the mean and deviation.
        Decimal128(..) => ints!(Decimal128Type),
        Decimal64(..) => ints!(Decimal64Type),
        Decimal32(..) => ints!(Decimal32Type),
        _ => {
            let f = cast(a, &DataType::Float64)?;
            let f = f.as_primitive::<Float64Type>();
            if f.null_count() == 0 {
                f.values().iter().for_each(|x| m.add(*x));
            } else {
                f.iter().flatten().for_each(|x| m.add(x));
            }
        }
    }
    Ok(())
}

/// The rows of one side with the smallest `(hash of the key, hash of the
/// row)`, at most `limit`: a uniform sample that is the same set whatever
/// the partitions, and (with a key) the same keys on both sides.
#[derive(Debug)]
pub struct Sample {
    limit: usize,
    /// Candidates: the profiled columns plus the key hash, last.
    batches: Vec<RecordBatch>,
    rows: usize,
    /// No row hashing above this can be among the smallest `limit`.
    threshold: u64,
}

impl Sample {
    pub fn new(limit: usize) -> Self {
        Sample {
            limit,
            batches: Vec::new(),
            rows: 0,
            threshold: u64::MAX,
        }
    }

    /// Offer the rows of `batch` (profiled columns plus the key hash).
    pub fn add(&mut self, batch: RecordBatch) -> Result<()> {
        if self.limit == 0 {
            return Ok(());
        }
        let h = batch
            .column(batch.num_columns() - 1)
            .as_primitive::<UInt64Type>();
        // Kept rows are copied out of the batch's string buffers (which
        // hold whole pages of the file).
        let keep = if self.threshold == u64::MAX {
            compact_views(batch)?
        } else {
            let t = self.threshold;
            let values = h.values();
            let mask = BooleanArray::new(
                datafusion::arrow::buffer::BooleanBuffer::collect_bool(values.len(), |i| {
                    values[i] <= t
                }),
                None,
            );
            compact_views(filter_record_batch(&batch, &mask)?)?
        };
        if keep.num_rows() > 0 {
            self.rows += keep.num_rows();
            self.batches.push(keep);
        }
        if self.rows > 2 * self.limit.max(1024) {
            self.compact()?;
        }
        Ok(())
    }

    pub fn merge(&mut self, o: Sample) -> Result<()> {
        self.rows += o.rows;
        self.batches.extend(o.batches);
        self.threshold = self.threshold.min(o.threshold);
        if self.rows > self.limit {
            self.compact()?;
        }
        Ok(())
    }

    /// Keep the `limit` rows with the smallest key hash, rows with the
    /// same key hash at the cut chosen by the hash of the whole row. Only
    /// the kept rows are copied.
    fn compact(&mut self) -> Result<()> {
        let Some(first) = self.batches.first() else {
            return Ok(());
        };
        let schema = first.schema();
        let nc = schema.fields().len();
        let mut rows: Vec<(u64, usize, usize)> = Vec::with_capacity(self.rows);
        for (b, batch) in self.batches.iter().enumerate() {
            let h = batch.column(nc - 1).as_primitive::<UInt64Type>();
            rows.extend(h.values().iter().enumerate().map(|(r, v)| (*v, b, r)));
        }
        if rows.len() > self.limit && self.limit > 0 {
            rows.select_nth_unstable_by_key(self.limit - 1, |e| e.0);
            let cut = rows[self.limit - 1].0;
            let (kept, rest) = rows.split_at_mut(self.limit);
            if rest.iter().any(|e| e.0 == cut) {
                // Rows tying at the cut on both sides of it: the whole
                // row's hash decides, so the kept set is the same however
                // the rows arrived.
                let mut ties: Vec<(u64, usize, usize)> = kept
                    .iter()
                    .chain(rest.iter())
                    .filter(|e| e.0 == cut)
                    .copied()
                    .collect();
                let n_in = kept.iter().filter(|e| e.0 == cut).count();
                let refs: Vec<&RecordBatch> = self.batches.iter().collect();
                let idx: Vec<(usize, usize)> = ties.iter().map(|e| (e.1, e.2)).collect();
                let tied = interleave_record_batch(&refs, &idx)?;
                let cols: Vec<&ArrayRef> = tied.columns()[..nc - 1].iter().collect();
                let second = row_hashes(&cols, tied.num_rows());
                let mut order: Vec<usize> = (0..ties.len()).collect();
                order.sort_by_key(|&i| second[i]);
                let chosen: Vec<(u64, usize, usize)> =
                    order[..n_in].iter().map(|&i| ties[i]).collect();
                ties.clear();
                let mut out: Vec<(u64, usize, usize)> =
                    kept.iter().filter(|e| e.0 != cut).copied().collect();
                out.extend(chosen);
                rows = out;
            } else {
                rows.truncate(self.limit);
            }
            self.threshold = cut;
        }
        rows.sort_unstable();
        let refs: Vec<&RecordBatch> = self.batches.iter().collect();
        let idx: Vec<(usize, usize)> = rows.iter().map(|e| (e.1, e.2)).collect();
        let kept = compact_views(interleave_record_batch(&refs, &idx)?)?;
        self.rows = kept.num_rows();
        self.batches = vec![kept];
        Ok(())
    }

    /// The sample, in hash order (without the key hash column).
    pub fn finish(mut self) -> Result<Option<RecordBatch>> {
        self.compact()?;
        Ok(self.batches.pop().map(|b| {
            let n = b.num_columns();
            b.project(&(0..n - 1).collect::<Vec<_>>())
                .expect("in range")
        }))
    }
}

/// Everything one partition of one side found.
#[derive(Debug)]
pub struct SideAcc {
    pub columns: Vec<ColAcc>,
    pub sample: Sample,
}

impl SideAcc {
    pub fn merge(&mut self, o: SideAcc) -> Result<()> {
        for (a, b) in self.columns.iter_mut().zip(o.columns) {
            a.merge(b)?;
        }
        self.sample.merge(o.sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray, UInt64Array};

    #[test]
    fn value_hashes_are_fixed_and_equal_for_equal_values() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(1), Some(2)]));
        let h = value_hashes(a.as_ref()).unwrap();
        assert_eq!(h[0], h[2]);
        assert_ne!(h[0], h[3]);
        assert_eq!(h[1], NULL_HASH);
        // The same on every machine: a fixed value.
        assert_eq!(h[0], fmix64(1 ^ SEED));
        let f: ArrayRef = Arc::new(Float64Array::from(vec![0.0, -0.0, f64::NAN, -f64::NAN]));
        let h = value_hashes(f.as_ref()).unwrap();
        assert_eq!(h[0], h[1]);
        assert_eq!(h[2], h[3]);
        let s: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "a"]));
        let h = value_hashes(s.as_ref()).unwrap();
        assert_eq!(h[0], h[2]);
        assert_eq!(h[0], XxHash64::oneshot(SEED, b"a"));
    }

    #[test]
    fn hyperloglog_is_within_its_error() {
        for n in [10u64, 1000, 100_000] {
            let mut h = Hll::new();
            for i in 0..n {
                h.add(fmix64(i ^ SEED));
            }
            let e = h.estimate() as f64;
            assert!((e - n as f64).abs() <= 0.03 * n as f64 + 1.0, "{n}: {e}");
        }
    }

    #[test]
    fn frequencies_give_way_to_a_sketch_past_the_cap_in_any_split() {
        let values: Vec<i64> = (0..3000).map(|i| i % 1500).collect();
        let whole: ArrayRef = Arc::new(Int64Array::from(values.clone()));
        let mut one = ColAcc::new(&DataType::Int64).unwrap();
        one.add(&whole).unwrap();
        // Each half is under the cap; together they are over it.
        let mut a = ColAcc::new(&DataType::Int64).unwrap();
        let mut b = ColAcc::new(&DataType::Int64).unwrap();
        a.add(&(Arc::new(Int64Array::from((0..900).collect::<Vec<i64>>())) as ArrayRef))
            .unwrap();
        b.add(&(Arc::new(Int64Array::from((600..1500).collect::<Vec<i64>>())) as ArrayRef))
            .unwrap();
        a.merge(b).unwrap();
        assert!(!one.distinct().unwrap().1);
        assert!(!a.distinct().unwrap().1);
        assert_eq!(one.distinct().unwrap().0, a.distinct().unwrap().0);
    }

    #[test]
    fn the_sample_is_the_same_set_however_rows_are_split() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, false),
            Field::new("h", DataType::UInt64, false),
        ]));
        let batch = |r: std::ops::Range<i64>| {
            let x: Vec<i64> = r.collect();
            let h: Vec<u64> = x.iter().map(|v| fmix64(*v as u64)).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(x)),
                    Arc::new(UInt64Array::from(h)),
                ],
            )
            .unwrap()
        };
        let mut one = Sample::new(100);
        one.add(batch(0..5000)).unwrap();
        let mut a = Sample::new(100);
        let mut b = Sample::new(100);
        for k in 0..10 {
            let part = batch(k * 500..(k + 1) * 500);
            if k % 2 == 0 { a.add(part) } else { b.add(part) }.unwrap();
        }
        b.merge(a).unwrap();
        let (x, y) = (one.finish().unwrap().unwrap(), b.finish().unwrap().unwrap());
        assert_eq!(x.num_rows(), 100);
        assert_eq!(x, y);
    }

    #[test]
    fn text_ranges_and_lengths_are_in_bytes_in_every_string_layout() {
        use datafusion::arrow::array::{LargeStringArray, StringViewArray};
        // Short and long, ASCII and not, inline and in buffers, a NULL.
        let values = [
            Some("Oslo"),
            Some("Łódź"),
            None,
            Some("Санкт-Петербург"),
            Some("a plain ASCII line longer than twelve"),
        ];
        let arrays: [ArrayRef; 3] = [
            Arc::new(StringArray::from(values.to_vec())),
            Arc::new(LargeStringArray::from(values.to_vec())),
            Arc::new(StringViewArray::from(values.to_vec())),
        ];
        for a in arrays {
            let mut c = ColAcc::new(a.data_type()).unwrap();
            c.add(&a).unwrap();
            // In bytes: Łódź is 7, Санкт-Петербург 29.
            let bytes = Some((4, 37, 4 + 7 + 29 + 37));
            assert_eq!(c.lengths, bytes, "{}", a.data_type());
            let text = |v: Option<ScalarValue>| v.map(|v| v.to_string());
            let (lo, hi) = c.range().unwrap();
            assert_eq!(text(lo).as_deref(), Some("Oslo"));
            assert_eq!(text(hi).as_deref(), Some("Санкт-Петербург"));
        }
    }

    #[test]
    fn decimals_are_summed_unscaled_and_exactly() {
        use datafusion::arrow::array::Decimal128Array;
        let a: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(125), Some(250), None, Some(-75)])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        let mut c = ColAcc::new(a.data_type()).unwrap();
        c.add(&a).unwrap();
        // Unscaled: (125 + 250 - 75) / 3.
        assert_eq!(c.moments.as_ref().unwrap().mean(), Some(100.0));
    }
}
