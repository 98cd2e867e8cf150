//! Text files of an input (CSV, NDJSON, JSON arrays) as screening and the
//! engine reach them: a local file or an object of the run's pinned store,
//! read from the start as one stream, decompressed on the way (`.gz`,
//! `.zst`, `.bz2`, `.xz`; concatenated members read as one stream, as the
//! command-line tools do), a buffer at a time. Nothing is copied: screening
//! ([`super::records`]) reads each stream once, and the engine reads it
//! again through [`super::streamed`] with the bad records' bytes left out
//! ([`Skipping`]), so memory and scratch space stay bounded whatever the
//! size of the file. Only Parquet and Arrow files compressed whole are
//! staged, decompressed, in the run's scratch space ([`stage`]): their
//! readers need to seek.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::ObjectMeta;

use super::InputSource;
use super::store::PinnedStore;
use crate::error::Result;

/// Byte ranges of a file's plain (decompressed) stream, in order and not
/// overlapping: the records screening took out.
pub type Ranges = Vec<(u64, u64)>;

/// Where a text file's bytes are.
#[derive(Debug, Clone)]
pub enum Place {
    Local(PathBuf),
    Object {
        store: Arc<PinnedStore>,
        location: object_store::path::Path,
    },
}

/// One text file of an input.
#[derive(Debug, Clone)]
pub struct TextFile {
    /// What messages and dead letters name: the path or URL as given.
    pub shown: String,
    pub place: Place,
    pub compression: Option<Compression>,
}

impl TextFile {
    pub fn local(path: &Path) -> TextFile {
        let shown = path.display().to_string();
        TextFile {
            compression: Compression::of(&shown),
            shown,
            place: Place::Local(path.to_path_buf()),
        }
    }

    /// The object `meta` of `store` (pinned there).
    pub fn object(store: &Arc<PinnedStore>, meta: &ObjectMeta) -> TextFile {
        TextFile {
            shown: store.record(meta).url,
            place: Place::Object {
                store: store.clone(),
                location: meta.location.clone(),
            },
            compression: Compression::of(meta.location.as_ref()),
        }
    }

    /// The file's name without its compression extension, which tells its
    /// format.
    pub fn plain_name(&self) -> &str {
        Compression::strip(&self.shown)
    }

    /// A local, uncompressed file: the engine's own readers can read it
    /// where it is.
    pub fn is_local_plain(&self) -> bool {
        matches!(self.place, Place::Local(_)) && self.compression.is_none()
    }

    /// A reader of the file's plain bytes from the start. It blocks: an
    /// object is read from a blocking thread or inside [`blocking`]. Errors
    /// do not name the file (callers do); a stream that does not
    /// decompress says so.
    pub fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        let raw: Box<dyn Read + Send> = match &self.place {
            Place::Local(p) => Box::new(File::open(p)?),
            Place::Object { store, location } => {
                Box::new(ObjectReader::open(store.clone(), location.clone())?)
            }
        };
        Ok(match self.compression {
            None => raw,
            Some(c) => Box::new(Decompressing {
                inner: c.reader(raw)?,
                what: c,
            }),
        })
    }
}

/// Run `f`, which may block on the network, where blocking is allowed: in
/// place on a multi-threaded runtime (its other tasks move to another
/// thread meanwhile), else as it is.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// An object's bytes as a blocking reader: one GET through the pinned
/// store (which refuses another version of the object than the pinned
/// one), its body read a chunk at a time.
struct ObjectReader {
    handle: tokio::runtime::Handle,
    body: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
}

/// A failure of the store, told apart from a failure to decompress.
#[derive(Debug)]
struct StoreError(object_store::Error);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StoreError {}

