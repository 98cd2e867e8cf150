//! Inputs where they live: object-store URLs (`s3://`, `gs://`, `az://`,
//! `abfss://`, `http(s)://`) read through the `object_store` version
//! DataFusion pins, and pinned so that v1 and v2 read the same bytes.
//!
//! **Stores.** One store per `scheme://bucket`, built the first time the
//! bucket is seen, from that cloud's standard environment and credential
//! chain (`AWS_*`, `GOOGLE_*`, `AZURE_*`, instance metadata) plus the
//! input's non-secret `storage` options (region, endpoint, anonymous,
//! requester-pays, plain HTTP); credentials are never read from the TOML.
//! Every session of the run shares the stores (a process-wide registry,
//! [`crate::engine::stores`]), so the per-version sessions read them too.
//!
//! **Faults.** The stores' own retry loop retries what is transient
//! (timeouts, connection resets, 5xx, throttling) with exponential backoff
//! and jitter, bounded by count and total time ([`Retry`]); what is
//! permanent (401/403, 404, a missing bucket, bad credentials) is not
//! retried and fails the run naming the URL. A read that fails half-way
//! fails the run: nothing partial is ever compared.
//!
//! **Pins.** At load every object of a remote input is listed and asked for
//! its identity (ETag, version id, size, last-modified), which the report
//! records. Every later read goes through [`PinnedStore`]: a store that
//! keeps versions is read at the pinned version; otherwise the read asks for
//! the pinned ETag (`If-Match`) and checks what came back, and an object that
//! changed (or appeared under a pinned prefix) stops the run naming it. The
//! store refuses every write: a transform only reads its inputs.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::object_store::ObjectStoreRegistry;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, ObjectStoreScheme, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, RetryConfig,
};
use serde::Deserialize;
use url::Url;

use crate::report::PinnedObject;

/// Whether `path` is a URL diffgate reads through an object store, rather
/// than a local path.
pub fn is_url(path: &str) -> bool {
    let Some((scheme, rest)) = path.split_once("://") else {
        return false;
    };
    !rest.is_empty()
        && matches!(
            scheme.to_ascii_lowercase().as_str(),
            "s3" | "s3a" | "gs" | "az" | "adl" | "azure" | "abfs" | "abfss" | "http" | "https"
        )
}

/// An input's `storage` options: how to reach its bucket. Nothing secret:
/// credentials come from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreOptions {
    /// The bucket's region (S3).
    pub region: Option<String>,
    /// Another endpoint than the cloud's (an S3-compatible server, a
    /// private link, an Azure emulator).
    pub endpoint: Option<String>,
    /// Read a public bucket without credentials (no request signing).
    pub anonymous: Option<bool>,
    /// The reader pays for the requests (S3 requester-pays buckets).
    pub requester_pays: Option<bool>,
    /// Allow plain `http://` endpoints (local servers).
    pub allow_http: Option<bool>,
}

impl StoreOptions {
    /// The names of the options given.
    fn given(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("region", self.region.is_some()),
            ("endpoint", self.endpoint.is_some()),
            ("anonymous", self.anonymous.is_some()),
            ("requester_pays", self.requester_pays.is_some()),
            ("allow_http", self.allow_http.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
    }
}

/// How often and for how long a transient failure is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Retries of one request (0: none).
    pub max_retries: usize,
    /// Longest time one request keeps being retried.
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_retries: 10,
            timeout: Duration::from_secs(180),
        }
    }
}

/// `scheme://authority` of `url`: the key a store is registered under.
fn bucket_of(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

/// `url` as reports and messages show it: no user, password or query
/// (which may hold a token).
pub fn shown(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            if u.query().is_some() {
                u.set_query(None);
            }
            let mut s = u.to_string();
            // The URL type writes `http://host/` for `http://host`.
            if !url.ends_with('/') && s.ends_with('/') {
                s.pop();
            }
            s
        }
        Err(_) => url.to_string(),
    }
}

