//! Keyed comparison: rows are paired on the key.
//!
//! 1. Key statistics per side, one aggregate each: rows, rows with a NULL in
//!    any key column, distinct keys that occur more than once, and the extra
//!    rows they carry.
//! 2. Each side is projected to its non-NULL-key rows and the compared columns,
//!    cast to their common types. A side with duplicated keys is first made
//!    one row per key (with the row count; a duplicated key carries no
//!    values), so the join never fans out.
//! 3. A full outer join on the key, streamed per partition: a row with only a
//!    v1 key is `only_v1`, only a v2 key `only_v2`, both `matched`. Matched
//!    keys that are unique on both sides are compared cell by cell; matched
//!    keys duplicated on either side count as matched but are not compared
//!    (there is no single row to pair), and are reported as such.
//!
//! When every compared column can be hashed, a narrow first pass (the
//! census) pairs keys carrying only a row hash, and the join of step 3 reads
//! only the keys worth a second look: those whose hashes differ and the
//! one-side keys sampled. Given scratch space, the census keeps a copy of
//! the columns that join reads ([`super::spool`]), so neither input is read
//! twice.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, UInt64Type};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::JoinType;
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{bit_xor, sum};
use datafusion::logical_expr::{Expr, cast, col, ident, lit, when};
use datafusion::prelude::{DataFrame, SessionContext};
use serde_json::{Map, Value};

use super::cells::{self, compare_column};
use super::expect::{self, Plan};
use super::explain::Patterns;
use super::export::{Part, Sink};
use super::row_hash;
use super::sample::SmallestK;
use super::spool::Spool;
use super::{CompareOptions, Comparison, common_expr, count_at, fold_partitions, key_expr};
use crate::align::{Alignment, Pair};
use crate::error::{EngineContext, Result};
use crate::report::{ChangedCell, ChangedRow, ColumnStats, RowCounts, RowSample, Samples};
use crate::transform::Version;

#[derive(Debug, Default, Clone, Copy)]
struct KeyStats {
    rows: u64,
    null_key_rows: u64,
    duplicate_keys: u64,
    duplicate_rows: u64,
}

pub(super) async fn compare(
    ctx: &SessionContext,
    alignment: &Alignment,
    options: &CompareOptions,
    plan: &Arc<Plan>,
    mask: &super::mask::Mask,
    profiler: Option<&super::profile::Profiler>,
) -> Result<Comparison> {
    let hash_first = alignment
        .columns
        .iter()
        .all(|c| row_hash::hashable(&c.common));
    if !hash_first {
        // No census to profile in: a pass of its own.
        if let Some(p) = profiler {
            p.scan(ctx).await?;
        }
        let (s1, s2) = tokio::try_join!(
            key_stats(ctx, Version::V1, &alignment.key),
            key_stats(ctx, Version::V2, &alignment.key)
        )?;
        let (mut acc, sink) =
            detail(ctx, alignment, options, plan, mask, (s1, s2), None, None).await?;
        let parts = std::mem::take(&mut acc.parts);
        let counts = Counts {
            s1,
            s2,
            matched: acc.matched,
            matched_dup: acc.matched_dup,
            only_v1: acc.only_v1,
            only_v2: acc.only_v2,
        };
        let changed = acc.changed;
        let mut c = acc.finish(alignment, counts, plan);
        if let Some(sink) = sink {
            let met = plan.met_rows(&c.expectations);
            let written = [changed, counts.only_v1, counts.only_v2];
            c.diff_out = Some(sink.finish(ctx, parts, met, written).await?);
        }
        return Ok(c);
    }
    // Declared rows within a `where` are counted on every one-side row,
    // and the diff export holds them all.
    let keep_one_side = plan.rows_need_detail() || options.diff_out.is_some();
    // The copy holds the key and compared columns; a declared change's
    // `where` may name any other column, so with one the inputs are read.
    let spool = match &options.spool {
        Some(dir) if plan.items.iter().all(|i| i.exp.scope.is_none()) => Some(Spool::new(dir)?),
        _ => None,
    };
    let mut census = census(
        ctx,
        alignment,
        options.sample_size,
        keep_one_side,
        profiler,
        spool.as_ref(),
    )
    .await?;
    let counts = census.counts;
    let detail_rows: usize = census.keys.iter().map(RecordBatch::num_rows).sum();
    if detail_rows == 0 && options.diff_out.is_some() {
        // An export of nothing still has its columns.
        let fields: Vec<_> = alignment
            .key
            .iter()
            .enumerate()
            .map(|(i, k)| Field::new(census_key(i), k.common.clone(), true))
            .collect();
        census
            .keys
            .push(RecordBatch::new_empty(Arc::new(Schema::new(fields))));
    }
    let (mut acc, sink) = if detail_rows == 0 && options.diff_out.is_none() {
        let shared = Shared {
            alignment: alignment.clone(),
            options: options.clone(),
            plan: Arc::clone(plan),
            sink: None,
        };
        (Acc::new(&shared)?, None)
    } else {
        // When most matched rows differ anyway, restricting the second read
        // to their keys costs more than it saves. Without a memory limit it
        // is restricted while fewer than three quarters of the matched keys
        // differ (unrestricted, the join holds every row of v1 in full:
        // 5.7 GiB against 1.9 GiB at 10M rows with 30% changed). Under a
        // limit, a quarter: the key list is a hash join's build side, which
        // cannot spill.
        let unlimited = matches!(
            ctx.runtime_env().memory_pool.memory_limit(),
            datafusion::execution::memory_pool::MemoryLimit::Infinite
        );
        let share = if unlimited {
            counts.matched / 4 * 3
        } else {
            counts.matched / 4
        };
        let restrict = (detail_rows as u64) < share + 1024;
        // The key list is small: hash joins with it as the build side,
        // even under a memory limit (which otherwise asks for sort-merge).
        let _hash_joins = restrict.then(|| crate::engine::HashJoins::new(ctx));
        let keys = if restrict {
            Some(
                ctx.read_batches(census.keys)
                    .context(|| "cannot plan the detailed comparison".into())?,
            )
        } else {
            None
        };
        let sides = (counts.s1, counts.s2);
        let copies = match &spool {
            Some(s) => s.finish(ctx).await?,
            None => None,
        };
        let copies = copies.as_ref();
        detail(ctx, alignment, options, plan, mask, sides, keys, copies).await?
    };
    if let Some(s) = &spool {
        s.release(ctx);
    }
    let changed = acc.changed;
    let parts = std::mem::take(&mut acc.parts);
    let mut c = acc.finish(alignment, counts, plan);
    if let Some(sink) = sink {
        let met = plan.met_rows(&c.expectations);
        let written = [changed, counts.only_v1, counts.only_v2];
        c.diff_out = Some(sink.finish(ctx, parts, met, written).await?);
    }
    Ok(c)
}

