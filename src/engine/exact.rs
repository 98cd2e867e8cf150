//! Float aggregates whose result does not depend on the order rows arrive in.
//!
//! DataFusion aggregates in two phases: each input partition folds its rows
//! into a partial state, and the final phase merges the partial states in the
//! order the partitions deliver them. For integers and decimals that order
//! does not matter; for floats it does, because float addition rounds after
//! every step: `SUM(x)` over 1,000 random doubles per group differed in its
//! last bits from run to run at 4 and 8 threads, enough for an unchanged
//! transform to show hundreds of "changed" rows and block.
//!
//! So every session diffgate runs a transform in replaces the built-in float
//! `sum`, `avg`, `var_samp`/`var_pop`, `stddev`/`stddev_pop` (with their
//! aliases, `DISTINCT` and window forms) with these: the same names, types
//! and NULL rules, delegating every non-float input to the built-in, but
//! accumulating floats *exactly*. [`Exact`] holds a sum as a non-overlapping
//! expansion (Shewchuk's algorithm, as in Python's `math.fsum`): a handful of
//! doubles whose mathematical sum is exactly the sum of everything added, so
//! partial states merge without error in any order, and the result is the
//! correctly rounded sum — a function of the multiset of inputs alone.
//! Variance comes from exact sums of `x` and of `x²` (each square split into
//! two doubles by a fused multiply-add, so it too is exact) and the exact
//! numerator `n·Σx² − (Σx)²`, rounded once.
//!
//! Why not a crate: the exact-summation crates (`xsum`, `accurate`) keep a
//! fixed superaccumulator of over 500 bytes per sum, with no way to merge
//! two or carry one between phases; a group of a `GROUP BY` here needs an
//! exact, mergeable, serialisable state of a few doubles. The expansion is
//! about eighty lines, tested below against exact rational arithmetic.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder, BooleanArray, Float64Array,
    Float64Builder, ListBuilder, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, Expr, GroupsAccumulator,
    Operator, ReversedUDAF, SetMonotonicity, Signature, StatisticsArgs,
};
use datafusion::prelude::SessionContext;
use smallvec::SmallVec;

/// Values at least this large are summed apart, scaled down by [`SCALE`],
/// so that no partial sum of the main expansion can overflow: a sum of fewer
/// than 2^63 values below 2^960 stays below 2^1023.
const BIG: f64 = f64::from_bits((1023 + 960) << 52);
/// 2^-512, exact: scaling a value of 2^960 or more by it loses nothing.
const SCALE: f64 = f64::from_bits((1023 - 512) << 52);
/// 2^512, undoing [`SCALE`].
const UNSCALE: f64 = f64::from_bits((1023 + 512) << 52);

/// An exact sum of doubles: the mathematical sum of everything added, held
/// without rounding, plus counts of the infinities and NaNs added (so that
/// a sliding window can take them out again).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exact {
    /// Non-overlapping partials in increasing magnitude whose exact sum is
    /// the sum of the finite values below [`BIG`].
    parts: SmallVec<[f64; 2]>,
    /// Huge values and non-finite ones: rare, so kept out of line.
    rare: Option<Box<Rare>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Rare {
    /// Partials of the values of [`BIG`] or more, each scaled by [`SCALE`].
    big: SmallVec<[f64; 2]>,
    pos_inf: u64,
    neg_inf: u64,
    nan: u64,
}

/// Add `x` into the expansion `parts` exactly (Shewchuk's grow-expansion
/// with zero elimination; `msum` in Python's `math.fsum`).
fn grow(parts: &mut SmallVec<[f64; 2]>, mut x: f64) {
    let mut i = 0;
    for j in 0..parts.len() {
        let mut y = parts[j];
        if x.abs() < y.abs() {
            std::mem::swap(&mut x, &mut y);
        }
        let hi = x + y;
        let lo = y - (hi - x);
        if lo != 0.0 {
            parts[i] = lo;
            i += 1;
        }
        x = hi;
    }
    parts.truncate(i);
    parts.push(x);
}

