//! The determinism check (`--runs N`): run each version N times on the same
//! inputs and compare every later run with the first, using the align and
//! compare stages themselves. A version whose runs differ is a
//! `nondeterministic` finding: its diff against the other version means
//! nothing until it is fixed.
//!
//! Waiting for the engine's scheduling to vary would make the check itself a
//! matter of luck. Instead, run k (k ≥ 2) reads every input in a different
//! row order, fixed by seed k (rows sorted by a seeded xxHash64 of their
//! row-format bytes), so that a transform whose result depends on input
//! order — `ROW_NUMBER()` over a non-unique ordering, `LIMIT` without
//! `ORDER BY`, `first_value` without an order — shows it, and shows it the
//! same way on every run of diffgate. Functions such as `random()` differ on
//! their own.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, UInt64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, ident,
};
use datafusion::prelude::SessionContext;
use twox_hash::XxHash64;

use crate::compare::{self, CompareOptions, Depth, Key, Logic, Settings};
use crate::engine::{self, EngineOptions};
use crate::error::{EngineContext, Error, Result};
use crate::report::Drift;
use crate::scratch::{Place, Scratch};
use crate::transform::{self, Transform, Version};

/// What the re-runs need: the first run's session (inputs registered),
/// how to compare, how often, and the time limit of each re-run.
pub struct Rerun<'a> {
    /// The session the first run ran in, with the inputs registered.
    pub ctx: &'a SessionContext,
    pub engine: &'a EngineOptions,
    /// Names of the registered inputs.
    pub inputs: Vec<String>,
    pub settings: &'a Settings,
    pub runs: u32,
    /// `--transform-timeout`, for each re-run too.
    pub transform_limit: Option<std::time::Duration>,
}

impl Rerun<'_> {
    /// Run `transform` runs 2..=N and compare each with the first run,
    /// whose output is in `first`. `None` when every run agreed.
    pub async fn version(
        &self,
        transform: &Transform,
        first: &Place,
        scratch: &Scratch,
    ) -> Result<Option<Drift>> {
        let v = transform.version;
        let mut drift = Drift::new(v, None);
        for k in 2..=self.runs {
            let ctx = self.session(k, scratch).await?;
            let dir = scratch.place(&format!("{}-run{k}", v.as_str()));
            let what = || {
                format!(
                    "{} transform {} (run {k})",
                    v.as_str(),
                    transform.path.display()
                )
            };
            let table = Version::V2.table_name();
            transform::run_into(&ctx, transform, &dir, table, self.transform_limit, what).await?;
            drift.add(
                self.differs(first, &dir, Key::Given(&self.settings.key))
                    .await?,
            );
        }
        Ok((drift.runs_differing > 0).then_some(drift))
    }

    /// A session for run `k`: every input registered with its rows in the
    /// order seed `k` gives (written under `scratch`).
    pub async fn session(&self, k: u32, scratch: &Scratch) -> Result<SessionContext> {
        let ctx = engine::session(self.engine)?;
        for name in &self.inputs {
            let dir = scratch.place(&format!("inputs-run{k}")).join(name);
            reordered(self.ctx, &ctx, name, u64::from(k), &dir).await?;
        }
        Ok(ctx)
    }

    /// How a re-run's output (in `rerun`) differs from the first run's (in
    /// `first`), joined on `key` (a model's own, in a folder): rows
    /// differing and the columns that differ, or `None` when they are the
    /// same.
    pub async fn differs(
        &self,
        first: &Place,
        rerun: &Place,
        key: Key<'_>,
    ) -> Result<Option<(u64, Vec<String>)>> {
        let ctx = engine::session(self.engine)?;
        for (v, dir) in [(Version::V1, first), (Version::V2, rerun)] {
            transform::register_parts(&ctx, v.table_name(), dir)
                .await
                .context(|| format!("cannot read the output in {}", dir.shown()))?;
        }
        // Only counts are needed: no samples.
        // Both sides are one version: no renames between them.
        let settings = Settings {
            options: CompareOptions {
                sample_size: 0,
                diff_out: None,
                profile: false,
                ..self.settings.options.clone()
            },
            rename: Default::default(),
            expect: Vec::new(),
            contract: Vec::new(),
            ..self.settings.clone()
        };
        let c = compare::registered(&ctx, &settings, key, Depth::Rows, Logic::Unknown).await?;
        let rows = &c.findings.rows;
        let differing = rows.only_v1 + rows.only_v2 + rows.changed.unwrap_or(0);
        let columns = c
            .findings
            .columns
            .iter()
            .filter(|c| c.mismatches > 0)
            .map(|c| c.name.clone())
            .collect();
        Ok((differing > 0).then_some((differing, columns)))
    }
}

