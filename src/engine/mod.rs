//! Session wiring: one DataFusion session (and one runtime) shared by every
//! stage, so v1 and v2 run on the same registered inputs under the same
//! limits: worker threads, an optional memory limit (a fair spill pool that
//! names its biggest consumers when it runs out), where spill files go, and
//! the time limits ([`Limits`], [`within`]) of the run and of each
//! transform. [`exact`] holds the float aggregates every session uses.
//! With `--engine distributed` the same session plans for the workers of
//! [`Distributed`] ([`distributed`], feature `distributed`).

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{EngineContext, Error, Result};

pub mod dialect;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod exact;

pub use dialect::Warehouse;

/// Execution settings that shape the session.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Worker threads and target partitions; `None` = available cores.
    pub threads: Option<usize>,
    /// Bytes the query engine may hold at once; beyond it operators spill
    /// to disk. `None` = unbounded.
    pub memory_limit: Option<usize>,
    /// Directory for spill files; `None` = the system temporary directory.
    pub spill_dir: Option<PathBuf>,
    /// Where the run's scratch space is (`--scratch`): a folder to make it
    /// in, or an object-store prefix for the tables it materialises
    /// ([`crate::scratch`]); `None` = the system temporary directory.
    pub scratch: Option<crate::scratch::ScratchAt>,
    /// The warehouse whose SQL the transforms are written in; `None` =
    /// DataFusion's own SQL.
    pub warehouse: Option<Warehouse>,
    /// With no warehouse: refuse `int / int`, whose answer depends on the
    /// warehouse (SQL written for one, e.g. a dbt project, whose warehouse
    /// is not known).
    pub refuse_integer_division: bool,
    /// Run the plans on these workers instead of in this process
    /// (`--engine distributed`); `None` = locally.
    pub distributed: Option<Distributed>,
}

/// The distributed engine's settings (`--engine distributed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distributed {
    /// The workers (`diffgate worker`), as `http://host:port` URLs.
    pub workers: Vec<url::Url>,
    /// Input bytes each task of a stage that reads files is given: fewer
    /// bytes, more tasks (up to one per worker).
    pub bytes_per_task: usize,
}

/// `e`, naming the workers of `d` that do not accept a connection now (a
/// worker that died mid-run), if any. Asked after a pause: a worker being
/// killed resets its connections a moment before its port closes.
pub async fn with_unanswered(d: &Distributed, e: Error) -> Error {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut workers = Vec::new();
    for url in &d.workers {
        let answers = match url.socket_addrs(|| None) {
            Ok(addrs) => {
                let connect = tokio::net::TcpStream::connect(addrs.as_slice());
                matches!(
                    tokio::time::timeout(Duration::from_secs(2), connect).await,
                    Ok(Ok(_))
                )
            }
            Err(_) => false,
        };
        if !answers {
            workers.push(url.as_str().trim_end_matches('/').to_string());
        }
    }
    if workers.is_empty() {
        return e;
    }
    Error::Workers {
        workers,
        source: Box::new(e),
    }
}

/// `--bytes-per-task`'s default: the engine's own (16 MiB).
pub const BYTES_PER_TASK: usize = 16 << 20;

impl EngineOptions {
    pub fn threads(&self) -> usize {
        self.threads
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// Time limits; a run or transform that passes one stops with an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// The whole run (`--timeout`).
    pub run: Option<Duration>,
    /// Each transform run (`--transform-timeout`).
    pub transform: Option<Duration>,
}

/// Run `fut` within `limit`, if any; past it, a timeout error saying `what`
/// did not finish within `flag`.
pub async fn within<T>(
    limit: Option<Duration>,
    what: impl FnOnce() -> String,
    flag: &'static str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match limit {
        None => fut.await,
        Some(d) => tokio::time::timeout(d, fut).await.unwrap_or_else(|_| {
            Err(Error::Timeout {
                what: what(),
                flag,
                limit: humantime::format_duration(d).to_string(),
            })
        }),
    }
}