/// Row and key counts of a keyed comparison.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    s1: KeyStats,
    s2: KeyStats,
    matched: u64,
    matched_dup: u64,
    only_v1: u64,
    only_v2: u64,
}

/// Full outer join of the two sides (restricted to `keys` when given),
/// compared cell by cell and sampled. The sides are read from the census's
/// `copies` (tables of v1 and v2) when given, else from the inputs.
#[allow(clippy::too_many_arguments)]
async fn detail(
    ctx: &SessionContext,
    alignment: &Alignment,
    options: &CompareOptions,
    plan: &Arc<Plan>,
    mask: &super::mask::Mask,
    (s1, s2): (KeyStats, KeyStats),
    keys: Option<DataFrame>,
    copies: Option<&[String; 2]>,
) -> Result<(Acc, Option<Arc<Sink>>)> {
    let a = side(
        ctx,
        Version::V1,
        alignment,
        plan,
        s1.duplicate_keys > 0,
        keys.clone(),
        copies.map(|c| c[0].as_str()),
    )
    .await?;
    let b = side(
        ctx,
        Version::V2,
        alignment,
        plan,
        s2.duplicate_keys > 0,
        keys,
        copies.map(|c| c[1].as_str()),
    )
    .await?;
    let nk = alignment.key.len();
    let a_keys: Vec<String> = (0..nk).map(|i| name(Version::V1, 'k', i)).collect();
    let b_keys: Vec<String> = (0..nk).map(|i| name(Version::V2, 'k', i)).collect();
    let joined = a
        .join(
            b,
            JoinType::Full,
            &a_keys.iter().map(String::as_str).collect::<Vec<_>>(),
            &b_keys.iter().map(String::as_str).collect::<Vec<_>>(),
            None,
        )
        .context(|| "cannot plan the keyed comparison".into())?;
    let layout = Layout::new(
        joined.schema().inner().as_ref(),
        alignment,
        plan,
        s1.duplicate_keys > 0,
        s2.duplicate_keys > 0,
    );
    let sink = match &options.diff_out {
        Some(path) => {
            let schema = joined.schema().inner().clone();
            let types: Vec<DataType> = layout
                .a_keys
                .iter()
                .chain(&layout.a_cols)
                .map(|&i| schema.field(i).data_type().clone())
                .collect();
            Some(Arc::new(Sink::create(path, alignment, &types, mask)?))
        }
        None => None,
    };
    let shared = Arc::new(Shared {
        alignment: alignment.clone(),
        options: options.clone(),
        plan: Arc::clone(plan),
        sink: sink.clone(),
    });
    let for_tasks = Arc::clone(&shared);
    let acc = fold_partitions(
        joined,
        "keyed comparison",
        || Acc::new(&shared),
        move |acc, batch| acc.add(batch, &layout, &for_tasks),
        Acc::merge,
    )
    .await?;
    Ok((acc, sink))
}

/// What the first, narrow pass over both sides found.
struct Census {
    counts: Counts,
    /// Keys to read again in full (columns `__c_k{i}`): matched keys, unique
    /// on both sides, whose row hashes differ, plus the keys of the only-v1
    /// and only-v2 samples (of every only-v1 and only-v2 row when asked).
    keys: Vec<RecordBatch>,
}

/// Internal name of key column `i` in the census and in the key list.
fn census_key(i: usize) -> String {
    format!("__c_k{i}")
}

