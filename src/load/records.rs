//! Record screening for text inputs (CSV and newline-delimited JSON), part
//! of the load stage. Data nobody cleaned has rows the reader cannot decode:
//! a wrong number of fields, bytes that are not UTF-8, a value that does not
//! parse as its column's type. Left to the engine, one such row fails the
//! whole run half-way through a query; dropped quietly, it shrinks the
//! counts. Here every record is checked before the table is registered, the
//! way the reader will decode it, and each bad one goes to the dead-letter
//! file (file, line, error, the original bytes) and is counted, so that for
//! every input: rows read = rows loaded + rows dead-lettered.
//!
//! The schema is inferred from the first [`INFER_RECORDS`] good records (as
//! the engine itself would) and then registered explicitly, so the engine
//! reads exactly the types the records were checked against. A column that
//! is empty throughout that sample and filled later is not dropped: in CSV
//! it is read as text, in JSON its type is inferred from the later values.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::compute::kernels::cast_utils::{Parser, string_to_datetime};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Field, Float64Type, Int64Type, Schema, TimeUnit,
};
use serde_json::Value;

use super::InputSource;
use super::text::{Ranges, TextFile};
use crate::error::{Error, Result};

/// Records the schema is inferred from (the engine's own default).
pub const INFER_RECORDS: usize = 1000;

/// Lines of JSON checked against the schema at once; a batch that fails is
/// checked again line by line to find the bad ones.
const JSON_BATCH: usize = 1024;

/// Where bad records go: a newline-delimited JSON file, created at the first
/// bad record as a temporary file beside its destination and moved into
/// place by [`DeadLetter::finish`], so it is never seen half-written. In
/// strict mode the first bad record is an error instead.
pub struct DeadLetter {
    dest: PathBuf,
    strict: bool,
    out: Option<BufWriter<tempfile::NamedTempFile>>,
    rows: u64,
}

/// One record that could not be loaded.
struct Bad<'a> {
    /// The file as messages name it.
    file: &'a str,
    /// 1-based line where the record starts (for a JSON array input: the
    /// element number).
    line: u64,
    error: String,
    raw: &'a [u8],
}

impl DeadLetter {
    pub fn new(dest: impl Into<PathBuf>, strict: bool) -> Self {
        DeadLetter {
            dest: dest.into(),
            strict,
            out: None,
            rows: 0,
        }
    }

    /// Where the file goes when there is anything to put in it.
    pub fn path(&self) -> &Path {
        &self.dest
    }

    /// Bad records so far, over all inputs.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn push(&mut self, source: &InputSource, bad: Bad<'_>) -> Result<()> {
        let raw = trim_terminator(bad.raw);
        if self.strict {
            return Err(source.error(format!(
                "{}line {}: {} (--strict stops at the first bad record)",
                in_file(source, bad.file),
                bad.line,
                bad.error
            )));
        }
        let io = |e| Error::Io {
            path: self.dest.clone(),
            source: e,
        };
        if self.out.is_none() {
            let dir = match self.dest.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            std::fs::create_dir_all(dir).map_err(io)?;
            let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
            self.out = Some(BufWriter::new(tmp));
        }
        let mut entry = serde_json::Map::new();
        entry.insert("input".into(), source.label.clone().into());
        entry.insert("file".into(), bad.file.into());
        entry.insert("line".into(), bad.line.into());
        entry.insert("error".into(), bad.error.into());
        entry.insert(
            "record".into(),
            String::from_utf8_lossy(raw).into_owned().into(),
        );
        if std::str::from_utf8(raw).is_err() {
            // The text above replaced the invalid bytes; keep the originals.
            entry.insert("record_hex".into(), hex(raw).into());
        }
        let out = self.out.as_mut().expect("created above");
        serde_json::to_writer(&mut *out, &Value::Object(entry))
            .map_err(|e| io(std::io::Error::other(e)))?;
        out.write_all(b"\n").map_err(io)?;
        self.rows += 1;
        Ok(())
    }

    /// Move the file into place. Returns its path, or `None` when no record
    /// was bad (nothing is written then).
    pub fn finish(self) -> Result<Option<PathBuf>> {
        let Some(out) = self.out else {
            return Ok(None);
        };
        let io = |e| Error::Io {
            path: self.dest.clone(),
            source: e,
        };
        let tmp = out.into_inner().map_err(|e| io(e.into_error()))?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.dest).map_err(|e| io(e.error))?;
        Ok(Some(self.dest))
    }
}

