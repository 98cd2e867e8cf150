//! The integration tests, one binary (DataFusion is linked once): real
//! `diffgate` processes on real files, end-to-end scenarios, renderer
//! snapshots, property and conformance tests. Each module is one area.

#[path = "../checks/mod.rs"]
mod checks;
mod common;

mod browser;
mod check;
mod cli;
mod clouds;
mod conformance;
mod contracts;
mod dbt;
mod dead_letter;
mod declared;
mod determinism;
mod diff_out;
#[cfg(feature = "distributed")]
mod distributed;
mod expected;
mod explained;
mod floats;
mod fuzz_corpus;
mod git;
mod init;
mod memory;
mod metrics;
mod models;
mod oracle;
mod profile;
mod properties;
mod records;
mod renderers;
mod scenarios;
mod semantics;
mod storage;
mod subset;
mod tables;
mod writers;
