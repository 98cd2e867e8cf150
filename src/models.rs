//! Model folders: a transform that is a directory of `*.sql` models, each
//! one query named after its file, reading inputs or other models (a DAG).
//!
//! This module owns what is known before anything runs: reading a folder
//! (from the working tree or from git), resolving dbt-style
//! `{{ ref('model') }}` and `{{ source('src', 'table') }}` to plain names
//! (padded to the same width, so SQL error positions stay exact), finding
//! each model's references with DataFusion's own SQL parser, ordering the
//! models (a cycle is an error naming it), and choosing which models to
//! compare: the targets, or every model whose SQL differs between v1 and v2
//! plus everything downstream of one. Running them is the pipeline's job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::sql::parser::DFParser;
use datafusion::sql::resolve::resolve_table_references;

use crate::error::{Error, Result};
use crate::git::{Commit, Repo};

/// One model of one version.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The file (in the working tree, or where it would be for git).
    pub path: PathBuf,
    /// The file as messages name it: with the git ref when read from git.
    pub shown: String,
    /// SQL with dbt references resolved to names (what runs).
    pub sql: String,
    /// SQL as written (what reports show).
    pub raw: String,
    /// Models this one reads (inputs are not listed).
    pub upstream: BTreeSet<String>,
    /// Why it could not be rendered (a dbt model), naming file and line.
    pub error: Option<String>,
    /// Relations whose columns its Jinja asked for (a dbt model calling
    /// `adapter.get_columns_in_relation`, as `dbt_utils.star` does): `sql`
    /// was rendered knowing none, and the model is rendered again with
    /// their columns ([`ModelSet::rerender`]) before it runs.
    pub introspected: BTreeSet<String>,
}

impl Model {
    /// Whether `other` (the same model in the other version) runs other
    /// SQL. A model that asked for columns was rendered knowing none, so
    /// its text decides too (`star(..., except=[...])` renders `*` either
    /// way).
    pub fn differs(&self, other: &Model) -> bool {
        self.sql != other.sql
            || ((!self.introspected.is_empty() || !other.introspected.is_empty())
                && self.raw != other.raw)
    }
}

/// The models of one version, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelSet {
    pub models: BTreeMap<String, Model>,
    /// Renders a model that asked for columns again, knowing them.
    pub rerender: Option<Rerender>,
}

/// Columns of relations, by relation name: (column, SQL type), in order.
pub type Columns = BTreeMap<String, Vec<(String, String)>>;

/// Render model `name` again knowing `Columns`: its SQL, or why not
/// (naming file and line).
type RerenderFn = dyn Fn(&str, Columns) -> std::result::Result<String, String> + Send + Sync;

/// A version's renderer, kept for the models that asked for columns.
#[derive(Clone)]
pub struct Rerender(pub Arc<RerenderFn>);

impl std::fmt::Debug for Rerender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rerender")
    }
}

/// Two sets are equal by their models; how they render is not compared.
impl PartialEq for Rerender {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The files of one version of a folder (a model folder, a dbt project):
/// the working tree, or a commit.
#[derive(Clone, Copy)]
pub enum Tree<'a> {
    /// The folder in the working tree.
    Dir(&'a Path),
    /// The folder `rel` (inside `repo`) at `commit`; `dir` is where
    /// it is in the working tree.
    Git {
        repo: &'a Repo,
        commit: &'a Commit,
        rel: &'a str,
        dir: &'a Path,
    },
}

impl Tree<'_> {
    /// The folder as the working tree has it.
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

    /// Files under folder `sub` (relative to the folder), as paths
    /// relative to the folder, sorted; hidden files and folders left out.
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

    /// Whether file `rel` (relative to the folder) exists.
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