fn trim_terminator(raw: &[u8]) -> &[u8] {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    raw.strip_suffix(b"\r").unwrap_or(raw)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The outcome of screening one input.
#[derive(Debug, Clone)]
pub struct Screened {
    /// The schema to register the input with.
    pub schema: Schema,
    /// Per file, the byte ranges (of its plain stream) of the records taken
    /// out, which the engine leaves out as it reads.
    pub skip: Vec<Ranges>,
    /// Data records in the files (header and blank lines not counted).
    pub rows_read: u64,
    pub rows_dead_lettered: u64,
    /// A quoted CSV value spans lines (the reader must not split files at
    /// line breaks).
    pub newlines_in_values: bool,
}

/// CSV dialect, as registered.
#[derive(Debug, Clone, Copy)]
pub struct CsvDialect {
    pub delimiter: u8,
    pub has_header: bool,
    /// The quote character (default `"`; a doubled quote inside quotes is
    /// one quote).
    pub quote: u8,
    /// The character that escapes the next one inside quotes (none by
    /// default).
    pub escape: Option<u8>,
}

fn open(source: &InputSource, file: &TextFile) -> Result<Box<dyn Read + Send>> {
    file.open().map_err(|e| read_error(source, &file.shown, e))
}

/// `file: ` when the input is a directory or prefix of files, else nothing
/// (the error already names the input's path).
fn in_file(source: &InputSource, file: &str) -> String {
    if Path::new(file) == source.path {
        String::new()
    } else {
        format!("{file}: ")
    }
}

fn read_error(source: &InputSource, file: &str, e: impl std::fmt::Display) -> Error {
    source.error(format!("{}{e}", in_file(source, file)))
}

/// The bytes a reader has handed on and not yet let go: the raw bytes of
/// the record being screened, without reading the stream twice. Bytes
/// before the record the screening is at are dropped as it moves on, so
/// this holds one record plus the CSV reader's read-ahead.
#[derive(Default)]
struct Kept {
    /// Stream offset of `bytes[0]`.
    base: u64,
    bytes: Vec<u8>,
    /// Bytes before this offset are no longer needed.
    floor: u64,
}

impl Kept {
    fn range(&self, start: u64, end: u64) -> Vec<u8> {
        debug_assert!(start >= self.base && end <= self.base + self.bytes.len() as u64);
        self.bytes[(start - self.base) as usize..(end - self.base) as usize].to_vec()
    }
}

/// A reader that keeps what it reads in a shared [`Kept`].
struct Tee<R> {
    inner: R,
    kept: Rc<RefCell<Kept>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut k = self.kept.borrow_mut();
        // Drop what is no longer needed once it is most of the buffer, so
        // each byte is moved at most about once.
        let done = (k.floor - k.base) as usize;
        if done > (1 << 16) && done * 2 > k.bytes.len() {
            k.bytes.drain(..done);
            k.base = k.floor;
        }
        k.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// A record kept until the schema is known.
struct Pending {
    file: usize,
    line: u64,
    start: u64,
    end: u64,
    record: csv::ByteRecord,
    /// Its bytes as read.
    raw: Vec<u8>,
    /// Why it is bad regardless of the schema (field count, UTF-8).
    problem: Option<String>,
}

/// Records held back before the schema is known, at most: a file whose
/// first records are nearly all bad is inferred from the good ones so far.
const MAX_PENDING: usize = 20 * INFER_RECORDS;

fn add_range(ranges: &mut Ranges, start: u64, end: u64) {
    match ranges.last_mut() {
        Some(last) if last.1 == start => last.1 = end,
        _ => ranges.push((start, end)),
    }
}

/// Screen CSV `files` of `source`, each read once as a stream. Blocking.
pub fn screen_csv(
    source: &InputSource,
    files: &[TextFile],
    dialect: CsvDialect,
    dead: &mut DeadLetter,
) -> Result<Screened> {
    let mut header: Option<(String, Vec<String>)> = None;
    let mut width: Option<usize> = None;
    let mut schema: Option<Schema> = None;
    let mut pending: Vec<Pending> = Vec::new();
    let mut sampled = 0usize;
    let mut bad_ranges: Vec<Ranges> = vec![Vec::new(); files.len()];
    let mut late_text: Vec<bool> = Vec::new();
    let mut rows_read = 0u64;
    let mut rows_bad = 0u64;
    let mut multiline = false;

    for (fi, file) in files.iter().enumerate() {
        let kept = Rc::new(RefCell::new(Kept::default()));
        let tee = Tee {
            inner: open(source, file)?,
            kept: kept.clone(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .quote(dialect.quote)
            .escape(dialect.escape)
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::with_capacity(1 << 16, tee));
        let mut record = csv::ByteRecord::new();
        let mut first = true;
        let shown = file.shown.as_str();
        loop {
            let more = reader
                .read_byte_record(&mut record)
                .map_err(|e| read_error(source, shown, e))?;
            if !more {
                break;
            }
            let pos = record.position().expect("the reader sets positions");
            let (start, line) = (pos.byte(), pos.line());
            let end = reader.position().byte();
            let raw = || kept.borrow().range(start, end);
            kept.borrow_mut().floor = start;
            if reader.position().line() > line + 1 {
                multiline = true;
            }
            if first && dialect.has_header {
                first = false;
                let names = header_names(source, shown, &record)?;
                match &header {
                    None => {
                        width = Some(names.len());
                        header = Some((shown.to_string(), names));
                    }
                    Some((first_file, first_names)) if *first_names != names => {
                        return Err(source.error(format!(
                            "files have different headers: {first_file} has {:?}, {shown} has {:?}",
                            first_names.join(","),
                            names.join(",")
                        )));
                    }
                    Some(_) => {}
                }
                continue;
            }
            first = false;
            rows_read += 1;
            let expected = *width.get_or_insert(record.len());
            let problem = if record.len() != expected {
                Some(format!(
                    "expected {expected} fields, found {}",
                    record.len()
                ))
            } else {
                record
                    .iter()
                    .position(|f| std::str::from_utf8(f).is_err())
                    .map(|i| format!("field {} is not valid UTF-8", i + 1))
            };
            match &schema {
                None => {
                    // Until the schema is known, every record waits here, so
                    // that bad ones still reach the dead-letter file in file
                    // order.
                    sampled += usize::from(problem.is_none());
                    pending.push(Pending {
                        file: fi,
                        line,
                        start,
                        end,
                        record: record.clone(),
                        raw: raw(),
                        problem,
                    });
                    if sampled == INFER_RECORDS || pending.len() >= MAX_PENDING {
                        let s = infer_csv(source, &header, &pending, dialect)?;
                        late_text = vec![false; s.fields().len()];
                        for p in std::mem::take(&mut pending) {
                            rows_bad += check_pending(
                                source,
                                files,
                                p,
                                &s,
                                &mut late_text,
                                &mut bad_ranges,
                                dead,
                            )?;
                        }
                        schema = Some(s);
                    }
                }
                Some(s) => {
                    let problem = problem.or_else(|| check_csv_record(s, &record, &mut late_text));
                    if let Some(error) = problem {
                        rows_bad += 1;
                        add_range(&mut bad_ranges[fi], start, end);
                        dead.push(
                            source,
                            Bad {
                                file: shown,
                                line,
                                error,
                                raw: &raw(),
                            },
                        )?;
                    }
                }
            }
        }
    }
    let mut schema = match schema {
        Some(s) => s,
        None => {
            // Fewer records than the sample: infer from all of them.
            let s = infer_csv(source, &header, &pending, dialect)?;
            late_text = vec![false; s.fields().len()];
            for p in std::mem::take(&mut pending) {
                rows_bad +=
                    check_pending(source, files, p, &s, &mut late_text, &mut bad_ranges, dead)?;
            }
            s
        }
    };
    if late_text.iter().any(|t| *t) {
        schema = Schema::new(
            schema
                .fields()
                .iter()
                .zip(&late_text)
                .map(|(f, late)| {
                    if *late {
                        Arc::new(Field::new(f.name(), DataType::Utf8, true))
                    } else {
                        f.clone()
                    }
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(Screened {
        schema,
        skip: bad_ranges,
        rows_read,
        rows_dead_lettered: rows_bad,
        newlines_in_values: multiline,
    })
}

fn header_names(source: &InputSource, file: &str, record: &csv::ByteRecord) -> Result<Vec<String>> {
    record
        .iter()
        .enumerate()
        .map(|(i, f)| {
            std::str::from_utf8(f).map(str::to_string).map_err(|_| {
                source.error(format!(
                    "{}line 1: header field {} is not valid UTF-8",
                    in_file(source, file),
                    i + 1
                ))
            })
        })
        .collect()
}

/// Infer the schema from the sampled records with the engine's own CSV
/// inference.
fn infer_csv(
    source: &InputSource,
    header: &Option<(String, Vec<String>)>,
    sample: &[Pending],
    dialect: CsvDialect,
) -> Result<Schema> {
    let mut buf = Vec::new();
    {
        let mut w = csv::WriterBuilder::new()
            .delimiter(dialect.delimiter)
            .from_writer(&mut buf);
        let mut write = |r: &csv::ByteRecord| {
            w.write_byte_record(r)
                .map_err(|e| source.error(e.to_string()))
        };
        if let Some((_, names)) = header {
            write(&csv::ByteRecord::from(names.clone()))?;
        }
        for p in sample.iter().filter(|p| p.problem.is_none()) {
            write(&p.record)?;
        }
        w.flush().map_err(|e| source.error(e.to_string()))?;
    }
    let format = datafusion::arrow::csv::reader::Format::default()
        .with_header(header.is_some())
        .with_delimiter(dialect.delimiter);
    let (schema, _) = format
        .infer_schema(std::io::Cursor::new(buf), Some(INFER_RECORDS))
        .map_err(|e| source.error(format!("cannot infer the CSV schema: {e}")))?;
    declare_types(source, schema)
}

/// Replace inferred types with the declared ones (`types` in the config).
fn declare_types(source: &InputSource, schema: Schema) -> Result<Schema> {
    if source.types.is_empty() {
        return Ok(schema);
    }
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (name, data_type) in &source.types {
        let Some(field) = fields.iter_mut().find(|f| f.name() == name) else {
            let hint =
                crate::error::did_you_mean(name, schema.fields().iter().map(|f| f.name().as_str()))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
            return Err(source.error(format!("types: no column `{name}` in the data{hint}")));
        };
        *field = Field::new(name, data_type.clone(), true);
    }
    Ok(Schema::new(fields))
}

fn check_pending(
    source: &InputSource,
    files: &[TextFile],
    p: Pending,
    schema: &Schema,
    late_text: &mut [bool],
    bad_ranges: &mut [Ranges],
    dead: &mut DeadLetter,
) -> Result<u64> {
    let problem = p
        .problem
        .or_else(|| check_csv_record(schema, &p.record, late_text));
    let Some(error) = problem else {
        return Ok(0);
    };
    add_range(&mut bad_ranges[p.file], p.start, p.end);
    dead.push(
        source,
        Bad {
            file: &files[p.file].shown,
            line: p.line,
            error,
            raw: &p.raw,
        },
    )?;
    Ok(1)
}

/// Check each value of a well-formed record against its column's type, as
/// the CSV reader parses it: an empty value is NULL; otherwise it must parse.
fn check_csv_record(
    schema: &Schema,
    record: &csv::ByteRecord,
    late_text: &mut [bool],
) -> Option<String> {
    for (i, (field, value)) in schema.fields().iter().zip(record.iter()).enumerate() {
        if value.is_empty() {
            continue;
        }
        // Checked as UTF-8 before.
        let s = std::str::from_utf8(value).unwrap_or_default();
        let ok = match field.data_type() {
            DataType::Null => {
                late_text[i] = true;
                true
            }
            DataType::Boolean => s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false"),
            DataType::Int64 => Int64Type::parse(s).is_some(),
            DataType::Float64 => Float64Type::parse(s).is_some(),
            DataType::Date32 => Date32Type::parse(s).is_some(),
            DataType::Timestamp(unit, _) => parses_as_timestamp(s, *unit),
            _ => true,
        };
        if !ok {
            return Some(format!(
                "column `{}`: {} is not a valid {}",
                field.name(),
                clip(s),
                field.data_type()
            ));
        }
    }
    None
}

fn parses_as_timestamp(s: &str, unit: TimeUnit) -> bool {
    let utc: Tz = "+00:00".parse().expect("a valid offset");
    match string_to_datetime(&utc, s) {
        Ok(d) => unit != TimeUnit::Nanosecond || d.timestamp_nanos_opt().is_some(),
        Err(_) => false,
    }
}

/// A value quoted for an error message, cut to a readable length.
fn clip(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

/// Screen newline-delimited JSON `files` of `source` (for a JSON array
/// input, the NDJSON it was rewritten as: one element per line, named as
/// the array's file), each read twice as a stream: once for the lines that
/// are not JSON objects and for the schema, once to decode every other line
/// with the engine's decoder. Blocking.
pub fn screen_ndjson(
    source: &InputSource,
    files: &[TextFile],
    dead: &mut DeadLetter,
) -> Result<Screened> {
    // Pass 1: lines that are not UTF-8 JSON objects, and the schema.
    let mut sample: Vec<Value> = Vec::new();
    let mut sample_schema: Option<Schema> = None;
    let mut late: Vec<Value> = Vec::new();
    let mut late_counts: std::collections::HashMap<String, usize> = Default::default();
    let mut bad: Vec<Ranges> = vec![Vec::new(); files.len()];
    let mut rows_read = 0u64;
    let mut rows_bad = 0u64;
    for (fi, file) in files.iter().enumerate() {
        for_each_line(source, file, |line_no, start, raw| {
            rows_read += 1;
            let value = match std::str::from_utf8(raw) {
                Err(e) => Err(format!("not valid UTF-8 at byte {}", e.valid_up_to() + 1)),
                Ok(text) => match serde_json::from_str::<Value>(text) {
                    Err(e) => Err(format!("not valid JSON: {e}")),
                    Ok(v) if !v.is_object() => {
                        Err("not a JSON object (each line holds one object)".into())
                    }
                    Ok(v) => Ok(v),
                },
            };
            match value {
                Err(error) => {
                    rows_bad += 1;
                    add_range(&mut bad[fi], start, start + raw.len() as u64);
                    dead.push(
                        source,
                        Bad {
                            file: &file.shown,
                            line: line_no,
                            error,
                            raw,
                        },
                    )
                }
                Ok(v) => {
                    match &sample_schema {
                        None => {
                            sample.push(v);
                            if sample.len() == INFER_RECORDS {
                                sample_schema = Some(infer_json_raw(source, &sample, &[])?);
                            }
                        }
                        Some(s) => note_late_fields(s, v, &mut late, &mut late_counts),
                    }
                    Ok(())
                }
            }
        })?;
    }
    let schema = infer_json(source, &sample, &late)?;
    drop(sample);
    drop(late);

    // Pass 2: decode every other line with the engine's JSON decoder, in
    // batches; a batch that fails is decoded again line by line.
    let schema_ref = Arc::new(schema.clone());
    let mut skip: Vec<Ranges> = Vec::with_capacity(files.len());
    for (fi, file) in files.iter().enumerate() {
        // Lines the first pass took out, as ranges (adjacent ones merged):
        // a line is one of them when it starts inside one.
        let first_pass = std::mem::take(&mut bad[fi]);
        let mut passed = first_pass.iter().peekable();
        let mut ranges: Ranges = Vec::new();
        // (line, start, bytes)
        let mut batch: Vec<(u64, u64, Vec<u8>)> = Vec::with_capacity(JSON_BATCH);
        let flush = |batch: &mut Vec<(u64, u64, Vec<u8>)>,
                     ranges: &mut Ranges,
                     dead: &mut DeadLetter|
         -> Result<u64> {
            let mut n = 0;
            let whole: Vec<&[u8]> = batch.iter().map(|(_, _, l)| l.as_slice()).collect();
            if decode_json(&schema_ref, &whole).is_err() {
                for (line_no, start, raw) in batch.iter() {
                    if let Err(error) = decode_json(&schema_ref, &[raw]) {
                        n += 1;
                        add_range(ranges, *start, start + raw.len() as u64);
                        dead.push(
                            source,
                            Bad {
                                file: &file.shown,
                                line: *line_no,
                                error,
                                raw,
                            },
                        )?;
                    }
                }
            }
            batch.clear();
            Ok(n)
        };
        for_each_line(source, file, |line_no, start, raw| {
            while passed.next_if(|r| r.1 <= start).is_some() {}
            if passed.peek().is_some_and(|r| r.0 <= start) {
                add_range(&mut ranges, start, start + raw.len() as u64);
                return Ok(());
            }
            batch.push((line_no, start, raw.to_vec()));
            if batch.len() == JSON_BATCH {
                rows_bad += flush(&mut batch, &mut ranges, dead)?;
            }
            Ok(())
        })?;
        rows_bad += flush(&mut batch, &mut ranges, dead)?;
        // A batch's bad lines come after the first pass's lines that
        // followed them: put the ranges back in file order.
        ranges.sort_unstable();
        let mut merged: Ranges = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            add_range(&mut merged, start, end);
        }
        skip.push(merged);
    }
    Ok(Screened {
        schema,
        skip,
        rows_read,
        rows_dead_lettered: rows_bad,
        newlines_in_values: false,
    })
}

/// Call `f` with each non-blank line of `file`: its number (from 1), the
/// stream offset it starts at, its bytes with their line ending.
fn for_each_line(
    source: &InputSource,
    file: &TextFile,
    mut f: impl FnMut(u64, u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 16, open(source, file)?);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut at = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| read_error(source, &file.shown, e))?;
        if n == 0 {
            return Ok(());
        }
        let start = at;
        at += n as u64;
        line_no += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        f(line_no, start, &buf)?;
    }
}

/// Keep, for fields the sample left untyped (absent or always null), up to
/// [`INFER_RECORDS`] later values each, so their type can be inferred too.
fn note_late_fields(
    sample: &Schema,
    v: Value,
    late: &mut Vec<Value>,
    counts: &mut std::collections::HashMap<String, usize>,
) {
    let Value::Object(map) = v else { return };
    let mut keep = serde_json::Map::new();
    for (k, val) in map {
        if val.is_null() {
            continue;
        }
        let untyped = match sample.field_with_name(&k) {
            Ok(f) => f.data_type() == &DataType::Null,
            Err(_) => true,
        };
        if !untyped {
            continue;
        }
        let n = counts.entry(k.clone()).or_default();
        if *n < INFER_RECORDS {
            *n += 1;
            keep.insert(k, val);
        }
    }
    if !keep.is_empty() {
        late.push(Value::Object(keep));
    }
}

fn infer_json(source: &InputSource, sample: &[Value], late: &[Value]) -> Result<Schema> {
    declare_types(source, infer_json_raw(source, sample, late)?)
}

fn infer_json_raw(source: &InputSource, sample: &[Value], late: &[Value]) -> Result<Schema> {
    use datafusion::arrow::json::reader::infer_json_schema_from_iterator;
    infer_json_schema_from_iterator(sample.iter().chain(late).map(Ok))
        .map_err(|e| source.error(format!("cannot infer the JSON schema: {e}")))
}

/// Decode lines with the JSON reader the engine uses.
fn decode_json(schema: &Arc<Schema>, lines: &[&[u8]]) -> std::result::Result<(), String> {
    let mut decoder = datafusion::arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(lines.len().max(1))
        .build_decoder()
        .map_err(|e| e.to_string())?;
    for line in lines {
        let line = trim_terminator(line);
        let mut at = 0;
        while at < line.len() {
            let n = decoder.decode(&line[at..]).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            at += n;
        }
        decoder.decode(b"\n").map_err(|e| e.to_string())?;
    }
    decoder.flush().map_err(|e| e.to_string())?;
    Ok(())
}
