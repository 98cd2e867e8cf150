//! Canary subsets: the rows of an input that both versions see, when a gate
//! runs on part of the data (the last days, 1% of customers).
//!
//! Two kinds of filter, both applied here, in the load stage, so that v1
//! and v2 read the very same rows:
//!
//! * `where` predicates, SQL expressions over the input's columns, planned
//!   by DataFusion against that one table (never as statements);
//! * a key-hash sample: a row is kept when the xxHash64 (with the seed) of
//!   its sample column's text falls below `fraction` of the hash range. The
//!   text of a value is the same in every input (42 and '42' hash alike),
//!   so every input sampled on the same column keeps the same keys and joins
//!   between them stay whole; the same seed picks the same rows on every
//!   run and machine. Rows whose sample column is NULL are all kept, so NULL
//!   keys stay visible as findings.
//!
//! The filtered table replaces the input under its own name, as a view; the
//! rows before and after are counted in one pass for the report.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast,
    ident, lit, when,
};
use datafusion::prelude::SessionContext;
use twox_hash::XxHash64;

use super::InputSource;
use crate::error::{Result, engine_message};

/// What one input keeps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// SQL predicates over the input's columns; a row is kept when all hold.
    pub predicates: Vec<String>,
    pub sample: Option<Sample>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.predicates.is_empty() && self.sample.is_none()
    }
}

/// A deterministic key-hash sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The column whose value is hashed.
    pub column: String,
    /// Share of the hash range kept, in (0, 1].
    pub fraction: f64,
    pub seed: u64,
}

impl Sample {
    /// Whether a value (as text) is in the sample.
    pub fn keeps(&self, text: &[u8]) -> bool {
        keeps(XxHash64::oneshot(self.seed, text), self.fraction)
    }
}

fn keeps(hash: u64, fraction: f64) -> bool {
    // 2^64 * fraction, exact for fraction = 1 (every hash is below it).
    let limit = (fraction * 18_446_744_073_709_551_616.0) as u128;
    u128::from(hash) < limit
}

/// Rows of one input before and after its filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub before: u64,
    pub after: u64,
}

/// Replace the registered input `source.name` by its filtered rows.
pub async fn apply(ctx: &SessionContext, source: &InputSource) -> Result<Counted> {
    let filter = &source.filter;
    let table = ctx
        .table(source.name.as_str())
        .await
        .map_err(|e| source.error(engine_message(&e)))?;
    let mut keep: Option<Expr> = None;
    for p in &filter.predicates {
        let e = table
            .parse_sql_expr(p)
            .map_err(|e| source.error(format!("where {p:?}: {}", engine_message(&e))))?;
        keep = Some(keep.map_or(e.clone(), |k| k.and(e)));
    }
    if let Some(s) = &filter.sample {
        if table
            .schema()
            .field_with_unqualified_name(&s.column)
            .is_err()
        {
            let columns: Vec<&str> = table
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            return Err(source.error(format!(
                "sample_column `{}` is not a column of this input (columns: {})",
                s.column,
                columns.join(", ")
            )));
        }
        let e = sample_expr(s);
        keep = Some(keep.map_or(e.clone(), |k| k.and(e)));
    }
    let Some(keep) = keep else {
        return Err(source.error("internal: an empty filter was applied"));
    };
    let describe = |e: datafusion::error::DataFusionError| {
        source.error(format!(
            "where {:?}: {}",
            filter.predicates.join(" AND "),
            engine_message(&e)
        ))
    };
    let kept = table.clone().filter(keep.clone()).map_err(describe)?;
    let one_if_kept = when(keep, lit(1i64))
        .otherwise(lit(0i64))
        .map_err(describe)?;
    let counts = table
        .aggregate(
            vec![],
            vec![count_all().alias("before"), sum(one_if_kept).alias("after")],
        )
        .map_err(describe)?
        .collect()
        .await
        .map_err(describe)?;
    let at = |i: usize| {
        counts
            .iter()
            .find(|b| b.num_rows() > 0)
            .and_then(|b| {
                let c = datafusion::arrow::compute::cast(b.column(i), &DataType::Int64).ok()?;
                let c = c.as_primitive::<Int64Type>();
                (!c.is_null(0)).then(|| c.value(0).max(0) as u64)
            })
            .unwrap_or(0)
    };
    let counted = Counted {
        before: at(0),
        after: at(1),
    };
    ctx.deregister_table(source.name.as_str())
        .map_err(|e| source.error(engine_message(&e)))?;
    ctx.register_table(source.name.as_str(), kept.into_view())
        .map_err(|e| source.error(engine_message(&e)))?;
    Ok(counted)
}