/// Pass one: each side reduced to its key and a hash of its compared
/// columns, both sides grouped by key in one aggregate (rows per key per
/// side, the hash per side), then folded into counts and the keys worth a
/// second look. Reads every input once and never carries a wide row; with
/// a `spool`, each side's key and compared columns are copied on the way.
async fn census(
    ctx: &SessionContext,
    alignment: &Alignment,
    sample: usize,
    keep_one_side: bool,
    profiler: Option<&super::profile::Profiler>,
    spool: Option<&Arc<Spool>>,
) -> Result<Census> {
    let what = || "cannot count the keys of v1 and v2".to_string();
    let nk = alignment.key.len();
    let mut sides = Vec::new();
    for v in [Version::V1, Version::V2] {
        let t = ctx.table(v.table_name()).await.context(what)?;
        let mut exprs: Vec<Expr> = alignment
            .key
            .iter()
            .enumerate()
            .map(|(i, k)| Ok(key_expr(k, v)?.alias(census_key(i))))
            .collect::<datafusion::error::Result<_>>()
            .context(what)?;
        // One tag per row: 1 for v1, 2^32 for v2, so one sum counts both.
        let tag: i64 = if v == Version::V1 { 1 } else { 1 << 32 };
        exprs.push(lit(tag).alias("__tag"));
        // Columns: the keys, `__tag`, `__h`, then (with the profile, or to
        // be copied) the compared columns.
        let df = match profiler {
            // The key columns are the census's first; the profile, which
            // hashes every value anyway, makes the row hash `__h` from
            // those hashes (a second hashing of every compared value was
            // an eighth of the census's CPU time at 10M rows).
            Some(p) => {
                let reuse: Vec<(usize, usize)> = (0..nk).map(|i| (i, i)).collect();
                p.wrap(ctx, v, t, exprs, &reuse, true).await?
            }
            None => {
                let compared: Vec<Expr> = alignment
                    .columns
                    .iter()
                    .map(|c| common_expr(c, v))
                    .collect();
                exprs.push(row_hash::expr(compared.clone()).alias("__h"));
                if spool.is_some() {
                    for (j, e) in compared.into_iter().enumerate() {
                        exprs.push(e.alias(name(v, 'c', j)));
                    }
                }
                t.select(exprs).context(what)?
            }
        };
        let pass: Vec<usize> = (0..nk + 2).collect();
        sides.push(match spool {
            Some(spool) => {
                let copy = (0..nk)
                    .map(|i| (i, name(v, 'k', i)))
                    .chain((0..alignment.columns.len()).map(|j| (nk + 2 + j, name(v, 'c', j))))
                    .collect();
                let plan = df.create_physical_plan().await.context(what)?;
                spool.tee(ctx, v, plan, pass, copy)?
            }
            None => {
                let names: Vec<Expr> = df.schema().fields()[..nk + 2]
                    .iter()
                    .map(|f| ident(f.name()))
                    .collect();
                df.select(names).context(what)?
            }
        });
    }
    let b = sides.pop().expect("two sides");
    let a = sides.pop().expect("two sides");
    // Per key: rows of each side (the tag sum) and the XOR of the row
    // hashes, which is zero for a key with one row on each side exactly
    // when the two rows hash alike. No NULLs anywhere: cheap to aggregate.
    let grouped = a
        .union(b)
        .context(what)?
        .aggregate(
            (0..nk).map(|i| col(census_key(i))).collect(),
            vec![
                sum(col("__tag")).alias("__n"),
                bit_xor(col("__h")).alias("__x"),
            ],
        )
        .context(what)?;
    let fields: Vec<SortField> = alignment
        .key
        .iter()
        .map(|k| SortField::new(k.common.clone()))
        .collect();
    let total = fold_partitions(
        grouped,
        "key count",
        move || CensusAcc::new(fields.clone(), sample, keep_one_side),
        move |acc, batch| acc.add(batch, nk),
        CensusAcc::merge,
    )
    .await?;
    Ok(total.finish())
}

/// Per-partition fold of the census.
struct CensusAcc {
    counts: Counts,
    keys: Vec<RecordBatch>,
    converter: RowConverter,
    first_v1: SmallestK<RecordBatch>,
    first_v2: SmallestK<RecordBatch>,
    /// Keep the key of every one-side row (not only the samples').
    keep_one_side: bool,
}

impl CensusAcc {
    fn new(fields: Vec<SortField>, sample: usize, keep_one_side: bool) -> Result<Self> {
        Ok(CensusAcc {
            keep_one_side,
            counts: Counts::default(),
            keys: Vec::new(),
            converter: RowConverter::new(fields)
                .context(|| "cannot order keys for samples".into())?,
            first_v1: SmallestK::new(sample),
            first_v2: SmallestK::new(sample),
        })
    }

    fn add(&mut self, batch: &RecordBatch, nk: usize) -> Result<()> {
        let len = batch.num_rows();
        let n = batch.column(nk).as_primitive::<Int64Type>();
        let x = batch.column(nk + 1).as_primitive::<UInt64Type>();
        let keys = &batch.columns()[..nk];
        let c = &mut self.counts;
        let (mut differ, mut only_a, mut only_b) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..len {
            let tags = n.value(r) as u64;
            let (a, b) = (tags & 0xffff_ffff, tags >> 32);
            c.s1.rows += a;
            c.s2.rows += b;
            if keys.iter().any(|k| k.is_null(r)) {
                c.s1.null_key_rows += a;
                c.s2.null_key_rows += b;
                continue;
            }
            if a > 1 {
                c.s1.duplicate_keys += 1;
                c.s1.duplicate_rows += a - 1;
            }
            if b > 1 {
                c.s2.duplicate_keys += 1;
                c.s2.duplicate_rows += b - 1;
            }
            match (a > 0, b > 0) {
                (true, true) => {
                    c.matched += 1;
                    if a > 1 || b > 1 {
                        c.matched_dup += 1;
                    } else if x.value(r) != 0 {
                        differ.push(r as u32);
                    }
                }
                (true, false) => {
                    c.only_v1 += 1;
                    only_a.push(r as u32);
                }
                (false, true) => {
                    c.only_v2 += 1;
                    only_b.push(r as u32);
                }
                (false, false) => {}
            }
        }
        if !differ.is_empty() {
            self.keys.push(take_keys(batch, nk, &differ.into())?);
        }
        if self.keep_one_side {
            for rows in [only_a, only_b] {
                if !rows.is_empty() {
                    self.keys.push(take_keys(batch, nk, &rows.into())?);
                }
            }
            return Ok(());
        }
        for (rows, first) in [(only_a, &mut self.first_v1), (only_b, &mut self.first_v2)] {
            // `accepts(&[])` is false only when samples are off.
            if rows.is_empty() || !first.accepts(&[]) {
                continue;
            }
            let picked = take_keys(batch, nk, &rows.into())?;
            let sort = self
                .converter
                .convert_columns(picked.columns())
                .context(|| "cannot order keys for samples".into())?;
            for (r, key) in sort.iter().enumerate() {
                if first.accepts(key.as_ref()) {
                    first.insert(key.as_ref().to_vec(), picked.slice(r, 1));
                }
            }
        }
        Ok(())
    }

    fn merge(&mut self, o: CensusAcc) {
        let (c, d) = (&mut self.counts, o.counts);
        for (x, y) in [(&mut c.s1, d.s1), (&mut c.s2, d.s2)] {
            x.rows += y.rows;
            x.null_key_rows += y.null_key_rows;
            x.duplicate_keys += y.duplicate_keys;
            x.duplicate_rows += y.duplicate_rows;
        }
        c.matched += d.matched;
        c.matched_dup += d.matched_dup;
        c.only_v1 += d.only_v1;
        c.only_v2 += d.only_v2;
        self.keys.extend(o.keys);
        self.first_v1.merge(o.first_v1);
        self.first_v2.merge(o.first_v2);
    }