/// The parts of `url` that may be secret (a password; a query string and
/// its values, which may hold a signature or token): what GitHub mode
/// masks in the log before anything else is printed.
pub fn secret_parts(url: &str) -> Vec<String> {
    let Ok(u) = Url::parse(url) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    out.extend(u.password().map(str::to_string));
    if let Some(q) = u.query() {
        out.push(q.to_string());
        out.extend(u.query_pairs().map(|(_, v)| v.into_owned()));
    }
    // Masking very short strings would blank out ordinary words.
    out.retain(|s| s.len() >= 4);
    out
}

/// The stores of one run, by bucket, each with the options it was built
/// with (two inputs of one bucket must agree on them).
#[derive(Default)]
pub struct Stores {
    built: Mutex<BTreeMap<String, (StoreOptions, Arc<PinnedStore>)>>,
}

impl Stores {
    /// The pinned store for `url`, built and registered in the shared
    /// registry the first time its bucket is seen.
    pub fn store_for(
        &self,
        url: &Url,
        options: &StoreOptions,
        retry: Retry,
        recorded: &[PinnedObject],
    ) -> Result<Arc<PinnedStore>, String> {
        let bucket = bucket_of(url);
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((had, store)) = built.get(&bucket) {
            if had != options {
                return Err(format!(
                    "{bucket}: two inputs in this bucket give different storage options"
                ));
            }
            return Ok(store.clone());
        }
        let inner = build(url, options, retry)?;
        let store = Arc::new(PinnedStore::new(shown(&bucket), inner));
        store.recorded(recorded)?;
        crate::engine::stores().register_store(url, store.clone());
        built.insert(bucket, (options.clone(), store.clone()));
        Ok(store)
    }
}

/// A store for `url`'s bucket from the environment alone (a worker of
/// the distributed engine, which is sent no storage options).
pub fn from_env(url: &Url) -> Result<Arc<dyn ObjectStore>, String> {
    build(url, &StoreOptions::default(), Retry::default())
}

/// A store for `url`'s bucket from the environment, `options` and `retry`.
fn build(url: &Url, options: &StoreOptions, retry: Retry) -> Result<Arc<dyn ObjectStore>, String> {
    let (scheme, _) = ObjectStoreScheme::parse(url).map_err(|e| e.to_string())?;
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: retry.max_retries,
        retry_timeout: retry.timeout,
    };
    // Plain HTTP when asked for (or set in the environment, which the
    // cloud builders read themselves).
    let allow_http = options.allow_http == Some(true);
    // The options given must be ones this kind of store has.
    let applies = |known: &[&str]| match options.given().find(|o| !known.contains(o)) {
        Some(o) => Err(format!(
            "storage option `{o}` does not apply to {} URLs",
            url.scheme()
        )),
        None => Ok(()),
    };
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => {
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_url(url.as_str())
                .with_retry(retry);
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            if let Some(p) = super::aws_profile::resolve(&env)? {
                if let (Some(key), Some(secret)) = (&p.access_key_id, &p.secret_access_key) {
                    b = b.with_access_key_id(key).with_secret_access_key(secret);
                }
                if let Some(token) = &p.session_token {
                    b = b.with_token(token);
                }
                if env("AWS_REGION")
                    .or_else(|| env("AWS_DEFAULT_REGION"))
                    .is_none()
                    && let Some(r) = &p.region
                {
                    b = b.with_region(r);
                }
                if env("AWS_ENDPOINT_URL").is_none()
                    && let Some(e) = &p.endpoint_url
                {
                    b = b.with_endpoint(e);
                    if e.starts_with("http://") {
                        b = b.with_allow_http(true);
                    }
                }
            }
            if allow_http {
                b = b.with_allow_http(true);
            }
            if let Some(r) = &options.region {
                b = b.with_region(r);
            }
            if let Some(e) = &options.endpoint {
                b = b.with_endpoint(e);
            }
            if options.anonymous == Some(true) {
                b = b.with_skip_signature(true);
            }
            if options.requester_pays == Some(true) {
                b = b.with_request_payer(true);
            }
            Arc::new(b.build().map_err(|e| e.to_string())?)
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            applies(&["endpoint", "anonymous", "allow_http"])?;
            let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url.as_str())
                .with_retry(retry);
            if allow_http {
                // As a key, not new client options, which would drop those
                // the environment gave (GOOGLE_*).
                b = b.with_config(
                    object_store::gcp::GoogleConfigKey::Client(
                        object_store::ClientConfigKey::AllowHttp,
                    ),
                    "true",
                );
            }
            if let Some(e) = &options.endpoint {
                b = b.with_base_url(e);
            }
            if options.anonymous == Some(true) {
                b = b.with_skip_signature(true);
            }
            Arc::new(b.build().map_err(|e| e.to_string())?)
        }
        ObjectStoreScheme::MicrosoftAzure => {
            applies(&["endpoint", "anonymous", "allow_http"])?;
            let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .with_retry(retry);
            if allow_http {
                b = b.with_allow_http(true);
            }
            if let Some(e) = &options.endpoint {
                b = b.with_endpoint(e.clone());
            }
            if options.anonymous == Some(true) {
                b = b.with_skip_signature(true);
            }
            Arc::new(b.build().map_err(|e| e.to_string())?)
        }
        ObjectStoreScheme::Http => {
            applies(&["allow_http"])?;
            let base = &url[..url::Position::BeforePath];
            let client = ClientOptions::new().with_allow_http(url.scheme() == "http" || allow_http);
            Arc::new(
                object_store::http::HttpBuilder::new()
                    .with_url(base)
                    .with_retry(retry)
                    .with_client_options(client)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("{other:?} URLs are not read by diffgate")),
    };
    Ok(store)
}

