//! Resolving: the parsed flags (`cli.rs`) plus the scenario file become a
//! [`Job`], one small constructor per piece, as ripgrep's `hiargs.rs` does:
//! the scenario's inputs and subset, the two versions of the transform
//! (files, a git ref, model folders), the comparison settings, the policy,
//! the engine and its limits. Flags override the config. This layer reads
//! the scenario file, git and model folders, but no data.

use std::path::PathBuf;

use crate::cli::{Command, DiffArgs, OutputArgs, RunArgs, SharedArgs, parse_column_tol};
use crate::compare::mask::Mask;
use crate::compare::{CompareOptions, DEFAULT_SAMPLE_SIZE, Settings, Tol, Tolerance};
use crate::config::{self, LoadedScenario, check_tol};
use crate::engine::{EngineOptions, Limits};
use crate::error::{Error, Result};
use crate::git;
use crate::judge::Policy;
use crate::load::InputSource;
use crate::models::{self, Tree};
use crate::pipeline::job::{
    About, DEFAULT_DEAD_LETTER, Job, LoadOptions, Mode, ModelRun, Tables, Transforms, Versions,
};
use crate::report::{GitRef, GitRefs};
use crate::scratch::ScratchAt;
use crate::transform::{Origin, Transform, Version};

/// The job a command describes, with where its reports go.
pub fn job(command: &Command) -> Result<(Job, &OutputArgs)> {
    match command {
        Command::Run(args) => {
            let mut job = run_job(args, false)?;
            job.load.dead_letter = dead_letter_path(&args.shared, &args.output)?;
            Ok((job, &args.output))
        }
        Command::Check(args) => {
            if args.runs.is_some() {
                return Err(Error::Usage(
                    "--runs runs the transforms; `check` only plans them".into(),
                ));
            }
            Ok((run_job(args, true)?, &args.output))
        }
        Command::Diff(args) => {
            let mut job = diff_job(args)?;
            job.load.dead_letter = dead_letter_path(&args.shared, &args.output)?;
            Ok((job, &args.output))
        }
        Command::Report(_) => Err(Error::Usage(
            "`report` re-renders a saved report and runs no comparison".into(),
        )),
        Command::Init(_) => Err(Error::Usage(
            "`init` drafts a scenario file and runs no comparison".into(),
        )),
        Command::Worker(_) => Err(Error::Usage(
            "`worker` serves the distributed engine and runs no comparison".into(),
        )),
    }
}

/// `run` (or, with `check`, `check`) of a scenario.
fn run_job(args: &RunArgs, check: bool) -> Result<Job> {
    scenario_job(&config::load(&args.scenario)?, args, check)
}