    fn finish(self) -> Census {
        let mut keys = self.keys;
        keys.extend(self.first_v1.into_sorted());
        keys.extend(self.first_v2.into_sorted());
        Census {
            counts: self.counts,
            keys,
        }
    }
}

/// The key columns of `batch` at `rows`.
fn take_keys(batch: &RecordBatch, nk: usize, rows: &UInt32Array) -> Result<RecordBatch> {
    let cols = batch.columns()[..nk]
        .iter()
        .map(|c| take(c.as_ref(), rows, None))
        .collect::<std::result::Result<Vec<_>, _>>()
        .context(|| "cannot collect keys".into())?;
    let schema = Arc::new(Schema::new(batch.schema().fields()[..nk].to_vec()));
    RecordBatch::try_new(schema, cols).context(|| "cannot collect keys".into())
}

/// Internal column name for side `v`, role `r` (k = key, c = compared), index `i`.
fn name(v: Version, r: char, i: usize) -> String {
    let p = if v == Version::V1 { "a" } else { "b" };
    format!("__{p}_{r}{i}")
}

async fn key_stats(ctx: &SessionContext, v: Version, key: &[Pair]) -> Result<KeyStats> {
    let what = || format!("cannot count the keys of {}", v.as_str());
    let t = ctx.table(v.table_name()).await.context(what)?;
    // Rows per key value. Whether a key has a NULL part is a function of the
    // group key itself, so it is computed on the (smaller) grouped result.
    let per_key = t
        .aggregate(
            key.iter()
                .map(|k| Ok(key_expr(k, v)?.alias(&k.name)))
                .collect::<datafusion::error::Result<_>>()
                .context(what)?,
            vec![count_all().alias("n")],
        )
        .context(what)?;
    let null_key = key
        .iter()
        .map(|k| ident(&k.name).is_null())
        .reduce(Expr::or)
        .expect("keyed comparison has a key");
    let n = || col("n");
    let is_dup = datafusion::logical_expr::not(null_key.clone()).and(n().gt(lit(1i64)));
    let totals = per_key
        .aggregate(
            vec![],
            vec![
                sum(n()).alias("rows"),
                sum(when(null_key, n()).otherwise(lit(0i64)).context(what)?).alias("null_rows"),
                sum(when(is_dup.clone(), lit(1i64))
                    .otherwise(lit(0i64))
                    .context(what)?)
                .alias("dup_keys"),
                sum(when(is_dup, n() - lit(1i64))
                    .otherwise(lit(0i64))
                    .context(what)?)
                .alias("dup_rows"),
            ],
        )
        .context(what)?;
    let batches = totals.collect().await.context(what)?;
    Ok(KeyStats {
        rows: count_at(&batches, 0),
        null_key_rows: count_at(&batches, 1),
        duplicate_keys: count_at(&batches, 2),
        duplicate_rows: count_at(&batches, 3),
    })
}

/// Side `v` of the join: read from the census's `copy` of it (whose
/// columns are already the key and compared values, named as here) or from
/// the input.
async fn side(
    ctx: &SessionContext,
    v: Version,
    alignment: &Alignment,
    plan: &Plan,
    group: bool,
    keys: Option<DataFrame>,
    copy: Option<&str>,
) -> Result<DataFrame> {
    let what = || format!("cannot plan the {} side of the comparison", v.as_str());
    let mut t = ctx
        .table(copy.unwrap_or(v.table_name()))
        .await
        .context(what)?;
    let key_of = |i: usize, k: &Pair| match copy {
        Some(_) => Ok(col(name(v, 'k', i))),
        None => key_expr(k, v),
    };
    let restricted = keys.is_some();
    if let Some(keys) = keys {
        // A semi join with the (small) key list as its build side; its
        // dynamic filter reaches the scan, so Parquet decodes the wide
        // columns only for rows whose key is in the list.
        let on: Vec<Expr> = alignment
            .key
            .iter()
            .enumerate()
            .map(|(i, k)| Ok(key_of(i, k)?.eq(col(census_key(i)))))
            .collect::<datafusion::error::Result<_>>()
            .context(what)?;
        t = keys.join_on(t, JoinType::RightSemi, on).context(what)?;
    }
    let not_null = alignment
        .key
        .iter()
        .enumerate()
        .map(|(i, k)| match copy {
            Some(_) => col(name(v, 'k', i)).is_not_null(),
            None => ident(&k.name).is_not_null(),
        })
        .reduce(Expr::and)
        .unwrap();
    let mut exprs: Vec<Expr> = Vec::new();
    for (i, k) in alignment.key.iter().enumerate() {
        exprs.push(key_of(i, k).context(what)?.alias(name(v, 'k', i)));
    }
    for (j, c) in alignment.columns.iter().enumerate() {
        let mut e = match copy {
            Some(_) => col(name(v, 'c', j)),
            None => common_expr(c, v),
        };
        if restricted {
            // Few rows of a view array still pin (and are charged for) the
            // whole decoded page; copy them out before the join holds them.
            match c.common {
                DataType::Utf8View => e = cast(e, DataType::Utf8),
                DataType::BinaryView => e = cast(e, DataType::Binary),
                _ => {}
            }
        }
        exprs.push(e.alias(name(v, 'c', j)));
    }
    // Whether each declared change's `where` holds on this side's row
    // (true where this side lacks a column it names: the other decides).
    let side = if v == Version::V1 { 0 } else { 1 };
    for (e, item) in plan.items.iter().enumerate() {
        if item.exp.scope.is_none() {
            continue;
        }
        if copy.is_some() {
            return Err(crate::error::Error::Internal(
                "a declared change's `where` cannot be read from the census's copy".into(),
            ));
        }
        let holds = match &item.scope[side] {
            Some(x) => x.clone().is_true(),
            None => lit(true),
        };
        exprs.push(holds.alias(name(v, 'w', e)));
    }
    let df = t
        .filter(not_null)
        .context(what)?
        .select(exprs)
        .context(what)?;
    if !group {
        return Ok(df);
    }
    one_row_per_key(df, v, alignment).await.context(what)
}

