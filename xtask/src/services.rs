//! The two servers every local run needs, started the same way by `phase` and `repro`: the Toss
//! mock and then the shop pointed at it, each on a free port behind its health check, with its
//! log in the run's report folder; and the mock's books, read as the mock's own type.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use launcher::{Launch, Service, free_port};
use toss_mock::stats::StatsReport;

/// A started server and its base URL.
pub struct Running {
    pub service: Service,
    pub url: String,
}

/// The Toss mock, seeded, with `extra` flags (chaos settings).
pub async fn toss_mock(binary: &Path, log_dir: &Path, extra: &[String]) -> anyhow::Result<Running> {
    toss_mock_at(binary, &log_dir.join("toss-mock.log"), extra, free_port()?).await
}

/// The Toss mock on `port` (the same one again, after a fault on purpose killed it).
pub async fn toss_mock_at(
    binary: &Path,
    log: &Path,
    extra: &[String],
    port: u16,
) -> anyhow::Result<Running> {
    let url = format!("http://127.0.0.1:{port}");
    let service = Launch::new(binary, log)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--seed", "1"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .health(format!("{url}/healthz"))
        .deadline(Duration::from_secs(30))
        .start()
        .await
        .context("starting toss-mock")?;
    Ok(Running { service, url })
}

/// The Toss mock's books (`GET /__mock/stats` at `url`), parsed as the mock's own wire type: a key
/// renamed on one side is an error naming it, never a zero.
pub async fn mock_stats(client: &reqwest::Client, url: &str) -> anyhow::Result<StatsReport> {
    let endpoint = format!("{url}/__mock/stats");
    client
        .get(&endpoint)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("asking the Toss mock for its books ({endpoint})"))?
        .json()
        .await
        .with_context(|| format!("reading the Toss mock's books ({endpoint})"))
}

/// What the shop is started on.
pub struct ShopConfig<'a> {
    pub database_url: &'a str,
    pub redis_url: &'a str,
    pub toss_url: &'a str,
    /// Keys of this run under their own prefix (runs sharing one Redis never meet).
    pub redis_prefix: Option<String>,
    pub faults: Vec<&'a str>,
    /// `--pool-timeout`, where the shop's default (30 s) would outlast the run.
    pub pool_timeout: Option<&'a str>,
}

pub async fn shop(binary: &Path, log_dir: &Path, c: &ShopConfig<'_>) -> anyhow::Result<Running> {
    shop_at(binary, &log_dir.join("target-shop.log"), c, free_port()?).await
}

/// The shop on `port` (the same one again, after a fault on purpose killed it).
pub async fn shop_at(
    binary: &Path,
    log: &Path,
    c: &ShopConfig<'_>,
    port: u16,
) -> anyhow::Result<Running> {
    let url = format!("http://127.0.0.1:{port}");
    let mut launch = Launch::new(binary, log)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", c.database_url])
        .args(["--redis-url", c.redis_url])
        .args(["--toss-url", c.toss_url]);
    if let Some(prefix) = &c.redis_prefix {
        launch = launch.args(["--redis-prefix", prefix]);
    }
    if let Some(timeout) = c.pool_timeout {
        launch = launch.args(["--pool-timeout", timeout]);
    }
    let service = launch
        .env("RUST_LOG", "info")
        .args(c.faults.iter().flat_map(|fault| ["--fault", fault]))
        .health(format!("{url}/healthz"))
        .deadline(Duration::from_secs(60))
        .start()
        // The launcher's error names the shop, and leads with the shop's own reason when it
        // refused to start (Django's ImproperlyConfigured and the fix): no context in front.
        .await?;
    Ok(Running { service, url })
}
