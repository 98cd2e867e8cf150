//! The distributed engine (feature `distributed`, `--engine distributed`):
//! datafusion-contrib's datafusion-distributed. The coordinator (the
//! `diffgate run`/`diff` process) plans as usual; the distributed planner
//! then cuts each physical plan into stages at its shuffles and sends
//! every stage's tasks to the workers (`diffgate worker`, [`serve`]),
//! which stream their batches to each other and to the coordinator over
//! Arrow Flight. There is no scheduler to run: the workers are listed.
//!
//! What a worker needs to run diffgate's plans is set here, once for both
//! sides: the functions plans name ([`functions`]: the exact float
//! aggregates, the row hash, the key-hash sample), looked up by name when a worker decodes a
//! plan, and the object stores its inputs name, built from the worker's
//! environment.
//!
//! What stays in the coordinator: operators that keep their results in
//! their own process (the profile's) run under [`Local`], which caps
//! every stage at one task so no stage leaves the process.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use datafusion::common::DataFusionError;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionContext;
use datafusion_distributed::{
    DistributedConfig, DistributedExt, SessionStateBuilderExt, Worker, WorkerQueryContext,
    WorkerResolver,
};
use object_store::ObjectStore;
use url::Url;

use super::{Distributed, EngineOptions};
use crate::error::{EngineContext, Error, Result};

/// The listed workers.
struct Workers(Vec<Url>);

impl WorkerResolver for Workers {
    fn get_urls(&self) -> Result<Vec<Url>, DataFusionError> {
        Ok(self.0.clone())
    }
}

/// A coordinator's session: `builder` with the distributed planner over
/// the listed workers.
pub fn coordinator(builder: SessionStateBuilder, d: &Distributed) -> Result<SessionStateBuilder> {
    builder
        .with_distributed_planner()
        .with_distributed_worker_resolver(Workers(d.workers.clone()))
        .with_distributed_file_scan_config_bytes_per_partition(d.bytes_per_task)
        .context(|| "cannot set up the distributed engine".to_string())
}

/// Whether `ctx` plans for workers.
pub fn is_distributed(ctx: &SessionContext) -> bool {
    let state = ctx.state_ref();
    let state = state.read();
    DistributedConfig::from_config_options(state.config().options()).is_ok()
}

/// While alive, every stage planned in a distributed session has at most
/// one task, so none is sent to a worker; dropping it restores the cap.
pub struct Local<'a> {
    ctx: &'a SessionContext,
    before: usize,
}

impl<'a> Local<'a> {
    /// `None` for a session that is not distributed.
    pub fn new(ctx: &'a SessionContext) -> Option<Self> {
        let state = ctx.state_ref();
        let mut state = state.write();
        let d =
            DistributedConfig::from_config_options_mut(state.config_mut().options_mut()).ok()?;
        let before = std::mem::replace(&mut d.max_tasks_per_stage, 1);
        Some(Local { ctx, before })
    }
}

impl Drop for Local<'_> {
    fn drop(&mut self) {
        let state = self.ctx.state_ref();
        let mut state = state.write();
        if let Ok(d) = DistributedConfig::from_config_options_mut(state.config_mut().options_mut())
        {
            d.max_tasks_per_stage = self.before;
        }
    }
}

/// Register in `ctx` the functions diffgate's plans name, so a plan made
/// by a coordinator decodes on a worker to the same functions.
pub fn functions(ctx: &SessionContext) {
    super::exact::register(ctx);
    ctx.register_udf(crate::compare::row_hash::udf());
    ctx.register_udf(crate::load::subset::sample_udf());
}

/// A worker's session for one task: the engine's defaults, the config
/// the coordinator sent, and diffgate's functions.
async fn worker_state(q: WorkerQueryContext) -> Result<SessionState, DataFusionError> {
    let ctx = SessionContext::new_with_state(q.builder.build());
    functions(&ctx);
    // One line per task, for whoever operates the worker.
    eprintln!("diffgate worker: running a task");
    Ok(ctx.state())
}

/// The object stores of a worker: those registered (local files), and
/// for any other URL one built from the worker's environment (the same
/// variables and AWS profile `diff` reads), kept for later tasks.
#[derive(Debug, Default)]
struct EnvStores {
    inner: DefaultObjectStoreRegistry,
    built: Mutex<()>,
}