/// A side whose keys repeat, as one row per key with its row count: rows
/// of a key that occurs once keep their values; a duplicated key keeps
/// none (there is no single row to pair, so its values are never compared,
/// and picking one of its rows would depend on scheduling).
async fn one_row_per_key(
    df: DataFrame,
    v: Version,
    alignment: &Alignment,
) -> datafusion::error::Result<DataFrame> {
    let nk = alignment.key.len();
    let n = name(v, 'n', 0);
    let dup_key = |i: usize| format!("__d_k{i}");
    // A duplicated key's NULLs take the type the side's values have (a
    // Parquet string may be read as a view), so both halves union as one.
    let schema = df.schema().clone();
    let duplicated = df
        .clone()
        .aggregate(
            (0..nk).map(|i| col(name(v, 'k', i))).collect(),
            vec![count_all().alias(&n)],
        )?
        .filter(col(&n).gt(lit(1i64)))?
        // Used twice below (to drop those keys' rows, then as rows of their
        // own): computed once.
        .cache()
        .await?;
    let unique = df.join_on(
        duplicated.clone().select(
            (0..nk)
                .map(|i| col(name(v, 'k', i)).alias(dup_key(i)))
                .collect::<Vec<_>>(),
        )?,
        JoinType::LeftAnti,
        (0..nk).map(|i| col(name(v, 'k', i)).eq(col(dup_key(i)))),
    )?;
    // Every column after the key: the compared ones and the declared
    // changes' `where`.
    let value_names: Vec<String> = schema
        .fields()
        .iter()
        .skip(nk)
        .map(|f| f.name().clone())
        .collect();
    let columns = |values: bool| -> Vec<Expr> {
        let mut exprs: Vec<Expr> = (0..nk).map(|i| col(name(v, 'k', i))).collect();
        for c_name in &value_names {
            exprs.push(if values {
                col(c_name)
            } else {
                let t = schema
                    .field_with_unqualified_name(c_name)
                    .map(|f| f.data_type().clone())
                    .unwrap_or(DataType::Null);
                cast(lit(ScalarValue::Null), t).alias(c_name)
            });
        }
        exprs.push(if values { lit(1i64).alias(&n) } else { col(&n) });
        exprs
    };
    unique
        .select(columns(true))?
        .union(duplicated.select(columns(false))?)
}

/// Positions of each internal column in the joined batches.
#[derive(Debug, Clone)]
struct Layout {
    a_keys: Vec<usize>,
    b_keys: Vec<usize>,
    a_cols: Vec<usize>,
    b_cols: Vec<usize>,
    a_n: Option<usize>,
    b_n: Option<usize>,
    /// Per declared change with a `where`: whether it holds on each side.
    a_w: Vec<Option<usize>>,
    b_w: Vec<Option<usize>>,
}

impl Layout {
    fn new(
        schema: &datafusion::arrow::datatypes::Schema,
        alignment: &Alignment,
        plan: &Plan,
        a_grouped: bool,
        b_grouped: bool,
    ) -> Self {
        let idx = |n: String| schema.index_of(&n).expect("internal column present");
        let nk = alignment.key.len();
        let nc = alignment.columns.len();
        Layout {
            a_keys: (0..nk).map(|i| idx(name(Version::V1, 'k', i))).collect(),
            b_keys: (0..nk).map(|i| idx(name(Version::V2, 'k', i))).collect(),
            a_cols: (0..nc).map(|i| idx(name(Version::V1, 'c', i))).collect(),
            b_cols: (0..nc).map(|i| idx(name(Version::V2, 'c', i))).collect(),
            a_n: a_grouped.then(|| idx(name(Version::V1, 'n', 0))),
            b_n: b_grouped.then(|| idx(name(Version::V2, 'n', 0))),
            a_w: where_columns(schema, plan, Version::V1),
            b_w: where_columns(schema, plan, Version::V2),
        }
    }
}

/// The position of each declared change's `where` column of side `v`.
fn where_columns(
    schema: &datafusion::arrow::datatypes::Schema,
    plan: &Plan,
    v: Version,
) -> Vec<Option<usize>> {
    (0..plan.items.len())
        .map(|e| schema.index_of(&name(v, 'w', e)).ok())
        .collect()
}

/// What every partition task needs to read (shared, read-only).
struct Shared {
    alignment: Alignment,
    options: super::CompareOptions,
    plan: Arc<Plan>,
    /// Where every differing row goes (`--diff-out`).
    sink: Option<Arc<Sink>>,
}

#[derive(Debug, Clone)]
struct ColAcc {
    mismatches: u64,
    max_abs: Option<f64>,
    max_rel: Option<f64>,
    non_finite: u64,
    value_to_null: u64,
    null_to_value: u64,
    patterns: Patterns,
    /// Mismatches a declared change explains.
    expected: u64,
}