impl ObjectReader {
    fn open(store: Arc<PinnedStore>, location: object_store::path::Path) -> std::io::Result<Self> {
        use object_store::ObjectStoreExt;
        use tokio::runtime::{Handle, RuntimeFlavor};
        let handle = Handle::try_current()
            .ok()
            .filter(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
            .ok_or_else(|| {
                std::io::Error::other("an object is read on a multi-threaded runtime only")
            })?;
        let body = handle
            .block_on(store.get(&location))
            .map_err(|e| std::io::Error::other(StoreError(e)))?
            .into_stream();
        Ok(ObjectReader {
            handle,
            body,
            chunk: Bytes::new(),
        })
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.handle.block_on(self.body.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(StoreError(e))),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

/// A decompressing reader whose errors (other than the store's) say that
/// the bytes did not decompress as the extension promised.
struct Decompressing {
    inner: Box<dyn Read + Send>,
    what: Compression,
}

impl Read for Decompressing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let from_store = e
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<StoreError>().is_some());
            if from_store {
                e
            } else {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot decompress ({e}); is it really {}?",
                        self.what.name()
                    ),
                )
            }
        })
    }
}

/// A reader of `inner` without the bytes in `ranges` (offsets in `inner`'s
/// stream): a file as the engine reads it once screening took records out.
pub struct Skipping<R> {
    inner: R,
    ranges: Ranges,
    /// The first range not yet passed.
    next: usize,
    /// Offset in `inner` of the next byte read from it.
    at: u64,
}

impl<R: Read> Skipping<R> {
    pub fn new(inner: R, ranges: Ranges) -> Self {
        debug_assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0), "in order");
        Skipping {
            inner,
            ranges,
            next: 0,
            at: 0,
        }
    }
}

impl<R: Read> Read for Skipping<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let (start, end) = (self.at, self.at + n as u64);
            self.at = end;
            if self.ranges.get(self.next).is_none_or(|r| r.0 >= end) {
                return Ok(n);
            }
            // Keep what lies outside the ranges, moved to the front.
            let mut kept = 0usize;
            let mut pos = start;
            while pos < end {
                match self.ranges.get(self.next) {
                    Some(&(s, e)) if s < end => {
                        if e <= pos {
                            self.next += 1;
                            continue;
                        }
                        let keep_to = s.max(pos);
                        let from = (pos - start) as usize..(keep_to - start) as usize;
                        buf.copy_within(from.clone(), kept);
                        kept += from.len();
                        pos = e.min(end);
                        if e <= end {
                            self.next += 1;
                        }
                    }
                    _ => {
                        let from = (pos - start) as usize..n;
                        buf.copy_within(from.clone(), kept);
                        kept += from.len();
                        pos = end;
                    }
                }
            }
            if kept > 0 {
                return Ok(kept);
            }
        }
    }
}

/// A compression a file's last extension names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

impl Compression {
    /// The compression `name` ends in, if any.
    pub fn of(name: &str) -> Option<Compression> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "gz" | "gzip" => Compression::Gzip,
            "zst" | "zstd" => Compression::Zstd,
            "bz2" => Compression::Bzip2,
            "xz" => Compression::Xz,
            _ => return None,
        })
    }

    /// `name` without its compression extension.
    pub fn strip(name: &str) -> &str {
        match Compression::of(name) {
            Some(_) => name.rsplit_once('.').map_or(name, |(stem, _)| stem),
            None => name,
        }
    }

    /// The extension it is named by, for messages.
    fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
            Compression::Bzip2 => "bz2",
            Compression::Xz => "xz",
        }
    }

    /// A reader of `r`'s decompressed bytes. Concatenated gzip and bzip2
    /// members, zstd frames and xz streams are read as one stream, as the
    /// command-line tools do.
    fn reader(self, r: Box<dyn Read + Send>) -> std::io::Result<Box<dyn Read + Send>> {
        let r = BufReader::with_capacity(1 << 16, r);
        Ok(match self {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
            Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
        })
    }
}