/// What went wrong with a store, in words a user acts on.
pub fn describe(e: &object_store::Error) -> String {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } => "no such object (not found)".into(),
        E::PermissionDenied { source, .. } => format!(
            "access denied: the credentials from the environment may not read it ({source})"
        ),
        E::Unauthenticated { source, .. } => format!(
            "not authenticated: give credentials in the environment (AWS_*, GOOGLE_*, AZURE_*), or `anonymous = true` for a public bucket ({source})"
        ),
        E::Generic { source, .. } => chain(source.as_ref()),
        other => chain(other),
    }
}

/// An error with its causes, as one line.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

/// An object's identity when it was pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pin {
    e_tag: Option<String>,
    version: Option<String>,
    size: u64,
    last_modified: chrono::DateTime<chrono::Utc>,
}

impl Pin {
    fn of(meta: &ObjectMeta) -> Pin {
        Pin {
            e_tag: meta.e_tag.clone(),
            version: meta.version.clone(),
            size: meta.size,
            last_modified: meta.last_modified,
        }
    }

    /// How `meta` differs from this pin, if it does.
    fn differs(&self, meta: &ObjectMeta) -> Option<String> {
        if let (Some(a), Some(b)) = (&self.e_tag, &meta.e_tag)
            && bare_etag(a) != bare_etag(b)
        {
            return Some(format!("ETag {a} became {b}"));
        }
        if meta.size != self.size {
            return Some(format!("{} bytes became {}", self.size, meta.size));
        }
        if self.e_tag.is_none() && meta.last_modified != self.last_modified {
            return Some(format!(
                "last modified {} became {}",
                self.last_modified.to_rfc3339(),
                meta.last_modified.to_rfc3339()
            ));
        }
        None
    }
}

/// An ETag without its quotes (and weak mark): one object's ETag is quoted
/// in a response header but bare in some listings (Azure's List Blobs), so
/// the two must compare equal.
fn bare_etag(tag: &str) -> &str {
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag)
}

/// What is pinned in one store: objects, and the prefixes (listed inputs)
/// under which no object may appear; and what a saved report pinned
/// (`--pin-from`), which pinning then holds to.
#[derive(Debug, Default)]
struct Pins {
    objects: BTreeMap<ObjectPath, Pin>,
    prefixes: Vec<ObjectPath>,
    recorded: BTreeMap<ObjectPath, Pin>,
}

/// A read-only store whose objects, once pinned, are read as they were.
pub struct PinnedStore {
    /// `scheme://bucket`, for messages.
    bucket: String,
    inner: Arc<dyn ObjectStore>,
    pins: Arc<Mutex<Pins>>,
}

impl fmt::Debug for PinnedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedStore({})", self.bucket)
    }
}

impl fmt::Display for PinnedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedStore({})", self.bucket)
    }
}