impl Drift {
    /// No re-run of `version` (of `model`, in a folder) differing yet.
    pub fn new(version: Version, model: Option<String>) -> Drift {
        Drift {
            version: version.as_str().to_string(),
            model,
            runs_differing: 0,
            rows: 0,
            columns: Vec::new(),
        }
    }

    /// Count one re-run's difference from the first run (`None`: none).
    pub fn add(&mut self, differs: Option<(u64, Vec<String>)>) {
        let Some((rows, columns)) = differs else {
            return;
        };
        self.runs_differing += 1;
        self.rows = self.rows.max(rows);
        for c in columns {
            if !self.columns.contains(&c) {
                self.columns.push(c);
            }
        }
    }
}

/// Register input `name` of `from` in `to` with its rows in the order of a
/// hash seeded by `seed`. The reordered rows are written out (Arrow IPC in
/// `dir`) rather than kept as a sorted view, so no optimizer can drop the
/// reordering and every read of the input sees the same order.
async fn reordered(
    from: &SessionContext,
    to: &SessionContext,
    name: &str,
    seed: u64,
    dir: &Place,
) -> Result<()> {
    let df = from
        .table(name)
        .await
        .context(|| format!("cannot read input `{name}`"))?;
    let columns: Vec<_> = df
        .schema()
        .fields()
        .iter()
        .filter(|f| RowConverter::supports_fields(&[SortField::new(f.data_type().clone())]))
        .map(|f| ident(f.name()))
        .collect();
    let df = if columns.is_empty() {
        df
    } else {
        let order = ScalarUDF::from(RowHash::new(seed)).call(columns);
        df.sort(vec![order.sort(true, false)])
            .context(|| format!("cannot reorder input `{name}`"))?
    };
    // The seeded hash carries its seed in this process: the reordering is
    // not sent to the distributed engine's workers.
    let stream = {
        let _local = crate::engine::Local::new(from);
        df.execute_stream()
            .await
            .context(|| format!("cannot reorder input `{name}`"))?
    };
    transform::write_parts(vec![stream], dir, transform::PartFormat::of(to, dir))
        .await
        .map_err(|e| match e {
            Error::Engine { source, .. } => Error::Engine {
                context: format!("cannot reorder input `{name}`"),
                source,
            },
            other => other,
        })?;
    transform::register_parts(to, name, dir)
        .await
        .context(|| format!("cannot register input `{name}` for a re-run"))
}

/// `row_hash(c1, c2, ...)`: a seeded xxHash64 of the row's bytes in Arrow's
/// row format. Called directly, never registered, so SQL cannot call it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RowHash {
    seed: u64,
    signature: Signature,
}

impl RowHash {
    fn new(seed: u64) -> Self {
        RowHash {
            seed,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RowHash {
    fn name(&self) -> &str {
        "diffgate_seeded_row_hash"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::UInt64)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        // Constants (literals, folded columns) expand to the batch's length.
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<datafusion::error::Result<Vec<ArrayRef>>>()?;
        let fields = arrays
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let rows = converter.convert_columns(&arrays)?;
        let hashes: UInt64Array = rows
            .iter()
            .map(|row| Some(XxHash64::oneshot(self.seed, row.as_ref())))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(hashes)))
    }
}
