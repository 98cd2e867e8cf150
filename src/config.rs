//! The scenario file, `diffgate.toml`: inputs, the v1/v2 transform, how to
//! compare, the policy, and optionally the expected verdict. Parsing is
//! strict (unknown keys are errors naming the key) and every path is
//! resolved relative to the scenario directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::compare::contract::ContractSpec;
use crate::compare::expect::{ExpectSpec, Expectation};
use crate::error::{Error, Result, did_you_mean};
use crate::judge::Policy;
use crate::load::subset::{Filter, Sample};
use crate::load::{Format, InputSource, JsonLayout};
use crate::report::{SubsetInfo, Verdict};

pub const FILE_NAME: &str = "diffgate.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// One line saying what the scenario is about.
    pub description: Option<String>,
    /// The verdict this scenario should produce (checked by the tests, and
    /// by `diffgate run --check-expected`).
    pub expected_verdict: Option<Verdict>,
    #[serde(default)]
    pub inputs: BTreeMap<String, InputEntry>,
    pub transform: TransformSpec,
    #[serde(default)]
    pub compare: CompareSpec,
    #[serde(default)]
    pub policy: Policy,
    /// The canary subset used when no `--env` is given.
    pub subset: Option<SubsetSpec>,
    /// Named subsets (`[env.dev]`, `[env.staging]`), chosen with `--env`.
    #[serde(default)]
    pub env: BTreeMap<String, SubsetSpec>,
    /// Per-model settings for a model folder.
    #[serde(default)]
    pub models: BTreeMap<String, ModelSpec>,
    /// A transform that is a dbt project.
    #[serde(default)]
    pub dbt: DbtSpec,
    /// How remote inputs are read.
    #[serde(default)]
    pub storage: StorageSpec,
    #[serde(default)]
    pub engine: EngineSpec,
    /// Changes v2 is meant to make (`[[expect]]`): what they explain does
    /// not raise the verdict, and one that explains nothing is stale.
    #[serde(default)]
    pub expect: Vec<ExpectSpec>,
    /// What v2's output must be (`[contract]`), held against v1.
    pub contract: Option<ContractSpec>,
}

/// `[engine]`: where the plans run; `--engine`, `--workers` and
/// `--bytes-per-task` override it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// `local` (the default) or `distributed`.
    pub kind: Option<crate::cli::EngineKind>,
    /// The distributed engine's workers, `http://host:port` each.
    #[serde(default)]
    pub workers: Vec<String>,
    /// Input bytes each distributed task reading files is given (`16M`).
    pub bytes_per_task: Option<String>,
    /// Where the run writes the tables it materialises: a folder or an
    /// object-store prefix (`--scratch`).
    pub scratch: Option<String>,
}

/// `[storage]`: how reads from object stores are retried.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSpec {
    /// Retries of one request after a transient failure (default 10).
    pub max_retries: Option<usize>,
    /// Longest time one request keeps being retried (default `3m`).
    pub retry_timeout: Option<String>,
}

impl StorageSpec {
    /// The retry policy it sets, checked.
    pub fn retry(&self, path: &Path) -> Result<crate::load::store::Retry> {
        let mut r = crate::load::store::Retry::default();
        if let Some(n) = self.max_retries {
            r.max_retries = n;
        }
        if let Some(t) = &self.retry_timeout {
            r.timeout = humantime::parse_duration(t)
                .map_err(|e| Error::config(path, format!("storage.retry_timeout {t:?}: {e}")))?;
        }
        Ok(r)
    }
}

/// Which rows of the inputs a run sees: a key-hash sample and per-input
/// `where` predicates, which may use `{as_of}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetSpec {
    /// Share of keys kept by the key-hash sample, in (0, 1]; inputs with a
    /// `sample_column` are sampled.
    pub fraction: Option<f64>,
    /// Seed of the key-hash sample (default 0).
    pub seed: Option<u64>,
    /// The date `{as_of}` stands for in predicates (`--as-of` overrides).
    pub as_of: Option<String>,
    /// Predicates per input name, added to the input's own `where`.
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, String>,
}

