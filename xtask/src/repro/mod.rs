//! `cargo xtask repro NAME`: each error the load-test plan met, reproduced on the real shop. A short
//! load with the bug switched on prints the symptom as the report shows it (status, endpoint, the
//! server's answer), then the cause and the fix; the same load again with the fix shows the symptom
//! gone. Exit 0 when both hold, 1 when the symptom did not appear or did not go away.
//!
//! Every run gets its own database (cloned from a migrated, seeded template), Toss mock, shop and
//! Redis key prefix on one stack, so the two runs of a repro, and the repros of `all`, never see
//! each other's data or statements.
//!
//! One job per file: this one parses and dispatches; `catalogue` lists the reproductions,
//! `runner` runs them, `symptoms` judges what a run left behind.
//!
//! `pgbouncer` also runs PgBouncer, from its image (`--pgbouncer-image`) in the Docker engine,
//! whatever the stack's provider: it is checked before anything is built or started.

mod bottlenecks;
mod catalogue;
mod connections;
mod observe;
mod runner;
mod symptoms;
mod table;
mod usage;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use fixtures::stack::Stack;

use crate::binaries::BinArgs;
use crate::stack_args::StackArgs;
use crate::workspace;
use catalogue::{Repro, repros};
use runner::{Binaries, run_all};

#[derive(clap::Args, Debug)]
#[command(after_help = "Reproductions (also `cargo xtask repro --list`):\n  \
    405, 401 (= 401-users, 401-expiry, 401-scheme), stock, serializer, pool, n-plus-one, no-cache, \
    inline-jobs, oversell, job-backlog, missing-index, memory, misconfigured, nothing-listening, \
    shared-headers, pgbouncer, all")]
pub struct Args {
    /// What to reproduce: names from --list (one or more), `401` for its three causes, or `all`
    #[arg(required_unless_present = "list", value_name = "NAME")]
    pub names: Vec<String>,
    /// List the reproductions with the plan's error each one shows
    #[arg(long)]
    pub list: bool,
    /// Where the runs' reports go [default: reports/repro-NAME-<time>/]
    #[arg(long, env = "SHOPLOAD_REPORT_DIR")]
    pub report_dir: Option<PathBuf>,
    /// PgBouncer's image for the `pgbouncer` reproduction (PgBouncer 1.21 or later, configured
    /// by docker-compose.yml's environment; `.ci/images/build.sh pgbouncer` builds the default)
    #[arg(
        long,
        env = "SHOPLOAD_PGBOUNCER_IMAGE",
        default_value = "shopload/pgbouncer:trixie"
    )]
    pub pgbouncer_image: String,
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub bins: BinArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let all = repros();
    if args.list {
        for r in &all {
            println!("{:<17} {}", r.name, r.error);
        }
        println!("{:<17} 401-users, 401-expiry and 401-scheme", "401");
        println!("{:<17} every one above", "all");
        return Ok(ExitCode::SUCCESS);
    }
    let chosen = choose(&all, &args.names)?;
    let name = args.names.join("+");
    let report_dir = args.report_dir.clone().unwrap_or_else(|| {
        workspace::root().join("reports").join(format!(
            "repro-{name}-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        ))
    });
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;
    crate::provider::ensure(&args.stack.config()).await?;
    if chosen.iter().any(|r| r.uses_pgbouncer()) {
        connections::preflight(&args.pgbouncer_image)?;
    }
    let binaries = args
        .bins
        .programs(&["loadgen", "target-shop", "toss-mock"])?;
    let bins = Binaries {
        loadgen: binaries[0].clone(),
        shop: binaries[1].clone(),
        mock: binaries[2].clone(),
        pgbouncer_image: args.pgbouncer_image.clone(),
    };
    let stack = Stack::start(&args.stack.config())
        .await
        .context("starting PostgreSQL and Redis")?;
    let result = run_all(&chosen, &bins, &stack, &report_dir).await;
    stack.stop().await.context("stopping the stack")?;
    let rows = result?;
    if rows.len() > 1 {
        println!("\n{}", table::render(&rows));
    }
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| !r.reproduced())
        .map(|r| r.name)
        .collect();
    println!("\nreports: {}", report_dir.display());
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("not reproduced: {}", failed.join(", "));
        Ok(ExitCode::from(1))
    }
}

/// The repros `names` select, in the catalogue's order, each once: a repro's name, `401` for the
/// three 401 causes, `all` for every one. Err naming an unknown name and the known ones.
fn choose<'a>(all: &'a [Repro], names: &[String]) -> anyhow::Result<Vec<&'a Repro>> {
    for name in names {
        let known = matches!(name.as_str(), "all" | "401") || all.iter().any(|r| r.name == name);
        if !known {
            let names: Vec<&str> = all.iter().map(|r| r.name).collect();
            bail!(
                "no reproduction named '{name}' (known: {}, 401, all)",
                names.join(", ")
            );
        }
    }
    let wanted = |r: &Repro| {
        names.iter().any(|n| match n.as_str() {
            "all" => true,
            "401" => r.name.starts_with("401-"),
            n => r.name == n,
        })
    };
    Ok(all.iter().filter(|r| wanted(r)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(args: &[&str]) -> Vec<&'static str> {
        let all = repros();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        choose(&all, &args)
            .unwrap()
            .iter()
            .map(|r| r.name)
            .collect()
    }

    #[test]
    fn names_select_in_the_catalogues_order_each_once() {
        let every: Vec<&str> = repros().iter().map(|r| r.name).collect();
        assert_eq!(names(&["all"]), every);
        assert_eq!(names(&["pool", "all"]), every);
        assert_eq!(names(&["401"]), ["401-users", "401-expiry", "401-scheme"]);
        assert_eq!(
            names(&["memory", "405", "401-scheme", "405"]),
            ["405", "401-scheme", "memory"]
        );
        let all = repros();
        let Err(unknown) = choose(&all, &["pool".to_owned(), "pol".to_owned()]) else {
            panic!("an unknown name is refused");
        };
        assert!(unknown.to_string().contains("no reproduction named 'pol'"));
    }
}
