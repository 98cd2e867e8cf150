//! Keyless comparison: each side is a multiset of whole rows (over the
//! columns both sides share). One aggregate over `v1 UNION ALL v2` counts
//! each distinct row per side; a row seen `n1` times in v1 and `n2` times in
//! v2 adds `max(n1 - n2, 0)` to only_v1 and `max(n2 - n1, 0)` to only_v2, so
//! v1 `[a, a, b]` against v2 `[a, b, b, c]` gives only_v1 1, only_v2 2.
//! GROUP BY treats NULLs as equal; every column is a key
//! ([`super::key_expr`]: one NaN, -0.0 as 0.0), so values equal by the
//! comparison rules group together.

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::{DataFrame, SessionContext};

use std::sync::Arc;

use super::cells;
use super::export::{Part, Sink};
use super::sample::SmallestK;
use super::{CompareOptions, Comparison, count_at, fold_partitions, key_expr};
use crate::align::Alignment;
use crate::error::{EngineContext, Error, Result};
use crate::report::{RowCounts, RowSample, Samples};
use crate::transform::Version;

pub(super) async fn compare(
    ctx: &SessionContext,
    alignment: &Alignment,
    options: &CompareOptions,
    mask: &super::mask::Mask,
    profiler: Option<&super::profile::Profiler>,
) -> Result<Comparison> {
    if alignment.columns.is_empty() {
        return Err(Error::Usage(
            "v1 and v2 share no comparable columns, so rows cannot be compared without a key"
                .into(),
        ));
    }
    let (rows_v1, rows_v2) =
        tokio::try_join!(row_count(ctx, Version::V1), row_count(ctx, Version::V2))?;
    let what = || "cannot plan the keyless comparison".to_string();
    let a = side(ctx, Version::V1, alignment, profiler).await?;
    let b = side(ctx, Version::V2, alignment, profiler).await?;
    let groups: Vec<Expr> = (0..alignment.columns.len())
        .map(|j| col(format!("__c{j}")))
        .collect();
    let diff = a
        .union(b)
        .context(what)?
        .aggregate(
            groups,
            vec![
                sum(col("__n1")).alias("__n1"),
                sum(col("__n2")).alias("__n2"),
            ],
        )
        .context(what)?
        .filter(col("__n1").not_eq(col("__n2")))
        .context(what)?;
    let types: Vec<DataType> = alignment.columns.iter().map(|c| c.common.clone()).collect();
    let names: Vec<String> = alignment.columns.iter().map(|c| c.name.clone()).collect();
    let sink = match &options.diff_out {
        Some(path) => {
            let schema = diff.schema().as_arrow().clone();
            let read: Vec<DataType> = (0..names.len())
                .map(|j| schema.field(j).data_type().clone())
                .collect();
            Some(Arc::new(Sink::keyless(path, alignment, &read, mask)?))
        }
        None => None,
    };
    let for_tasks = sink.clone();
    let mut acc = fold_partitions(
        diff,
        "keyless comparison",
        || {
            Acc::new(
                types.clone(),
                names.clone(),
                options.sample_size,
                for_tasks.clone(),
            )
        },
        |acc, batch| acc.add(batch),
        Acc::merge,
    )
    .await?;
    let diff_out = match sink {
        Some(sink) => {
            let parts = std::mem::take(&mut acc.parts);
            let written = [0, acc.distinct[0], acc.distinct[1]];
            Some(sink.finish(ctx, parts, [0, 0], written).await?)
        }
        None => None,
    };
    Ok(Comparison {
        rows: RowCounts {
            v1: rows_v1,
            v2: rows_v2,
            only_v1: acc.only_v1,
            only_v2: acc.only_v2,
            ..Default::default()
        },
        columns: Vec::new(),
        samples: Samples {
            changed: Vec::new(),
            only_v1: acc.s_only_v1.into_sorted(),
            only_v2: acc.s_only_v2.into_sorted(),
        },
        expectations: Vec::new(),
        diff_out,
        profile: None,
    })
}

async fn row_count(ctx: &SessionContext, v: Version) -> Result<u64> {
    let what = || format!("cannot count the rows of {}", v.as_str());
    let batches = ctx
        .table(v.table_name())
        .await
        .context(what)?
        .aggregate(vec![], vec![count_all()])
        .context(what)?
        .collect()
        .await
        .context(what)?;
    Ok(count_at(&batches, 0))
}

