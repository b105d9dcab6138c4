//! `cargo xtask bench shop`: the release shop on a seeded stack, measured with wrk on 127.0.0.1.
//! wrk shares the machine's cores with the shop and PostgreSQL, as on a laptop or a CI runner.
//! With the `auto` provider it prefers local servers: through Docker's published ports every
//! database round trip also crosses the engine's userland proxy, which would be measured as the
//! shop's time (`--provider docker` measures that path on purpose).

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use fixtures::stack::{Provider, Stack};
use launcher::{Launch, free_port};

use crate::binaries::build_release;
use crate::stack_args::StackArgs;
use crate::workspace;

struct Figure {
    name: &'static str,
    requests_per_second: f64,
    p99_ms: f64,
    target_rps: Option<f64>,
    target_p99_ms: Option<f64>,
}

pub async fn run(stack_args: &StackArgs) -> anyhow::Result<ExitCode> {
    which_wrk()?;
    let shop_binary = build_release("target-shop")?;
    let fixtures_binary = build_release("fixtures")?;
    let stack = start_stack(stack_args).await?;
    println!("stack: {} provider", stack.provider());
    let result = measure(&shop_binary, &fixtures_binary, &stack).await;
    stack.stop().await.context("stopping the stack")?;
    let figures = result?;
    println!();
    println!(
        "{:<34} {:>10} {:>9} {:>16}",
        "endpoint", "req/s", "p99 ms", "target"
    );
    let mut within = true;
    for f in &figures {
        let mut target = Vec::new();
        if let Some(rps) = f.target_rps {
            within &= f.requests_per_second >= rps;
            target.push(format!(">= {rps:.0}/s"));
        }
        if let Some(p99) = f.target_p99_ms {
            within &= f.p99_ms < p99;
            target.push(format!("p99 < {p99:.0}"));
        }
        println!(
            "{:<34} {:>10.0} {:>9.2} {:>16}",
            f.name,
            f.requests_per_second,
            f.p99_ms,
            target.join(", ")
        );
    }
    Ok(if within {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Local servers when `auto` was asked for and their binaries are installed; else `auto`'s choice.
async fn start_stack(stack_args: &StackArgs) -> anyhow::Result<Stack> {
    let config = stack_args.config();
    let given_urls = stack_args.database_url.is_some() || stack_args.redis_url.is_some();
    if config.provider == Provider::Auto && !given_urls {
        let local = fixtures::stack::StackConfig {
            provider: Provider::Local,
            ..config.clone()
        };
        match Stack::start(&local).await {
            Ok(stack) => return Ok(stack),
            Err(e) => eprintln!("no local servers ({e}); the auto provider's choice instead"),
        }
    }
    Stack::start(&config).await.context("starting the stack")
}

async fn measure(
    shop_binary: &std::path::Path,
    fixtures_binary: &std::path::Path,
    stack: &Stack,
) -> anyhow::Result<Vec<Figure>> {
    let seed = Command::new(fixtures_binary)
        .args(["seed", "--migrate", "--database-url", stack.database_url()])
        .output()
        .context("seeding")?;
    if !seed.status.success() {
        bail!("seeding failed: {}", String::from_utf8_lossy(&seed.stderr));
    }
    let port = free_port()?;
    let reports = workspace::root().join("target").join("shopload");
    std::fs::create_dir_all(&reports)?;
    let base = format!("http://127.0.0.1:{port}");
    let shop = Launch::new(shop_binary, reports.join("bench-shop.log"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", stack.database_url()])
        .args(["--redis-url", stack.redis_url()])
        .env("RUST_LOG", "warn")
        .health(format!("{base}/healthz"))
        .deadline(std::time::Duration::from_secs(30))
        .start()
        .await
        .context("starting target-shop")?;
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{base}/api/auth/login/"))
        .json(&serde_json::json!({"username": "load_test_user_0", "password": "testpass123"}))
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?;
    let token = login["access"]
        .as_str()
        .context("no access token from login")?
        .to_string();
    let product: i64 = client
        .get(format!("{base}/api/products/"))
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?["results"][0]["id"]
        .as_i64()
        .context("no product listed")?;

    let script = reports.join("bench-login.lua");
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.body = '{\"username\":\"load_test_user_1\",\"password\":\"testpass123\"}'\n",
    )?;
    let auth = format!("Authorization: Bearer {token}");
    let figures = vec![
        wrk(
            "GET /api/products/ (anonymous, cached)",
            &format!("{base}/api/products/"),
            &[],
            Some(10_000.0),
            Some(20.0),
        )?,
        wrk(
            "GET /api/products/{id}/",
            &format!("{base}/api/products/{product}/"),
            &[],
            Some(5_000.0),
            Some(20.0),
        )?,
        wrk(
            "GET /api/cart/ (authenticated)",
            &format!("{base}/api/cart/"),
            &["-H", &auth],
            None,
            None,
        )?,
        wrk(
            "POST /api/auth/login/ (1M iterations)",
            &format!("{base}/api/auth/login/"),
            &["-s", &script.to_string_lossy()],
            None,
            None,
        )?,
    ];
    shop.stop().await.context("stopping target-shop")?;
    Ok(figures)
}

fn which_wrk() -> anyhow::Result<()> {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(_) => bail!("wrk is not installed: `apt-get install wrk`"),
    }
}

/// 10 s of wrk (2 threads, 64 connections) against `url`.
fn wrk(
    name: &'static str,
    url: &str,
    extra: &[&str],
    target_rps: Option<f64>,
    target_p99_ms: Option<f64>,
) -> anyhow::Result<Figure> {
    let output = Command::new("wrk")
        .args(["-t2", "-c64", "-d10s", "--latency"])
        .args(extra)
        .arg(url)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {text}");
    }
    if text.contains("Non-2xx") {
        bail!("{name}: wrk saw non-2xx answers:\n{text}");
    }
    let requests_per_second = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let p99_ms = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| milliseconds(v.trim()))
        .with_context(|| format!("no 99% line in wrk's output:\n{text}"))?;
    println!("{name}: {requests_per_second:.0} req/s, p99 {p99_ms:.2} ms");
    Ok(Figure {
        name,
        requests_per_second,
        p99_ms,
        target_rps,
        target_p99_ms,
    })
}

/// wrk's `1.23ms`, `456.00us`, `1.50s`.
fn milliseconds(value: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}
