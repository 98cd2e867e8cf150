//! `diffgate init`: a commented `diffgate.toml` drafted from a folder as it
//! is, so a new user starts from what diffgate found instead of an empty
//! file. It owns three things:
//! - what the folder is: a pair of SQL files, a folder of models (or `v1/`
//!   and `v2/` folders of them), one SQL file, or a dbt project ([`Kind`]);
//! - which tables the SQL reads (a dbt project's sources) and which files
//!   under the folder, or under `--data`, hold them, matched by name;
//! - the keys: what a dbt project's tests and constraints declare, and
//!   otherwise a guess from the data, the columns unique and never NULL in
//!   a sample of v2's output, named as a guess with the rows it saw.
//!
//! The draft goes through the same resolving and planning as `check`
//! before it is written, and the keys are looked for in v2's planned
//! outputs, so every model that cannot be planned says why in the file. The
//! sample is read on one thread, so the same folder gives the same draft.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::Column;
use datafusion::functions_aggregate::expr_fn::{count, count_distinct};
use datafusion::logical_expr::Expr;
use datafusion::prelude::DataFrame;

use crate::error::{EngineContext, Error, Result};
use crate::models::{self, Tree};

/// What `diffgate init` is asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The folder to draft a scenario for; the file is written in it.
    pub dir: PathBuf,
    /// More folders to look for input files in (beside `dir` itself).
    pub data: Vec<PathBuf>,
    /// Rows of each output to look for keys in.
    pub sample_rows: usize,
}

/// A drafted scenario: where it belongs and its text.
#[derive(Debug, Clone)]
pub struct Draft {
    pub path: PathBuf,
    pub text: String,
}

/// What kind of transform a folder holds, with its paths as the scenario
/// names them (relative to the folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Two SQL files, v1 and v2.
    Pair { v1: String, v2: String },
    /// `v1/` and `v2/` folders of models or dbt projects.
    Folders { v1: String, v2: String, dbt: bool },
    /// One folder of models; v1 from git.
    Models { path: String },
    /// One SQL file; v1 from git.
    File { path: String },
    /// The folder is a dbt project; v1 from git.
    Dbt,
}

impl Kind {
    /// The `[transform]` lines of the written file.
    fn transform(&self) -> String {
        let q = quoted;
        match self {
            Kind::Pair { v1, v2 } => format!("v1 = {}\nv2 = {}\n", q(v1), q(v2)),
            Kind::Folders { v1, v2, dbt } => format!(
                "# {} v1 and v2.\nv1 = {}\nv2 = {}\n",
                if *dbt {
                    "Two versions of a dbt project:"
                } else {
                    "Two folders of models, every *.sql a model:"
                },
                q(v1),
                q(v2)
            ),
            Kind::Models { path } => format!(
                "# A folder of models, every *.sql a model: v1 is read from git\n\
                 # (`diffgate run DIR --base origin/main`), v2 from the working tree.\n\
                 path = {}\n",
                q(path)
            ),
            Kind::File { path } => format!(
                "# v1 is read from git (`diffgate run DIR --base origin/main`), v2 from\n\
                 # the working tree.\npath = {}\n",
                q(path)
            ),
            Kind::Dbt => "# This dbt project: v1 is read from git (`diffgate run DIR --base\n\
                 # origin/main`), v2 from the working tree.\npath = \".\"\n"
                .to_string(),
        }
    }

    /// The same transform with both versions in the working tree: what
    /// the draft is planned with (a git ref is not needed to find keys).
    fn planned(&self) -> String {
        let q = quoted;
        let (v1, v2) = match self {
            Kind::Pair { v1, v2 } | Kind::Folders { v1, v2, .. } => (v1.as_str(), v2.as_str()),
            Kind::Models { path } | Kind::File { path } => (path.as_str(), path.as_str()),
            Kind::Dbt => (".", "."),
        };
        format!("v1 = {}\nv2 = {}\n", q(v1), q(v2))
    }

    fn is_dbt(&self) -> bool {
        matches!(self, Kind::Dbt | Kind::Folders { dbt: true, .. })
    }

    /// Whether outputs are models (keys per model) or one table.
    fn has_models(&self) -> bool {
        !matches!(self, Kind::Pair { .. } | Kind::File { .. })
    }
}

