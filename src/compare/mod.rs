//! Stage 4, compare: read the two aligned tables and count what differs.
//!
//! [`registered`] is the comparison unit every path takes — a single
//! transform, two tables, each model of a folder, each determinism re-run:
//! the schemas of the outputs registered as v1 and v2 are aligned (stage
//! 3), the logic check is made when both plans are known, and the rows are
//! compared, giving the [`Findings`] a report holds.
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
pub mod contract;
pub mod expect;
mod explain;
mod export;
mod keyed;
mod keyless;
pub mod mask;
mod parse_time;
pub mod profile;
mod renames;
pub(crate) mod row_hash;
pub mod sample;
mod spool;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::functions::math::expr_fn::isnan;
use datafusion::logical_expr::{Expr, cast, ident, lit, when};
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;

use crate::align::{self, Alignment, Pair};
use crate::error::{EngineContext, Error, Result};
use crate::report::{self, ColumnStats, Findings, RowCounts, Samples};
use crate::transform::{self, Version};

pub use cells::Tol;

/// Global tolerance plus per-column overrides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tolerance {
    pub default: Tol,
    pub columns: BTreeMap<String, Tol>,
    /// Timestamp columns equal within this many seconds
    /// (`[compare.columns.NAME] tolerance`); the numeric tolerances never
    /// apply to timestamps.
    pub durations: BTreeMap<String, f64>,
}

impl Tolerance {
    pub fn for_column(&self, name: &str) -> Tol {
        self.columns.get(name).copied().unwrap_or(self.default)
    }

    /// The tolerance column `p` is compared with: its duration for a
    /// timestamp (none unless declared), else its numeric tolerance.
    pub fn for_pair(&self, p: &align::Pair) -> Tol {
        match p.common {
            DataType::Timestamp(..) => Tol {
                abs: self.durations.get(&p.name).copied().unwrap_or(0.0),
                rel: 0.0,
            },
            _ => self.for_column(&p.name),
        }
    }

    /// Whether any tolerance above zero is set.
    pub fn any(&self) -> bool {
        let some = |t: &Tol| t.abs > 0.0 || t.rel > 0.0;
        some(&self.default)
            || self.columns.values().any(some)
            || self.durations.values().any(|d| *d > 0.0)
    }
}

/// Changed, only-v1 and only-v2 rows sampled per report unless configured.
pub const DEFAULT_SAMPLE_SIZE: usize = 10;

#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub tolerance: Tolerance,
    /// Samples kept per category (changed, only_v1, only_v2).
    pub sample_size: usize,
    /// Write every differing row to this Parquet file (`--diff-out`).
    pub diff_out: Option<std::path::PathBuf>,
    /// Profile every column on both sides (off: `--no-profile`).
    pub profile: bool,
    /// The date freshness is measured at (`--as-of`).
    pub as_of: Option<String>,
    /// Scratch space where a keyed comparison's first pass keeps a copy of
    /// each side for the second (`diff` with an input in a store or behind
    /// a URL, which a second read would fetch again).
    pub spool: Option<std::path::PathBuf>,
}

/// What the compare stage found of the rows.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub rows: RowCounts,
    pub columns: Vec<ColumnStats>,
    pub samples: Samples,
    /// What became of each declared change.
    pub expectations: Vec<report::ExpectationOutcome>,
    /// The file every differing row went to.
    pub diff_out: Option<report::DiffOut>,
    pub profile: Option<report::Profile>,
}

/// What two outputs are compared on: the key, the columns left out, the
/// tolerances and how many rows to sample, the columns renamed between v1
/// and v2, and the columns whose values samples mask.
#[derive(Debug, Clone)]
pub struct Settings {
    pub key: Vec<String>,
    pub ignore_columns: Vec<String>,
    pub options: CompareOptions,
    /// v1 column → the v2 column it is compared with.
    pub rename: BTreeMap<String, String>,
    /// Also pair v1 and v2 columns whose names differ only in case (as if
    /// renamed).
    pub fold_column_case: bool,
    /// String columns normalised before they are compared.
    pub normalize: BTreeMap<String, align::Normalize>,
    /// String columns compared with a date or timestamp by parsing them
    /// with this format.
    pub formats: BTreeMap<String, String>,
    pub mask: mask::Mask,
    /// Changes v2 is meant to make (for a model folder: the run's own,
    /// under each model's).
    pub expect: Vec<expect::Expectation>,
    /// What v2's output must be, held against v1 (`[contract]`).
    pub contract: Vec<contract::Check>,
}

