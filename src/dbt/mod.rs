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

pub use crate::models::Tree;
pub use project::Project;

/// The file dbt reads a project from.
pub const PROJECT_FILE: &str = "dbt_project.yml";

/// Whether `dir` (in the working tree) is a dbt project.
pub fn is_project(dir: &Path) -> bool {
    dir.join(PROJECT_FILE).is_file()
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
    /// Contracts by model from its YAML tests (`not_null`, `unique`,
    /// `accepted_values`), with the YAML file.
    pub contracts: BTreeMap<String, (crate::compare::contract::ContractSpec, String)>,
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
    let packages = project::read_packages(v2.dir())?;
    let p1 = Project::read(v1, &packages)?;
    let p2 = Project::read(v2, &packages)?;
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
    let found = Inputs::find(&p1, &p2, v2.dir(), options, declared)?;
    let shared = Shared {
        packages: &packages,
        found: &found,
        options,
        target: &target,
    };
    let mut notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (v1_set, _) = render_version("v1", &p1, v1, &shared, &mut notes)?;
    let (v2_set, configs) = render_version("v2", &p2, v2, &shared, &mut notes)?;
    let contracts = contracts(&p2, &found);
    Ok(Resolved {
        inputs: found.added,
        v1: v1_set,
        v2: v2_set,
        keys: keys(&p2, &configs),
        contracts,
        notes,
        warehouse,
    })
}

/// The inputs a project's seeds and source tables stand for.
struct Inputs {
    /// Inputs beyond the declared ones.
    added: Vec<crate::load::InputSource>,
    /// Seed name → input.
    seeds: BTreeMap<String, String>,
    /// (source, table) → input, or why there is none.
    sources: BTreeMap<(String, String), std::result::Result<String, String>>,
}

impl Inputs {
    /// Seeds of the working tree's project folder `dir` are inputs named
    /// after their files. A source table is a declared input, a seed, or a
    /// file under the data folder, named after the table's identifier
    /// (prefixed with its source where that name is taken).
    fn find(
        p1: &Project,
        p2: &Project,
        dir: &Path,
        options: &Options,
        declared: &[String],
    ) -> Result<Inputs> {
        let mut found = Inputs {
            added: Vec::new(),
            seeds: BTreeMap::new(),
            sources: BTreeMap::new(),
        };
        for seed in p2.seeds(dir)? {
            found.seeds.insert(seed.name.clone(), seed.name.clone());
            if declared.contains(&seed.name) {
                continue;
            }
            let error = |m: String| project_error(&seed.path, format!("seed `{}`: {m}", seed.name));
            crate::load::validate_table_name(&seed.name).map_err(error)?;
            let mut input = crate::load::InputSource::new(seed.name.clone(), seed.path.clone());
            for (column, t) in &seed.column_types {
                let dt = seed_type(t).map_err(|m| error(format!("column_types.{column}: {m}")))?;
                input.types.push((column.clone(), dt));
            }
            found.added.push(input);
        }
        let models: std::collections::BTreeSet<&str> = p1
            .models
            .iter()
            .chain(&p2.models)
            .map(|m| m.name.as_str())
            .collect();
        let tables: BTreeMap<(String, String), &project::SourceTable> = p2
            .sources
            .iter()
            .chain(&p1.sources)
            .map(|s| ((s.source.clone(), s.table.clone()), s))
            .collect();
        for (at, s) in tables {
            let input = found.source(s, &models, options, declared);
            found.sources.insert(at, input);
        }
        Ok(found)
    }

    /// The input source table `s` reads, adding it when it is a data file.
    fn source(
        &mut self,
        s: &project::SourceTable,
        models: &std::collections::BTreeSet<&str>,
        options: &Options,
        declared: &[String],
    ) -> std::result::Result<String, String> {
        let ident = s.identifier.to_ascii_lowercase();
        let qualified = format!("{}__{ident}", s.source.to_ascii_lowercase());
        // A model of the table's name leaves only the qualified name.
        let free = |n: &&String| **n != ident || !models.contains(ident.as_str());
        if let Some(d) = [&qualified, &ident]
            .into_iter()
            .find(|n| declared.contains(n) && free(n))
        {
            return Ok(d.clone());
        }
        if let Some(seed) = self.seeds.get(&ident) {
            return Ok(seed.clone());
        }
        let Some(path) = data_file(options.data.as_deref(), &s.source, &s.identifier) else {
            let put = format!("{ident}.parquet (or .csv, .json, or a folder {ident}/)");
            // The input name a model of the same name leaves free.
            let named = match models.contains(ident.as_str()) {
                true => &qualified,
                false => &ident,
            };
            return Err(format!(
                "no data for it: add `{named} = \"PATH\"` under [inputs] in diffgate.toml, {}",
                match &options.data {
                    Some(d) => format!("or put {put} under {}", d.display()),
                    None => format!("or set `[dbt] data = \"DIR\"` to a folder holding {put}"),
                }
            ));
        };
        let taken = self.added.iter().any(|i| i.name == ident) || models.contains(ident.as_str());
        let name = if taken { qualified } else { ident };
        crate::load::validate_table_name(&name)?;
        self.added
            .push(crate::load::InputSource::new(name.clone(), path));
        Ok(name)
    }
}