/// Folders never searched for SQL or data.
const SKIPPED: &[&str] = &[
    "target",
    "dbt_packages",
    "logs",
    "node_modules",
    "__pycache__",
];

/// What kind of transform `dir` holds.
pub fn classify(dir: &Path) -> Result<Kind> {
    if crate::dbt::is_project(dir) {
        return Ok(Kind::Dbt);
    }
    let (v1, v2) = (dir.join("v1"), dir.join("v2"));
    if v1.is_dir() && v2.is_dir() {
        let dbt = crate::dbt::is_project(&v1) && crate::dbt::is_project(&v2);
        let models = |d: &Path, name: &str| -> Result<String> {
            if dbt {
                Ok(name.to_string())
            } else if has_sql(&d.join("models")) {
                Ok(format!("{name}/models"))
            } else if has_sql(d) {
                Ok(name.to_string())
            } else {
                Err(usage(dir, format!("{name}/ holds no .sql files")))
            }
        };
        return Ok(Kind::Folders {
            v1: models(&v1, "v1")?,
            v2: models(&v2, "v2")?,
            dbt,
        });
    }
    let top = sql_files(dir)?;
    if top.len() == 2 {
        let (a, b) = (&top[0], &top[1]);
        let (v1, v2) = order_pair(a, b).ok_or_else(|| {
            usage(
                dir,
                format!(
                    "two SQL files, {a} and {b}, but neither name says which is v1 (name them v1.sql and v2.sql, or old/new, before/after, base/head)"
                ),
            )
        })?;
        return Ok(Kind::Pair { v1, v2 });
    }
    if top.len() == 1 && !dir.join("models").is_dir() {
        return Ok(Kind::File {
            path: top[0].clone(),
        });
    }
    if top.is_empty() && has_sql(&dir.join("models")) {
        return Ok(Kind::Models {
            path: "models".into(),
        });
    }
    if has_sql(dir) {
        return Ok(Kind::Models { path: ".".into() });
    }
    Err(usage(
        dir,
        "holds no dbt_project.yml, no .sql files, no models/ folder and no v1/ and v2/ folders: nothing to compare",
    ))
}

fn usage(dir: &Path, message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("init {}: {message}", dir.display()))
}

/// Whether `dir` or a folder below it (not a skipped one) holds a `.sql`
/// file.
fn has_sql(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(|e| e.ok()).any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if path.is_dir() {
            !name.starts_with('.') && !SKIPPED.contains(&name.as_str()) && has_sql(&path)
        } else {
            name.ends_with(".sql")
        }
    })
}

/// The `.sql` files directly in `dir` (none when it is not a folder), by
/// name.
fn sql_files(dir: &Path) -> Result<Vec<String>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".sql") && e.path().is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Which of two file names is v1, by the words in them.
fn order_pair(a: &str, b: &str) -> Option<(String, String)> {
    const PAIRS: &[(&str, &str)] = &[
        ("v1", "v2"),
        ("old", "new"),
        ("before", "after"),
        ("base", "head"),
        ("prev", "next"),
        ("main", "pr"),
    ];
    let words = |s: &str| -> Vec<String> {
        s.trim_end_matches(".sql")
            .to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .map(str::to_string)
            .collect()
    };
    let (wa, wb) = (words(a), words(b));
    for (first, second) in PAIRS {
        let has = |w: &[String], x: &str| w.iter().any(|t| t == x);
        if has(&wa, first) && has(&wb, second) {
            return Some((a.to_string(), b.to_string()));
        }
        if has(&wb, first) && has(&wa, second) {
            return Some((b.to_string(), a.to_string()));
        }
    }
    None
}

/// A table the transform reads, and who reads it.
#[derive(Debug, Clone)]
struct Table {
    /// The input's name in the scenario.
    name: String,
    /// The file name (before its first dot, lower-cased) that holds it.
    stem: String,
    /// For a dbt source: `source.table`, as the project names it.
    source: Option<String>,
}

/// A table and the file found for it (the one chosen, the others found),
/// if any.
#[derive(Debug, Clone)]
struct Input {
    table: Table,
    hit: Option<(String, Vec<String>)>,
}

