//! `cargo xtask bench seed`: the seeder's speed against the plan's targets, with the Django way
//! (one PBKDF2 per user) beside it. Builds the release `fixtures` binary once and runs it as a user
//! would, on a fresh stack that is removed afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};
use fixtures::stack::Stack;

use crate::binaries::build_release;
use crate::stack_args::StackArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to measure
    #[arg(value_enum)]
    pub target: Target,
    #[command(flatten)]
    pub stack: StackArgs,
    /// Users of the large run (the plan's scale test is 1,000,000)
    #[arg(long, default_value_t = 1_000_000)]
    pub large_users: u32,
    /// Products of the large run
    #[arg(long, default_value_t = 10_000)]
    pub large_products: u32,
    /// bench loadgen: another loadgen binary (an earlier commit's release build) measured in the
    /// same run, on the same endpoints, for a before/after table
    #[arg(long, value_name = "BINARY")]
    pub baseline: Option<PathBuf>,
    /// bench loadgen and distributed: rounds of every client in turn; each figure is the median of its rounds, so
    /// a slow spell of a shared machine lands on every client alike instead of one
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// bench loadgen: over HTTPS instead (nginx ending TLS), beside wrk and Locust FastHttpUser
    /// over HTTPS (>= 0.8x wrk)
    #[arg(long)]
    pub tls: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum Target {
    /// fixtures seed: 1000 users + 100 products (< 1 s), the large run (< 30 s), the Django way
    Seed,
    /// target-shop under wrk: product list (>= 10,000 req/s), detail (>= 5,000 req/s, p99 < 20 ms),
    /// cart read, and logins at 1,000,000 PBKDF2 iterations
    Shop,
    /// loadgen beside wrk and Locust FastHttpUser on one core (>= 20x Locust, >= 0.9x wrk), the shop
    /// scenario against an instant stub, its RSS at 10,000 idle users (< 200 MB), and its corrected
    /// p99/p99.9 against 1 s stalls
    Loadgen,
    /// toss-mock: confirm throughput and p99 at 500 concurrent payers, RSS after 1M payments
    Toss,
    /// loadgen as a worker of a real Locust master beside Locust's FastHttpUser workers, 1 and 2
    /// of each: requests/s per worker core (>= 15x Locust's) and the master's CPU
    Distributed,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.target {
        Target::Seed => seed(args).await,
        Target::Shop => crate::bench_shop::run(&args.stack).await,
        Target::Loadgen if args.tls => crate::bench_tls::run(args.rounds).await,
        Target::Loadgen => crate::bench_loadgen::run(args.baseline.as_deref(), args.rounds).await,
        Target::Toss => crate::bench_toss::run().await,
        Target::Distributed => crate::bench_distributed::run(args.rounds).await,
    }
}

async fn seed(args: Args) -> anyhow::Result<ExitCode> {
    let binary = build_release("fixtures")?;
    let stack = Stack::start(&args.stack.config())
        .await
        .context("starting the stack")?;
    let result = seed_runs(&binary, stack.database_url(), &args);
    stack.stop().await.context("stopping the stack")?;
    let rows = result?;

    let iterations = 1_000_000;
    let one_hash = {
        let started = Instant::now();
        django_password::make("testpass123", "benchsaltbenchsaltbe12", iterations);
        started.elapsed()
    };
    println!();
    println!("{:<44} {:>10} {:>8}", "run", "seconds", "target");
    let mut within = true;
    for (name, seconds, target) in &rows {
        let mark = match target {
            Some(t) if seconds > t => {
                within = false;
                format!("< {t} MISSED")
            }
            Some(t) => format!("< {t}"),
            None => String::new(),
        };
        println!("{name:<44} {seconds:>10.3} {mark:>8}");
    }
    for users in [1000u64, u64::from(args.large_users)] {
        println!(
            "{:<44} {:>10.1}",
            format!("Django's create_user x {users} (estimate)"),
            one_hash.as_secs_f64() * users as f64
        );
    }
    println!(
        "(one PBKDF2-SHA256 at {iterations} iterations took {:.3} s here; Django pays it per user)",
        one_hash.as_secs_f64()
    );
    Ok(if within {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `(name, seconds, target)` of each run, as the seeder itself reported its time.
fn seed_runs(
    binary: &Path,
    database_url: &str,
    args: &Args,
) -> anyhow::Result<Vec<(String, f64, Option<f64>)>> {
    let run = |extra: &[String]| -> anyhow::Result<String> {
        let output = Command::new(binary)
            .arg("seed")
            .args(["--database-url", database_url])
            .args(extra)
            .env_remove("DATABASE_URL")
            .output()
            .with_context(|| format!("running {}", binary.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "fixtures seed {extra:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        println!("{}", stdout.trim());
        Ok(stdout.into_owned())
    };
    let timed = |extra: &[String]| -> anyhow::Result<f64> {
        let stdout = run(extra)?;
        seconds_in(&stdout).with_context(|| format!("no time in {stdout:?}"))
    };
    let args_of = |users: u32, products: u32| {
        vec![
            "--users".to_string(),
            users.to_string(),
            "--products".into(),
            products.to_string(),
        ]
    };
    let mut rows = Vec::new();
    run(&["--migrate".into(), "--clean".into()])?;
    let seconds = timed(&args_of(1000, 100))?;
    rows.push((
        "1000 users + 100 products (fresh)".to_string(),
        seconds,
        Some(1.0),
    ));
    let seconds = timed(&args_of(1000, 100))?;
    rows.push((
        "1000 users + 100 products (re-run)".to_string(),
        seconds,
        Some(1.0),
    ));
    run(&["--clean".into()])?;
    let seconds = timed(&args_of(args.large_users, args.large_products))?;
    rows.push((
        format!(
            "{} users + {} products (fresh)",
            args.large_users, args.large_products
        ),
        seconds,
        Some(30.0),
    ));
    let started = Instant::now();
    run(&["--clean".into()])?;
    rows.push((
        "--clean of the large run".to_string(),
        started.elapsed().as_secs_f64(),
        None,
    ));
    Ok(rows)
}

/// The `in N.NNN s` of a summary line.
fn seconds_in(summary: &str) -> Option<f64> {
    let after = summary.split(" in ").nth(1)?;
    after.split_whitespace().next()?.parse().ok()
}