/// An input: a path, or a table with a path and reading options.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum InputEntry {
    Path(String),
    Detailed(Box<InputSpec>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub path: String,
    pub format: Option<Format>,
    /// CSV delimiter, one character.
    pub delimiter: Option<String>,
    pub has_header: Option<bool>,
    /// CSV quote character (default `"`).
    pub quote: Option<String>,
    /// CSV escape character inside quotes (default none).
    pub escape: Option<String>,
    pub json_layout: Option<JsonLayout>,
    /// Declared column types (`amount = "float64"`), instead of inferred
    /// ones; values that do not parse go to the dead-letter file.
    #[serde(default)]
    pub types: BTreeMap<String, String>,
    /// A SQL predicate over this input's columns: only matching rows are
    /// read, by both versions, in every environment.
    #[serde(rename = "where")]
    pub where_: Option<String>,
    /// The column the key-hash sample hashes (see `fraction`).
    pub sample_column: Option<String>,
    /// How to reach a remote input's bucket: `region`, `endpoint`,
    /// `anonymous`, `requester_pays`, `allow_http`. Credentials come from
    /// the environment, never from here.
    #[serde(default)]
    pub storage: crate::load::store::StoreOptions,
    /// A Delta table's version to read (default: the newest).
    pub version: Option<u64>,
    /// A Delta table as of a time (RFC 3339): the newest version committed
    /// then.
    pub as_of: Option<String>,
    /// A Postgres input's table, `schema.table` or `table`.
    pub table: Option<String>,
    /// A Postgres input's query, instead of a table: its rows, read once
    /// in a read-only transaction.
    pub query: Option<String>,
}

/// The transform: two files (`v1`, `v2`), or one `path` whose v1 is read
/// from git with `--base`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformSpec {
    pub v1: Option<String>,
    pub v2: Option<String>,
    pub path: Option<String>,
    /// Determinism check: runs of each version (2 or more; `--runs`).
    pub runs: Option<u32>,
    /// For a folder of models: the models to compare (default: those whose
    /// SQL changed and everything downstream of them).
    #[serde(default)]
    pub targets: Vec<String>,
    /// The warehouse the SQL is written for (`--dialect`).
    pub dialect: Option<crate::engine::Warehouse>,
}

/// Settings for a transform that is a dbt project (`[dbt]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbtSpec {
    /// Folder where source tables are looked for as files:
    /// `DATA/<source>/<table>.<ext>` or `DATA/<table>.<ext>` (or a folder
    /// of that name), when no `[inputs]` entry names them.
    pub data: Option<String>,
    /// Values for `var()`, winning over the project's (`--vars` wins over
    /// these).
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
    /// The profile target `target.name` names (`--target`).
    pub target: Option<String>,
}

/// Settings of one model of a model folder (`[models.NAME]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The model's key (default: `[compare] key` when the model has it).
    #[serde(default)]
    pub key: KeySpec,
    /// Changes this model's v2 is meant to make (`[[models.NAME.expect]]`).
    #[serde(default)]
    pub expect: Vec<ExpectSpec>,
    /// What this model's output must be (`[models.NAME.contract]`).
    pub contract: Option<ContractSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompareSpec {
    pub key: KeySpec,
    pub abs_tol: f64,
    pub rel_tol: f64,
    /// Per-column tolerance overrides and limits.
    pub columns: BTreeMap<String, ColumnSpec>,
    pub ignore_columns: Vec<String>,
    pub sample_size: usize,
    /// Columns (names, or patterns with `*` and `?`) whose values reports
    /// never show: samples carry a mask instead. They are still compared.
    pub mask: Vec<String>,
    /// v1 columns compared with a v2 column of another name:
    /// `{ old = "new" }`.
    pub rename: BTreeMap<String, String>,
    /// Pair columns whose names differ only in case (`OrderId` and
    /// `orderid`), as declared renames.
    pub fold_column_case: bool,
    /// Profile every column and judge drift (`--no-profile` turns it off).
    pub profile: bool,
}

impl Default for CompareSpec {
    fn default() -> Self {
        CompareSpec {
            key: KeySpec::default(),
            abs_tol: 0.0,
            rel_tol: 0.0,
            columns: BTreeMap::new(),
            ignore_columns: Vec::new(),
            sample_size: crate::compare::DEFAULT_SAMPLE_SIZE,
            mask: Vec::new(),
            rename: BTreeMap::new(),
            fold_column_case: false,
            profile: true,
        }
    }
}

