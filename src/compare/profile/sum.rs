//! Exact sums for a column's mean and standard deviation, at a constant
//! cost per value.
//!
//! The engine's exact aggregates (`engine::exact`) keep a sum as a short
//! expansion of doubles, which suits a group of a `GROUP BY` but grows with
//! the spread of the values: over a million random prices and their squares
//! it was a quarter of a diff's time. A profile keeps one sum per column, so
//! here each is a fixed-point integer wide enough for every double (a
//! "superaccumulator": 67 signed 64-bit chunks of 32 bits each, with room
//! for 2^30 additions before carries must be propagated). Adding a value is
//! a few shifts and three integer additions; sums merge by adding chunks;
//! both are exact, so the result depends only on the values, not on their
//! order or the partitions.

use crate::engine::exact::{Exact, two_product};

const CHUNKS: usize = 67;
/// Additions between carry propagations (each adds less than 2^32 to a
/// chunk, so a chunk stays below 2^62).
const BETWEEN_CARRIES: u32 = 1 << 30;

/// An exact sum of doubles.
#[derive(Debug, Clone, PartialEq)]
pub struct Sum {
    chunks: [i64; CHUNKS],
    pending: u32,
    pos_inf: u64,
    neg_inf: u64,
    nan: u64,
}

impl Default for Sum {
    fn default() -> Self {
        Sum {
            chunks: [0; CHUNKS],
            pending: 0,
            pos_inf: 0,
            neg_inf: 0,
            nan: 0,
        }
    }
}

/// 2^k as a double, for k in [-1074, 1023].
fn pow2(k: i32) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (k + 1074))
    }
}

impl Sum {
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            match x {
                f64::INFINITY => self.pos_inf += 1,
                f64::NEG_INFINITY => self.neg_inf += 1,
                _ => self.nan += 1,
            }
            return;
        }
        if x == 0.0 {
            return;
        }
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        // x = mant · 2^(pos − 1074).
        let (mant, pos) = if exp == 0 {
            (frac, 0)
        } else {
            (frac | (1u64 << 52), exp - 1)
        };
        let (chunk, off) = ((pos / 32) as usize, pos % 32);
        let v = u128::from(mant) << off;
        let pieces = [
            (v & 0xffff_ffff) as i64,
            ((v >> 32) & 0xffff_ffff) as i64,
            (v >> 64) as i64,
        ];
        let negative = bits >> 63 == 1;
        for (i, p) in pieces.into_iter().enumerate() {
            if negative {
                self.chunks[chunk + i] -= p;
            } else {
                self.chunks[chunk + i] += p;
            }
        }
        self.pending += 1;
        if self.pending >= BETWEEN_CARRIES {
            self.carry();
        }
    }

    /// Add an integer exactly.
    pub fn add_i128(&mut self, v: i128) {
        let m = v.unsigned_abs();
        // 2^0 is bit 1074: chunk 33, bit 18 of it.
        for j in 0..4 {
            let piece = ((m >> (32 * j)) & 0xffff_ffff) as i64;
            let (lo, hi) = ((piece << 18) & 0xffff_ffff, piece >> 14);
            let (a, b) = if v < 0 { (-lo, -hi) } else { (lo, hi) };
            self.chunks[33 + j] += a;
            self.chunks[34 + j] += b;
        }
        self.pending += 1;
        if self.pending >= BETWEEN_CARRIES {
            self.carry();
        }
    }

    /// Propagate carries: every chunk but the top in [0, 2^32). The same
    /// value always gives the same chunks.
    fn carry(&mut self) {
        for i in 0..CHUNKS - 1 {
            let c = self.chunks[i] >> 32;
            self.chunks[i] -= c << 32;
            self.chunks[i + 1] += c;
        }
        self.pending = 0;
    }

    pub fn merge(&mut self, o: &Sum) {
        let mut o = o.clone();
        o.carry();
        self.carry();
        for (a, b) in self.chunks.iter_mut().zip(o.chunks) {
            *a += b;
        }
        self.carry();
        self.pos_inf += o.pos_inf;
        self.neg_inf += o.neg_inf;
        self.nan += o.nan;
    }

    /// Whether an infinity or NaN was added.
    fn special(&self) -> Option<f64> {
        if self.nan > 0 || (self.pos_inf > 0 && self.neg_inf > 0) {
            Some(f64::NAN)
        } else if self.pos_inf > 0 {
            Some(f64::INFINITY)
        } else if self.neg_inf > 0 {
            Some(f64::NEG_INFINITY)
        } else {
            None
        }
    }

    /// The finite part as a double, summed from the top chunk down (a
    /// fixed order over canonical chunks: the same for the same sum).
    fn finite(&self) -> f64 {
        let mut s = self.clone();
        s.carry();
        // A negative sum's top chunk is negative: convert its magnitude.
        let sign = if s.chunks[CHUNKS - 1] < 0 {
            for c in &mut s.chunks {
                *c = -*c;
            }
            s.carry();
            -1.0
        } else {
            1.0
        };
        let mut out = 0.0;
        for i in (0..CHUNKS).rev() {
            let c = s.chunks[i];
            if c == 0 {
                continue;
            }
            let k = 32 * i as i32 - 1074;
            if k > 1023 {
                return sign * f64::INFINITY;
            }
            out += c as f64 * pow2(k);
        }
        sign * out
    }

    /// The sum as a double.
    pub fn value(&self) -> f64 {
        self.special().unwrap_or_else(|| self.finite())
    }

    /// The sum as two doubles whose sum is within 2^-100 of it, relatively.
    fn double_double(&self) -> (f64, f64) {
        let hi = self.finite();
        if !hi.is_finite() {
            return (hi, 0.0);
        }
        let mut rest = self.clone();
        rest.add(-hi);
        (hi, rest.finite())
    }
}

