//! The keyed census's copy of each side, kept for the detail pass.
//!
//! The census decodes every compared column of both sides to hash the rows;
//! the detail pass needs those same columns again for the rows whose hashes
//! differ. Read from the inputs a second time, that is a second download and
//! decompression of every page (with shuffled rows, nearly every page holds
//! a differing row). So, when the comparison is given scratch space, the
//! census writes each side's key and compared columns, as computed, to local
//! Arrow IPC stream files as they go by ([`SpoolExec`]), and the detail pass
//! reads those: no decompression, no second fetch. `diff` gives it scratch
//! space only when an input is remote: for local Parquet files, writing and
//! reading back the copy was measured to cost more than decompressing the
//! files again (the README's performance section).
//!
//! The copy is bounded: the census stops writing once the copies of both
//! sides would take more than half the free space of the scratch file system
//! (measured when the comparison starts), and the detail pass then reads the
//! inputs as before. Either way the report is the same; only where the
//! detail pass reads from differs.

use std::fmt;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::prelude::{DataFrame, SessionContext};
use futures::Stream;

use crate::error::{EngineContext, Error, Result};
use crate::transform::{Version, compact_views};

/// Free space assumed where the file system cannot be asked.
#[cfg(not(unix))]
const ASSUMED_FREE: u64 = 16 << 30;

/// The census's copies of both sides, under one byte budget.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    /// Bytes the copies may still take; below zero, they are abandoned.
    left: AtomicI64,
    abandoned: AtomicBool,
    sides: [Side; 2],
}

/// One side's copy: its partitions started and finished, and the first
/// error met writing it.
#[derive(Debug, Default)]
struct Side {
    started: AtomicUsize,
    finished: AtomicUsize,
    error: Mutex<Option<String>>,
}

fn idx(v: Version) -> usize {
    match v {
        Version::V1 => 0,
        Version::V2 => 1,
    }
}

impl Spool {
    /// Copies under `dir` (created, and removed when the spool drops),
    /// within half the free space of its file system.
    pub fn new(dir: &Path) -> Result<Arc<Spool>> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let budget = free_bytes(dir).unwrap_or(0) / 2;
        Ok(Arc::new(Spool {
            dir: dir.to_path_buf(),
            left: AtomicI64::new(i64::try_from(budget).unwrap_or(i64::MAX)),
            abandoned: AtomicBool::new(budget == 0),
            sides: Default::default(),
        }))
    }

    fn side_dir(&self, v: Version) -> PathBuf {
        self.dir.join(v.as_str())
    }

    /// The table the census's copy of side `v` is read back as.
    fn table_name(v: Version) -> String {
        format!("__spool_{}", v.as_str())
    }

    /// `df` (a census side) with `copy` of its columns written to side
    /// `v`'s copy as `names` while it is read; it passes on `pass`.
    pub fn tee(
        self: &Arc<Self>,
        ctx: &SessionContext,
        v: Version,
        plan: Arc<dyn ExecutionPlan>,
        pass: Vec<usize>,
        copy: Vec<(usize, String)>,
    ) -> Result<DataFrame> {
        let what = || format!("cannot plan the copy of {}", v.as_str());
        let in_schema = plan.schema();
        let schema = Arc::new(
            in_schema
                .project(&pass)
                .map_err(|e| Error::Internal(format!("copy of {}: {e}", v.as_str())))?,
        );
        let copy_schema = Arc::new(Schema::new(
            copy.iter()
                .map(|(i, name)| {
                    let f = in_schema.field(*i);
                    Field::new(name, f.data_type().clone(), f.is_nullable())
                })
                .collect::<Vec<_>>(),
        ));
        let dir = self.side_dir(v);
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let provider = Teed {
            input: plan,
            pass,
            schema,
            target: Arc::new(Target {
                columns: copy.into_iter().map(|(i, _)| i).collect(),
                schema: copy_schema,
                spool: Arc::clone(self),
                v,
            }),
        };
        ctx.read_table(Arc::new(provider)).context(what)
    }

    /// After the census: the table side `v`'s copy is registered as, when
    /// both copies are whole (every partition written to its end, within
    /// the budget); else `None`, and the copies are removed.
    pub async fn finish(&self, ctx: &SessionContext) -> Result<Option<[String; 2]>> {
        let whole = !self.abandoned.load(Ordering::SeqCst)
            && self.sides.iter().all(|s| {
                let started = s.started.load(Ordering::SeqCst);
                started > 0
                    && started == s.finished.load(Ordering::SeqCst)
                    && s.error.lock().expect("not poisoned").is_none()
            });
        if !whole {
            self.remove();
            return Ok(None);
        }
        let mut names = Vec::new();
        for v in [Version::V1, Version::V2] {
            let name = Self::table_name(v);
            let dir = crate::scratch::Place::Dir(self.side_dir(v));
            crate::transform::register_parts(ctx, &name, &dir)
                .await
                .context(|| format!("cannot read back the copy of {}", v.as_str()))?;
            names.push(name);
        }
        let [a, b]: [String; 2] = names.try_into().expect("two sides");
        Ok(Some([a, b]))
    }

    /// Drop the copies' tables (when registered) and their files.
    pub fn release(&self, ctx: &SessionContext) {
        for v in [Version::V1, Version::V2] {
            // A table never registered is no error.
            let _ = ctx.deregister_table(Self::table_name(v));
        }
        self.remove();
    }

    fn remove(&self) {
        // The scratch folder is removed with the run in any case.
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Take `bytes` from the budget; false (and the copies abandoned) once
    /// it is spent.
    fn take(&self, bytes: usize) -> bool {
        if self.abandoned.load(Ordering::Relaxed) {
            return false;
        }
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        if self.left.fetch_sub(bytes, Ordering::SeqCst) - bytes < 0 {
            self.abandoned.store(true, Ordering::SeqCst);
            return false;
        }
        true
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Free bytes of the file system holding `dir`.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // the fields' types differ between platforms
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is a NUL-terminated string and `stat` a zeroed struct
    // statvfs fills; neither outlives the call.
    unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut stat) != 0 {
            return None;
        }
        Some((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
    }
}

#[cfg(not(unix))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    Some(ASSUMED_FREE)
}

