//! One version of a dbt project as files: `dbt_project.yml`, the model,
//! macro and seed folders it names, the YAML files beside the models
//! (sources, model tests and constraints, seed configs), installed packages
//! (`dbt_packages/`, read from the working tree: `dbt deps` installs them
//! there and git does not hold them) and the profile's adapter type.
//!
//! Nothing here renders Jinja; settings that hold Jinja (`+enabled: "{{
//! target.name != 'prod' }}"`, a var's value) are kept as written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

use super::{PROJECT_FILE, Tree, project_error};
use crate::error::Result;

/// A file of the project: its path relative to the project folder, how
/// messages name it (with the git ref for v1), and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub rel: String,
    pub shown: String,
    pub text: String,
}

/// A model file.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    pub name: String,
    /// Path parts below its model path, without `.sql` (for folder
    /// configs: `marts/orders` → `["marts", "orders"]`).
    pub parts: Vec<String>,
    pub file: File,
}

/// A source table declared in YAML: `source('source', 'table')`.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceTable {
    pub source: String,
    pub table: String,
    /// The table's name in the warehouse (`identifier:`, else its name).
    pub identifier: String,
    /// The YAML file declaring it.
    pub declared_in: String,
}

/// A seed: a CSV file under a seed path, read by `ref('name')`.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    pub name: String,
    /// The file in the working tree.
    pub path: PathBuf,
    /// `column_types` from the project and the seed's YAML.
    pub column_types: BTreeMap<String, String>,
}

/// What a model's YAML entry says about its key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelYaml {
    /// The YAML file.
    pub file: String,
    /// `config: unique_key`.
    pub unique_key: Option<Vec<String>>,
    /// A primary-key constraint (model-level, or on one column).
    pub primary_key: Option<Vec<String>>,
    /// A `dbt_utils.unique_combination_of_columns` test.
    pub unique_combination: Option<Vec<String>>,
    /// Columns with a `unique` test, in YAML order.
    pub unique_columns: Vec<String>,
    /// Columns with a `not_null` test, in YAML order.
    pub not_null_columns: Vec<String>,
    /// Columns with an `accepted_values` test, with the values.
    pub accepted_values: Vec<(String, Vec<Yaml>)>,
    /// Columns with a `relationships` test: the column, the relation its
    /// values are looked up in as written (`ref('customers')`,
    /// `source('shop', 'orders')`) and the column there.
    pub relationships: Vec<(String, String, String)>,
    /// `config: enabled`.
    pub enabled: Option<Yaml>,
}

/// An installed package's macros, by its project name.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    pub name: String,
    pub macros: Vec<File>,
}

/// One version of a dbt project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub name: String,
    /// The profile named by `profile:`.
    pub profile: Option<String>,
    pub model_paths: Vec<String>,
    pub macro_paths: Vec<String>,
    pub seed_paths: Vec<String>,
    /// `vars:` that apply to this project (global ones and those scoped to
    /// it), as written.
    pub vars: BTreeMap<String, Json>,
    /// The `models:` and `seeds:` config trees of `dbt_project.yml`.
    pub models_config: Yaml,
    pub seeds_config: Yaml,
    pub models: Vec<ModelFile>,
    pub macros: Vec<File>,
    pub sources: Vec<SourceTable>,
    /// Model entries of the YAML files, by model name.
    pub model_yaml: BTreeMap<String, ModelYaml>,
    /// `config: column_types` of the YAML files' seed entries, by seed.
    pub seed_yaml: BTreeMap<String, BTreeMap<String, String>>,
}

fn strings(v: Option<&Yaml>, default: &[&str]) -> Vec<String> {
    match v {
        Some(Yaml::Sequence(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(Yaml::String(s)) => vec![s.clone()],
        _ => default.iter().map(|s| s.to_string()).collect(),
    }
}

/// A YAML value as a list of column names (`"id"`, `"a, b"`, `[a, b]`).
pub fn columns(v: &Yaml) -> Option<Vec<String>> {
    let cols: Vec<String> = match v {
        Yaml::String(s) => s
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect(),
        Yaml::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(|s| s.trim().to_string()))
            .collect(),
        _ => return None,
    };
    (!cols.is_empty()).then_some(cols)
}

fn parse_yaml(file: &File) -> Result<Yaml> {
    serde_yaml_ng::from_str(&file.text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        project_error(
            format!("{}{at}", file.shown),
            format!("not valid YAML: {e}"),
        )
    })
}

