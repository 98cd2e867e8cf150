//! Rendering models' Jinja the way dbt does, with minijinja.
//!
//! The context dbt gives a model: `ref`, `source`, `config` (recording
//! `materialized`, `unique_key`, `enabled`; nothing else has an effect),
//! `var` (`--vars`, then the project's `vars:`, then the default; string
//! values rendered in turn, as dbt does), `env_var`, `target`, `this`,
//! `is_incremental()` (false: both versions are full refreshes, and the
//! report says so), `return`, `adapter.dispatch`, `exceptions`, `log`,
//! `execute`, and macros: the project's (global and under its name),
//! installed packages' (under their names) and dbt's own cross-database
//! macros (global and under `dbt`), written here to render DataFusion SQL
//! (`macros/dbt.sql`). The `dbt_utils` macros people use most are written
//! here too (`macros/dbt_utils.sql`) and win over an installed copy.
//!
//! Macros render to strings in Jinja; dbt's `return(x)` hands back any
//! value. Each macro is therefore called through a Rust function: `return`
//! stores its value and stops the macro with an error, which that function
//! turns back into the value.
//!
//! `adapter.get_columns_in_relation` (and so `dbt_utils.star` and
//! `get_filtered_columns_in_relation`) is answered from the registered
//! inputs and the upstream models as planned: a model that asks is
//! rendered a first time with no columns known (as dbt parses a project,
//! which is enough to find its `ref`s), and again when it is about to run,
//! with the columns of every relation it asked about (see [`Columns`]).
//! What needs data from a live warehouse (`run_query`,
//! `dbt_utils.get_column_values` and the like) is an error naming the
//! macro, so no model is ever rendered with a guessed answer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use minijinja::value::{Object, Value};
use minijinja::{Environment, Error as JError, ErrorKind, State, UndefinedBehavior};
use serde_json::Value as Json;

use super::project::{File, ModelFile, Package, Project};
use crate::engine::Warehouse;

const DBT_MACROS: &str = include_str!("macros/dbt.sql");
const DBT_UTILS_MACROS: &str = include_str!("macros/dbt_utils.sql");

/// Fuel for one model's rendering: bounds a runaway loop in a pull
/// request's Jinja.
const FUEL: u64 = 50_000_000;

/// What a model's Jinja may refer to, in this version.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Models of this version.
    pub models: BTreeSet<String>,
    /// Seeds, by name: the input each is registered as.
    pub seeds: BTreeMap<String, String>,
    /// Source tables, by (source, table): the input each is registered as,
    /// or why there is none.
    pub sources: BTreeMap<(String, String), Result<String, String>>,
}

/// The target a run renders for.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub schema: String,
    pub database: String,
    pub warehouse: Option<Warehouse>,
}

impl Target {
    fn kind(&self) -> &'static str {
        self.warehouse.map_or("datafusion", Warehouse::as_str)
    }
}

/// One model rendered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub sql: String,
    /// Models it reads (`ref` to a model).
    pub refs: BTreeSet<String>,
    /// `config(...)` arguments of the model, as JSON.
    pub config: BTreeMap<String, Json>,
    /// Whether it called `is_incremental()`.
    pub incremental: bool,
    /// Relations whose columns it asked for (`adapter.get_columns_in_relation`).
    pub introspected: BTreeSet<String>,
}

pub use crate::models::Columns;

/// What rendering one model records.
#[derive(Default)]
struct Capture {
    refs: BTreeSet<String>,
    config: BTreeMap<String, Json>,
    incremental: bool,
    /// Values handed to `return()`, innermost macro last.
    returns: Vec<Value>,
    /// The columns known while rendering: `None` on the first rendering
    /// (every relation answers no columns), else those of every relation
    /// the model may ask about.
    columns: Option<Columns>,
    /// Relations asked about.
    introspected: BTreeSet<String>,
}

type Shared = Arc<Mutex<Capture>>;

fn lock(c: &Shared) -> MutexGuard<'_, Capture> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

/// A callable value with dbt's calling convention (positional arguments,
/// keyword arguments as a trailing map).
type Body = dyn Fn(&mut State<'_, '_>, Args) -> Result<Value, JError> + Send + Sync;

struct Func {
    name: String,
    f: Box<Body>,
}

impl fmt::Debug for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

impl Object for Func {
    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, JError> {
        (self.f)(state, Args::new(args))
    }
}

fn func(
    name: &str,
    f: impl Fn(&mut State<'_, '_>, Args) -> Result<Value, JError> + Send + Sync + 'static,
) -> Value {
    Value::from_object(Func {
        name: name.to_string(),
        f: Box::new(f),
    })
}

/// A call's arguments: positional, then keyword.
struct Args {
    all: Vec<Value>,
    positional: Vec<Value>,
    keywords: BTreeMap<String, Value>,
}

impl Args {
    fn new(args: &[Value]) -> Args {
        let mut positional = args.to_vec();
        let mut keywords = BTreeMap::new();
        if positional.last().is_some_and(Value::is_kwargs)
            && let Some(kw) = positional.pop()
            && let Ok(keys) = kw.try_iter()
        {
            for k in keys {
                if let (Some(name), Ok(v)) = (k.as_str(), kw.get_item(&k)) {
                    keywords.insert(name.to_string(), v);
                }
            }
        }
        Args {
            all: args.to_vec(),
            positional,
            keywords,
        }
    }

    /// Argument `i`, or keyword `name`.
    fn get(&self, i: usize, name: &str) -> Option<Value> {
        self.positional
            .get(i)
            .cloned()
            .or_else(|| self.keywords.get(name).cloned())
            .filter(|v| !v.is_undefined())
    }

    fn string(&self, i: usize, name: &str, call: &str) -> Result<String, JError> {
        match self.get(i, name) {
            Some(v) => Ok(v.as_str().map_or_else(|| v.to_string(), str::to_string)),
            None => Err(error(format!("{call}(): argument `{name}` is missing"))),
        }
    }
}

