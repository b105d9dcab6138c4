//! `target-shop`: parses flags (each with an environment fallback), sets up logging, binds, and
//! serves (with the job worker alongside, unless `--no-worker`) until Ctrl-C or SIGTERM; with
//! `--worker-only`, runs just the job worker.

use std::process::ExitCode;

use clap::Parser;
use http_edge::shutdown_signal;
use target_shop::cli::Args;

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
    let mut config = target_shop::Config::new(args.database_url, args.redis_url);
    config.jwt_secret = args.jwt_secret;
    config.access_token_lifetime = args.access_token_lifetime;
    config.refresh_token_lifetime = args.refresh_token_lifetime;
    config.pool_size = args.pool_size;
    config.pool_timeout = args.pool_timeout;
    config.header_read_timeout = args.header_read_timeout;
    config.redis_timeout = args.redis_timeout;
    config.migrate = args.migrate;
    config.redis_prefix = args.redis_prefix;
    config.faults = target_shop::faults::Faults::parse(args.faults.iter().map(String::as_str))
        .map_err(|e| anyhow::anyhow!("--fault: {e}"))?;
    if !config.faults.names().is_empty() {
        tracing::warn!(faults = ?config.faults.names(), "faults switched on");
    }
    config.toss = target_shop::payments::TossConfig {
        url: args.toss_url,
        secret_key: args.toss_secret_key,
        timeout: args.toss_timeout,
    };
    config.reservation_lifetime = args.reservation_lifetime;
    config.worker = !args.no_worker;
    config.jobs.concurrency = args.worker_concurrency.max(1);
    config.jobs.email_delay = args.email_delay;
    config.jobs.points_delay = args.points_delay;
    config.jobs.claim_idle = args.job_claim_idle;
    config.jobs.sweep_interval = args.expiry_sweep_interval;
    if args.worker_only {
        return target_shop::run_worker(config, shutdown_signal()).await;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("binding {}: {e}", args.listen))?;
    target_shop::serve(config, listener, shutdown_signal()).await
}

/// JSON logs when stdout is not a terminal (CI, a phase's log file), readable ones otherwise.
fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if std::io::stdout().is_terminal() {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    }
}
