//! `loadgen`: parses flags and runs (or compares, or merges shards). Exit codes: 0 thresholds held,
//! 1 a threshold failed, 2 the run could not happen (with a one-line reason).

use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::{Cli, Command, Invocation};

fn main() -> ExitCode {
    // Clap's own errors (an unknown flag, a bad value) exit 2 with the usage.
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match cli.command {
        Command::Compare(args) => match loadgen::cli::compare::run(&args) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Merge(args) => match loadgen::cli::merge::run(&args, &command_line()) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Worker(args) => {
            raise_open_files_limit();
            block_on(loadgen::cli::worker::run(&args, invocation()))
        }
        Command::Scenarios => {
            loadgen::cli::list_scenarios();
            ExitCode::SUCCESS
        }
        Command::Run(args) => {
            raise_open_files_limit();
            block_on(loadgen::cli::run(*args, invocation()))
        }
    }
}

fn command_line() -> Vec<String> {
    std::env::args().collect()
}

/// The command line and Ctrl-C, for the library: only `main` reads them.
fn invocation() -> Invocation {
    Invocation {
        command_line: command_line(),
        interrupt: Box::pin(async {
            // No handler could be installed: nothing can interrupt the run, as without a terminal.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }),
    }
}

/// Runs a command on the async runtime; its error is exit code 2. On one core (a pinned
/// generator) a single-threaded runtime wakes tasks without the cross-thread signalling a
/// work-stealing pool needs: a third less CPU per request.
fn block_on(command: impl std::future::Future<Output = anyhow::Result<u8>>) -> ExitCode {
    let one_core = std::thread::available_parallelism().map_or(true, |n| n.get() == 1);
    let runtime = if one_core {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Runtime::new()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Each user holds its own connection: lift the soft open-files limit to the hard one, as Locust
/// asks its users to do by hand, so 10,000 users do not fail on `ulimit -n 1024`.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        tracing::warn!("could not raise the open-files limit from {soft} to {hard}: {e}");
    }
}
