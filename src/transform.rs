//! Stage 2, run v1/v2: plan one version's SQL over the registered inputs and
//! materialise its output exactly once, as Arrow IPC files in the run's
//! scratch space (Parquet where workers or an object store read it,
//! [`crate::scratch`]), registered as a table for the compare stage.
//!
//! Materialising matters for correctness, not only speed: the compare stage
//! reads each output more than once (key statistics, then the keyed join),
//! and a transform that is not deterministic would otherwise give each pass
//! different rows and a silently wrong report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::datasource::file_format::options::{ArrowReadOptions, ParquetReadOptions};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderMetadata;
use datafusion::parquet::arrow::async_reader::MetadataFetch;
use datafusion::parquet::arrow::{ArrowWriter, AsyncArrowWriter};
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use datafusion::prelude::{DataFrame, SQLOptions, SessionContext};
use datafusion::sql::parser::DFParser;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::engine::within;
use crate::error::{EngineContext, Error, Result, engine_message, sql_location};
use crate::git::{Commit, Repo};
use crate::scratch::Place;

/// Which side of the comparison a transform or table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// The other side.
    pub fn other(self) -> Version {
        match self {
            Version::V1 => Version::V2,
            Version::V2 => Version::V1,
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
    let df = crate::engine::dialect::plan(ctx, &sql, sql_options())
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

/// Whether v1 and v2 compute the columns both outputs have the same way:
/// the optimized plans of both queries, narrowed to those columns, are
/// equal. Conservative: SQL that is equal but written differently (other
/// aliases, another join order) counts as a change; no shared column at
/// all counts as a change too.
pub fn same_logic(ctx: &SessionContext, v1: &DataFrame, v2: &DataFrame) -> Result<bool> {
    let theirs = v2.schema();
    let columns: Vec<&str> = v1
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| theirs.field_with_unqualified_name(n).is_ok())
        .collect();
    if columns.is_empty() {
        return Ok(false);
    }
    let narrowed = |df: &DataFrame| -> Result<String> {
        let plan = df
            .clone()
            .select_columns(&columns)
            .and_then(|df| ctx.state().optimize(df.logical_plan()))
            .context(|| "cannot compare the plans of v1 and v2".into())?;
        Ok(plan.display_indent().to_string())
    };
    Ok(narrowed(v1)? == narrowed(v2)?)
}

/// Run `transform` within `limit` (`--transform-timeout`; `what` names it
/// when it runs out), write its output into `place` ([`write_parts`]), and
/// register that as table `table`. Returns the SQL text that was run and
/// the query as planned (for the logic check; planning again would read
/// the SQL again, from git too).
pub async fn run_into(
    ctx: &SessionContext,
    transform: &Transform,
    place: &Place,
    table: &str,
    limit: Option<Duration>,
    what: impl FnOnce() -> String,
) -> Result<(String, DataFrame)> {
    let (sql, df) = plan(ctx, transform).await?;
    run_planned(ctx, transform, &df, place, table, limit, what).await?;
    Ok((sql, df))
}

/// Run the query `df` planned from `transform`, as [`run_into`] does.
pub async fn run_planned(
    ctx: &SessionContext,
    transform: &Transform,
    df: &DataFrame,
    place: &Place,
    table: &str,
    limit: Option<Duration>,
    what: impl FnOnce() -> String,
) -> Result<()> {
    let run = async {
        let streams = df
            .clone()
            .execute_stream_partitioned()
            .await
            .map_err(|e| transform.engine_error(&e))?;
        write_parts(streams, place, PartFormat::of(ctx, place))
            .await
            .map_err(|e| match e {
                // The query failed while it ran: name its SQL file.
                Error::Engine { source, .. } => transform.engine_error(&source),
                other => other,
            })?;
        register_parts(ctx, table, place)
            .await
            .map_err(|e| transform.engine_error(&e))
    };
    within(limit, what, "--transform-timeout", run).await
}

/// Bytes of Arrow data after which a materialised partition continues in
/// a new file, so that a table written by one partition is still read by
/// several.
const PART_BYTES: usize = 64 << 20;

/// How materialised tables are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PartFormat {
    /// Arrow IPC *stream* files: the local engine's, in a local folder.
    Arrow,
    /// Parquet files: the distributed engine's, as a plan sent to a
    /// worker does not say which of the two IPC formats a file is in
    /// (workers read every IPC file as the *file* format); and in an
    /// object store, where a stream file cannot be read in parts.
    Parquet,
}