impl Default for ColAcc {
    fn default() -> Self {
        ColAcc {
            mismatches: 0,
            max_abs: None,
            max_rel: None,
            non_finite: 0,
            value_to_null: 0,
            null_to_value: 0,
            patterns: Patterns::new(),
            expected: 0,
        }
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Per-partition accumulator; partitions are merged at the end.
struct Acc {
    matched: u64,
    matched_dup: u64,
    only_v1: u64,
    only_v2: u64,
    changed: u64,
    /// Changed rows with a cell no declared change explains.
    changed_unexpected: u64,
    /// Cells each declared change explains.
    explained: Vec<u64>,
    /// One-side rows (v1's, v2's) by the set of rows declarations whose
    /// `where` they meet (bit = declaration index).
    cover: [std::collections::BTreeMap<u64, u64>; 2],
    cols: Vec<ColAcc>,
    /// This partition's file of differing rows (`--diff-out`), then, once
    /// merged, every partition's.
    parts: Vec<Part>,
    converter: RowConverter,
    s_changed: SmallestK<ChangedRow>,
    s_only_v1: SmallestK<RowSample>,
    s_only_v2: SmallestK<RowSample>,
}

/// Which rows of a batch are on which side, and where each declared
/// change's `where` holds per side.
#[derive(Clone, Copy)]
struct Sides<'a> {
    /// Rows with a v1 key.
    present: &'a BooleanBuffer,
    only: [&'a BooleanBuffer; 2],
    holds: [&'a [Option<BooleanBuffer>]; 2],
}

/// Hand the changed and one-side rows of `batch` to the diff export.
fn export(
    (sink, part): (&Sink, &mut Part),
    batch: &RecordBatch,
    l: &Layout,
    plan: &Plan,
    changed: &BooleanBuffer,
    found: Cells,
    sides: Sides,
) -> Result<()> {
    use datafusion::arrow::array::{BooleanArray, StringArray, UInt64Array};
    use datafusion::arrow::compute::kernels::zip::zip;
    let keep = &(changed | sides.only[0]) | sides.only[1];
    if keep.count_set_bits() == 0 {
        return Ok(());
    }
    let rows: Vec<usize> = keep.set_indices().collect();
    let idx = UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32));
    let what = || "cannot collect the differing rows".to_string();
    let pick = |a: &ArrayRef| take(a.as_ref(), &idx, None).context(what);
    let present = BooleanArray::new(sides.present.clone(), None);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(sink.schema().fields().len());
    for (&a, &b) in l.a_keys.iter().zip(&l.b_keys) {
        let key = zip(&present, batch.column(a), batch.column(b)).context(what)?;
        columns.push(pick(&key)?);
    }
    let side = |r: usize| (0..2).find(|&s| sides.only[s].value(r));
    columns.push(Arc::new(StringArray::from_iter_values(rows.iter().map(
        |&r| match side(r) {
            Some(0) => "only_v1",
            Some(_) => "only_v2",
            None => "changed",
        },
    ))));
    columns.push(Arc::new(
        rows.iter()
            .map(|&r| side(r).is_none().then(|| !found.unexpected.value(r)))
            .collect::<BooleanArray>(),
    ));
    columns.push(Arc::new(
        rows.iter()
            .map(|&r| side(r).map(|s| plan.row_bits(s, sides.holds[s], r)))
            .collect::<UInt64Array>(),
    ));
    for (j, (&a, &b)) in l.a_cols.iter().zip(&l.b_cols).enumerate() {
        let (va, vb) = (batch.column(a), batch.column(b));
        let cells = &found.changed[j];
        columns.push(pick(va)?);
        columns.push(pick(vb)?);
        columns.push(Arc::new(super::explain::cell_changes(va, vb, cells, &rows)));
        let expected = found.expected[j].as_ref();
        columns.push(Arc::new(
            rows.iter()
                .map(|&r| cells.value(r).then(|| expected.is_some_and(|x| x.value(r))))
                .collect::<BooleanArray>(),
        ));
    }
    sink.write(part, columns)
}

/// Per compared column of a batch: the changed cells, those a declared
/// change explains, and the rows with a cell none explains.
#[derive(Clone, Copy)]
struct Cells<'a> {
    changed: &'a [BooleanBuffer],
    expected: &'a [Option<BooleanBuffer>],
    unexpected: &'a BooleanBuffer,
}

fn indices(mask: &BooleanBuffer) -> UInt32Array {
    UInt32Array::from_iter_values(mask.set_indices().map(|i| i as u32))
}

impl Acc {
    fn new(shared: &Shared) -> Result<Self> {
        let fields = shared
            .alignment
            .key
            .iter()
            .map(|k| SortField::new(k.common.clone()))
            .collect();
        let converter =
            RowConverter::new(fields).context(|| "cannot order keys for samples".into())?;
        let n = shared.options.sample_size;
        Ok(Acc {
            matched: 0,
            matched_dup: 0,
            only_v1: 0,
            only_v2: 0,
            changed: 0,
            changed_unexpected: 0,
            explained: vec![0; shared.plan.items.len()],
            cover: Default::default(),
            cols: vec![ColAcc::default(); shared.alignment.columns.len()],
            parts: match &shared.sink {
                Some(sink) => vec![sink.part()?],
                None => Vec::new(),
            },
            converter,
            s_changed: SmallestK::new(n),
            s_only_v1: SmallestK::new(n),
            s_only_v2: SmallestK::new(n),
        })
    }

