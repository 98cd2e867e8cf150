//! The profile of every output column on v1 and v2, and how far v2's
//! distributions drifted from v1's.
//!
//! A profile costs no read of its own: [`Profiler::wrap`] puts an operator
//! ([`exec::ProfileExec`]) under the first pass the comparison makes over
//! each side (the keyed census, the keyless aggregate), which folds every
//! batch into a per-partition state ([`acc`]) before the pass goes on. Only
//! a keyed comparison of columns the census cannot hash reads the sides
//! once more ([`Profiler::scan`]).
//!
//! Counts, NULLs, minimum, maximum, mean and standard deviation (from exact
//! sums), string lengths and, up to 1,000 distinct values, exact value
//! frequencies are over every row; more distinct values are estimated by a
//! HyperLogLog. Quantiles, histograms and PSI come from a sample of at most
//! [`SAMPLE_LIMIT`] rows per side: those whose key hashes smallest (whose
//! whole row does, without a key), so unchanged rows are sampled alike on
//! both sides and a drift score measures changed rows, not sampling.
//! Every part merges in any order, and values are hashed the same on every
//! machine, so the profile is the same at any thread count. The scores
//! ([`stats`]) are judged by the drift rules (`judge.rs`).

pub mod acc;
mod exec;
mod stats;
mod sum;

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::logical_expr::{Expr, ident, lit};
use datafusion::prelude::{DataFrame, SessionContext};

use super::{common_expr, fold_partitions};
use crate::align::Alignment;
use crate::error::{EngineContext, Error, Result};
use crate::report::{ColumnProfile, Profile, ProfileKind};
use crate::transform::Version;

/// Rows at most in each side's sample.
pub const SAMPLE_LIMIT: usize = 20_000;

/// A profiled column and how each side computes it (`None`: the side has
/// no such column).
struct Column {
    name: String,
    exprs: [Option<Expr>; 2],
}

/// One column of one side once merged: its state, its sampled values
/// (sorted, without NULLs) and the rows sampled.
type Slot = (acc::ColAcc, Option<datafusion::arrow::array::ArrayRef>, u64);

/// The profile of one comparison, filled as its first pass runs.
pub struct Profiler {
    columns: Vec<Column>,
    /// The first columns the sample is chosen by: the key, or (without
    /// one) every compared column.
    sample_by: usize,
    /// Key columns lead (none without a key); they get no drift score.
    key_len: usize,
    /// The compared columns follow the key.
    compared: usize,
    sides: [Arc<exec::Shared>; 2],
    limit: usize,
    as_of: Option<String>,
}

fn idx(v: Version) -> usize {
    match v {
        Version::V1 => 0,
        Version::V2 => 1,
    }
}

impl Profiler {
    /// Key columns, compared columns, then the columns only v1 and only
    /// v2 have (ignored columns are left out).
    pub fn new(alignment: &Alignment, ignored: &[String], as_of: Option<String>) -> Self {
        let both = |p: &crate::align::Pair| Column {
            name: p.name.clone(),
            exprs: [
                Some(common_expr(p, Version::V1)),
                Some(common_expr(p, Version::V2)),
            ],
        };
        let mut columns: Vec<Column> = alignment.key.iter().map(both).collect();
        columns.extend(alignment.columns.iter().map(both));
        let sample_by = match alignment.key.len() {
            0 => alignment.columns.len(),
            n => n,
        };
        let keep = |n: &String| !ignored.contains(n);
        for c in alignment.schema.removed.iter().filter(|c| keep(&c.name)) {
            columns.push(Column {
                name: c.name.clone(),
                exprs: [Some(ident(&c.name)), None],
            });
        }
        for c in alignment.schema.added.iter().filter(|c| keep(&c.name)) {
            columns.push(Column {
                name: c.name.clone(),
                exprs: [None, Some(ident(&c.name))],
            });
        }
        Profiler {
            columns,
            sample_by,
            key_len: alignment.key.len(),
            compared: alignment.columns.len(),
            sides: Default::default(),
            limit: SAMPLE_LIMIT,
            as_of,
        }
    }

