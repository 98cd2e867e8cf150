//! Stage 4, compare: read the two aligned tables and count what differs.
//!
//! Both modes are DataFusion plans whose output is streamed partition by
//! partition into small accumulators (counts, per-column stats, bounded
//! samples); no table is ever collected into memory.
//!
//! * keyed ([`keyed`]): key statistics per side (rows, NULL keys, duplicated
//!   keys) and a full outer join on the key, compared cell by cell.
//! * keyless ([`keyless`]): whole rows as a multiset, via one aggregate over
//!   the union of both sides.

pub mod cells;
mod keyed;
mod keyless;
mod row_hash;
pub mod sample;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::logical_expr::{Expr, cast, ident};
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;

use crate::align::{Alignment, Pair};
use crate::error::{EngineContext, Error, Result};
use crate::report::{ColumnStats, RowCounts, Samples};
use crate::transform::Version;

pub use cells::Tol;

/// Global tolerance plus per-column overrides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tolerance {
    pub default: Tol,
    pub columns: BTreeMap<String, Tol>,
}

impl Tolerance {
    pub fn for_column(&self, name: &str) -> Tol {
        self.columns.get(name).copied().unwrap_or(self.default)
    }
}

/// Changed, only-v1 and only-v2 rows sampled per report unless configured.
pub const DEFAULT_SAMPLE_SIZE: usize = 10;

#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub tolerance: Tolerance,
    /// Samples kept per category (changed, only_v1, only_v2).
    pub sample_size: usize,
}

/// What the compare stage found; the judge and the report are built from it.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub rows: RowCounts,
    pub columns: Vec<ColumnStats>,
    pub samples: Samples,
}

/// Compare the registered v1 and v2 tables as `alignment` says.
pub async fn compare(
    ctx: &SessionContext,
    alignment: &Alignment,
    options: &CompareOptions,
) -> Result<Comparison> {
    if alignment.key.is_empty() {
        keyless::compare(ctx, alignment, options).await
    } else {
        keyed::compare(ctx, alignment, options).await
    }
}

/// Column `p` of side `v`, cast to the type both sides are compared in.
fn common_expr(p: &Pair, v: Version) -> Expr {
    let side_type = if v == Version::V1 {
        &p.v1_type
    } else {
        &p.v2_type
    };
    let e = ident(&p.name);
    if *side_type == p.common {
        e
    } else {
        cast(e, p.common.clone())
    }
}

/// Execute `df` partition by partition: each partition streams on its own
/// task into its own accumulator (from `new`), folded batch by batch with
/// `add`; the partitions' accumulators are then merged into one with
/// `merge` (a plan without partitions gives a fresh accumulator).
async fn fold_partitions<A, F>(
    df: DataFrame,
    what: &'static str,
    new: impl Fn() -> Result<A>,
    add: F,
    merge: impl Fn(&mut A, A),
) -> Result<A>
where
    A: Send + 'static,
    F: Fn(&mut A, &RecordBatch) -> Result<()> + Send + Sync + 'static,
{
    let streams = df
        .execute_stream_partitioned()
        .await
        .context(|| format!("cannot start the {what}"))?;
    let add = Arc::new(add);
    let mut tasks = Vec::with_capacity(streams.len());
    for mut stream in streams {
        let mut acc = new()?;
        let add = Arc::clone(&add);
        tasks.push(tokio::spawn(async move {
            while let Some(batch) = stream.next().await {
                add(&mut acc, &batch.context(|| format!("{what} failed"))?)?;
            }
            Ok::<_, Error>(acc)
        }));
    }
    let mut total = new()?;
    for task in tasks {
        let acc = task
            .await
            .map_err(|e| Error::Internal(format!("{what} task failed: {e}")))??;
        merge(&mut total, acc);
    }
    Ok(total)
}

/// Read a non-negative count from a one-row aggregate result (NULL = 0).
fn count_at(batches: &[RecordBatch], column: usize) -> u64 {
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| {
            let a = b.column(column);
            let a =
                datafusion::arrow::compute::cast(a, &datafusion::arrow::datatypes::DataType::Int64)
                    .expect("counts cast to int64");
            let a = a.as_primitive::<Int64Type>();
            if a.is_null(0) {
                0
            } else {
                a.value(0).max(0) as u64
            }
        })
        .unwrap_or(0)
}