/// The job of a loaded scenario with `args`' flags: `run`, or with `check`
/// `check` (`diffgate init` plans its drafts so).
pub fn scenario_job(loaded: &LoadedScenario, args: &RunArgs, check: bool) -> Result<Job> {
    let s = &loaded.scenario;
    let (mut inputs, subset) = loaded.inputs(args.env.as_deref(), args.as_of.as_deref())?;
    let as_of = subset.as_ref().and_then(|s| s.as_of.clone());
    let (v1, v2, git) = transforms(loaded, args)?;
    let mut warehouse = match &args.dialect {
        Some(d) => Some(crate::engine::Warehouse::parse(d).ok_or_else(|| {
            Error::Usage(format!(
                "--dialect {d}: not a warehouse diffgate knows ({})",
                crate::engine::Warehouse::NAMES
            ))
        })?),
        None => s.transform.dialect,
    };
    let is_dbt = dbt_project(&v1, &v2);
    let versions = match is_dbt {
        true => {
            let (run, more, profile_warehouse) = dbt_run(loaded, &v1, &v2, args, warehouse)?;
            inputs.extend(more);
            warehouse = warehouse.or(profile_warehouse);
            Versions::Folder(run)
        }
        false => versions(loaded, v1, v2)?,
    };
    let runs = args.runs.or(s.transform.runs).unwrap_or(1);
    let transforms = Transforms {
        inputs,
        versions,
        git,
        subset,
    };
    let mode = if check {
        Mode::Check(transforms)
    } else {
        Mode::Run { transforms, runs }
    };
    let base = Base {
        key: s.compare.key.columns(),
        ignore_columns: s.compare.ignore_columns.clone(),
        rename: s.compare.rename.clone(),
        fold_column_case: s.compare.fold_column_case,
        normalize: s
            .compare
            .columns
            .iter()
            .map(|(name, spec)| (name.clone(), spec.normalize()))
            .filter(|(_, n)| n.any())
            .collect(),
        mask: s.compare.mask.clone(),
        formats: s
            .compare
            .columns
            .iter()
            .filter_map(|(name, spec)| Some((name.clone(), spec.format.clone()?)))
            .collect(),
        expect: crate::config::expectations(&s.expect),
        contract: crate::config::contract_checks(&s.contract),
        tolerance: tolerance(loaded),
        sample_size: s.compare.sample_size,
        no_profile: !s.compare.profile,
        as_of,
        policy: s.policy.clone(),
        about: About {
            description: s.description.clone(),
            expected_verdict: s.expected_verdict,
            reproduce: None,
        },
        engine: Some(s.engine.clone()),
    };
    let mut job = base.with_flags(mode, &args.shared)?;
    job.engine.warehouse = warehouse;
    job.engine.refuse_integer_division = is_dbt;
    job.load.retry = s.storage.retry(&loaded.config_path)?;
    Ok(job)
}

/// The folder a transform version is: in the working tree, or at a commit.
fn tree(t: &Transform) -> Tree<'_> {
    match &t.origin {
        Origin::Git { repo, commit, rel } => Tree::Git {
            repo,
            commit,
            rel,
            dir: &t.path,
        },
        _ => Tree::Dir(&t.path),
    }
}

/// Whether both versions of the transform are dbt projects.
fn dbt_project(v1: &Transform, v2: &Transform) -> bool {
    [v1, v2]
        .iter()
        .all(|t| tree(t).exists(crate::dbt::PROJECT_FILE))
}

/// Both versions of a dbt project as model folders, the inputs its seeds
/// and source files add, and the warehouse its profile names.
fn dbt_run(
    loaded: &LoadedScenario,
    v1: &Transform,
    v2: &Transform,
    args: &RunArgs,
    warehouse: Option<crate::engine::Warehouse>,
) -> Result<(ModelRun, Vec<InputSource>, Option<crate::engine::Warehouse>)> {
    use crate::dbt::Options;
    let s = &loaded.scenario;
    let mut vars: std::collections::BTreeMap<String, serde_json::Value> = s
        .dbt
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
        .collect();
    if let Some(text) = &args.vars {
        let parsed: serde_json::Map<String, serde_json::Value> = serde_yaml_ng::from_str(text)
            .map_err(|e| {
                Error::Usage(format!(
                    "--vars: not a YAML mapping of names to values: {e}"
                ))
            })?;
        vars.extend(parsed);
    }
    let options = Options {
        vars,
        target: args.target.clone().or_else(|| s.dbt.target.clone()),
        warehouse,
        data: s.dbt.data.as_deref().map(|d| loaded.resolve(d)),
    };
    let declared: Vec<String> = s.inputs.keys().cloned().collect();
    let r = crate::dbt::resolve(tree(v1), tree(v2), &options, &declared)?;
    check_model_specs(loaded, &r.v1, &r.v2)?;
    // `[models.NAME] key` wins; the project's key, where none is given,
    // says where it came from.
    let mut keys = config_keys(s);
    let mut notes = r.notes;
    let mut key_from = std::collections::BTreeMap::new();
    for (name, (key, from)) in r.keys {
        if let std::collections::btree_map::Entry::Vacant(slot) = keys.entry(name.clone()) {
            let note = format!("key `{}` from {from}", key.join(", "));
            notes.entry(name.clone()).or_default().insert(0, note);
            key_from.insert(name, from);
            slot.insert(key);
        }
    }
    // `[models.NAME.contract]` wins; else the project's tests are the
    // model's contract, and the report says where it came from.
    let mut contracts = config_contracts(s);
    for (name, (spec, file)) in r.contracts {
        if s.models.get(&name).is_some_and(|m| m.contract.is_some()) {
            continue;
        }
        let checks = config::contract_checks(&Some(spec));
        if !checks.is_empty() {
            let note = format!("contract from the project's tests in {file}");
            notes.entry(name.clone()).or_default().push(note);
            contracts.insert(name, checks);
        }
    }
    let run = ModelRun {
        dir: v2.path.clone(),
        v1_label: v1.label.clone(),
        v2_label: v2.label.clone(),
        v1: r.v1,
        v2: r.v2,
        targets: s.transform.targets.clone(),
        keys,
        key_from,
        expect: config_expect(s),
        contracts,
        notes,
    };
    Ok((run, r.inputs, r.warehouse))
}