fn get<'a>(v: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    v.as_mapping().and_then(|m| m.get(key))
}

impl Project {
    /// Read the project of one version. `packages` are the installed ones
    /// (their names scope vars).
    pub fn read(tree: Tree<'_>, packages: &[Package]) -> Result<Project> {
        let file = |rel: &str| -> Result<File> {
            Ok(File {
                rel: rel.to_string(),
                shown: tree.shown(rel),
                text: tree.read(rel)?,
            })
        };
        if !tree.exists(PROJECT_FILE) {
            return Err(project_error(
                tree.shown(PROJECT_FILE),
                "no dbt_project.yml in this version of the project",
            ));
        }
        let pf = file(PROJECT_FILE)?;
        let doc = parse_yaml(&pf)?;
        let name = get(&doc, "name")
            .and_then(Yaml::as_str)
            .ok_or_else(|| project_error(&pf.shown, "`name:` is missing"))?
            .to_string();
        let model_paths = strings(
            get(&doc, "model-paths").or(get(&doc, "source-paths")),
            &["models"],
        );
        let macro_paths = strings(get(&doc, "macro-paths"), &["macros"]);
        let seed_paths = strings(
            get(&doc, "seed-paths").or(get(&doc, "data-paths")),
            &["seeds"],
        );
        let mut project = Project {
            profile: get(&doc, "profile")
                .and_then(Yaml::as_str)
                .map(str::to_string),
            vars: BTreeMap::new(),
            models_config: get(&doc, "models").cloned().unwrap_or(Yaml::Null),
            seeds_config: get(&doc, "seeds").cloned().unwrap_or(Yaml::Null),
            models: Vec::new(),
            macros: Vec::new(),
            sources: Vec::new(),
            model_yaml: BTreeMap::new(),
            seed_yaml: BTreeMap::new(),
            name,
            model_paths,
            macro_paths,
            seed_paths,
        };
        for mp in project.model_paths.clone() {
            for rel in tree.files(&mp)? {
                if let Some(parts) = parts_below(&mp, &rel, ".sql") {
                    let name = parts.last().cloned().unwrap_or_default();
                    project.models.push(ModelFile {
                        name,
                        parts,
                        file: file(&rel)?,
                    });
                } else if rel.ends_with(".yml") || rel.ends_with(".yaml") {
                    project.read_schema_file(&file(&rel)?)?;
                }
            }
        }
        for sp in project.seed_paths.clone() {
            for rel in tree.files(&sp)? {
                if rel.ends_with(".yml") || rel.ends_with(".yaml") {
                    project.read_schema_file(&file(&rel)?)?;
                }
            }
        }
        for mp in project.macro_paths.clone() {
            for rel in tree.files(&mp)? {
                if rel.ends_with(".sql") {
                    project.macros.push(file(&rel)?);
                } else if rel.ends_with(".yml") || rel.ends_with(".yaml") {
                    // Macro docs and argument lists: nothing dbt renders.
                }
            }
        }
        project.read_vars(get(&doc, "vars"), &pf, packages)?;
        Ok(project)
    }

    /// The seeds (CSV files under the seed paths) of the working tree's
    /// project folder `dir`, each with its `column_types`.
    pub fn seeds(&self, dir: &Path) -> Result<Vec<Seed>> {
        let mut out = Vec::new();
        for sp in &self.seed_paths {
            for rel in Tree::Dir(dir).files(sp)? {
                if let Some(parts) = parts_below(sp, &rel, ".csv") {
                    let name = parts.last().cloned().unwrap_or_default();
                    let column_types = self.seed_types(&name, &parts);
                    out.push(Seed {
                        name,
                        path: dir.join(&rel),
                        column_types,
                    });
                }
            }
        }
        Ok(out)
    }

