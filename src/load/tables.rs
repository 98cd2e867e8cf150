//! Table sources: inputs that are tables rather than files. A Delta Lake
//! table (whose log says which Parquet files make up each version) and a
//! PostgreSQL table, each read through its own maintained DataFusion
//! provider (delta-rs; datafusion-contrib's table providers) behind a cargo
//! feature, so the default build stays lean.
//!
//! Both are pinned, so that v1 and v2 read the same data:
//!
//! * a Delta table is opened at one version (the newest, the one asked for
//!   with `version` or `as_of`, or the one a saved report recorded) and
//!   every read goes to that version's files, which Delta never rewrites;
//! * a Postgres table is copied once into the run's scratch space by one
//!   statement (one snapshot), with the input's `where` sent along in that
//!   statement; both versions read the copy. Postgres keeps no earlier
//!   versions, so what is recorded is the copy's row count and a hash of its
//!   rows, which a rerun from the report (`--pin-from`) checks.
//!
//! A folder holding a `_delta_log` is a Delta table whatever its format says:
//! read as a folder of Parquet files it would include the files that later
//! versions removed, a wrong answer. Without the `delta` feature such a
//! folder is refused with a message.

use std::path::PathBuf;

use datafusion::prelude::SessionContext;

use super::{InputSource, Loaded, Remote};
use crate::error::{Error, Result};
use crate::scratch::Scratch;

/// A table source's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Delta,
    Postgres,
}

/// Which version of a Delta table to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Version(u64),
    /// RFC 3339: the newest version committed at or before it.
    Timestamp(String),
}

/// Whether `path` is a PostgreSQL connection URL.
pub fn is_postgres(path: &str) -> bool {
    path.split_once("://").is_some_and(|(scheme, _)| {
        matches!(
            scheme.to_ascii_lowercase().as_str(),
            "postgres" | "postgresql"
        )
    })
}

/// The table source `source` is, if any: a declared `format`, a Postgres
/// URL, or a folder (local or remote) holding a `_delta_log`.
pub async fn kind_of(source: &InputSource, remote: &Remote) -> Result<Option<Kind>> {
    use super::Format;
    let given = source.path.to_string_lossy();
    let kind = match source.format {
        Some(Format::Delta) => Some(Kind::Delta),
        Some(Format::Postgres) => Some(Kind::Postgres),
        _ if is_postgres(&given) => Some(Kind::Postgres),
        _ if super::store::is_url(&given) => remote.is_delta(source).await?.then_some(Kind::Delta),
        _ => source
            .path
            .join("_delta_log")
            .is_dir()
            .then_some(Kind::Delta),
    };
    match kind {
        Some(Kind::Postgres) if !is_postgres(&given) => Err(shown_error(
            source,
            "format = \"postgres\" needs a postgresql://[user@]host[:port]/database URL as its path",
        )),
        Some(Kind::Delta) if is_postgres(&given) => {
            Err(shown_error(source, "a postgresql:// URL is not a Delta table; set format = \"postgres\""))
        }
        Some(Kind::Postgres) if source.format.is_some_and(|f| f != Format::Postgres) => {
            Err(shown_error(source, format!(
                "a postgresql:// URL is a Postgres table, not {} files; leave `format` out",
                source.format.map_or("", |f| f.as_str())
            )))
        }
        Some(Kind::Delta) if source.format.is_some_and(|f| f != Format::Delta) => {
            Err(shown_error(source, format!(
                "this folder is a Delta table (it holds a _delta_log): read as {} files it would include \
                 files later versions removed; leave `format` out, or set format = \"delta\"",
                source.format.map_or("", |f| f.as_str())
            )))
        }
        other => Ok(other),
    }
    .and_then(|k| check_options(source, k).map(|()| k))
}