fn changed(bucket: &str, path: &ObjectPath, how: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "diffgate",
        source: format!(
            "{bucket}/{path} changed while diffgate was reading it ({how}): v1 and v2 would not read the same data; \
             enable versioning on the bucket (diffgate then reads the pinned version) or run again once it stops changing"
        )
        .into(),
    }
}

fn read_only(what: &str) -> object_store::Error {
    object_store::Error::NotSupported {
        source: format!("inputs are read-only: {what} refused").into(),
    }
}

impl PinnedStore {
    fn new(bucket: String, inner: Arc<dyn ObjectStore>) -> PinnedStore {
        PinnedStore {
            bucket,
            inner,
            pins: Arc::default(),
        }
    }

    /// Hold pinning to the objects of this bucket a saved report pinned.
    fn recorded(&self, objects: &[PinnedObject]) -> Result<(), String> {
        let mut pins = self.lock();
        for o in objects.iter().filter(|o| o.kind.is_object()) {
            let Some(key) = o.url.strip_prefix(&format!("{}/", self.bucket)) else {
                continue;
            };
            let last_modified = chrono::DateTime::parse_from_rfc3339(&o.last_modified)
                .map_err(|e| format!("--pin-from: {}: last_modified: {e}", o.url))?
                .with_timezone(&chrono::Utc);
            let pin = Pin {
                e_tag: o.e_tag.clone(),
                version: o.version.clone(),
                size: o.size,
                last_modified,
            };
            pins.recorded.insert(ObjectPath::from(key), pin);
        }
        Ok(())
    }