/// The tables the transform reads that are not its own models.
fn tables(dir: &Path, kind: &Kind) -> Result<Vec<Table>> {
    let mut names: BTreeMap<String, Table> = BTreeMap::new();
    let mut add = |name: String, source: Option<String>| {
        let stem = name.to_ascii_lowercase();
        names
            .entry(stem.clone())
            .or_insert(Table { name, stem, source });
    };
    match kind {
        Kind::Pair { v1, v2 } => {
            for f in [v1, v2] {
                let sql = read(&dir.join(f))?;
                models::references(&sql)
                    .into_iter()
                    .for_each(|t| add(t, None));
            }
        }
        Kind::File { path } => {
            let sql = read(&dir.join(path))?;
            models::references(&sql)
                .into_iter()
                .for_each(|t| add(t, None));
        }
        Kind::Models { path } => folder_tables(&dir.join(path), &mut add)?,
        Kind::Folders { v1, v2, dbt: false } => {
            for f in [v1, v2] {
                folder_tables(&dir.join(f), &mut add)?;
            }
        }
        Kind::Dbt | Kind::Folders { dbt: true, .. } => {
            let projects: Vec<PathBuf> = match kind {
                Kind::Folders { v1, v2, .. } => vec![dir.join(v1), dir.join(v2)],
                _ => vec![dir.to_path_buf()],
            };
            for p in projects {
                let packages = crate::dbt::project::read_packages(&p)?;
                let project = crate::dbt::Project::read(Tree::Dir(&p), &packages)?;
                let models: Vec<&str> = project.models.iter().map(|m| m.name.as_str()).collect();
                for s in &project.sources {
                    let full = format!("{}.{}", s.source, s.table);
                    let stem = s.identifier.to_ascii_lowercase();
                    // As the project's inputs are named: a source table of a
                    // model's name is prefixed with its source.
                    let name = match models.contains(&stem.as_str()) {
                        true => format!("{}__{stem}", s.source.to_ascii_lowercase()),
                        false => stem.clone(),
                    };
                    names.entry(name.clone()).or_insert(Table {
                        name,
                        stem,
                        source: Some(full),
                    });
                }
            }
        }
    }
    Ok(names.into_values().collect())
}

