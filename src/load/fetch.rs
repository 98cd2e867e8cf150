//! Text inputs that cannot be screened where they are: CSV and NDJSON in
//! an object store, and compressed ones (`.gz`, `.zst`, `.bz2`, `.xz`),
//! local or remote. Each file is streamed into the run's scratch space
//! (decompressed on the way, a buffer at a time), and screening and the
//! engine read that copy; messages and dead letters still name the file or
//! URL the user gave (`InputSource::origins`). Parquet and Arrow are read
//! where they are and never come here.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use futures::StreamExt;
use object_store::ObjectMeta;

use super::InputSource;
use super::store::PinnedStore;
use crate::error::Result;

/// Local copies of an input's files, in order, and the file or URL each
/// is a copy of.
pub type Staged = (Vec<PathBuf>, BTreeMap<PathBuf, String>);

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

    /// A reader of `r`'s decompressed bytes. Concatenated gzip and bzip2
    /// members are read as one stream, as the command-line tools do.
    fn reader<'a>(self, r: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
        let r = BufReader::with_capacity(1 << 16, r);
        Ok(match self {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
            Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
        })
    }
}

/// Where the staged copies of one input go.
fn staging_dir(source: &InputSource, scratch: &Path, what: &str) -> Result<PathBuf> {
    let dir = scratch.join(what).join(&source.name);
    std::fs::create_dir_all(&dir).map_err(|e| source.error(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

/// The name a file is shown by: what it is a copy of, if it is one.
pub fn shown(source: &InputSource, file: &Path) -> String {
    source
        .origins
        .get(file)
        .cloned()
        .unwrap_or_else(|| file.display().to_string())
}

/// Copy the objects `metas` of `store` into the scratch space as they are
/// (compressed ones stay compressed until [`decompress`]): the local files,
/// in order, and what each is a copy of.
pub async fn fetch(
    source: &InputSource,
    store: &PinnedStore,
    metas: &[ObjectMeta],
    scratch: &Path,
) -> Result<Staged> {
    use object_store::ObjectStoreExt;
    let dir = staging_dir(source, scratch, "fetched")?;
    let mut files = Vec::new();
    let mut origins = BTreeMap::new();
    for (i, meta) in metas.iter().enumerate() {
        let url = store.record(meta).url;
        let name = meta.location.filename().unwrap_or("object");
        let dst = dir.join(format!("{i:05}-{name}"));
        let fail = |e: &dyn std::fmt::Display| source.error(format!("{url}: {e}"));
        let mut out = BufWriter::new(File::create(&dst).map_err(|e| fail(&e))?);
        let mut stream = store
            .get(&meta.location)
            .await
            .map_err(|e| fail(&e))?
            .into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| fail(&e))?;
            out.write_all(&chunk).map_err(|e| fail(&e))?;
        }
        out.flush().map_err(|e| fail(&e))?;
        origins.insert(dst.clone(), url);
        files.push(dst);
    }
    Ok((files, origins))
}

/// When any of `files` is compressed: every file decompressed into the
/// scratch space (plain ones copied, so the input stays one folder), the
/// new files and what each is a copy of. `None` when none is compressed.
pub fn decompress(
    source: &InputSource,
    files: &[PathBuf],
    scratch: &Path,
) -> Result<Option<Staged>> {
    let names = |f: &PathBuf| {
        f.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string()
    };
    if !files.iter().any(|f| Compression::of(&names(f)).is_some()) {
        return Ok(None);
    }
    let dir = staging_dir(source, scratch, "decompressed")?;
    let mut out_files = Vec::new();
    let mut origins = BTreeMap::new();
    for (i, file) in files.iter().enumerate() {
        let name = names(file);
        let plain = Compression::strip(&name);
        let dst = dir.join(format!("{i:05}-{plain}"));
        let was = shown(source, file);
        let fail = |e: &dyn std::fmt::Display| source.error(format!("{was}: {e}"));
        let input = File::open(file).map_err(|e| fail(&e))?;
        let mut reader: Box<dyn Read> = match Compression::of(&name) {
            Some(c) => c.reader(input).map_err(|e| fail(&e))?,
            None => Box::new(input),
        };
        let mut out = BufWriter::new(File::create(&dst).map_err(|e| fail(&e))?);
        std::io::copy(&mut reader, &mut out).map_err(|e| {
            fail(&format!(
                "cannot decompress ({e}); is it really {}?",
                name.rsplit('.').next().unwrap_or("")
            ))
        })?;
        out.flush().map_err(|e| fail(&e))?;
        origins.insert(dst.clone(), was);
        out_files.push(dst);
    }
    Ok(Some((out_files, origins)))
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
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&text).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&text).unwrap();
        let files = vec![
            write("a.csv.gz", gz.finish().unwrap()),
            write("b.csv.zst", zstd::encode_all(&text[..], 3).unwrap()),
            write("c.csv.bz2", bz.finish().unwrap()),
            write("d.csv.xz", xz.finish().unwrap()),
            write("e.csv", text.clone()),
        ];
        let source = InputSource::new("t", dir.path());
        let scratch = tempfile::tempdir().unwrap();
        let (out, origins) = decompress(&source, &files, scratch.path())
            .unwrap()
            .unwrap();
        assert_eq!(out.len(), 5);
        for f in &out {
            assert_eq!(std::fs::read(f).unwrap(), text, "{}", f.display());
            assert!(f.to_str().unwrap().ends_with(".csv"), "{}", f.display());
        }
        assert!(origins[&out[0]].ends_with("a.csv.gz"));
        let bad = vec![write("f.csv.gz", b"not gzip".to_vec())];
        let e = decompress(&source, &bad, scratch.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("f.csv.gz") && e.contains("cannot decompress"),
            "{e}"
        );
    }
}
