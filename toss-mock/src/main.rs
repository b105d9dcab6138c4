//! `toss-mock`: parses flags (each with an environment fallback), sets up logging, binds, and
//! serves until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use toss_mock::{Chaos, Config, Latency};

/// A Toss Payments v1 mock: confirm, lookup and cancel, idempotency, test codes and seeded chaos
#[derive(Parser, Debug)]
#[command(name = "toss-mock", version)]
struct Args {
    /// Address to listen on
    #[arg(long, env = "TOSS_MOCK_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// A secret key to accept (repeatable; the variable takes a comma-separated list)
    #[arg(
        long = "secret-key",
        env = "TOSS_MOCK_SECRET_KEYS",
        value_delimiter = ',',
        default_values_t = [
            "test_sk_shopload".to_string(),
            "test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6".to_string(),
        ]
    )]
    secret_keys: Vec<String>,
    /// Seed of every random choice (chaos, keys), so a run can be repeated
    #[arg(long, env = "TOSS_MOCK_SEED", default_value_t = 0)]
    seed: u64,
    /// How long a READY session (checkout open) lives: 30m, 90s, or plain seconds
    #[arg(long, env = "TOSS_MOCK_READY_EXPIRY", default_value = "30m", value_parser = duration)]
    ready_expiry: Duration,
    /// How long an IN_PROGRESS session (buyer authenticated) waits for its confirm
    #[arg(long, env = "TOSS_MOCK_IN_PROGRESS_EXPIRY", default_value = "10m", value_parser = duration)]
    in_progress_expiry: Duration,
    /// Latency added to every confirm: fixed:50ms or lognormal:median=120ms,p99=900ms
    #[arg(long, env = "TOSS_MOCK_LATENCY")]
    latency: Option<Latency>,
    /// Fraction of confirms refused with --error-code (the payment ends ABORTED)
    #[arg(long, env = "TOSS_MOCK_ERROR_RATE", default_value_t = 0.0)]
    error_rate: f64,
    /// The code those refusals carry
    #[arg(long, env = "TOSS_MOCK_ERROR_CODE", default_value = "PROVIDER_ERROR")]
    error_code: String,
    /// Fraction of confirms that hang for --hang, then close the connection without an answer
    #[arg(long, env = "TOSS_MOCK_TIMEOUT_RATE", default_value_t = 0.0)]
    timeout_rate: f64,
    /// How long a timed-out confirm hangs
    #[arg(long, env = "TOSS_MOCK_HANG", default_value = "30s", value_parser = duration)]
    hang: Duration,
    /// Fraction of confirms that approve the payment, then close the connection without an answer
    #[arg(long, env = "TOSS_MOCK_COMMIT_THEN_DROP_RATE", default_value_t = 0.0)]
    commit_then_drop_rate: f64,
    /// How long an Idempotency-Key's first answer is replayed (Toss: 15 days)
    #[arg(long, env = "TOSS_MOCK_IDEMPOTENCY_RETENTION", default_value = "15days", value_parser = duration)]
    idempotency_retention: Duration,
    /// Idempotency records kept at most (~1.5 KB each), oldest evicted first
    #[arg(
        long,
        env = "TOSS_MOCK_IDEMPOTENCY_MAX_RECORDS",
        default_value_t = 100_000
    )]
    idempotency_max_records: usize,
    /// How long a payment stays queryable after its session was created
    #[arg(long, env = "TOSS_MOCK_PAYMENT_RETENTION", default_value = "1day", value_parser = duration)]
    payment_retention: Duration,
    /// Payments kept at most (~300 bytes each), oldest evicted first
    #[arg(long, env = "TOSS_MOCK_MAX_PAYMENTS", default_value_t = 1_000_000)]
    max_payments: usize,
    /// Where POST /__mock/payments says the buyer's browser goes after paying
    #[arg(
        long,
        env = "TOSS_MOCK_SUCCESS_URL",
        default_value = "http://127.0.0.1:8000/payments/success"
    )]
    success_url: String,
}

/// `30m`, `1day`, or plain seconds (`90`), as tests like to give expiries.
fn duration(s: &str) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(s).map_err(|e| e.to_string()),
    }
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
