//! The binary edge: parse flags, run the pipeline, render, and map the
//! outcome to the exit-code contract (0 promote/below --fail-on, 1 gate
//! failed, 2 error). Errors and panics are printed here, once.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use diffgate::cli::{self, Cli, Command, OutputFormat, ReportArgs};
use diffgate::render::{self, Format};

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("diffgate: internal error: {info}");
        eprintln!("this is a bug in diffgate; please report it with the command that caused it");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors are exit 2; --help and --version are not errors.
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match std::panic::catch_unwind(|| run(&cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("diffgate: error: {e}");
            ExitCode::from(2)
        }
        Err(_) => ExitCode::from(2),
    }
}

/// Write a report file whole or not at all: a temporary file beside it,
/// renamed into place.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> diffgate::Result<()> {
    let io = |source| diffgate::Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

fn format(f: OutputFormat) -> Format {
    match f {
        OutputFormat::Terminal => Format::Terminal,
        OutputFormat::Json => Format::Json,
    }
}

fn run(cli: &Cli) -> diffgate::Result<ExitCode> {
    if let Command::Report(args) = &cli.command {
        return rerender(args);
    }
    let (job, flags) = cli::job(&cli.command)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(job.engine.threads())
        .enable_all()
        .build()
        .map_err(|source| diffgate::Error::Io {
            path: "tokio runtime".into(),
            source,
        })?;
    let report = runtime.block_on(diffgate::pipeline::execute(&job))?;
    if let Some(path) = &flags.json {
        write_atomically(path, render::json::render(&report).as_bytes())?;
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(render::render(&report, format(flags.format)).as_bytes());
    let _ = out.flush();
    Ok(if job.policy.fail_on.fails(report.verdict) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `diffgate report`: render a saved JSON report again.
fn rerender(args: &ReportArgs) -> diffgate::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.report).map_err(|source| diffgate::Error::Io {
        path: args.report.clone(),
        source,
    })?;
    let report = render::json::parse(&text).map_err(|e| {
        diffgate::Error::Usage(format!(
            "{}: not a diffgate JSON report: {e}",
            args.report.display()
        ))
    })?;
    let text = render::render(&report, format(args.format));
    match &args.output {
        Some(path) => write_atomically(path, text.as_bytes())?,
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
    Ok(ExitCode::SUCCESS)
}