/// Sorts that may run in one partition at once (both sides of a
/// sort-merge join, with room to spare), for sizing merge reservations.
const SORTS_PER_PARTITION: usize = 8;

/// The least memory a sort keeps for merging its spill files.
const MIN_MERGE_RESERVATION: usize = 256 << 10;

/// Consumers named when the memory limit is exceeded.
const TOP_CONSUMERS: usize = 5;

/// Spill files merged at once; more are merged in several levels, so a
/// large spill never needs one buffer per file in memory.
const MERGE_FAN_IN: usize = 16;

/// The object stores every session of this process reads (local files,
/// and the buckets `load::store` registers as inputs name them): one
/// registry, so the per-version sessions reach the same pinned stores.
pub fn stores() -> Arc<DefaultObjectStoreRegistry> {
    static STORES: std::sync::OnceLock<Arc<DefaultObjectStoreRegistry>> =
        std::sync::OnceLock::new();
    STORES
        .get_or_init(|| Arc::new(DefaultObjectStoreRegistry::new()))
        .clone()
}

/// Build the session every stage runs in.
pub fn session(options: &EngineOptions) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        .with_target_partitions(options.threads())
        .with_information_schema(false);
    let o = config.options_mut();
    // Keep SQL source spans so planning errors can point at line:column.
    o.sql_parser.collect_spans = true;
    // Evaluate filters inside the Parquet reader: the comparison's second
    // pass then decodes wide columns only for the keys it asked for.
    o.execution.parquet.pushdown_filters = true;
    // No file-level statistics: DataFusion 55 folds a Parquet column whose
    // min equals its max into a constant, though min/max leave NaN out (a
    // column of 1.0 and NaN read as all 1.0), and merges row groups that
    // lack bounds into wrong file bounds (apache/datafusion#25226).
    o.execution.collect_statistics = false;
    if let Some(limit) = options.memory_limit {
        // A hash join cannot spill; a sort-merge join (over spilling sorts
        // with a multi-level merge) can.
        o.optimizer.prefer_hash_join = false;
        // Each sort sets aside memory for merging its spill files, which
        // cannot itself spill; at the default (10 MB) sixteen partitions
        // sorting both sides need 320 MB before holding a row. A share of
        // the limit per partition keeps any thread count within it.
        o.execution.sort_spill_reservation_bytes = (limit
            / (options.threads() * SORTS_PER_PARTITION))
            .clamp(MIN_MERGE_RESERVATION, 10 << 20);
    }
    let runtime = runtime_env(options, stores())?;
    if let Some(w) = options.warehouse {
        config = dialect::configure(config, w)
            .context(|| format!("cannot set the SQL dialect {}", w.as_str()))?;
    }
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features();
    let state = match &options.distributed {
        None => state,
        #[cfg(feature = "distributed")]
        Some(d) => distributed::coordinator(state, d)?,
        #[cfg(not(feature = "distributed"))]
        Some(_) => return Err(Error::Usage(NOT_BUILT.into())),
    };
    let mut ctx = SessionContext::new_with_state(state.build());
    // Float aggregates whose results do not depend on scheduling.
    exact::register(&ctx);
    if let Some(w) = options.warehouse {
        dialect::install(&mut ctx, w)
            .context(|| format!("cannot set the SQL dialect {}", w.as_str()))?;
    } else if options.refuse_integer_division {
        dialect::refuse_integer_division(&mut ctx)
            .context(|| "cannot set integer division".to_string())?;
    }
    Ok(ctx)
}

/// Why `--engine distributed` and `diffgate worker` fail in a build
/// without them.
#[cfg(not(feature = "distributed"))]
pub const NOT_BUILT: &str = "this diffgate was built without the distributed engine \
     (cargo feature `distributed`; the release binaries and wheels have it)";

