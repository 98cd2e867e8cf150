//! dbt projects as a transform: a folder holding `dbt_project.yml` is read
//! the way dbt reads it and its models rendered, so that the rest of the
//! pipeline sees what it sees for any folder of models: one query per
//! model, reading inputs and other models by name.
//!
//! This module owns what dbt knows before a warehouse is involved:
//! - the project file (paths, vars, model and seed configs), the YAML files
//!   beside the models (sources, tests, constraints), seeds and installed
//!   packages ([`project`]);
//! - where each source table and seed comes from, as an input;
//! - each model's Jinja rendered with dbt's context, macros and packages
//!   ([`jinja`]), and its key taken from the project (`unique_key`, a
//!   primary-key constraint, a `unique` or `unique_combination_of_columns`
//!   test), saying where it came from.
//!
//! A model that cannot be rendered is recorded with its error instead of
//! stopping the others; the pipeline decides whether it was needed.

pub mod jinja;
pub mod project;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::git::{Commit, Repo};

pub use project::Project;

/// The file dbt reads a project from.
pub const PROJECT_FILE: &str = "dbt_project.yml";

/// Whether `dir` (in the working tree) is a dbt project.
pub fn is_project(dir: &Path) -> bool {
    dir.join(PROJECT_FILE).is_file()
}

/// The files of one version of a project: the working tree, or a commit.
#[derive(Clone, Copy)]
pub enum Tree<'a> {
    /// The project folder in the working tree.
    Dir(&'a Path),
    /// The project folder `rel` (inside `repo`) at `commit`; `dir` is where
    /// it is in the working tree.
    Git {
        repo: &'a Repo,
        commit: &'a Commit,
        rel: &'a str,
        dir: &'a Path,
    },
}