/// Options that apply only to one kind of source, given to another.
fn check_options(source: &InputSource, kind: Option<Kind>) -> Result<()> {
    if source.at.is_some() && kind != Some(Kind::Delta) {
        return Err(shown_error(
            source,
            "`version` and `as_of` apply to Delta tables only",
        ));
    }
    for (given, option) in [
        (source.table.is_some(), "table"),
        (source.query.is_some(), "query"),
    ] {
        if given && kind != Some(Kind::Postgres) {
            return Err(shown_error(
                source,
                format!("`{option}` applies to Postgres inputs only"),
            ));
        }
    }
    if kind == Some(Kind::Postgres) {
        match (&source.table, &source.query) {
            (Some(_), Some(_)) => {
                return Err(shown_error(source, "give `table` or `query`, not both"));
            }
            (None, None) => {
                return Err(shown_error(
                    source,
                    "a Postgres input names its table: table = \"schema.table\" (or \"table\" in the search path), \
                     or gives a query: query = \"select ...\"",
                ));
            }
            (None, Some(q)) if q.trim().is_empty() => {
                return Err(shown_error(source, "`query` is empty"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Register table source `source` as `source.name`.
pub async fn register(
    ctx: &SessionContext,
    source: &InputSource,
    kind: Kind,
    scratch: &Scratch,
    schema_only: bool,
    remote: &Remote,
) -> Result<Loaded> {
    match kind {
        Kind::Delta => delta::register(ctx, source, schema_only, remote).await,
        Kind::Postgres => postgres::register(ctx, source, scratch, schema_only, remote).await,
    }
}

/// What a saved report (`--pin-from`) pinned for `source`, a table of
/// `kind` at `url`; an error when it pinned something else under its name.
#[allow(dead_code)]
fn recorded<'a>(
    remote: &'a Remote,
    source: &InputSource,
    kind: crate::report::PinKind,
    url: &str,
) -> Result<Option<&'a crate::report::PinnedObject>> {
    match remote.table_pins.get(&source.label) {
        Some(p) if p.kind != kind || p.url != url => Err(shown_error(
            source,
            format!(
                "--pin-from: the report pinned this input as {} {:?}, not {url}",
                match p.kind {
                    crate::report::PinKind::Delta => "the Delta table",
                    crate::report::PinKind::Postgres => "the Postgres table",
                    crate::report::PinKind::Object => "the object",
                },
                p.url
            ),
        )),
        found => Ok(found),
    }
}

/// An error of `source` naming it by its URL as reports show it (no
/// password).
fn shown_error(source: &InputSource, message: impl Into<String>) -> Error {
    Error::Input {
        name: source.label.clone(),
        path: PathBuf::from(super::store::shown(&source.path.to_string_lossy())),
        message: message.into(),
    }
}

/// The message for a source whose kind this build cannot read.
#[allow(dead_code)]
fn not_built(source: &InputSource, what: &str, feature: &str) -> Error {
    shown_error(
        source,
        format!(
            "{what}: this diffgate was built without the `{feature}` feature \
             (the release binaries and `pip install diffgate-sql` have it; or build it with \
             `cargo install --locked --path . --features {feature}`)"
        ),
    )
}

#[cfg(feature = "delta")]
mod delta {
    use std::sync::Arc;

    use deltalake_core::DeltaTableBuilder;
    use deltalake_core::logstore::{
        LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
        logstore_factories,
    };
    use url::Url;

    use super::*;
    use crate::error::engine_message;
    use crate::load::{Format, store};
    use crate::report::{PinKind, PinnedObject};

    /// delta-rs's plain log store for the schemes it has no factory for
    /// without its cloud crates: diffgate passes the bucket's store itself
    /// and only reads, so none of their commit coordination is needed.
    struct ReadLog;

    impl LogStoreFactory for ReadLog {
        fn with_options(
            &self,
            prefixed_store: ObjectStoreRef,
            root_store: ObjectStoreRef,
            location: &Url,
            options: &StorageConfig,
        ) -> deltalake_core::DeltaResult<Arc<dyn LogStore>> {
            Ok(default_logstore(
                prefixed_store,
                root_store,
                location,
                options,
            ))
        }
    }

    pub(super) async fn register(
        ctx: &SessionContext,
        source: &InputSource,
        schema_only: bool,
        remote: &Remote,
    ) -> Result<Loaded> {
        let given = source.path.to_string_lossy().into_owned();
        let fail = |m: String| shown_error(source, m);
        let url = if store::is_url(&given) {
            let mut url = Url::parse(&given).map_err(|e| fail(e.to_string()))?;
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            url
        } else {
            let dir = std::fs::canonicalize(&source.path).map_err(|e| fail(e.to_string()))?;
            Url::from_directory_path(&dir)
                .map_err(|()| fail("the folder's path is not absolute".into()))?
        };
        let shown = store::shown(url.as_str().trim_end_matches('/'));
        let mut builder =
            DeltaTableBuilder::from_url(url.clone()).map_err(|e| fail(e.to_string()))?;
        if store::is_url(&given) {
            // Through the run's read-only store for the bucket: its
            // credentials, options and retries.
            let store = remote
                .stores
                .store_for(&url, &source.storage, remote.retry, &remote.pins)
                .map_err(fail)?;
            let scheme =
                Url::parse(&format!("{}://", url.scheme())).map_err(|e| fail(e.to_string()))?;
            logstore_factories()
                .entry(scheme)
                .or_insert_with(|| Arc::new(ReadLog));
            builder = builder.with_storage_backend(store, url.clone());
        }
        let recorded = recorded(remote, source, PinKind::Delta, &shown)?;
        match (recorded, &source.at) {
            (Some(pin), _) => {
                let v = pin
                    .version
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| {
                        fail(format!(
                            "--pin-from: {shown}: the report recorded no table version"
                        ))
                    })?;
                builder = builder.with_version(v);
            }
            (None, Some(At::Version(v))) => {
                builder = builder.with_version(*v);
            }
            (None, Some(At::Timestamp(t))) => {
                builder = builder
                    .with_datestring(t)
                    .map_err(|e| fail(format!("as_of {t:?}: {e}")))?;
            }
            (None, None) => {}
        }
        let table = builder.load().await.map_err(|e| {
            let m = e.to_string();
            match recorded {
                Some(_) => fail(format!(
                    "--pin-from: the version the report recorded can no longer be read: {m}"
                )),
                None => fail(m),
            }
        })?;
        let state = table.snapshot().map_err(|e| fail(e.to_string()))?;
        let version = state.version();
        let size: i64 = state.log_data().iter().map(|f| f.size()).sum();
        let committed = state
            .version_timestamp(version)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        let pinned = PinnedObject {
            url: shown,
            size: u64::try_from(size).unwrap_or(0),
            e_tag: None,
            version: Some(version.to_string()),
            last_modified: committed,
            kind: PinKind::Delta,
        };
        table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| fail(e.to_string()))?;
        let provider = table
            .table_provider()
            .await
            .map_err(|e| fail(e.to_string()))?;
        register_plain(ctx, &source.name, provider).map_err(|e| fail(engine_message(&e)))?;
        super::super::finish(ctx, source, Format::Delta, None, schema_only, vec![pinned]).await
    }

    /// Register `provider` as `name`, its dictionary-encoded columns (the
    /// partition columns delta-rs adds) as their values' type, as the same
    /// column reads from a Parquet file: a table and its Parquet export
    /// then compare as equal.
    fn register_plain(
        ctx: &SessionContext,
        name: &str,
        provider: Arc<dyn datafusion::datasource::TableProvider>,
    ) -> datafusion::error::Result<()> {
        use datafusion::arrow::datatypes::DataType;
        use datafusion::logical_expr::{cast, ident};
        let schema = provider.schema();
        if !schema
            .fields()
            .iter()
            .any(|f| matches!(f.data_type(), DataType::Dictionary(..)))
        {
            ctx.register_table(name, provider)?;
            return Ok(());
        }
        let columns = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Dictionary(_, value) => {
                    let plain = match value.as_ref() {
                        DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8View,
                        DataType::Binary | DataType::LargeBinary => DataType::BinaryView,
                        other => other.clone(),
                    };
                    cast(ident(f.name()), plain).alias(f.name())
                }
                _ => ident(f.name()),
            })
            .collect::<Vec<_>>();
        let view = ctx.read_table(provider)?.select(columns)?.into_view();
        ctx.register_table(name, view)?;
        Ok(())
    }
}

