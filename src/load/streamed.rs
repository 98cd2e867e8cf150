//! The table the engine reads a text input through when its own readers
//! cannot read the files where they are: objects in a store, compressed
//! files, or files some of whose records screening took out. Each scan
//! reads every file again from the start as one stream ([`TextFile::open`],
//! through the pinned store, decompressed, the bad records' bytes left out
//! by [`Skipping`]) with the Arrow CSV and JSON decoders, and the options,
//! that the engine's own CSV and JSON readers use, against the schema
//! screening checked every record against. No copy is made, so a file of
//! any size costs a stream's buffers, not its size in scratch space.
//!
//! Files are dealt out to at most `target_partitions` partitions in order
//! (file `i` to partition `i mod n`); each partition reads its files one
//! after the other on a blocking thread. A compressed file cannot be split,
//! so one file is one partition's work, as in the engine's own readers.

use std::io::BufReader;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;

use super::InputSource;
use super::records::CsvDialect;
use super::text::{Ranges, Skipping, TextFile};
use crate::error::{Result, engine_message};

/// How a file's records are decoded.
#[derive(Debug, Clone, Copy)]
pub enum Decode {
    Csv(CsvDialect),
    Json,
}

/// Register `files` of `source` (each with the byte ranges to leave out)
/// as table `source.name`, decoded as `decode` with `schema`.
pub fn register(
    ctx: &SessionContext,
    source: &InputSource,
    files: Vec<TextFile>,
    skip: Vec<Ranges>,
    schema: Schema,
    decode: Decode,
) -> Result<()> {
    let schema = Arc::new(schema);
    let n = ctx
        .state()
        .config()
        .target_partitions()
        .clamp(1, files.len().max(1));
    let mut parts: Vec<Vec<(TextFile, Ranges)>> = vec![Vec::new(); n];
    for (i, file) in files.into_iter().zip(skip).enumerate() {
        parts[i % n].push(file);
    }
    let parts = parts
        .into_iter()
        .map(|files| {
            Arc::new(Part {
                schema: schema.clone(),
                files,
                decode,
            }) as Arc<dyn PartitionStream>
        })
        .collect();
    let table =
        StreamingTable::try_new(schema, parts).map_err(|e| source.error(engine_message(&e)))?;
    ctx.register_table(source.name.as_str(), Arc::new(table))
        .map_err(|e| source.error(engine_message(&e)))?;
    Ok(())
}

/// One partition: files read one after the other.
#[derive(Debug)]
struct Part {
    schema: SchemaRef,
    files: Vec<(TextFile, Ranges)>,
    decode: Decode,
}

impl PartitionStream for Part {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batch_size = ctx.session_config().batch_size();
        let mut builder = RecordBatchReceiverStream::builder(self.schema.clone(), 2);
        let tx = builder.tx();
        let (schema, files, decode) = (self.schema.clone(), self.files.clone(), self.decode);
        builder.spawn_blocking(move || {
            for (file, skip) in files {
                let fail = |e: &dyn std::fmt::Display| {
                    DataFusionError::Execution(format!("{}: {e}", file.shown))
                };
                let reader = Skipping::new(file.open().map_err(|e| fail(&e))?, skip);
                let batches: Box<dyn Iterator<Item = _>> = match decode {
                    Decode::Csv(d) => {
                        use datafusion::arrow::csv::ReaderBuilder;
                        let mut b = ReaderBuilder::new(schema.clone())
                            .with_header(d.has_header)
                            .with_delimiter(d.delimiter)
                            .with_quote(d.quote)
                            .with_batch_size(batch_size);
                        if let Some(e) = d.escape {
                            b = b.with_escape(e);
                        }
                        Box::new(b.build(reader).map_err(|e| fail(&e))?)
                    }
                    Decode::Json => {
                        use datafusion::arrow::json::ReaderBuilder;
                        Box::new(
                            ReaderBuilder::new(schema.clone())
                                .with_batch_size(batch_size)
                                .build(BufReader::with_capacity(1 << 16, reader))
                                .map_err(|e| fail(&e))?,
                        )
                    }
                };
                for batch in batches {
                    let batch = batch.map_err(|e| fail(&e))?;
                    if tx.blocking_send(Ok(batch)).is_err() {
                        // The consumer stopped (a limit, or a failure).
                        return Ok(());
                    }
                }
            }
            Ok(())
        });
        builder.build()
    }
}
