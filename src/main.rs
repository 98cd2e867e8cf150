//! The binary edge: parse flags, run the pipeline, render and deliver, and
//! map the outcome to the exit-code contract (0 promote/below --fail-on,
//! 1 gate failed, 2 error). Errors and panics are printed here, once.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use diffgate::cli::{self, Cli, Command, DisplayArgs, OutputArgs, ReportArgs, When};
use diffgate::deliver::{self, CommandStream, GithubFiles, Groups, Spinner};
use diffgate::pipeline::{Observer, Silent};
use diffgate::render::{self, Format, Options, github};
use diffgate::report::Level;

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
    let github = github_mode(&cli.command);
    match std::panic::catch_unwind(|| run(&cli, github)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            report_error(&e, github);
            ExitCode::from(2)
        }
        Err(_) => ExitCode::from(2),
    }
}

/// Where workflow commands go when GitHub Actions mode is on.
fn github_mode(command: &Command) -> Option<CommandStream> {
    let out = match command {
        Command::Run(a) | Command::Check(a) => &a.output,
        Command::Diff(a) => &a.output,
        Command::Report(_) | Command::Init(_) | Command::Worker(_) => return None,
    };
    let on = match out.github {
        When::Always => true,
        When::Never => false,
        When::Auto => std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"),
    };
    on.then_some(if out.format == Format::Json {
        CommandStream::Stderr
    } else {
        CommandStream::Stdout
    })
}

/// Print an error: plain on stderr, or as one escaped `::error` annotation
/// (pointing at the file and SQL position when known) in GitHub mode.
fn report_error(e: &diffgate::Error, github: Option<CommandStream>) {
    match github {
        Some(stream) => {
            let (file, position) = match e.position() {
                Some((path, pos)) => (Some(path.display().to_string()), pos),
                None => (None, None),
            };
            stream.line(&github::annotation(
                Level::Block,
                file.as_deref(),
                position,
                "diffgate error",
                &e.to_string(),
            ));
        }
        None => eprintln!("diffgate: error: {e}"),
    }
}

fn options(display: &DisplayArgs) -> Options {
    let color = match display.color {
        When::Always => true,
        When::Never => false,
        When::Auto => {
            anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
        }
    };
    Options {
        color,
        verbose: display.verbose,
    }
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn run(cli: &Cli, github: Option<CommandStream>) -> diffgate::Result<ExitCode> {
    match &cli.command {
        Command::Report(args) => return rerender(args),
        Command::Init(args) => return init(args),
        Command::Worker(args) => return worker(args),
        _ => {}
    }
    let (mut job, out) = diffgate::resolve::job(&cli.command)?;
    if let Some(stream) = github {
        // Before anything else is printed: what in an input URL may be a
        // secret (a signed URL's token), so the log never shows it.
        let mut masked = std::collections::BTreeSet::new();
        for source in job.inputs() {
            let path = source.path.to_string_lossy();
            let mut secrets = diffgate::load::store::secret_parts(&path);
            // A Postgres input's password comes from the environment (its
            // URL's query holds only `sslmode`).
            if diffgate::load::tables::is_postgres(&path) {
                secrets = url::Url::parse(&path)
                    .ok()
                    .and_then(|u| u.password().map(str::to_string))
                    .into_iter()
                    .chain(std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()))
                    .collect();
            }
            for secret in secrets {
                if masked.insert(secret.clone()) {
                    stream.line(&format!("::add-mask::{}", github::escape_data(&secret)));
                }
            }
        }
    }
    let args: Vec<_> = std::env::args_os().collect();
    job.about.reproduce = Some(cli::reproduce(&args));
    let runtime = runtime(job.engine.threads())?;
    // Progress: log groups in GitHub Actions, a spinner on a terminal,
    // nothing otherwise.
    let observer: Box<dyn Observer> = match github {
        Some(stream) => Box::new(Groups::new(stream)),
        None if std::io::stderr().is_terminal() => Box::new(Spinner::new()),
        None => Box::new(Silent),
    };
    let report = runtime.block_on(diffgate::pipeline::execute(&job, observer.as_ref()));
    drop(observer);
    // Do not wait for tasks a time limit abandoned; they stop at exit.
    runtime.shutdown_background();
    let report = report?;
    deliver_report(&report, out, github)?;
    Ok(if job.policy.fail_on.fails(report.verdict) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn deliver_report(
    report: &diffgate::DiffReport,
    out: &OutputArgs,
    github: Option<CommandStream>,
) -> diffgate::Result<()> {
    let opts = options(&out.display);
    // Files never carry terminal colour; a format written to a file and to
    // the step summary is rendered once.
    let plain = Options {
        color: false,
        ..opts
    };
    let mut rendered: HashMap<Format, String> = HashMap::new();
    let mut render_plain = |format: Format| -> String {
        rendered
            .entry(format)
            .or_insert_with(|| render::render(report, format, plain))
            .clone()
    };
    let files = out.files();
    for (_, format, path) in &files {
        deliver::write_atomically(path, render_plain(*format).as_bytes())?;
    }
    if let Some(gateway) = &out.pushgateway {
        let metrics = render_plain(Format::Prometheus);
        let instance = out.metrics_instance.as_deref();
        deliver::push_metrics(gateway, &out.metrics_job, instance, &metrics)?;
    }
    let Some(stream) = github else {
        print(&render::render(report, out.format, opts));
        return Ok(());
    };
    let gh = GithubFiles::from_env();
    gh.append_summary(&render_plain(Format::Markdown))?;
    let written: Vec<(&str, String)> = files
        .iter()
        .map(|(name, _, path)| (*name, path.display().to_string()))
        .collect();
    gh.write_outputs(&github::output_pairs(report, &written))?;
    for line in github::annotations(report) {
        stream.line(&line);
    }
    let text = render::render(report, out.format, opts);
    if stream == CommandStream::Stdout {
        // The report shows data; stop the runner reading commands in it.
        let token = github::random_token();
        stream.line(&github::stop_commands(&token));
        print(&text);
        if !text.ends_with('\n') {
            print("\n");
        }
        stream.line(&github::resume_commands(&token));
    } else {
        print(&text);
    }
    Ok(())
}

/// The async runtime of one command, on `threads` worker threads.
fn runtime(threads: usize) -> diffgate::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|source| diffgate::Error::Io {
            path: "tokio runtime".into(),
            source,
        })
}

