//! The `rootward` binary: parse the command line, set up logging, bind,
//! then serve until SIGTERM or SIGINT (SIGHUP reloads); or, as `rootward
//! ctl ...`, talk to a running server.

use std::process::ExitCode;
use std::sync::Mutex;

use clap::Parser;
use clap::error::ErrorKind;
use tracing::{info, warn};
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, reload};

use rootward::app::{App, LogLevelSetter};
use rootward::config::{Cli, Command, Config, QueryLog};
use rootward::server::handler::QUERY_LOG_TARGET;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: clap's first line names the flag and the value.
            let text = e.to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: bad arguments"));
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Ctl(ctl)) = &cli.command {
        return rootward::control::run(ctl);
    }
    let explicit_listen = !cli.listen.is_empty();
    let config = match Config::load(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let set_log_level = match init_logging(&config) {
        Ok(setter) => setter,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async move {
        let app = App::start(config, args, explicit_listen, set_log_level).await?;
        let reloads = app.runtime().clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                if let Err(e) = reloads.reload() {
                    warn!("reload on SIGHUP: {e}");
                }
            }
        });
        app.serve(shutdown_signal()).await
    });
    match served {
        Ok(()) => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The filter of the main log: rootward's events at `level`, the query log
/// excluded (it has its own layer).
fn main_filter(level: &str) -> Result<EnvFilter, String> {
    EnvFilter::try_new(format!("rootward={level},{QUERY_LOG_TARGET}=off"))
        .map_err(|e| format!("invalid value for log-level: '{level}': {e}"))
}

/// Logs to stderr, and the query log to stderr or its file; returns what
/// a reload calls to change the level.
fn init_logging(config: &Config) -> Result<LogLevelSetter, String> {
    let (filter, handle) = reload::Layer::new(main_filter(&config.log_level)?);
    let main_layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let queries = Targets::new().with_target(QUERY_LOG_TARGET, tracing::Level::INFO);
    let query_layer = match &config.query_log {
        QueryLog::File(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open query-log file {}: {e}", path.display()))?;
            fmt::layer()
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .with_filter(queries)
                .boxed()
        }
        // A reload may turn the query log on later: it then goes to stderr.
        QueryLog::Stderr | QueryLog::Off => fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(queries)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(main_layer)
        .with(query_layer)
        .init();
    Ok(Box::new(move |level: &str| {
        let filter = main_filter(level)?;
        handle
            .reload(filter)
            .map_err(|e| format!("cannot change the log level: {e}"))
    }))
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
