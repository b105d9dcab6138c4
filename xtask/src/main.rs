//! `cargo xtask`: the project's one command for everything that is not `cargo build` or
//! `cargo test`. One module per subcommand; this file only parses and dispatches.
//!
//! Exit codes: 0 done, 1 a check said no (`status` with something down), 2 bad input or a failure,
//! with a one-line reason on stderr.

mod bench;
mod bench_distributed;
mod bench_loadgen;
mod bench_rounds;
mod bench_shop;
mod bench_tls;
mod bench_toss;
mod bench_web;
mod binaries;
mod down;
mod fault;
mod fuzz_api;
mod index;
mod phase;
mod provider;
mod reconciliation;
mod repro;
mod seed;
mod services;
mod stack_args;
mod status;
mod up;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "shopload's tasks: the PostgreSQL + Redis stack, test data, the plan's phases, \
             reproductions of its errors, benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start PostgreSQL and Redis and print `export DATABASE_URL=... REDIS_URL=...` lines
    Up(up::Args),
    /// Stop the stack that `up --detach` recorded, and remove its containers or data
    Down(down::Args),
    /// Say what the recorded stack runs and whether it answers
    Status(status::Args),
    /// Write the plan's test data (1000 users, 100 products, stock), or remove it with --clean
    Seed(seed::Args),
    /// Run a phase of the load-test plan end to end: stack, seed, mock, shop, load, verdict, report
    Phase(Box<phase::Args>),
    /// The live web UI on 127.0.0.1:8089 against the shop (a phase's stack, seed, mock, shop and
    /// every monitor wired): Locust's workflow, 10 users at 2/s, then Edit up step by step
    #[command(mut_arg("phase", |a| a.default_value("stress").required(false)))]
    // Faults need a fixed start of the load, which a UI run does not have.
    #[command(mut_arg("inject", |a| a.hide(true)))]
    Ui(Box<phase::Args>),
    /// Reproduce an error of the plan with its bug on, then show it gone with the fix (--list)
    Repro(repro::Args),
    /// Measure against the performance targets (seed, shop, loadgen, toss)
    Bench(bench::Args),
    /// schemathesis against the real shop and Toss mock from their OpenAPI documents (stateful
    /// too): any server error or answer outside the document fails
    FuzzApi(fuzz_api::Args),
}

fn main() -> ExitCode {
    // Clap's own errors (unknown flag, bad value) exit 2 with its usage text.
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,xtask=info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => up::run(args).await,
            Command::Down(args) => down::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Seed(args) => seed::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Phase(args) => phase::run(*args).await,
            Command::Ui(mut args) => {
                args.ui = true;
                phase::run(*args).await
            }
            Command::Repro(args) => repro::run(args).await,
            Command::FuzzApi(args) => fuzz_api::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