/// Where one side's copy goes: which input columns, named and typed as
/// `schema`, into side `v` of `spool`.
#[derive(Debug)]
struct Target {
    columns: Vec<usize>,
    schema: SchemaRef,
    spool: Arc<Spool>,
    v: Version,
}

impl Target {
    fn side(&self) -> &Side {
        &self.spool.sides[idx(self.v)]
    }
}

/// A census side whose scan copies some columns as they go by.
#[derive(Debug)]
struct Teed {
    input: Arc<dyn ExecutionPlan>,
    pass: Vec<usize>,
    schema: SchemaRef,
    target: Arc<Target>,
}

#[async_trait::async_trait]
impl TableProvider for Teed {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let output = match projection {
            Some(p) => p.iter().map(|&i| self.pass[i]).collect(),
            None => self.pass.clone(),
        };
        let target = Arc::clone(&self.target);
        Ok(Arc::new(SpoolExec::new(
            Arc::clone(&self.input),
            output,
            target,
        )?))
    }
}

/// Passes its input on (columns `output`) and writes columns `copy` of
/// every batch to its side's copy, one IPC stream file per partition.
#[derive(Debug)]
pub struct SpoolExec {
    input: Arc<dyn ExecutionPlan>,
    output: Vec<usize>,
    target: Arc<Target>,
    props: Arc<PlanProperties>,
}

impl SpoolExec {
    fn new(
        input: Arc<dyn ExecutionPlan>,
        output: Vec<usize>,
        target: Arc<Target>,
    ) -> DfResult<Self> {
        let schema = Arc::new(input.schema().project(&output)?);
        let props = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            input.properties().output_partitioning().clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(SpoolExec {
            input,
            output,
            target,
            props: Arc::new(props),
        })
    }
}

impl DisplayAs for SpoolExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let t = &self.target;
        write!(f, "SpoolExec: {} columns={:?}", t.v.as_str(), t.columns)
    }
}

impl ExecutionPlan for SpoolExec {
    fn name(&self) -> &str {
        "SpoolExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal("SpoolExec has one input".into()));
        }
        let target = Arc::clone(&self.target);
        Ok(Arc::new(SpoolExec::new(
            children.swap_remove(0),
            self.output.clone(),
            target,
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let t = &self.target;
        // Partitions are numbered per execution; a count makes each file
        // name unique even if a plan were executed twice.
        let n = t.side().started.fetch_add(1, Ordering::SeqCst);
        let path = t
            .spool
            .side_dir(t.v)
            .join(format!("part-{partition:05}-{n:05}.arrow"));
        let mut stream = SpoolStream {
            input,
            output: self.output.clone(),
            schema: self.schema(),
            writer: None,
            path,
            target: Arc::clone(t),
        };
        // A file that cannot be made only gives the copy up, as a failed
        // write does.
        match open(&stream.path, &t.schema) {
            Ok(writer) => stream.writer = Some(writer),
            Err(e) => stream.give_up(e),
        }
        Ok(Box::pin(stream))
    }
}

type Writer = StreamWriter<BufWriter<File>>;

fn open(path: &Path, schema: &SchemaRef) -> std::result::Result<Writer, String> {
    let file = File::create(path).map_err(|e| e.to_string())?;
    StreamWriter::try_new(BufWriter::with_capacity(1 << 20, file), schema)
        .map_err(|e| e.to_string())
}

struct SpoolStream {
    input: SendableRecordBatchStream,
    output: Vec<usize>,
    schema: SchemaRef,
    /// Gone once the partition's copy is finished or given up.
    writer: Option<Writer>,
    path: PathBuf,
    target: Arc<Target>,
}

impl SpoolStream {
    /// Copy `batch`'s columns, while the copies are wanted. A failure to
    /// write only gives the copy up: the detail pass then reads the input.
    fn write(&mut self, batch: &RecordBatch) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        let t = &self.target;
        let copied = RecordBatch::try_new(
            Arc::clone(&t.schema),
            t.columns
                .iter()
                .map(|&i| Arc::clone(batch.column(i)))
                .collect(),
        )
        .and_then(compact_views);
        let result = copied.and_then(|b| {
            if !t.spool.take(b.get_array_memory_size()) {
                return Ok(false);
            }
            writer.write(&b).map(|()| true)
        });
        match result {
            Ok(true) => {}
            Ok(false) => self.writer = None,
            Err(e) => self.give_up(e.to_string()),
        }
    }

    fn give_up(&mut self, e: String) {
        self.writer = None;
        let mut error = self.target.side().error.lock().expect("not poisoned");
        error.get_or_insert_with(|| format!("{}: {e}", self.path.display()));
    }

    fn end(&mut self) {
        if let Some(mut writer) = self.writer.take() {
            match writer.finish() {
                Ok(()) => {
                    self.target.side().finished.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => self.give_up(e.to_string()),
            }
        }
    }
}

impl Stream for SpoolStream {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.input.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(batch))) => {
                self.write(&batch);
                Poll::Ready(Some(batch.project(&self.output).map_err(Into::into)))
            }
            Poll::Ready(None) => {
                self.end();
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

impl RecordBatchStream for SpoolStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringViewArray};
    use datafusion::arrow::datatypes::DataType;
    use datafusion::datasource::MemTable;
    use futures::StreamExt;