impl PartFormat {
    /// The format for tables written to `place` that `ctx`'s plans read.
    pub(crate) fn of(ctx: &SessionContext, place: &Place) -> Self {
        if crate::engine::is_distributed(ctx) || matches!(place, Place::Object { .. }) {
            PartFormat::Parquet
        } else {
            PartFormat::Arrow
        }
    }

    fn extension(self) -> &'static str {
        match self {
            PartFormat::Arrow => "arrow",
            PartFormat::Parquet => "parquet",
        }
    }
}

/// Write each stream (one per partition) into `place` as `format` files,
/// `part-<partition>-<n>.arrow` (or `.parquet`), a new file every
/// [`PART_BYTES`].
///
/// The IPC stream format because DataFusion reads it batch by batch in one
/// sequential pass, where a large IPC *file* is split into byte ranges and
/// each range fetched into memory whole: reading materialised outputs of
/// 1M rows took 1.2 GB of RSS that way, against 0.2 GB now. Several files
/// per partition keep every core busy when the writer had only one.
pub(crate) async fn write_parts(
    streams: Vec<SendableRecordBatchStream>,
    place: &Place,
    format: PartFormat,
) -> Result<()> {
    write_parts_every(streams, place, PART_BYTES, format).await
}

async fn write_parts_every(
    streams: Vec<SendableRecordBatchStream>,
    place: &Place,
    part_bytes: usize,
    format: PartFormat,
) -> Result<()> {
    if let Place::Dir(dir) = place {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut tasks = Vec::with_capacity(streams.len());
    for (i, stream) in streams.into_iter().enumerate() {
        tasks.push(tokio::spawn(write_partition(
            stream,
            place.clone(),
            i,
            part_bytes,
            format,
        )));
    }
    for task in tasks {
        task.await
            .map_err(|e| Error::Internal(format!("output writer failed: {e}")))??;
    }
    Ok(())
}

/// `batch` with its string and binary view columns holding only the bytes
/// their rows use. A view column read from Parquet or filtered shares the
/// data buffers of a whole page, and IPC writes every buffer whole: without
/// this, the benchmark's 1M rows took 500 MB per side instead of 285 MB.
pub(crate) fn compact_views(batch: RecordBatch) -> datafusion::arrow::error::Result<RecordBatch> {
    if !batch
        .columns()
        .iter()
        .any(|c| matches!(c.data_type(), DataType::Utf8View | DataType::BinaryView))
    {
        return Ok(batch);
    }
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8View => Arc::new(c.as_string_view().gc()) as ArrayRef,
            DataType::BinaryView => Arc::new(c.as_binary_view().gc()) as ArrayRef,
            _ => Arc::clone(c),
        })
        .collect();
    RecordBatch::try_new(batch.schema(), columns)
}