/// The expansion's exact sum, correctly rounded to the nearest double, ties
/// to even (the final step of Python's `math.fsum`).
fn round(parts: &[f64]) -> f64 {
    let mut n = parts.len();
    if n == 0 {
        return 0.0;
    }
    n -= 1;
    let mut hi = parts[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = parts[n];
        hi = x + y;
        let yr = hi - x;
        lo = y - yr;
        if lo != 0.0 {
            break;
        }
    }
    // Half-way between two doubles: the partials below decide the side.
    if n > 0 && ((lo < 0.0 && parts[n - 1] < 0.0) || (lo > 0.0 && parts[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

/// `a · b` as two doubles whose sum is the exact product (Dekker's
/// algorithm: no fused multiply-add needed, which baseline x86-64 lacks),
/// unless it overflows or underflows. Inputs of 2^996 or more overflow the
/// split; their squares overflow anyway.
pub(crate) fn two_product(a: f64, b: f64) -> (f64, f64) {
    /// 2^27 + 1: splits a double into two halves of 26 bits.
    const SPLITTER: f64 = 134_217_729.0;
    let split = |x: f64| {
        let c = SPLITTER * x;
        let hi = c - (c - x);
        (hi, x - hi)
    };
    let p = a * b;
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    let e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    (p, e)
}

impl Exact {
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            let rare = self.rare.get_or_insert_with(Box::default);
            match x {
                f64::INFINITY => rare.pos_inf += 1,
                f64::NEG_INFINITY => rare.neg_inf += 1,
                _ => rare.nan += 1,
            }
        } else if x.abs() >= BIG {
            grow(
                &mut self.rare.get_or_insert_with(Box::default).big,
                x * SCALE,
            );
        } else {
            grow(&mut self.parts, x);
        }
    }

    /// Take back a value added before (sliding windows).
    pub fn sub(&mut self, x: f64) {
        if x.is_finite() {
            self.add(-x);
            return;
        }
        let rare = self.rare.get_or_insert_with(Box::default);
        match x {
            f64::INFINITY => rare.pos_inf = rare.pos_inf.saturating_sub(1),
            f64::NEG_INFINITY => rare.neg_inf = rare.neg_inf.saturating_sub(1),
            _ => rare.nan = rare.nan.saturating_sub(1),
        }
    }

    /// The sum, rounded once. With no huge or non-finite values (the usual
    /// case) it is the correctly rounded exact sum; otherwise still a
    /// function of the exact partial sums, so just as independent of order.
    pub fn value(&self) -> f64 {
        let normal = round(&self.parts);
        let Some(rare) = &self.rare else {
            return normal;
        };
        if rare.nan > 0 || (rare.pos_inf > 0 && rare.neg_inf > 0) {
            return f64::NAN;
        }
        if rare.pos_inf > 0 {
            return f64::INFINITY;
        }
        if rare.neg_inf > 0 {
            return f64::NEG_INFINITY;
        }
        if rare.big.is_empty() {
            normal
        } else {
            round(&rare.big) * UNSCALE + normal
        }
    }

    /// Whether an infinity, a NaN or a value of 2^960 or more was added.
    fn has_rare(&self) -> bool {
        self.rare
            .as_ref()
            .is_some_and(|r| !r.big.is_empty() || r.pos_inf + r.neg_inf + r.nan > 0)
    }

    /// Heap bytes beyond the struct itself.
    fn heap_size(&self) -> usize {
        let parts = if self.parts.spilled() {
            self.parts.capacity() * 8
        } else {
            0
        };
        parts
            + self
                .rare
                .as_ref()
                .map_or(0, |r| std::mem::size_of::<Rare>() + r.big.capacity() * 8)
    }

    /// The state as bytes (little-endian): the partials, then — only when
    /// there are any — the scaled huge partials and the non-finite counts.
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.parts.len() as u32).to_le_bytes());
        for p in &self.parts {
            out.extend_from_slice(&p.to_le_bytes());
        }
        if let Some(r) = &self.rare {
            out.extend_from_slice(&(r.big.len() as u32).to_le_bytes());
            for p in &r.big {
                out.extend_from_slice(&p.to_le_bytes());
            }
            for n in [r.pos_inf, r.neg_inf, r.nan] {
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
    }

    /// Merge a state written by [`Exact::encode`] into this sum.
    fn merge_encoded(&mut self, bytes: &[u8]) -> Result<()> {
        let mut r = Reader(bytes);
        for _ in 0..r.u32()? {
            grow(&mut self.parts, r.f64()?);
        }
        if !r.0.is_empty() {
            let rare = self.rare.get_or_insert_with(Box::default);
            for _ in 0..r.u32()? {
                grow(&mut rare.big, r.f64()?);
            }
            rare.pos_inf += r.u64()?;
            rare.neg_inf += r.u64()?;
            rare.nan += r.u64()?;
        }
        Ok(())
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        if self.0.len() < N {
            return exec_err!("truncated exact-sum state");
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        Ok(head.try_into().expect("N bytes"))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.take()?))
    }
}

/// Which aggregate a [`Moments`] state finishes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Sum,
    Avg,
    VarSamp,
    VarPop,
    StddevSamp,
    StddevPop,
}

