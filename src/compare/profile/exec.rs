//! The operator that profiles a side as its rows stream by: each batch is
//! folded into its partition's [`SideAcc`] and passed on without the
//! columns only the profile needed, so the profile costs no read of its
//! own. A table provider puts it under a DataFrame.
//!
//! Asked to, it also passes on a hash of each row's compared columns made
//! from the value hashes the profile computes anyway ([`Plan::row_hash`]),
//! so the keyed census does not hash every value a second time.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::Stream;

use super::acc::{ColAcc, Sample, SideAcc, combine, plain_type, value_hashes};

/// What every partition of one side's profile shares: the finished
/// partitions' states, and how many partitions were started.
#[derive(Debug, Default)]
pub struct Shared {
    pub done: Mutex<Vec<SideAcc>>,
    pub started: Mutex<usize>,
}

/// How one side is profiled: which input columns are the profiled ones
/// (in profile order), which of those the sample hashes, and how many
/// rows the sample keeps.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sources: Vec<usize>,
    /// Positions in `sources` of the columns hashed to choose the sample
    /// (the key; every column without one).
    pub sample_by: Vec<usize>,
    pub limit: usize,
    pub shared: Arc<Shared>,
    /// Positions in `sources` whose value hashes, in this order, make the
    /// row hash passed on as column [`ROW_HASH`] (none: no such column).
    pub row_hash: Option<Vec<usize>>,
}

/// The name of the row hash column a [`ProfileExec`] passes on.
pub const ROW_HASH: &str = "__h";

/// A column a [`ProfileExec`] passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// This input column.
    Input(usize),
    /// The row hash of [`Plan::row_hash`].
    RowHash,
}

#[derive(Debug)]
pub struct ProfileExec {
    input: Arc<dyn ExecutionPlan>,
    /// Columns passed on, in output order.
    output: Vec<Out>,
    plan: Plan,
    /// The profiled columns (plus the sample hash) as the sample holds them.
    sample_schema: SchemaRef,
    props: Arc<PlanProperties>,
}

impl ProfileExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, output: Vec<Out>, plan: Plan) -> Result<Self> {
        let in_schema = input.schema();
        if output.contains(&Out::RowHash) && plan.row_hash.is_none() {
            return Err(DataFusionError::Internal(
                "ProfileExec asked for a row hash it does not make".into(),
            ));
        }
        let schema = Arc::new(Schema::new(
            output
                .iter()
                .map(|o| match o {
                    Out::Input(i) => in_schema.field(*i).clone(),
                    Out::RowHash => Field::new(ROW_HASH, DataType::UInt64, false),
                })
                .collect::<Vec<_>>(),
        ));
        let mut fields: Vec<Field> = plan
            .sources
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let t = plain_type(in_schema.field(s).data_type());
                Field::new(format!("p{i}"), t, true)
            })
            .collect();
        fields.push(Field::new("h", DataType::UInt64, false));
        let props = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            input.properties().output_partitioning().clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(ProfileExec {
            input,
            output,
            plan,
            sample_schema: Arc::new(Schema::new(fields)),
            props: Arc::new(props),
        })
    }

    fn acc(&self) -> Result<SideAcc> {
        let in_schema = self.input.schema();
        let columns = self
            .plan
            .sources
            .iter()
            .map(|&s| ColAcc::new(in_schema.field(s).data_type()))
            .collect::<Result<_>>()?;
        Ok(SideAcc {
            columns,
            sample: Sample::new(self.plan.limit),
        })
    }
}

impl DisplayAs for ProfileExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ProfileExec: columns={:?}", self.plan.sources)
    }
}