/// The tables a plain model folder's models read: their `source()` tables
/// and the tables their SQL names that are not models.
fn folder_tables(folder: &Path, add: &mut impl FnMut(String, Option<String>)) -> Result<()> {
    let tree = Tree::Dir(folder);
    let mut sources = Vec::new();
    for rel in tree.files("")? {
        if rel.ends_with(".sql") {
            for s in models::sources(&tree.read(&rel)?) {
                if !sources.contains(&s) {
                    sources.push(s);
                }
            }
        }
    }
    let set = models::read(tree, &sources)?;
    for s in &sources {
        add(s.clone(), None);
    }
    for m in set.models.values() {
        for t in models::references(&m.sql) {
            if !set.models.contains_key(&t) {
                add(t, None);
            }
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Data files under the searched folders, by table name (the file name up
/// to its first dot, lower-cased; a folder of data files counts as one
/// table), each list in path order.
fn data_files(roots: &[PathBuf], skip: &[PathBuf]) -> BTreeMap<String, Vec<PathBuf>> {
    let mut found: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for root in roots {
        walk(root, 0, skip, &mut found);
    }
    for paths in found.values_mut() {
        paths.sort();
        paths.dedup();
    }
    found
}

fn walk(dir: &Path, depth: usize, skip: &[PathBuf], found: &mut BTreeMap<String, Vec<PathBuf>>) {
    if depth > 4 || skip.iter().any(|s| s == dir) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    let mut data_here = false;
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if !SKIPPED.contains(&name.as_str()) {
                walk(&path, depth + 1, skip, found);
            }
            continue;
        }
        let stem = name
            .split('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        // The formats and compressions the loader reads, as it names them.
        let plain = crate::load::text::Compression::strip(&name);
        let ext = plain.rsplit_once('.').map(|(_, e)| e);
        if ext.and_then(crate::load::Format::from_extension).is_some() && !stem.is_empty() {
            found.entry(stem).or_default().push(path);
            data_here = true;
        }
    }
    // A folder of data files (a partitioned table) is a table of its name.
    if data_here
        && depth > 0
        && let Some(name) = dir.file_name()
    {
        let name = name.to_string_lossy().to_ascii_lowercase();
        found.entry(name).or_default().push(dir.to_path_buf());
    }
}

/// `to` relative to `from` (both made absolute), with `/` separators.
fn relative(to: &Path, from: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let norm = |p: PathBuf| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other.as_os_str().to_string_lossy().into_owned()),
            }
        }
        out
    };
    let (to, from) = (norm(abs(to)), norm(abs(from)));
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(to[common..].iter().cloned());
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// A TOML string (escaped): also how names and paths appear in comments,
/// so no value can break a line of the file.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key as the file writes it: `"id"` or `["a", "b"]`.
fn key_value(key: &[String]) -> String {
    match key {
        [one] => quoted(one),
        many => format!(
            "[{}]",
            many.iter()
                .map(|k| quoted(k))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What the sample of one output says about keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Guess {
    /// Rows sampled, and whether that was the whole output.
    pub rows: u64,
    pub whole: bool,
    /// The proposed key (best first) and other candidates.
    pub key: Option<Vec<String>>,
    pub others: Vec<Vec<String>>,
}

/// Types a key may have: exact values (no floats), comparable.
fn keyable(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _)
            | DataType::Decimal128(_, _)
            | DataType::Decimal256(_, _)
    ) || matches!(t, DataType::Dictionary(_, v) if keyable(v))
}

/// How much a column's name looks like a key: `id` first, then `*_id`,
/// `*key`, `*code`, `*number`; then the rest.
fn name_rank(name: &str) -> u8 {
    let n = name.to_ascii_lowercase();
    if n == "id" {
        0
    } else if n.ends_with("_id") || name.ends_with("Id") || name.ends_with("ID") {
        1
    } else if n.ends_with("key") || n.ends_with("code") || n.ends_with("number") {
        2
    } else {
        3
    }
}

/// Columns of `sample` unique and never NULL in it: single columns first,
/// else pairs of the first keyable columns.
pub async fn guess(df: DataFrame, sample_rows: usize) -> Result<Guess> {
    let what = || "cannot sample the output".to_string();
    let sample = df.limit(0, Some(sample_rows)).context(what)?;
    let batches = sample.collect().await.context(what)?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| std::sync::Arc::new(Schema::empty()));
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let whole = rows < sample_rows as u64;
    let mut g = Guess {
        rows,
        whole,
        key: None,
        others: Vec::new(),
    };
    if rows == 0 {
        return Ok(g);
    }
    let ctx = datafusion::prelude::SessionContext::new();
    let table =
        datafusion::datasource::MemTable::try_new(schema.clone(), vec![batches]).context(what)?;
    let t = ctx.read_table(std::sync::Arc::new(table)).context(what)?;
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .filter(|f| keyable(f.data_type()))
        .map(|f| f.name().clone())
        .collect();
    if cols.is_empty() {
        return Ok(g);
    }
    let c = |n: &str| Expr::Column(Column::from_name(n));
    let mut aggs = Vec::new();
    for (i, n) in cols.iter().enumerate() {
        aggs.push(count(c(n)).alias(format!("n{i}")));
        aggs.push(count_distinct(c(n)).alias(format!("d{i}")));
    }
    let stats = t
        .clone()
        .aggregate(vec![], aggs)
        .context(what)?
        .collect()
        .await
        .context(what)?;
    let value = |name: &str| -> u64 {
        stats
            .first()
            .and_then(|b| b.column_by_name(name))
            .and_then(|a| a.as_any().downcast_ref::<Int64Array>().map(|a| a.value(0)))
            .unwrap_or(0) as u64
    };
    let non_null: Vec<bool> = (0..cols.len())
        .map(|i| value(&format!("n{i}")) == rows)
        .collect();
    let mut singles: Vec<(u8, usize)> = (0..cols.len())
        .filter(|&i| non_null[i] && value(&format!("d{i}")) == rows)
        .map(|i| (name_rank(&cols[i]), i))
        .collect();
    singles.sort();
    let mut found: Vec<Vec<String>> = Vec::new();
    // A column unique by chance (a name, an amount) is a worse guess than an
    // id that is unique together with one more column: pairs are looked for
    // unless a single column is named like a key, and only pairs holding
    // such a column, unless no single column is unique at all.
    if singles.first().is_none_or(|(rank, _)| *rank > 2) {
        let mut firsts: Vec<usize> = (0..cols.len()).filter(|&i| non_null[i]).collect();
        firsts.sort_by_key(|&i| (name_rank(&cols[i]), i));
        firsts.truncate(8);
        let any_pair = singles.is_empty();
        'pairs: for (x, &a) in firsts.iter().enumerate() {
            for &b in &firsts[x + 1..] {
                if !any_pair && name_rank(&cols[a]).min(name_rank(&cols[b])) > 2 {
                    continue;
                }
                let (a, b) = (a.min(b), a.max(b));
                let distinct = t
                    .clone()
                    .aggregate(vec![c(&cols[a]), c(&cols[b])], vec![])
                    .context(what)?
                    .count()
                    .await
                    .context(what)? as u64;
                if distinct == rows {
                    found.push(vec![cols[a].clone(), cols[b].clone()]);
                    if found.len() >= 3 {
                        break 'pairs;
                    }
                }
            }
        }
    }
    found.extend(singles.iter().map(|(_, i)| vec![cols[*i].clone()]));
    let mut found = found.into_iter();
    g.key = found.next();
    g.others = found.take(4).collect();
    Ok(g)
}

