//! Every difference, not only samples (`--diff-out PATH`): each changed,
//! only-v1 and only-v2 row of a keyed comparison written as Parquet, so a
//! reviewer can query all of it with DuckDB or Polars.
//!
//! One row per differing key: the key columns; `_status` (`changed`,
//! `only_v1`, `only_v2`); `_expected` (a declared change explains the row
//! entirely); and per compared column `NAME__v1`, `NAME__v2` (the values,
//! in the type both sides are compared in), `NAME__change` (the class of a
//! changed cell, as `scale(100)`, `rounding(2)`, `value_to_null`, `offset(x)`,
//! `other`; NULL when the cell did not change) and `NAME__expected` (a
//! declared change explains the cell; NULL when it did not change).
//! Masked columns (`[compare] mask`) hold what the reports show for them,
//! never their values. Without a key ([`Sink::keyless`]) the file holds each
//! distinct row found more often on one side: its columns, `_status` and
//! `_count` (how many more copies that side has), sorted by every column.
//!
//! Each partition task of the keyed stage writes its rows as they stream
//! into a [`Part`] of its own (a Parquet writer with small row groups, so
//! memory stays bounded and tasks never wait for each other), in a folder
//! beside the target. [`Sink::finish`] then sorts the parts by key through
//! the engine (which spills under the memory limit) into the target, so
//! the file is the same whatever the thread count, and only then replaces
//! what was there. The folder of parts goes when the sink does.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::logical_expr::{Expr, Operator, binary_expr, col, lit, when};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use super::cells;
use super::mask::Mask;
use crate::align::Alignment;
use crate::error::{EngineContext, Error, Result};
use crate::report::DiffOut;

/// Rows per row group of a part: a part's writer holds one in memory
/// (outside the engine's memory pool), so it is kept small.
const PART_ROW_GROUP: usize = 8 * 1024;

/// Rows per row group of the target.
const ROW_GROUP: usize = 64 * 1024;

/// How the target is written: Snappy (which every reader takes), in row
/// groups of [`ROW_GROUP`] rows, so the writer never holds much more than
/// one.
fn final_options() -> TableParquetOptions {
    let mut o = TableParquetOptions::default();
    o.global.compression = Some("snappy".into());
    o.global.max_row_group_size = ROW_GROUP;
    o
}

/// The file `path` names: itself, or `diff.parquet` in it when it is a
/// folder (an existing one, or written with a trailing slash).
fn target(path: &Path) -> PathBuf {
    let folder = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
    if folder {
        path.join("diff.parquet")
    } else {
        path.to_path_buf()
    }
}

/// Where the differing rows go: the target, the folder of parts.
pub struct Sink {
    /// Where the report says the rows are, as given.
    shown: String,
    path: PathBuf,
    parts: PathBuf,
    next_part: AtomicUsize,
    schema: SchemaRef,
    key: Vec<String>,
    mask: Mask,
    /// The columns (positions in the schema) whose values are masked.
    masked: Vec<usize>,
}

/// The export's column names for compared column `name`.
pub fn column_names(name: &str) -> [String; 4] {
    ["v1", "v2", "change", "expected"].map(|s| format!("{name}__{s}"))
}

impl Sink {
    /// A sink for `alignment`'s rows into `path`; `types` are the key and
    /// value columns' types as the comparison reads them (key columns
    /// first, then each compared column).
    pub fn create(
        path: &Path,
        alignment: &Alignment,
        types: &[DataType],
        mask: &Mask,
    ) -> Result<Sink> {
        let path = &target(path);
        let nk = alignment.key.len();
        // A masked column's values are written as the reports show them.
        let shown = |name: &str, t: &DataType| match mask.matches(name) {
            true => DataType::Utf8,
            false => t.clone(),
        };
        let mut fields: Vec<Field> = alignment
            .key
            .iter()
            .zip(types)
            .map(|(k, t)| Field::new(&k.name, shown(&k.name, t), false))
            .collect();
        fields.push(Field::new("_status", DataType::Utf8, false));
        fields.push(Field::new("_expected", DataType::Boolean, true));
        fields.push(Field::new("_cover", DataType::UInt64, true));
        for (c, t) in alignment.columns.iter().zip(&types[nk..]) {
            let [v1, v2, change, expected] = column_names(&c.name);
            fields.push(Field::new(v1, shown(&c.name, t), true));
            fields.push(Field::new(v2, shown(&c.name, t), true));
            fields.push(Field::new(change, DataType::Utf8, true));
            fields.push(Field::new(expected, DataType::Boolean, true));
        }
        let schema = Arc::new(Schema::new(fields));
        let mut masked = Vec::new();
        for (i, k) in alignment.key.iter().enumerate() {
            if mask.matches(&k.name) {
                masked.push(i);
            }
        }
        for (j, c) in alignment.columns.iter().enumerate() {
            if mask.matches(&c.name) {
                // After the key, the status, expected and cover columns.
                let at = nk + 3 + 4 * j;
                masked.extend([at, at + 1]);
            }
        }
        let key = alignment.key.iter().map(|k| k.name.clone()).collect();
        Sink::new(path, schema, key, masked, mask)
    }