impl Kind {
    /// Whether the sum of squares is needed.
    fn squares(self) -> bool {
        !matches!(self, Kind::Sum | Kind::Avg)
    }
}

/// Count, exact sum and (for variance) exact sum of squares of one group.
#[derive(Debug, Clone, Default, PartialEq)]
struct Moments {
    n: u64,
    s1: Exact,
    s2: Exact,
}

impl Moments {
    fn add(&mut self, x: f64, squares: bool) {
        self.n += 1;
        self.s1.add(x);
        if squares {
            let (p, e) = two_product(x, x);
            self.s2.add(p);
            self.s2.add(e);
        }
    }

    fn sub(&mut self, x: f64, squares: bool) {
        self.n = self.n.saturating_sub(1);
        self.s1.sub(x);
        if squares {
            let (p, e) = two_product(x, x);
            self.s2.sub(p);
            self.s2.sub(e);
        }
    }

    fn finish(&self, kind: Kind) -> Option<f64> {
        let n = self.n;
        match kind {
            Kind::Sum => (n > 0).then(|| self.s1.value()),
            Kind::Avg => (n > 0).then(|| self.s1.value() / n as f64),
            Kind::VarPop => (n > 0).then(|| self.numerator() / n as f64 / n as f64),
            Kind::VarSamp => (n > 1).then(|| self.numerator() / n as f64 / (n - 1) as f64),
            Kind::StddevPop => Self::finish(self, Kind::VarPop).map(f64::sqrt),
            Kind::StddevSamp => Self::finish(self, Kind::VarSamp).map(f64::sqrt),
        }
    }

    /// `n·Σx² − (Σx)²`, computed exactly and rounded once; NaN when a value
    /// was infinite or NaN, or so large that its square overflows.
    fn numerator(&self) -> f64 {
        if self.s1.has_rare() || self.s2.has_rare() {
            return f64::NAN;
        }
        let n = self.n as f64;
        let mut d = Exact::default();
        for &p in &self.s2.parts {
            let (hi, lo) = two_product(p, n);
            d.add(hi);
            d.add(lo);
        }
        for &a in &self.s1.parts {
            for &b in &self.s1.parts {
                let (hi, lo) = two_product(a, b);
                d.add(-hi);
                d.add(-lo);
            }
        }
        // Exactly non-negative; only an overflow above could make it less.
        let v = d.value();
        if v.is_finite() { v.max(0.0) } else { f64::NAN }
    }

    fn heap_size(&self) -> usize {
        self.s1.heap_size() + self.s2.heap_size()
    }
}

/// A built-in aggregate with its float path replaced by an exact one.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ExactFloat {
    builtin: Arc<AggregateUDF>,
    kind: Kind,
}

/// The aggregates replaced, with the built-in each wraps.
fn replaced() -> Vec<ExactFloat> {
    use datafusion::functions_aggregate::{average, stddev, sum, variance};
    [
        (sum::sum_udaf(), Kind::Sum),
        (average::avg_udaf(), Kind::Avg),
        (variance::var_samp_udaf(), Kind::VarSamp),
        (variance::var_pop_udaf(), Kind::VarPop),
        (stddev::stddev_udaf(), Kind::StddevSamp),
        (stddev::stddev_pop_udaf(), Kind::StddevPop),
    ]
    .into_iter()
    .map(|(builtin, kind)| ExactFloat { builtin, kind })
    .collect()
}

/// Register the exact float aggregates in `ctx`, in place of the built-ins
/// of the same names.
pub fn register(ctx: &SessionContext) {
    for f in replaced() {
        ctx.register_udaf(AggregateUDF::from(f));
    }
}

impl ExactFloat {
    fn inner(&self) -> &Arc<dyn AggregateUDFImpl> {
        self.builtin.inner()
    }

    /// Whether an argument of this type takes the exact path (after
    /// coercion every float argument is Float64).
    fn exact_for(&self, t: Option<&DataType>) -> bool {
        t == Some(&DataType::Float64)
    }

    /// The state columns: the count, then for each exact sum its top two
    /// partials and, when it holds more, the whole sum as bytes.
    fn state_columns(&self, name: &str) -> Vec<FieldRef> {
        let field =
            |part: &str, t: DataType| Arc::new(Field::new(format_state_name(name, part), t, true));
        let mut fields = vec![field("count", DataType::UInt64)];
        let sums: &[&str] = if self.kind.squares() {
            &["exact sum", "exact sum of squares"]
        } else {
            &["exact sum"]
        };
        for sum in sums {
            fields.push(field(&format!("{sum} hi"), DataType::Float64));
            fields.push(field(&format!("{sum} lo"), DataType::Float64));
            fields.push(field(&format!("{sum} more"), DataType::Binary));
        }
        fields
    }
}