/// The keys `[models.NAME] key` gives.
fn config_keys(s: &config::Scenario) -> std::collections::BTreeMap<String, Vec<String>> {
    s.models
        .iter()
        .map(|(n, spec)| (n.clone(), spec.key.columns()))
        .filter(|(_, k)| !k.is_empty())
        .collect()
}

/// The contracts `[models.NAME.contract]` declares.
fn config_contracts(
    s: &config::Scenario,
) -> std::collections::BTreeMap<String, Vec<crate::compare::contract::Check>> {
    s.models
        .iter()
        .map(|(n, spec)| (n.clone(), config::contract_checks(&spec.contract)))
        .filter(|(_, c)| !c.is_empty())
        .collect()
}

/// The changes `[[models.NAME.expect]]` declares.
fn config_expect(
    s: &config::Scenario,
) -> std::collections::BTreeMap<String, Vec<crate::compare::expect::Expectation>> {
    s.models
        .iter()
        .map(|(n, spec)| (n.clone(), config::expectations(&spec.expect)))
        .filter(|(_, e)| !e.is_empty())
        .collect()
}

/// `[models.NAME]` naming no model would silently fall back to the
/// default key: an error with a suggestion.
fn check_model_specs(
    loaded: &LoadedScenario,
    m1: &models::ModelSet,
    m2: &models::ModelSet,
) -> Result<()> {
    for name in loaded.scenario.models.keys() {
        if !m1.models.contains_key(name) && !m2.models.contains_key(name) {
            let hint = crate::error::did_you_mean(name, m2.models.keys().map(String::as_str))
                .map(|h| format!(" (did you mean `{h}`?)"))
                .unwrap_or_default();
            return Err(Error::config(
                &loaded.config_path,
                format!("[models.{name}]: no model `{name}` in the folder{hint}"),
            ));
        }
    }
    Ok(())
}

/// `[compare]` tolerances: the default and one per column.
fn tolerance(loaded: &LoadedScenario) -> Tolerance {
    let c = &loaded.scenario.compare;
    let default = Tol {
        abs: c.abs_tol,
        rel: c.rel_tol,
    };
    let columns = c
        .columns
        .iter()
        .map(|(name, spec)| {
            let tol = Tol {
                abs: spec.abs_tol.unwrap_or(default.abs),
                rel: spec.rel_tol.unwrap_or(default.rel),
            };
            (name.clone(), tol)
        })
        .collect();
    let durations = c
        .columns
        .iter()
        .filter_map(|(name, spec)| Some((name.clone(), spec.tolerance_seconds()?)))
        .collect();
    Tolerance {
        default,
        columns,
        durations,
    }
}

