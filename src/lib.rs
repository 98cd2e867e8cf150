//! diffgate: run v1 and v2 of a SQL transform over the same inputs in
//! Apache DataFusion, compare the outputs by schema, rows and columns, and
//! gate the release on a verdict.
//!
//! The pipeline, one module per stage ([`pipeline`] runs them, one path per
//! mode of a [`pipeline::Job`]):
//!
//! | stage | module | owns |
//! |---|---|---|
//! | load | [`load`] | registering inputs as tables, format detection, bad records, canary subsets |
//! | run v1/v2 | [`transform`], [`git`], [`models`], [`dbt`], [`determinism`], [`engine`] | planning and materialising each version's SQL (a file, a model folder or a dbt project rendered as dbt does, from the working tree or a git ref); re-runs for the determinism check; the session, its limits, its exact float aggregates and a warehouse's SQL dialect |
//! | align | [`align`] | schema diff, key resolution, comparison types |
//! | compare | [`compare`] | the comparison unit every path takes; streaming row/column comparison, samples |
//! | judge | [`judge`], [`rules`] | the typed rules, judged by family → verdict and reasons |
//! | render | [`render`] | terminal, JSON, Markdown, HTML and JUnit from the report |
//! | deliver | [`deliver`] | report files, GitHub Actions summary/outputs/annotations, progress |
//!
//! [`cli`] parses flags, [`resolve`] turns them and the scenario file into a
//! job. [`init`] drafts a scenario file for a folder (`diffgate init`). [`report::DiffReport`] is the contract between comparing and
//! rendering.

pub mod align;
pub mod cli;
pub mod compare;
pub mod config;
pub mod dbt;
pub mod deliver;
pub mod determinism;
pub mod engine;
pub mod error;
pub mod git;
pub mod init;
pub mod judge;
pub mod load;
pub mod models;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod resolve;
pub mod rules;
pub mod scratch;
pub mod transform;

/// The engine diffgate runs on, for embedders and the fuzz targets (one
/// DataFusion version for all).
pub use datafusion;
pub use error::{Error, Result};
pub use report::{DiffReport, Verdict};