/// What was found for one output: the key its project declares, a guess
/// from its data, and why it could not be planned (then nothing is
/// guessed).
#[derive(Debug, Clone, Default)]
struct Found {
    declared: Option<(Vec<String>, String)>,
    guess: Option<Guess>,
    failed: Option<String>,
}

/// `text` on one line: control characters and runs of blanks as one space.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Draft the scenario for `opts.dir`.
pub async fn draft(opts: &Options) -> Result<Draft> {
    let dir = &opts.dir;
    if !dir.is_dir() {
        return Err(usage(dir, "no such folder"));
    }
    let kind = classify(dir)?;
    let config_path = dir.join(crate::config::FILE_NAME);
    let tables = tables(dir, &kind)?;
    let mut roots = vec![dir.clone()];
    roots.extend(opts.data.iter().cloned());
    // Seeds are inputs of their own; never matched to source tables.
    let skip = seed_folders(dir, &kind);
    let files = data_files(&roots, &skip);
    let mut inputs: Vec<Input> = Vec::new();
    for t in tables {
        let hit = files.get(&t.stem).map(|paths| {
            let mut shown: Vec<String> = paths.iter().map(|p| relative(p, dir)).collect();
            // Prefer a typed file, then the shortest path.
            shown.sort_by_key(|p| (!p.ends_with(".parquet"), p.len(), p.clone()));
            let first = shown.remove(0);
            (first, shown)
        });
        // A name no input can have (quoted, mixed case) is left to the user.
        let hit = hit.filter(|_| crate::load::validate_table_name(&t.name).is_ok());
        inputs.push(Input { table: t, hit });
    }
    let found = plan_and_guess(&kind, &inputs, &config_path, opts).await?;
    Ok(Draft {
        path: config_path,
        text: write(&kind, &inputs, &found, opts.sample_rows),
    })
}

