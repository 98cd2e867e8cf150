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
pub mod sample;

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;

use crate::align::Alignment;
use crate::error::Result;
use crate::report::{ColumnStats, RowCounts, Samples};

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

#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub tolerance: Tolerance,
    /// Samples kept per category (changed, only_v1, only_v2).
    pub sample_size: usize,
}

/// What the compare stage found; the judge and the report are built from it.
#[derive(Debug, Clone)]
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
