//! Stage 1, load: register each input (a file or a directory of Parquet, CSV,
//! newline-delimited or array JSON, or Arrow IPC) as a table in the shared
//! session. Schemas are inferred once here; both versions then read the same
//! registered tables, so v1 and v2 can never see different inputs. Text
//! formats (CSV, JSON) are screened record by record first ([`records`]):
//! what the reader could not decode goes to the dead-letter file, counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::datasource::file_format::options::{ArrowReadOptions, ReadOptions};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTableUrl};
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};
use futures::StreamExt;
use serde::Deserialize;

use crate::error::{Error, Result, engine_message};
use crate::scratch::Scratch;

pub mod aws_profile;
pub mod records;
pub mod store;
pub mod streamed;
pub mod subset;
pub mod tables;
pub mod text;

pub use records::DeadLetter;
use records::{CsvDialect, Screened};
use text::TextFile;

/// What loading one input found, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub format: Format,
    /// Data records read (CSV and JSON; `None` for typed formats, which have
    /// no records to reject).
    pub rows_read: Option<u64>,
    /// Records that went to the dead-letter file.
    pub rows_dead_lettered: u64,
    /// Rows before and after the input's subset filter, when it has one.
    pub subset: Option<subset::Counted>,
    /// A remote input's objects as pinned.
    pub pinned: Vec<crate::report::PinnedObject>,
}

/// File formats diffgate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Parquet,
    Csv,
    Json,
    Arrow,
    /// A Delta Lake table ([`tables`]).
    Delta,
    /// A PostgreSQL table ([`tables`]).
    Postgres,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Arrow => "arrow",
            Format::Delta => "delta",
            Format::Postgres => "postgres",
        }
    }

    /// The format a file extension stands for.
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "parquet" | "pq" => Some(Format::Parquet),
            "csv" | "tsv" => Some(Format::Csv),
            "json" | "jsonl" | "ndjson" => Some(Format::Json),
            "arrow" | "ipc" | "feather" => Some(Format::Arrow),
            _ => None,
        }
    }
}

/// How a JSON file is laid out: one object per line, or one top-level array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonLayout {
    Ndjson,
    Array,
}

/// One table to register: a name the SQL uses and where its data lives.
#[derive(Debug, Clone)]
pub struct InputSource {
    /// The table name SQL uses.
    pub name: String,
    /// The name shown to people (`v1`/`v2` for `diff`, else the table name).
    pub label: String,
    pub path: PathBuf,
    /// Explicit format; detected from the file extension(s) when `None`.
    pub format: Option<Format>,
    /// CSV field delimiter (default `,`, or tab for `.tsv`).
    pub delimiter: Option<u8>,
    /// Whether a CSV file starts with a header row (default true).
    pub has_header: Option<bool>,
    /// CSV quote character (default `"`).
    pub quote: Option<u8>,
    /// CSV escape character inside quotes (default none).
    pub escape: Option<u8>,
    /// JSON layout; detected from the first non-blank byte when `None`.
    pub json_layout: Option<JsonLayout>,
    /// Declared column types for CSV and JSON, replacing inferred ones.
    pub types: Vec<(String, DataType)>,
    /// The rows the transforms see (a canary subset); empty = all.
    pub filter: subset::Filter,
    /// How to reach a remote input's bucket (region, endpoint, ...).
    pub storage: store::StoreOptions,
    /// Which version of a Delta table (default: the newest).
    pub at: Option<tables::At>,
    /// A Postgres input's table (`schema.table`).
    pub table: Option<String>,
    /// A Postgres input's query (instead of a table).
    pub query: Option<String>,
}

impl InputSource {
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        let name = name.into();
        InputSource {
            label: name.clone(),
            name,
            path: path.into(),
            format: None,
            delimiter: None,
            has_header: None,
            quote: None,
            escape: None,
            json_layout: None,
            types: Vec::new(),
            filter: subset::Filter::default(),
            storage: store::StoreOptions::default(),
            at: None,
            table: None,
            query: None,
        }
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> Error {
        Error::Input {
            name: self.label.clone(),
            path: self.path.clone(),
            message: message.into(),
        }
    }
}