/// Each model's config as it rendered, by model.
type Configs = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

/// What both versions render with.
struct Shared<'a> {
    packages: &'a [project::Package],
    found: &'a Inputs,
    options: &'a Options,
    target: &'a jinja::Target,
}

/// Render every model of one version: its models (a model that cannot be
/// rendered holds its error) and, by model, the config each rendered with.
/// Notes about models (`is_incremental()`) are added to `notes`.
fn render_version(
    version: &str,
    p: &Project,
    tree: Tree<'_>,
    shared: &Shared<'_>,
    notes: &mut BTreeMap<String, Vec<String>>,
) -> Result<(crate::models::ModelSet, Configs)> {
    let names = jinja::Names {
        models: p.models.iter().map(|m| m.name.clone()).collect(),
        seeds: shared.found.seeds.clone(),
        sources: shared.found.sources.clone(),
    };
    let vars = shared.options.vars.clone();
    let mut r = jinja::Renderer::new(p, shared.packages, names, vars, shared.target.clone())
        .map_err(|m| project_error(tree.shown(PROJECT_FILE), format!("{version}: {m}")))?;
    let mut set = crate::models::ModelSet::default();
    let mut configs = BTreeMap::new();
    // What a model that asks for columns renders with again.
    let mut again: BTreeMap<String, (project::ModelFile, BTreeMap<String, serde_json::Value>)> =
        BTreeMap::new();
    for m in &p.models {
        let config = model_config(p, m, &r);
        let rendered = config.clone().and_then(|config| r.render(m, &config, None));
        let path = PathBuf::from(m.file.shown.clone());
        let model = match rendered {
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
                configs.insert(m.name.clone(), out.config);
                if !out.introspected.is_empty()
                    && let Ok(config) = config
                {
                    again.insert(m.name.clone(), (m.clone(), config));
                }
                crate::models::Model {
                    path,
                    shown: m.file.shown.clone(),
                    sql: out.sql,
                    raw: m.file.text.clone(),
                    upstream: out.refs.into_iter().filter(|r| *r != m.name).collect(),
                    error: crate::load::validate_table_name(&m.name)
                        .err()
                        .map(|e| format!("{}: model name: {e}", m.file.shown)),
                    introspected: out.introspected,
                }
            }
            Err(e) => crate::models::Model {
                path,
                shown: m.file.shown.clone(),
                sql: String::new(),
                raw: m.file.text.clone(),
                upstream: Default::default(),
                error: Some(e),
                introspected: Default::default(),
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
    if !again.is_empty() {
        let r = std::sync::Mutex::new(r);
        set.rerender = Some(crate::models::Rerender(std::sync::Arc::new(
            move |name: &str, columns| {
                let (m, config) = again
                    .get(name)
                    .ok_or_else(|| format!("model `{name}` asked for no columns"))?;
                let mut r = r.lock().unwrap_or_else(|e| e.into_inner());
                r.render(m, config, Some(columns)).map(|out| out.sql)
            },
        )));
    }
    Ok((set, configs))
}

/// Model `m`'s config from `dbt_project.yml` (settings holding Jinja
/// rendered) and its YAML entry's `enabled`, as JSON.
fn model_config(
    p: &Project,
    m: &project::ModelFile,
    r: &jinja::Renderer,
) -> std::result::Result<BTreeMap<String, serde_json::Value>, String> {
    let mut config = BTreeMap::new();
    for (k, v) in p.model_config(m) {
        let json = match v.as_str() {
            Some(s) if s.contains("{{") => serde_json::Value::String(
                r.render_setting(s)
                    .map_err(|e| format!("{}: {k}: {e}", m.file.shown))?
                    .trim()
                    .to_string(),
            ),
            _ => serde_json::to_value(&v).unwrap_or_default(),
        };
        config.insert(k, json);
    }
    if let Some(e) = p.model_yaml.get(&m.name).and_then(|y| y.enabled.as_ref()) {
        config.insert(
            "enabled".into(),
            serde_json::to_value(e).unwrap_or_default(),
        );
    }
    Ok(config)
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
fn keys(p: &Project, configs: &Configs) -> BTreeMap<String, (Vec<String>, String)> {
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

/// Each model's tests as a contract: `not_null`, `unique`,
/// `accepted_values` and `relationships` on its columns (values that are
/// not plain scalars, and relations that are neither a `ref` of a model or
/// seed nor a `source` with data, leave their test out).
fn contracts(
    p: &Project,
    found: &Inputs,
) -> BTreeMap<String, (crate::compare::contract::ContractSpec, String)> {
    use crate::compare::contract::{Columns, ContractSpec};
    let scalar = |v: &serde_yaml_ng::Value| -> Option<toml::Value> {
        match v {
            serde_yaml_ng::Value::String(s) => Some(toml::Value::String(s.clone())),
            serde_yaml_ng::Value::Bool(b) => Some(toml::Value::Boolean(*b)),
            serde_yaml_ng::Value::Number(n) => n
                .as_i64()
                .map(toml::Value::Integer)
                .or_else(|| n.as_f64().map(toml::Value::Float)),
            _ => None,
        }
    };
    let mut out = BTreeMap::new();
    for m in &p.models {
        let Some(y) = p.model_yaml.get(&m.name) else {
            continue;
        };
        let mut spec = ContractSpec {
            not_null: y.not_null_columns.clone(),
            unique: y.unique_columns.iter().cloned().map(Columns::One).collect(),
            ..ContractSpec::default()
        };
        for (c, vs) in &y.accepted_values {
            let values: Option<Vec<toml::Value>> = vs.iter().map(scalar).collect();
            if let Some(values) = values.filter(|v| !v.is_empty()) {
                spec.accepted_values.insert(c.clone(), values);
            }
        }
        for (c, to, field) in &y.relationships {
            let table = match relation(to) {
                Some(Relation::Ref(name)) => found
                    .seeds
                    .get(&name)
                    .cloned()
                    .or_else(|| p.models.iter().any(|m| m.name == name).then_some(name)),
                Some(Relation::Source(source, table)) => found
                    .sources
                    .get(&(source, table))
                    .and_then(|r| r.clone().ok()),
                None => None,
            };
            if let Some(table) = table {
                spec.relationships
                    .entry(c.clone())
                    .or_insert_with(|| format!("{table}.{field}"));
            }
        }
        if spec != ContractSpec::default() {
            out.insert(m.name.clone(), (spec, y.file.clone()));
        }
    }
    out
}

/// What a `relationships` test's `to:` names.
#[derive(Debug, PartialEq)]
enum Relation {
    /// `ref('model')` (the last quoted argument: a package may come first).
    Ref(String),
    /// `source('source', 'table')`.
    Source(String, String),
}

/// Read `ref('x')`, `ref("pkg", "x")` or `source('s', 't')`, with or
/// without `{{ }}`; keyword arguments (`v=2`) aside.
fn relation(to: &str) -> Option<Relation> {
    let t = to.trim();
    let t = t
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .unwrap_or(t)
        .trim();
    let (func, rest) = t.split_once('(')?;
    let args = rest.trim_end().strip_suffix(')')?;
    let quoted: Vec<String> = args
        .split(',')
        .map(str::trim)
        .filter(|a| !a.contains('='))
        .map(|a| {
            let q = a.chars().next()?;
            (q == '\'' || q == '"')
                .then(|| a.strip_prefix(q)?.strip_suffix(q).map(str::to_string))
                .flatten()
        })
        .collect::<Option<_>>()?;
    match (func.trim(), quoted.as_slice()) {
        ("ref", [.., name]) => Some(Relation::Ref(name.clone())),
        ("source", [source, table]) => Some(Relation::Source(source.clone(), table.clone())),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::{Relation, relation};

    #[test]
    fn relationship_targets_are_read_as_dbt_writes_them() {
        let r = |s: &str| Relation::Ref(s.into());
        assert_eq!(relation("ref('customers')"), Some(r("customers")));
        assert_eq!(relation(" {{ ref(\"customers\") }} "), Some(r("customers")));
        assert_eq!(
            relation("ref('shop', 'customers', v=2)"),
            Some(r("customers"))
        );
        assert_eq!(
            relation("source('shop', 'people')"),
            Some(Relation::Source("shop".into(), "people".into()))
        );
        for bad in ["customers", "ref(customers)", "source('shop')", "ref('a'"] {
            assert_eq!(relation(bad), None, "{bad}");
        }
    }
}