#[cfg(not(feature = "delta"))]
mod delta {
    use super::*;

    pub(super) async fn register(
        _: &SessionContext,
        source: &InputSource,
        _: bool,
        _: &Remote,
    ) -> Result<Loaded> {
        Err(not_built(source, "a Delta table", "delta"))
    }
}

/// A Postgres input's connection, from its URL and the standard `PG*`
/// environment (the password only from `PGPASSWORD`, never the URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    /// `disable`, `prefer`, `require`, `verify-ca` or `verify-full`.
    pub sslmode: String,
}

impl PgTarget {
    /// Read `url` with `env` supplying what it leaves out.
    pub fn parse(
        url: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<PgTarget, String> {
        let u = url::Url::parse(url).map_err(|e| e.to_string())?;
        if u.password().is_some() {
            return Err(
                "the URL holds a password: credentials are never read from the configuration; \
                 set PGPASSWORD in the environment instead"
                    .into(),
            );
        }
        let mut sslmode = env("PGSSLMODE").unwrap_or_else(|| "prefer".into());
        for (k, v) in u.query_pairs() {
            match &*k {
                "sslmode" => sslmode = v.into_owned(),
                other => {
                    return Err(format!(
                        "URL parameter `{other}` is not read (only sslmode)"
                    ));
                }
            }
        }
        if !matches!(
            sslmode.as_str(),
            "disable" | "prefer" | "require" | "verify-ca" | "verify-full"
        ) {
            return Err(format!(
                "sslmode {sslmode:?}: use disable, prefer, require, verify-ca or verify-full"
            ));
        }
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .or_else(|| env("PGHOST"))
            .unwrap_or_else(|| "localhost".into());
        let port = match u.port() {
            Some(p) => p,
            None => match env("PGPORT") {
                Some(p) => p
                    .parse()
                    .map_err(|_| format!("PGPORT {p:?} is not a port"))?,
                None => 5432,
            },
        };
        let user = Some(u.username())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| env("PGUSER"))
            .or_else(|| env("USER"))
            .ok_or("no user: give one in the URL (postgresql://user@host/db) or PGUSER")?;
        let database = Some(u.path().trim_start_matches('/'))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| env("PGDATABASE"))
            .unwrap_or_else(|| user.clone());
        Ok(PgTarget {
            host,
            port,
            user,
            database,
            sslmode,
        })
    }

    /// The URL reports show: no user, no password.
    pub fn shown(&self, table: &str) -> String {
        format!(
            "postgresql://{}:{}/{}/{table}",
            self.host, self.port, self.database
        )
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use datafusion::arrow::row::{RowConverter, SortField};
    use datafusion::common::TableReference;
    use datafusion::physical_plan::SendableRecordBatchStream;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use datafusion_table_providers_postgres::PostgresTableFactory;
    use datafusion_table_providers_postgres::pool::PostgresConnectionPool;
    use futures::StreamExt;
    use secrecy::SecretString;
    use twox_hash::XxHash64;

    use super::*;
    use crate::error::engine_message;
    use crate::load::{Format, store, subset};
    use crate::report::{PinKind, PinnedObject};

    /// What a Postgres input reads.
    #[derive(Clone, Copy)]
    enum Read<'a> {
        Table(&'a str),
        /// The rows of a query, read in one read-only transaction.
        Query(&'a str),
    }

    pub(super) async fn register(
        ctx: &SessionContext,
        source: &InputSource,
        scratch: &Scratch,
        schema_only: bool,
        remote: &Remote,
    ) -> Result<Loaded> {
        let given = source.path.to_string_lossy().into_owned();
        let target = PgTarget::parse(&given, |k| std::env::var(k).ok())
            .map_err(|m| shown_error(source, m))?;
        let read = match (&source.table, &source.query) {
            (_, Some(q)) => Read::Query(q.as_str()),
            (t, None) => Read::Table(t.as_deref().unwrap_or_default()),
        };
        let shown = match read {
            Read::Table(table) => target.shown(table),
            // Named by the hash of its text: another query is another
            // input, which a saved report's pin does not hold to.
            Read::Query(q) => target.shown(&format!(
                "query-{:016x}",
                XxHash64::oneshot(0, q.trim().as_bytes())
            )),
        };
        let fail = |m: String| Error::Input {
            name: source.label.clone(),
            path: PathBuf::from(&shown),
            message: m,
        };
        let mut params: HashMap<String, SecretString> = [
            ("host", target.host.clone()),
            ("port", target.port.to_string()),
            ("user", target.user.clone()),
            ("db", target.database.clone()),
            ("sslmode", target.sslmode.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), SecretString::from(v)))
        .collect();
        if let Ok(p) = std::env::var("PGPASSWORD") {
            params.insert("pass".into(), SecretString::from(p));
        }
        let pool = PostgresConnectionPool::new(params)
            .await
            .map_err(|e| fail(format!("cannot connect: {e}")))?;
        // The rows to copy (as streams), the rows before a `where` sent
        // along, and the provider's registration to drop after the copy.
        let (streams, before, raw) = match read {
            Read::Table(table) => {
                let reference = TableReference::parse_str(table);
                let provider = PostgresTableFactory::new(Arc::new(pool))
                    .table_provider(reference)
                    .await
                    .map_err(|e| fail(format!("table {table:?}: {e}")))?;
                if schema_only {
                    return columns_only(ctx, source, provider, &fail).await;
                }
                let raw = format!("__diffgate_pg__{}", source.name);
                ctx.register_table(raw.as_str(), provider)
                    .map_err(|e| fail(engine_message(&e)))?;
                let (streams, before) = table_rows(ctx, &raw, source).await.map_err(fail)?;
                (streams, before, Some(raw))
            }
            Read::Query(q) => {
                let rows = query_rows(&pool, q, schema_only).await.map_err(fail)?;
                if schema_only {
                    let empty = datafusion::datasource::MemTable::try_new(rows.schema(), vec![])
                        .map_err(|e| fail(engine_message(&e)))?;
                    return columns_only(ctx, source, Arc::new(empty), &fail).await;
                }
                (vec![rows], None, None)
            }
        };
        // One statement reads the rows into scratch: one snapshot, which
        // both versions then read.
        let rows = Arc::new(AtomicU64::new(0));
        let sum = Arc::new(AtomicU64::new(0));
        let streams = streams
            .into_iter()
            .map(|s| {
                let schema = s.schema();
                let (rows, sum) = (Arc::clone(&rows), Arc::clone(&sum));
                // One row converter per stream, not per batch.
                let fields = schema
                    .fields()
                    .iter()
                    .map(|f| SortField::new(f.data_type().clone()))
                    .collect();
                let converter = RowConverter::new(fields);
                let hashed = s.map(move |batch| {
                    let batch = batch?;
                    let converter = converter.as_ref().map_err(|e| {
                        datafusion::error::DataFusionError::Execution(e.to_string())
                    })?;
                    let (n, h) = content_hash(converter, &batch)?;
                    rows.fetch_add(n, Ordering::Relaxed);
                    sum.fetch_add(h, Ordering::Relaxed);
                    Ok(batch)
                });
                Box::pin(RecordBatchStreamAdapter::new(schema, hashed)) as _
            })
            .collect();
        let dir = scratch.place("inputs").join(&source.name);
        let format = crate::transform::PartFormat::of(ctx, &dir);
        crate::transform::write_parts(streams, &dir, format)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if let Some(raw) = raw {
            ctx.deregister_table(raw.as_str())
                .map_err(|e| fail(engine_message(&e)))?;
        }
        crate::transform::register_parts(ctx, &source.name, &dir)
            .await
            .map_err(|e| fail(engine_message(&e)))?;
        let copied = rows.load(Ordering::Relaxed);
        let hash = format!("xxh64-sum:{:016x}", sum.load(Ordering::Relaxed));
        if let Some(pin) = recorded(remote, source, PinKind::Postgres, &shown)?
            && (pin.size != copied || pin.e_tag.as_deref() != Some(hash.as_str()))
        {
            return Err(fail(format!(
                "--pin-from: the {} changed since the report was made ({} rows then, {copied} now, \
                 or other values); Postgres keeps no earlier versions to read",
                match read {
                    Read::Table(_) => "table",
                    Read::Query(_) => "query's result",
                },
                pin.size
            )));
        }
        let pinned = PinnedObject {
            url: shown.clone(),
            size: copied,
            e_tag: Some(hash),
            version: None,
            last_modified: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            kind: PinKind::Postgres,
        };
        // The sample (never sent to Postgres) is applied to the copy, and
        // so is a query's `where` (which is DataFusion's SQL, not
        // Postgres's: put a filter for Postgres into the query itself).
        let rest = InputSource {
            filter: subset::Filter {
                predicates: match read {
                    Read::Table(_) => Vec::new(),
                    Read::Query(_) => source.filter.predicates.clone(),
                },
                sample: source.filter.sample.clone(),
            },
            ..source.clone()
        };
        let mut loaded =
            super::super::finish(ctx, &rest, Format::Postgres, None, false, vec![pinned]).await?;
        if let Some(before) = before {
            let after = loaded.subset.map_or(copied, |c| c.after);
            loaded.subset = Some(subset::Counted { before, after });
        }
        Ok(loaded)
    }

    /// `provider` registered as `source` for its columns alone (nothing is
    /// read or copied).
    async fn columns_only(
        ctx: &SessionContext,
        source: &InputSource,
        provider: Arc<dyn datafusion::catalog::TableProvider>,
        fail: &dyn Fn(String) -> Error,
    ) -> Result<Loaded> {
        ctx.register_table(source.name.as_str(), provider)
            .map_err(|e| fail(engine_message(&e)))?;
        super::super::finish(ctx, source, Format::Postgres, None, true, Vec::new()).await
    }

    /// The rows of the provider's table `raw`, with `source`'s `where`
    /// sent along to Postgres, and the count of rows before it.
    async fn table_rows(
        ctx: &SessionContext,
        raw: &str,
        source: &InputSource,
    ) -> std::result::Result<(Vec<SendableRecordBatchStream>, Option<u64>), String> {
        let mut frame = ctx.table(raw).await.map_err(|e| engine_message(&e))?;
        // Rows before the filter, by one column (the provider fails on a
        // scan of none).
        let before = match frame.schema().fields().first() {
            Some(first) if !source.filter.is_empty() => {
                // `is null` is never NULL, so this counts every row.
                let every = datafusion::functions_aggregate::expr_fn::count(
                    datafusion::logical_expr::ident(first.name()).is_null(),
                );
                let n = frame
                    .clone()
                    .aggregate(vec![], vec![every])
                    .map_err(|e| engine_message(&e))?
                    .collect()
                    .await
                    .map_err(|e| engine_message(&e))?;
                Some(count_of(&n))
            }
            _ => None,
        };
        for p in &source.filter.predicates {
            let e = frame
                .parse_sql_expr(p)
                .map_err(|e| format!("where {p:?}: {}", engine_message(&e)))?;
            frame = frame
                .filter(e)
                .map_err(|e| format!("where {p:?}: {}", engine_message(&e)))?;
        }
        let streams = frame
            .execute_stream_partitioned()
            .await
            .map_err(|e| engine_message(&e))?;
        Ok((streams, before))
    }

    /// Rows per batch of a query's result.
    const QUERY_BATCH: usize = 8192;

    /// The rows of `query` (all of them, or only their columns when
    /// `schema_only`), read on one connection in one read-only transaction:
    /// one snapshot, and a query that would write (`with d as (delete ...)
    /// select ...`) fails instead. Rows become Arrow by the provider's own
    /// conversion, numeric columns at their declared precision and scale as
    /// for a table. A query with no rows still has its columns, from a probe
    /// that left-joins it to one row.
    async fn query_rows(
        pool: &PostgresConnectionPool,
        query: &str,
        schema_only: bool,
    ) -> std::result::Result<SendableRecordBatchStream, String> {
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::error::DataFusionError;
        use datafusion_table_providers_postgres::arrow_sql_gen::rows_to_arrow;

        let query = query.trim().trim_end_matches(';').trim_end();
        let conn = pool
            .connect_direct()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let client = &*conn.conn;
        client
            .batch_execute("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(|e| format!("cannot start a read-only transaction: {}", store::chain(&e)))?;
        let statement = client
            .prepare(query)
            .await
            .map_err(|e| format!("query: {}", store::chain(&e)))?;
        // `numeric(p, s)`: typmod is ((p << 16) | s) + 4; a bare `numeric`
        // (-1) is left to the conversion's own default.
        let numeric: Vec<Field> = statement
            .columns()
            .iter()
            .filter(|c| c.type_().name() == "numeric" && c.type_modifier() >= 4)
            .map(|c| {
                let m = c.type_modifier() - 4;
                let (p, s) = ((m >> 16) & 0xffff, m & 0xffff);
                Field::new(
                    c.name(),
                    DataType::Decimal128(p.clamp(1, 38) as u8, s.min(38) as i8),
                    true,
                )
            })
            .collect();
        let projected = Some(Arc::new(Schema::new(numeric)));
        let convert = {
            let projected = projected.clone();
            move |rows: &[_]| rows_to_arrow(rows, &projected).map_err(|e| format!("query: {e}"))
        };
        let mut chunks = if schema_only {
            None
        } else {
            let rows = client
                .query_raw(&statement, Vec::<i32>::new())
                .await
                .map_err(|e| format!("query: {}", store::chain(&e)))?;
            Some(Box::pin(rows.chunks(QUERY_BATCH)))
        };
        let first = match &mut chunks {
            Some(c) => match c.next().await {
                Some(rows) => {
                    let rows: Vec<_> = rows
                        .into_iter()
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|e| format!("query: {}", store::chain(&e)))?;
                    Some(convert(&rows)?)
                }
                None => None,
            },
            None => None,
        };
        let schema = match &first {
            Some(batch) => batch.schema(),
            None => {
                let probe = format!(
                    "SELECT __diffgate_q.* FROM (SELECT 1) AS __diffgate_one \
                     LEFT JOIN ({query}) AS __diffgate_q ON true LIMIT 1"
                );
                let rows = client
                    .query(probe.as_str(), &[])
                    .await
                    .map_err(|e| format!("query: {}", store::chain(&e)))?;
                convert(&rows)?.schema()
            }
        };
        let rest = futures::stream::iter(chunks).flatten().map(move |rows| {
            // The connection (and its transaction) lives as long as the
            // rows are read.
            let _held = &conn;
            let rows: Vec<_> = rows
                .into_iter()
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| DataFusionError::Execution(format!("query: {}", store::chain(&e))))?;
            convert(&rows).map_err(DataFusionError::Execution)
        });
        let stream = futures::stream::iter(first.map(Ok)).chain(rest);
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    /// The one count a `count(*)` query returned.
    fn count_of(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> u64 {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::Int64Type;
        batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| b.column(0).as_primitive::<Int64Type>().value(0) as u64)
            .sum()
    }

    /// Rows of `batch` and the wrapping sum of their xxHash64s (of the row
    /// format): the same for the same rows in any order or batching.
    fn content_hash(
        converter: &RowConverter,
        batch: &datafusion::arrow::record_batch::RecordBatch,
    ) -> datafusion::error::Result<(u64, u64)> {
        let converted = converter.convert_columns(batch.columns())?;
        let sum = converted.iter().fold(0u64, |s, r| {
            s.wrapping_add(XxHash64::oneshot(0, r.as_ref()))
        });
        Ok((batch.num_rows() as u64, sum))
    }
}

