//! `cargo xtask down`: stop the stack `cargo xtask up --detach` recorded and remove its
//! containers or data directory, then the record itself.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use fixtures::stack::StackRecord;

use crate::workspace;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the detached stack's record is
    #[arg(long, env = "SHOPLOAD_STATE_DIR", default_value_os_t = workspace::default_state_dir())]
    pub state_dir: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let record_path = workspace::stack_file(&args.state_dir);
    let Some(record) = StackRecord::load(&record_path)? else {
        println!(
            "no stack recorded at {}; nothing to stop",
            record_path.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    record
        .stop()
        .await
        .with_context(|| format!("stopping the {} stack", record.provider))?;
    std::fs::remove_file(&record_path)
        .with_context(|| format!("removing {}", record_path.display()))?;
    println!("{} stack stopped and removed", record.provider);
    Ok(ExitCode::SUCCESS)
}
