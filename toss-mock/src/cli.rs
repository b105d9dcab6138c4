//! `toss-mock`'s flags, each with an environment fallback: the `--help`. Kept in the library so
//! that the docs' test reads the same flags the binary parses.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use crate::Latency;

/// A Toss Payments v1 mock: confirm, lookup and cancel, idempotency, test codes and seeded chaos
#[derive(Parser, Debug)]
#[command(name = "toss-mock", version)]
pub struct Args {
    /// Address to listen on
    #[arg(long, env = "TOSS_MOCK_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
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
    pub secret_keys: Vec<String>,
    /// Seed of every random choice (chaos, keys), so a run can be repeated
    #[arg(long, env = "TOSS_MOCK_SEED", default_value_t = 0)]
    pub seed: u64,
    /// How long a READY session (checkout open) lives: 30m, 90s, or plain seconds
    #[arg(long, env = "TOSS_MOCK_READY_EXPIRY", default_value = "30m", value_parser = duration)]
    pub ready_expiry: Duration,
    /// How long an IN_PROGRESS session (buyer authenticated) waits for its confirm
    #[arg(long, env = "TOSS_MOCK_IN_PROGRESS_EXPIRY", default_value = "10m", value_parser = duration)]
    pub in_progress_expiry: Duration,
    /// Latency added to every confirm: fixed:50ms or lognormal:median=120ms,p99=900ms
    #[arg(long, env = "TOSS_MOCK_LATENCY")]
    pub latency: Option<Latency>,
    /// Fraction of confirms refused with --error-code (the payment ends ABORTED)
    #[arg(long, env = "TOSS_MOCK_ERROR_RATE", default_value_t = 0.0)]
    pub error_rate: f64,
    /// The code those refusals carry
    #[arg(long, env = "TOSS_MOCK_ERROR_CODE", default_value = "PROVIDER_ERROR")]
    pub error_code: String,
    /// Fraction of confirms that hang for --hang, then close the connection without an answer
    #[arg(long, env = "TOSS_MOCK_TIMEOUT_RATE", default_value_t = 0.0)]
    pub timeout_rate: f64,
    /// How long a timed-out confirm hangs
    #[arg(long, env = "TOSS_MOCK_HANG", default_value = "30s", value_parser = duration)]
    pub hang: Duration,
    /// Fraction of confirms that approve the payment, then close the connection without an answer
    #[arg(long, env = "TOSS_MOCK_COMMIT_THEN_DROP_RATE", default_value_t = 0.0)]
    pub commit_then_drop_rate: f64,
    /// How long an Idempotency-Key's first answer is replayed (Toss: 15 days)
    #[arg(long, env = "TOSS_MOCK_IDEMPOTENCY_RETENTION", default_value = "15days", value_parser = duration)]
    pub idempotency_retention: Duration,
    /// Idempotency records kept at most (~1.5 KB each), oldest evicted first
    #[arg(
        long,
        env = "TOSS_MOCK_IDEMPOTENCY_MAX_RECORDS",
        default_value_t = 100_000
    )]
    pub idempotency_max_records: usize,
    /// How long a payment stays queryable after its session was created
    #[arg(long, env = "TOSS_MOCK_PAYMENT_RETENTION", default_value = "1day", value_parser = duration)]
    pub payment_retention: Duration,
    /// Payments kept at most (~300 bytes each), oldest evicted first
    #[arg(long, env = "TOSS_MOCK_MAX_PAYMENTS", default_value_t = 1_000_000)]
    pub max_payments: usize,
    /// Where POST /__mock/payments says the buyer's browser goes after paying
    #[arg(
        long,
        env = "TOSS_MOCK_SUCCESS_URL",
        default_value = "http://127.0.0.1:8000/payments/success"
    )]
    pub success_url: String,
}

/// `30m`, `1day`, or plain seconds (`90`), as tests like to give expiries.
pub fn duration(s: &str) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(s).map_err(|e| e.to_string()),
    }
}
