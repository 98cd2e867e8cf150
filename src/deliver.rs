//! After render, deliver: put rendered reports where they were asked for.
//! Report files are written atomically (a temporary file beside the target,
//! then a rename), so a reader never sees half a report. In GitHub Actions
//! mode the Markdown goes to the step summary, the verdict and counts to the
//! step outputs, the reasons to annotations, and stages to log groups.
//! Progress for people is a spinner on stderr, only when it is a terminal.
//!
//! Nothing here decides what a report says; it only moves rendered text.

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::pipeline::progress::{Observer, Stage};
use crate::render::github;

/// GitHub refuses step summaries above 1 MiB.
pub const SUMMARY_LIMIT: u64 = 1024 * 1024;

/// Write a file whole or not at all: a temporary file beside it, renamed
/// into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Push `metrics` (Prometheus text) to the Pushgateway at `base`, under
/// `job` and `instance`, replacing what that group held (HTTP PUT). Errors
/// name the gateway without any credentials its URL holds.
pub fn push_metrics(base: &str, job: &str, instance: Option<&str>, metrics: &str) -> Result<()> {
    let shown = without_credentials(base);
    let fail = |m: String| Error::Usage(format!("--pushgateway {shown}: {m}"));
    let mut url = format!(
        "{}/metrics/{}",
        base.trim_end_matches('/'),
        segment("job", job)
    );
    if let Some(i) = instance {
        url.push('/');
        url.push_str(&segment("instance", i));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(e.to_string()))?;
    runtime.block_on(async {
        let response = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| fail(e.to_string()))?
            .put(&url)
            .header("Content-Type", "text/plain; version=0.0.4")
            .body(metrics.to_string())
            .send()
            .await
            .map_err(|e| fail(without_credentials(&e.without_url().to_string())))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let body = body
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(300)
            .collect::<String>();
        Err(fail(format!(
            "HTTP {status}: {}",
            crate::render::text::inert(&body)
        )))
    })
}

/// A label of the grouping key as a path segment: as it is when it is
/// plain, else base64 (URL-safe), which the Pushgateway reads as `NAME@base64`.
fn segment(name: &str, value: &str) -> String {
    use base64::Engine;
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if plain {
        format!("{name}/{value}")
    } else {
        let encoded = base64::engine::general_purpose::URL_SAFE.encode(value);
        // An empty value is written `=` (the Pushgateway's own rule).
        let encoded = if encoded.is_empty() {
            "=".to_string()
        } else {
            encoded
        };
        format!("{name}@base64/{encoded}")
    }
}

/// `url` with any `user:password@` taken out.
fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let end = url[scheme + 3..]
                .find('/')
                .map_or(url.len(), |i| i + scheme + 3);
            if at < end {
                format!("{}{}", &url[..scheme + 3], &url[at + 1..])
            } else {
                url.to_string()
            }
        }
        _ => url.to_string(),
    }
}

/// Append to a file the runner owns (step summary, step outputs).
fn append(path: &Path, text: &str) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)
}

/// The files GitHub Actions gives a step, from the environment.
#[derive(Debug, Clone, Default)]
pub struct GithubFiles {
    pub step_summary: Option<PathBuf>,
    pub output: Option<PathBuf>,
}

impl GithubFiles {
    pub fn from_env() -> Self {
        let path = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        GithubFiles {
            step_summary: path("GITHUB_STEP_SUMMARY"),
            output: path("GITHUB_OUTPUT"),
        }
    }

    /// Append the Markdown report to the step summary, keeping the file
    /// under GitHub's 1 MiB limit (a short note replaces a report that
    /// would cross it).
    pub fn append_summary(&self, markdown: &str) -> Result<()> {
        let Some(path) = &self.step_summary else {
            return Ok(());
        };
        let used = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let text = if used + (markdown.len() as u64) < SUMMARY_LIMIT {
            format!("{markdown}\n")
        } else {
            "diffgate: the step summary is nearly full (1 MiB); \
             see the report files for this run.\n"
                .to_string()
        };
        if used + text.len() as u64 > SUMMARY_LIMIT {
            return Ok(());
        }
        append(path, &text)
    }

    /// Append step outputs (`name<<DELIM` blocks) to `$GITHUB_OUTPUT`.
    pub fn write_outputs(&self, pairs: &[(&str, String)]) -> Result<()> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        append(path, &github::outputs(pairs, &github::random_token()))
    }
}

/// Where workflow commands are printed: stdout unless stdout carries the
/// JSON report (which must stay pure JSON), then stderr. The runner reads
/// commands from both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandStream {
    Stdout,
    Stderr,
}

impl CommandStream {
    pub fn line(self, line: &str) {
        match self {
            CommandStream::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            CommandStream::Stderr => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
            }
        }
    }
}

/// GitHub Actions log groups, one per stage.
pub struct Groups {
    stream: CommandStream,
    open: Cell<Option<Instant>>,
}

impl Groups {
    pub fn new(stream: CommandStream) -> Self {
        Groups {
            stream,
            open: Cell::new(None),
        }
    }

    fn close(&self) {
        if let Some(started) = self.open.take() {
            self.stream
                .line(&format!("done in {}", elapsed(started.elapsed())));
            self.stream.line(github::endgroup());
        }
    }
}

impl Observer for Groups {
    fn stage(&self, stage: Stage) {
        self.close();
        self.stream
            .line(&github::group(&format!("diffgate: {}", stage.label())));
        self.open.set(Some(Instant::now()));
    }
}

impl Drop for Groups {
    fn drop(&mut self) {
        self.close();
    }
}

/// A spinner on stderr naming the running stage; cleared when done.
pub struct Spinner {
    bar: indicatif::ProgressBar,
}

impl Spinner {
    pub fn new() -> Self {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} diffgate: {msg} ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner { bar }
    }
}

impl Default for Spinner {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for Spinner {
    fn stage(&self, stage: Stage) {
        self.bar.set_message(stage.label());
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn elapsed(d: Duration) -> String {
    if d.as_secs() >= 1 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod push_tests {
    use super::*;

    #[test]
    fn grouping_keys_and_urls_are_safe() {
        assert_eq!(segment("job", "diffgate"), "job/diffgate");
        assert_eq!(segment("instance", "ci/42"), "instance@base64/Y2kvNDI=");
        assert_eq!(segment("instance", ""), "instance@base64/=");
        assert_eq!(
            without_credentials("https://user:secret@gw.example:9091/base"),
            "https://gw.example:9091/base"
        );
        assert_eq!(
            without_credentials("http://gw:9091/a@b"),
            "http://gw:9091/a@b"
        );
    }
}