    fn read_vars(&mut self, vars: Option<&Yaml>, pf: &File, packages: &[Package]) -> Result<()> {
        let Some(Yaml::Mapping(m)) = vars else {
            return Ok(());
        };
        for (k, v) in m {
            let Some(k) = k.as_str() else { continue };
            let json = serde_json::to_value(v)
                .map_err(|e| project_error(&pf.shown, format!("vars.{k}: {e}")))?;
            match v {
                // A mapping under a project's name scopes its vars to it.
                Yaml::Mapping(_) if k == self.name => {
                    if let Json::Object(scoped) = json {
                        self.vars.extend(scoped);
                    }
                }
                // Scoped to an installed package: not this project's.
                Yaml::Mapping(_) if packages.iter().any(|p| p.name == k) => {}
                _ => {
                    self.vars.entry(k.to_string()).or_insert(json);
                }
            }
        }
        Ok(())
    }

    /// Read the `models:`, `sources:` and `seeds:` entries of a YAML file.
    fn read_schema_file(&mut self, file: &File) -> Result<()> {
        let doc = parse_yaml(file)?;
        if let Some(Yaml::Sequence(models)) = get(&doc, "models") {
            for m in models {
                let Some(name) = get(m, "name").and_then(Yaml::as_str) else {
                    continue;
                };
                let entry = model_yaml(m, &file.shown);
                self.model_yaml.insert(name.to_string(), entry);
            }
        }
        if let Some(Yaml::Sequence(sources)) = get(&doc, "sources") {
            for s in sources {
                let Some(source) = get(s, "name").and_then(Yaml::as_str) else {
                    continue;
                };
                let Some(Yaml::Sequence(tables)) = get(s, "tables") else {
                    continue;
                };
                for t in tables {
                    let Some(table) = get(t, "name").and_then(Yaml::as_str) else {
                        continue;
                    };
                    let identifier = get(t, "identifier")
                        .and_then(Yaml::as_str)
                        .unwrap_or(table)
                        .to_string();
                    self.sources.push(SourceTable {
                        source: source.to_string(),
                        table: table.to_string(),
                        identifier,
                        declared_in: file.shown.clone(),
                    });
                }
            }
        }
        if let Some(Yaml::Sequence(seeds)) = get(&doc, "seeds") {
            for s in seeds {
                let (Some(name), Some(types)) = (
                    get(s, "name").and_then(Yaml::as_str),
                    get(s, "config").and_then(|c| get(c, "column_types")),
                ) else {
                    continue;
                };
                self.seed_yaml.insert(name.to_string(), string_map(types));
            }
        }
        Ok(())
    }

    /// A seed's `column_types`: from the project's `seeds:` tree (by
    /// folder and name), then its YAML entry.
    fn seed_types(&self, name: &str, parts: &[String]) -> BTreeMap<String, String> {
        let mut path = vec![self.name.as_str()];
        path.extend(parts.iter().map(String::as_str));
        let config = folder_config(&self.seeds_config, &path);
        let mut out = config
            .get("column_types")
            .map(string_map)
            .unwrap_or_default();
        out.extend(self.seed_yaml.get(name).cloned().unwrap_or_default());
        out
    }

    /// The config of model `m` from `dbt_project.yml` (by folder, the
    /// innermost winning), as written.
    pub fn model_config(&self, m: &ModelFile) -> BTreeMap<String, Yaml> {
        let mut path = vec![self.name.as_str()];
        path.extend(m.parts.iter().map(String::as_str));
        folder_config(&self.models_config, &path)
    }
}

/// The path parts of file `rel` below folder `base`, without `ext`
/// (`models`, `models/marts/orders.sql` → `["marts", "orders"]`); `None`
/// for a file of another kind.
fn parts_below(base: &str, rel: &str, ext: &str) -> Option<Vec<String>> {
    let stem = rel.strip_suffix(ext)?;
    let below = stem
        .strip_prefix(base.trim_end_matches('/'))
        .unwrap_or(stem)
        .trim_start_matches('/');
    Some(below.split('/').map(str::to_string).collect())
}