    fn add(&mut self, batch: &RecordBatch, l: &Layout, shared: &Shared) -> Result<()> {
        let len = batch.num_rows();
        if len == 0 {
            return Ok(());
        }
        let a_present = cells::validity(batch.column(l.a_keys[0]).as_ref());
        let b_present = cells::validity(batch.column(l.b_keys[0]).as_ref());
        let matched = &a_present & &b_present;
        let only_v1 = &a_present & &!&b_present;
        let only_v2 = &!&a_present & &b_present;
        self.matched += matched.count_set_bits() as u64;
        self.only_v1 += only_v1.count_set_bits() as u64;
        self.only_v2 += only_v2.count_set_bits() as u64;

        // Keys duplicated on a side are present but not compared.
        let dup = |n: Option<usize>| {
            n.map(|i| {
                let counts = batch.column(i).as_primitive::<Int64Type>();
                BooleanBuffer::collect_bool(len, |r| counts.is_valid(r) && counts.value(r) > 1)
            })
        };
        let duplicated = match (dup(l.a_n), dup(l.b_n)) {
            (Some(x), Some(y)) => Some(&x | &y),
            (x, y) => x.or(y),
        };
        let compare_mask = match duplicated {
            None => matched,
            Some(any) => {
                self.matched_dup += (&matched & &any).count_set_bits() as u64;
                &matched & &!&any
            }
        };

        // Where each declared change's `where` holds, per side (absent:
        // everywhere).
        let holds = |w: &[Option<usize>]| -> Vec<Option<BooleanBuffer>> {
            w.iter()
                .map(|i| i.map(|i| expect::truthy(batch.column(i))))
                .collect()
        };
        let (a_holds, b_holds) = (holds(&l.a_w), holds(&l.b_w));
        let plan = &shared.plan;
        let mut checks = Vec::with_capacity(l.a_cols.len());
        let mut expected_cells: Vec<Option<BooleanBuffer>> = Vec::with_capacity(l.a_cols.len());
        let mut unexpected = BooleanBuffer::new_unset(len);
        for (j, (&ai, &bi)) in l.a_cols.iter().zip(&l.b_cols).enumerate() {
            let tol = shared
                .options
                .tolerance
                .for_pair(&shared.alignment.columns[j]);
            let check = compare_column(batch.column(ai), batch.column(bi), &compare_mask, tol)
                .context(|| {
                    format!(
                        "cannot compare column `{}`",
                        shared.alignment.columns[j].name
                    )
                })?;
            let acc = &mut self.cols[j];
            acc.mismatches += check.mismatch.count_set_bits() as u64;
            acc.max_abs = max_opt(acc.max_abs, check.max_abs);
            acc.max_rel = max_opt(acc.max_rel, check.max_rel);
            acc.non_finite += check.non_finite;
            acc.value_to_null += check.value_to_null;
            acc.null_to_value += check.null_to_value;
            acc.patterns
                .add(batch.column(ai), batch.column(bi), &check.mismatch);
            let mut explained: Option<BooleanBuffer> = None;
            for (e, item) in plan.on_column(j) {
                let mut cand = check.mismatch.clone();
                for h in [&a_holds[e], &b_holds[e]].into_iter().flatten() {
                    cand = &cand & h;
                }
                let ok = expect::cells_matching(
                    item.exp.change,
                    batch.column(ai),
                    batch.column(bi),
                    &cand,
                )
                .context(|| format!("cannot check the declared change `{}`", item.exp.label()))?;
                self.explained[e] += ok.count_set_bits() as u64;
                explained = Some(match explained {
                    Some(x) => &x | &ok,
                    None => ok,
                });
            }
            match &explained {
                Some(x) => {
                    acc.expected += x.count_set_bits() as u64;
                    unexpected = &unexpected | &(&check.mismatch & &!x);
                }
                None => unexpected = &unexpected | &check.mismatch,
            }
            expected_cells.push(explained);
            checks.push(check.mismatch);
        }
        self.changed_unexpected += unexpected.count_set_bits() as u64;
        for (s, mask, h) in [(0, &only_v1, &a_holds), (1, &only_v2, &b_holds)] {
            if plan.on_rows(s).next().is_none() || mask.count_set_bits() == 0 {
                continue;
            }
            for r in mask.set_indices() {
                *self.cover[s].entry(plan.row_bits(s, h, r)).or_default() += 1;
            }
        }
        let any_changed = checks
            .iter()
            .fold(BooleanBuffer::new_unset(len), |acc, m| &acc | m);
        self.changed += any_changed.count_set_bits() as u64;
        if let (Some(sink), Some(part)) = (&shared.sink, self.parts.first_mut()) {
            let found = Cells {
                changed: &checks,
                expected: &expected_cells,
                unexpected: &unexpected,
            };
            let sides = Sides {
                present: &a_present,
                only: [&only_v1, &only_v2],
                holds: [&a_holds, &b_holds],
            };
            export((sink, part), batch, l, plan, &any_changed, found, sides)?;
        }

        if shared.options.sample_size > 0 {
            let cells = Cells {
                changed: &checks,
                expected: &expected_cells,
                unexpected: &unexpected,
            };
            self.sample_changed(batch, l, shared, &any_changed, cells)?;
            let a = (&l.a_keys[..], &l.a_cols[..], l.a_n);
            let b = (&l.b_keys[..], &l.b_cols[..], l.b_n);
            self.sample_one_side(batch, a, &only_v1, shared, true)?;
            self.sample_one_side(batch, b, &only_v2, shared, false)?;
        }
        Ok(())
    }

    /// Sort keys (row-format bytes) of the key columns at `idx`.
    fn sort_keys(
        &self,
        batch: &RecordBatch,
        keys: &[usize],
        idx: &UInt32Array,
    ) -> Result<(Vec<ArrayRef>, Vec<Vec<u8>>)> {
        let cols: Vec<ArrayRef> = keys
            .iter()
            .map(|&k| take(batch.column(k).as_ref(), idx, None))
            .collect::<std::result::Result<_, _>>()
            .context(|| "cannot sample keys".into())?;
        let rows = self
            .converter
            .convert_columns(&cols)
            .context(|| "cannot order keys for samples".into())?;
        let bytes = rows.iter().map(|r| r.as_ref().to_vec()).collect();
        Ok((cols, bytes))
    }

    fn key_json(&self, shared: &Shared, cols: &[ArrayRef], r: usize) -> Map<String, Value> {
        shared
            .alignment
            .key
            .iter()
            .zip(cols)
            .map(|(k, a)| (k.name.clone(), cells::to_json(a.as_ref(), r)))
            .collect()
    }

    /// Sample changed rows: those with a cell no declared change explains
    /// first, each in key order.
    fn sample_changed(
        &mut self,
        batch: &RecordBatch,
        l: &Layout,
        shared: &Shared,
        any_changed: &BooleanBuffer,
        found: Cells,
    ) -> Result<()> {
        if any_changed.count_set_bits() == 0 {
            return Ok(());
        }
        let idx = indices(any_changed);
        let (keys, sort) = self.sort_keys(batch, &l.a_keys, &idx)?;
        let declared = !shared.plan.is_empty();
        for (r, key) in sort.into_iter().enumerate() {
            let row = idx.value(r) as usize;
            let mut key = key;
            // With declared changes, rows a declaration explains sort
            // after the others (without, every row would get the same
            // prefix, so none is added).
            if declared {
                key.insert(0, u8::from(!found.unexpected.value(row)));
            }
            if !self.s_changed.accepts(&key) {
                continue;
            }
            let cells = found
                .changed
                .iter()
                .enumerate()
                .filter(|(_, m)| m.value(row))
                .map(|(j, _)| ChangedCell {
                    column: shared.alignment.columns[j].name.clone(),
                    v1: cells::to_json(batch.column(l.a_cols[j]).as_ref(), row),
                    v2: cells::to_json(batch.column(l.b_cols[j]).as_ref(), row),
                    expected: found.expected[j].as_ref().is_some_and(|x| x.value(row)),
                })
                .collect();
            let key_map = self.key_json(shared, &keys, r);
            self.s_changed.insert(
                key,
                ChangedRow {
                    key: key_map,
                    cells,
                },
            );
        }
        Ok(())
    }

