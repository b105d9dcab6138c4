//! shopload's end-to-end tests: whole phases of the plan, in one process, against a real
//! PostgreSQL and Redis (one stack for the run, a fresh seeded database per test), the real Toss
//! mock and the real shop on 127.0.0.1:0, driven by loadgen with the shipped phase files, then
//! judged by the verdict and the reconciliation a phase run uses.
//!
//! Lanes run side by side, each one test at a time: the in-process tests on the shared stack, and
//! the tests that run `xtask` as a user does (every repro; the faults), each with a stack of its
//! own. The runs are paced loads that leave the machine mostly idle (a whole sequential run used
//! under a quarter of one core), so the lanes barely touch each other's figures, and the suite
//! takes as long as its longest lane instead of all of them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faults;
mod locust;
mod phases;
mod repro;
mod world;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use libtest_mimic::{Arguments, Failed, Trial};
use tokio::sync::oneshot;

type Test = fn(Arc<world::World>) -> BoxFuture<'static, ()>;

macro_rules! tests {
    ($($module:ident :: $name:ident),* $(,)?) => {
        vec![$((concat!(stringify!($module), "::", stringify!($name)), (|w| Box::pin($module::$name(w))) as Test)),*]
    };
}

/// The in-process lane: tests on the shared stack and its template (their clones are counted by
/// a mark, so they must run one at a time).
fn in_process() -> Vec<(&'static str, Test)> {
    tests![
        phases::the_shop_scenario_runs_clean_and_covers_every_endpoint,
        phases::a_smoke_phase_passes_and_writes_every_report,
        phases::a_payment_phase_on_scarce_hot_products_reconciles,
        phases::commit_then_drop_chaos_still_reconciles,
        phases::the_no_lock_fault_is_caught_by_the_reconciliation,
        locust::two_loadgen_workers_drive_the_shop_under_a_real_locust_master,
    ]
}

/// The xtask lanes: `cargo xtask` as a child process with a stack of its own, nothing of the
/// world's. Each lane runs its tests one after another, beside the other lanes.
fn xtask_lanes() -> Vec<Vec<(&'static str, Test)>> {
    vec![
        tests![
            repro::the_groups_hold_every_repro_once,
            repro::the_first_third_of_the_repros_show_their_symptom_with_the_bug_and_not_after_the_fix,
        ],
        tests![
            repro::the_second_third_of_the_repros_show_their_symptom_with_the_bug_and_not_after_the_fix
        ],
        tests![
            repro::the_last_third_of_the_repros_show_their_symptom_with_the_bug_and_not_after_the_fix
        ],
        tests![
            faults::a_bad_inject_spec_is_refused_before_anything_starts,
            faults::the_chaos_phase_rides_out_redis_postgres_and_toss_faults,
            faults::a_killed_mock_and_shop_come_back_and_the_books_still_reconcile,
        ],
    ]
}

fn all() -> Vec<(&'static str, Test)> {
    let mut all = in_process();
    all.extend(xtask_lanes().into_iter().flatten());
    all
}

/// Runs `test`, printing how long it took, and turns a panic into the trial's failure.
async fn timed(name: &'static str, test: Test, world: Arc<world::World>) -> Result<(), Failed> {
    let started = Instant::now();
    let result = tokio::spawn(test(world))
        .await
        .map_err(|e| Failed::from(format!("{e}")));
    eprintln!("e2e: {name} took {:.0} s", started.elapsed().as_secs_f64());
    result
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let selected = |name: &str| !args.is_filtered_out(&Trial::test(name, || Ok(())));
    if args.list || !all().iter().any(|(n, _)| selected(n)) {
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

    // The xtask lanes start at once, in the background, each one test after another; their trials
    // below only collect the results.
    let mut lane_results = HashMap::new();
    let mut lane_tasks = Vec::new();
    for lane in xtask_lanes() {
        let mut queued = Vec::new();
        for (name, test) in lane.into_iter().filter(|(n, _)| selected(n)) {
            let (done, result) = oneshot::channel();
            lane_results.insert(name, result);
            queued.push((name, test, done));
        }
        let lane_world = Arc::clone(&world);
        lane_tasks.push(runtime.spawn(async move {
            for (name, test, done) in queued {
                let _ = done.send(timed(name, test, Arc::clone(&lane_world)).await);
            }
        }));
    }

    let mut trials: Vec<Trial> = in_process()
        .into_iter()
        .map(|(name, test)| {
            let world = Arc::clone(&world);
            let handle = handle.clone();
            Trial::test(name, move || {
                handle.block_on(async move {
                    // Only this lane makes clones, one test at a time, so every clone made since
                    // the mark is this test's: dropped when it passes, kept to look at when it
                    // fails.
                    let mark = world.template.made();
                    timed(name, test, Arc::clone(&world)).await?;
                    if let Err(e) = world.template.drop_clones_since(mark).await {
                        eprintln!("dropping {name}'s databases: {e}");
                    }
                    Ok(())
                })
            })
        })
        .collect();
    trials.extend(xtask_lanes().into_iter().flatten().map(|(name, _)| {
        let result = lane_results.remove(name);
        let handle = handle.clone();
        Trial::test(name, move || match result {
            Some(result) => handle
                .block_on(result)
                .unwrap_or_else(|_| Err(Failed::from("the xtask lane ended before this test"))),
            // Filtered out: libtest-mimic does not call it.
            None => Ok(()),
        })
    }));
    // One thread: the in-process lane runs its tests in order; the xtask lanes' trials wait for
    // results already being made beside it.
    let mut args = args;
    args.test_threads = Some(1);
    let conclusion = libtest_mimic::run(&args, trials);
    runtime.block_on(async {
        for task in lane_tasks {
            let _ = task.await;
        }
        world.stop().await;
    });
    conclusion.exit_code()
}
