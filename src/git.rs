//! Transform files as they are at a git ref (`--base`, `--head`), so v1 can
//! be "this transform as on the main branch" without a second copy.
//!
//! It runs the `git` command rather than linking a git library: wherever a
//! repository is checked out `git` is there, and it then honours the same
//! shallow clones, worktrees, alternates and safe.directory settings as the
//! user's own git. Only read-only plumbing is used (`rev-parse`, `cat-file`,
//! `ls-tree`); a ref is always passed after `--end-of-options`, so a ref can
//! never be taken for an option.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// A repository's top-level directory.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
}

/// A ref as the user gave it and the commit it named when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub reference: String,
    pub id: String,
}

impl Commit {
    /// `origin/main (1a2b3c4d5e6f)`: how reports and messages name it.
    pub fn describe(&self) -> String {
        let short = &self.id[..self.id.len().min(12)];
        format!("{} ({short})", self.reference)
    }
}

fn git_error(reference: Option<&str>, message: impl Into<String>) -> Error {
    Error::Git {
        reference: reference.map(str::to_string),
        message: message.into(),
    }
}

impl Repo {
    /// The repository holding `path` (a file or directory).
    pub fn discover(path: &Path) -> Result<Repo> {
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            }
        };
        let out = run_git(&dir, &["rev-parse", "--show-toplevel"])
            .map_err(|m| git_error(None, format!("{}: {m}", dir.display())))?;
        let root = PathBuf::from(out.trim_end_matches(['\n', '\r']));
        Ok(Repo { root })
    }

    /// The commit `reference` names now.
    pub fn resolve(&self, reference: &str) -> Result<Commit> {
        if reference.is_empty() {
            return Err(git_error(Some(reference), "the ref is empty"));
        }
        let spec = format!("{reference}^{{commit}}");
        let out = run_git(
            &self.root,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
        )
        .map_err(|_| {
            git_error(
                Some(reference),
                "no such commit, branch or tag in this repository (in a shallow \
                 clone, fetch it first, e.g. `git fetch origin main` or \
                 `fetch-depth: 0` in actions/checkout)",
            )
        })?;
        Ok(Commit {
            reference: reference.to_string(),
            id: out.trim().to_string(),
        })
    }

    /// `path` (on disk, absolute or relative to the working directory) as
    /// a path inside the repository, with `/` separators.
    pub fn relative(&self, path: &Path) -> Result<String> {
        let abs = absolute(path)?;
        let root = self.root.canonicalize().map_err(|source| Error::Io {
            path: self.root.clone(),
            source,
        })?;
        let rel = abs.strip_prefix(&root).map_err(|_| {
            git_error(
                None,
                format!(
                    "{} is outside the repository at {}",
                    path.display(),
                    self.root.display()
                ),
            )
        })?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Ok(parts.join("/"))
    }

    /// The text of file `rel` at `commit`.
    pub fn read(&self, commit: &Commit, rel: &str) -> Result<String> {
        let object = format!("{}:{rel}", commit.id);
        let kind = run_git(&self.root, &["cat-file", "-t", "--end-of-options", &object]).map_err(
            |_| {
                git_error(
                    Some(&commit.reference),
                    format!("{rel}: no such file at {}", commit.describe()),
                )
            },
        )?;
        if kind.trim() != "blob" {
            return Err(git_error(
                Some(&commit.reference),
                format!("{rel}: is not a file at {}", commit.describe()),
            ));
        }
        let bytes = run_git_bytes(
            &self.root,
            &["cat-file", "blob", "--end-of-options", &object],
        )
        .map_err(|m| git_error(Some(&commit.reference), format!("{rel}: {m}")))?;
        String::from_utf8(bytes).map_err(|_| {
            git_error(
                Some(&commit.reference),
                format!("{rel}: is not UTF-8 text at {}", commit.describe()),
            )
        })
    }

    /// Whether `rel` is a directory (a tree) at `commit`.
    pub fn is_dir(&self, commit: &Commit, rel: &str) -> bool {
        let object = format!("{}:{rel}", commit.id);
        run_git(&self.root, &["cat-file", "-t", "--end-of-options", &object])
            .is_ok_and(|k| k.trim() == "tree")
    }

    /// Whether `rel` is a file (a blob) at `commit`.
    pub fn is_file(&self, commit: &Commit, rel: &str) -> bool {
        let object = format!("{}:{rel}", commit.id);
        run_git(&self.root, &["cat-file", "-t", "--end-of-options", &object])
            .is_ok_and(|k| k.trim() == "blob")
    }

    /// Paths (relative to `rel`) of the files under directory `rel` at
    /// `commit`, subdirectories included.
    pub fn list(&self, commit: &Commit, rel: &str) -> Result<Vec<String>> {
        if !self.is_dir(commit, rel) {
            return Err(git_error(
                Some(&commit.reference),
                format!("{rel}: no such directory at {}", commit.describe()),
            ));
        }
        let object = format!("{}:{rel}", commit.id);
        let out = run_git(
            &self.root,
            &["ls-tree", "-r", "--name-only", "--end-of-options", &object],
        )
        .map_err(|m| git_error(Some(&commit.reference), format!("{rel}: {m}")))?;
        Ok(out.lines().map(str::to_string).collect())
    }
}

