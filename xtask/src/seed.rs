//! `cargo xtask seed`: the plan's test data into the stack `cargo xtask up --detach` recorded (or
//! `--database-url`), with the shop's migrations applied first when the database is our own stack.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use fixtures::cli::SeedArgs;
use fixtures::stack::StackRecord;

use crate::workspace;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub seed: SeedArgs,
    /// Where the detached stack's record is
    #[arg(long, env = "SHOPLOAD_STATE_DIR", default_value_os_t = workspace::default_state_dir())]
    pub state_dir: PathBuf,
}

pub async fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let database_url = match args.seed.database_url.clone() {
        Some(url) => url,
        None => {
            let record_path = workspace::stack_file(&args.state_dir);
            let Some(record) = StackRecord::load(&record_path)? else {
                bail!(
                    "no database: start the stack with `cargo xtask up --detach`, or pass \
                     --database-url (or DATABASE_URL)"
                );
            };
            // Our own throwaway stack: bring its schema up to date as the shop would.
            args.seed.migrate = true;
            record.database_url
        }
    };
    match args.seed.run(&database_url).await {
        Ok(summary) => {
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}
