//! shopload's end-to-end tests: whole phases of the plan, in one process, against a real
//! PostgreSQL and Redis (one stack for the run, a fresh seeded database per test), the real Toss
//! mock and the real shop on 127.0.0.1:0, driven by loadgen with the shipped phase files, then
//! judged by the verdict and the reconciliation a phase run uses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faults;
mod locust;
mod phases;
mod repro;
mod world;

use std::process::ExitCode;
use std::sync::Arc;

use futures::future::BoxFuture;
use libtest_mimic::{Arguments, Failed, Trial};

type Test = fn(Arc<world::World>) -> BoxFuture<'static, ()>;

macro_rules! tests {
    ($($module:ident :: $name:ident),* $(,)?) => {
        vec![$((concat!(stringify!($module), "::", stringify!($name)), (|w| Box::pin($module::$name(w))) as Test)),*]
    };
}

fn all() -> Vec<(&'static str, Test)> {
    tests![
        phases::the_shop_scenario_runs_clean_and_covers_every_endpoint,
        phases::a_smoke_phase_passes_and_writes_every_report,
        phases::a_payment_phase_on_scarce_hot_products_reconciles,
        phases::commit_then_drop_chaos_still_reconciles,
        phases::the_no_lock_fault_is_caught_by_the_reconciliation,
        faults::a_bad_inject_spec_is_refused_before_anything_starts,
        faults::the_chaos_phase_rides_out_redis_postgres_and_toss_faults,
        faults::a_killed_mock_and_shop_come_back_and_the_books_still_reconcile,
        locust::two_loadgen_workers_drive_the_shop_under_a_real_locust_master,
        repro::every_repro_shows_its_symptom_with_the_bug_and_not_after_the_fix,
    ]
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let names: Vec<&str> = all().iter().map(|(n, _)| *n).collect();
    let wanted = names
        .iter()
        .any(|n| args.filter.as_deref().is_none_or(|f| n.contains(f)));
    if args.list || !wanted {
        let trials = all()
            .into_iter()
            .map(|(n, _)| Trial::test(n, || Ok(())))
            .collect();
        return libtest_mimic::run(&args, trials).exit_code();
    }
    let world = match runtime.block_on(world::start_world()) {
        Ok(w) => Arc::new(w),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = runtime.handle().clone();
    let trials = all()
        .into_iter()
        .map(|(name, test)| {
            let world = Arc::clone(&world);
            let handle = handle.clone();
            Trial::test(name, move || {
                handle.block_on(async move {
                    // Tests run one at a time (below), so every clone made since the mark is this
                    // test's: dropped when it passes, kept to look at when it fails.
                    let mark = world.template.made();
                    tokio::spawn(test(Arc::clone(&world)))
                        .await
                        .map_err(|e| Failed::from(format!("{e}")))?;
                    if let Err(e) = world.template.drop_clones_since(mark).await {
                        eprintln!("dropping {name}'s databases: {e}");
                    }
                    Ok(())
                })
            })
        })
        .collect();
    // The phases load the machine: one at a time, so each measures itself, not its neighbours.
    let mut args = args;
    args.test_threads = Some(1);
    let conclusion = libtest_mimic::run(&args, trials);
    runtime.block_on(world.stop());
    conclusion.exit_code()
}