#[deny(clippy::missing_trait_methods)]
impl AggregateUDFImpl for ExactFloat {
    fn name(&self) -> &str {
        self.inner().name()
    }

    fn aliases(&self) -> &[String] {
        self.inner().aliases()
    }

    fn schema_name(
        &self,
        params: &datafusion::logical_expr::expr::AggregateFunctionParams,
    ) -> Result<String> {
        self.inner().schema_name(params)
    }

    fn human_display(
        &self,
        params: &datafusion::logical_expr::expr::AggregateFunctionParams,
    ) -> Result<String> {
        self.inner().human_display(params)
    }

    fn window_function_schema_name(
        &self,
        params: &datafusion::logical_expr::expr::WindowFunctionParams,
    ) -> Result<String> {
        self.inner().window_function_schema_name(params)
    }

    fn display_name(
        &self,
        params: &datafusion::logical_expr::expr::AggregateFunctionParams,
    ) -> Result<String> {
        self.inner().display_name(params)
    }

    fn window_function_display_name(
        &self,
        params: &datafusion::logical_expr::expr::WindowFunctionParams,
    ) -> Result<String> {
        self.inner().window_function_display_name(params)
    }

    fn signature(&self) -> &Signature {
        self.inner().signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner().return_type(arg_types)
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        self.inner().return_field(arg_fields)
    }