/// The type names a config may declare for a CSV or JSON column: the types
/// CSV inference produces, which screening checks value by value.
pub fn parse_declared_type(name: &str) -> std::result::Result<DataType, String> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "int64" | "bigint" | "integer" | "int" => DataType::Int64,
        "float64" | "double" | "float" => DataType::Float64,
        "boolean" | "bool" => DataType::Boolean,
        "utf8" | "string" | "text" | "varchar" => DataType::Utf8,
        "date" | "date32" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Nanosecond, None),
        _ => {
            return Err(format!(
                "unknown type {name:?}; use int64, float64, boolean, string, date or timestamp"
            ));
        }
    })
}

/// Check that `name` can be used as a table name in SQL without quoting.
pub fn validate_table_name(name: &str) -> std::result::Result<(), String> {
    let mut chars = name.chars();
    let ok_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !ok_start
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!(
            "input name `{name}` must be lower-case letters, digits and `_`, starting with a letter"
        ));
    }
    if name.starts_with("__") {
        return Err(format!(
            "input name `{name}` may not start with `__` (reserved)"
        ));
    }
    Ok(())
}

/// Register `source` as table `source.name` in `ctx`. `scratch` receives
/// the copies some inputs need (JSON arrays rewritten as NDJSON, Parquet
/// and Arrow files compressed whole decompressed); text is otherwise read
/// where it is ([`text`], [`streamed`]). Bad records go to `dead`.
///
/// With `schema_only` (`diffgate check`), no subset is applied and no counts
/// are reported: Parquet and Arrow files give their footers, and CSV/JSON
/// records are still screened (bad ones to `dead`), because which records
/// are bad decides the schema `run` infers.
pub async fn register(
    ctx: &SessionContext,
    source: &InputSource,
    scratch: &Scratch,
    dead: &mut DeadLetter,
    schema_only: bool,
    remote: &Remote,
) -> Result<Loaded> {
    if let Some(kind) = tables::kind_of(source, remote).await? {
        return tables::register(ctx, source, kind, scratch, schema_only, remote).await;
    }
    let given = source.path.to_str().unwrap_or_default();
    let mut pinned = Vec::new();
    let (files, format) = if store::is_url(given) {
        let (store, metas) = remote.pin(source).await?;
        pinned = metas.iter().map(|m| store.record(m)).collect();
        let files: Vec<TextFile> = metas.iter().map(|m| TextFile::object(&store, m)).collect();
        let names: Vec<PathBuf> = files.iter().map(|f| f.plain_name().into()).collect();
        let format = match source.format {
            Some(f) => f,
            None => detect_format(source, &names)?,
        };
        // Typed files are read where they are, unless compressed whole.
        if matches!(format, Format::Parquet | Format::Arrow)
            && files.iter().all(|f| f.compression.is_none())
        {
            let ext = format!(".{}", extension_of(&names[0]));
            register_typed(ctx, source, given, format, &ext).await?;
            return finish(ctx, source, format, None, schema_only, pinned).await;
        }
        (files, format)
    } else {
        let meta = std::fs::metadata(&source.path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => source.error("no such file or directory"),
            _ => source.error(e.to_string()),
        })?;
        let paths = data_files(source, &source.path, meta.is_dir())?;
        for f in &paths {
            lfs_pointer(source, f)?;
        }
        let files: Vec<TextFile> = paths.iter().map(|p| TextFile::local(p)).collect();
        let names: Vec<PathBuf> = files.iter().map(|f| f.plain_name().into()).collect();
        let format = match source.format {
            Some(f) => f,
            None => detect_format(source, &names)?,
        };
        (files, format)
    };
    let compressed = files.iter().any(|f| f.compression.is_some());
    let mut extension = extension_of(Path::new(files[0].plain_name()));
    if matches!(format, Format::Parquet | Format::Arrow) {
        // Local files are read where they are; ones compressed whole from
        // decompressed copies, as their readers seek.
        let path = if compressed {
            text::blocking(|| text::stage(source, &files, scratch.local()))?
        } else {
            source.path.clone()
        };
        let path = path
            .to_str()
            .ok_or_else(|| source.error("path is not valid UTF-8"))?;
        register_typed(ctx, source, path, format, &format!(".{extension}")).await?;
        return finish(ctx, source, format, None, schema_only, pinned).await;
    }
    if matches!(format, Format::Delta | Format::Postgres) {
        // Table sources were registered above, by `tables`.
        return Err(Error::Internal(format!(
            "{}: a table source reached the file reader",
            source.label
        )));
    }

    // Text. What the engine's own readers read when they can: the given
    // path, or the NDJSON a JSON array was rewritten as.
    let mut files = files;
    let mut path = source.path.clone();
    if format == Format::Json {
        let layout = match source.json_layout {
            Some(l) => l,
            None => text::blocking(|| detect_json_layout(source, &files[0]))?,
        };
        if layout == JsonLayout::Array {
            // DataFusion's array reader keeps line breaks inside objects, so
            // pretty-printed arrays (what APIs return) fail to parse. Rewrite
            // them as NDJSON, one element in memory at a time.
            let dir = scratch.local().join("inputs").join(&source.name);
            std::fs::create_dir_all(&dir)
                .map_err(|e| source.error(format!("{}: {e}", dir.display())))?;
            let mut rewritten = Vec::with_capacity(files.len());
            for (i, file) in files.iter().enumerate() {
                let out = dir.join(format!("part-{i:05}.json"));
                text::blocking(|| json_array_to_ndjson(file, &out)).map_err(|e| {
                    if file.shown == given {
                        source.error(e)
                    } else {
                        source.error(format!("{}: {e}", file.shown))
                    }
                })?;
                rewritten.push(TextFile {
                    shown: file.shown.clone(),
                    place: text::Place::Local(out),
                    compression: None,
                });
            }
            files = rewritten;
            path = dir;
            extension = "json".into();
        }
    }
    let csv_dialect = CsvDialect {
        delimiter: source
            .delimiter
            .unwrap_or(if extension.eq_ignore_ascii_case("tsv") {
                b'\t'
            } else {
                b','
            }),
        has_header: source.has_header.unwrap_or(true),
        quote: source.quote.unwrap_or(b'"'),
        escape: source.escape,
    };
    let mut screened = text::blocking(|| match format {
        Format::Csv => records::screen_csv(source, &files, csv_dialect, dead),
        _ => records::screen_ndjson(source, &files, dead),
    })?;
    // Objects, compressed files and files with records taken out are read
    // as streams (no copy); the rest where they are, by the engine's own
    // readers, which split large files.
    if !files.iter().all(TextFile::is_local_plain) || screened.rows_dead_lettered > 0 {
        // Such a stream is this process's: a worker cannot open it.
        if crate::engine::is_distributed(ctx) {
            let why = if screened.rows_dead_lettered > 0 {
                "has records that cannot be loaded"
            } else {
                "is compressed or in a store"
            };
            return Err(source.error(format!(
                "this text input {why}, so only this process can read it, not the workers of \
                 --engine distributed: give them Parquet (or plain local CSV/JSON)"
            )));
        }
        let decode = match format {
            Format::Csv => streamed::Decode::Csv(csv_dialect),
            _ => streamed::Decode::Json,
        };
        let skip = std::mem::take(&mut screened.skip);
        streamed::register(ctx, source, files, skip, screened.schema.clone(), decode)?;
        return finish(ctx, source, format, Some(&screened), schema_only, pinned).await;
    }
    let path_str = path
        .to_str()
        .ok_or_else(|| source.error("path is not valid UTF-8"))?;
    // A single file is registered with its own extension so that the listing
    // table's extension filter accepts it whatever it is called.
    let ext = format!(".{extension}");
    let schema = &screened.schema;
    let result = if format == Format::Csv {
        let mut opts = CsvReadOptions::new()
            .file_extension(&ext)
            .delimiter(csv_dialect.delimiter)
            .quote(csv_dialect.quote)
            .has_header(csv_dialect.has_header)
            .newlines_in_values(screened.newlines_in_values)
            .schema(schema);
        if let Some(e) = csv_dialect.escape {
            opts = opts.escape(e);
        }
        ctx.register_csv(&source.name, path_str, opts).await
    } else {
        let opts = JsonReadOptions::default()
            .file_extension(&ext)
            .schema(schema);
        ctx.register_json(&source.name, path_str, opts).await
    };
    result.map_err(|e| source.error(engine_message(&e)))?;
    finish(ctx, source, format, Some(&screened), schema_only, pinned).await
}