/// v1 and v2 of the scenario's transform: two files, or one file read at
/// `--base` (v1) and in the working tree or at `--head` (v2).
fn transforms(
    loaded: &LoadedScenario,
    args: &RunArgs,
) -> Result<(Transform, Transform, Option<GitRefs>)> {
    let t = &loaded.scenario.transform;
    let from_tree =
        |v: Version, file: &str| Transform::file(v, loaded.resolve(file), file.to_string());
    match (&args.base, &t.path, &t.v1, &t.v2) {
        (None, None, Some(v1), Some(v2)) => {
            Ok((from_tree(Version::V1, v1), from_tree(Version::V2, v2), None))
        }
        (None, Some(_), _, _)
            if crate::dbt::is_project(&loaded.dir)
                && !loaded.config_path.ends_with(config::FILE_NAME) =>
        {
            Err(Error::Usage(format!(
                "{} is a dbt project: give --base REF to read v1 from git (v2 is the working tree), or write a diffgate.toml whose [transform] names two project folders as v1 and v2",
                loaded.dir.display()
            )))
        }
        (None, Some(path), _, _) => Err(Error::config(
            &loaded.config_path,
            format!(
                "transform.path = {path:?} names one file: run with --base REF to read v1 from git"
            ),
        )),
        (Some(base), Some(path), _, _) => from_git(loaded, path, base, args.head.as_deref()),
        (Some(_), None, _, _) => Err(Error::config(
            &loaded.config_path,
            "--base reads v1 of one transform file from git, but [transform] names two \
             files (v1, v2): name the file with `path = \"...\"` instead",
        )),
        (None, None, _, _) => Err(Error::config(
            &loaded.config_path,
            "transform: give both `v1` and `v2`, or `path` with --base REF",
        )),
    }
}

/// `path` read at `base` (v1) and at `head`, or in the working tree (v2).
fn from_git(
    loaded: &LoadedScenario,
    path: &str,
    base: &str,
    head: Option<&str>,
) -> Result<(Transform, Transform, Option<GitRefs>)> {
    let file = loaded.resolve(path);
    let repo = git::Repo::discover(&file)?;
    let rel = repo.relative(&file)?;
    let at = |v: Version, commit: &git::Commit| Transform {
        version: v,
        path: file.clone(),
        label: format!("{path} @ {}", commit.describe()),
        origin: Origin::Git {
            repo: repo.clone(),
            commit: commit.clone(),
            rel: rel.clone(),
        },
    };
    let git_ref = |c: &git::Commit, working_tree| GitRef {
        reference: c.reference.clone(),
        commit: c.id.clone(),
        working_tree,
    };
    let base = repo.resolve(base)?;
    let (v2, head) = match head {
        Some(head) => {
            let head = repo.resolve(head)?;
            (at(Version::V2, &head), git_ref(&head, false))
        }
        None => (
            Transform::file(Version::V2, file.clone(), path.to_string()),
            git_ref(&repo.resolve("HEAD")?, true),
        ),
    };
    let refs = GitRefs {
        base: git_ref(&base, false),
        head,
    };
    Ok((at(Version::V1, &base), v2, Some(refs)))
}

/// The two versions as files, or, when they are folders (in the working
/// tree or at a git ref), as both versions' models.
fn versions(loaded: &LoadedScenario, v1: Transform, v2: Transform) -> Result<Versions> {
    let is_dir = |t: &Transform| match &t.origin {
        Origin::Git { repo, commit, rel } => repo.is_dir(commit, rel),
        _ => t.path.is_dir(),
    };
    match (is_dir(&v1), is_dir(&v2)) {
        (false, false) => return Ok(Versions::File { v1, v2 }),
        (true, true) => {}
        (v1_dir, _) => {
            let kind = |dir: bool| if dir { "a model folder" } else { "a SQL file" };
            return Err(Error::config(
                &loaded.config_path,
                format!(
                    "transform: v1 ({}) is {} but v2 ({}) is {}; both must be SQL files or both model folders",
                    v1.label,
                    kind(v1_dir),
                    v2.label,
                    kind(!v1_dir)
                ),
            ));
        }
    }
    Ok(Versions::Folder(model_run(loaded, &v1, &v2)?))
}