/// One side's whole rows (each column as a key) and its count columns,
/// profiled as they go by when asked.
async fn side(
    ctx: &SessionContext,
    v: Version,
    alignment: &Alignment,
    profiler: Option<&super::profile::Profiler>,
) -> Result<DataFrame> {
    let what = || format!("cannot plan the {} side of the comparison", v.as_str());
    let mut exprs = Vec::with_capacity(alignment.columns.len() + 2);
    for (j, c) in alignment.columns.iter().enumerate() {
        exprs.push(key_expr(c, v).context(what)?.alias(format!("__c{j}")));
    }
    let (n1, n2) = if v == Version::V1 {
        (1i64, 0i64)
    } else {
        (0, 1)
    };
    exprs.push(lit(n1).alias("__n1"));
    exprs.push(lit(n2).alias("__n2"));
    let table = ctx.table(v.table_name()).await.context(what)?;
    match profiler {
        // Each compared column is already there, as column j.
        Some(p) => {
            let reuse: Vec<(usize, usize)> = (0..alignment.columns.len()).map(|j| (j, j)).collect();
            p.wrap(ctx, v, table, exprs, &reuse, false).await
        }
        None => table.select(exprs).context(what),
    }
}

struct Acc {
    names: Vec<String>,
    converter: RowConverter,
    only_v1: u64,
    only_v2: u64,
    /// Distinct rows found more often in v1, in v2.
    distinct: [u64; 2],
    /// Where every differing row goes (`--diff-out`), and this
    /// partition's part of it (then, once merged, every partition's).
    sink: Option<Arc<Sink>>,
    parts: Vec<Part>,
    s_only_v1: SmallestK<RowSample>,
    s_only_v2: SmallestK<RowSample>,
}

impl Acc {
    fn merge(&mut self, o: Acc) {
        self.only_v1 += o.only_v1;
        self.only_v2 += o.only_v2;
        self.distinct[0] += o.distinct[0];
        self.distinct[1] += o.distinct[1];
        self.parts.extend(o.parts);
        self.s_only_v1.merge(o.s_only_v1);
        self.s_only_v2.merge(o.s_only_v2);
    }

    fn new(
        types: Vec<DataType>,
        names: Vec<String>,
        limit: usize,
        sink: Option<Arc<Sink>>,
    ) -> Result<Self> {
        let converter = RowConverter::new(types.into_iter().map(SortField::new).collect())
            .context(|| "cannot order rows for samples".into())?;
        let parts = match &sink {
            Some(s) => vec![s.part()?],
            None => Vec::new(),
        };
        Ok(Acc {
            names,
            converter,
            only_v1: 0,
            only_v2: 0,
            distinct: [0, 0],
            sink,
            parts,
            s_only_v1: SmallestK::new(limit),
            s_only_v2: SmallestK::new(limit),
        })
    }

    fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let nc = self.names.len();
        let n1 = batch.column(nc).as_primitive::<Int64Type>();
        let n2 = batch.column(nc + 1).as_primitive::<Int64Type>();
        let cols: Vec<ArrayRef> = batch.columns()[..nc].to_vec();
        let rows = self
            .converter
            .convert_columns(&cols)
            .context(|| "cannot order rows for samples".into())?;
        if let (Some(sink), Some(part)) = (&self.sink, self.parts.first_mut()) {
            use datafusion::arrow::array::{StringArray, UInt64Array};
            let len = batch.num_rows();
            let mut columns = cols.clone();
            columns.push(std::sync::Arc::new(StringArray::from_iter_values(
                (0..len).map(|r| {
                    if n1.value(r) > n2.value(r) {
                        "only_v1"
                    } else {
                        "only_v2"
                    }
                }),
            )));
            columns.push(std::sync::Arc::new(UInt64Array::from_iter_values(
                (0..len).map(|r| n1.value(r).abs_diff(n2.value(r))),
            )));
            sink.write(part, columns)?;
        }
        for r in 0..batch.num_rows() {
            let (a, b) = (n1.value(r), n2.value(r));
            self.distinct[usize::from(b > a)] += 1;
            let (target, extra) = if a > b {
                self.only_v1 += (a - b) as u64;
                (&mut self.s_only_v1, (a - b) as u64)
            } else {
                self.only_v2 += (b - a) as u64;
                (&mut self.s_only_v2, (b - a) as u64)
            };
            let key = rows.row(r);
            if target.accepts(key.as_ref()) {
                let row = self
                    .names
                    .iter()
                    .zip(&cols)
                    .map(|(n, c)| (n.clone(), cells::to_json(c.as_ref(), r)))
                    .collect();
                target.insert(
                    key.as_ref().to_vec(),
                    RowSample {
                        key: Default::default(),
                        row,
                        count: Some(extra),
                    },
                );
            }
        }
        Ok(())
    }
}
