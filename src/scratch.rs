//! Where a run keeps what it writes, and for whom.
//!
//! Two kinds of thing are written. Copies only this process reads
//! (decompressed text, the census's local copy, rewritten JSON arrays,
//! dead letters until the run succeeds) always go to a local temporary
//! folder, [`Scratch::local`]. The tables a run materialises (each
//! version's output, each model's, the inputs reordered for `--runs`,
//! Postgres copies) are read again by the engine, so with the distributed
//! engine by its workers too: they go to a [`Place`] that
//! [`Scratch::place`] gives, in the local folder or, with `--scratch URL`,
//! under an object-store prefix that every worker reads.
//!
//! `--scratch DIR` puts the temporary folder inside `DIR` (a disk with
//! room, or a folder every worker mounts at the same path). `--scratch
//! s3://bucket/prefix` (or `gs://`, `az://`…) keeps the local folder in
//! the system's temporary directory and writes the tables as Parquet
//! under `prefix/diffgate-XXXX/`, named like the local folder, removed
//! when the run ends ([`Scratch::clean`]), whether it succeeded or not.
//! Stores are built from the environment, as the workers build theirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use url::Url;

use crate::error::{Error, Result};
use crate::load::store;

/// `--scratch`: where the run's temporary folder is made, or the
/// object-store prefix its materialised tables go under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScratchAt {
    Dir(PathBuf),
    Url(Url),
}

impl ScratchAt {
    /// `text` (`--scratch` or `[engine] scratch`) as a folder that exists
    /// or an object-store URL (not `http(s)://`, which is read-only here).
    pub fn parse(text: &str, what: &str) -> Result<ScratchAt> {
        if store::is_url(text) {
            let url = Url::parse(text)
                .map_err(|e| Error::Usage(format!("{what} {}: {e}", store::shown(text))))?;
            if matches!(url.scheme(), "http" | "https") {
                return Err(Error::Usage(format!(
                    "{what} {}: an http(s) URL is read-only here; give a folder or an \
                     s3://, gs:// or az:// prefix",
                    store::shown(text)
                )));
            }
            let mut url = url;
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            return Ok(ScratchAt::Url(url));
        }
        if text.contains("://") {
            return Err(Error::Usage(format!(
                "{what} {}: not a folder, and not an object-store URL diffgate writes \
                 (s3://, gs://, az://, abfss://)",
                store::shown(text)
            )));
        }
        let dir = PathBuf::from(text);
        if !dir.is_dir() {
            return Err(Error::Usage(format!(
                "{what} {text}: not an existing directory"
            )));
        }
        Ok(ScratchAt::Dir(dir))
    }
}

/// One run's scratch space: its local folder (removed when dropped) and,
/// with `--scratch URL`, its own prefix in an object store.
pub struct Scratch {
    local: tempfile::TempDir,
    shared: Option<Shared>,
}

/// The run's own object-store prefix.
#[derive(Clone)]
struct Shared {
    store: Arc<dyn ObjectStore>,
    /// `scheme://bucket/prefix/diffgate-XXXX/`.
    url: Url,
}