/// Check what was registered as `source` and apply its subset: what
/// loading found.
async fn finish(
    ctx: &SessionContext,
    source: &InputSource,
    format: Format,
    screened: Option<&Screened>,
    schema_only: bool,
    pinned: Vec<crate::report::PinnedObject>,
) -> Result<Loaded> {
    let table = ctx
        .table(source.name.as_str())
        .await
        .map_err(|e| source.error(engine_message(&e)))?;
    let fields = table.schema().fields();
    if fields.is_empty() {
        return Err(source.error("no columns could be read (empty file?)"));
    }
    if let Some(screened) = screened
        && format == Format::Csv
    {
        check_csv_shape(source, fields, screened.rows_read)?;
    }
    let subset = if source.filter.is_empty() || schema_only {
        None
    } else {
        Some(subset::apply(ctx, source).await?)
    };
    let counted = screened.filter(|_| !schema_only);
    Ok(Loaded {
        format,
        rows_read: counted.map(|s| s.rows_read),
        rows_dead_lettered: counted.map_or(0, |s| s.rows_dead_lettered),
        subset,
        pinned,
    })
}

/// Register a Parquet or Arrow input where it is (a path, or a URL the
/// engine lists and reads through the input's pinned store).
async fn register_typed(
    ctx: &SessionContext,
    source: &InputSource,
    url: &str,
    format: Format,
    ext: &str,
) -> Result<()> {
    let result = match format {
        Format::Parquet => register_parquet(ctx, &source.name, url, ext).await,
        _ => {
            let opts = ArrowReadOptions {
                file_extension: ext,
                ..Default::default()
            };
            ctx.register_arrow(&source.name, url, opts).await
        }
    };
    result.map_err(|e| source.error(engine_message(&e)))
}