/// Count, sum and sum of squares of a column's values. Integers are
/// summed in 128 bits (moved into the exact sums before they could
/// overflow), doubles into the exact sums; a double's square is taken as
/// rounded, so the sum of squares, like the sum, depends only on the
/// values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Moments {
    n: u64,
    s1: Sum,
    s2: Sum,
    i1: i128,
    i2: i128,
}

impl Moments {
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        self.s1.add(x);
        self.s2.add(x * x);
    }

    pub fn add_int(&mut self, v: i128) {
        match v.checked_mul(v) {
            Some(q) => self.add_int_sums(1, v, q),
            None => {
                // Beyond 2^63.5: its square as a double.
                self.n += 1;
                self.flush();
                self.s1.add_i128(v);
                self.s2.add((v as f64) * (v as f64));
            }
        }
    }

    /// Add `n` integers given by their sum and sum of squares.
    pub fn add_int_sums(&mut self, n: u64, s1: i128, s2: i128) {
        self.n += n;
        match (self.i1.checked_add(s1), self.i2.checked_add(s2)) {
            (Some(a), Some(b)) => {
                self.i1 = a;
                self.i2 = b;
            }
            _ => {
                self.flush();
                self.s1.add_i128(s1);
                self.s2.add_i128(s2);
            }
        }
    }

    /// Move the integer sums into the exact ones.
    fn flush(&mut self) {
        if self.i1 != 0 || self.i2 != 0 {
            self.s1.add_i128(std::mem::take(&mut self.i1));
            self.s2.add_i128(std::mem::take(&mut self.i2));
        }
    }

    pub fn merge(&mut self, o: &Moments) {
        let mut o = o.clone();
        o.flush();
        self.flush();
        self.n += o.n;
        self.s1.merge(&o.s1);
        self.s2.merge(&o.s2);
    }

    /// The sums with the integer parts moved in.
    fn done(&self) -> Moments {
        let mut m = self.clone();
        m.flush();
        m
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.done().s1.value() / self.n as f64)
    }

    /// The sample standard deviation: √((n·Σx² − (Σx)²) / (n·(n − 1))),
    /// the numerator from both sums in double-double precision.
    pub fn stddev(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let m = self.done();
        let (s1, s2) = (&m.s1, &m.s2);
        if s1.special().is_some() || s2.special().is_some() {
            return Some(f64::NAN);
        }
        let n = self.n as f64;
        let (a, b) = s2.double_double();
        let (c, d) = s1.double_double();
        let mut num = Exact::default();
        for (x, y, sign) in [(n, a, 1.0), (n, b, 1.0), (c, c, -1.0), (2.0 * c, d, -1.0)] {
            let (p, e) = two_product(x, y);
            num.add(sign * p);
            num.add(sign * e);
        }
        let v = num.value().max(0.0) / n / (n - 1.0);
        Some(v.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_exact_and_independent_of_order() {
        let xs: Vec<f64> = (0..10_000)
            .map(|i| ((i as f64) * 0.7).sin() * 10f64.powi(i % 30 - 15))
            .chain([1e300, -1e300, 5e-324, 1.0, -1.0])
            .collect();
        let mut a = Sum::default();
        xs.iter().for_each(|x| a.add(*x));
        let mut b = Sum::default();
        xs.iter().rev().for_each(|x| b.add(*x));
        let (mut c, mut d) = (Sum::default(), Sum::default());
        for (i, x) in xs.iter().enumerate() {
            if i % 3 == 0 { c.add(*x) } else { d.add(*x) }
        }
        c.merge(&d);
        assert_eq!(a.value(), b.value());
        assert_eq!(a.value(), c.value());
        // The same as the expansion-based exact sum, rounded once.
        let mut e = Exact::default();
        xs.iter().for_each(|x| e.add(*x));
        assert!((a.value() - e.value()).abs() <= e.value().abs() * 1e-15);
        // Cancellation a running double sum loses.
        let mut t = Sum::default();
        for x in [1e16, 1.0, -1e16] {
            t.add(x);
        }
        assert_eq!(t.value(), 1.0);
    }

    #[test]
    fn integers_sum_exactly_past_128_bits() {
        let mut m = Moments::default();
        let mut f = Moments::default();
        for v in [i64::MAX, i64::MAX, i64::MIN, 3, -7] {
            m.add_int(i128::from(v));
            f.add(v as f64);
        }
        // Σ = i64::MAX − 4; the squares overflow i128 and move to the sums.
        assert_eq!(m.mean().unwrap(), (i64::MAX as f64 - 4.0) / 5.0);
        let mut s = Sum::default();
        s.add_i128(-(1i128 << 100));
        s.add_i128(1i128 << 100);
        s.add_i128(-5);
        assert_eq!(s.value(), -5.0);
    }

    #[test]
    fn moments_match_a_two_pass_computation() {
        let xs: Vec<f64> = (0..1000).map(|i| 1e6 + (i % 7) as f64 * 0.25).collect();
        let mut m = Moments::default();
        xs.iter().for_each(|x| m.add(*x));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
        assert!((m.mean().unwrap() - mean).abs() < 1e-9);
        assert!(
            (m.stddev().unwrap() - var.sqrt()).abs() < 1e-9,
            "{:?}",
            m.stddev()
        );
        let mut inf = Moments::default();
        inf.add(f64::INFINITY);
        inf.add(1.0);
        assert_eq!(inf.mean(), Some(f64::INFINITY));
        assert!(inf.stddev().unwrap().is_nan());
    }
}
