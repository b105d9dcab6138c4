//! `toss-mock`: parses flags (each with an environment fallback), sets up logging, binds, and
//! serves until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use http_edge::shutdown_signal;
use toss_mock::cli::Args;
use toss_mock::{Chaos, Config};

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = Config {
        secret_keys: args.secret_keys,
        seed: args.seed,
        ready_expiry: args.ready_expiry,
        in_progress_expiry: args.in_progress_expiry,
        chaos: Chaos {
            latency: args.latency,
            error_rate: args.error_rate,
            error_code: args.error_code,
            timeout_rate: args.timeout_rate,
            hang: args.hang,
            commit_then_drop_rate: args.commit_then_drop_rate,
        },
        idempotency_retention: args.idempotency_retention,
        idempotency_max_records: args.idempotency_max_records,
        payment_retention: args.payment_retention,
        max_payments: args.max_payments,
        success_url: args.success_url,
        ..Config::default()
    };
    if config.chaos != Chaos::default() {
        tracing::warn!(chaos = ?config.chaos, "chaos switched on");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("binding {}: {e}", args.listen))?;
    toss_mock::serve(config, listener, shutdown_signal()).await
}

/// Logs on stderr: JSON when stderr is not a terminal (CI, a phase's log file), readable otherwise.
fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}