impl ExecutionPlan for ProfileExec {
    fn name(&self) -> &str {
        "ProfileExec"
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
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(
                "ProfileExec has one input".into(),
            ));
        }
        Ok(Arc::new(ProfileExec::new(
            children.swap_remove(0),
            self.output.clone(),
            self.plan.clone(),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        *self.plan.shared.started.lock().expect("not poisoned") += 1;
        Ok(Box::pin(ProfileStream {
            input,
            acc: Some(self.acc()?),
            output: self.output.clone(),
            schema: self.schema(),
            sample_schema: Arc::clone(&self.sample_schema),
            plan: self.plan.clone(),
        }))
    }
}

struct ProfileStream {
    input: SendableRecordBatchStream,
    acc: Option<SideAcc>,
    output: Vec<Out>,
    schema: SchemaRef,
    sample_schema: SchemaRef,
    plan: Plan,
}

impl ProfileStream {
    /// Fold `batch` into the profile; the row hash, when the plan makes one.
    fn fold(&mut self, batch: &RecordBatch) -> Result<Option<ArrayRef>> {
        let Some(acc) = &mut self.acc else {
            return Err(DataFusionError::Internal(
                "ProfileExec received a batch after its end".into(),
            ));
        };
        let columns: Vec<ArrayRef> = self
            .plan
            .sources
            .iter()
            .map(|&s| {
                let a = batch.column(s);
                match a.data_type() {
                    DataType::Dictionary(..) => cast(a, &plain_type(a.data_type())),
                    _ => Ok(Arc::clone(a)),
                }
            })
            .collect::<std::result::Result<_, _>>()?;
        let mut hashes = Vec::with_capacity(columns.len());
        for (c, a) in acc.columns.iter_mut().zip(&columns) {
            hashes.push(c.add(a)?);
        }
        let row_hash: Option<ArrayRef> = match &self.plan.row_hash {
            None => None,
            Some(by) => {
                for &i in by {
                    if hashes[i].is_none() {
                        hashes[i] = Some(own_hashes(&columns[i])?);
                    }
                }
                let made = by.iter().map(|&i| hashes[i].as_deref());
                Some(Arc::new(UInt64Array::from(combine(made, batch.num_rows()))))
            }
        };
        if self.plan.limit > 0 {
            // The columns' own value hashes, made once for their counts.
            let by = self.plan.sample_by.iter().map(|&i| match hashes[i].take() {
                Some(h) => Some(h),
                None => value_hashes(columns[i].as_ref()),
            });
            let h = combine(by, batch.num_rows());
            let mut with_hash = columns;
            with_hash.push(Arc::new(UInt64Array::from(h)));
            acc.sample.add(RecordBatch::try_new(
                Arc::clone(&self.sample_schema),
                with_hash,
            )?)?;
        }
        Ok(row_hash)
    }

    /// The columns of `batch` passed on.
    fn pass_on(&self, batch: &RecordBatch, row_hash: Option<ArrayRef>) -> Result<RecordBatch> {
        let columns = self
            .output
            .iter()
            .map(|o| match o {
                Out::Input(i) => Ok(Arc::clone(batch.column(*i))),
                Out::RowHash => row_hash.clone().ok_or_else(|| {
                    DataFusionError::Internal("ProfileExec made no row hash".into())
                }),
            })
            .collect::<Result<Vec<_>>>()?;
        let options = datafusion::arrow::array::RecordBatchOptions::new()
            .with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?)
    }
}

/// Value hashes of a column the profile made none for: its own, or (for a
/// type without them) the engine's, which depend only on the type and the
/// values too, so equal values on both sides still hash alike.
fn own_hashes(a: &ArrayRef) -> Result<Vec<u64>> {
    match value_hashes(a.as_ref()) {
        Some(h) => Ok(h),
        None => crate::compare::row_hash::hash_rows(std::slice::from_ref(a), a.len()),
    }
}

impl Stream for ProfileStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.input.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(batch))) => {
                let passed = self
                    .fold(&batch)
                    .and_then(|row_hash| self.pass_on(&batch, row_hash));
                Poll::Ready(Some(passed))
            }
            Poll::Ready(None) => {
                if let Some(acc) = self.acc.take() {
                    self.plan
                        .shared
                        .done
                        .lock()
                        .expect("not poisoned")
                        .push(acc);
                }
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

impl RecordBatchStream for ProfileStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// A table whose scan is the given plan under a [`ProfileExec`]: how a
/// profiled side goes back into a DataFrame.
#[derive(Debug)]
pub struct Profiled {
    pub input: Arc<dyn ExecutionPlan>,
    /// Columns the table has.
    pub pass: Vec<Out>,
    pub plan: Plan,
    pub schema: SchemaRef,
}

#[async_trait::async_trait]
impl TableProvider for Profiled {
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
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let output = match projection {
            Some(p) => p.iter().map(|&i| self.pass[i]).collect(),
            None => self.pass.clone(),
        };
        Ok(Arc::new(ProfileExec::new(
            Arc::clone(&self.input),
            output,
            self.plan.clone(),
        )?))
    }
}