/// The runtime of a session (or of a worker): the memory limit (a fair
/// spill pool that names its biggest consumers when it runs out), the
/// spill directory and the object stores.
fn runtime_env(
    options: &EngineOptions,
    stores: Arc<dyn ObjectStoreRegistry>,
) -> Result<Arc<RuntimeEnv>> {
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = options.memory_limit {
        let pool = FairSpillPool::new(limit);
        let top = NonZeroUsize::new(TOP_CONSUMERS).expect("non-zero");
        runtime = runtime.with_memory_pool(Arc::new(TrackConsumersPool::new(pool, top)));
    }
    let mut disk = DiskManagerBuilder::default().with_max_spill_merge_fan_in(MERGE_FAN_IN);
    if let Some(dir) = &options.spill_dir {
        disk = disk.with_mode(DiskManagerMode::Directories(vec![dir.clone()]));
    }
    runtime
        .with_disk_manager_builder(disk)
        .with_object_store_registry(stores)
        .build_arc()
        .context(|| "cannot start the query engine".to_string())
}

/// While alive, plans made in `ctx` run in this process even with the
/// distributed engine: for operators that keep their results in this
/// process (the profile's), which a worker would keep to itself. It sets
/// a session setting and restores it when dropped, so plans made in
/// `ctx` meanwhile by other tasks run locally too (correct, not
/// distributed), and two must not overlap.
pub struct Local<'a> {
    #[cfg(feature = "distributed")]
    _inner: Option<distributed::Local<'a>>,
    #[cfg(not(feature = "distributed"))]
    _ctx: std::marker::PhantomData<&'a SessionContext>,
}

impl<'a> Local<'a> {
    pub fn new(ctx: &'a SessionContext) -> Self {
        #[cfg(feature = "distributed")]
        return Local {
            _inner: distributed::Local::new(ctx),
        };
        #[cfg(not(feature = "distributed"))]
        {
            let _ = ctx;
            Local {
                _ctx: std::marker::PhantomData,
            }
        }
    }
}

/// Whether `ctx` plans for the distributed engine.
pub fn is_distributed(ctx: &SessionContext) -> bool {
    #[cfg(feature = "distributed")]
    return distributed::is_distributed(ctx);
    #[cfg(not(feature = "distributed"))]
    {
        let _ = ctx;
        false
    }
}

/// While alive, joins planned in `ctx` are hash joins whatever the memory
/// limit; dropping it restores the session's choice. For joins whose build
/// side is known to be small (a key list), where a sort-merge join would
/// sort the large side for nothing.
///
/// With the distributed engine, a build side of known size up to
/// [`BROADCAST_BYTES`] is also collected whole (and sent to every task)
/// instead of both sides being shuffled by key: a shuffle of the large
/// side crosses the network, where locally it stays in memory.
pub struct HashJoins<'a> {
    ctx: &'a SessionContext,
    before: (bool, usize, usize),
}

/// The largest build side of known size the distributed engine sends to
/// every task of a join under [`HashJoins`].
pub const BROADCAST_BYTES: usize = 256 << 20;

impl<'a> HashJoins<'a> {
    pub fn new(ctx: &'a SessionContext) -> Self {
        let distributed = is_distributed(ctx);
        let state = ctx.state_ref();
        let mut state = state.write();
        let o = &mut state.config_mut().options_mut().optimizer;
        let before = (
            std::mem::replace(&mut o.prefer_hash_join, true),
            o.hash_join_single_partition_threshold,
            o.hash_join_single_partition_threshold_rows,
        );
        if distributed {
            o.hash_join_single_partition_threshold = BROADCAST_BYTES;
            o.hash_join_single_partition_threshold_rows = usize::MAX;
        }
        HashJoins { ctx, before }
    }
}

impl Drop for HashJoins<'_> {
    fn drop(&mut self) {
        let state = self.ctx.state_ref();
        let mut state = state.write();
        let o = &mut state.config_mut().options_mut().optimizer;
        o.prefer_hash_join = self.before.0;
        o.hash_join_single_partition_threshold = self.before.1;
        o.hash_join_single_partition_threshold_rows = self.before.2;
    }
}