/// `path` made absolute and free of symlinks; a path that does not exist
/// (a file deleted in the working tree) resolves through its parent.
fn absolute(path: &Path) -> Result<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Ok(p);
    }
    let name = path
        .file_name()
        .ok_or_else(|| git_error(None, format!("{}: not a file path", path.display())))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = parent.canonicalize().map_err(|source| Error::Io {
        path: parent.to_path_buf(),
        source,
    })?;
    Ok(parent.join(name))
}

fn run_git(dir: &Path, args: &[&str]) -> std::result::Result<String, String> {
    let bytes = run_git_bytes(dir, args)?;
    String::from_utf8(bytes).map_err(|_| "git printed text that is not UTF-8".to_string())
}

fn run_git_bytes(dir: &Path, args: &[&str]) -> std::result::Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        // Never prompt, never page, never read the user's pager or editor.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                "the `git` command was not found; --base and --head need git".to_string()
            }
            _ => format!("cannot run git: {e}"),
        })?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().next().unwrap_or("").trim();
        Err(match first.strip_prefix("fatal: ") {
            Some(m) => m.to_string(),
            None if first.is_empty() => format!("git {} failed", args[0]),
            None => first.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn reads_files_and_directories_at_a_ref() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::create_dir(d.join("models")).unwrap();
        std::fs::write(d.join("models/a.sql"), "select 1").unwrap();
        git(d, &["add", "."]);
        git(d, &["commit", "-q", "-m", "one"]);
        std::fs::write(d.join("models/a.sql"), "select 2").unwrap();
        std::fs::write(d.join("models/b.sql"), "select 3").unwrap();

        let repo = Repo::discover(&d.join("models/a.sql")).unwrap();
        let main = repo.resolve("main").unwrap();
        assert_eq!(main.id.len(), 40);
        let rel = repo.relative(&d.join("models/a.sql")).unwrap();
        assert_eq!(rel, "models/a.sql");
        assert_eq!(repo.read(&main, &rel).unwrap(), "select 1");
        assert_eq!(repo.list(&main, "models").unwrap(), ["a.sql"]);
        assert!(repo.is_dir(&main, "models"));

        let err = repo.read(&main, "models/b.sql").unwrap_err().to_string();
        assert!(
            err.contains("models/b.sql") && err.contains("main"),
            "{err}"
        );
        let err = repo.resolve("no-such-branch").unwrap_err().to_string();
        assert!(err.contains("no-such-branch"), "{err}");
        // A ref that looks like an option is a ref, not an option.
        let err = repo.resolve("--output=x").unwrap_err().to_string();
        assert!(err.contains("--output=x"), "{err}");
        assert!(!d.join("x").exists());
    }

    #[test]
    fn outside_a_repository_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Repo::discover(dir.path()).unwrap_err().to_string();
        assert!(err.contains("git"), "{err}");
    }
}