/// The key-hash sample's function. Called directly, never registered in a
/// session that plans transforms, so transforms cannot call it; a worker of
/// the distributed engine registers it to decode plans that hold it.
pub fn sample_udf() -> ScalarUDF {
    ScalarUDF::from(SampleFn::new())
}

/// The predicate that keeps `s`'s rows (NULL is kept); the sample's
/// fraction and seed are arguments, not state, so a plan holding it means
/// the same on every worker.
fn sample_expr(s: &Sample) -> Expr {
    sample_udf().call(vec![
        cast(ident(&s.column), DataType::Utf8),
        lit(s.fraction),
        lit(s.seed),
    ])
}

/// `diffgate_sample(text, fraction, seed)`: whether a value's text is in
/// the key-hash sample of `fraction` seeded by `seed` (both constants).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SampleFn {
    signature: Signature,
}

impl SampleFn {
    pub fn new() -> Self {
        SampleFn {
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Float64, DataType::UInt64],
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for SampleFn {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for SampleFn {
    fn name(&self) -> &str {
        "diffgate_sample"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let constant = |i: usize| match &args.args[i] {
            ColumnarValue::Scalar(v) => Ok(v.clone()),
            ColumnarValue::Array(_) => Err(datafusion::error::DataFusionError::Internal(
                "diffgate_sample: the fraction and seed must be constants".into(),
            )),
        };
        let (ScalarValue::Float64(Some(fraction)), ScalarValue::UInt64(Some(seed))) =
            (constant(1)?, constant(2)?)
        else {
            return Err(datafusion::error::DataFusionError::Internal(
                "diffgate_sample: no fraction or seed".into(),
            ));
        };
        let sample = |text: &[u8]| keeps(XxHash64::oneshot(seed, text), fraction);
        Ok(match &args.args[0] {
            ColumnarValue::Array(a) => {
                let a = a.as_string::<i32>();
                let out: BooleanArray = (0..a.len())
                    .map(|i| Some(a.is_null(i) || sample(a.value(i).as_bytes())))
                    .collect();
                ColumnarValue::Array(Arc::new(out))
            }
            ColumnarValue::Scalar(v) => {
                let kept = match v {
                    ScalarValue::Utf8(Some(t)) => sample(t.as_bytes()),
                    _ => true,
                };
                ColumnarValue::Scalar(ScalarValue::Boolean(Some(kept)))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fraction_bounds_the_hash_range() {
        assert!(keeps(u64::MAX, 1.0));
        assert!(keeps(0, 1e-9));
        assert!(!keeps(u64::MAX / 2 + 1, 0.5));
        assert!(keeps(u64::MAX / 2 - 1, 0.5));
    }

    #[test]
    fn samples_are_stable_and_near_the_fraction() {
        let s = Sample {
            column: "k".into(),
            fraction: 0.1,
            seed: 7,
        };
        let kept: Vec<u32> = (0..100_000u32)
            .filter(|i| s.keeps(i.to_string().as_bytes()))
            .collect();
        // Binomial(100000, 0.1): sd ~95; allow 5 sd.
        assert!((9_525..=10_475).contains(&kept.len()), "{}", kept.len());
        // xxHash64 is a fixed function: these keys are the sample for seed
        // 7 on every machine and in every version.
        assert_eq!(&kept[..5], [6, 18, 28, 31, 42]);
        // ...because it is the published xxHash64 (reference vector).
        assert_eq!(XxHash64::oneshot(0, b""), 0xef46_db37_51d8_e999);
        let other = Sample { seed: 8, ..s };
        assert_ne!(
            kept.len(),
            (0..100_000u32)
                .filter(|i| other.keeps(i.to_string().as_bytes()))
                .count()
        );
    }
}
