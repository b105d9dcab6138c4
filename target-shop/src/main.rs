//! `target-shop`: parses flags (each with an environment fallback), sets up logging, binds, and
//! serves (with the job worker alongside, unless `--no-worker`) until Ctrl-C or SIGTERM; with
//! `--worker-only`, runs just the job worker.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// The reference shop: a Django + DRF + simplejwt shop's API on PostgreSQL and Redis
#[derive(Parser, Debug)]
#[command(name = "target-shop", version)]
struct Args {
    /// Address to listen on
    #[arg(long, env = "SHOP_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// PostgreSQL URL (`cargo xtask up` prints one)
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Redis URL
    #[arg(long, env = "REDIS_URL")]
    redis_url: String,
    /// simplejwt's signing key (Django's SECRET_KEY)
    #[arg(
        long,
        env = "SHOP_JWT_SECRET",
        default_value = "shopload-insecure-development-key"
    )]
    jwt_secret: String,
    /// Access token lifetime
    #[arg(long, env = "SHOP_ACCESS_TOKEN_LIFETIME", default_value = "5m", value_parser = humantime::parse_duration)]
    access_token_lifetime: Duration,
    /// Refresh token lifetime
    #[arg(long, env = "SHOP_REFRESH_TOKEN_LIFETIME", default_value = "1d", value_parser = humantime::parse_duration)]
    refresh_token_lifetime: Duration,
    /// Database connections in the pool
    #[arg(long, env = "SHOP_POOL_SIZE", default_value_t = 20)]
    pool_size: u32,
    /// Run the embedded migrations before serving
    #[arg(long, env = "SHOP_MIGRATE")]
    migrate: bool,
    /// A known bug to switch on (repeatable): cart-405, short-token=SECS, no-cache, pool=N, no-lock,
    /// reservation-serializer, n-plus-one, inline-jobs
    #[arg(long = "fault", env = "SHOP_FAULTS", value_delimiter = ',')]
    faults: Vec<String>,
    /// Prefix of the shop's Redis keys
    #[arg(long, env = "SHOP_REDIS_PREFIX", default_value = "shop:")]
    redis_prefix: String,
    /// Base URL of the Toss Payments API (the toss-mock's by default)
    #[arg(long, env = "TOSS_URL", default_value = "http://127.0.0.1:8090")]
    toss_url: String,
    /// Toss secret key, sent as Basic base64("key:")
    #[arg(long, env = "TOSS_SECRET_KEY", default_value = "test_sk_shopload")]
    toss_secret_key: String,
    /// Longest wait for one Toss call; after it the payment is looked up by orderId
    #[arg(long, env = "TOSS_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    toss_timeout: Duration,
    /// How long an unpaid order's reservations hold stock before the worker expires them
    #[arg(long, env = "SHOP_RESERVATION_LIFETIME", default_value = "10m", value_parser = humantime::parse_duration)]
    reservation_lifetime: Duration,
    /// Do not run the job worker in this process (run `--worker-only` processes instead)
    #[arg(long, env = "SHOP_NO_WORKER", conflicts_with = "worker_only")]
    no_worker: bool,
    /// Run only the job worker: no HTTP server (`--listen` is ignored)
    #[arg(long, env = "SHOP_WORKER_ONLY")]
    worker_only: bool,
    /// Jobs one worker runs at once
    #[arg(long, env = "SHOP_WORKER_CONCURRENCY", default_value_t = 16)]
    worker_concurrency: usize,
    /// Simulated SMTP time of one order e-mail (spent by the worker, or in the request with the
    /// inline-jobs fault)
    #[arg(long, env = "SHOP_EMAIL_DELAY", default_value = "200ms", value_parser = humantime::parse_duration)]
    email_delay: Duration,
    /// Simulated points-service time of one point accrual
    #[arg(long, env = "SHOP_POINTS_DELAY", default_value = "100ms", value_parser = humantime::parse_duration)]
    points_delay: Duration,
    /// A job unacknowledged this long is taken over by another worker (its worker is presumed dead)
    #[arg(long, env = "SHOP_JOB_CLAIM_IDLE", default_value = "30s", value_parser = humantime::parse_duration)]
    job_claim_idle: Duration,
    /// How often the worker looks for expired reservations
    #[arg(long, env = "SHOP_EXPIRY_SWEEP_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    expiry_sweep_interval: Duration,
}

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

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
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
