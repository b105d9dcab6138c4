//! `cargo xtask bench toss`: the release toss-mock driven from this process over 127.0.0.1, the
//! client sharing the machine's cores with the mock. Three figures: confirms per second and their
//! p99 at 500 concurrent payers (sessions opened beforehand, so only confirms are timed), then the
//! mock's resident memory half-way through and after 1,000,000 payments (open + confirm with an
//! Idempotency-Key) under short retentions, so eviction runs the whole time: bounded memory means
//! the second half adds (almost) nothing.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use launcher::{Launch, Service, free_port, procfs};

use crate::binaries::build_release;
use crate::services;
use crate::workspace;

const PAYERS: usize = 500;
const CONFIRM_SECONDS: u64 = 10;
/// Sessions opened before the timed confirms: more than 10 s can use at the target rate.
const SESSIONS: usize = 200_000;
const PAYMENTS_FOR_MEMORY: usize = 1_000_000;
const TARGET_CONFIRMS_PER_SECOND: f64 = 10_000.0;
/// Eviction keeps memory bounded: the second half million of payments may add at most this much
/// resident memory to what the first half left (a leak would double it).
const TARGET_RSS_GROWTH: f64 = 0.10;
const AUTH: &str = "Basic dGVzdF9za19zaG9wbG9hZDo="; // base64("test_sk_shopload:")

