//! `target-shop`'s flags, each with an environment fallback: the `--help`. Kept in the library so
//! that the docs' test reads the same flags the binary parses.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// The reference shop: a Django + DRF + simplejwt shop's API on PostgreSQL and Redis
#[derive(Parser, Debug)]
#[command(name = "target-shop", version)]
pub struct Args {
    /// Address to listen on
    #[arg(long, env = "SHOP_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// PostgreSQL URL (`cargo xtask up` prints one)
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Redis URL
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: String,
    /// simplejwt's signing key (Django's SECRET_KEY)
    #[arg(
        long,
        env = "SHOP_JWT_SECRET",
        default_value = "shopload-insecure-development-key"
    )]
    pub jwt_secret: String,
    /// Access token lifetime
    #[arg(long, env = "SHOP_ACCESS_TOKEN_LIFETIME", default_value = "5m", value_parser = humantime::parse_duration)]
    pub access_token_lifetime: Duration,
    /// Refresh token lifetime
    #[arg(long, env = "SHOP_REFRESH_TOKEN_LIFETIME", default_value = "1d", value_parser = humantime::parse_duration)]
    pub refresh_token_lifetime: Duration,
    /// Database connections in the pool
    #[arg(long, env = "SHOP_POOL_SIZE", default_value_t = 20)]
    pub pool_size: u32,
    /// Longest wait for a pooled connection (opening one included) before the request fails
    /// with a 500
    #[arg(long, env = "SHOP_POOL_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub pool_timeout: Duration,
    /// Longest a client may take to send a request's headers (or, on a kept-alive connection,
    /// to start the next request) before the connection is closed
    #[arg(long, env = "SHOP_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// Longest a request waits for Redis (cache, job queue, health check) before it goes on
    /// without it: the cache read falls back to PostgreSQL, jobs wait in the database
    #[arg(long, env = "SHOP_REDIS_TIMEOUT", default_value = "150ms", value_parser = humantime::parse_duration)]
    pub redis_timeout: Duration,
    /// Run the embedded migrations before serving
    #[arg(long, env = "SHOP_MIGRATE")]
    pub migrate: bool,
    /// A known bug to switch on (repeatable): cart-405, short-token=SECS, no-cache, pool=N, no-lock,
    /// reservation-serializer, n-plus-one, inline-jobs, single-worker, missing-index, leak=KIB,
    /// missing-app
    #[arg(long = "fault", env = "SHOP_FAULTS", value_delimiter = ',')]
    pub faults: Vec<String>,
    /// Prefix of the shop's Redis keys
    #[arg(long, env = "SHOP_REDIS_PREFIX", default_value = "shop:")]
    pub redis_prefix: String,
    /// Base URL of the Toss Payments API (the toss-mock's by default)
    #[arg(long, env = "TOSS_URL", default_value = "http://127.0.0.1:8090")]
    pub toss_url: String,
    /// Toss secret key, sent as Basic base64("key:")
    #[arg(long, env = "TOSS_SECRET_KEY", default_value = "test_sk_shopload")]
    pub toss_secret_key: String,
    /// Longest wait for one Toss call; after it the payment is looked up by orderId
    #[arg(long, env = "TOSS_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub toss_timeout: Duration,
    /// How long an unpaid order's reservations hold stock before the worker expires them
    #[arg(long, env = "SHOP_RESERVATION_LIFETIME", default_value = "10m", value_parser = humantime::parse_duration)]
    pub reservation_lifetime: Duration,
    /// Do not run the job worker in this process (run `--worker-only` processes instead)
    #[arg(long, env = "SHOP_NO_WORKER", conflicts_with = "worker_only")]
    pub no_worker: bool,
    /// Run only the job worker: no HTTP server (`--listen` is ignored)
    #[arg(long, env = "SHOP_WORKER_ONLY")]
    pub worker_only: bool,
    /// Jobs one worker runs at once
    #[arg(long, env = "SHOP_WORKER_CONCURRENCY", default_value_t = 16)]
    pub worker_concurrency: usize,
    /// Simulated SMTP time of one order e-mail (spent by the worker, or in the request with the
    /// inline-jobs fault)
    #[arg(long, env = "SHOP_EMAIL_DELAY", default_value = "200ms", value_parser = humantime::parse_duration)]
    pub email_delay: Duration,
    /// Simulated points-service time of one point accrual
    #[arg(long, env = "SHOP_POINTS_DELAY", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub points_delay: Duration,
    /// A job unacknowledged this long is taken over by another worker (its worker is presumed dead)
    #[arg(long, env = "SHOP_JOB_CLAIM_IDLE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub job_claim_idle: Duration,
    /// How often the worker looks for expired reservations
    #[arg(long, env = "SHOP_EXPIRY_SWEEP_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub expiry_sweep_interval: Duration,
}