/// Both versions' models, with the config's targets and per-model keys.
fn model_run(loaded: &LoadedScenario, v1: &Transform, v2: &Transform) -> Result<ModelRun> {
    let inputs: Vec<String> = loaded.scenario.inputs.keys().cloned().collect();
    let read = |t: &Transform| models::read(tree(t), &inputs);
    let s = &loaded.scenario;
    let (m1, m2) = (read(v1)?, read(v2)?);
    check_model_specs(loaded, &m1, &m2)?;
    Ok(ModelRun {
        dir: v2.path.clone(),
        v1_label: v1.label.clone(),
        v2_label: v2.label.clone(),
        v1: m1,
        v2: m2,
        targets: s.transform.targets.clone(),
        keys: config_keys(s),
        key_from: Default::default(),
        expect: config_expect(s),
        contracts: config_contracts(s),
        notes: Default::default(),
    })
}

/// `diff` of two tables.
fn diff_job(args: &DiffArgs) -> Result<Job> {
    let delimiter = args
        .delimiter
        .as_deref()
        .map(config::parse_delimiter)
        .transpose()
        .map_err(|m| Error::Usage(format!("--delimiter: {m}")))?;
    let has_header = args.no_header.then_some(false);
    let char_of = |flag: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(config::parse_delimiter)
            .transpose()
            .map_err(|m| Error::Usage(format!("--{flag}: {}", m.replacen("delimiter", flag, 1))))
    };
    let quote = char_of("quote", &args.quote)?;
    let escape = char_of("escape", &args.escape)?;
    let side = |v: Version, path: &PathBuf| InputSource {
        label: v.as_str().to_string(),
        delimiter,
        quote,
        escape,
        has_header,
        ..InputSource::new(v.table_name(), path)
    };
    let tables = Tables {
        v1: side(Version::V1, &args.v1),
        v2: side(Version::V2, &args.v2),
        v1_label: args.v1.display().to_string(),
        v2_label: args.v2.display().to_string(),
    };
    let base = Base {
        sample_size: DEFAULT_SAMPLE_SIZE,
        ..Base::default()
    };
    base.with_flags(Mode::Diff(tables), &args.shared)
}

/// What a saved report pinned (`--pin-from`): objects, and each table
/// source's pin by its input's name.
fn pins_of(path: &std::path::Path) -> Result<crate::load::Recorded> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let report = crate::render::json::parse(&text).map_err(|e| Error::Report {
        path: path.to_path_buf(),
        message: format!("--pin-from: not a diffgate JSON report: {e}"),
    })?;
    let mut pins = crate::load::Recorded::default();
    for input in report.inputs {
        for pin in input.pinned {
            if pin.kind.is_object() {
                pins.objects.push(pin);
            } else {
                pins.tables.insert(input.name.clone(), pin);
            }
        }
    }
    if pins.objects.is_empty() && pins.tables.is_empty() {
        return Err(Error::Report {
            path: path.to_path_buf(),
            message: "--pin-from: the report pinned no remote input, Delta table or Postgres table"
                .into(),
        });
    }
    Ok(pins)
}

/// `--dead-letter`, else beside the first report file, else the default
/// name in the working directory.
fn dead_letter_path(shared: &SharedArgs, output: &OutputArgs) -> Result<PathBuf> {
    if let Some(p) = &shared.dead_letter {
        if p.is_dir() {
            return Err(Error::Usage(format!(
                "--dead-letter {}: is a directory; give a file path",
                p.display()
            )));
        }
        return Ok(p.clone());
    }
    Ok(match output.files().first() {
        Some((_, _, report)) => {
            let stem = report
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "report".into());
            report.with_file_name(format!("{stem}.dead-letter.ndjson"))
        }
        None => PathBuf::from(DEFAULT_DEAD_LETTER),
    })
}