    fn is_nullable(&self) -> bool {
        self.inner().is_nullable()
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if !self.exact_for(args.expr_fields.first().map(|f| f.data_type())) {
            return self.inner().accumulator(args);
        }
        Ok(if args.is_distinct {
            Box::new(DistinctAcc {
                kind: self.kind,
                values: HashSet::new(),
            })
        } else {
            Box::new(MomentsAcc {
                kind: self.kind,
                m: Moments::default(),
            })
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        if !self.exact_for(args.input_fields.first().map(|f| f.data_type())) {
            return self.inner().state_fields(args);
        }
        if args.is_distinct {
            return Ok(vec![Arc::new(Field::new_list(
                format_state_name(args.name, "distinct values"),
                Field::new_list_field(DataType::Float64, true),
                true,
            ))]);
        }
        Ok(self.state_columns(args.name))
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        if !self.exact_for(args.expr_fields.first().map(|f| f.data_type())) {
            return self.inner().groups_accumulator_supported(args);
        }
        !args.is_distinct
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        if !self.exact_for(args.expr_fields.first().map(|f| f.data_type())) {
            return self.inner().create_groups_accumulator(args);
        }
        Ok(Box::new(MomentsGroups {
            kind: self.kind,
            groups: Vec::new(),
            heap: 0,
        }))
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if !self.exact_for(args.expr_fields.first().map(|f| f.data_type())) {
            return self.inner().create_sliding_accumulator(args);
        }
        if args.is_distinct {
            // As the built-ins: DISTINCT over a sliding frame is refused
            // for floats.
            return self.inner().create_sliding_accumulator(args);
        }
        self.accumulator(args)
    }

    fn with_beneficial_ordering(
        self: Arc<Self>,
        beneficial_ordering: bool,
    ) -> Result<Option<Arc<dyn AggregateUDFImpl>>> {
        let kind = self.kind;
        let builtin = Arc::clone(&self.builtin);
        Ok(Arc::clone(builtin.inner())
            .with_beneficial_ordering(beneficial_ordering)?
            .map(|inner| {
                Arc::new(ExactFloat {
                    builtin: Arc::new(AggregateUDF::new_from_shared_impl(inner)),
                    kind,
                }) as Arc<dyn AggregateUDFImpl>
            }))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner().order_sensitivity()
    }

    fn simplify(
        &self,
    ) -> Option<datafusion::logical_expr::function::AggregateFunctionSimplification> {
        self.inner().simplify()
    }

    fn simplify_expr_op_literal(
        &self,
        agg_function: &AggregateFunction,
        arg: &Expr,
        op: Operator,
        lit: &Expr,
        arg_is_left: bool,
    ) -> Result<Option<Expr>> {
        self.inner()
            .simplify_expr_op_literal(agg_function, arg, op, lit, arg_is_left)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        match self.inner().reverse_expr() {
            ReversedUDAF::Identical => ReversedUDAF::Identical,
            // Never hand the planner the built-in back.
            _ => ReversedUDAF::NotSupported,
        }
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner().coerce_types(arg_types)
    }

    fn is_descending(&self) -> Option<bool> {
        self.inner().is_descending()
    }

    fn value_from_stats(&self, statistics_args: &StatisticsArgs) -> Option<ScalarValue> {
        if statistics_args.return_type == &DataType::Float64 {
            return None;
        }
        self.inner().value_from_stats(statistics_args)
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner().default_value(data_type)
    }

    fn supports_null_handling_clause(&self) -> bool {
        self.inner().supports_null_handling_clause()
    }

    fn supports_within_group_clause(&self) -> bool {
        self.inner().supports_within_group_clause()
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner().documentation()
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.inner().set_monotonicity(data_type)
    }
}

/// The Float64 values of the first argument, with the rows to skip (NULL,
/// or filtered out).
fn floats(values: &[ArrayRef]) -> Result<&Float64Array> {
    match values.first() {
        Some(a) if a.data_type() == &DataType::Float64 => Ok(a.as_primitive::<Float64Type>()),
        Some(a) => exec_err!("exact float aggregate given {}", a.data_type()),
        None => exec_err!("exact float aggregate given no argument"),
    }
}

fn kept(a: &Float64Array, filter: Option<&BooleanArray>, i: usize) -> bool {
    a.is_valid(i) && filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

/// The state columns of many groups: the count and, per exact sum, its
/// top two partials (`hi`, `lo`; the usual case, with no heap data) or, for
/// a longer or rare sum, its bytes (`more`).
struct StateCols<'a> {
    counts: &'a UInt64Array,
    sums: Vec<(&'a Float64Array, &'a Float64Array, &'a BinaryArray)>,
}

impl<'a> StateCols<'a> {
    fn new(states: &'a [ArrayRef], squares: bool) -> Self {
        let sum = |k: usize| {
            (
                states[1 + 3 * k].as_primitive::<Float64Type>(),
                states[2 + 3 * k].as_primitive::<Float64Type>(),
                states[3 + 3 * k].as_binary::<i32>(),
            )
        };
        let sums = if squares {
            vec![sum(0), sum(1)]
        } else {
            vec![sum(0)]
        };
        StateCols {
            counts: states[0].as_primitive::<UInt64Type>(),
            sums,
        }
    }

    fn len(&self) -> usize {
        self.counts.len()
    }

    /// Merge row `i` into `m`.
    fn merge_into(&self, i: usize, m: &mut Moments) -> Result<()> {
        if self.counts.is_null(i) || self.counts.value(i) == 0 {
            return Ok(());
        }
        m.n += self.counts.value(i);
        for (k, (hi, lo, more)) in self.sums.iter().enumerate() {
            let e = if k == 0 { &mut m.s1 } else { &mut m.s2 };
            if more.is_valid(i) {
                e.merge_encoded(more.value(i))?;
            } else {
                // Zero partials add nothing.
                for p in [lo.value(i), hi.value(i)] {
                    if p != 0.0 {
                        grow(&mut e.parts, p);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The state columns of `groups`.
fn encode_states<'a>(groups: impl Iterator<Item = &'a Moments>, squares: bool) -> Vec<ArrayRef> {
    let sums = if squares { 2 } else { 1 };
    let mut counts = Vec::new();
    let mut hi: Vec<Vec<f64>> = vec![Vec::new(); sums];
    let mut lo: Vec<Vec<f64>> = vec![Vec::new(); sums];
    let mut more: Vec<BinaryBuilder> = (0..sums).map(|_| BinaryBuilder::new()).collect();
    let mut buf = Vec::new();
    for m in groups {
        counts.push(m.n);
        for (k, e) in [&m.s1, &m.s2].into_iter().take(sums).enumerate() {
            if !e.has_rare() && e.parts.len() <= 2 {
                let p = &e.parts;
                hi[k].push(p.last().copied().unwrap_or(0.0));
                lo[k].push(if p.len() == 2 { p[0] } else { 0.0 });
                more[k].append_null();
            } else {
                hi[k].push(0.0);
                lo[k].push(0.0);
                buf.clear();
                e.encode(&mut buf);
                more[k].append_value(&buf);
            }
        }
    }
    let mut out: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(counts))];
    for ((hi, lo), mut more) in hi.into_iter().zip(lo).zip(more) {
        out.push(Arc::new(Float64Array::from(hi)));
        out.push(Arc::new(Float64Array::from(lo)));
        out.push(Arc::new(more.finish()));
    }
    out
}

/// Per-group exact moments for `GROUP BY` (the fast path).
#[derive(Debug)]
struct MomentsGroups {
    kind: Kind,
    groups: Vec<Moments>,
    /// Heap bytes held by the groups' expansions, kept up to date cheaply.
    heap: usize,
}

impl MomentsGroups {
    fn resize(&mut self, total: usize) {
        if self.groups.len() < total {
            self.groups.resize_with(total, Moments::default);
        }
    }

    /// Take the groups `emit_to` asks for, with the heap they hold.
    fn take(&mut self, emit_to: EmitTo) -> Vec<Moments> {
        let taken = emit_to.take_needed(&mut self.groups);
        let freed: usize = taken.iter().map(Moments::heap_size).sum();
        self.heap = self.heap.saturating_sub(freed);
        taken
    }
}

impl GroupsAccumulator for MomentsGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let a = floats(values)?;
        let squares = self.kind.squares();
        for (i, &g) in group_indices.iter().enumerate() {
            if kept(a, opt_filter, i) {
                let m = &mut self.groups[g];
                let before = m.heap_size();
                m.add(a.value(i), squares);
                self.heap = (self.heap + m.heap_size()).saturating_sub(before);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        let out: Float64Array = groups.iter().map(|m| m.finish(self.kind)).collect();
        Ok(Arc::new(out))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        Ok(encode_states(groups.iter(), self.kind.squares()))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let squares = self.kind.squares();
        let cols = StateCols::new(values, squares);
        for (i, &g) in group_indices.iter().enumerate().take(cols.len()) {
            let m = &mut self.groups[g];
            let before = m.heap_size();
            cols.merge_into(i, m)?;
            self.heap = (self.heap + m.heap_size()).saturating_sub(before);
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let a = floats(values)?;
        let squares = self.kind.squares();
        let rows: Vec<Moments> = (0..a.len())
            .map(|i| {
                let mut m = Moments::default();
                if kept(a, opt_filter, i) {
                    m.add(a.value(i), squares);
                }
                m
            })
            .collect();
        Ok(encode_states(rows.iter(), squares))
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Moments>() + self.heap
    }
}

/// One exact aggregate without groups, and over window frames (it can
/// take values back out exactly).
#[derive(Debug)]
struct MomentsAcc {
    kind: Kind,
    m: Moments,
}

impl Accumulator for MomentsAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = floats(values)?;
        let squares = self.kind.squares();
        for i in 0..a.len() {
            if a.is_valid(i) {
                self.m.add(a.value(i), squares);
            }
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = floats(values)?;
        let squares = self.kind.squares();
        for i in 0..a.len() {
            if a.is_valid(i) {
                self.m.sub(a.value(i), squares);
            }
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.m.finish(self.kind)))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.m.heap_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let squares = self.kind.squares();
        let cols = encode_states(std::iter::once(&self.m), squares);
        cols.iter()
            .map(|c| ScalarValue::try_from_array(c, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let squares = self.kind.squares();
        let cols = StateCols::new(states, squares);
        for i in 0..cols.len() {
            cols.merge_into(i, &mut self.m)?;
        }
        Ok(())
    }
}

/// `DISTINCT` over floats: the set of distinct values (by bit pattern, as
/// the built-ins), summed exactly when the result is asked for.
#[derive(Debug)]
struct DistinctAcc {
    kind: Kind,
    values: HashSet<u64>,
}

impl Accumulator for DistinctAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = floats(values)?;
        for i in 0..a.len() {
            if a.is_valid(i) {
                self.values.insert(a.value(i).to_bits());
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let squares = self.kind.squares();
        let mut m = Moments::default();
        for &bits in &self.values {
            m.add(f64::from_bits(bits), squares);
        }
        Ok(ScalarValue::Float64(m.finish(self.kind)))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.values.capacity() * 9
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut sorted: Vec<u64> = self.values.iter().copied().collect();
        sorted.sort_unstable();
        let mut b = ListBuilder::new(Float64Builder::new());
        b.values().append_slice(
            &sorted
                .iter()
                .map(|&x| f64::from_bits(x))
                .collect::<Vec<_>>(),
        );
        b.append(true);
        let list = b.finish();
        Ok(vec![ScalarValue::List(Arc::new(list))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for i in 0..lists.len() {
            if lists.is_null(i) {
                continue;
            }
            let inner = lists.value(i);
            let inner = inner.as_primitive::<Float64Type>();
            for j in 0..inner.len() {
                if inner.is_valid(j) {
                    self.values.insert(inner.value(j).to_bits());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact sum of `xs` as a big rational: every double is m·2^e, so
    /// the sum is an integer multiple of 2^-1074.
    fn exact_i(xs: &[f64]) -> i128 {
        // Only for the test's modest values: scaled by 2^60 they are integers.
        xs.iter().map(|&x| (x * (1u64 << 60) as f64) as i128).sum()
    }

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 11
    }

    #[test]
    fn products_split_exactly() {
        let mut seed = 3;
        for _ in 0..10_000 {
            let a = (lcg(&mut seed) as f64 / (1u64 << 53) as f64 - 0.5) * 1e6;
            let b = (lcg(&mut seed) as f64 / (1u64 << 53) as f64 - 0.5) * 1e-3;
            let (p, e) = two_product(a, b);
            assert_eq!(p, a * b);
            assert_eq!(e, a.mul_add(b, -p), "{a} · {b}");
        }
    }

    #[test]
    fn constants_are_the_powers_of_two_they_claim() {
        assert_eq!(BIG, 2f64.powi(960));
        assert_eq!(SCALE, 2f64.powi(-512));
        assert_eq!(UNSCALE, 2f64.powi(512));
    }

    #[test]
    fn sums_are_exact_and_independent_of_order() {
        let mut seed = 7;
        // Multiples of 2^-40 between ±2^20: their exact sum fits an i128
        // scaled by 2^60, so it can be checked.
        let xs: Vec<f64> = (0..5000)
            .map(|_| {
                let m = (lcg(&mut seed) % (1 << 53)) as f64 - (1u64 << 52) as f64;
                m * 2f64.powi(-33)
            })
            .collect();
        let mut forward = Exact::default();
        xs.iter().for_each(|&x| forward.add(x));
        let mut backward = Exact::default();
        xs.iter().rev().for_each(|&x| backward.add(x));
        // Merged from uneven chunks, as partial aggregates are.
        let mut merged = Exact::default();
        for chunk in xs.chunks(333) {
            let mut part = Exact::default();
            chunk.iter().for_each(|&x| part.add(x));
            let mut bytes = Vec::new();
            part.encode(&mut bytes);
            merged.merge_encoded(&bytes).unwrap();
        }
        let exact = exact_i(&xs) as f64 / (1u64 << 60) as f64;
        assert_eq!(forward.value(), exact);
        assert_eq!(backward.value().to_bits(), forward.value().to_bits());
        assert_eq!(merged.value().to_bits(), forward.value().to_bits());
        // The naive sum depends on the order; this one does not.
        let naive: f64 = xs.iter().sum();
        let naive_rev: f64 = xs.iter().rev().sum();
        assert!(naive != naive_rev || naive == exact);
    }

    #[test]
    fn cancellation_and_rounding_ties() {
        let mut s = Exact::default();
        for x in [1e100, 1.0, -1e100] {
            s.add(x);
        }
        assert_eq!(s.value(), 1.0);
        let mut s = Exact::default();
        s.add(0.1);
        for _ in 0..9 {
            s.add(0.1);
        }
        assert_eq!(s.value(), 1.0, "math.fsum([0.1] * 10) == 1.0");
        // 1 + 2^-53 + 2^-106: just above half-way, rounds up.
        let mut s = Exact::default();
        for x in [1.0, 2f64.powi(-53), 2f64.powi(-106)] {
            s.add(x);
        }
        assert_eq!(s.value(), 1.0 + f64::EPSILON);
        // Exactly half-way rounds to even.
        let mut s = Exact::default();
        s.add(1.0);
        s.add(2f64.powi(-53));
        assert_eq!(s.value(), 1.0);
    }

    #[test]
    fn huge_and_non_finite_values() {
        let mut s = Exact::default();
        s.add(f64::MAX);
        s.add(f64::MAX);
        s.add(-f64::MAX);
        assert_eq!(s.value(), f64::MAX, "no intermediate overflow");
        let mut s = Exact::default();
        s.add(f64::INFINITY);
        s.add(1.0);
        assert_eq!(s.value(), f64::INFINITY);
        s.add(f64::NEG_INFINITY);
        assert!(s.value().is_nan());
        s.sub(f64::NEG_INFINITY);
        assert_eq!(s.value(), f64::INFINITY, "taken back out");
        s.sub(f64::INFINITY);
        assert_eq!(s.value(), 1.0);
    }

    #[test]
    fn variance_is_exact_where_the_naive_formula_cancels() {
        // Values around 1e9 with spread 1: Σx² − (Σx)²/n cancels 18 digits.
        let xs = [1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0, 1e9 + 4.0];
        let mut m = Moments::default();
        xs.iter().for_each(|&x| m.add(x, true));
        assert_eq!(m.finish(Kind::VarSamp), Some(5.0 / 3.0));
        assert_eq!(m.finish(Kind::VarPop), Some(1.25));
        assert_eq!(m.finish(Kind::Avg), Some(1e9 + 2.5));
        let mut one = Moments::default();
        one.add(3.0, true);
        assert_eq!(one.finish(Kind::VarSamp), None);
        assert_eq!(one.finish(Kind::VarPop), Some(0.0));
        assert_eq!(Moments::default().finish(Kind::Sum), None);
    }

    /// The aggregates as SQL sees them: every form (grouped, DISTINCT, a
    /// sliding window) gives the exact result however the rows are spread
    /// over partitions, and integer and decimal sums keep the built-ins.
    #[tokio::test]
    async fn sql_aggregates_are_exact_in_every_form() {
        use datafusion::arrow::array::{Int64Array, RecordBatch};
        use datafusion::arrow::datatypes::{Field, Schema};
        use datafusion::datasource::MemTable;

        let mut seed = 11;
        let xs: Vec<f64> = (0..3000)
            .map(|_| (lcg(&mut seed) % 1_000_003) as f64 / 7.0 - 70_000.0)
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int64, false),
            Field::new("g", DataType::Int64, false),
            Field::new("x", DataType::Float64, false),
        ]));
        // Four partitions of uneven batches.
        let parts: Vec<Vec<RecordBatch>> = (0..4)
            .map(|p| {
                (0..xs.len())
                    .filter(|i| i % 4 == p)
                    .collect::<Vec<_>>()
                    .chunks(97)
                    .map(|rows| {
                        let col = |f: &dyn Fn(usize) -> f64| -> Float64Array {
                            rows.iter().map(|&i| f(i)).collect()
                        };
                        RecordBatch::try_new(
                            Arc::clone(&schema),
                            vec![
                                Arc::new(Int64Array::from_iter_values(
                                    rows.iter().map(|&i| i as i64),
                                )),
                                Arc::new(Int64Array::from_iter_values(
                                    rows.iter().map(|&i| (i % 3) as i64),
                                )),
                                Arc::new(col(&|i| xs[i])),
                            ],
                        )
                        .unwrap()
                    })
                    .collect()
            })
            .collect();
        let ctx = SessionContext::new_with_config(
            datafusion::prelude::SessionConfig::new().with_target_partitions(4),
        );
        register(&ctx);
        ctx.register_table("t", Arc::new(MemTable::try_new(schema, parts).unwrap()))
            .unwrap();
        let query = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                let mut out: Vec<Vec<f64>> = Vec::new();
                for b in &batches {
                    for r in 0..b.num_rows() {
                        out.push(
                            b.columns()
                                .iter()
                                .map(|c| {
                                    let c = datafusion::arrow::compute::cast(c, &DataType::Float64)
                                        .unwrap();
                                    c.as_primitive::<Float64Type>().value(r)
                                })
                                .collect(),
                        );
                    }
                }
                out.sort_by(|a, b| a[0].total_cmp(&b[0]));
                out
            }
        };
        let group = |g: usize| -> Moments {
            let mut m = Moments::default();
            xs.iter()
                .enumerate()
                .filter(|(i, _)| i % 3 == g)
                .for_each(|(_, &x)| m.add(x, true));
            m
        };
        let rows = query(
            "SELECT g, SUM(x), AVG(x), VAR_SAMP(x), STDDEV_POP(x), SUM(DISTINCT x) FROM t GROUP BY g",
        )
        .await;
        for (g, row) in rows.iter().enumerate() {
            let m = group(g);
            let want = [
                g as f64,
                m.finish(Kind::Sum).unwrap(),
                m.finish(Kind::Avg).unwrap(),
                m.finish(Kind::VarSamp).unwrap(),
                m.finish(Kind::StddevPop).unwrap(),
                m.finish(Kind::Sum).unwrap(),
            ];
            assert_eq!(
                row.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.map(f64::to_bits),
                "group {g}"
            );
        }
        // A sliding window: three rows in order of i, taken out exactly.
        let rows = query(
            "SELECT i, SUM(x) OVER (ORDER BY i ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM t",
        )
        .await;
        for row in rows.iter().step_by(101) {
            let i = row[0] as usize;
            let mut e = Exact::default();
            xs[i.saturating_sub(2)..=i].iter().for_each(|&x| e.add(x));
            assert_eq!(row[1].to_bits(), e.value().to_bits(), "row {i}");
        }
        // Integers and decimals keep the built-in types.
        let mut types = Vec::new();
        for sql in [
            "SELECT SUM(i) FROM t",
            "SELECT SUM(d) FROM (SELECT CAST(i AS DECIMAL(10, 2)) AS d FROM t)",
            "SELECT AVG(i) FROM t",
        ] {
            let df = ctx.sql(sql).await.unwrap();
            types.push(df.schema().field(0).data_type().to_string());
        }
        assert_eq!(types, ["Int64", "Decimal128(20, 2)", "Float64"]);
    }
}