/// A YAML mapping of strings to strings (other entries left out).
fn string_map(v: &Yaml) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Yaml::Mapping(m) = v {
        for (k, v) in m {
            if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    out
}

/// Config keys that may be written without `+` in a folder tree.
const CONFIG_KEYS: &[&str] = &[
    "materialized",
    "enabled",
    "unique_key",
    "tags",
    "schema",
    "alias",
    "column_types",
    "quote_columns",
];

/// The settings that apply at `path` of a config tree (`models:` or
/// `seeds:`): each level's `+key` (or plain config key with a scalar value),
/// deeper levels winning.
pub fn folder_config(tree: &Yaml, path: &[&str]) -> BTreeMap<String, Yaml> {
    let mut out = BTreeMap::new();
    let mut node = tree;
    let mut rest = path;
    loop {
        if let Yaml::Mapping(m) = node {
            for (k, v) in m {
                let Some(k) = k.as_str() else { continue };
                if let Some(key) = k.strip_prefix('+') {
                    out.insert(key.to_string(), v.clone());
                } else if (CONFIG_KEYS.contains(&k) && !matches!(v, Yaml::Mapping(_)))
                    || k == "column_types"
                {
                    out.insert(k.to_string(), v.clone());
                }
            }
        }
        let Some((first, more)) = rest.split_first() else {
            return out;
        };
        match get(node, first) {
            Some(next) => {
                node = next;
                rest = more;
            }
            None => return out,
        }
    }
}

/// What a model's YAML entry says about its key and whether it is enabled.
fn model_yaml(m: &Yaml, file: &str) -> ModelYaml {
    let mut out = ModelYaml {
        file: file.to_string(),
        ..ModelYaml::default()
    };
    if let Some(config) = get(m, "config") {
        out.unique_key = get(config, "unique_key").and_then(columns);
        out.enabled = get(config, "enabled").cloned();
    }
    if let Some(Yaml::Sequence(cs)) = get(m, "constraints") {
        for c in cs {
            if get(c, "type").and_then(Yaml::as_str) == Some("primary_key") {
                out.primary_key = get(c, "columns").and_then(columns);
            }
        }
    }
    let tests = |v: &Yaml| -> Vec<Yaml> {
        ["tests", "data_tests"]
            .iter()
            .filter_map(|k| get(v, k))
            .filter_map(Yaml::as_sequence)
            .flatten()
            .cloned()
            .collect()
    };
    for t in tests(m) {
        for name in [
            "dbt_utils.unique_combination_of_columns",
            "unique_combination_of_columns",
        ] {
            if let Some(args) = get(&t, name) {
                let args = get(args, "arguments").unwrap_or(args);
                if let Some(cols) = get(args, "combination_of_columns").and_then(columns) {
                    out.unique_combination.get_or_insert(cols);
                }
            }
        }
    }
    if let Some(Yaml::Sequence(cols)) = get(m, "columns") {
        for c in cols {
            let Some(name) = get(c, "name").and_then(Yaml::as_str) else {
                continue;
            };
            let unique = tests(c).iter().any(|t| match t {
                Yaml::String(s) => s == "unique",
                Yaml::Mapping(m) => m.contains_key("unique"),
                _ => false,
            });
            if unique {
                out.unique_columns.push(name.to_string());
            }
            for t in tests(c) {
                match &t {
                    Yaml::String(s) if s == "not_null" => {
                        out.not_null_columns.push(name.to_string());
                    }
                    Yaml::Mapping(m) if m.contains_key("not_null") => {
                        out.not_null_columns.push(name.to_string());
                    }
                    Yaml::Mapping(_) => {
                        // `accepted_values: {values: [...]}`, or under
                        // `arguments:` (dbt 1.10).
                        let values = get(&t, "accepted_values")
                            .map(|a| get(a, "arguments").unwrap_or(a))
                            .and_then(|a| get(a, "values"))
                            .and_then(Yaml::as_sequence);
                        if let Some(vs) = values {
                            out.accepted_values.push((name.to_string(), vs.clone()));
                        }
                        // `relationships: {to: ref('x'), field: id}`, or
                        // under `arguments:` (dbt 1.10).
                        let rel =
                            get(&t, "relationships").map(|a| get(a, "arguments").unwrap_or(a));
                        let to = rel.and_then(|a| get(a, "to")).and_then(Yaml::as_str);
                        let field = rel.and_then(|a| get(a, "field")).and_then(Yaml::as_str);
                        if let (Some(to), Some(field)) = (to, field) {
                            out.relationships.push((
                                name.to_string(),
                                to.to_string(),
                                field.to_string(),
                            ));
                        }
                    }
                    _ => {}
                }
            }
            if let Some(Yaml::Sequence(cs)) = get(c, "constraints")
                && cs
                    .iter()
                    .any(|k| get(k, "type").and_then(Yaml::as_str) == Some("primary_key"))
            {
                out.primary_key
                    .get_or_insert_with(|| vec![name.to_string()]);
            }
        }
    }
    out
}

/// Packages installed under `dbt_packages/`: each one's name (from its own
/// `dbt_project.yml`) and macros.
pub fn read_packages(dir: &Path) -> Result<Vec<Package>> {
    let root = dir.join("dbt_packages");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(out);
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(PROJECT_FILE).is_file())
        .collect();
    dirs.sort();
    for d in dirs {
        let tree = Tree::Dir(&d);
        let pf = File {
            rel: PROJECT_FILE.into(),
            shown: tree.shown(PROJECT_FILE),
            text: tree.read(PROJECT_FILE)?,
        };
        let doc = parse_yaml(&pf)?;
        let Some(name) = get(&doc, "name").and_then(Yaml::as_str) else {
            continue;
        };
        let mut macros = Vec::new();
        for mp in strings(get(&doc, "macro-paths"), &["macros"]) {
            for rel in tree.files(&mp)? {
                if rel.ends_with(".sql") {
                    macros.push(File {
                        shown: tree.shown(&rel),
                        text: tree.read(&rel)?,
                        rel,
                    });
                }
            }
        }
        out.push(Package {
            name: name.to_string(),
            macros,
        });
    }
    Ok(out)
}