/// Settings from the config (or defaults) before the flags apply.
#[derive(Default)]
struct Base {
    key: Vec<String>,
    ignore_columns: Vec<String>,
    rename: std::collections::BTreeMap<String, String>,
    fold_column_case: bool,
    normalize: std::collections::BTreeMap<String, crate::align::Normalize>,
    mask: Vec<String>,
    formats: std::collections::BTreeMap<String, String>,
    expect: Vec<crate::compare::expect::Expectation>,
    contract: Vec<crate::compare::contract::Check>,
    tolerance: Tolerance,
    sample_size: usize,
    /// `[compare] profile = false` turns the profile off.
    no_profile: bool,
    /// The subset's as-of date, which freshness is measured at.
    as_of: Option<String>,
    policy: Policy,
    about: About,
    /// The scenario's `[engine]` (none for `diff`).
    engine: Option<crate::config::EngineSpec>,
}

impl Base {
    /// The job for `mode`, with the shared flags applied over this base.
    fn with_flags(self, mode: Mode, f: &SharedArgs) -> Result<Job> {
        let mut policy = apply_policy_flags(&self.policy, &f.policy)?;
        if let Some(fail_on) = f.fail_on {
            policy.fail_on = fail_on;
        }
        Ok(Job {
            mode,
            settings: self.settings(f)?,
            policy,
            engine: engine(f, self.engine.as_ref())?,
            limits: Limits {
                run: f.timeout,
                transform: f.transform_timeout,
            },
            load: LoadOptions {
                strict: f.strict,
                pins: match &f.pin_from {
                    Some(path) => pins_of(path)?,
                    None => Default::default(),
                },
                ..LoadOptions::default()
            },
            about: self.about,
        })
    }

    /// Key, ignored columns, tolerances and samples, flags over config.
    fn settings(&self, f: &SharedArgs) -> Result<Settings> {
        let usage = Error::Usage;
        let mut key = self.key.clone();
        if let Some(k) = &f.key {
            key = k.iter().map(|k| k.trim().to_string()).collect();
            if key.iter().any(String::is_empty) {
                return Err(usage("--key: empty column name".into()));
            }
        }
        let mut tolerance = self.tolerance.clone();
        if let Some(x) = f.abs_tol {
            check_tol("--abs-tol", x).map_err(usage)?;
            tolerance.default.abs = x;
        }
        if let Some(x) = f.rel_tol {
            check_tol("--rel-tol", x).map_err(usage)?;
            tolerance.default.rel = x;
        }
        for spec in &f.column_tol {
            let (col, kind, x) = parse_column_tol(spec).map_err(usage)?;
            let default = tolerance.default;
            let entry = tolerance.columns.entry(col).or_insert(default);
            if kind == "abs" {
                entry.abs = x;
            } else {
                entry.rel = x;
            }
        }
        let mut ignore_columns = self.ignore_columns.clone();
        ignore_columns.extend(f.ignore_column.iter().cloned());
        if let Some(k) = key
            .iter()
            .enumerate()
            .find_map(|(i, k)| key[..i].contains(k).then_some(k))
        {
            return Err(usage(format!("key column `{k}` is listed twice")));
        }
        if key.iter().any(|k| ignore_columns.contains(k)) {
            return Err(usage("a key column cannot also be ignored".into()));
        }
        let mut rename = self.rename.clone();
        for spec in &f.rename {
            let (old, new) = spec
                .split_once('=')
                .map(|(o, n)| (o.trim(), n.trim()))
                .filter(|(o, n)| !o.is_empty() && !n.is_empty() && o != n)
                .ok_or_else(|| usage(format!("--rename {spec:?}: expected OLD=NEW")))?;
            rename.insert(old.to_string(), new.to_string());
        }
        let mut normalize = self.normalize.clone();
        for spec in &f.normalize {
            let (col, how) = spec
                .split_once(':')
                .filter(|(c, h)| !c.trim().is_empty() && !h.trim().is_empty())
                .ok_or_else(|| {
                    usage(format!(
                        "--normalize {spec:?}: expected COL:trim,ignore_case,collapse_whitespace"
                    ))
                })?;
            let n = normalize.entry(col.trim().to_string()).or_default();
            for word in how.split(',').map(str::trim) {
                match word {
                    "trim" => n.trim = true,
                    "ignore_case" => n.ignore_case = true,
                    "collapse_whitespace" => n.collapse_whitespace = true,
                    other => {
                        return Err(usage(format!(
                            "--normalize {spec:?}: `{other}` is not trim, ignore_case or collapse_whitespace"
                        )));
                    }
                }
            }
        }
        let mut patterns = self.mask.clone();
        patterns.extend(f.mask.iter().cloned());
        // The keyed hash's key comes from the environment only, never from
        // a file or a flag that a log would show.
        let mask_key = std::env::var_os("DIFFGATE_MASK_KEY").map(|k| k.into_encoded_bytes());
        let mask = Mask::new(&patterns, mask_key).map_err(usage)?;
        let mut formats = self.formats.clone();
        for spec in &f.column_format {
            let (col, format) = spec
                .split_once('=')
                .map(|(c, f)| (c.trim(), f))
                .filter(|(c, f)| !c.is_empty() && !f.is_empty())
                .ok_or_else(|| usage(format!("--column-format {spec:?}: expected COL=FORMAT")))?;
            formats.insert(col.to_string(), format.to_string());
        }
        let mut expect = self.expect.clone();
        for value in &f.expect {
            expect.push(crate::compare::expect::parse_flag(value).map_err(usage)?);
        }
        Ok(Settings {
            key,
            ignore_columns,
            options: CompareOptions {
                tolerance,
                sample_size: f.sample_size.unwrap_or(self.sample_size),
                diff_out: f.diff_out.clone(),
                profile: !(self.no_profile || f.no_profile),
                as_of: self.as_of.clone(),
                spool: None,
            },
            rename,
            fold_column_case: self.fold_column_case || f.fold_column_case,
            normalize,
            formats,
            mask,
            expect,
            contract: self.contract.clone(),
        })
    }
}