impl Tree<'_> {
    /// The project folder as the working tree has it.
    pub fn dir(&self) -> &Path {
        match self {
            Tree::Dir(d) => d,
            Tree::Git { dir, .. } => dir,
        }
    }

    /// How messages name file `rel` of this version: its path, with the
    /// git ref when read from git.
    pub fn shown(&self, rel: &str) -> String {
        let p = self.dir().join(rel);
        match self {
            Tree::Dir(_) => p.display().to_string(),
            Tree::Git { commit, .. } => format!("{} @ {}", p.display(), commit.describe()),
        }
    }

    /// Files under folder `sub` (relative to the project), as paths
    /// relative to the project, sorted; hidden files and folders left out.
    /// A folder that does not exist holds none.
    pub fn files(&self, sub: &str) -> Result<Vec<String>> {
        let sub = sub.trim_end_matches('/');
        let mut out = Vec::new();
        match self {
            Tree::Dir(root) => {
                let start = if sub.is_empty() || sub == "." {
                    root.to_path_buf()
                } else {
                    root.join(sub)
                };
                if !start.is_dir() {
                    return Ok(out);
                }
                let mut stack = vec![start];
                while let Some(d) = stack.pop() {
                    let entries = std::fs::read_dir(&d).map_err(|e| io(&d, e))?;
                    for entry in entries {
                        let entry = entry.map_err(|e| io(&d, e))?;
                        if entry.file_name().to_string_lossy().starts_with('.') {
                            continue;
                        }
                        let p = entry.path();
                        if p.is_dir() {
                            stack.push(p);
                        } else if let Ok(rel) = p.strip_prefix(root) {
                            let parts: Vec<String> = rel
                                .components()
                                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                                .collect();
                            out.push(parts.join("/"));
                        }
                    }
                }
            }
            Tree::Git {
                repo, commit, rel, ..
            } => {
                let at = join(rel, sub);
                if !repo.is_dir(commit, &at) {
                    return Ok(out);
                }
                for f in repo.list(commit, &at)? {
                    if f.split('/').any(|part| part.starts_with('.')) {
                        continue;
                    }
                    out.push(join(sub, &f));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Whether file `rel` (relative to the project) exists.
    pub fn exists(&self, rel: &str) -> bool {
        match self {
            Tree::Dir(root) => root.join(rel).is_file(),
            Tree::Git {
                repo,
                commit,
                rel: root,
                ..
            } => repo.is_file(commit, &join(root, rel)),
        }
    }

    /// The text of file `rel` (relative to the project).
    pub fn read(&self, rel: &str) -> Result<String> {
        match self {
            Tree::Dir(root) => {
                let p = root.join(rel);
                std::fs::read_to_string(&p).map_err(|e| io(&p, e))
            }
            Tree::Git {
                repo,
                commit,
                rel: root,
                ..
            } => repo.read(commit, &join(root, rel)),
        }
    }
}

fn join(a: &str, b: &str) -> String {
    let a = a.trim_end_matches('/');
    let b = b.trim_start_matches("./");
    if a.is_empty() || a == "." {
        b.to_string()
    } else if b.is_empty() || b == "." {
        a.to_string()
    } else {
        format!("{a}/{b}")
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Settings of a dbt run that come from the command line or the scenario
/// file rather than the project.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--vars`: values that win over the project's `vars:`.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// `--target`: the profile target `target.name` names.
    pub target: Option<String>,
    /// The warehouse whose SQL the models are written in (`target.type`,
    /// and the dispatch order of macros).
    pub warehouse: Option<crate::engine::Warehouse>,
    /// Where source tables are looked for as files, when no `[inputs]`
    /// entry names them.
    pub data: Option<PathBuf>,
}

/// An error about the project itself (not one model).
pub(crate) fn project_error(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
    Error::Models {
        path: path.into(),
        message: message.into(),
    }
}

/// Both versions of a dbt project, resolved: the inputs its sources and
/// seeds stand for, each version's rendered models, the keys the project
/// declares and what the report should say about each model.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Inputs beyond the declared ones: seeds, and source tables found as
    /// files under the data folder.
    pub inputs: Vec<crate::load::InputSource>,
    pub v1: crate::models::ModelSet,
    pub v2: crate::models::ModelSet,
    /// Keys by model, with where each came from.
    pub keys: BTreeMap<String, (Vec<String>, String)>,
    /// Notes by model (e.g. `is_incremental()` taken as false).
    pub notes: BTreeMap<String, Vec<String>>,
    /// The warehouse the project is written for (option, else profile).
    pub warehouse: Option<crate::engine::Warehouse>,
}

/// Formats a source table may be stored in under the data folder.
const DATA_EXTENSIONS: &[&str] = &["parquet", "csv", "tsv", "json", "ndjson", "jsonl", "arrow"];

/// Resolve both versions of a project. `declared` are the inputs of the
/// scenario file (they win over seeds and data files of the same name).
pub fn resolve(
    v1: Tree<'_>,
    v2: Tree<'_>,
    options: &Options,
    declared: &[String],
) -> Result<Resolved> {
    // Seeds and installed packages are the working tree's (v2's) for both.
    let p1 = Project::read(v1, v2.dir())?;
    let p2 = Project::read(v2, v2.dir())?;
    let profile = project::profile(v2.dir(), p2.profile.as_deref(), options.target.as_deref());
    let warehouse = options.warehouse.or_else(|| {
        profile
            .adapter
            .as_deref()
            .and_then(crate::engine::Warehouse::parse)
    });
    let target = jinja::Target {
        name: profile.target.clone(),
        schema: profile.schema.clone().unwrap_or_else(|| "main".into()),
        database: profile.database.clone().unwrap_or_else(|| p2.name.clone()),
        warehouse,
    };
    let model_names: std::collections::BTreeSet<String> = p1
        .models
        .iter()
        .chain(&p2.models)
        .map(|m| m.name.clone())
        .collect();
    // Seeds (of the working tree) are inputs named after their files.
    let mut inputs = Vec::new();
    let mut seeds = BTreeMap::new();
    for seed in &p2.seeds {
        if declared.contains(&seed.name) {
            seeds.insert(seed.name.clone(), seed.name.clone());
            continue;
        }
        crate::load::validate_table_name(&seed.name)
            .map_err(|m| project_error(&seed.path, format!("seed `{}`: {m}", seed.name)))?;
        let mut input = crate::load::InputSource::new(seed.name.clone(), seed.path.clone());
        for (column, t) in &seed.column_types {
            let dt = seed_type(t).map_err(|m| {
                project_error(
                    &seed.path,
                    format!("seed `{}`: column_types.{column}: {m}", seed.name),
                )
            })?;
            input.types.push((column.clone(), dt));
        }
        seeds.insert(seed.name.clone(), seed.name.clone());
        inputs.push(input);
    }
    // Source tables: a declared input, a seed, or a file under the data
    // folder, each named after the table's identifier (prefixed with its
    // source where that name is taken).
    let mut sources = BTreeMap::new();
    let mut taken: std::collections::BTreeSet<String> =
        inputs.iter().map(|i| i.name.clone()).collect();
    let all_sources: BTreeMap<(String, String), &project::SourceTable> = p2
        .sources
        .iter()
        .chain(&p1.sources)
        .map(|s| ((s.source.clone(), s.table.clone()), s))
        .collect();
    for ((source, table), s) in &all_sources {
        let ident = s.identifier.to_ascii_lowercase();
        let qualified = format!("{}__{ident}", source.to_ascii_lowercase());
        let found = if let Some(d) = [&qualified, &ident]
            .into_iter()
            .find(|n| declared.contains(n))
        {
            Ok(d.clone())
        } else if let Some(seed) = seeds.get(&ident) {
            Ok(seed.clone())
        } else {
            match data_file(options.data.as_deref(), source, &s.identifier) {
                Some(path) => {
                    let name = if taken.contains(&ident) || model_names.contains(&ident) {
                        qualified.clone()
                    } else {
                        ident.clone()
                    };
                    match crate::load::validate_table_name(&name) {
                        Ok(()) => {
                            taken.insert(name.clone());
                            inputs.push(crate::load::InputSource::new(name.clone(), path));
                            Ok(name)
                        }
                        Err(m) => Err(m),
                    }
                }
                None => Err(format!(
                    "no data for it: add `{ident} = \"PATH\"` under [inputs] in diffgate.toml, {}",
                    match &options.data {
                        Some(d) => format!(
                            "or put {ident}.parquet (or .csv, .json, or a folder {ident}/) under {}",
                            d.display()
                        ),
                        None => format!(
                            "or set `[dbt] data = \"DIR\"` to a folder holding {ident}.parquet (or .csv, .json, or a folder {ident}/)"
                        ),
                    }
                )),
            }
        };
        sources.insert((source.clone(), table.clone()), found);
    }
    let names = |p: &Project| jinja::Names {
        models: p.models.iter().map(|m| m.name.clone()).collect(),
        seeds: seeds.clone(),
        sources: sources.clone(),
    };
    let mut notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut configs: BTreeMap<String, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
    let mut sets = Vec::new();
    for (version, p, tree) in [("v1", &p1, v1), ("v2", &p2, v2)] {
        let mut r = jinja::Renderer::new(p, names(p), options.vars.clone(), target.clone())
            .map_err(|m| project_error(tree.shown(PROJECT_FILE), format!("{version}: {m}")))?;
        let mut set = crate::models::ModelSet::default();
        for m in &p.models {
            let mut config = BTreeMap::new();
            for (k, v) in p.model_config(m) {
                let mut json = serde_json::to_value(&v).unwrap_or(serde_json::Value::Null);
                if let serde_json::Value::String(s) = &json
                    && s.contains("{{")
                {
                    json = match r.render_setting(s) {
                        Ok(out) => serde_json::Value::String(out.trim().to_string()),
                        Err(_) => json,
                    };
                }
                config.insert(k, json);
            }
            if let Some(e) = p.model_yaml.get(&m.name).and_then(|y| y.enabled.as_ref()) {
                config.insert(
                    "enabled".into(),
                    serde_json::to_value(e).unwrap_or_default(),
                );
            }
            let path = PathBuf::from(m.file.shown.clone());
            let model = match r.render(m, &config) {
                Ok(out) => {
                    if !enabled(out.config.get("enabled")) {
                        continue;
                    }
                    if out.incremental {
                        let note = "is_incremental() is false in both versions: each is built as a full refresh over the same inputs".to_string();
                        let n = notes.entry(m.name.clone()).or_default();
                        if !n.contains(&note) {
                            n.push(note);
                        }
                    }
                    if version == "v2" {
                        configs.insert(m.name.clone(), out.config.clone());
                    }
                    let error = crate::load::validate_table_name(&m.name)
                        .err()
                        .map(|e| format!("{}: model name: {e}", m.file.shown));
                    crate::models::Model {
                        path,
                        sql: out.sql,
                        raw: m.file.text.clone(),
                        upstream: out.refs.into_iter().filter(|r| *r != m.name).collect(),
                        error,
                    }
                }
                Err(e) => crate::models::Model {
                    path,
                    sql: String::new(),
                    raw: m.file.text.clone(),
                    upstream: Default::default(),
                    error: Some(e),
                },
            };
            if set.models.insert(m.name.clone(), model).is_some() {
                return Err(project_error(
                    &m.file.shown,
                    format!("{version}: model `{}` is defined twice", m.name),
                ));
            }
        }
        if set.models.is_empty() {
            return Err(project_error(
                tree.shown(PROJECT_FILE),
                format!(
                    "{version}: the project has no enabled models under {}",
                    p.model_paths.join(", ")
                ),
            ));
        }
        sets.push(set);
    }
    let v2_set = sets.pop().unwrap_or_default();
    let v1_set = sets.pop().unwrap_or_default();
    let keys = keys(&p2, &configs);
    Ok(Resolved {
        inputs,
        v1: v1_set,
        v2: v2_set,
        keys,
        notes,
        warehouse,
    })
}

/// Whether a model's `enabled` config leaves it in.
fn enabled(v: Option<&serde_json::Value>) -> bool {
    match v {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => !s.trim().eq_ignore_ascii_case("false"),
        _ => true,
    }
}

/// Each model's key as the project declares it, and where it came from:
/// `unique_key`, then a primary-key constraint, then a
/// `unique_combination_of_columns` test, then a `unique` test.
fn keys(
    p: &Project,
    configs: &BTreeMap<String, BTreeMap<String, serde_json::Value>>,
) -> BTreeMap<String, (Vec<String>, String)> {
    let mut out = BTreeMap::new();
    for m in &p.models {
        let yaml = p.model_yaml.get(&m.name);
        let config_key = configs
            .get(&m.name)
            .and_then(|c| c.get("unique_key"))
            .and_then(|v| serde_yaml_ng::to_value(v).ok())
            .and_then(|v| project::columns(&v));
        let yml = |y: &project::ModelYaml| y.file.clone();
        let found = if let Some(k) = config_key {
            Some((k, format!("the model's unique_key ({})", m.file.shown)))
        } else if let Some(y) = yaml {
            if let Some(k) = &y.primary_key {
                Some((
                    k.clone(),
                    format!("its primary-key constraint in {}", yml(y)),
                ))
            } else if let Some(k) = &y.unique_combination {
                Some((
                    k.clone(),
                    format!("its unique_combination_of_columns test in {}", yml(y)),
                ))
            } else {
                y.unique_columns.first().map(|c| {
                    (
                        vec![c.clone()],
                        format!("the unique test on `{c}` in {}", yml(y)),
                    )
                })
            }
        } else {
            None
        };
        if let Some(k) = found {
            out.insert(m.name.clone(), k);
        }
    }
    out
}

/// A source table's file or folder under the data folder.
fn data_file(data: Option<&Path>, source: &str, table: &str) -> Option<PathBuf> {
    let data = data?;
    for dir in [data.join(source), data.to_path_buf()] {
        for name in [table.to_string(), table.to_ascii_lowercase()] {
            let folder = dir.join(&name);
            if folder.is_dir() {
                return Some(folder);
            }
            for ext in DATA_EXTENSIONS {
                let f = dir.join(format!("{name}.{ext}"));
                if f.is_file() {
                    return Some(f);
                }
            }
        }
    }
    None
}

/// A seed's `column_types` entry as a load type.
fn seed_type(t: &str) -> std::result::Result<datafusion::arrow::datatypes::DataType, String> {
    let base = t.split('(').next().unwrap_or(t).trim().to_ascii_lowercase();
    let name = match base.as_str() {
        "varchar" | "text" | "string" | "char" | "character varying" => "string",
        "integer" | "int" | "bigint" | "smallint" | "int4" | "int8" | "number"
            if !t.contains(',') =>
        {
            "int64"
        }
        "numeric" | "decimal" | "number" | "float" | "float8" | "double" | "double precision"
        | "real" => "float64",
        "timestamp" | "timestamp_ntz" | "timestamp_tz" | "timestamp_ltz" | "datetime"
        | "timestamptz" => "timestamp",
        other => other,
    };
    crate::load::parse_declared_type(name)
}