#[cfg(not(feature = "postgres"))]
mod postgres {
    use super::*;

    pub(super) async fn register(
        _: &SessionContext,
        source: &InputSource,
        _: &Scratch,
        _: bool,
        _: &Remote,
    ) -> Result<Loaded> {
        Err(not_built(source, "a Postgres table", "postgres"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_postgres_url_takes_what_it_leaves_out_from_the_pg_environment() {
        let t = PgTarget::parse(
            "postgresql://reader@db.internal:6432/shop?sslmode=require",
            env(&[]),
        )
        .unwrap();
        assert_eq!(
            t,
            PgTarget {
                host: "db.internal".into(),
                port: 6432,
                user: "reader".into(),
                database: "shop".into(),
                sslmode: "require".into(),
            }
        );
        let t = PgTarget::parse(
            "postgres:///",
            env(&[
                ("PGHOST", "127.0.0.1"),
                ("PGPORT", "5433"),
                ("PGUSER", "ci"),
                ("PGDATABASE", "warehouse"),
                ("PGSSLMODE", "disable"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.user.as_str(),
                t.database.as_str()
            ),
            ("127.0.0.1", 5433, "ci", "warehouse")
        );
        assert_eq!(t.sslmode, "disable");
        assert_eq!(
            t.shown("public.orders"),
            "postgresql://127.0.0.1:5433/warehouse/public.orders"
        );
    }

    #[test]
    fn a_postgres_url_never_carries_a_password_or_unknown_parameters() {
        let e = PgTarget::parse("postgresql://u:hunter2@h/db", env(&[])).unwrap_err();
        assert!(e.contains("PGPASSWORD") && !e.contains("hunter2"), "{e}");
        let e = PgTarget::parse("postgresql://u@h/db?password=x", env(&[])).unwrap_err();
        assert!(e.contains("`password` is not read"), "{e}");
        let e = PgTarget::parse("postgresql://u@h/db?sslmode=maybe", env(&[])).unwrap_err();
        assert!(e.contains("sslmode"), "{e}");
    }

    #[test]
    fn only_postgres_schemes_are_postgres() {
        assert!(is_postgres("postgresql://h/db"));
        assert!(is_postgres("POSTGRES://h/db"));
        assert!(!is_postgres("s3://b/k"));
        assert!(!is_postgres("data/postgres.parquet"));
    }
}
