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
//! aggregates, the row hash), looked up by name when a worker decodes a
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
        let d = DistributedConfig::from_config_options_mut(state.config_mut().options_mut()).ok()?;
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
    let runtime = super::runtime_env(options, Arc::new(EnvStores::default()))?;
    let worker = Worker::from_session_builder(worker_state).with_runtime_env(runtime);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Io {
            path: format!("worker address {listen}").into(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| Error::Io {
        path: format!("worker address {listen}").into(),
        source,
    })?;
    println!("listening on {bound}");
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    tonic::transport::Server::builder()
        .add_service(worker.into_worker_server())
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            interrupted,
        )
        .await
        .map_err(|e| Error::Internal(format!("the worker on {bound} stopped: {e}")))
}