/// `key = "id"` or `key = ["region", "seq"]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
pub enum KeySpec {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl KeySpec {
    pub fn columns(&self) -> Vec<String> {
        match self {
            KeySpec::None => Vec::new(),
            KeySpec::One(k) => vec![k.clone()],
            KeySpec::Many(ks) => ks.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub abs_tol: Option<f64>,
    pub rel_tol: Option<f64>,
    /// Block when this column's mismatches / compared pairs exceeds this
    /// fraction (the policy's `max_column_mismatch_rate`).
    pub max_mismatch_rate: Option<f64>,
    /// Timestamps: equal when this close (a duration: `5s`, `2m`, `1h`).
    /// Numeric tolerances never apply to timestamps.
    pub tolerance: Option<String>,
    /// Strings: compare without leading and trailing whitespace.
    #[serde(default)]
    pub trim: bool,
    /// Strings: compare ignoring case.
    #[serde(default)]
    pub ignore_case: bool,
    /// A string compared with a date or timestamp on the other side: the
    /// `strftime` format it is written in (`%d/%m/%Y`).
    pub format: Option<String>,
    /// Strings: compare with every run of whitespace as one space.
    #[serde(default)]
    pub collapse_whitespace: bool,
    /// `false`: no drift rule judges this column; a table (`{ psi = {
    /// block = 0.5 } }`): its own drift limits.
    pub drift: Option<DriftSpec>,
}

/// `drift = false` or a table of drift limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DriftSpec {
    On(bool),
    Limits(crate::judge::ColumnDrift),
}

impl ColumnSpec {
    /// `tolerance` in seconds (checked when parsed).
    pub fn tolerance_seconds(&self) -> Option<f64> {
        let d = self.tolerance.as_deref()?;
        humantime::parse_duration(d).ok().map(|d| d.as_secs_f64())
    }

