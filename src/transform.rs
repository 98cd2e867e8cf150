//! Stage 2, run v1/v2: plan one version's SQL over the registered inputs and
//! materialise its output exactly once, as Arrow IPC files in a scratch
//! directory, registered as a table for the compare stage.
//!
//! Materialising matters for correctness, not only speed: the compare stage
//! reads each output more than once (key statistics, then the keyed join),
//! and a transform that is not deterministic would otherwise give each pass
//! different rows and a silently wrong report.

use std::path::{Path, PathBuf};

use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::datasource::file_format::options::ArrowReadOptions;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SQLOptions, SessionContext};
use datafusion::sql::parser::DFParser;
use futures::StreamExt;

use crate::error::{Error, Result, engine_message, sql_location};
use crate::git::{Commit, Repo};

/// Which side of the comparison a transform or table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }

    /// The internal table name the compare stage reads this side from.
    pub fn table_name(self) -> &'static str {
        match self {
            Version::V1 => "__diffgate_v1",
            Version::V2 => "__diffgate_v2",
        }
    }
}

/// One version of a transform: a SQL file holding one query, read from the
/// working tree or as it is at a git commit.
#[derive(Debug, Clone)]
pub struct Transform {
    pub version: Version,
    /// The file in the working tree (for a git origin: where it would be).
    pub path: PathBuf,
    /// How reports name it: the path as the user wrote it, plus the ref
    /// when read from git (`orders.sql @ origin/main (1a2b3c4d5e6f)`).
    pub label: String,
    pub origin: Origin,
}

/// Where a transform's SQL text comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    WorkingTree,
    /// SQL already read (a model of a folder, dbt references resolved).
    Inline(String),
    /// File `rel` (a path inside `repo`) at `commit`.
    Git {
        repo: Repo,
        commit: Commit,
        rel: String,
    },
}

impl Transform {
    /// A transform read from the working tree.
    pub fn file(version: Version, path: PathBuf, label: String) -> Transform {
        Transform {
            version,
            path,
            label,
            origin: Origin::WorkingTree,
        }
    }

    /// The SQL text, from the working tree or from git.
    pub fn read_sql(&self) -> Result<String> {
        match &self.origin {
            Origin::WorkingTree => {
                std::fs::read_to_string(&self.path).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => self.error("no such file"),
                    _ => self.error(e.to_string()),
                })
            }
            Origin::Git { repo, commit, rel } => repo.read(commit, rel),
            Origin::Inline(sql) => Ok(sql.clone()),
        }
    }

    /// The path errors name: for git, the path at its ref.
    fn shown_path(&self) -> PathBuf {
        match &self.origin {
            Origin::WorkingTree | Origin::Inline(_) => self.path.clone(),
            Origin::Git { commit, .. } => {
                PathBuf::from(format!("{}@{}", self.path.display(), commit.reference))
            }
        }
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::Transform {
            version: self.version.as_str(),
            path: self.shown_path(),
            location: None,
            message: message.into(),
        }
    }

    fn engine_error(&self, e: &datafusion::error::DataFusionError) -> Error {
        Error::Transform {
            version: self.version.as_str(),
            path: self.shown_path(),
            location: sql_location(e),
            message: engine_message(e),
        }
    }
}

/// SQL a transform may use: queries only. DDL, DML and statements such as SET
/// are refused by DataFusion's own plan verification.
pub fn sql_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Statements DataFusion plans as read-only but that do not compute a
/// table from the inputs; a transform that is one of them is refused.
fn not_a_query(plan: &LogicalPlan) -> Option<&'static str> {
    match plan {
        LogicalPlan::Explain(_) => Some("EXPLAIN"),
        LogicalPlan::Analyze(_) => Some("EXPLAIN ANALYZE"),
        LogicalPlan::DescribeTable(_) => Some("DESCRIBE"),
        _ => None,
    }
}