/// Which key a comparison pairs rows on.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    /// These columns; each must be in both outputs.
    Given(&'a [String]),
    /// These columns when both outputs have them all, else none (whole
    /// rows): a model of a folder without a key of its own.
    IfPresent(&'a [String]),
}

/// How far a comparison goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Schemas only (`check`): no data is read.
    Schema,
    /// Schemas and rows.
    Rows,
}

/// What the logic check (are the shared columns computed differently?)
/// knows.
#[derive(Clone, Copy)]
pub enum Logic<'a> {
    /// Not SQL (two tables), or not asked (a determinism re-run).
    Unknown,
    /// Known to be the same (a model whose SQL did not change).
    Same,
    /// The planned queries of v1 and v2, and the session to optimize in.
    Plans(&'a SessionContext, &'a DataFrame, &'a DataFrame),
}

/// One comparison: the key it used and what it found.
#[derive(Debug, Clone)]
pub struct Compared {
    pub key: Vec<String>,
    pub findings: Findings,
}

impl Compared {
    pub fn mode(&self) -> report::Mode {
        report::Mode::of(&self.key)
    }
}

/// Compare the outputs registered as v1 and v2 in `ctx`: align their
/// schemas, check the logic, and (at [`Depth::Rows`]) compare the rows.
pub async fn registered(
    ctx: &SessionContext,
    settings: &Settings,
    key: Key<'_>,
    depth: Depth,
    logic: Logic<'_>,
) -> Result<Compared> {
    let schema_of = |v: Version| async move {
        ctx.table(v.table_name())
            .await
            .map(|df| df.schema().as_arrow().clone())
            .context(|| format!("cannot read the {} output", v.as_str()))
    };
    let rename = match settings.fold_column_case {
        true => with_case_folded(ctx, &settings.rename).await?,
        false => settings.rename.clone(),
    };
    let renamed = rename_v1(ctx, &rename).await?;
    let (s1, s2) = (schema_of(Version::V1).await?, schema_of(Version::V2).await?);
    let key: Vec<String> = match key {
        Key::Given(k) => k.to_vec(),
        Key::IfPresent(k)
            if k.iter()
                .all(|c| s1.field_with_name(c).is_ok() && s2.field_with_name(c).is_ok()) =>
        {
            k.to_vec()
        }
        Key::IfPresent(_) => Vec::new(),
    };
    let options = settings.options.clone();
    let mut notes = Vec::new();
    let tolerated: Vec<String> = settings.options.tolerance.columns.keys().cloned().collect();
    let mut alignment = align::align(
        &s1,
        &s2,
        &key,
        &settings.ignore_columns,
        &tolerated,
        &settings.normalize,
    )?;
    align::with_formats(&mut alignment, &s1, &s2, &settings.formats)?;
    alignment.schema.renamed = renamed;
    alignment.schema.logic_changed = match logic {
        Logic::Unknown => None,
        Logic::Same => Some(false),
        Logic::Plans(plan_ctx, df1, df2) => Some(!transform::same_logic(plan_ctx, df1, df2)?),
    };
    // Declarations are checked against the columns even when only the
    // schema is (`check`), so a typo fails before any data is read.
    let plan = Arc::new(expect::Plan::new(ctx, &alignment, &settings.expect).await?);
    let mut rows = match depth {
        Depth::Schema => Comparison::default(),
        Depth::Rows => {
            let profiler = options.profile.then(|| {
                profile::Profiler::new(&alignment, &settings.ignore_columns, options.as_of.clone())
            });
            // The profile's operator keeps its results in the process that
            // runs it: with the distributed engine it is a pass of its own
            // in this one, and the comparison's passes go to the workers.
            let distributed = crate::engine::is_distributed(ctx);
            if let (true, Some(p)) = (distributed, &profiler) {
                let _local = crate::engine::Local::new(ctx);
                p.scan(ctx).await?;
            }
            let in_census = profiler.as_ref().filter(|_| !distributed);
            let mut c =
                compare(ctx, &alignment, &options, &plan, &settings.mask, in_census).await?;
            if let Some(p) = &profiler {
                c.profile = Some(p.finish()?);
            }
            c
        }
    };
    notes.extend(format_notes(&alignment));
    let unique_keys =
        rows.rows.duplicate_keys_v1 == Some(0) && rows.rows.duplicate_keys_v2 == Some(0);
    if depth == Depth::Rows && !key.is_empty() && unique_keys {
        let ignored = &settings.ignore_columns;
        let proposed = renames::propose(ctx, &alignment, (&s1, &s2), ignored).await?;
        notes.extend(proposed.iter().map(renames::note));
        alignment.schema.proposed_renames = proposed;
    }
    let contracts = match depth {
        Depth::Rows => contract::evaluate(ctx, &settings.contract).await?,
        Depth::Schema => Vec::new(),
    };
    let masked = settings.mask.columns(&s1, &s2);
    settings.mask.samples(&mut rows.samples, &masked);
    if let Some(p) = &mut rows.profile {
        settings.mask.profile(p, &masked);
    }
    if key.is_empty() && depth == Depth::Rows && settings.options.tolerance.any() {
        notes.push(KEYLESS_TOLERANCE.to_string());
    }
    Ok(Compared {
        key,
        findings: Findings {
            schema: alignment.schema,
            rows: rows.rows,
            columns: rows.columns,
            samples: rows.samples,
            notes,
            masked,
            expectations: rows.expectations,
            diff_out: rows.diff_out,
            contracts,
            profile: rows.profile,
        },
    })
}

