//! Typed errors for every stage. Each variant names what the user must fix
//! (file, input, column, SQL file); the binary turns any of them into a
//! message on stderr and exit code 2.

use std::path::PathBuf;

use datafusion::error::DataFusionError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config {path}: {message}")]
    Config { path: PathBuf, message: String },

    #[error("{0}")]
    Usage(String),

    /// A failure inside diffgate itself (a worker task died).
    #[error("internal error: {0}")]
    Internal(String),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("input `{name}` ({path}): {message}")]
    Input {
        name: String,
        path: PathBuf,
        message: String,
    },

    #[error("{version} transform {path}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Transform {
        version: &'static str,
        path: PathBuf,
        /// Line and column in the SQL file, when the engine gives one.
        location: Option<(u64, u64)>,
        message: String,
    },

    #[error("key column `{column}` is missing from {side}{hint}")]
    KeyMissing {
        column: String,
        side: &'static str,
        hint: String,
    },

    #[error(
        "key column `{column}` has types that cannot be compared: {v1_type} in v1, {v2_type} in v2"
    )]
    KeyType {
        column: String,
        v1_type: String,
        v2_type: String,
    },

    /// A model folder cannot be read, ordered or selected from.
    #[error("models {path}: {message}")]
    Models { path: PathBuf, message: String },

    /// Reading transforms from git (`--base`, `--head`) failed.
    #[error("{}{message}", reference.as_ref().map(|r| format!("git ref `{r}`: ")).unwrap_or_else(|| "git: ".into()))]
    Git {
        reference: Option<String>,
        message: String,
    },

    /// A time limit (`--timeout`, `--transform-timeout`) ran out.
    #[error("{what} did not finish within {flag} {limit}; stopped")]
    Timeout {
        what: String,
        flag: &'static str,
        limit: String,
    },

    /// A saved report (`diffgate report`) that cannot be read as one.
    #[error("{}: {message}", path.display())]
    Report { path: PathBuf, message: String },

    #[error("{context}: {}", engine_message(source))]
    Engine {
        context: String,
        #[source]
        source: Box<DataFusionError>,
    },

    /// The run's scratch prefix in an object store (`--scratch URL`)
    /// could not be written or read.
    #[error("scratch {url}: {message}")]
    Scratch { url: String, message: String },

    /// A run on the distributed engine that failed while some of its
    /// workers did not answer: most likely why.
    #[error(
        "{source} (the distributed engine's {} not answer: {})",
        if workers.len() == 1 { "worker does" } else { "workers do" },
        workers.join(", ")
    )]
    Workers {
        workers: Vec<String>,
        source: Box<Error>,
    },
}

impl Error {
    /// The file the error is about and, for SQL, the line and column there:
    /// where a CI annotation should point.
    pub fn position(&self) -> Option<(&std::path::Path, Option<(u64, u64)>)> {
        match self {
            Error::Workers { source, .. } => source.position(),
            Error::Transform { path, location, .. } => Some((path, *location)),
            Error::Config { path, .. } | Error::Input { path, .. } | Error::Models { path, .. } => {
                Some((path, None))
            }
            Error::Io { path, .. } if path.components().count() > 0 && path.is_file() => {
                Some((path, None))
            }
            _ => None,
        }
    }

    pub fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Config {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Attach a stage description to a DataFusion error.
pub trait EngineContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<DataFusionError>> EngineContext<T> for std::result::Result<T, E> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Engine {
            context: context(),
            source: Box::new(e.into()),
        })
    }
}

/// Render a DataFusion error without its internal context chain noise: the
/// innermost message is what a user can act on.
pub fn engine_message(e: &DataFusionError) -> String {
    let mut msg = e.find_root().to_string();
    // Strip DataFusion's generic prefixes, keep the substance.
    for prefix in [
        "Error during planning: ",
        "Schema error: ",
        "SQL error: ",
        "Execution error: ",
        "External error: ",
        "Arrow error: ",
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            msg = rest.to_string();
        }
    }
    // sqlparser errors arrive in their Debug form: ParserError("...").
    for wrapper in ["ParserError(", "TokenizerError(", "RecursionLimitExceeded("] {
        if let Some(inner) = msg.strip_prefix(wrapper).and_then(|r| r.strip_suffix(')')) {
            msg = match serde_json::from_str::<String>(inner) {
                Ok(s) => format!("syntax error: {s}"),
                Err(_) => format!("syntax error: {inner}"),
            };
        }
    }
    if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) {
        msg = format!("out of memory under --memory-limit: {msg}; raise the limit");
    }
    // One line: messages go to stderr, CI annotations and reports.
    if msg.contains('\n') {
        msg = msg
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
    }
    msg
}

/// Where in the SQL text an error points (1-based line and column): from
/// DataFusion's diagnostics, or from the parser's "at Line: L, Column: C".
pub fn sql_location(e: &DataFusionError) -> Option<(u64, u64)> {
    for err in e.iter() {
        if let Some(span) = err.diagnostic().and_then(|d| d.span)
            && span.start.line > 0
        {
            return Some((span.start.line, span.start.column));
        }
    }
    let text = e.to_string();
    let (_, rest) = text.rsplit_once("at Line: ")?;
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// Suggest the closest of `candidates` to `name` (for "did you mean").
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, c)| (*d, c.to_string()))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("ordr_id", ["order_id", "amount"]),
            Some("order_id".into())
        );
        assert_eq!(did_you_mean("ID", ["id", "name"]), Some("id".into()));
        assert_eq!(did_you_mean("zzzzzz", ["order_id", "amount"]), None);
    }
}