/// How remote inputs are reached: the run's stores and their retry policy.
#[derive(Default)]
pub struct Remote {
    pub stores: store::Stores,
    pub retry: store::Retry,
    /// Objects to read as a saved report pinned them (`--pin-from`).
    pub pins: Vec<crate::report::PinnedObject>,
    /// Table sources' pins in a saved report, by input name.
    pub table_pins: std::collections::BTreeMap<String, crate::report::PinnedObject>,
}

/// What a saved report pinned (`--pin-from`).
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Objects of remote inputs.
    pub objects: Vec<crate::report::PinnedObject>,
    /// Delta and Postgres pins, by input name.
    pub tables: std::collections::BTreeMap<String, crate::report::PinnedObject>,
}

impl Remote {
    /// Whether `source`'s URL is a folder holding a `_delta_log`: a Delta
    /// table. Asked only of URLs that name no data file or glob, of stores
    /// that list (not plain HTTP); a store that refuses the listing is
    /// taken as no Delta table, and reading the URL then says what is wrong.
    async fn is_delta(&self, source: &InputSource) -> Result<bool> {
        let given = source.path.to_string_lossy().into_owned();
        let Ok(url) = url::Url::parse(&given) else {
            return Ok(false);
        };
        let last = url
            .path()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("");
        let named_file = Path::new(text::Compression::strip(last))
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| Format::from_extension(e).is_some());
        if named_file
            || given.contains(['*', '?', '['])
            || url.query().is_some()
            || url.scheme().starts_with("http")
        {
            return Ok(false);
        }
        let Ok(listing) = ListingTableUrl::parse(&given) else {
            return Ok(false);
        };
        let store = self
            .stores
            .store_for(&url, &source.storage, self.retry, &self.pins)
            .map_err(|m| Error::Input {
                name: source.label.clone(),
                path: PathBuf::from(store::shown(&given)),
                message: m,
            })?;
        let log = listing.prefix().clone().join("_delta_log");
        let first = object_store::ObjectStore::list(store.as_ref(), Some(&log))
            .next()
            .await;
        Ok(matches!(first, Some(Ok(_))))
    }

    /// The store of `source`'s URL and its objects, pinned: one object, or
    /// every object under a prefix (`.../`) or matching a glob, in path
    /// order. None is an error naming the URL.
    async fn pin(
        &self,
        source: &InputSource,
    ) -> Result<(Arc<store::PinnedStore>, Vec<object_store::ObjectMeta>)> {
        let given = source.path.to_string_lossy().into_owned();
        let shown = store::shown(&given);
        let fail = |m: String| Error::Input {
            name: source.label.clone(),
            path: PathBuf::from(&shown),
            message: m,
        };
        let url = url::Url::parse(&given).map_err(|e| fail(e.to_string()))?;
        if url.query().is_some() {
            return Err(fail(
                "a URL with a query string (a signed URL) is not read: the store would not send the query; \
                 give the object's plain URL and credentials in the environment"
                    .into(),
            ));
        }
        let listing = ListingTableUrl::parse(&given).map_err(|e| fail(engine_message(&e)))?;
        let store = self
            .stores
            .store_for(&url, &source.storage, self.retry, &self.pins)
            .map_err(fail)?;
        let prefix = listing.prefix().clone();
        let is_prefix =
            given.ends_with('/') || listing.is_collection() || given.contains(['*', '?', '[']);
        let matches = |p: &object_store::path::Path| listing.contains(p, false);
        let found = match store.pin(&prefix, is_prefix, matches).await {
            // A folder given without its trailing `/`.
            Err(object_store::Error::NotFound { .. }) if !is_prefix => {
                store.pin(&prefix, true, |_| true).await
            }
            other => other,
        }
        .map_err(|e| fail(store::describe(&e)))?;
        let found: Vec<_> = found
            .into_iter()
            .filter(|m| {
                let name = m.location.filename().unwrap_or("");
                !(name.starts_with('.') || name.starts_with('_'))
            })
            .collect();
        if found.is_empty() {
            return Err(fail("no such object, and no objects under it".into()));
        }
        Ok((store, found))
    }
}

