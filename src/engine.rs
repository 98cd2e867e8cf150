//! Session wiring: one DataFusion session (and one runtime) shared by every
//! stage, so v1 and v2 run on the same registered inputs under the same
//! limits. Later limits (memory pool, spill directory) are configured here.

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{EngineContext, Result};

/// Execution settings that shape the session.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Worker threads and target partitions; `None` = available cores.
    pub threads: Option<usize>,
}

impl EngineOptions {
    pub fn threads(&self) -> usize {
        self.threads
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// Build the session every stage runs in.
pub fn session(options: &EngineOptions) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        .with_target_partitions(options.threads())
        .with_information_schema(false);
    // Keep SQL source spans so planning errors can point at line:column.
    config.options_mut().sql_parser.collect_spans = true;
    let runtime = RuntimeEnvBuilder::new()
        .build_arc()
        .context(|| "cannot start the query engine".to_string())?;
    Ok(SessionContext::new_with_config_rt(
        config,
        Arc::clone(&runtime),
    ))
}