/// Threads, memory limit, spill directory, scratch space and where the
/// plans run.
fn engine(f: &SharedArgs, spec: Option<&crate::config::EngineSpec>) -> Result<EngineOptions> {
    if let Some(0) = f.threads {
        return Err(Error::Usage("--threads must be at least 1".into()));
    }
    if let Some(dir) = &f.spill_dir
        && !dir.is_dir()
    {
        return Err(Error::Usage(format!(
            "--spill-dir {}: not an existing directory",
            dir.display()
        )));
    }
    let scratch = match (&f.scratch, spec.and_then(|s| s.scratch.as_ref())) {
        (Some(text), _) => Some(ScratchAt::parse(text, "--scratch")?),
        (None, Some(text)) => Some(ScratchAt::parse(text, "[engine] scratch")?),
        (None, None) => None,
    };
    Ok(EngineOptions {
        threads: f.threads,
        memory_limit: f.memory_limit,
        spill_dir: f.spill_dir.clone(),
        scratch,
        warehouse: None,
        refuse_integer_division: false,
        distributed: distributed(f, spec)?,
    })
}

/// The distributed engine and its workers (each an `http(s)://host:port`)
/// from the flags, else from the scenario's `[engine]`.
fn distributed(
    f: &SharedArgs,
    spec: Option<&crate::config::EngineSpec>,
) -> Result<Option<crate::engine::Distributed>> {
    use crate::cli::EngineKind;
    let kind = f
        .engine
        .or(spec.and_then(|s| s.kind))
        .unwrap_or(EngineKind::Local);
    let listed = match (&f.workers, spec) {
        (flags, _) if !flags.is_empty() => flags.as_slice(),
        (_, Some(s)) => s.workers.as_slice(),
        (_, None) => &[],
    };
    let bytes_per_task = match (
        f.bytes_per_task,
        spec.and_then(|s| s.bytes_per_task.as_ref()),
    ) {
        (Some(b), _) => Some(b),
        (None, Some(text)) => Some(
            crate::cli::parse_bytes(text)
                .map_err(|e| Error::Usage(format!("[engine] bytes_per_task {text:?}: {e}")))?,
        ),
        (None, None) => None,
    };
    if kind == EngineKind::Local {
        // Flags that mean nothing locally are a mistake to point out (the
        // scenario's own settings may wait for a distributed run).
        if !f.workers.is_empty() || f.bytes_per_task.is_some() {
            let flag = if f.workers.is_empty() {
                "--bytes-per-task"
            } else {
                "--workers"
            };
            return Err(Error::Usage(format!(
                "{flag} is for the distributed engine: add --engine distributed"
            )));
        }
        return Ok(None);
    }
    if listed.is_empty() {
        return Err(Error::Usage(
            "--engine distributed needs --workers URL[,URL...] (or `[engine] workers`), each a \
             `diffgate worker`"
                .into(),
        ));
    }
    let workers = listed
        .iter()
        .map(|w| {
            let url = url::Url::parse(w.trim()).map_err(|e| {
                Error::Usage(format!(
                    "--workers {w:?}: not a URL ({e}); expected http://host:port"
                ))
            })?;
            let plain = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !plain {
                return Err(Error::Usage(format!(
                    "--workers {w:?}: expected http://host:port or https://host:port"
                )));
            }
            Ok(url)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(crate::engine::Distributed {
        workers,
        bytes_per_task: bytes_per_task.unwrap_or(crate::engine::BYTES_PER_TASK),
    }))
}

/// Apply `KEY=VALUE` overrides to a policy through the same deserialiser as
/// the config's [policy] table, so flags and TOML accept the same keys.
fn apply_policy_flags(base: &Policy, flags: &[String]) -> Result<Policy> {
    if flags.is_empty() {
        return Ok(base.clone());
    }
    let mut table =
        toml::Table::try_from(base).map_err(|e| Error::Usage(format!("--policy: {e}")))?;
    for flag in flags {
        let (k, v) = flag
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--policy {flag:?}: expected KEY=VALUE")))?;
        let value: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {v}")) {
            Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(v.to_string())),
            Err(_) => toml::Value::String(v.trim().to_string()),
        };
        // `psi.block=0.3` sets one limit of a drift score.
        match k.trim().split_once('.') {
            Some((outer, inner)) => {
                let entry = table
                    .entry(outer.to_string())
                    .or_insert_with(|| toml::Value::Table(Default::default()));
                match entry {
                    toml::Value::Table(t) => {
                        t.insert(inner.to_string(), value);
                    }
                    _ => {
                        return Err(Error::Usage(format!(
                            "--policy {flag:?}: `{outer}` has no keys"
                        )));
                    }
                }
            }
            None => {
                table.insert(k.trim().to_string(), value);
            }
        }
    }
    let policy: Policy = table.try_into().map_err(|e: toml::de::Error| {
        Error::Usage(format!(
            "--policy: {}",
            config::explain_message(e.message())
        ))
    })?;
    policy
        .validate()
        .map_err(|m| Error::Usage(format!("--policy: {m}")))?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_flags_use_config_keys() {
        let p = apply_policy_flags(
            &Policy::default(),
            &[
                "rows_added=block".into(),
                "max_removed_or_changed_fraction=0.05".into(),
            ],
        )
        .unwrap();
        assert_eq!(p.rows_added, crate::judge::RuleLevel::Block);
        assert_eq!(p.max_removed_or_changed_fraction, 0.05);
        let err = apply_policy_flags(&Policy::default(), &["rows_addd=block".into()]).unwrap_err();
        assert!(err.to_string().contains("rows_addd"), "{err}");
        assert!(apply_policy_flags(&Policy::default(), &["rows_added=maybe".into()]).is_err());
    }
}