/// What the reader should know of the columns compared by reading text as
/// dates (`[compare.columns.NAME] format`).
fn format_notes(alignment: &Alignment) -> Vec<String> {
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    alignment
        .columns
        .iter()
        .filter_map(|p| {
            let format = p.parse.as_deref()?;
            let side = if text(&p.v1_type) { "v1" } else { "v2" };
            Some(format!(
                "`{}` is compared by reading {side}'s strings with the format {format:?}: samples show \
                 the value read, and a string that does not read as one shows as NULL",
                p.name
            ))
        })
        .collect()
}

/// `rename` plus, for each v1 column with no v2 column of its name, the one
/// v2 column whose name differs from it only in case.
async fn with_case_folded(
    ctx: &SessionContext,
    rename: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let what = || "cannot read the outputs' columns".to_string();
    let names = |v: Version| async move {
        let df = ctx.table(v.table_name()).await.context(what)?;
        Ok::<Vec<String>, Error>(
            df.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        )
    };
    let (n1, n2) = (names(Version::V1).await?, names(Version::V2).await?);
    let mut out = rename.clone();
    for a in &n1 {
        if n2.contains(a) || out.contains_key(a) {
            continue;
        }
        let same: Vec<&String> = n2
            .iter()
            .filter(|b| b.to_lowercase() == a.to_lowercase() && !n1.contains(b))
            .collect();
        if let [b] = same[..] {
            out.insert(a.clone(), b.clone());
        }
    }
    Ok(out)
}

