//! `cargo xtask status`: what the recorded stack runs, and whether each part answers.
//! Exit code 0 when every part runs, 1 when nothing is recorded or something is down.

use std::path::PathBuf;
use std::process::ExitCode;

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
            "no stack recorded at {}; start one with `cargo xtask up --detach`",
            record_path.display()
        );
        return Ok(ExitCode::from(1));
    };
    println!("{} stack ({})", record.provider, record_path.display());
    let states = record.components().await;
    for state in &states {
        let mark = if state.running { "up  " } else { "DOWN" };
        println!("  {mark} {}", state.what);
    }
    if states.iter().all(|s| s.running) {
        println!("export DATABASE_URL='{}'", record.database_url);
        println!("export REDIS_URL='{}'", record.redis_url);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("part of the stack is down; `cargo xtask down` cleans up what is left");
        Ok(ExitCode::from(1))
    }
}