/// Register the files [`write_parts`] wrote into `place` as table `table`
/// (Parquet if it wrote Parquet, read with the types it wrote: the engine
/// would read strings as views).
pub(crate) async fn register_parts(
    ctx: &SessionContext,
    table: &str,
    place: &Place,
) -> datafusion::error::Result<()> {
    match place {
        Place::Dir(dir) => {
            let first = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.extension().is_some_and(|x| x == "parquet"));
            if let Some(first) = first {
                let file = std::fs::File::open(&first)?;
                let meta = ArrowReaderMetadata::load(&file, Default::default())?;
                let schema = Arc::clone(meta.schema());
                let opts = ParquetReadOptions {
                    file_extension: ".parquet",
                    ..Default::default()
                }
                .schema(&schema);
                return ctx
                    .register_parquet(table, &dir.to_string_lossy(), opts)
                    .await;
            }
            let opts = ArrowReadOptions {
                file_extension: ".arrow",
                ..Default::default()
            };
            ctx.register_arrow(table, &dir.to_string_lossy(), opts)
                .await
        }
        Place::Object { store, url } => {
            let prefix = crate::scratch::object_path(url);
            let first = store
                .list(Some(&prefix))
                .try_filter(|m| futures::future::ready(m.location.as_ref().ends_with(".parquet")))
                .next()
                .await
                .transpose()?
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Execution(format!(
                        "no Parquet files under {}",
                        crate::load::store::shown(url.as_str())
                    ))
                })?;
            let footer = Footer {
                store: store.as_ref(),
                path: &first.location,
            };
            let metadata = ParquetMetaDataReader::new()
                .load_and_finish(footer, first.size)
                .await?;
            let meta = ArrowReaderMetadata::try_new(Arc::new(metadata), Default::default())?;
            let schema = Arc::clone(meta.schema());
            let opts = ParquetReadOptions {
                file_extension: ".parquet",
                ..Default::default()
            }
            .schema(&schema);
            ctx.register_parquet(table, url.as_str(), opts).await
        }
    }
}

/// Reads a Parquet footer from an object store.
struct Footer<'a> {
    store: &'a dyn ObjectStore,
    path: &'a ObjectPath,
}