    /// Sample rows of one side only. `side` is that side's key columns,
    /// value columns and (when its keys repeat) row-count column; a key
    /// with several rows is sampled as the key and its count, no values.
    fn sample_one_side(
        &mut self,
        batch: &RecordBatch,
        (keys, cols, n): (&[usize], &[usize], Option<usize>),
        mask: &BooleanBuffer,
        shared: &Shared,
        v1: bool,
    ) -> Result<()> {
        if mask.count_set_bits() == 0 {
            return Ok(());
        }
        let idx = indices(mask);
        let (key_cols, sort) = self.sort_keys(batch, keys, &idx)?;
        for (r, key) in sort.into_iter().enumerate() {
            let target = if v1 { &self.s_only_v1 } else { &self.s_only_v2 };
            if !target.accepts(&key) {
                continue;
            }
            let row_idx = idx.value(r) as usize;
            let count = n
                .map(|i| batch.column(i).as_primitive::<Int64Type>().value(row_idx) as u64)
                .filter(|n| *n > 1);
            let row = match count {
                Some(_) => Map::new(),
                None => shared
                    .alignment
                    .columns
                    .iter()
                    .zip(cols)
                    .map(|(c, &i)| {
                        (
                            c.name.clone(),
                            cells::to_json(batch.column(i).as_ref(), row_idx),
                        )
                    })
                    .collect(),
            };
            let sample = RowSample {
                key: self.key_json(shared, &key_cols, r),
                row,
                count,
            };
            if v1 {
                self.s_only_v1.insert(key, sample);
            } else {
                self.s_only_v2.insert(key, sample);
            }
        }
        Ok(())
    }

    fn merge(&mut self, o: Acc) {
        self.matched += o.matched;
        self.matched_dup += o.matched_dup;
        self.only_v1 += o.only_v1;
        self.only_v2 += o.only_v2;
        self.changed += o.changed;
        self.changed_unexpected += o.changed_unexpected;
        self.parts.extend(o.parts);
        for (a, b) in self.explained.iter_mut().zip(o.explained) {
            *a += b;
        }
        for (mine, theirs) in self.cover.iter_mut().zip(o.cover) {
            for (bits, n) in theirs {
                *mine.entry(bits).or_default() += n;
            }
        }
        for (a, b) in self.cols.iter_mut().zip(o.cols) {
            a.mismatches += b.mismatches;
            a.max_abs = max_opt(a.max_abs, b.max_abs);
            a.max_rel = max_opt(a.max_rel, b.max_rel);
            a.non_finite += b.non_finite;
            a.value_to_null += b.value_to_null;
            a.null_to_value += b.null_to_value;
            a.patterns.merge(b.patterns);
            a.expected += b.expected;
        }
        self.s_changed.merge(o.s_changed);
        self.s_only_v1.merge(o.s_only_v1);
        self.s_only_v2.merge(o.s_only_v2);
    }

    fn finish(self, alignment: &Alignment, counts: Counts, plan: &Plan) -> Comparison {
        let Counts {
            s1,
            s2,
            matched,
            matched_dup,
            only_v1,
            only_v2,
        } = counts;
        let compared = matched - matched_dup;
        let columns = alignment
            .columns
            .iter()
            .zip(self.cols)
            .map(|(p, c)| {
                let numeric = cells::is_numeric(&p.common);
                ColumnStats {
                    name: p.name.clone(),
                    v1_type: p.v1_type.to_string(),
                    v2_type: p.v2_type.to_string(),
                    compared,
                    mismatches: c.mismatches,
                    mismatch_rate: if compared == 0 {
                        0.0
                    } else {
                        c.mismatches as f64 / compared as f64
                    },
                    // Rows not compared cell by cell had identical values: a
                    // zero difference whenever any row was compared.
                    max_abs_diff: (numeric && compared > 0).then(|| c.max_abs.unwrap_or(0.0)),
                    max_rel_diff: (numeric && compared > 0).then(|| c.max_rel.unwrap_or(0.0)),
                    non_finite_diffs: c.non_finite,
                    value_to_null: c.value_to_null,
                    null_to_value: c.null_to_value,
                    patterns: c.patterns.finish(),
                    expected: c.expected,
                }
            })
            .collect();
        let (expectations, only_expected) =
            plan.outcomes(&self.explained, &self.cover, [only_v1, only_v2]);
        let declared = |n: u64| (!plan.is_empty()).then_some(n);
        Comparison {
            rows: RowCounts {
                v1: s1.rows,
                v2: s2.rows,
                matched: Some(matched),
                only_v1,
                only_v2,
                changed: Some(self.changed),
                unchanged: Some(compared - self.changed),
                matched_duplicate_keys: Some(matched_dup),
                duplicate_keys_v1: Some(s1.duplicate_keys),
                duplicate_keys_v2: Some(s2.duplicate_keys),
                duplicate_rows_v1: Some(s1.duplicate_rows),
                duplicate_rows_v2: Some(s2.duplicate_rows),
                null_keys_v1: Some(s1.null_key_rows),
                null_keys_v2: Some(s2.null_key_rows),
                changed_expected: declared(self.changed - self.changed_unexpected),
                only_v1_expected: declared(only_expected[0]),
                only_v2_expected: declared(only_expected[1]),
            },
            expectations,
            diff_out: None,
            profile: None,
            columns,
            samples: Samples {
                changed: self.s_changed.into_sorted(),
                only_v1: self.s_only_v1.into_sorted(),
                only_v2: self.s_only_v2.into_sorted(),
            },
        }
    }
}