/// Register Parquet files as table `name`. Files with a floating-point
/// column are read without statistics-based pruning (row groups, pages,
/// bloom filters): writers leave NaN out of Parquet's min/max, and
/// DataFusion 55 trusts those bounds as covering every value
/// (apache/datafusion#24804), so a filter such as `x > 2` could skip a
/// row group whose NaN rows it should keep.
async fn register_parquet(
    ctx: &SessionContext,
    name: &str,
    path: &str,
    ext: &str,
) -> datafusion::error::Result<()> {
    let mut listing = ParquetReadOptions::default()
        .file_extension(ext)
        .to_listing_options(&ctx.copied_config(), ctx.copied_table_options());
    let schema = listing
        .infer_schema(&ctx.state(), &ListingTableUrl::parse(path)?)
        .await?;
    if schema.fields().iter().any(|f| has_float(f.data_type())) {
        let mut options = ctx.copied_table_options().parquet;
        options.global.pruning = false;
        options.global.enable_page_index = false;
        options.global.bloom_filter_on_read = false;
        listing = ListingOptions::new(Arc::new(ParquetFormat::new().with_options(options)))
            .with_file_extension(ext);
    }
    ctx.register_listing_table(name, path, listing, Some(schema), None)
        .await
}

/// Whether `t` is or holds a floating-point type.
fn has_float(t: &DataType) -> bool {
    match t {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => true,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => has_float(f.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| has_float(f.data_type())),
        DataType::Union(fields, _) => fields.iter().any(|(_, f)| has_float(f.data_type())),
        DataType::Dictionary(_, v) => has_float(v),
        DataType::RunEndEncoded(_, v) => has_float(v.data_type()),
        _ => false,
    }
}

/// Catch CSV inputs that read without complaint but wrongly: a header
/// without rows (every column typed Null) and a file split on the wrong
/// delimiter (one column whose name holds another delimiter). Files with
/// different headers are caught while screening.
fn check_csv_shape(
    source: &InputSource,
    fields: &datafusion::arrow::datatypes::Fields,
    rows: u64,
) -> Result<()> {
    if rows == 0 {
        return Err(source
            .error("the CSV has a header but no rows, so its column types cannot be inferred"));
    }
    if source.delimiter.is_none()
        && let [only] = &fields[..]
        && let Some(d) = [';', '\t', '|']
            .into_iter()
            .find(|d| only.name().contains(*d))
    {
        return Err(source.error(format!(
            "read as one column named {:?}: the file looks delimited by {d:?}; set `delimiter`",
            only.name()
        )));
    }
    Ok(())
}