impl ObjectStoreRegistry for EnvStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.inner.get_store(url) {
            return Ok(store);
        }
        // One build per bucket, however many tasks ask at once.
        let _one = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(store) = self.inner.get_store(url) {
            return Ok(store);
        }
        let store = crate::load::store::from_env(url).map_err(|e| {
            DataFusionError::External(
                format!("{}: {e}", crate::load::store::shown(url.as_str())).into(),
            )
        })?;
        self.inner.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}

/// `diffgate worker`: serve tasks on `listen` until interrupted. Prints
/// `listening on ADDR` (the port chosen, for `:0`) once it accepts.
pub async fn serve(listen: SocketAddr, options: &EngineOptions) -> Result<()> {
    let io = |source| Error::Io {
        path: format!("worker address {listen}").into(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(io)?;
    println!("listening on {}", listener.local_addr().map_err(io)?);
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve_on(listener, options, interrupted).await
}

/// Serve tasks on `listener` until `stop`.
async fn serve_on(
    listener: tokio::net::TcpListener,
    options: &EngineOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let runtime = super::runtime_env(options, Arc::new(EnvStores::default()))?;
    let worker = Worker::from_session_builder(worker_state).with_runtime_env(runtime);
    let bound = listener
        .local_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    tonic::transport::Server::builder()
        .add_service(worker.into_worker_server())
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), stop)
        .await
        .map_err(|e| Error::Internal(format!("the worker on {bound} stopped: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::dataframe::DataFrameWriteOptions;
    use datafusion::physical_plan::displayable;

    /// Two workers served by this process on loopback ports, and a
    /// coordinator over them: a census-shaped aggregate (an exact float
    /// sum, the row hash's XOR and a count per group) over a Parquet file
    /// is planned into stages for the workers and gives the local engine's
    /// answer, at 2 and 4 threads (at 1 the plan has no shuffle, so no
    /// stage to send).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn an_in_process_cluster_gives_the_local_answer_with_diffgate_functions() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.parquet");
        let local = super::super::session(&EngineOptions::default()).unwrap();
        // Floats whose sum depends on the order of addition, unless exact.
        let rows = "select value as id, value % 97 as g, \
                    cast(value as double) * 0.1 + 1e15 * (value % 2) as f from range(0, 60000)";
        local
            .sql(rows)
            .await
            .unwrap()
            .write_parquet(file.to_str().unwrap(), DataFrameWriteOptions::new(), None)
            .await
            .unwrap();
        let mut urls = Vec::new();
        for _ in 0..2 {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.push(Url::parse(&format!("http://{}", l.local_addr().unwrap())).unwrap());
            tokio::spawn(async move {
                serve_on(l, &EngineOptions::default(), std::future::pending()).await
            });
        }
        let query = "select g, sum(f) as s, bit_xor(diffgate_row_hash(id, f)) as h, count(*) as n \
                     from t group by g order by g";
        let answer = |threads: usize, distributed: bool| {
            let urls = urls.clone();
            let file = file.clone();
            async move {
                let options = EngineOptions {
                    threads: Some(threads),
                    distributed: distributed.then_some(Distributed {
                        workers: urls,
                        bytes_per_task: 1,
                    }),
                    ..Default::default()
                };
                let ctx = super::super::session(&options).unwrap();
                functions(&ctx);
                ctx.register_parquet("t", file.to_str().unwrap(), Default::default())
                    .await
                    .unwrap();
                let df = ctx.sql(query).await.unwrap();
                let plan = df.clone().create_physical_plan().await.unwrap();
                let shown = displayable(plan.as_ref()).indent(false).to_string();
                let batches = df.collect().await.unwrap();
                (pretty_format_batches(&batches).unwrap().to_string(), shown)
            }
        };
        let (expected, local_plan) = answer(4, false).await;
        assert!(!local_plan.contains("DistributedExec"), "{local_plan}");
        for threads in [2, 4] {
            let (got, plan) = answer(threads, true).await;
            assert!(plan.contains("DistributedExec"), "not distributed: {plan}");
            assert!(plan.contains("NetworkShuffleExec"), "no shuffle: {plan}");
            assert_eq!(got, expected, "--threads {threads}");
        }
    }
}