impl Scratch {
    /// A new scratch space at `at` (the system's temporary directory when
    /// `None`). `shared` = false keeps everything local whatever `at` says
    /// (`check`, which materialises nothing).
    pub fn new(at: Option<&ScratchAt>, shared: bool) -> Result<Scratch> {
        let builder = {
            let mut b = tempfile::Builder::new();
            b.prefix("diffgate-");
            b
        };
        let (local, parent) = match at {
            Some(ScratchAt::Dir(dir)) => (builder.tempdir_in(dir), dir.clone()),
            _ => (builder.tempdir(), std::env::temp_dir()),
        };
        let local = local.map_err(|source| Error::Io {
            path: parent,
            source,
        })?;
        let shared = match at {
            Some(ScratchAt::Url(base)) if shared => {
                let name = local
                    .path()
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "diffgate-run".into());
                let url = base
                    .join(&format!("{name}/"))
                    .map_err(|e| scratch_error(base, e.to_string()))?;
                let store = store::from_env(&url).map_err(|m| scratch_error(&url, m))?;
                // The session reads the tables back through the registry:
                // the bucket's store, unless an input's (read-only,
                // pinned: it reads objects it did not pin as they are) is
                // already there.
                let stores = crate::engine::stores();
                use datafusion::execution::object_store::ObjectStoreRegistry;
                if stores.get_store(&url).is_err() {
                    stores.register_store(&url, Arc::clone(&store));
                }
                Some(Shared { store, url })
            }
            _ => None,
        };
        Ok(Scratch { local, shared })
    }

    /// The local folder, for what only this process reads.
    pub fn local(&self) -> &Path {
        self.local.path()
    }

    /// Where a materialised table called `name` (a relative path, such as
    /// `v1` or `models/v2/orders`) is written.
    pub fn place(&self, name: &str) -> Place {
        match &self.shared {
            None => Place::Dir(self.local.path().join(name)),
            Some(s) => Place::Object {
                store: Arc::clone(&s.store),
                url: s.url.clone(),
            }
            .join(name),
        }
    }

    /// Refuse an object-store prefix inside an input's (`inputs`: label
    /// and path): the input's pinned listing would see the run's own
    /// files appear, and a glob could read them.
    pub fn outside<'a>(&self, inputs: impl Iterator<Item = (&'a str, &'a PathBuf)>) -> Result<()> {
        let Some(s) = &self.shared else {
            return Ok(());
        };
        let ours = store::shown(s.url.as_str());
        for (label, path) in inputs {
            let path = path.to_string_lossy();
            if !store::is_url(&path) {
                continue;
            }
            // The part of the input's URL before any glob, as a folder.
            let shown = store::shown(&path);
            let listed = shown
                .split(['*', '?', '['])
                .next()
                .unwrap_or_default()
                .trim_end_matches('/');
            if ours.starts_with(&format!("{listed}/")) {
                return Err(Error::Usage(format!(
                    "--scratch {}: lies inside input `{label}` ({shown}); give a prefix \
                     outside every input",
                    ours.rsplit_once("diffgate-")
                        .map_or(ours.as_str(), |(base, _)| base)
                )));
            }
        }
        Ok(())
    }

    /// Delete what the run wrote under its object-store prefix; the local
    /// folder goes when `self` drops. A failure is a warning on standard
    /// error naming the prefix: the report stands.
    pub async fn clean(self) {
        let Some(s) = &self.shared else {
            return;
        };
        let prefix = object_path(&s.url);
        let listed = s.store.list(Some(&prefix)).map_ok(|m| m.location).boxed();
        let deleted: Vec<_> = s.store.delete_stream(listed).collect().await;
        if let Some(Err(e)) = deleted.into_iter().find(|r| r.is_err()) {
            eprintln!(
                "diffgate: warning: could not remove the scratch objects under {}: {}",
                store::shown(s.url.as_str()),
                store::describe(&e)
            );
        }
    }
}

/// Where one materialised table's files are: a local folder, or an
/// object-store prefix (`url` ends with `/`).
#[derive(Clone)]
pub enum Place {
    Dir(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        url: Url,
    },
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl Place {
    /// The place `name` (a relative path) inside this one.
    pub fn join(&self, name: &str) -> Place {
        match self {
            Place::Dir(dir) => Place::Dir(dir.join(name)),
            Place::Object { store, url } => {
                let mut url = url.clone();
                if let Ok(mut segments) = url.path_segments_mut() {
                    segments.pop_if_empty();
                    segments.extend(name.split('/').filter(|s| !s.is_empty()));
                    segments.push("");
                }
                Place::Object {
                    store: Arc::clone(store),
                    url,
                }
            }
        }
    }

    /// The place as messages name it (no credentials).
    pub fn shown(&self) -> String {
        match self {
            Place::Dir(dir) => dir.display().to_string(),
            Place::Object { url, .. } => store::shown(url.as_str()),
        }
    }
}

/// The object path of the prefix `url` names.
pub(crate) fn object_path(url: &Url) -> ObjectPath {
    ObjectPath::from_url_path(url.path()).unwrap_or_default()
}

/// An error about the scratch prefix at `url`.
pub(crate) fn scratch_error(url: &Url, message: String) -> Error {
    Error::Scratch {
        url: store::shown(url.as_str()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_urls_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().to_string_lossy().into_owned();
        assert_eq!(
            ScratchAt::parse(&text, "--scratch").unwrap(),
            ScratchAt::Dir(dir.path().to_path_buf())
        );
        let ScratchAt::Url(u) = ScratchAt::parse("s3://b/tmp", "--scratch").unwrap() else {
            panic!("a URL");
        };
        assert_eq!(u.as_str(), "s3://b/tmp/");
        for bad in ["https://h/x", "ftp://h/x", "/no/such/dir/for/diffgate"] {
            let e = ScratchAt::parse(bad, "--scratch").unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{e}");
        }
        // Credentials in a URL are never shown.
        let e = ScratchAt::parse("https://user:secret@h/x", "--scratch").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn places_join_as_paths_do() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let url = Url::parse("s3://b/p/diffgate-1/").unwrap();
        let place = Place::Object { store, url }
            .join("models/v2")
            .join("orders");
        let Place::Object { url, .. } = &place else {
            panic!("an object place");
        };
        assert_eq!(url.as_str(), "s3://b/p/diffgate-1/models/v2/orders/");
        assert_eq!(object_path(url).as_ref(), "p/diffgate-1/models/v2/orders");
        let dir = Place::Dir(PathBuf::from("d"))
            .join("models/v2")
            .join("orders");
        assert_eq!(
            dir.shown(),
            Path::new("d/models/v2/orders").display().to_string()
        );
    }
}
