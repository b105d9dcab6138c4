//! `cargo xtask up`: start the stack and print shell `export` lines for its URLs. In the
//! foreground it stays until Ctrl-C (or SIGTERM) and then removes everything; with `--detach` it
//! writes `stack.json` and leaves the stack to `cargo xtask down`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use fixtures::stack::{Stack, StackRecord};

use crate::stack_args::StackArgs;
use crate::workspace;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Leave the stack running after this command returns (stop it with `cargo xtask down`)
    #[arg(long)]
    pub detach: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let record_path = workspace::stack_file(&args.stack.state_dir);
    clear_stale_record(&record_path).await?;

    crate::provider::ensure(&args.stack.config()).await?;
    let stack = Stack::start(&args.stack.config())
        .await
        .context("starting the stack")?;
    print_exports(stack.database_url(), stack.redis_url())?;

    if args.detach {
        let record = detach(stack, &record_path).await?;
        println!(
            "# {} stack recorded in {}; stop it with: cargo xtask down",
            record.provider,
            record_path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }

    // Where the data lives: the state dir, or the system temp dir when running as root under a
    // directory the postgres user cannot enter.
    let data = stack
        .record()
        .data_dir
        .map(|dir| format!(", data in {}", dir.display()))
        .unwrap_or_default();
    note(&format!(
        "{} stack up{data}; Ctrl-C stops it and removes its data",
        stack.provider()
    ));
    shutdown_signal().await;
    note("stopping the stack");
    stack.stop().await.context("stopping the stack")?;
    note("stack stopped");
    Ok(ExitCode::SUCCESS)
}

/// Refuses to start when the recorded stack still runs (one record, one stack); clears a record
/// whose servers are all gone (a reboot, say). `phase --keep-stack` checks the same before it runs.
pub(crate) async fn clear_stale_record(record_path: &Path) -> anyhow::Result<()> {
    if let Some(existing) = StackRecord::load(record_path)? {
        let states = existing.components().await;
        if states.iter().any(|s| s.running) {
            bail!(
                "a {} stack is already recorded at {} and still runs; `cargo xtask status` shows \
                 it, `cargo xtask down` stops it",
                existing.provider,
                record_path.display()
            );
        }
        existing.stop().await.ok();
        std::fs::remove_file(record_path).ok();
    }
    Ok(())
}

/// Leaves the stack running, recorded at `record_path` for `cargo xtask down` and `status`.
pub(crate) async fn detach(stack: Stack, record_path: &Path) -> anyhow::Result<StackRecord> {
    let record = stack.detach();
    if let Err(e) = record.save(record_path) {
        // Nobody could stop it later without the record: stop it now.
        record.stop().await.ok();
        return Err(e).context("recording the detached stack");
    }
    Ok(record)
}

/// A line on stderr that never fails: after Ctrl-C a pipe reader (`| tee`) may be gone already,
/// and cleanup must go on regardless.
fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn print_exports(database_url: &str, redis_url: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "export DATABASE_URL='{database_url}'")?;
    writeln!(out, "export REDIS_URL='{redis_url}'")?;
    out.flush()?;
    Ok(())
}

/// Ctrl-C or SIGTERM, whichever comes first.
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
}