    /// The profiled columns side `v` has, in profile order.
    fn present(&self, v: Version) -> Vec<usize> {
        (0..self.columns.len())
            .filter(|&i| self.columns[i].exprs[idx(v)].is_some())
            .collect()
    }

    /// The pass `table.select(base)` over side `v`, with the profile
    /// taken as its rows go by. `reuse` names profiled columns `base`
    /// already computes: (profile column, position in `base`). With
    /// `row_hash`, `base` is followed by a column [`exec::ROW_HASH`], a hash
    /// of the row's compared columns (in order) made from the profile's
    /// own value hashes, equal on both sides for equal values (NaN as NaN,
    /// -0.0 as 0.0, as the comparison holds them), then by the compared
    /// columns themselves.
    pub async fn wrap(
        &self,
        ctx: &SessionContext,
        v: Version,
        table: DataFrame,
        base: Vec<Expr>,
        reuse: &[(usize, usize)],
        row_hash: bool,
    ) -> Result<DataFrame> {
        let what = || format!("cannot plan the profile of {}", v.as_str());
        let pass = base.len();
        let mut exprs = base;
        let mut sources = Vec::new();
        let mut sample_by = Vec::new();
        let mut hashed = Vec::new();
        let compared = self.key_len..self.key_len + self.compared;
        for (k, i) in self.present(v).into_iter().enumerate() {
            if i < self.sample_by {
                sample_by.push(k);
            }
            if compared.contains(&i) {
                hashed.push(k);
            }
            match reuse.iter().find(|(p, _)| *p == i) {
                Some(&(_, j)) => sources.push(j),
                None => {
                    let e = self.columns[i].exprs[idx(v)].clone().expect("present");
                    exprs.push(e.alias(format!("__p{i}")));
                    sources.push(exprs.len() - 1);
                }
            }
        }
        let df = table.select(exprs).context(what)?;
        let input = df.create_physical_plan().await.context(what)?;
        let mut keep: Vec<exec::Out> = (0..pass).map(exec::Out::Input).collect();
        let mut fields: Vec<datafusion::arrow::datatypes::FieldRef> =
            input.schema().fields()[..pass].to_vec();
        if row_hash {
            if hashed.len() != self.compared {
                return Err(Error::Internal(format!(
                    "profile of {}: {} of {} compared columns to hash",
                    v.as_str(),
                    hashed.len(),
                    self.compared
                )));
            }
            keep.push(exec::Out::RowHash);
            fields.push(Arc::new(datafusion::arrow::datatypes::Field::new(
                exec::ROW_HASH,
                datafusion::arrow::datatypes::DataType::UInt64,
                false,
            )));
            for &k in &hashed {
                keep.push(exec::Out::Input(sources[k]));
                fields.push(Arc::clone(&input.schema().fields()[sources[k]]));
            }
        }
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(fields));
        let provider = exec::Profiled {
            input,
            pass: keep,
            plan: exec::Plan {
                sources,
                sample_by,
                limit: self.limit,
                shared: Arc::clone(&self.sides[idx(v)]),
                row_hash: row_hash.then_some(hashed),
            },
            schema,
        };
        ctx.read_table(Arc::new(provider)).context(what)
    }

    /// Profile both sides in a pass of their own.
    pub async fn scan(&self, ctx: &SessionContext) -> Result<()> {
        for v in [Version::V1, Version::V2] {
            let what = || format!("cannot profile {}", v.as_str());
            let table = ctx.table(v.table_name()).await.context(what)?;
            let base = vec![lit(1u8).alias("__one")];
            let df = self.wrap(ctx, v, table, base, &[], false).await?;
            fold_partitions(df, "profile", || Ok(()), |_, _| Ok(()), |_, _| ()).await?;
        }
        Ok(())
    }

    /// One side's merged state and sample.
    fn side(&self, v: Version) -> Result<(Vec<acc::ColAcc>, Option<RecordBatch>)> {
        let shared = &self.sides[idx(v)];
        let started = *shared.started.lock().expect("not poisoned");
        let mut done = std::mem::take(&mut *shared.done.lock().expect("not poisoned"));
        if done.len() != started {
            return Err(Error::Internal(format!(
                "the profile of {} saw {} of {started} partition(s) finish",
                v.as_str(),
                done.len()
            )));
        }
        let internal = |e: datafusion::error::DataFusionError| {
            Error::Internal(format!("profile of {}: {e}", v.as_str()))
        };
        let Some(mut total) = done.pop() else {
            // No partition at all: an empty side.
            return Ok((Vec::new(), None));
        };
        for o in done {
            total.merge(o).map_err(internal)?;
        }
        let sample = total.sample.finish().map_err(internal)?;
        Ok((total.columns, sample))
    }

    /// The profile, once the pass it was wrapped into has run.
    pub fn finish(&self) -> Result<Profile> {
        let as_of = self.as_of.as_deref().and_then(|d| {
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp())
        });
        let internal =
            |e: datafusion::error::DataFusionError| Error::Internal(format!("profile: {e}"));
        let mut sides = [self.side(Version::V1)?, self.side(Version::V2)?];
        let mut slots: [Vec<Option<Slot>>; 2] = [Vec::new(), Vec::new()];
        for (s, v) in [Version::V1, Version::V2].into_iter().enumerate() {
            let (accs, sample) = std::mem::take(&mut sides[s]);
            let mut accs = accs.into_iter();
            let present = self.present(v);
            let mut out: Vec<Option<_>> = (0..self.columns.len()).map(|_| None).collect();
            for (k, i) in present.into_iter().enumerate() {
                let Some(acc) = accs.next() else { break };
                // Sorted once here for the quantiles, histogram and PSI.
                let column = sample
                    .as_ref()
                    .map(|b| stats::sorted(b.column(k)))
                    .transpose()
                    .map_err(internal)?;
                let sampled = sample.as_ref().map_or(0, |b| b.num_rows() as u64);
                out[i] = Some((acc, column, sampled));
            }
            slots[s] = out;
        }
        let [mut s1, mut s2] = slots;
        let mut columns = Vec::with_capacity(self.columns.len());
        for (i, c) in self.columns.iter().enumerate() {
            let mut a = s1[i].take();
            let mut b = s2[i].take();
            let kind = b
                .as_ref()
                .or(a.as_ref())
                .map_or(ProfileKind::Other, |(acc, ..)| acc.kind);
            let summary = |x: &mut Option<Slot>| -> Result<_> {
                Ok(match x {
                    Some((acc, sample, sampled)) => {
                        let mut side = stats::Side {
                            acc,
                            sample: sample.clone(),
                            sampled: *sampled,
                        };
                        Some(stats::summary(&mut side, as_of).map_err(internal)?)
                    }
                    None => None,
                })
            };
            let (pa, pb) = (summary(&mut a)?, summary(&mut b)?);
            let histogram = match kind {
                ProfileKind::Number | ProfileKind::Time => stats::histogram(
                    a.as_ref().and_then(|x| x.1.as_ref()),
                    b.as_ref().and_then(|x| x.1.as_ref()),
                )
                .map_err(internal)?,
                _ => None,
            };
            let drift = match (&mut a, &mut b, &pa, &pb) {
                (Some(x), Some(y), Some(p), Some(q)) if i >= self.key_len => {
                    let sx = stats::Side {
                        acc: &mut x.0,
                        sample: x.1.clone(),
                        sampled: x.2,
                    };
                    let sy = stats::Side {
                        acc: &mut y.0,
                        sample: y.1.clone(),
                        sampled: y.2,
                    };
                    Some(stats::drift(kind, (&sx, &sy), (p, q)).map_err(internal)?)
                }
                _ => None,
            };
            columns.push(ColumnProfile {
                name: c.name.clone(),
                kind,
                v1: pa,
                v2: pb,
                histogram,
                drift,
                masked: false,
            });
        }
        Ok(Profile {
            sample_limit: self.limit as u64,
            as_of: self.as_of.clone(),
            columns,
        })
    }
}