    /// A two-partition table of `rows` rows per partition.
    fn table(rows: i64) -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("s", DataType::Utf8View, true),
        ]));
        let part = |p: i64| {
            let k = Int64Array::from_iter_values((0..rows).map(|r| p * rows + r));
            let s: StringViewArray = (0..rows)
                .map(|r| Some(format!("a value longer than twelve bytes {r}")))
                .collect();
            vec![RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(k), Arc::new(s)]).unwrap()]
        };
        Arc::new(MemTable::try_new(Arc::clone(&schema), vec![part(0), part(1)]).unwrap())
    }

    async fn drain(df: DataFrame) -> usize {
        let mut rows = 0;
        for mut s in df.execute_stream_partitioned().await.unwrap() {
            while let Some(b) = s.next().await {
                rows += b.unwrap().num_rows();
            }
        }
        rows
    }

    async fn teed(ctx: &SessionContext, spool: &Arc<Spool>, v: Version) -> DataFrame {
        ctx.register_table(v.table_name(), table(1000)).unwrap();
        let plan = ctx
            .table(v.table_name())
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let copy = vec![(0, "ck".to_string()), (1, "cs".to_string())];
        spool.tee(ctx, v, plan, vec![0], copy).unwrap()
    }

    #[tokio::test]
    async fn both_sides_read_back_whole_and_the_files_go_with_the_spool() {
        let ctx = SessionContext::new();
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(&dir.path().join("spool")).unwrap();
        for v in [Version::V1, Version::V2] {
            let df = teed(&ctx, &spool, v).await;
            assert_eq!(df.schema().fields().len(), 1, "only the passed column");
            assert_eq!(drain(df).await, 2000);
        }
        let names = spool.finish(&ctx).await.unwrap().expect("copies whole");
        for name in &names {
            let back = ctx.table(name.as_str()).await.unwrap();
            let fields: Vec<_> = back
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(fields, ["ck", "cs"]);
            let batches = back.collect().await.unwrap();
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            assert_eq!(rows, 2000);
        }
        spool.release(&ctx);
        assert!(!dir.path().join("spool").exists());
        assert!(ctx.table(names[0].as_str()).await.is_err());
    }

    #[tokio::test]
    async fn a_spent_budget_gives_the_copies_up() {
        let ctx = SessionContext::new();
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(&dir.path().join("spool")).unwrap();
        spool.left.store(10_000, Ordering::SeqCst);
        for v in [Version::V1, Version::V2] {
            let df = teed(&ctx, &spool, v).await;
            // The census still sees every row.
            assert_eq!(drain(df).await, 2000);
        }
        assert!(spool.finish(&ctx).await.unwrap().is_none());
        assert!(!dir.path().join("spool").exists());
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_made_gives_the_copies_up() {
        let ctx = SessionContext::new();
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(&dir.path().join("spool")).unwrap();
        for v in [Version::V1, Version::V2] {
            let df = teed(&ctx, &spool, v).await;
            if v == Version::V2 {
                // Its folder is gone before the census writes a file.
                std::fs::remove_dir_all(spool.side_dir(v)).unwrap();
            }
            assert_eq!(drain(df).await, 2000, "the census still sees every row");
        }
        assert!(spool.finish(&ctx).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_side_never_read_is_no_copy() {
        let ctx = SessionContext::new();
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(&dir.path().join("spool")).unwrap();
        let df = teed(&ctx, &spool, Version::V1).await;
        drain(df).await;
        assert!(spool.finish(&ctx).await.unwrap().is_none());
    }
}
