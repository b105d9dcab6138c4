//! `target-shop`: parses flags (each with an environment fallback), sets up logging, binds, and
//! serves until Ctrl-C or SIGTERM.

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
    /// A known bug to switch on (repeatable): cart-405, short-token=SECS, no-cache, pool=N, no-lock
    #[arg(long = "fault", env = "SHOP_FAULTS", value_delimiter = ',')]
    faults: Vec<String>,
    /// Prefix of the shop's Redis keys
    #[arg(long, env = "SHOP_REDIS_PREFIX", default_value = "shop:")]
    redis_prefix: String,
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