/// `diffgate worker`: serve the distributed engine until interrupted.
fn worker(args: &cli::WorkerArgs) -> diffgate::Result<ExitCode> {
    if let Some(0) = args.threads {
        return Err(diffgate::Error::Usage(
            "--threads must be at least 1".into(),
        ));
    }
    let engine = diffgate::engine::EngineOptions {
        threads: args.threads,
        memory_limit: args.memory_limit,
        spill_dir: args.spill_dir.clone(),
        ..Default::default()
    };
    #[cfg(feature = "distributed")]
    {
        let runtime = runtime(engine.threads())?;
        runtime.block_on(diffgate::engine::distributed::serve(args.listen, &engine))?;
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = engine;
        Err(diffgate::Error::Usage(diffgate::engine::NOT_BUILT.into()))
    }
}

/// `diffgate init`: draft a scenario file and write it (or print it).
fn init(args: &cli::InitArgs) -> diffgate::Result<ExitCode> {
    let path = args.dir.join(diffgate::config::FILE_NAME);
    if path.exists() && !args.force && !args.stdout {
        return Err(diffgate::Error::Usage(format!(
            "{} exists: --force replaces it, --stdout prints the draft instead",
            path.display()
        )));
    }
    let opts = diffgate::init::Options {
        dir: args.dir.clone(),
        data: args.data.clone(),
        sample_rows: args.sample_rows.max(1),
    };
    let runtime = runtime(1)?;
    let draft = runtime.block_on(diffgate::init::draft(&opts))?;
    if args.stdout {
        print(&draft.text);
    } else {
        deliver::write_atomically(&draft.path, draft.text.as_bytes())?;
        eprintln!("diffgate: wrote {}", draft.path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `diffgate report`: render a saved JSON report again.
fn rerender(args: &ReportArgs) -> diffgate::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.report).map_err(|source| diffgate::Error::Io {
        path: args.report.clone(),
        source,
    })?;
    let report = render::json::parse(&text).map_err(|e| diffgate::Error::Report {
        path: args.report.clone(),
        message: format!("not a diffgate JSON report: {e}"),
    })?;
    match &args.output {
        Some(path) => {
            let opts = Options {
                color: false,
                ..options(&args.display)
            };
            let text = render::render(&report, args.format, opts);
            deliver::write_atomically(path, text.as_bytes())?;
        }
        None => print(&render::render(
            &report,
            args.format,
            options(&args.display),
        )),
    }
    Ok(ExitCode::SUCCESS)
}