/// The seed folders of a dbt project (of each version): not searched.
fn seed_folders(dir: &Path, kind: &Kind) -> Vec<PathBuf> {
    let projects: Vec<PathBuf> = match kind {
        Kind::Dbt => vec![dir.to_path_buf()],
        Kind::Folders { v1, v2, dbt: true } => vec![dir.join(v1), dir.join(v2)],
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for p in projects {
        let Ok(project) = crate::dbt::Project::read(Tree::Dir(&p), &[]) else {
            continue;
        };
        out.extend(project.seed_paths.iter().map(|s| p.join(s)));
    }
    out
}

/// Plan v2 of the draft over the inputs found and look for keys in each
/// output.
async fn plan_and_guess(
    kind: &Kind,
    inputs: &[Input],
    config_path: &Path,
    opts: &Options,
) -> Result<BTreeMap<String, Found>> {
    let mut text = String::from("[inputs]\n");
    for Input { table: t, hit } in inputs {
        if let Some((path, _)) = hit {
            writeln!(text, "{} = {}", t.name, quoted(path)).ok();
        }
    }
    write!(text, "[transform]\n{}", kind.planned()).ok();
    let loaded = crate::config::from_text(config_path, &text)?;
    let dir = opts.dir.display().to_string();
    let cli = <crate::cli::Cli as clap::Parser>::try_parse_from([
        "diffgate",
        "check",
        dir.as_str(),
        "--threads",
        "1",
    ])
    .map_err(|e| Error::Usage(e.to_string()))?;
    let crate::cli::Command::Check(args) = &cli.command else {
        unreachable!("parsed as check");
    };
    let job = crate::resolve::scenario_job(&loaded, args, true)?;
    // Messages name files as the folder was given; the draft names them
    // relative to it, so it reads the same wherever init ran from.
    let prefix = format!("{}/", opts.dir.display());
    // The keys the project declared (a model folder's come from the
    // draft, which sets none).
    let declared: BTreeMap<String, (Vec<String>, String)> = match job.transforms() {
        Some(t) => match &t.versions {
            crate::pipeline::Versions::Folder(m) => m
                .key_from
                .iter()
                .filter_map(|(name, from)| {
                    let key = m.keys.get(name)?.clone();
                    Some((name.clone(), (key, from.replace(&prefix, ""))))
                })
                .collect(),
            _ => BTreeMap::new(),
        },
        None => BTreeMap::new(),
    };
    let planned = crate::pipeline::plan_v2(&job).await?;
    let mut found = BTreeMap::new();
    for (name, output) in planned.outputs {
        let mut f = Found {
            declared: declared.get(&name).cloned(),
            ..Found::default()
        };
        match output {
            Ok(_) if f.declared.is_some() => {}
            Ok(df) => f.guess = Some(guess(df, opts.sample_rows).await?),
            Err(e) => f.failed = Some(one_line(&e.replace(&prefix, ""))),
        }
        found.insert(name, f);
    }
    Ok(found)
}

/// The file: a header, then inputs, transform, keys, each commented.
fn write(
    kind: &Kind,
    inputs: &[Input],
    found: &BTreeMap<String, Found>,
    sample_rows: usize,
) -> String {
    let mut s = String::new();
    s.push_str(
        "# Drafted by `diffgate init`: each value was found in this folder or guessed\n\
         # from its data, and says which. Read it, then run `diffgate run` on the\n\
         # folder (`diffgate check` plans both versions without reading data).\n\
         # Reference: the README's \"The scenario file\".\n\n",
    );
    let missing: Vec<&Table> = inputs
        .iter()
        .filter(|i| i.hit.is_none())
        .map(|i| &i.table)
        .collect();
    let read_by = |t: &Table| match &t.source {
        Some(s) => format!("source {}", quoted(s)),
        None => "read by the SQL".to_string(),
    };
    if !inputs.is_empty() {
        s.push_str("[inputs]\n");
        s.push_str(if kind.is_dbt() {
            "# The project's source tables, matched to files by name (seeds are read as\n\
             # dbt reads them and need no entry). A path may be a folder of files or an\n\
             # s3://, gs://, az:// or https:// URL.\n"
        } else {
            "# The tables the SQL reads, matched to files by name. A path may be a folder\n\
             # of files or an s3://, gs://, az:// or https:// URL.\n"
        });
        for Input { table: t, hit } in inputs {
            if let Some((path, others)) = hit {
                let also = match others.len() {
                    0 => String::new(),
                    _ => format!(
                        "  # also found: {}",
                        others
                            .iter()
                            .take(3)
                            .map(|o| quoted(o))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                if t.source.is_some() {
                    writeln!(s, "# {}", read_by(t)).ok();
                }
                writeln!(s, "{} = {}{also}", t.name, quoted(path)).ok();
            }
        }
        for t in &missing {
            writeln!(
                s,
                "# {} = \"PATH\"  # {}: no file named {}.* found",
                match crate::load::validate_table_name(&t.name) {
                    Ok(()) => t.name.clone(),
                    Err(_) => quoted(&t.name),
                },
                read_by(t),
                one_line(&t.stem)
            )
            .ok();
        }
        s.push('\n');
    }
    s.push_str("[transform]\n");
    s.push_str(&kind.transform());
    s.push_str(
        "# The warehouse the SQL is written for, if not DataFusion's own SQL (or a dbt\n\
         # profile's): snowflake, bigquery, duckdb, postgres, redshift, databricks.\n\
         # dialect = \"snowflake\"\n",
    );
    let sampled = |g: &Guess| {
        if g.whole {
            format!("all {} rows of v2's output", g.rows)
        } else {
            format!("the first {sample_rows} rows of v2's output")
        }
    };
    let one_output = !kind.has_models();
    for (name, f) in found {
        s.push('\n');
        if one_output {
            s.push_str("[compare]\n");
        } else {
            writeln!(s, "[models.{name}]").ok();
        }
        if let Some((key, from)) = &f.declared {
            writeln!(
                s,
                "# Key {}: {from}.\n\
                 # diffgate reads it from the project on every run; uncomment to use\n\
                 # another.",
                key_value(key),
            )
            .ok();
        }
        if let Some(e) = &f.failed {
            writeln!(s, "# v2 could not be planned here: {e}").ok();
        }
        match (&f.declared, &f.guess) {
            (Some((key, _)), _) => {
                writeln!(s, "# key = {}", key_value(key)).ok();
            }
            (None, None) => s.push_str("# key = \"COLUMN\"\n"),
            (None, Some(g)) => match &g.key {
                Some(key) => {
                    let what = if key.len() == 1 {
                        "it is unique and never NULL"
                    } else {
                        "they are unique together and never NULL"
                    };
                    writeln!(s, "# A guess from {}, where {what}.", sampled(g)).ok();
                    if !g.others.is_empty() {
                        let others: Vec<String> = g.others.iter().map(|k| key_value(k)).collect();
                        writeln!(s, "# Also so there: {}.", others.join(", ")).ok();
                    }
                    writeln!(s, "key = {}", key_value(key)).ok();
                }
                None if g.rows == 0 => {
                    s.push_str(
                        "# v2's output has no rows here, so no key could be guessed. Without a\n\
                         # key, whole rows are compared as a multiset.\n# key = \"COLUMN\"\n",
                    );
                }
                None => {
                    writeln!(
                        s,
                        "# No column (or pair) is unique and never NULL in {}. Without\n\
                         # a key, whole rows are compared as a multiset.\n# key = \"COLUMN\"",
                        sampled(g)
                    )
                    .ok();
                }
            },
        }
    }
    if found.is_empty() {
        s.push_str("\n[compare]\n# key = \"COLUMN\"\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_ordered_by_the_words_in_their_names() {
        let p = |a: &str, b: &str| order_pair(a, b).map(|(x, y)| format!("{x} {y}"));
        assert_eq!(p("v2.sql", "v1.sql").as_deref(), Some("v1.sql v2.sql"));
        assert_eq!(
            p("orders_new.sql", "orders_old.sql").as_deref(),
            Some("orders_old.sql orders_new.sql")
        );
        assert_eq!(
            p("after.sql", "before.sql").as_deref(),
            Some("before.sql after.sql")
        );
        assert_eq!(p("a.sql", "b.sql"), None);
        // A word, not a substring: "renew" is not "new".
        assert_eq!(p("renew.sql", "cold.sql"), None);
    }

    #[test]
    fn relative_paths_climb_out_of_the_folder() {
        assert_eq!(
            relative(Path::new("/a/b/c.csv"), Path::new("/a/d")),
            "../b/c.csv"
        );
        assert_eq!(
            relative(Path::new("/a/d/x/c.csv"), Path::new("/a/d")),
            "x/c.csv"
        );
        assert_eq!(relative(Path::new("/a/d"), Path::new("/a/d")), ".");
    }

    #[test]
    fn names_in_comments_cannot_break_a_line() {
        let hostile = "a\n# key = \"x\"\\\u{7f}\u{85}\r";
        let q = quoted(hostile);
        assert!(!q.contains(['\n', '\r', '\u{7f}', '\u{85}']), "{q}");
        // And it is the TOML string of what it quotes.
        let back: toml::Table = toml::from_str(&format!("k = {q}")).unwrap();
        assert_eq!(back["k"].as_str(), Some(hostile));
        assert_eq!(key_value(&["a".into(), "b".into()]), r#"["a", "b"]"#);
    }

    #[test]
    fn key_names_rank_ids_first() {
        let mut names = vec!["paid", "name", "order_id", "id", "sku_code", "orderId"];
        names.sort_by_key(|n| name_rank(n));
        assert_eq!(
            names,
            ["id", "order_id", "orderId", "sku_code", "paid", "name"]
        );
    }
}
