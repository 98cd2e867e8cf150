//! Proposed renames: a column only v1 has and one only v2 has that hold
//! the same value on every matched key are most likely one column renamed.
//! The comparison cannot know, so it proposes the rename (the report says
//! how to declare it) and judges the schema change as it is.
//!
//! One inner join of the two sides on the key, restricted to the removed
//! and added columns, counts per pair the matched rows whose values are
//! equal (NULL equal to NULL) and those equal and not NULL. A pair is
//! proposed when every matched row agrees, some value is not NULL, and
//! neither column agrees so with another (a constant column would match
//! many). Run only when a keyed comparison has both removed and added
//! columns and no duplicated key (a join would fan out).

use datafusion::arrow::datatypes::Schema;
use datafusion::common::JoinType;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::{Expr, cast, col, ident, lit, when};
use datafusion::prelude::SessionContext;

use super::{count_at, key_expr};
use crate::align::{Alignment, comparison_type};
use crate::error::{EngineContext, Result};
use crate::report::ProposedRename;
use crate::transform::Version;

/// The note a proposed rename gives: what agrees, and how to declare it.
pub(super) fn note(p: &ProposedRename) -> String {
    format!(
        "`{}` (only in v1) and `{}` (only in v2) hold the same value in all {} matched row(s): \
         if it is a rename, declare it (`[compare] rename = {{ {} = \"{}\" }}` or `--rename {}={}`) \
         and their values are compared",
        p.v1, p.v2, p.rows, p.v1, p.v2, p.v1, p.v2
    )
}

/// Pairs of columns looked at, at most.
const MAX_PAIRS: usize = 64;

/// The renames the values propose, in v1's column order.
pub(super) async fn propose(
    ctx: &SessionContext,
    alignment: &Alignment,
    (s1, s2): (&Schema, &Schema),
    ignored: &[String],
) -> Result<Vec<ProposedRename>> {
    let schema = &alignment.schema;
    let pick = |list: &[crate::report::NamedType],
                s: &Schema|
     -> Vec<(String, datafusion::arrow::datatypes::DataType)> {
        list.iter()
            .filter(|c| !ignored.contains(&c.name))
            .filter_map(|c| {
                s.field_with_name(&c.name)
                    .ok()
                    .map(|f| (c.name.clone(), f.data_type().clone()))
            })
            .collect()
    };
    let removed = pick(&schema.removed, s1);
    let added = pick(&schema.added, s2);
    let mut pairs = Vec::new();
    for (i, (_, t1)) in removed.iter().enumerate() {
        for (j, (_, t2)) in added.iter().enumerate() {
            if let Some(common) = comparison_type(t1, t2) {
                pairs.push((i, j, common));
            }
        }
    }
    if pairs.is_empty() || pairs.len() > MAX_PAIRS {
        return Ok(Vec::new());
    }
    let what = || "cannot look for renamed columns".to_string();
    let nk = alignment.key.len();
    let side = |v: Version, cols: &[(String, datafusion::arrow::datatypes::DataType)], p: char| {
        let ctx = ctx.clone();
        let cols = cols.to_vec();
        let key = alignment.key.clone();
        async move {
            let t = ctx.table(v.table_name()).await.context(what)?;
            let mut exprs: Vec<Expr> = Vec::new();
            for (i, k) in key.iter().enumerate() {
                exprs.push(key_expr(k, v).context(what)?.alias(format!("__{p}k{i}")));
            }
            for (i, (name, _)) in cols.iter().enumerate() {
                exprs.push(ident(name).alias(format!("__{p}c{i}")));
            }
            t.select(exprs).context(what)
        }
    };
    let a = side(Version::V1, &removed, 'r').await?;
    let b = side(Version::V2, &added, 'a').await?;
    let on: Vec<Expr> = (0..nk)
        .map(|i| col(format!("__rk{i}")).eq(col(format!("__ak{i}"))))
        .collect();
    let joined = a.join_on(b, JoinType::Inner, on).context(what)?;
    let mut aggs = vec![count_all().alias("n")];
    for (p, (i, j, common)) in pairs.iter().enumerate() {
        let x = cast(col(format!("__rc{i}")), common.clone());
        let y = cast(col(format!("__ac{j}")), common.clone());
        let same = datafusion::logical_expr::binary_expr(
            x.clone(),
            datafusion::logical_expr::Operator::IsNotDistinctFrom,
            y.clone(),
        );
        let filled = x.eq(y);
        let one = |e: Expr| when(e, lit(1i64)).otherwise(lit(0i64)).context(what);
        aggs.push(sum(one(same)?).alias(format!("same{p}")));
        aggs.push(sum(one(filled)?).alias(format!("filled{p}")));
    }
    let batches = joined
        .aggregate(vec![], aggs)
        .context(what)?
        .collect()
        .await
        .context(what)?;
    let n = count_at(&batches, 0);
    if n == 0 {
        return Ok(Vec::new());
    }
    let agrees: Vec<bool> = (0..pairs.len())
        .map(|p| count_at(&batches, 1 + 2 * p) == n && count_at(&batches, 2 + 2 * p) > 0)
        .collect();
    let count = |f: &dyn Fn(&(usize, usize, _)) -> bool| {
        pairs
            .iter()
            .zip(&agrees)
            .filter(|(pair, ok)| **ok && f(pair))
            .count()
    };
    let mut out = Vec::new();
    for ((i, j, _), ok) in pairs.iter().zip(&agrees) {
        if *ok && count(&|p| p.0 == *i) == 1 && count(&|p| p.1 == *j) == 1 {
            out.push(ProposedRename {
                v1: removed[*i].0.clone(),
                v2: added[*j].0.clone(),
                rows: n,
            });
        }
    }
    Ok(out)
}