    /// The object at `path` as a saved report pinned it: that version, or
    /// the object now if it is unchanged; else an error naming it.
    async fn as_recorded(
        &self,
        path: &ObjectPath,
        listed: Option<&ObjectMeta>,
    ) -> object_store::Result<Option<ObjectMeta>> {
        let Some(pin) = self.lock().recorded.get(path).cloned() else {
            return Ok(None);
        };
        let url = format!("{}/{path}", self.bucket);
        let gone = |how: &str| object_store::Error::Generic {
            store: "diffgate",
            source: format!("--pin-from: {url} {how}").into(),
        };
        if let Some(v) = &pin.version {
            let options = GetOptions {
                head: true,
                version: Some(v.clone()),
                ..GetOptions::default()
            };
            return match self.inner.get_opts(path, options).await {
                Ok(r) => Ok(Some(ObjectMeta {
                    version: Some(v.clone()),
                    ..r.meta
                })),
                Err(object_store::Error::NotFound { .. }) => {
                    Err(gone(&format!("version {v} no longer exists")))
                }
                Err(e) => Err(e),
            };
        }
        let now = match listed {
            Some(m) => m.clone(),
            None => match head(self.inner.as_ref(), path).await {
                Ok(m) => m,
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(gone("no longer exists (the bucket keeps no versions)"));
                }
                Err(e) => return Err(e),
            },
        };
        match pin.differs(&now) {
            Some(how) => Err(gone(&format!(
                "changed since the report was made ({how}), and the bucket keeps no versions"
            ))),
            None => Ok(Some(now)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pins> {
        self.pins.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pin every object `url` names (one object, a prefix, or a glob that
    /// `matches` filters), each asked for its identity: their metadata,
    /// sorted by path. No object is an error.
    pub async fn pin(
        &self,
        prefix: &ObjectPath,
        listed: bool,
        matches: impl Fn(&ObjectPath) -> bool,
    ) -> object_store::Result<Vec<ObjectMeta>> {
        let mut found: Vec<ObjectMeta> = Vec::new();
        if listed {
            let mut stream = self.inner.list(Some(prefix));
            while let Some(meta) = stream.next().await {
                let meta = meta?;
                if matches(&meta.location) {
                    found.push(meta);
                }
            }
        } else if let Some(meta) = self.as_recorded(prefix, None).await? {
            found.push(meta);
        } else {
            found.push(head(self.inner.as_ref(), prefix).await?);
        }
        found.sort_by(|a, b| a.location.cmp(&b.location));
        // Listing gives no version id: ask each object (a versioned bucket
        // answers with the version, which is then what is read).
        if listed {
            for meta in &mut found {
                *meta = head(self.inner.as_ref(), &meta.location).await?;
            }
        }
        // Held to a saved report: each object as it recorded it, and no
        // other under a prefix it recorded.
        let recorded: Vec<ObjectPath> = {
            let pins = self.lock();
            pins.recorded
                .keys()
                .filter(|p| listed && p.prefix_matches(prefix) && matches(p))
                .cloned()
                .collect()
        };
        if !recorded.is_empty() {
            let mut held = Vec::new();
            for path in &recorded {
                let listed_now = found.iter().find(|m| &m.location == path);
                if let Some(meta) = self.as_recorded(path, listed_now).await? {
                    held.push(meta);
                }
            }
            if let Some(extra) = found.iter().find(|m| !recorded.contains(&m.location)) {
                return Err(object_store::Error::Generic {
                    store: "diffgate",
                    source: format!(
                        "--pin-from: {}/{} appeared since the report was made",
                        self.bucket, extra.location
                    )
                    .into(),
                });
            }
            found = held;
        }
        let mut pins = self.lock();
        if listed {
            pins.prefixes.push(prefix.clone());
        }
        for meta in &found {
            pins.objects
                .entry(meta.location.clone())
                .or_insert_with(|| Pin::of(meta));
        }
        Ok(found)
    }

    fn pin_of(&self, path: &ObjectPath) -> Option<Pin> {
        self.lock().objects.get(path).cloned()
    }

    /// The report's record of `meta` (pinned) as an object of this store.
    pub fn record(&self, meta: &ObjectMeta) -> PinnedObject {
        PinnedObject {
            url: format!("{}/{}", self.bucket, meta.location),
            size: meta.size,
            e_tag: meta.e_tag.clone(),
            version: meta.version.clone(),
            last_modified: meta.last_modified.to_rfc3339(),
            kind: crate::report::PinKind::Object,
        }
    }
}

/// The metadata of one object.
async fn head(store: &dyn ObjectStore, path: &ObjectPath) -> object_store::Result<ObjectMeta> {
    let options = GetOptions {
        head: true,
        ..GetOptions::default()
    };
    Ok(store.get_opts(path, options).await?.meta)
}

#[async_trait]
impl ObjectStore for PinnedStore {
    async fn put_opts(
        &self,
        _: &ObjectPath,
        _: PutPayload,
        _: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(read_only("put"))
    }

    async fn put_multipart_opts(
        &self,
        _: &ObjectPath,
        _: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(read_only("put"))
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        mut options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let pin = self.pin_of(location);
        if let Some(p) = &pin {
            match &p.version {
                Some(v) => options.version = Some(v.clone()),
                None if options.if_match.is_none() => options.if_match = p.e_tag.clone(),
                None => {}
            }
        }
        let result = self
            .inner
            .get_opts(location, options)
            .await
            .map_err(|e| match (e, &pin) {
                (object_store::Error::Precondition { .. }, Some(_)) => {
                    changed(&self.bucket, location, "its ETag no longer matches")
                }
                // A pinned version (a GCS generation, which every object
                // has) that is gone: the object was replaced in a bucket
                // that keeps no versions.
                (
                    object_store::Error::NotFound { .. },
                    Some(Pin {
                        version: Some(v), ..
                    }),
                ) => changed(
                    &self.bucket,
                    location,
                    &format!("its pinned version {v} no longer exists"),
                ),
                (other, _) => other,
            })?;
        // Checked at a pinned version too: a version's ETag and size never
        // change, so a server that ignored the version is caught here.
        if let Some(p) = &pin
            && let Some(how) = p.differs(&result.meta)
        {
            return Err(changed(&self.bucket, location, &how));
        }
        Ok(result)
    }

    async fn get_ranges(
        &self,
        location: &ObjectPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        // Through get_opts, so every range is read as pinned.
        object_store::coalesce_ranges(
            ranges,
            |range| async move {
                let options = GetOptions {
                    range: Some(range.into()),
                    ..GetOptions::default()
                };
                self.get_opts(location, options).await?.bytes().await
            },
            object_store::OBJECT_STORE_COALESCE_DEFAULT,
        )
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        locations.map(|_| Err(read_only("delete"))).boxed()
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let pins = self.pins.clone();
        let bucket = self.bucket.clone();
        self.inner
            .list(prefix)
            .map(move |meta| {
                let meta = meta?;
                let pins = pins.lock().unwrap_or_else(|e| e.into_inner());
                match pins.objects.get(&meta.location) {
                    Some(pin) => match pin.differs(&meta) {
                        Some(how) if pin.version.is_none() => {
                            Err(changed(&bucket, &meta.location, &how))
                        }
                        // A versioned object is read at its pin: give the
                        // pinned identity.
                        Some(_) => Ok(ObjectMeta {
                            size: pin.size,
                            e_tag: pin.e_tag.clone(),
                            version: pin.version.clone(),
                            last_modified: pin.last_modified,
                            location: meta.location,
                        }),
                        None => Ok(meta),
                    },
                    None if pins
                        .prefixes
                        .iter()
                        .any(|p| meta.location.prefix_matches(p)) =>
                    {
                        Err(changed(
                            &bucket,
                            &meta.location,
                            "it appeared after the input was pinned",
                        ))
                    }
                    None => Ok(meta),
                }
            })
            .boxed()
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        _: &ObjectPath,
        _: &ObjectPath,
        _: CopyOptions,
    ) -> object_store::Result<()> {
        Err(read_only("copy"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    #[test]
    fn urls_and_paths_are_told_apart() {
        for u in [
            "s3://b/k.parquet",
            "gs://b/dir/",
            "abfss://c@a.dfs.core.windows.net/x",
            "https://h/f.csv",
        ] {
            assert!(is_url(u), "{u}");
        }
        for p in [
            "data/orders.csv",
            "/tmp/x.parquet",
            "C:\\data\\x.csv",
            "file.csv",
            "ftp://h/x",
            "s3://",
        ] {
            assert!(!is_url(p), "{p}");
        }
        assert_eq!(
            shown("https://user:pw@h/f.csv?sig=secret"),
            "https://h/f.csv"
        );
    }

    #[test]
    fn storage_options_a_store_does_not_have_are_errors() {
        let region = StoreOptions {
            region: Some("eu-west-1".into()),
            ..StoreOptions::default()
        };
        let gs = Url::parse("gs://b/x.parquet").unwrap();
        let e = build(&gs, &region, Retry::default()).unwrap_err();
        assert_eq!(e, "storage option `region` does not apply to gs URLs");
        let web = Url::parse("https://h/x.csv").unwrap();
        let anonymous = StoreOptions {
            anonymous: Some(true),
            ..StoreOptions::default()
        };
        assert!(
            build(&web, &anonymous, Retry::default())
                .unwrap_err()
                .contains("`anonymous`")
        );
    }

    #[tokio::test]
    async fn a_pinned_object_that_changes_or_appears_is_an_error_naming_it() {
        let mem = Arc::new(InMemory::new());
        let path = ObjectPath::from("in/a.csv");
        mem.put(&path, PutPayload::from("x\n1\n")).await.unwrap();
        let store = PinnedStore::new("s3://b".into(), mem.clone());
        let pinned = store
            .pin(&ObjectPath::from("in"), true, |_| true)
            .await
            .unwrap();
        assert_eq!(pinned.len(), 1);
        let got = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"x\n1\n");
        // Changed behind the pin.
        mem.put(&path, PutPayload::from("x\n2\n")).await.unwrap();
        let e = store.get(&path).await.unwrap_err().to_string();
        assert!(e.contains("s3://b/in/a.csv changed"), "{e}");
        let listed: Vec<_> = store.list(Some(&ObjectPath::from("in"))).collect().await;
        assert!(listed[0].is_err());
        // Appeared under a pinned prefix.
        mem.put(&ObjectPath::from("in/b.csv"), PutPayload::from("x\n"))
            .await
            .unwrap();
        let listed: Vec<_> = store.list(Some(&ObjectPath::from("in"))).collect().await;
        assert!(listed.iter().any(|r| {
            r.as_ref()
                .is_err_and(|e| e.to_string().contains("appeared"))
        }));
        // Writes are refused.
        assert!(store.put(&path, PutPayload::from("y")).await.is_err());
    }

    /// InMemory with GCS's generations: every object has a version (its
    /// ETag here); a read at a version that is gone is NotFound, unless
    /// `ignores_version`, a server that serves the object as it is now.
    #[derive(Debug)]
    struct Generations {
        mem: InMemory,
        ignores_version: bool,
    }

    impl fmt::Display for Generations {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "Generations")
        }
    }

    #[async_trait]
    impl ObjectStore for Generations {
        async fn put_opts(
            &self,
            p: &ObjectPath,
            b: PutPayload,
            o: PutOptions,
        ) -> object_store::Result<PutResult> {
            self.mem.put_opts(p, b, o).await
        }

        async fn put_multipart_opts(
            &self,
            p: &ObjectPath,
            o: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            self.mem.put_multipart_opts(p, o).await
        }

        async fn get_opts(
            &self,
            p: &ObjectPath,
            mut o: GetOptions,
        ) -> object_store::Result<GetResult> {
            let asked = o.version.take();
            let mut r = self.mem.get_opts(p, o).await?;
            if let Some(v) = asked
                && r.meta.e_tag.as_deref() != Some(v.as_str())
                && !self.ignores_version
            {
                return Err(object_store::Error::NotFound {
                    path: p.to_string(),
                    source: "no such generation".into(),
                });
            }
            r.meta.version = r.meta.e_tag.clone();
            Ok(r)
        }

        fn delete_stream(
            &self,
            l: BoxStream<'static, object_store::Result<ObjectPath>>,
        ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
            self.mem.delete_stream(l)
        }

        fn list(
            &self,
            p: Option<&ObjectPath>,
        ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.mem.list(p)
        }

        async fn list_with_delimiter(
            &self,
            p: Option<&ObjectPath>,
        ) -> object_store::Result<ListResult> {
            self.mem.list_with_delimiter(p).await
        }

        async fn copy_opts(
            &self,
            a: &ObjectPath,
            b: &ObjectPath,
            o: CopyOptions,
        ) -> object_store::Result<()> {
            self.mem.copy_opts(a, b, o).await
        }
    }

    #[test]
    fn an_etag_quoted_or_bare_is_the_same_etag() {
        let pin = |tag: &str| Pin {
            e_tag: Some(tag.into()),
            version: None,
            size: 3,
            last_modified: chrono::DateTime::UNIX_EPOCH,
        };
        let meta = |tag: &str| ObjectMeta {
            location: ObjectPath::from("a"),
            last_modified: chrono::DateTime::UNIX_EPOCH,
            size: 3,
            e_tag: Some(tag.into()),
            version: None,
        };
        // Azure: quoted in a HEAD's header, bare in List Blobs.
        assert_eq!(pin("\"0x8DD1\"").differs(&meta("0x8DD1")), None);
        assert_eq!(pin("W/\"x\"").differs(&meta("\"x\"")), None);
        assert!(pin("\"0x8DD1\"").differs(&meta("0x8DD2")).is_some());
    }

    #[tokio::test]
    async fn a_pinned_generation_that_is_gone_or_ignored_stops_the_read() {
        for ignores_version in [false, true] {
            let gens = Arc::new(Generations {
                mem: InMemory::new(),
                ignores_version,
            });
            let path = ObjectPath::from("t.csv");
            gens.put(&path, PutPayload::from("x\n1\n")).await.unwrap();
            let store = PinnedStore::new("gs://b".into(), gens.clone());
            let pinned = store.pin(&path, false, |_| true).await.unwrap();
            assert!(pinned[0].version.is_some());
            let got = store.get(&path).await.unwrap().bytes().await.unwrap();
            assert_eq!(&got[..], b"x\n1\n");
            // Replaced, in a bucket that keeps no earlier generation (or
            // by a server that ignores the generation asked for).
            gens.put(&path, PutPayload::from("x\n2\n")).await.unwrap();
            let e = store.get(&path).await.unwrap_err().to_string();
            assert!(e.contains("gs://b/t.csv changed"), "{ignores_version}: {e}");
            let why = if ignores_version {
                "ETag"
            } else {
                "no longer exists"
            };
            assert!(e.contains(why), "{ignores_version}: {e}");
        }
    }
}