/// The data files a source names: the file itself, or the non-hidden files
/// below a directory.
fn data_files(source: &InputSource, path: &Path, is_dir: bool) -> Result<Vec<PathBuf>> {
    if !is_dir {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| source.error(format!("{}: {e}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| source.error(e.to_string()))?;
            let p = entry.path();
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.') || n.starts_with('_'));
            if hidden {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(source.error("directory holds no data files"));
    }
    Ok(files)
}

fn extension_of(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_string()
}

/// A Git LFS pointer checked out in place of its file (no `git lfs pull`)
/// would read as a small table of its own three lines: an error naming it.
fn lfs_pointer(source: &InputSource, file: &Path) -> Result<()> {
    const POINTER: &[u8] = b"version https://git-lfs.github.com/spec/";
    let small = std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.len() < 1024);
    if small && std::fs::read(file).is_ok_and(|b| b.starts_with(POINTER)) {
        return Err(source.error(format!(
            "{} is a Git LFS pointer, not the data: fetch it with `git lfs pull` (in GitHub Actions: actions/checkout with `lfs: true`)",
            file.display()
        )));
    }
    Ok(())
}

fn detect_format(source: &InputSource, files: &[PathBuf]) -> Result<Format> {
    let mut found: Vec<(Format, String)> = Vec::new();
    for f in files {
        let ext = extension_of(f);
        match Format::from_extension(&ext) {
            Some(format) => {
                if !found.iter().any(|(_, e)| *e == ext) {
                    found.push((format, ext));
                }
            }
            None => {
                return Err(source.error(format!(
                    "cannot tell the format of {} from its extension; set `format` (parquet, csv, json or arrow)",
                    f.display()
                )));
            }
        }
    }
    match found.as_slice() {
        [(format, _)] => Ok(*format),
        _ => Err(source.error(format!(
            "directory mixes file kinds ({}); keep one kind per input",
            found
                .iter()
                .map(|(_, e)| format!(".{e}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn detect_json_layout(source: &InputSource, file: &TextFile) -> Result<JsonLayout> {
    use std::io::Read;
    let fail = |e: std::io::Error| {
        if Path::new(&file.shown) == source.path {
            source.error(e.to_string())
        } else {
            source.error(format!("{}: {e}", file.shown))
        }
    };
    let mut head = Vec::with_capacity(4096);
    file.open()
        .map_err(fail)?
        .take(4096)
        .read_to_end(&mut head)
        .map_err(fail)?;
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'[') => Ok(JsonLayout::Array),
        Some(b'{') => Ok(JsonLayout::Ndjson),
        Some(_) => Err(source
            .error("JSON must start with `{` (one object per line) or `[` (an array of objects)")),
        None => Err(source.error("file is empty")),
    }
}

/// Rewrite a JSON array of objects as newline-delimited JSON. Errors name the
/// line and column of the original file.
fn json_array_to_ndjson(src: &TextFile, dst: &Path) -> std::result::Result<u64, String> {
    use serde::de::{Deserializer, Error as _, SeqAccess, Visitor};
    use std::io::Write;

    struct Lines<W: Write> {
        out: W,
        rows: u64,
    }
    impl<'de, W: Write> Visitor<'de> for &mut Lines<W> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            while let Some(v) = seq.next_element::<serde_json::Value>()? {
                if !v.is_object() {
                    return Err(A::Error::custom(format!(
                        "array element {} is not an object",
                        self.rows + 1
                    )));
                }
                serde_json::to_writer(&mut self.out, &v).map_err(A::Error::custom)?;
                self.out.write_all(b"\n").map_err(A::Error::custom)?;
                self.rows += 1;
            }
            Ok(())
        }
    }

    let input = src.open().map_err(|e| e.to_string())?;
    let output = std::fs::File::create(dst).map_err(|e| format!("{}: {e}", dst.display()))?;
    let mut lines = Lines {
        out: std::io::BufWriter::new(output),
        rows: 0,
    };
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(input));
    de.deserialize_seq(&mut lines).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    lines.out.flush().map_err(|e| e.to_string())?;
    if lines.rows == 0 {
        return Err("the JSON array is empty".into());
    }
    Ok(lines.rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_must_be_plain_identifiers() {
        assert!(validate_table_name("orders_2024").is_ok());
        assert!(validate_table_name("Orders").is_err());
        assert!(validate_table_name("1x").is_err());
        assert!(validate_table_name("__v1").is_err());
        assert!(validate_table_name("a-b").is_err());
    }

    #[test]
    fn formats_follow_extensions() {
        assert_eq!(Format::from_extension("PARQUET"), Some(Format::Parquet));
        assert_eq!(Format::from_extension("jsonl"), Some(Format::Json));
        assert_eq!(Format::from_extension("feather"), Some(Format::Arrow));
        assert_eq!(Format::from_extension("xlsx"), None);
    }
}