/// Run `transform`, write its output under `scratch`, and register it as
/// `transform.version.table_name()`. Returns the SQL text that was run.
pub async fn run(ctx: &SessionContext, transform: &Transform, scratch: &Path) -> Result<String> {
    let dir = scratch.join(transform.version.as_str());
    run_into(ctx, transform, &dir, transform.version.table_name()).await
}

/// Read and plan `transform` without running it: its SQL text and the
/// planned query. Only input schemas are consulted.
pub async fn plan(ctx: &SessionContext, transform: &Transform) -> Result<(String, DataFrame)> {
    let sql = transform.read_sql()?;
    if sql.trim().is_empty() {
        return Err(transform.error("the file holds no SQL"));
    }
    // One file, one query. SQL that does not parse falls through to the
    // planner, whose error carries the line and column.
    if DFParser::parse_sql(&sql).is_ok_and(|statements| statements.len() > 1) {
        return Err(transform
            .error("a transform file holds one query, but this one holds several statements"));
    }
    let df = ctx
        .sql_with_options(&sql, sql_options())
        .await
        .map_err(|e| transform.engine_error(&e))?;
    if let Some(kind) = not_a_query(df.logical_plan()) {
        return Err(transform.error(format!(
            "{kind} is not a query that produces a table; a transform is one SELECT (or WITH ... SELECT, VALUES)"
        )));
    }
    if df.schema().fields().is_empty() {
        return Err(transform.error("the query returns no columns"));
    }
    Ok((sql, df))
}

/// Whether v1 and v2 compute `columns` (present in both) the same way: the
/// optimized plans of both queries, narrowed to those columns, are equal.
/// Conservative: SQL that is equal but written differently (other aliases,
/// another join order) counts as a change.
pub fn same_logic(
    ctx: &SessionContext,
    v1: &DataFrame,
    v2: &DataFrame,
    columns: &[String],
) -> Result<bool> {
    if columns.is_empty() {
        return Ok(false);
    }
    let narrowed = |df: &DataFrame| -> Result<String> {
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let plan = df
            .clone()
            .select_columns(&names)
            .and_then(|df| ctx.state().optimize(df.logical_plan()))
            .map_err(|e| {
                Error::Internal(format!("cannot compare plans: {}", engine_message(&e)))
            })?;
        Ok(plan.display_indent().to_string())
    };
    Ok(narrowed(v1)? == narrowed(v2)?)
}

/// Run `transform`, write its output as Arrow IPC files into `dir`, and
/// register that as table `table`. Returns the SQL text that was run.
pub async fn run_into(
    ctx: &SessionContext,
    transform: &Transform,
    dir: &Path,
    table: &str,
) -> Result<String> {
    let (sql, df) = plan(ctx, transform).await?;
    let streams = df
        .execute_stream_partitioned()
        .await
        .map_err(|e| transform.engine_error(&e))?;

    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut tasks = Vec::with_capacity(streams.len());
    for (i, stream) in streams.into_iter().enumerate() {
        let file = dir.join(format!("part-{i:05}.arrow"));
        tasks.push(tokio::spawn(write_partition(stream, file)));
    }
    for task in tasks {
        task.await
            .map_err(|e| transform.error(format!("output writer failed: {e}")))?
            .map_err(|e| transform.error(e))?;
    }

    let dir_str = dir
        .to_str()
        .ok_or_else(|| transform.error("scratch path is not UTF-8"))?;
    let opts = ArrowReadOptions {
        file_extension: ".arrow",
        ..Default::default()
    };
    ctx.register_arrow(table, dir_str, opts)
        .await
        .map_err(|e| transform.engine_error(&e))?;
    Ok(sql)
}

async fn write_partition(
    mut stream: SendableRecordBatchStream,
    file: PathBuf,
) -> std::result::Result<(), String> {
    let schema = stream.schema();
    let out = std::fs::File::create(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut writer =
        FileWriter::try_new(std::io::BufWriter::new(out), &schema).map_err(|e| e.to_string())?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| engine_message(&e))?;
        writer.write(&batch).map_err(|e| e.to_string())?;
    }
    writer.finish().map_err(|e| e.to_string())
}