    /// The text of file `rel` (relative to the folder).
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

fn error(path: &Path, message: impl Into<String>) -> Error {
    Error::Models {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Read the model folder of one version. `inputs` are the declared input
/// names (what `source()` may name and what a model may not be called).
pub fn read(tree: Tree<'_>, inputs: &[String]) -> Result<ModelSet> {
    let dir = tree.dir();
    let mut files: Vec<(String, PathBuf, String, String)> = Vec::new();
    for rel in tree.files("")? {
        if rel.ends_with(".sql") {
            let p = dir.join(&rel);
            files.push((stem(&p), p, tree.read(&rel)?, tree.shown(&rel)));
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    if files.is_empty() {
        return Err(error(dir, "the model folder holds no .sql files"));
    }
    let mut set = ModelSet::default();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (name, path, _, _) in &files {
        crate::load::validate_table_name(name)
            .map_err(|m| error(path, format!("model name `{name}`: {m}")))?;
        if inputs.contains(name) {
            return Err(error(
                path,
                format!("model `{name}` has the name of an input; rename one of them"),
            ));
        }
        if let Some(other) = seen.insert(name.clone(), path.clone()) {
            return Err(error(
                path,
                format!(
                    "model `{name}` is defined twice (also in {})",
                    other.display()
                ),
            ));
        }
    }
    let names: BTreeSet<String> = seen.keys().cloned().collect();
    for (name, path, raw, shown) in files {
        let sql = resolve_jinja(&raw, &names, inputs).map_err(|m| error(&path, m))?;
        let upstream = references(&sql)
            .into_iter()
            .filter(|r| names.contains(r) && *r != name)
            .collect();
        set.models.insert(
            name,
            Model {
                path,
                shown,
                sql,
                raw,
                upstream,
                error: None,
                introspected: BTreeSet::new(),
            },
        );
    }
    Ok(set)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Table names a query reads (CTE names excluded). SQL that does not parse
/// reads nothing here; the planner reports it later with its position.
pub fn references(sql: &str) -> Vec<String> {
    let Ok(statements) = DFParser::parse_sql(sql) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for st in &statements {
        if let Ok((tables, _ctes)) = resolve_table_references(st, true) {
            out.extend(tables.iter().map(|t| t.table().to_string()));
        }
    }
    out
}

/// Replace `{{ ref('m') }}` by `m` and `{{ source('s', 't') }}` by `t`,
/// each padded with spaces to the width of what it replaces. Any other
/// Jinja is an error naming its line and column.
pub fn resolve_jinja(
    sql: &str,
    models: &BTreeSet<String>,
    inputs: &[String],
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    let mut offset = 0;
    loop {
        let next = ["{{", "{%", "{#"]
            .iter()
            .filter_map(|open| rest.find(open).map(|i| (i, *open)))
            .min();
        let Some((i, open)) = next else {
            out.push_str(rest);
            return Ok(out);
        };
        let at = position(sql, offset + i);
        if open != "{{" {
            return Err(format!(
                "{at}: Jinja `{open}` is not supported; only {{{{ ref('model') }}}} and {{{{ source('src', 'table') }}}} are"
            ));
        }
        let Some(end) = rest[i..].find("}}") else {
            return Err(format!("{at}: `{{{{` is never closed"));
        };
        let inner = rest[i + 2..i + end].trim();
        let whole = &rest[i..i + end + 2];
        let name = resolve_call(inner, models, inputs).map_err(|m| format!("{at}: {m}"))?;
        out.push_str(&rest[..i]);
        out.push_str(&name);
        let width = whole.chars().count();
        out.extend(std::iter::repeat_n(
            ' ',
            width.saturating_sub(name.chars().count()),
        ));
        offset += i + end + 2;
        rest = &rest[i + end + 2..];
    }
}

/// Where line `line`, column `column` (1-based) of the SQL that ran is in
/// the file as written: the same place when rendering kept every line's
/// width (references padded, no Jinja), else the one line of the file that
/// holds that line's text. `None` when no single line does (the text came
/// from a macro, or repeats).
pub fn source_position(raw: &str, sql: &str, line: u64, column: u64) -> Option<(u64, u64)> {
    let width = |t: &str| t.lines().map(|l| l.chars().count()).collect::<Vec<_>>();
    if raw == sql || width(raw) == width(sql) {
        return Some((line, column));
    }
    let ran = sql
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let text = ran.trim();
    if text.chars().count() < 3 {
        return None;
    }
    let lead = (ran.chars().count() - ran.trim_start().chars().count()) as u64;
    let mut found = raw.lines().enumerate().filter_map(|(i, l)| {
        l.find(text)
            .map(|at| (i as u64 + 1, l[..at].chars().count() as u64))
    });
    let (at_line, at_col) = found.next()?;
    if found.next().is_some() || column <= lead {
        return None;
    }
    Some((at_line, column - lead + at_col))
}

/// `line L, column C` of byte offset `i` in `text` (both 1-based).
fn position(text: &str, i: usize) -> String {
    let before = &text[..i];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

fn resolve_call(
    inner: &str,
    models: &BTreeSet<String>,
    inputs: &[String],
) -> std::result::Result<String, String> {
    let call = |f: &str| called(inner, f);
    if let Some(args) = call("ref") {
        let [name] = &args[..] else {
            return Err(format!("ref() takes one model name, got `{inner}`"));
        };
        if !models.contains(name) {
            return Err(format!("ref('{name}'): no model `{name}` in this folder"));
        }
        return Ok(name.clone());
    }
    if let Some(args) = call("source") {
        let [_, table] = &args[..] else {
            return Err(format!(
                "source() takes a source and a table name, got `{inner}`"
            ));
        };
        if !inputs.contains(table) {
            return Err(format!(
                "source(..., '{table}'): no input named `{table}` in diffgate.toml"
            ));
        }
        return Ok(table.clone());
    }
    Err(format!(
        "`{{{{ {inner} }}}}`: only {{{{ ref('model') }}}} and {{{{ source('src', 'table') }}}} are supported"
    ))
}

/// The quoted arguments of `inner` when it is a call of `f` (`f('a', "b")`).
fn called(inner: &str, f: &str) -> Option<Vec<String>> {
    let args = inner
        .strip_prefix(f)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')?;
    args.split(',')
        .map(|a| {
            let a = a.trim();
            let unq = a
                .strip_prefix('\'')
                .and_then(|x| x.strip_suffix('\''))
                .or_else(|| a.strip_prefix('"').and_then(|x| x.strip_suffix('"')))?;
            Some(unq.to_string())
        })
        .collect()
}

/// The tables a plain model's `{{ source('src', 'table') }}` calls name, in
/// order of appearance (what [`read`] needs declared as inputs).
pub fn sources(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = raw;
    while let Some(i) = rest.find("{{") {
        let Some(end) = rest[i..].find("}}") else {
            break;
        };
        if let Some([_, table]) = called(rest[i + 2..i + end].trim(), "source").as_deref()
            && !out.contains(table)
        {
            out.push(table.clone());
        }
        rest = &rest[i + end + 2..];
    }
    out
}

impl ModelSet {
    /// Model names in dependency order (upstream first; ties by name). A
    /// cycle is an error naming it.
    pub fn order(&self, dir: &Path) -> Result<Vec<String>> {
        let mut done: Vec<String> = Vec::new();
        let mut placed: BTreeSet<&str> = BTreeSet::new();
        while done.len() < self.models.len() {
            let ready: Vec<&String> = self
                .models
                .iter()
                .filter(|(n, m)| {
                    !placed.contains(n.as_str())
                        && m.upstream.iter().all(|u| placed.contains(u.as_str()))
                })
                .map(|(n, _)| n)
                .collect();
            if ready.is_empty() {
                return Err(error(
                    dir,
                    format!(
                        "the models read each other in a cycle (each reads the next): {}",
                        self.cycle().join(" → ")
                    ),
                ));
            }
            for n in ready {
                placed.insert(n);
                done.push(n.clone());
            }
        }
        Ok(done)
    }

    /// One cycle among the models, each reading the next, the first
    /// repeated last.
    fn cycle(&self) -> Vec<String> {
        // Walk upstream from any model still in a cycle until a name repeats.
        for start in self.models.keys() {
            let mut path = vec![start.clone()];
            let mut current = start.clone();
            while let Some(next) = self.models[&current].upstream.iter().next().cloned() {
                if let Some(i) = path.iter().position(|p| *p == next) {
                    let mut c = path[i..].to_vec();
                    c.push(next);
                    return c;
                }
                path.push(next.clone());
                current = next;
            }
        }
        Vec::new()
    }

    /// Every model downstream of `name` (not `name` itself).
    fn downstream(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut frontier = vec![name.to_string()];
        while let Some(n) = frontier.pop() {
            for (m, model) in &self.models {
                if model.upstream.contains(&n) && out.insert(m.clone()) {
                    frontier.push(m.clone());
                }
            }
        }
        out
    }

    /// `name` and every model it reads, directly or not.
    pub fn with_upstream(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut frontier = vec![name.to_string()];
        while let Some(n) = frontier.pop() {
            if out.insert(n.clone())
                && let Some(m) = self.models.get(&n)
            {
                frontier.extend(m.upstream.iter().cloned());
            }
        }
        out
    }
}

/// What a model-folder run compares, and what changed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    /// Models compared, in v2's dependency order.
    pub compared: Vec<String>,
    /// Models whose SQL differs between v1 and v2 (and in both).
    pub changed: BTreeSet<String>,
    /// Models only in v2 / only in v1.
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The models to compare: `targets` if given (each must be in both
/// versions), else every model whose SQL differs plus everything
/// downstream of one (in either version's graph).
pub fn select(
    v1: &ModelSet,
    v2: &ModelSet,
    order: &[String],
    targets: &[String],
    dir: &Path,
) -> Result<Selection> {
    let changed: BTreeSet<String> = v2
        .models
        .iter()
        .filter(|(n, m)| v1.models.get(*n).is_some_and(|old| old.differs(m)))
        .map(|(n, _)| n.clone())
        .collect();
    let added: Vec<String> = v2
        .models
        .keys()
        .filter(|n| !v1.models.contains_key(*n))
        .cloned()
        .collect();
    let removed: Vec<String> = v1
        .models
        .keys()
        .filter(|n| !v2.models.contains_key(*n))
        .cloned()
        .collect();
    let wanted: BTreeSet<String> = if targets.is_empty() {
        let mut w = changed.clone();
        // A new model changes what reads it, too.
        for n in changed.iter().chain(&added) {
            w.extend(v2.downstream(n));
            w.extend(v1.downstream(n));
        }
        w
    } else {
        for t in targets {
            if !v1.models.contains_key(t) || !v2.models.contains_key(t) {
                let hint = crate::error::did_you_mean(t, v2.models.keys().map(String::as_str))
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                return Err(error(
                    dir,
                    format!("target `{t}` is not a model of both v1 and v2{hint}"),
                ));
            }
        }
        targets.iter().cloned().collect()
    };
    let compared = order
        .iter()
        .filter(|n| wanted.contains(*n) && v1.models.contains_key(*n))
        .cloned()
        .collect();
    Ok(Selection {
        compared,
        changed,
        added,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(xs: &[&str]) -> BTreeSet<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dbt_references_resolve_to_names_of_the_same_width() {
        let sql = "select * from {{ ref('stg_orders') }} o\njoin {{source(\"shop\", \"customers\")}} c on 1=1";
        let out = resolve_jinja(sql, &names(&["stg_orders"]), &["customers".into()]).unwrap();
        assert!(out.starts_with("select * from stg_orders "));
        assert!(out.contains("join customers "));
        // Every line keeps its length, so error columns stay exact.
        for (a, b) in sql.lines().zip(out.lines()) {
            assert_eq!(a.chars().count(), b.chars().count());
        }
    }

    #[test]
    fn positions_in_the_sql_that_ran_map_back_to_the_file() {
        // Padded references: the same place.
        let raw = "select *\nfrom {{ ref('stg') }} where x";
        let sql = resolve_jinja(raw, &names(&["stg"]), &[]).unwrap();
        assert_eq!(source_position(raw, &sql, 2, 22), Some((2, 22)));
        // Rendered Jinja: the line holding the same text.
        let raw = "{{ config(materialized='table') }}\n{% set x = 1 %}\nselect\n    amount / nope\nfrom t";
        let sql = "\n\nselect\n  amount / nope\nfrom t";
        assert_eq!(source_position(raw, sql, 4, 12), Some((4, 14)));
        // Text no single line of the file holds: unknown.
        assert_eq!(source_position(raw, "select 1\nfrom u", 2, 1), None);
        assert_eq!(source_position(raw, sql, 9, 1), None);
    }

    #[test]
    fn other_jinja_and_unknown_references_are_errors_with_a_position() {
        let models = names(&["a"]);
        let err = resolve_jinja(
            "select 1\n  {{ config(materialized='table') }}",
            &models,
            &[],
        )
        .unwrap_err();
        assert!(
            err.starts_with("line 2, column 3:") && err.contains("config"),
            "{err}"
        );
        let err = resolve_jinja("{% if x %}", &models, &[]).unwrap_err();
        assert!(err.contains("{%"), "{err}");
        let err = resolve_jinja("select * from {{ ref('b') }}", &models, &[]).unwrap_err();
        assert!(err.contains("no model `b`"), "{err}");
        let err = resolve_jinja("{{ source('s', 'x') }}", &models, &[]).unwrap_err();
        assert!(err.contains("no input named `x`"), "{err}");
        assert!(
            resolve_jinja("{{ ref('a') ", &models, &[])
                .unwrap_err()
                .contains("never closed")
        );
    }

    fn set(models: &[(&str, &str)]) -> ModelSet {
        let all: BTreeSet<String> = models.iter().map(|(n, _)| n.to_string()).collect();
        ModelSet {
            models: models
                .iter()
                .map(|(n, sql)| {
                    let upstream = references(sql)
                        .into_iter()
                        .filter(|r| all.contains(r) && r != n)
                        .collect();
                    (
                        n.to_string(),
                        Model {
                            path: PathBuf::from(format!("{n}.sql")),
                            shown: format!("{n}.sql"),
                            sql: sql.to_string(),
                            raw: sql.to_string(),
                            upstream,
                            error: None,
                            introspected: BTreeSet::new(),
                        },
                    )
                })
                .collect(),
            rerender: None,
        }
    }

    #[test]
    fn models_are_ordered_by_their_references_and_ctes_do_not_count() {
        let s = set(&[
            ("report", "select * from mart"),
            (
                "mart",
                "with staged as (select 1) select * from stg, staged",
            ),
            ("stg", "select * from orders"),
        ]);
        assert_eq!(s.order(Path::new(".")).unwrap(), ["stg", "mart", "report"]);
        assert_eq!(s.models["mart"].upstream, names(&["stg"]));
    }

    #[test]
    fn a_cycle_is_named() {
        let s = set(&[
            ("a", "select * from b"),
            ("b", "select * from c"),
            ("c", "select * from a"),
            ("d", "select 1"),
        ]);
        let err = s.order(Path::new("m")).unwrap_err().to_string();
        assert!(err.contains("cycle") && err.contains("→"), "{err}");
        for n in ["a", "b", "c"] {
            assert!(err.contains(n), "{err}");
        }
    }

    #[test]
    fn changed_models_and_everything_downstream_are_compared() {
        let v1 = set(&[
            ("stg", "select * from orders"),
            ("mart", "select * from stg"),
            ("other", "select * from orders"),
            ("report", "select * from mart"),
        ]);
        let mut v2 = v1.clone();
        v2.models.get_mut("stg").unwrap().sql = "select * from orders where x".into();
        let order = v2.order(Path::new(".")).unwrap();
        let s = select(&v1, &v2, &order, &[], Path::new(".")).unwrap();
        assert_eq!(s.compared, ["stg", "mart", "report"]);
        assert_eq!(s.changed, names(&["stg"]));
        let s = select(&v1, &v2, &order, &["other".into()], Path::new(".")).unwrap();
        assert_eq!(s.compared, ["other"]);
        let err = select(&v1, &v2, &order, &["reprt".into()], Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("did you mean `report`"));
    }
}