/// Decompressed copies of `files` (Parquet or Arrow files compressed whole,
/// whose readers need to seek) in the run's scratch space, in one folder
/// that holds only them, and that folder. Plain ones are copied too, so
/// the input stays one folder. Blocking.
pub fn stage(source: &InputSource, files: &[TextFile], scratch: &Path) -> Result<PathBuf> {
    let dir = scratch.join("decompressed").join(&source.name);
    std::fs::create_dir_all(&dir).map_err(|e| source.error(format!("{}: {e}", dir.display())))?;
    for (i, file) in files.iter().enumerate() {
        let plain = Path::new(file.plain_name())
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file");
        let dst = dir.join(format!("{i:05}-{plain}"));
        let fail = |e: &dyn std::fmt::Display| source.error(format!("{}: {e}", file.shown));
        let mut reader = file.open().map_err(|e| fail(&e))?;
        let mut out = BufWriter::new(File::create(&dst).map_err(|e| fail(&e))?);
        std::io::copy(&mut reader, &mut out).map_err(|e| fail(&e))?;
        out.flush().map_err(|e| fail(&e))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_follows_the_last_extension() {
        assert_eq!(Compression::of("a.csv.gz"), Some(Compression::Gzip));
        assert_eq!(Compression::of("a.ndjson.zst"), Some(Compression::Zstd));
        assert_eq!(Compression::of("a.csv.bz2"), Some(Compression::Bzip2));
        assert_eq!(Compression::of("a.json.XZ"), Some(Compression::Xz));
        assert_eq!(Compression::of("a.csv"), None);
        assert_eq!(Compression::strip("a.csv.gz"), "a.csv");
        assert_eq!(Compression::strip("a.csv"), "a.csv");
    }

    #[test]
    fn each_compression_round_trips_and_a_wrong_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"id,x\n1,a\n2,b\n".repeat(1000);
        let write = |name: &str, bytes: Vec<u8>| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        // Two members each, as `cat a.gz b.gz`, pbzip2 and `zstd -T` make.
        let (first, second) = text.split_at(7001);
        let twice = |f: &dyn Fn(&[u8]) -> Vec<u8>| [f(first), f(second)].concat();
        let gz = twice(&|b| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        });
        let bz = twice(&|b| {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        });
        let xz = twice(&|b| {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(b).unwrap();
            e.finish().unwrap()
        });
        let zst = twice(&|b| zstd::encode_all(b, 3).unwrap());
        let files = [
            write("a.csv.gz", gz),
            write("b.csv.zst", zst),
            write("c.csv.bz2", bz),
            write("d.csv.xz", xz),
            write("e.csv", text.clone()),
        ];
        for f in &files {
            let file = TextFile::local(f);
            let mut got = Vec::new();
            file.open().unwrap().read_to_end(&mut got).unwrap();
            assert_eq!(got, text, "{}", f.display());
            assert!(file.plain_name().ends_with(".csv"), "{}", file.shown);
            assert_eq!(file.is_local_plain(), file.compression.is_none());
        }
        let bad = TextFile::local(&write("f.csv.gz", b"not gzip".to_vec()));
        let e = bad
            .open()
            .and_then(|mut r| r.read_to_end(&mut Vec::new()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot decompress") && e.contains("gz?"), "{e}");
    }

    #[test]
    fn skipping_leaves_out_exactly_the_ranges_whatever_the_reads() {
        let text: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let ranges: Ranges = vec![(0, 3), (10, 11), (11, 400), (999, 1000), (4000, 5000)];
        let mut want = Vec::new();
        for (i, b) in text.iter().enumerate() {
            let i = i as u64;
            if !ranges.iter().any(|&(s, e)| s <= i && i < e) {
                want.push(*b);
            }
        }
        // Reads of every size from 1 byte up, so ranges start, end and
        // span across read boundaries.
        for size in [1, 2, 3, 7, 64, 1000, 8192] {
            struct Chunks<'a>(&'a [u8], usize);
            impl Read for Chunks<'_> {
                fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                    let n = self.0.len().min(self.1).min(buf.len());
                    buf[..n].copy_from_slice(&self.0[..n]);
                    self.0 = &self.0[n..];
                    Ok(n)
                }
            }
            let mut got = Vec::new();
            Skipping::new(Chunks(&text, size), ranges.clone())
                .read_to_end(&mut got)
                .unwrap();
            assert_eq!(got, want, "reads of {size}");
        }
    }
}