/// The adapter type and schema of the profile's target: from
/// `profiles.yml` in the project folder, `$DBT_PROFILES_DIR` or `~/.dbt`.
/// Only `type`, `schema` and `database` are read; nothing else of a
/// profile (credentials) is looked at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub target: String,
    pub adapter: Option<String>,
    pub schema: Option<String>,
    pub database: Option<String>,
}

pub fn profile(dir: &Path, name: Option<&str>, target: Option<&str>) -> Profile {
    let mut candidates = vec![dir.join("profiles.yml")];
    if let Some(d) = std::env::var_os("DBT_PROFILES_DIR") {
        candidates.push(PathBuf::from(d).join("profiles.yml"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".dbt").join("profiles.yml"));
    }
    let fallback = Profile {
        target: target.unwrap_or("dev").to_string(),
        ..Profile::default()
    };
    let Some(name) = name else {
        return fallback;
    };
    for path in candidates {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(doc) = serde_yaml_ng::from_str::<Yaml>(&text) else {
            continue;
        };
        let Some(p) = get(&doc, name) else { continue };
        let target = target
            .map(str::to_string)
            .or_else(|| get(p, "target").and_then(Yaml::as_str).map(str::to_string))
            .unwrap_or_else(|| "dev".into());
        let out = get(p, "outputs").and_then(|o| get(o, &target));
        let field = |k: &str| {
            out.and_then(|o| get(o, k))
                .and_then(Yaml::as_str)
                .filter(|v| !v.contains("{{"))
                .map(str::to_string)
        };
        return Profile {
            adapter: field("type"),
            schema: field("schema"),
            database: field("database").or_else(|| field("dbname")),
            target,
        };
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_tests_are_read_in_both_syntaxes() {
        let m: Yaml = serde_yaml_ng::from_str(
            r#"
            name: orders
            columns:
              - name: order_id
                data_tests: [unique, not_null]
              - name: status
                tests:
                  - not_null:
                      config: {severity: warn}
                  - accepted_values:
                      values: ['placed', 'shipped']
              - name: kind
                data_tests:
                  - accepted_values:
                      arguments:
                        values: [1, 2]
              - name: customer_id
                tests:
                  - relationships:
                      to: ref('customers')
                      field: id
                data_tests:
                  - relationships:
                      arguments:
                        to: source('shop', 'people')
                        field: person_id
            "#,
        )
        .unwrap();
        let y = model_yaml(&m, "models/orders.yml");
        assert_eq!(y.unique_columns, ["order_id"]);
        assert_eq!(y.not_null_columns, ["order_id", "status"]);
        let accepted: Vec<(&str, usize)> = y
            .accepted_values
            .iter()
            .map(|(c, vs)| (c.as_str(), vs.len()))
            .collect();
        assert_eq!(accepted, [("status", 2), ("kind", 2)]);
        let rel = |c: &str, to: &str, f: &str| (c.to_string(), to.to_string(), f.to_string());
        assert_eq!(
            y.relationships,
            [
                rel("customer_id", "ref('customers')", "id"),
                rel("customer_id", "source('shop', 'people')", "person_id"),
            ]
        );
    }
}