/// Apply `rename` to the registered v1 output: each v1 column it names is
/// registered under its v2 name, where v1 has that column (and not the new
/// name) and v2 has the new name (and not the old). Returns the renames
/// made, in v1's column order; a comparison they do not fit is left as is.
async fn rename_v1(
    ctx: &SessionContext,
    rename: &BTreeMap<String, String>,
) -> Result<Vec<report::Renamed>> {
    if rename.is_empty() {
        return Ok(Vec::new());
    }
    let what = || "cannot rename the v1 output's columns".to_string();
    let v1 = ctx.table(Version::V1.table_name()).await.context(what)?;
    let v2 = ctx.table(Version::V2.table_name()).await.context(what)?;
    let (s1, s2) = (
        v1.schema().as_arrow().clone(),
        v2.schema().as_arrow().clone(),
    );
    let has = |s: &datafusion::arrow::datatypes::Schema, c: &str| s.field_with_name(c).is_ok();
    let mut done = Vec::new();
    let exprs: Vec<Expr> = s1
        .fields()
        .iter()
        .map(|f| {
            let name = f.name();
            match rename.get(name) {
                Some(new) if !has(&s1, new) && has(&s2, new) && !has(&s2, name) => {
                    done.push(report::Renamed {
                        v1: name.clone(),
                        v2: new.clone(),
                    });
                    ident(name).alias(new)
                }
                _ => ident(name),
            }
        })
        .collect();
    if done.is_empty() {
        return Ok(done);
    }
    let view = v1.select(exprs).context(what)?.into_view();
    ctx.deregister_table(Version::V1.table_name())
        .context(what)?;
    ctx.register_table(Version::V1.table_name(), view)
        .context(what)?;
    Ok(done)
}

/// Said when tolerances are set for a comparison without a key.
pub const KEYLESS_TOLERANCE: &str = "tolerances are not applied without a key: whole rows are \
     matched exactly (a row with any value changed is one row only in v1 and one only in v2); \
     give a key to compare values within tolerance";

/// Compare the registered v1 and v2 tables as `alignment` says.
async fn compare(
    ctx: &SessionContext,
    alignment: &Alignment,
    options: &CompareOptions,
    plan: &Arc<expect::Plan>,
    mask: &mask::Mask,
    profiler: Option<&profile::Profiler>,
) -> Result<Comparison> {
    if !alignment.key.is_empty() {
        return keyed::compare(ctx, alignment, options, plan, mask, profiler).await;
    }
    let mut c = keyless::compare(ctx, alignment, options, mask, profiler).await?;
    if !plan.is_empty() {
        // Without a key only row counts can be declared (checked when
        // planned): whole rows added or removed, with multiplicity.
        let none = Default::default();
        let (outcomes, expected) = plan.outcomes(&[], &none, [c.rows.only_v1, c.rows.only_v2]);
        c.rows.only_v1_expected = Some(expected[0]);
        c.rows.only_v2_expected = Some(expected[1]);
        c.expectations = outcomes;
    }
    Ok(c)
}

/// Column `p` of side `v`, cast to the type both sides are compared in.
fn common_expr(p: &Pair, v: Version) -> Expr {
    let side_type = if v == Version::V1 {
        &p.v1_type
    } else {
        &p.v2_type
    };
    let e = ident(&p.name);
    let text_side = matches!(
        side_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    if let (Some(format), true) = (&p.parse, text_side) {
        return cast(parse_time::expr(e, format), p.common.clone());
    }
    let e = if *side_type == p.common {
        e
    } else {
        cast(e, p.common.clone())
    };
    let text = matches!(
        p.common,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    if !(text && p.normalize.any()) {
        return e;
    }
    use datafusion::functions::expr_fn::{btrim, lower};
    use datafusion::functions::regex::expr_fn::regexp_replace;
    let mut e = e;
    if p.normalize.collapse_whitespace {
        e = regexp_replace(e, lit(r"\s+"), lit(" "), Some(lit("g")));
    }
    if p.normalize.trim {
        e = btrim(vec![e]);
    }
    if p.normalize.ignore_case {
        e = lower(e);
    }
    // The functions may return another string type than the column's.
    cast(e, p.common.clone())
}

/// Column `p` of side `v` as a key: in its common type and, for a float,
/// with every NaN (whatever its sign and payload bits) made one NaN and
/// -0.0 made 0.0, so values the comparison holds equal group and join as
/// one key. The key columns of a keyed comparison and every column of a
/// keyless one (a whole row is its key) go through here.
fn key_expr(p: &Pair, v: Version) -> datafusion::error::Result<Expr> {
    let e = common_expr(p, v);
    if p.common != DataType::Float64 {
        return Ok(e);
    }
    when(isnan(e.clone()), lit(f64::NAN))
        .when(e.clone().eq(lit(0.0f64)), lit(0.0f64))
        .otherwise(e)
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