pub async fn run() -> anyhow::Result<ExitCode> {
    let binary = build_release("toss-mock")?;
    let logs = workspace::root().join("target").join("shopload");
    std::fs::create_dir_all(&logs)?;

    let throughput = {
        let (mock, base) = start(&binary, &logs.join("bench-toss-throughput.log"), &[]).await?;
        let throughput = confirm_throughput(&base).await?;
        mock.stop().await.context("stopping toss-mock")?;
        throughput
    };
    let memory = {
        // Retentions short enough that a million payments never sit in memory at once: what a
        // 30-minute soak at this rate would look like with the default day-long retention capped
        // by --max-payments.
        let (mock, base) = start(
            &binary,
            &logs.join("bench-toss-memory.log"),
            &[
                "--payment-retention",
                "10s",
                "--idempotency-retention",
                "10s",
            ],
        )
        .await?;
        let memory = memory_after(&mock, &base, PAYMENTS_FOR_MEMORY).await?;
        mock.stop().await.context("stopping toss-mock")?;
        memory
    };

    println!();
    println!("{:<52} {:>12} {:>14}", "figure", "value", "target");
    let rows = [
        (
            format!("confirms/s at {PAYERS} concurrent payers"),
            format!("{:.0}", throughput.per_second),
            format!(">= {TARGET_CONFIRMS_PER_SECOND:.0}"),
            throughput.per_second >= TARGET_CONFIRMS_PER_SECOND,
        ),
        (
            "confirm p50 / p99 (ms)".to_string(),
            format!("{:.2} / {:.2}", throughput.p50_ms, throughput.p99_ms),
            String::new(),
            true,
        ),
        (
            format!(
                "RSS after {} / {PAYMENTS_FOR_MEMORY} payments (MB)",
                PAYMENTS_FOR_MEMORY / 2
            ),
            format!("{:.1} / {:.1}", memory.half_rss_mb, memory.rss_mb),
            String::new(),
            true,
        ),
        (
            "RSS growth over the second half (bounded)".to_string(),
            format!("{:+.1} %", memory.growth() * 100.0),
            format!("< {:.0} %", TARGET_RSS_GROWTH * 100.0),
            memory.growth() < TARGET_RSS_GROWTH,
        ),
        (
            "peak RSS during them (MB)".to_string(),
            format!("{:.1}", memory.peak_mb),
            String::new(),
            true,
        ),
        (
            "payments/s while pushing them (open + confirm)".to_string(),
            format!("{:.0}", memory.per_second),
            String::new(),
            true,
        ),
        (
            "payments / idempotency records still stored".to_string(),
            format!("{} / {}", memory.stored_payments, memory.stored_records),
            String::new(),
            true,
        ),
    ];
    let mut within = true;
    for (name, value, target, ok) in rows {
        within &= ok;
        let mark = if ok {
            target
        } else {
            format!("{target} MISSED")
        };
        println!("{name:<52} {value:>12} {mark:>14}");
    }
    Ok(if within {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The mock and its base URL.
async fn start(
    binary: &std::path::Path,
    log: &std::path::Path,
    extra: &[&str],
) -> anyhow::Result<(Service, String)> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mock = Launch::new(binary, log)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .env("RUST_LOG", "warn")
        .health(format!("{base}/healthz"))
        .deadline(Duration::from_secs(30))
        .start()
        .await
        .context("starting toss-mock")?;
    Ok((mock, base))
}

fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(PAYERS)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

/// Opens a session; returns its paymentKey.
async fn open(
    client: &reqwest::Client,
    base: &str,
    order_id: &str,
    amount: u64,
) -> anyhow::Result<String> {
    let created: Value = client
        .post(format!("{base}/__mock/payments"))
        .header("authorization", AUTH)
        .json(&json!({"orderId": order_id, "amount": amount}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    created["paymentKey"]
        .as_str()
        .map(str::to_string)
        .context("no paymentKey in the session")
}

async fn confirm(
    client: &reqwest::Client,
    base: &str,
    payment_key: &str,
    order_id: &str,
    amount: u64,
    idempotency_key: Option<&str>,
) -> anyhow::Result<()> {
    let mut request = client
        .post(format!("{base}/v1/payments/confirm"))
        .header("authorization", AUTH)
        .json(&json!({"paymentKey": payment_key, "orderId": order_id, "amount": amount}));
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await?;
    let status = response.status();
    // Read the whole Payment, as a shop would.
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!(
            "confirm {order_id}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// Runs `work(i)` for i in 0..n on `PAYERS` concurrent tasks, until done or `deadline`.
async fn fan_out<F, Fut>(n: usize, deadline: Option<Instant>, work: F) -> anyhow::Result<usize>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let mut tasks: tokio::task::JoinSet<anyhow::Result<()>> = tokio::task::JoinSet::new();
    for _ in 0..PAYERS {
        let (next, done, work) = (next.clone(), done.clone(), work.clone());
        tasks.spawn(async move {
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(());
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok(());
                }
                work(i).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("a payer task panicked")??;
    }
    Ok(done.load(Ordering::Relaxed))
}

struct Throughput {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn confirm_throughput(base: &str) -> anyhow::Result<Throughput> {
    let client = client()?;
    let base = base.to_owned();
    eprintln!("opening {SESSIONS} sessions...");
    let keys: Arc<Vec<std::sync::OnceLock<String>>> =
        Arc::new((0..SESSIONS).map(|_| std::sync::OnceLock::new()).collect());
    {
        let (client, base, keys) = (client.clone(), base.clone(), keys.clone());
        fan_out(SESSIONS, None, move |i| {
            let (client, base, keys) = (client.clone(), base.clone(), keys.clone());
            async move {
                let key = open(&client, &base, &format!("bench-t-{i:08}"), 1000 + i as u64).await?;
                let _ = keys[i].set(key);
                Ok(())
            }
        })
        .await?;
    }
    eprintln!("confirming with {PAYERS} payers for {CONFIRM_SECONDS} s...");
    let histogram = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(CONFIRM_SECONDS);
    let confirmed = {
        let histogram = histogram.clone();
        fan_out(SESSIONS, Some(deadline), move |i| {
            let (client, base, keys, histogram) = (
                client.clone(),
                base.clone(),
                keys.clone(),
                histogram.clone(),
            );
            async move {
                let key = keys[i].get().context("a session was not opened")?;
                let t = Instant::now();
                confirm(
                    &client,
                    &base,
                    key,
                    &format!("bench-t-{i:08}"),
                    1000 + i as u64,
                    None,
                )
                .await?;
                let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                if let Ok(mut h) = histogram.lock() {
                    h.saturating_record(micros.max(1));
                }
                Ok(())
            }
        })
        .await?
    };
    let elapsed = started.elapsed().as_secs_f64();
    if confirmed >= SESSIONS {
        eprintln!("warning: every session was confirmed before the deadline; raise SESSIONS");
    }
    let h = histogram
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram lock poisoned"))?;
    Ok(Throughput {
        per_second: confirmed as f64 / elapsed,
        p50_ms: h.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
    })
}

struct Memory {
    half_rss_mb: f64,
    rss_mb: f64,
    peak_mb: f64,
    per_second: f64,
    stored_payments: usize,
    stored_records: usize,
}

impl Memory {
    fn growth(&self) -> f64 {
        self.rss_mb / self.half_rss_mb - 1.0
    }
}

async fn memory_after(mock: &Service, base: &str, payments: usize) -> anyhow::Result<Memory> {
    let client = client()?;
    eprintln!("pushing {payments} payments (open + confirm), RSS read half-way and at the end...");
    let started = Instant::now();
    let half = payments / 2;
    push_payments(&client, base, 0..half).await?;
    let half_rss_mb = rss_mb(mock)?;
    push_payments(&client, base, half..payments).await?;
    let per_second = payments as f64 / started.elapsed().as_secs_f64();
    let stats = services::mock_stats(&client, base).await?;
    let memory = procfs::memory(mock.pid()).context("reading the mock's /proc status")?;
    Ok(Memory {
        half_rss_mb,
        rss_mb: megabytes(memory.rss).context("no VmRSS in /proc status")?,
        peak_mb: megabytes(memory.peak_rss).context("no VmHWM in /proc status")?,
        per_second,
        stored_payments: stats.stored.payments,
        stored_records: stats.stored.idempotency_records,
    })
}

/// Opens and confirms (with an Idempotency-Key) one payment per index of `range`.
async fn push_payments(
    client: &reqwest::Client,
    base: &str,
    range: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    let (client, base, first) = (client.clone(), base.to_string(), range.start);
    fan_out(range.len(), None, move |i| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let order = format!("bench-m-{:08}", first + i);
            let key = open(&client, &base, &order, 1000).await?;
            let idem = format!("confirm:{order}");
            confirm(&client, &base, &key, &order, 1000, Some(&idem)).await
        }
    })
    .await
    .map(|_| ())
}

/// The mock's resident memory now, in MB.
fn rss_mb(mock: &Service) -> anyhow::Result<f64> {
    let memory = procfs::memory(mock.pid()).context("reading the mock's /proc status")?;
    megabytes(memory.rss).context("no VmRSS in /proc status")
}

fn megabytes(bytes: Option<u64>) -> Option<f64> {
    bytes.map(|b| b as f64 / 1_048_576.0)
}
