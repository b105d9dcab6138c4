//! `phase NAME --inject SPEC`: faults on purpose in the middle of the load (Redis or PostgreSQL
//! frozen, PostgreSQL restarted, the Toss mock hung or down, the shop killed), applied by this
//! command to its own stack and children, and reported per fault: its window on every chart,
//! the failures inside and after it, and how long the run took to get back under its SLOs.
//!
//! spec.rs parses and checks the `--inject` language before anything starts, apply.rs applies
//! and undoes the faults while loadgen runs, report.rs hands the windows to loadgen's report
//! writer and prints the per-fault table.

pub mod apply;
pub mod report;
pub mod spec;

use std::path::Path;

use anyhow::Context as _;

pub use spec::Spec;

/// The chaos phase's faults when no `--inject` is given (an explicit `--inject` replaces them
/// all): spaced over its 70 s so that each has recovered before the next begins.
pub const CHAOS_DEFAULTS: [&str; 4] = [
    "redis-stop@10s+10s",
    "postgres-stall@28s+5s",
    "postgres-restart@42s",
    "toss-hang@52s+5s",
];

/// The faults to apply, checked against the run's length: `-t` when given, else the phase
/// file's stages. Empty when none are asked for.
pub fn plan(
    injects: &[String],
    run_time: Option<&str>,
    phase_file: &Path,
) -> anyhow::Result<Vec<Spec>> {
    if injects.is_empty() {
        return Ok(Vec::new());
    }
    let length = match run_time {
        // loadgen's own parser: the length faults are checked against is the one loadgen runs.
        Some(t) => {
            loadgen::timespan::parse(t).map_err(|e| anyhow::anyhow!("--run-time {t:?}: {e}"))?
        }
        None => loadgen::phase::Phase::load(phase_file)
            .with_context(|| format!("reading {}", phase_file.display()))?
            .stages
            .iter()
            .map(|s| s.duration)
            .sum(),
    };
    spec::plan(injects, length).context("--inject")
}

/// The stack to start: as asked, except that `--provider auto` with a PostgreSQL restart takes the
/// local servers when the machine has them (`check_provider` would refuse the docker stack that
/// auto prefers).
pub async fn stack_config(
    config: fixtures::stack::StackConfig,
    plan: &[Spec],
) -> fixtures::stack::StackConfig {
    use fixtures::stack::{Provider, StackConfig};
    let restarts = plan.iter().any(|s| s.kind == spec::Kind::PostgresRestart);
    if config.provider != Provider::Auto || !restarts || config.database_url.is_some() {
        return config;
    }
    let local = StackConfig {
        provider: Provider::Local,
        ..config.clone()
    };
    if fixtures::stack::choose(&local).await.is_ok() {
        eprintln!(
            "stack: local servers for --inject postgres-restart (a Docker container's restart \
             would empty its tmpfs data directory)"
        );
        return local;
    }
    config
}

/// Faults on the stack need a stack this command owns, and a PostgreSQL restart the local
/// provider's (the docker provider's data directory is a tmpfs a container restart empties).
pub fn check_provider(plan: &[Spec], provider: fixtures::stack::Provider) -> anyhow::Result<()> {
    use fixtures::stack::Provider;
    use spec::{Kind, Part};
    for s in plan {
        let on_stack = matches!(s.kind.part(), Part::Redis | Part::Postgres);
        match provider {
            Provider::External if on_stack => anyhow::bail!(
                "--inject {:?}: the external provider's servers are not this command's to fault \
                 (use --provider local or docker)",
                s.text
            ),
            Provider::Docker if s.kind == Kind::PostgresRestart => anyhow::bail!(
                "--inject {:?}: the docker provider keeps PostgreSQL's data on a tmpfs, which a \
                 container restart empties: use --provider local (PostgreSQL's server installed)",
                s.text
            ),
            _ => {}
        }
    }
    Ok(())
}