    /// A sink for the rows of a comparison without a key: each distinct
    /// row found more often on one side, its columns (`types`, as compared),
    /// `_status` and `_count` (how many more copies that side has), sorted
    /// by every column.
    pub fn keyless(
        path: &Path,
        alignment: &Alignment,
        types: &[DataType],
        mask: &Mask,
    ) -> Result<Sink> {
        let path = target(path);
        let mut fields: Vec<Field> = Vec::new();
        let mut masked = Vec::new();
        for (j, (c, t)) in alignment.columns.iter().zip(types).enumerate() {
            let t = if mask.matches(&c.name) {
                masked.push(j);
                DataType::Utf8
            } else {
                t.clone()
            };
            fields.push(Field::new(&c.name, t, true));
        }
        fields.push(Field::new("_status", DataType::Utf8, false));
        fields.push(Field::new("_count", DataType::UInt64, false));
        let key = alignment.columns.iter().map(|c| c.name.clone()).collect();
        Sink::new(&path, Arc::new(Schema::new(fields)), key, masked, mask)
    }

    fn new(
        path: &Path,
        schema: SchemaRef,
        key: Vec<String>,
        masked: Vec<usize>,
        mask: &Mask,
    ) -> Result<Sink> {
        let io =
            |e: &dyn std::fmt::Display| Error::Usage(format!("--diff-out {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(&e))?;
        }
        let parts = path.with_extension(format!("parts-{}", std::process::id()));
        std::fs::create_dir_all(&parts).map_err(|e| io(&e))?;
        Ok(Sink {
            mask: mask.clone(),
            masked,
            shown: path.display().to_string(),
            path: path.to_path_buf(),
            parts,
            next_part: AtomicUsize::new(0),
            schema,
            key,
        })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn io(&self, e: &dyn std::fmt::Display) -> Error {
        Error::Usage(format!("--diff-out {}: {e}", self.shown))
    }

    /// A new part for one partition task to write to.
    pub fn part(&self) -> Result<Part> {
        let n = self.next_part.fetch_add(1, Ordering::Relaxed);
        let file =
            File::create(self.parts.join(format!("part-{n}.parquet"))).map_err(|e| self.io(&e))?;
        // Read once, by the sort: written as fast as it can be.
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(PART_ROW_GROUP))
            .set_compression(Compression::UNCOMPRESSED)
            .set_dictionary_enabled(false)
            .build();
        let writer = ArrowWriter::try_new(file, Arc::clone(&self.schema), Some(props))
            .map_err(|e| self.io(&e))?;
        Ok(Part { writer })
    }

    /// Append rows (columns in [`Sink::schema`] order) to `part`.
    pub fn write(&self, part: &mut Part, mut columns: Vec<ArrayRef>) -> Result<()> {
        for &i in &self.masked {
            let a = &columns[i];
            let shown: StringArray = (0..a.len())
                .map(|r| match self.mask.value(&cells::to_json(a.as_ref(), r)) {
                    serde_json::Value::String(s) => Some(s),
                    _ => None,
                })
                .collect();
            columns[i] = Arc::new(shown);
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .context(|| "cannot collect the differing rows".into())?;
        part.writer.write(&batch).map_err(|e| self.io(&e))
    }

    /// Close the parts, sort them by key (every column, without a key)
    /// into the target with each one-side row's `_expected` set from the
    /// rows declarations that held (`in_range`: bits of the declarations
    /// met, for v1's and v2's rows), and say what it holds (`counts`: the
    /// changed, only-v1 and only-v2 rows written).
    pub async fn finish(
        &self,
        ctx: &SessionContext,
        parts: Vec<Part>,
        in_range: [u64; 2],
        counts: [u64; 3],
    ) -> Result<DiffOut> {
        for p in parts {
            p.writer.close().map_err(|e| self.io(&e))?;
        }
        self.sort(ctx, in_range, counts).await
    }

    async fn sort(
        &self,
        ctx: &SessionContext,
        in_range: [u64; 2],
        counts: [u64; 3],
    ) -> Result<DiffOut> {
        let what = || format!("cannot write --diff-out {}", self.shown);
        let parts = format!("{}/", self.parts.display());
        let df = ctx
            .read_parquet(&parts, ParquetReadOptions::default())
            .await
            .context(what)?;
        let status = || col("_status");
        let covered = |bits: u64| {
            binary_expr(col("_cover"), Operator::BitwiseAnd, lit(bits))
                .not_eq(lit(0u64))
                .is_true()
        };
        let expected = when(status().eq(lit("only_v1")), covered(in_range[0]))
            .when(status().eq(lit("only_v2")), covered(in_range[1]))
            .otherwise(col("_expected"))
            .context(what)?;
        let keyed = self.schema.field_with_name("_cover").is_ok();
        let exprs: Vec<Expr> = self
            .schema
            .fields()
            .iter()
            .filter(|f| f.name() != "_cover")
            .map(|f| match f.name().as_str() {
                "_expected" if keyed => expected.clone().alias("_expected"),
                n => datafusion::logical_expr::ident(n),
            })
            .collect();
        let sort = self
            .key
            .iter()
            .map(|k| datafusion::logical_expr::ident(k).sort(true, true))
            .collect();
        let target = self.path.display().to_string();
        let written = df
            .select(exprs)
            .context(what)?
            .sort(sort)
            .context(what)?
            .write_parquet(
                &target,
                DataFrameWriteOptions::new().with_single_file_output(true),
                Some(final_options()),
            )
            .await
            .context(what)?;
        drop(written);
        let [changed, only_v1, only_v2] = counts;
        Ok(DiffOut {
            path: self.shown.clone(),
            rows: changed + only_v1 + only_v2,
            changed,
            only_v1,
            only_v2,
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.parts);
    }
}

/// One partition task's file of differing rows.
pub struct Part {
    writer: ArrowWriter<File>,
}