    /// How this column's strings are normalised.
    pub fn normalize(&self) -> crate::align::Normalize {
        crate::align::Normalize {
            trim: self.trim,
            ignore_case: self.ignore_case,
            collapse_whitespace: self.collapse_whitespace,
        }
    }
}

/// A scenario with its paths resolved.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub scenario: Scenario,
}

impl LoadedScenario {
    /// Inputs as load-stage sources, paths resolved against the scenario
    /// dir, each with the subset filter of environment `env` (else the
    /// `[subset]` table) and `as_of` (else the environment's). Also returns
    /// the subset as the report states it.
    pub fn inputs(
        &self,
        env: Option<&str>,
        as_of: Option<&str>,
    ) -> Result<(Vec<InputSource>, Option<SubsetInfo>)> {
        let err = |m: String| Error::config(&self.config_path, m);
        let chosen = match env {
            Some(name) => Some(self.scenario.env.get(name).ok_or_else(|| {
                if self.scenario.env.is_empty() {
                    Error::Usage(format!(
                        "--env {name}: {} defines no environments ([env.NAME] tables)",
                        self.config_path.display()
                    ))
                } else {
                    let names: Vec<&str> = self.scenario.env.keys().map(String::as_str).collect();
                    let hint = did_you_mean(name, names.iter().copied())
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    Error::Usage(format!(
                        "--env {name}: no such environment in {} (defined: {}){hint}",
                        self.config_path.display(),
                        names.join(", ")
                    ))
                }
            })?),
            None => self.scenario.subset.as_ref(),
        };
        let empty = SubsetSpec::default();
        let chosen_spec = chosen.unwrap_or(&empty);
        let where_of = |table: &str| match env {
            Some(e) => format!("env.{e}.where.{table}"),
            None => format!("subset.where.{table}"),
        };
        for table in chosen_spec.where_.keys() {
            if !self.scenario.inputs.contains_key(table) {
                return Err(err(format!(
                    "{}: `{table}` is not an input",
                    where_of(table)
                )));
            }
        }
        let as_of = match as_of.or(chosen_spec.as_of.as_deref()) {
            Some(d) => Some(check_date(d).map_err(|m| match as_of {
                Some(_) => Error::Usage(format!("--as-of: {m}")),
                None => err(format!("as_of: {m}")),
            })?),
            None => None,
        };
        let mut sampled_any = false;
        let sources = self
            .scenario
            .inputs
            .iter()
            .map(|(name, entry)| {
                crate::load::validate_table_name(name)
                    .map_err(|m| Error::config(&self.config_path, m))?;
                let spec = match entry {
                    InputEntry::Path(p) => InputSpec {
                        path: p.clone(),
                        format: None,
                        delimiter: None,
                        has_header: None,
                        quote: None,
                        escape: None,
                        json_layout: None,
                        types: BTreeMap::new(),
                        where_: None,
                        sample_column: None,
                        storage: Default::default(),
                        version: None,
                        as_of: None,
                        table: None,
                        query: None,
                    },
                    InputEntry::Detailed(s) => (**s).clone(),
                };
                let mut predicates = Vec::new();
                for p in spec.where_.iter().chain(chosen_spec.where_.get(name)) {
                    predicates.push(
                        substitute_as_of(p, as_of.as_deref())
                            .map_err(|m| err(format!("input `{name}`: where {p:?}: {m}")))?,
                    );
                }
                let sample = match (chosen_spec.fraction, &spec.sample_column) {
                    (Some(fraction), Some(column)) => {
                        sampled_any = true;
                        Some(Sample {
                            column: column.clone(),
                            fraction,
                            seed: chosen_spec.seed.unwrap_or(0),
                        })
                    }
                    _ => None,
                };
                let char_of = |what: &str, value: &Option<String>| {
                    value
                        .as_deref()
                        .map(parse_delimiter)
                        .transpose()
                        .map_err(|m| {
                            let m = m.replacen("delimiter", what, 1);
                            Error::config(&self.config_path, format!("input `{name}`: {m}"))
                        })
                };
                let delimiter = char_of("delimiter", &spec.delimiter)?;
                let quote = char_of("quote", &spec.quote)?;
                let escape = char_of("escape", &spec.escape)?;
                let types = spec
                    .types
                    .iter()
                    .map(|(col, t)| {
                        crate::load::parse_declared_type(t)
                            .map(|dt| (col.clone(), dt))
                            .map_err(|m| {
                                Error::config(
                                    &self.config_path,
                                    format!("input `{name}`: types.{col}: {m}"),
                                )
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let at = match (spec.version, &spec.as_of) {
                    (Some(_), Some(_)) => {
                        return Err(err(format!(
                            "input `{name}`: give `version` or `as_of`, not both"
                        )));
                    }
                    (Some(v), None) => Some(crate::load::tables::At::Version(v)),
                    (None, Some(t)) => {
                        chrono::DateTime::parse_from_rfc3339(t).map_err(|e| {
                            err(format!(
                                "input `{name}`: as_of {t:?}: {e} (an RFC 3339 time, e.g. 2026-11-30T00:00:00Z)"
                            ))
                        })?;
                        Some(crate::load::tables::At::Timestamp(t.clone()))
                    }
                    (None, None) => None,
                };
                Ok(InputSource {
                    name: name.clone(),
                    label: name.clone(),
                    types,
                    at,
                    table: spec.table.clone(),
                    query: spec.query.clone(),
                    path: if crate::load::store::is_url(&spec.path)
                        || crate::load::tables::is_postgres(&spec.path)
                    {
                        PathBuf::from(&spec.path)
                    } else {
                        self.resolve(&spec.path)
                    },
                    storage: spec.storage.clone(),
                    format: spec.format,
                    delimiter,
                    quote,
                    escape,
                    has_header: spec.has_header,
                    json_layout: spec.json_layout,
                    filter: Filter { predicates, sample },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if chosen_spec.fraction.is_some() && !sampled_any {
            let table = env.map_or("subset".to_string(), |e| format!("env.{e}"));
            return Err(err(format!(
                "{table}.fraction: no input has a `sample_column` to sample on (set it on each input whose rows should be sampled, e.g. the customer id)"
            )));
        }
        let info = chosen.map(|c| SubsetInfo {
            env: env.map(str::to_string),
            fraction: c.fraction,
            seed: c.fraction.map(|_| c.seed.unwrap_or(0)),
            as_of: as_of.clone(),
        });
        let info = match info {
            None if as_of.is_some() || sources.iter().any(|s| !s.filter.is_empty()) => {
                Some(SubsetInfo {
                    env: None,
                    fraction: None,
                    seed: None,
                    as_of,
                })
            }
            other => other,
        };
        Ok((sources, info))
    }

    /// `path` as given in the scenario file, against the scenario's
    /// directory (`.` components left out: `"."` is the directory itself).
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        };
        let tidy: PathBuf = full
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        if tidy.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            tidy
        }
    }
}

/// A date as `YYYY-MM-DD`, checked to be a real date: the only text put
/// into a predicate for `{as_of}`.
fn check_date(d: &str) -> std::result::Result<String, String> {
    use datafusion::arrow::compute::kernels::cast_utils::Parser;
    use datafusion::arrow::datatypes::Date32Type;
    let shaped = d.len() == 10
        && d.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if shaped && Date32Type::parse(d).is_some() {
        Ok(d.to_string())
    } else {
        Err(format!("{d:?} is not a date (YYYY-MM-DD)"))
    }
}

/// Put the `as_of` date into a predicate's `{as_of}` placeholders.
fn substitute_as_of(p: &str, as_of: Option<&str>) -> std::result::Result<String, String> {
    if !p.contains("{as_of}") {
        return Ok(p.to_string());
    }
    match as_of {
        Some(d) => Ok(p.replace("{as_of}", d)),
        None => Err("uses {as_of} but no date is given (as_of in the config or --as-of)".into()),
    }
}

/// A CSV delimiter (or quote, or escape) as given: one ASCII character,
/// or `\t` for a tab.
pub fn parse_delimiter(d: &str) -> std::result::Result<u8, String> {
    match d {
        "\\t" => Ok(b'\t'),
        _ if d.len() == 1 => Ok(d.as_bytes()[0]),
        _ => Err(format!("delimiter must be one ASCII character, got {d:?}")),
    }
}

/// Read and parse `<dir>/diffgate.toml`.
pub fn load(dir: &Path) -> Result<LoadedScenario> {
    let config_path = if dir.is_file() {
        dir.to_path_buf()
    } else {
        dir.join(FILE_NAME)
    };
    let dir = config_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    // A dbt project with no diffgate.toml is its own transform, v1 read
    // from git with --base.
    if !config_path.exists() && crate::dbt::is_project(&dir) {
        let scenario =
            parse("[transform]\npath = \".\"\n").map_err(|m| Error::config(&config_path, m))?;
        return Ok(LoadedScenario {
            config_path: dir.join(crate::dbt::PROJECT_FILE),
            dir,
            scenario,
        });
    }
    let text = std::fs::read_to_string(&config_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::config(
            &config_path,
            "no such file (a scenario directory holds a diffgate.toml)",
        ),
        _ => Error::config(&config_path, e.to_string()),
    })?;
    from_text(&config_path, &text)
}

/// A scenario from its text, as if read from `config_path` (paths in it
/// resolve against that file's folder): what `diffgate init` checks a draft
/// with before writing it.
pub fn from_text(config_path: &Path, text: &str) -> Result<LoadedScenario> {
    let scenario = parse(text).map_err(|m| Error::config(config_path, m))?;
    Ok(LoadedScenario {
        dir: config_path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        config_path: config_path.to_path_buf(),
        scenario,
    })
}

/// Parse scenario TOML; errors carry the line and, for unknown keys, a
/// suggestion.
pub fn parse(text: &str) -> std::result::Result<Scenario, String> {
    let mut scenario: Scenario = toml::from_str(text).map_err(|e| explain(&e))?;
    // A column's limit is a policy rule's, set where its tolerance is.
    for (name, col) in &scenario.compare.columns {
        if let Some(x) = col.max_mismatch_rate {
            let limits = &mut scenario.policy.max_column_mismatch_rate;
            limits.insert(name.clone(), x);
        }
        let drift = match &col.drift {
            None | Some(DriftSpec::On(true)) => None,
            Some(DriftSpec::On(false)) => Some(crate::judge::ColumnDrift {
                off: true,
                ..Default::default()
            }),
            Some(DriftSpec::Limits(d)) => Some(*d),
        };
        if let Some(d) = drift {
            scenario.policy.drift_columns.insert(name.clone(), d);
        }
    }
    validate(&scenario)?;
    Ok(scenario)
}

fn validate(s: &Scenario) -> std::result::Result<(), String> {
    let t = &s.transform;
    match (&t.v1, &t.v2, &t.path) {
        (Some(_), Some(_), None) | (None, None, Some(_)) => {}
        (_, _, Some(_)) => {
            return Err("transform: give either `path` (v1 from git with --base) or both `v1` and `v2`, not both".into());
        }
        _ => {
            return Err("transform: give both `v1` and `v2`, or `path` and run with --base REF to read v1 from git".into());
        }
    }
    let c = &s.compare;
    check_tol("compare.abs_tol", c.abs_tol)?;
    check_tol("compare.rel_tol", c.rel_tol)?;
    for (name, col) in &c.columns {
        if let Some(x) = col.abs_tol {
            check_tol(&format!("compare.columns.{name}.abs_tol"), x)?;
        }
        if let Some(x) = col.rel_tol {
            check_tol(&format!("compare.columns.{name}.rel_tol"), x)?;
        }
        if let Some(d) = &col.tolerance {
            humantime::parse_duration(d)
                .map_err(|e| format!("compare.columns.{name}.tolerance {d:?}: {e}"))?;
        }
    }
    if let KeySpec::Many(k) = &c.key
        && k.iter().any(|x| x.is_empty())
    {
        return Err("compare.key: key column names may not be empty".into());
    }
    for pattern in &c.mask {
        glob::Pattern::new(pattern).map_err(|e| format!("compare.mask {pattern:?}: {e}"))?;
    }
    for (old, new) in &c.rename {
        if old.is_empty() || new.is_empty() || old == new {
            return Err(format!(
                "compare.rename {old:?} = {new:?}: give a v1 column and the other name v2 has for it"
            ));
        }
    }
    if matches!(&c.key, KeySpec::Many(k) if k.is_empty()) {
        return Err("compare.key: the list is empty; leave `key` out to compare whole rows".into());
    }
    if let Some(n) = t.runs
        && n < 2
    {
        return Err(format!(
            "transform.runs = {n}: the determinism check needs 2 runs or more (leave it out to skip the check)"
        ));
    }
    let subsets = s
        .subset
        .iter()
        .map(|x| ("subset".to_string(), x))
        .chain(s.env.iter().map(|(n, x)| (format!("env.{n}"), x)));
    for (what, x) in subsets {
        if let Some(f) = x.fraction
            && !(f.is_finite() && f > 0.0 && f <= 1.0)
        {
            return Err(format!(
                "{what}.fraction must be above 0 and at most 1, got {f}"
            ));
        }
        if let Some(d) = &x.as_of {
            check_date(d).map_err(|m| format!("{what}.as_of: {m}"))?;
        }
    }
    for (i, e) in s.expect.iter().enumerate() {
        Expectation::from_spec(e).map_err(|m| format!("expect[{}]: {m}", i + 1))?;
    }
    if let Some(c) = &s.contract {
        crate::compare::contract::checks(c, 0).map_err(|m| format!("contract.{m}"))?;
    }
    for (name, m) in &s.models {
        if let Some(c) = &m.contract {
            crate::compare::contract::checks(c, 0)
                .map_err(|m| format!("models.{name}.contract.{m}"))?;
        }
        for (i, e) in m.expect.iter().enumerate() {
            Expectation::from_spec(e)
                .map_err(|m| format!("models.{name}.expect[{}]: {m}", i + 1))?;
        }
    }
    s.policy.validate().map_err(|m| format!("policy: {m}"))
}

/// The checks of a `[contract]` (checked when parsed), freshness measured
/// from now unless it says otherwise.
pub fn contract_checks(spec: &Option<ContractSpec>) -> Vec<crate::compare::contract::Check> {
    let now = chrono::Utc::now().timestamp_micros();
    spec.as_ref()
        .and_then(|c| crate::compare::contract::checks(c, now).ok())
        .unwrap_or_default()
}

/// The declared changes of `[[expect]]`, checked when parsed.
pub fn expectations(specs: &[ExpectSpec]) -> Vec<Expectation> {
    specs
        .iter()
        .filter_map(|e| Expectation::from_spec(e).ok())
        .collect()
}

/// Tolerances must be finite and non-negative.
pub fn check_tol(what: &str, x: f64) -> std::result::Result<(), String> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(format!("{what} must be a finite number >= 0, got {x}"))
    }
}

/// Make a TOML error readable: keep toml's line/column snippet and add a
/// "did you mean" for unknown keys.
fn explain(e: &toml::de::Error) -> String {
    let msg = e.to_string();
    match suggestion(e.message()) {
        Some(s) => format!("{msg}did you mean `{s}`?"),
        None => msg,
    }
}

/// A serde message with a "did you mean" appended for unknown keys.
pub fn explain_message(message: &str) -> String {
    match suggestion(message) {
        Some(s) => format!("{message} (did you mean `{s}`?)"),
        None => message.to_string(),
    }
}

fn suggestion(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, expected) = rest.split_once("`, expected ")?;
    let candidates: Vec<&str> = expected
        .split('`')
        .filter(|s| !s.is_empty() && !s.contains(' ') && !s.contains(','))
        .collect();
    did_you_mean(field, candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [inputs]
        orders = "orders.csv"
        [transform]
        v1 = "v1.sql"
        v2 = "v2.sql"
    "#;

    #[test]
    fn column_drift_settings_become_the_policys() {
        let s = parse(&format!(
            "{MINIMAL}\n[compare.columns.a]\ndrift = false\n\
             [compare.columns.b]\ndrift = {{ psi = {{ block = 0.5 }} }}\n\
             [compare.columns.c]\ndrift = true\n"
        ))
        .unwrap();
        let d = &s.policy.drift_columns;
        assert!(d["a"].off);
        assert_eq!(d["b"].psi.unwrap().block, Some(0.5));
        assert_eq!(d["b"].psi.unwrap().review, None);
        assert!(!d.contains_key("c"));
        let bad = parse(&format!(
            "{MINIMAL}\n[compare.columns.b]\ndrift = {{ psi = {{ block = -1.0 }} }}\n"
        ));
        assert!(
            bad.unwrap_err().contains("psi.block"),
            "negative limits are refused"
        );
    }

    #[test]
    fn minimal_config_uses_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert!(s.compare.key.columns().is_empty());
        assert_eq!(s.compare.sample_size, 10);
        assert_eq!(s.policy, Policy::default());
    }

    #[test]
    fn full_config_parses() {
        let s = parse(
            r#"
            description = "d"
            expected_verdict = "review"
            [inputs]
            a = { path = "a.csv", delimiter = ";", has_header = false }
            b = { path = "b.json", format = "json", json_layout = "array" }
            [transform]
            v1 = "v1.sql"
            v2 = "v2.sql"
            [compare]
            key = ["region", "seq"]
            abs_tol = 1e-9
            ignore_columns = ["loaded_at"]
            [compare.columns.price]
            abs_tol = 0.01
            [policy]
            rows_added = "block"
            max_removed_or_changed_fraction = 0.05
            fail_on = "review"
            "#,
        )
        .unwrap();
        assert_eq!(s.expected_verdict, Some(Verdict::Review));
        assert_eq!(s.compare.key.columns(), ["region", "seq"]);
        assert_eq!(s.compare.columns["price"].abs_tol, Some(0.01));
        assert_eq!(s.policy.max_removed_or_changed_fraction, 0.05);
    }

    #[test]
    fn unknown_keys_are_named_with_a_suggestion() {
        let err = parse(&format!("{MINIMAL}\n[compare]\nkee = \"id\"\n")).unwrap_err();
        assert!(
            err.contains("kee") && err.contains("did you mean `key`"),
            "{err}"
        );
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn negative_or_nan_tolerances_are_refused() {
        let err = parse(&format!("{MINIMAL}\n[compare]\nabs_tol = -1.0\n")).unwrap_err();
        assert!(err.contains("compare.abs_tol"), "{err}");
        let err = parse(&format!("{MINIMAL}\n[compare]\nrel_tol = nan\n")).unwrap_err();
        assert!(err.contains("compare.rel_tol"), "{err}");
    }

    #[test]
    fn missing_transform_is_an_error() {
        let err = parse("[inputs]\na = \"a.csv\"\n").unwrap_err();
        assert!(err.contains("transform"), "{err}");
    }
}