impl MetadataFetch for Footer<'_> {
    fn fetch(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<bytes::Bytes>> {
        async move {
            self.store
                .get_range(self.path, range)
                .await
                .map_err(|e| datafusion::parquet::errors::ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}

/// One partition's open file.
enum PartWriter {
    Arrow(StreamWriter<std::io::BufWriter<std::fs::File>>),
    Parquet(ArrowWriter<std::io::BufWriter<std::fs::File>>),
    /// Parquet written to an object store (a multipart upload).
    Object(Box<AsyncArrowWriter<object_store::buffered::BufWriter>>),
}

impl PartWriter {
    async fn write(&mut self, batch: &RecordBatch) -> datafusion::arrow::error::Result<()> {
        match self {
            PartWriter::Arrow(w) => w.write(batch),
            PartWriter::Parquet(w) => w.write(batch).map_err(Into::into),
            PartWriter::Object(w) => w.write(batch).await.map_err(Into::into),
        }
    }

    async fn finish(self) -> datafusion::arrow::error::Result<()> {
        match self {
            PartWriter::Arrow(mut w) => w.finish(),
            PartWriter::Parquet(w) => w.close().map(|_| ()).map_err(Into::into),
            PartWriter::Object(w) => w.close().await.map(|_| ()).map_err(Into::into),
        }
    }
}

/// One file of a partition in `place`, named `name`: opened for writing,
/// and how errors writing it are told.
struct PartFile {
    place: Place,
    name: String,
}

impl PartFile {
    fn fail(&self, e: impl std::fmt::Display) -> Error {
        match &self.place {
            // Writing a file fails only as I/O does (the disk, the folder).
            Place::Dir(dir) => Error::Io {
                path: dir.join(&self.name),
                source: std::io::Error::other(e.to_string()),
            },
            Place::Object { url, .. } => {
                let file = url.join(&self.name).unwrap_or_else(|_| url.clone());
                crate::scratch::scratch_error(&file, e.to_string())
            }
        }
    }

    fn open(&self, format: PartFormat, schema: &SchemaRef) -> Result<PartWriter> {
        match &self.place {
            Place::Dir(dir) => {
                let path = dir.join(&self.name);
                let out = std::fs::File::create(&path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                let out = std::io::BufWriter::new(out);
                Ok(match format {
                    PartFormat::Arrow => PartWriter::Arrow(
                        StreamWriter::try_new(out, schema).map_err(|e| self.fail(e))?,
                    ),
                    PartFormat::Parquet => PartWriter::Parquet(
                        ArrowWriter::try_new(out, Arc::clone(schema), None)
                            .map_err(|e| self.fail(e))?,
                    ),
                })
            }
            Place::Object { store, url } => {
                let path = crate::scratch::object_path(url).join(self.name.as_str());
                let out = object_store::buffered::BufWriter::new(Arc::clone(store), path);
                Ok(PartWriter::Object(Box::new(
                    AsyncArrowWriter::try_new(out, Arc::clone(schema), None)
                        .map_err(|e| self.fail(e))?,
                )))
            }
        }
    }
}

async fn write_partition(
    mut stream: SendableRecordBatchStream,
    place: Place,
    partition: usize,
    part_bytes: usize,
    format: PartFormat,
) -> Result<()> {
    let schema = stream.schema();
    let ext = format.extension();
    let file = |n: usize| PartFile {
        place: place.clone(),
        name: format!("part-{partition:05}-{n:05}.{ext}"),
    };
    let mut files = 0;
    let mut current = file(files);
    let mut writer = current.open(format, &schema)?;
    let mut written = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.context(|| "the query failed".into())?;
        let batch = compact_views(batch).map_err(|e| current.fail(e))?;
        if written >= part_bytes {
            writer.finish().await.map_err(|e| current.fail(e))?;
            files += 1;
            current = file(files);
            writer = current.open(format, &schema)?;
            written = 0;
        }
        written += batch.get_array_memory_size();
        writer.write(&batch).await.map_err(|e| current.fail(e))?;
    }
    writer.finish().await.map_err(|e| current.fail(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringViewArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

    /// Three batches whose string views are slices of one large buffer, as
    /// the Parquet reader and filters hand them over.
    fn batches() -> (Arc<Schema>, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("s", DataType::Utf8View, true),
        ]));
        let n = 30_000;
        let long: StringViewArray = (0..n)
            .map(|i| Some(format!("a string longer than twelve bytes {i}")))
            .collect();
        let ids = Int64Array::from_iter_values(0..n as i64);
        let whole = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(ids), Arc::new(long) as ArrayRef],
        )
        .unwrap();
        let parts = (0..3).map(|k| whole.slice(k * 10, 10)).collect();
        (schema, parts)
    }

    #[tokio::test]
    async fn outputs_roll_over_into_compact_stream_files_that_read_back_whole() {
        let (schema, parts) = batches();
        let dir = tempfile::tempdir().unwrap();
        let place = Place::Dir(dir.path().to_path_buf());
        let stream = RecordBatchStreamAdapter::new(
            Arc::clone(&schema),
            futures::stream::iter(parts.into_iter().map(Ok)),
        );
        // A threshold of one byte: every batch after the first opens a file.
        write_parts_every(vec![Box::pin(stream)], &place, 1, PartFormat::Arrow)
            .await
            .unwrap();

        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        files.sort_by_key(|e| e.file_name());
        let names: Vec<_> = files
            .iter()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "part-00000-00000.arrow",
                "part-00000-00001.arrow",
                "part-00000-00002.arrow"
            ]
        );
        // Each file holds 10 short rows, not the 30,000-row buffer the
        // views pointed into (about 1.2 MB).
        for f in &files {
            let len = f.metadata().unwrap().len();
            assert!(len < 4096, "{} is {len} bytes", f.path().display());
        }

        let ctx = SessionContext::new();
        register_parts(&ctx, "t", &place).await.unwrap();
        let rows = ctx
            .sql("SELECT count(*) AS n, sum(id) AS ids, min(s) AS lo FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&rows)
            .unwrap()
            .to_string();
        // ids 0..10, 10..20 and 20..30 sum to 435.
        assert!(
            text.contains("| 30 | 435 | a string longer than twelve bytes 0 |"),
            "{text}"
        );
    }
}