/// A serde value as a Jinja value.
fn js<T: serde::Serialize>(v: T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

fn error(message: impl Into<String>) -> JError {
    JError::new(ErrorKind::InvalidOperation, message.into())
}

/// A relation (`ref`, `source`, `this`): renders as the name the table is
/// registered under.
#[derive(Debug)]
struct Relation {
    name: String,
    schema: String,
    database: String,
}

impl Object for Relation {
    /// A relation is a value (`{% if relation %}`), not an empty map.
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "name" | "identifier" | "table" => Value::from(self.name.clone()),
            "schema" => Value::from(self.schema.clone()),
            "database" => Value::from(self.database.clone()),
            "is_table" => Value::from(true),
            "is_view" | "is_cte" => Value::from(false),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, JError> {
        match method {
            // Quoting and the parts shown make no difference to a name
            // registered in one session.
            "include" | "quote" | "incorporate" => Ok(Value::from_dyn_object(self.clone())),
            "render" => Ok(Value::from(self.name.clone())),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// `config`: callable (`config(materialized='table')`, recorded) and with
/// `config.get(key, default)` reading what was recorded.
#[derive(Debug)]
struct Config {
    capture: SharedDebug,
}

#[derive(Clone)]
struct SharedDebug(Shared);

impl fmt::Debug for SharedDebug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("config")
    }
}

impl Object for Config {
    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, JError> {
        let args = Args::new(args);
        let mut c = lock(&self.capture.0);
        for (k, v) in &args.keywords {
            let json = serde_json::to_value(v).unwrap_or(Json::Null);
            c.config.insert(k.clone(), json);
        }
        // A dict as the one positional argument sets the same.
        if let Some(first) = args.positional.first()
            && let Ok(keys) = first.try_iter()
        {
            for k in keys {
                if let (Some(name), Ok(v)) = (k.as_str(), first.get_item(&k)) {
                    let json = serde_json::to_value(&v).unwrap_or(Json::Null);
                    c.config.insert(name.to_string(), json);
                }
            }
        }
        Ok(Value::from(""))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let args = Args::new(args);
        match method {
            "get" | "require" => {
                let key = args.string(0, "name", "config.get")?;
                let c = lock(&self.capture.0);
                match c.config.get(&key) {
                    Some(v) => Ok(js(v)),
                    None if method == "require" => Err(error(format!(
                        "config.require('{key}'): `{key}` is not set"
                    ))),
                    None => Ok(args.get(1, "default").unwrap_or(Value::from(()))),
                }
            }
            "set" => Ok(Value::from("")),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// Where each macro is defined: namespace → macro name → template.
type Registry = BTreeMap<String, BTreeMap<String, String>>;

/// The macro names a file defines (`{% macro name(`).
fn macro_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{%") {
        rest = &rest[i + 2..];
        let t = rest.trim_start_matches(['-', '+']).trim_start();
        if let Some(after) = t.strip_prefix("macro")
            && after.starts_with(char::is_whitespace)
        {
            let name: String = after
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// dbt's `{% test name(...) %}` blocks define the macro `test_name`.
fn tests_as_macros(text: &str) -> String {
    if !text.contains("test") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{%") {
        out.push_str(&rest[..i]);
        let tag = &rest[i..];
        let end = tag.find("%}").map_or(tag.len(), |e| e + 2);
        let inner = &tag[2..end.saturating_sub(2).max(2)];
        let trimmed = inner.trim_start_matches(['-', '+']).trim_start();
        let lead = &inner[..inner.len() - trimmed.len()];
        if let Some(after) = trimmed.strip_prefix("test")
            && after.starts_with(char::is_whitespace)
        {
            out.push_str(&format!("{{%{lead}macro test_{}%}}", after.trim_start()));
        } else if let Some(after) = trimmed.strip_prefix("endtest") {
            out.push_str(&format!("{{%{lead}endmacro{after}%}}"));
        } else {
            out.push_str(&tag[..end]);
        }
        rest = &tag[end..];
    }
    out.push_str(rest);
    out
}

/// A macro of template `template`, called through Rust so that `return()`
/// gives its value.
fn macro_value(template: String, name: String, capture: Shared) -> Value {
    let label = name.clone();
    func(&label, move |state, args| {
        let tmpl = state.env().get_template(&template)?;
        let depth = lock(&capture).returns.len();
        let mut captured = tmpl.render_captured(())?;
        let result = captured.with_state_mut(|st| match st.lookup(&name) {
            Some(m) => m.call(st, &args.all),
            None => Err(error(format!(
                "macro `{name}` is not defined in {template}"
            ))),
        });
        let mut c = lock(&capture);
        if c.returns.len() > depth {
            let v = c.returns.pop().unwrap_or_default();
            c.returns.truncate(depth);
            return Ok(v);
        }
        result
    })
}

/// Renders the models of one project version.
pub struct Renderer {
    env: Environment<'static>,
    capture: Shared,
    target: Target,
}

impl Renderer {
    pub fn new(
        project: &Project,
        packages: &[Package],
        names: Names,
        vars: BTreeMap<String, Json>,
        target: Target,
    ) -> Result<Renderer, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(200);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        let capture: Shared = Arc::default();
        let mut registry: Registry = BTreeMap::new();
        let mut add = |env: &mut Environment<'static>,
                       ns: &str,
                       template: String,
                       file: &File|
         -> Result<(), String> {
            let text = tests_as_macros(&file.text);
            if let Err(e) = env.add_template_owned(template.clone(), text.clone()) {
                // A macro file minijinja cannot read stops only the models
                // that call one of its macros, with this message.
                let why = describe(&e, Some(file));
                let broken = format!("{template}#unreadable");
                let mut stub = String::new();
                for m in macro_names(&text) {
                    stub.push_str(&format!(
                        "{{% macro {m}() %}}{{{{ exceptions.raise_compiler_error({:?}) }}}}{{% endmacro %}}\n",
                        format!("macro `{m}` of {} cannot be read: {why}", file.shown)
                    ));
                }
                env.add_template_owned(broken.clone(), stub)
                    .map_err(|e| describe(&e, Some(file)))?;
                for m in macro_names(&text) {
                    registry
                        .entry(ns.to_string())
                        .or_default()
                        .insert(m, broken.clone());
                }
                return Ok(());
            }
            for m in macro_names(&text) {
                registry
                    .entry(ns.to_string())
                    .or_default()
                    .insert(m, template.clone());
            }
            Ok(())
        };
        let builtin = |name: &str, text: &str| File {
            rel: name.to_string(),
            shown: format!("(diffgate's {name})"),
            text: text.to_string(),
        };
        add(
            &mut env,
            "dbt",
            "dbt/macros.sql".into(),
            &builtin("dbt.sql", DBT_MACROS),
        )?;
        for p in packages {
            for f in &p.macros {
                add(&mut env, &p.name, format!("{}/{}", p.name, f.rel), f)?;
            }
        }
        // Written here, winning over an installed dbt_utils.
        add(
            &mut env,
            "dbt_utils",
            "dbt_utils/diffgate.sql".into(),
            &builtin("dbt_utils.sql", DBT_UTILS_MACROS),
        )?;
        for f in &project.macros {
            add(
                &mut env,
                &project.name,
                format!("{}/{}", project.name, f.rel),
                f,
            )?;
        }
        // dbt_utils before 1.0 held the cross-database macros.
        let dbt = registry.get("dbt").cloned().unwrap_or_default();
        let utils = registry.entry("dbt_utils".into()).or_default();
        for (m, t) in &dbt {
            utils.entry(m.clone()).or_insert_with(|| t.clone());
        }
        let value = |ns: &str, m: &str| {
            registry
                .get(ns)
                .and_then(|ms| ms.get(m))
                .map(|t| macro_value(t.clone(), m.to_string(), capture.clone()))
        };
        // Namespaces.
        for (ns, macros) in &registry {
            let map: BTreeMap<String, Value> = macros
                .keys()
                .filter_map(|m| value(ns, m).map(|v| (m.clone(), v)))
                .collect();
            env.add_global(ns.clone(), Value::from(map));
        }
        // Global macros: dbt's, then the project's over them.
        for ns in ["dbt", project.name.as_str()] {
            if let Some(macros) = registry.get(ns) {
                for m in macros.keys() {
                    if let Some(v) = value(ns, m) {
                        env.add_global(m.clone(), v);
                    }
                }
            }
        }
        let mut r = Renderer {
            env,
            capture,
            target,
        };
        r.add_context(project, names, vars, registry);
        Ok(r)
    }

    /// The globals every model sees.
    fn add_context(
        &mut self,
        project: &Project,
        names: Names,
        vars: BTreeMap<String, Json>,
        registry: Registry,
    ) {
        let env = &mut self.env;
        let t = &self.target;
        let (schema, database) = (t.schema.clone(), t.database.clone());
        let names = Arc::new(names);
        let relation = move |name: &str| {
            Value::from_object(Relation {
                name: name.to_string(),
                schema: schema.clone(),
                database: database.clone(),
            })
        };
        let c = self.capture.clone();
        let n = names.clone();
        let rel = relation.clone();
        env.add_global(
            "ref",
            func("ref", move |_, args| {
                let name = match args.positional.len() {
                    2 => args.string(1, "name", "ref")?,
                    _ => args.string(0, "name", "ref")?,
                };
                if n.models.contains(&name) {
                    lock(&c).refs.insert(name.clone());
                    return Ok(rel(&name));
                }
                if let Some(input) = n.seeds.get(&name) {
                    return Ok(rel(input));
                }
                Err(error(format!(
                    "ref('{name}'): no model or seed `{name}` in this project"
                )))
            }),
        );
        let n = names.clone();
        let rel = relation.clone();
        env.add_global(
            "source",
            func("source", move |_, args| {
                let source = args.string(0, "source_name", "source")?;
                let table = args.string(1, "table_name", "source")?;
                match n.sources.get(&(source.clone(), table.clone())) {
                    Some(Ok(input)) => Ok(rel(input)),
                    Some(Err(why)) => Err(error(format!("source('{source}', '{table}'): {why}"))),
                    None => Err(error(format!(
                        "source('{source}', '{table}'): no such source table is declared in the project's YAML files"
                    ))),
                }
            }),
        );
        env.add_global(
            "config",
            Value::from_object(Config {
                capture: SharedDebug(self.capture.clone()),
            }),
        );
        let project_vars = project.vars.clone();
        env.add_global(
            "var",
            func("var", move |state, args| {
                let name = args.string(0, "name", "var")?;
                let v = vars.get(&name).or_else(|| project_vars.get(&name));
                match v {
                    Some(Json::String(s)) if s.contains("{{") || s.contains("{%") => {
                        state.env().render_str(s, ()).map(Value::from)
                    }
                    Some(v) => Ok(js(v)),
                    None => args
                        .get(1, "default")
                        .ok_or_else(|| error(format!("var('{name}'): required var `{name}` is not set: give it in the project's `vars:` or with --vars"))),
                }
            }),
        );
        env.add_global(
            "env_var",
            func("env_var", |_, args| {
                let name = args.string(0, "var", "env_var")?;
                if name.starts_with("DBT_ENV_SECRET") {
                    return Err(error(format!(
                        "env_var('{name}'): secrets (DBT_ENV_SECRET_*) may not be rendered into a model"
                    )));
                }
                // A pull request's model could print any other variable (a
                // CI token) into an error message: only DBT_* are read;
                // others take their default.
                if !name.starts_with("DBT_") {
                    return args.get(1, "default").ok_or_else(|| {
                        error(format!("env_var('{name}'): only DBT_* environment variables are read into models (CI secrets live in the others); give a default or rename it"))
                    });
                }
                match std::env::var(&name) {
                    Ok(v) => Ok(Value::from(v)),
                    Err(_) => args.get(1, "default").ok_or_else(|| {
                        error(format!("env_var('{name}'): the environment variable `{name}` is not set and no default is given"))
                    }),
                }
            }),
        );
        let c = self.capture.clone();
        env.add_global(
            "is_incremental",
            func("is_incremental", move |_, _| {
                lock(&c).incremental = true;
                Ok(Value::from(false))
            }),
        );
        env.add_global(
            "should_full_refresh",
            func("should_full_refresh", |_, _| Ok(Value::from(true))),
        );
        let c = self.capture.clone();
        env.add_global(
            "return",
            func("return", move |_, args| {
                let v = args.positional.first().cloned().unwrap_or_default();
                lock(&c).returns.push(v);
                Err(error("return() outside a macro"))
            }),
        );
        env.add_global("log", func("log", |_, _| Ok(Value::from(""))));
        env.add_global("print", func("print", |_, _| Ok(Value::from(""))));
        env.add_global("execute", Value::from(true));
        env.add_global(
            "flags",
            js(serde_json::json!({"FULL_REFRESH": false, "WHICH": "run"})),
        );
        env.add_global(
            "fromjson",
            func("fromjson", |_, args| {
                let s = args.string(0, "string", "fromjson")?;
                serde_json::from_str::<Json>(&s)
                    .map(|j| js(&j))
                    .map_err(|e| error(format!("fromjson(): {e}")))
            }),
        );
        env.add_global(
            "tojson",
            func("tojson", |_, args| {
                let v = args.get(0, "value").unwrap_or_default();
                serde_json::to_string(&v)
                    .map(Value::from)
                    .map_err(|e| error(format!("tojson(): {e}")))
            }),
        );
        let mut exceptions = BTreeMap::new();
        exceptions.insert(
            "raise_compiler_error".to_string(),
            func("raise_compiler_error", |_, args| {
                let m = args
                    .string(0, "msg", "raise_compiler_error")
                    .unwrap_or_default();
                Err(error(format!("the model raised a compiler error: {m}")))
            }),
        );
        exceptions.insert("warn".to_string(), func("warn", |_, _| Ok(Value::from(""))));
        env.add_global("exceptions", Value::from(exceptions));
        for name in ["run_query", "statement", "load_result"] {
            env.add_global(name, needs_warehouse(name));
        }
        let target = serde_json::json!({
            "name": t.name,
            "schema": t.schema,
            "database": t.database,
            "type": t.kind(),
            "threads": 1,
            "profile_name": project.profile.clone().unwrap_or_default(),
        });
        env.add_global("target", js(&target));
        env.add_global("project_name", Value::from(project.name.clone()));
        env.add_global(
            "adapter",
            Value::from_object(Adapter {
                registry: Arc::new(registry),
                project: project.name.clone(),
                kind: t.kind(),
                capture: SharedDebug(self.capture.clone()),
            }),
        );
    }

    /// Render one model. The error names the file and line.
    pub fn render(
        &mut self,
        model: &ModelFile,
        config: &BTreeMap<String, Json>,
        columns: Option<Columns>,
    ) -> Result<Rendered, String> {
        {
            let mut c = lock(&self.capture);
            *c = Capture::default();
            c.config = config.clone();
            c.columns = columns;
        }
        let this = Value::from_object(Relation {
            name: model.name.clone(),
            schema: self.target.schema.clone(),
            database: self.target.database.clone(),
        });
        self.env.add_global("this", this);
        self.env.add_global(
            "model",
            js(serde_json::json!({
                "name": model.name,
                "unique_id": format!("model.{}", model.name),
                "resource_type": "model",
                "original_file_path": model.file.rel,
            })),
        );
        let name = format!("model:{}", model.file.rel);
        self.env
            .add_template_owned(name.clone(), model.file.text.clone())
            .map_err(|e| describe(&e, Some(&model.file)))?;
        let rendered = self
            .env
            .get_template(&name)
            .and_then(|t| t.render(()))
            .map_err(|e| describe(&e, Some(&model.file)));
        self.env.remove_template(&name);
        let sql = rendered?;
        let c = lock(&self.capture);
        Ok(Rendered {
            sql,
            refs: c.refs.clone(),
            config: c.config.clone(),
            incremental: c.incremental,
            introspected: c.introspected.clone(),
        })
    }

    /// Render a string setting that holds Jinja (`"{{ target.name != 'prod' }}"`).
    pub fn render_setting(&self, text: &str) -> Result<String, String> {
        self.env
            .render_str(text, ())
            .map_err(|e| describe(&e, None))
    }
}

fn needs_warehouse(name: &'static str) -> Value {
    func(name, move |_, _| {
        Err(error(format!(
            "`{name}` asks a live warehouse, which diffgate does not have: compute the value in SQL, or give it with --vars"
        )))
    })
}

/// `adapter`: `dispatch` finds a macro's implementation for this target;
/// `quote` and `type` answer; `get_columns_in_relation` answers from the
/// columns known to this rendering.
#[derive(Debug)]
struct Adapter {
    registry: Arc<Registry>,
    project: String,
    kind: &'static str,
    capture: SharedDebug,
}

impl Object for Adapter {
    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let args = Args::new(args);
        match method {
            "dispatch" => {
                let name = args.string(0, "macro_name", "adapter.dispatch")?;
                let ns = args
                    .get(1, "macro_namespace")
                    .and_then(|v| v.as_str().map(str::to_string));
                // Implementations for DataFusion first, then the target's
                // warehouse, then the default; the project's own before the
                // namespace's, before dbt's.
                let mut spaces = vec![self.project.clone()];
                spaces.extend(ns.clone());
                spaces.push("dbt".into());
                for prefix in ["datafusion", self.kind, "default"] {
                    let wanted = format!("{prefix}__{name}");
                    for space in &spaces {
                        if let Some(t) = self.registry.get(space).and_then(|m| m.get(&wanted)) {
                            return Ok(macro_value(t.clone(), wanted, self.capture.0.clone()));
                        }
                    }
                }
                // A plain macro of that name (dbt's own cross-db macros).
                for space in spaces.iter().rev() {
                    if let Some(t) = self.registry.get(space).and_then(|m| m.get(&name)) {
                        return Ok(macro_value(t.clone(), name, self.capture.0.clone()));
                    }
                }
                Err(error(format!(
                    "adapter.dispatch('{name}'{}): no implementation `default__{name}` (nor `{}__{name}`) in the project, {}dbt",
                    ns.as_ref().map(|n| format!(", '{n}'")).unwrap_or_default(),
                    self.kind,
                    ns.as_ref()
                        .map(|n| format!("package `{n}` or "))
                        .unwrap_or_default()
                )))
            }
            "quote" => Ok(Value::from(format!(
                "\"{}\"",
                args.string(0, "identifier", "adapter.quote")?
            ))),
            "type" => Ok(Value::from(self.kind)),
            "get_columns_in_relation" => {
                let relation = args.get(0, "relation").ok_or_else(|| {
                    error("adapter.get_columns_in_relation() needs a relation".to_string())
                })?;
                let name = relation
                    .get_attr("identifier")
                    .ok()
                    .filter(|v| !v.is_undefined() && !v.is_none())
                    .unwrap_or(relation)
                    .to_string();
                let mut c = lock(&self.capture.0);
                c.introspected.insert(name.clone());
                let Some(known) = &c.columns else {
                    return Ok(Value::from(Vec::<Value>::new()));
                };
                let Some(cols) = known.get(&name) else {
                    return Err(error(format!(
                        "adapter.get_columns_in_relation({name}): no input or model `{name}` to read the columns of"
                    )));
                };
                Ok(Value::from(
                    cols.iter()
                        .map(|(n, t)| {
                            Value::from_object(Column {
                                name: n.clone(),
                                data_type: t.clone(),
                            })
                        })
                        .collect::<Vec<_>>(),
                ))
            }
            // Whether this rendering knows columns (the one that runs).
            "columns_known" => Ok(Value::from(lock(&self.capture.0).columns.is_some())),
            "get_relation" | "get_missing_columns" | "expand_target_column_types" => {
                Err(error(format!(
                    "adapter.{method}() asks a live warehouse about a relation, which diffgate does not answer yet"
                )))
            }
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A column as `adapter.get_columns_in_relation` gives it (dbt's `Column`).
#[derive(Debug)]
struct Column {
    name: String,
    data_type: String,
}

impl Object for Column {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "name" | "column" => Value::from(self.name.clone()),
            "data_type" | "dtype" => Value::from(self.data_type.clone()),
            "quoted" => Value::from(format!("\"{}\"", self.name)),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, JError> {
        let t = self.data_type.as_str();
        let integer = ["smallint", "integer", "bigint", "tinyint"].contains(&t);
        let float = ["real", "double"].contains(&t);
        Ok(Value::from(match method {
            "is_string" => t == "varchar",
            "is_integer" => integer,
            "is_float" => float,
            "is_numeric" => t.starts_with("numeric"),
            "is_number" => integer || float || t.starts_with("numeric"),
            _ => return Err(JError::from(ErrorKind::UnknownMethod)),
        }))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A rendering error as `file:line: what`, the innermost template first.
fn describe(e: &JError, file: Option<&File>) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut first = true;
    while let Some(err) = cur {
        if let Some(j) = err.downcast_ref::<JError>() {
            let at = match (j.name(), j.line()) {
                (Some(n), Some(l)) => {
                    let shown = where_is(n, file);
                    format!("{shown}:{l}: ")
                }
                _ => String::new(),
            };
            let what = j
                .detail()
                .map_or_else(|| j.kind().to_string(), str::to_string);
            if first || !at.is_empty() {
                parts.push(format!("{at}{what}"));
            }
        }
        first = false;
        cur = err.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    parts.join("; called from ")
}

/// How a template name is shown: the model's file, a macro file.
fn where_is(template: &str, file: Option<&File>) -> String {
    if let Some(f) = file
        && template.starts_with("model:")
    {
        return f.shown.clone();
    }
    template.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbt::project::File;
    use datafusion::prelude::SessionContext;

    fn project(macros: &[(&str, &str)]) -> Project {
        Project {
            name: "shop".into(),
            profile: None,
            model_paths: vec!["models".into()],
            macro_paths: vec!["macros".into()],
            seed_paths: vec!["seeds".into()],
            vars: [("start".to_string(), Json::from("2024-01-01"))].into(),
            models_config: serde_yaml_ng::Value::Null,
            seeds_config: serde_yaml_ng::Value::Null,
            models: Vec::new(),
            macros: macros
                .iter()
                .map(|(rel, text)| File {
                    rel: rel.to_string(),
                    shown: rel.to_string(),
                    text: text.to_string(),
                })
                .collect(),
            sources: Vec::new(),
            model_yaml: BTreeMap::new(),
            seed_yaml: BTreeMap::new(),
        }
    }

    fn render(macros: &[(&str, &str)], sql: &str) -> Result<Rendered, String> {
        render_knowing(macros, sql, None)
    }

    fn render_knowing(
        macros: &[(&str, &str)],
        sql: &str,
        columns: Option<Columns>,
    ) -> Result<Rendered, String> {
        let p = project(macros);
        let names = Names {
            models: ["stg".to_string(), "m".to_string()].into(),
            seeds: [("raw_seed".to_string(), "raw_seed".to_string())].into(),
            sources: [(
                ("shop".to_string(), "orders".to_string()),
                Ok("orders".to_string()),
            )]
            .into(),
        };
        let target = Target {
            name: "dev".into(),
            schema: "main".into(),
            database: "db".into(),
            warehouse: Some(Warehouse::Snowflake),
        };
        let mut r = Renderer::new(&p, &[], names, BTreeMap::new(), target)?;
        let model = ModelFile {
            name: "m".into(),
            parts: vec!["m".into()],
            file: File {
                rel: "models/m.sql".into(),
                shown: "models/m.sql".into(),
                text: sql.into(),
            },
        };
        r.render(&model, &BTreeMap::new(), columns)
    }

    #[tokio::test]
    async fn columns_of_relations_are_answered_from_what_is_planned() {
        let sql =
            "select {{ dbt_utils.star(ref('stg'), except=['SECRET']) }} from {{ ref('stg') }}";
        // First rendering: no columns known, as dbt parses; the ref counts.
        let first = render(&[], sql).unwrap();
        assert_eq!(first.sql, "select * from stg");
        assert_eq!(first.refs, ["stg".to_string()].into());
        assert_eq!(first.introspected, ["stg".to_string()].into());
        let cols = |c: &[(&str, &str)]| -> Vec<(String, String)> {
            c.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let columns: Columns = [
            (
                "stg".to_string(),
                cols(&[("id", "bigint"), ("Name", "varchar"), ("secret", "varchar")]),
            ),
            (
                "raw_seed".to_string(),
                cols(&[("id", "integer"), ("flag", "boolean")]),
            ),
        ]
        .into();
        let known = Some(columns);
        let again = render_knowing(&[], sql, known.clone()).unwrap();
        assert_eq!(again.sql, "select \"id\",\n  \"Name\" from stg");
        let prefixed = "{{ dbt_utils.star(ref('stg'), relation_alias='s', prefix='p_', quote_identifiers=False) }}";
        let got = render_knowing(&[], prefixed, known.clone()).unwrap().sql;
        assert_eq!(
            got,
            "s.id as p_id,\n  s.Name as p_Name,\n  s.secret as p_secret"
        );
        // A relation nothing registered: an error naming it.
        let e = render_knowing(
            &[],
            "{{ dbt_utils.star(source('shop', 'orders')) }}",
            known.clone(),
        )
        .unwrap_err();
        assert!(e.contains("no input or model `orders`"), "{e}");
        let truthy = render(&[], "{% if ref('stg') %}yes{% endif %}").unwrap();
        assert_eq!(truthy.sql, "yes");
        let cols_of = "{% for c in adapter.get_columns_in_relation(ref('raw_seed')) %}{{ c.name }}:{{ c.data_type }}:{{ c.is_number() }} {% endfor %}";
        let got = render_knowing(&[], cols_of, known.clone()).unwrap().sql;
        assert_eq!(got, "id:integer:True flag:boolean:False ");
        // union_relations and unpivot, run in DataFusion.
        let ctx = SessionContext::new();
        ctx.sql(
            "create view stg as select cast(1 as bigint) as id, 'a' as \"Name\", 's' as secret",
        )
        .await
        .unwrap();
        ctx.sql("create view raw_seed as select cast(2 as integer) as id, true as flag")
            .await
            .unwrap();
        let union = "select * from ({{ dbt_utils.union_relations([ref('stg'), ref('raw_seed')], exclude=['secret']) }}) order by id";
        let sql = render_knowing(&[], union, known.clone()).unwrap().sql;
        let rows = pretty(&ctx, &sql).await;
        assert_eq!(
            rows,
            [
                "+----------------------+----+------+------+",
                "| _dbt_source_relation | id | Name | flag |",
                "+----------------------+----+------+------+",
                "| stg                  | 1  | a    |      |",
                "| raw_seed             | 2  |      | true |",
                "+----------------------+----+------+------+",
            ],
            "{sql}"
        );
        let unpivot = "select * from ({{ dbt_utils.unpivot(ref('stg'), exclude=['id'], remove=['secret']) }})";
        let sql = render_knowing(&[], unpivot, known).unwrap().sql;
        let rows = pretty(&ctx, &sql).await;
        assert_eq!(
            rows,
            [
                "+----+------------+-------+",
                "| id | field_name | value |",
                "+----+------------+-------+",
                "| 1  | Name       | a     |",
                "+----+------------+-------+",
            ],
            "{sql}"
        );
    }

    /// The rows of `sql` in `ctx`, as a table.
    async fn pretty(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let batches = ctx.sql(sql).await.expect(sql).collect().await.expect(sql);
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn dbt_context_renders() {
        let sql = "{{ config(materialized='table', unique_key='id') }}\n\
                   {# a comment #}{% set cols = ['a', 'b'] %}\n\
                   select {% for c in cols %}{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}\n\
                   from {{ ref('stg') }} join {{ source('shop', 'orders') }} using (id)\n\
                   join {{ ref('raw_seed') }} using (id)\n\
                   where d >= '{{ var('start') }}' and {{ var('missing', 1) }} = 1\n\
                   {% if is_incremental() %} and x > (select max(x) from {{ this }}) {% endif %}\n\
                   -- {{ target.type }} {{ this }}";
        let r = render(&[], sql).unwrap();
        assert!(r.sql.contains("select a, b"), "{}", r.sql);
        assert!(
            r.sql.contains("from stg join orders using (id)"),
            "{}",
            r.sql
        );
        assert!(r.sql.contains("join raw_seed using"), "{}", r.sql);
        assert!(r.sql.contains("d >= '2024-01-01' and 1 = 1"), "{}", r.sql);
        assert!(!r.sql.contains("max(x)"), "{}", r.sql);
        assert!(r.sql.contains("-- snowflake m"), "{}", r.sql);
        assert_eq!(r.refs, ["stg".to_string()].into());
        assert_eq!(r.config["unique_key"], Json::from("id"));
        assert!(r.incremental);
    }

    #[test]
    fn project_macros_dispatch_and_return_values() {
        let macros = [(
            "macros/m.sql",
            "{% macro cents_to_dollars(c, precision=2) %}{{ return(adapter.dispatch('cents_to_dollars')(c, precision)) }}{% endmacro %}\n\
             {% macro default__cents_to_dollars(c, precision) %}({{ c }} / 100)::numeric(16, {{ precision }}){% endmacro %}\n\
             {% macro cols() %}{{ return(['x', 'y']) }}{% endmacro %}",
        )];
        let r = render(
            &macros,
            "select {{ cents_to_dollars('price') }}, {{ cols() | join('+') }}, {{ dbt_utils.generate_surrogate_key(['a', 'b']) }}, {{ dbt.date_trunc('day', 'ts') }}",
        )
        .unwrap();
        assert!(r.sql.contains("(price / 100)::numeric(16, 2)"), "{}", r.sql);
        assert!(r.sql.contains(", x+y,"), "{}", r.sql);
        assert!(r.sql.contains("md5("), "{}", r.sql);
        assert!(r.sql.contains("date_trunc('day', ts)"), "{}", r.sql);
    }

    /// Every macro written here, rendered and run in DataFusion: each
    /// column is one check that must be true.
    #[tokio::test]
    async fn bundled_macros_compute_what_dbt_documents() {
        let checks = [
            (
                "dateadd_day",
                r#"{{ dbt.dateadd('day', 3, "DATE '2024-02-27'") }} = DATE '2024-03-01'"#,
            ),
            (
                "dateadd_month",
                r#"{{ dbt.dateadd('month', -1, "DATE '2024-03-31'") }} = DATE '2024-02-29'"#,
            ),
            (
                "dateadd_quarter",
                r#"{{ dbt.dateadd('quarter', 1, "DATE '2024-01-31'") }} = DATE '2024-04-30'"#,
            ),
            (
                "dateadd_week",
                r#"{{ dbt.dateadd('week', 2, "DATE '2024-01-01'") }} = DATE '2024-01-15'"#,
            ),
            (
                "datediff_day",
                r#"{{ dbt.datediff("DATE '2024-01-01'", "DATE '2024-03-01'", 'day') }} = 60"#,
            ),
            (
                "datediff_month",
                r#"{{ dbt.datediff("DATE '2023-12-31'", "DATE '2024-01-01'", 'month') }} = 1"#,
            ),
            (
                "datediff_quarter",
                r#"{{ dbt.datediff("DATE '2023-12-31'", "DATE '2024-04-01'", 'quarter') }} = 2"#,
            ),
            (
                "datediff_year",
                r#"{{ dbt.datediff("DATE '2023-12-31'", "DATE '2024-01-01'", 'year') }} = 1"#,
            ),
            (
                "datediff_hour",
                r#"{{ dbt.datediff("TIMESTAMP '2024-01-01 10:59:00'", "TIMESTAMP '2024-01-01 11:00:00'", 'hour') }} = 1"#,
            ),
            (
                "date_trunc",
                r#"{{ dbt.date_trunc('month', "DATE '2024-02-10'") }} = TIMESTAMP '2024-02-01 00:00:00'"#,
            ),
            (
                "last_day",
                r#"{{ dbt.last_day("DATE '2024-02-10'", 'month') }} = DATE '2024-02-29'"#,
            ),
            ("safe_cast", r#"{{ dbt.safe_cast("'x'", 'INT') }} IS NULL"#),
            ("cast", r#"{{ dbt.cast("'7'", dbt.type_bigint()) }} = 7"#),
            ("concat", r#"{{ dbt.concat(["'a'", "'b'"]) }} = 'ab'"#),
            (
                "hash",
                r#"{{ dbt.hash("'a'") }} = '0cc175b9c0f1b6a831c399e269772661'"#,
            ),
            (
                "type_numeric",
                r#"CAST('1.5' AS {{ dbt.type_numeric() }}) = 1.5"#,
            ),
            ("type_string", r#"CAST(1 AS {{ dbt.type_string() }}) = '1'"#),
            (
                "type_float",
                r#"CAST('0.5' AS {{ dbt.type_float() }}) = 0.5"#,
            ),
            (
                "type_boolean",
                r#"CAST('true' AS {{ dbt.type_boolean() }})"#,
            ),
            (
                "type_timestamp",
                r#"CAST('2024-01-01' AS {{ dbt.type_timestamp() }}) = TIMESTAMP '2024-01-01 00:00:00'"#,
            ),
            (
                "current_timestamp",
                r#"{{ current_timestamp() }} > TIMESTAMP '2024-01-01 00:00:00'"#,
            ),
            (
                "split_part",
                r#"{{ dbt.split_part("'a-b-c'", "'-'", 2) }} = 'b'"#,
            ),
            (
                "listagg",
                r#"(SELECT {{ dbt.listagg('x', "','", 'order by x') }} FROM (VALUES ('b'), ('a')) t(x)) = 'a,b'"#,
            ),
            (
                "listagg_limit",
                r#"(SELECT {{ dbt.listagg('x', "','", 'order by x', 1) }} FROM (VALUES ('b'), ('a')) t(x)) = 'a'"#,
            ),
            (
                "any_value",
                r#"(SELECT {{ dbt.any_value('x') }} FROM (VALUES (4), (4)) t(x)) = 4"#,
            ),
            (
                "bool_or",
                r#"(SELECT {{ dbt.bool_or('x') }} FROM (VALUES (false), (true)) t(x))"#,
            ),
            (
                "cast_bool_to_text",
                r#"{{ dbt.cast_bool_to_text('true') }} = 'true'"#,
            ),
            (
                "escape_single_quotes",
                r#"{{ dbt.string_literal(dbt.escape_single_quotes("it's")) }} = 'it''s'"#,
            ),
            ("position", r#"{{ dbt.position("'b'", "'abc'") }} = 2"#),
            ("right", r#"{{ dbt.right("'abc'", 2) }} = 'bc'"#),
            ("length", r#"{{ dbt.length("'abc'") }} = 3"#),
            (
                "replace",
                r#"{{ dbt.replace("'abc'", "'b'", "'x'") }} = 'axc'"#,
            ),
            (
                "array_construct",
                r#"cardinality({{ dbt.array_construct([1, 2]) }}) = 2"#,
            ),
            (
                "array_append",
                r#"cardinality({{ dbt.array_append(dbt.array_construct([1]), 2) }}) = 2"#,
            ),
            (
                "array_concat",
                r#"cardinality({{ dbt.array_concat(dbt.array_construct([1]), dbt.array_construct([2])) }}) = 2"#,
            ),
            ("date", r#"{{ dbt.date(2024, 2, 29) }} = DATE '2024-02-29'"#),
            (
                "generate_series",
                r#"(SELECT count(*) FROM ({{ dbt.generate_series(5) }}) g) = 5"#,
            ),
            (
                "date_spine",
                r#"(SELECT count(*) FROM ({{ dbt_utils.date_spine('day', "DATE '2024-01-01'", "DATE '2024-01-08'") }}) s) = 7"#,
            ),
            (
                "surrogate_key",
                r#"{{ dbt_utils.generate_surrogate_key(["'1'", 'null']) }} = md5('1-_dbt_utils_surrogate_key_null_')"#,
            ),
            (
                "old_surrogate_key",
                r#"{{ dbt_utils.surrogate_key(["'1'", 'null']) }} = md5('1-')"#,
            ),
            (
                "group_by",
                r#"(SELECT count(*) FROM (SELECT a, b, count(*) AS n FROM (VALUES (1, 2), (1, 2)) t(a, b) {{ dbt_utils.group_by(2) }}) g) = 1"#,
            ),
            (
                "safe_divide",
                r#"{{ dbt_utils.safe_divide(1, 0) }} IS NULL"#,
            ),
            (
                "deduplicate",
                r#"(SELECT count(*) FROM ({{ dbt_utils.deduplicate('dups', 'k', 'v desc') }}) d) = 2"#,
            ),
            (
                "pivot",
                r#"(SELECT p_a * 10 + p_b FROM (SELECT {{ dbt_utils.pivot('c', ['a', 'b'], prefix='p_', quote_identifiers=False) }} FROM (VALUES ('a'), ('a'), ('b')) t(c)) p) = 21"#,
            ),
        ];
        let mut sql =
            "WITH dups AS (SELECT * FROM (VALUES (1, 1), (1, 2), (2, 1)) t(k, v))\nSELECT\n"
                .to_string();
        for (i, (name, check)) in checks.iter().enumerate() {
            let comma = if i + 1 < checks.len() { "," } else { "" };
            sql.push_str(&format!("  ({check}) AS {name}{comma}\n"));
        }
        sql.push_str("FROM (VALUES (1)) one(x)");
        let rendered = render(&[], &sql).unwrap().sql;
        let ctx = crate::engine::session(&crate::engine::EngineOptions::default()).unwrap();
        let df =
            crate::engine::dialect::plan(&ctx, &rendered, datafusion::prelude::SQLOptions::new())
                .await
                .unwrap_or_else(|e| panic!("{e}\n{rendered}"));
        let batches = df
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{rendered}"));
        let batch = &batches[0];
        let failed: Vec<&str> = checks
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                use datafusion::arrow::array::{Array, AsArray};
                let col = batch.column(*i).as_boolean();
                col.is_null(0) || !col.value(0)
            })
            .map(|(_, (name, _))| *name)
            .collect();
        assert!(failed.is_empty(), "failed: {failed:?}\n{rendered}");
    }

    #[test]
    fn a_model_reads_only_dbt_variables_and_never_secrets_and_cannot_loop_forever() {
        // Edition 2024: setting a variable is unsafe; these names are this
        // test's own.
        unsafe {
            std::env::set_var("DBT_DIFFGATE_TEST_SCHEMA", "analytics");
            std::env::set_var("DIFFGATE_TEST_TOKEN", "s3cr3t");
            std::env::set_var("DBT_ENV_SECRET_DIFFGATE_TEST", "s3cr3t");
        }
        let r = render(&[], "select '{{ env_var('DBT_DIFFGATE_TEST_SCHEMA') }}'").unwrap();
        assert!(r.sql.contains("'analytics'"), "{}", r.sql);
        let r = render(&[], "select '{{ env_var('DIFFGATE_TEST_TOKEN', 'none') }}'").unwrap();
        assert!(
            r.sql.contains("'none'") && !r.sql.contains("s3cr3t"),
            "{}",
            r.sql
        );
        let e = render(&[], "select '{{ env_var('DIFFGATE_TEST_TOKEN') }}'").unwrap_err();
        assert!(e.contains("only DBT_*") && !e.contains("s3cr3t"), "{e}");
        let e = render(
            &[],
            "select '{{ env_var('DBT_ENV_SECRET_DIFFGATE_TEST', 'x') }}'",
        )
        .unwrap_err();
        assert!(e.contains("secrets") && !e.contains("s3cr3t"), "{e}");
        let e = render(
            &[],
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        )
        .unwrap_err();
        assert!(e.to_lowercase().contains("fuel"), "{e}");
    }

    #[test]
    fn an_unreadable_macro_file_stops_only_the_models_that_call_it() {
        let macros = [("macros/bad.sql", "{% macro bad() %}{% if %}{% endmacro %}")];
        assert!(render(&macros, "select 1").is_ok());
        let e = render(&macros, "select {{ bad() }}").unwrap_err();
        assert!(
            e.contains("macro `bad` of macros/bad.sql cannot be read"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_file_line_and_what() {
        let e = render(&[], "select 1\nfrom {{ ref('nope') }}").unwrap_err();
        assert!(
            e.contains("models/m.sql:2") && e.contains("no model or seed `nope`"),
            "{e}"
        );
        let e = render(&[], "select {{ run_query('select 1') }}").unwrap_err();
        assert!(
            e.contains("run_query") && e.contains("live warehouse"),
            "{e}"
        );
        let e = render(&[], "select {{ var('x') }}").unwrap_err();
        assert!(e.contains("required var `x`"), "{e}");
        let e = render(&[], "select {{ unknown_macro() }}").unwrap_err();
        assert!(e.contains("models/m.sql:1"), "{e}");
        let e = render(&[], "select {% if %}").unwrap_err();
        assert!(e.contains("models/m.sql:1"), "{e}");
    }
}
