//! The engine as a library, steered through its handle while it runs against a stub server:
//! users raised and lowered at the spawn rate, stats reset, paused, replaced stages, stopped; the
//! live snapshot agrees with the aggregator's final numbers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use loadgen::engine::{Engine, EngineConfig, EngineError, Snapshot};
use loadgen::runner::{Plan, Stage, State};
use loadgen::scenario::Scenario;

use crate::stub::Server;

/// A user that asks `/` every 20 ms.
const PACED: &str = "wait_time = \"constant 20ms\"\n[[task]]\n[[task.request]]\npath = \"/\"\n";

fn config(server: &Server, users: usize, spawn_rate: f64, run_time: Duration) -> EngineConfig {
    EngineConfig {
        scenario: Scenario::parse("paced", PACED, "paced.toml").unwrap(),
        host: server.url().parse().unwrap(),
        tls: None,
        plan: Plan {
            stages: vec![Stage {
                name: "start".into(),
                users,
                spawn_rate,
                duration: run_time,
                arrival_rate: None,
            }],
            stop_timeout: Duration::ZERO,
            max_lag: Duration::from_secs(10),
        },
        request_timeout: Duration::from_secs(10),
        seed: 1,
        vars: Vec::new(),
        monitors: None,
        locust_report: false,
    }
}

/// Waits for a snapshot that satisfies `ok`, for at most `within`; returns it and when it came.
async fn until(
    snapshots: &mut tokio::sync::watch::Receiver<Arc<Snapshot>>,
    within: Duration,
    what: &str,
    ok: impl Fn(&Snapshot) -> bool,
) -> (Arc<Snapshot>, Instant) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        {
            let s = snapshots.borrow_and_update();
            if ok(&s) {
                return (Arc::clone(&s), Instant::now());
            }
        }
        match tokio::time::timeout_at(deadline, snapshots.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("the run ended before {what}"),
            Err(_) => panic!(
                "no {what} within {within:?}; last snapshot: state {:?}, users {}, requests {}",
                snapshots.borrow().state,
                snapshots.borrow().users,
                snapshots.borrow().aggregate.requests
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_raised_and_lowered_stats_reset_and_the_run_stopped() {
    let server = Server::start().await;
    let handle = Engine::start(config(&server, 5, 100.0, Duration::from_secs(120)));
    let mut snapshots = handle.subscribe();

    until(&mut snapshots, Duration::from_secs(10), "5 users", |s| {
        s.users == 5 && s.aggregate.requests > 0
    })
    .await;

    // Raise to 20 at 10/s: 15 more users take 1.5 s; the snapshot is at most a second late.
    let asked = Instant::now();
    handle.set_users(20, 10.0).unwrap();
    let (s, at) = until(&mut snapshots, Duration::from_secs(10), "20 users", |s| {
        s.users == 20
    })
    .await;
    let took = at - asked;
    assert!(
        took >= Duration::from_millis(1300) && took <= Duration::from_secs(4),
        "15 users at 10/s took {took:?}"
    );
    assert_eq!(s.target_users, 20);

    // Lower to 2, at the same rate: users stop one by one, not all at once.
    handle.set_users(2, 10.0).unwrap();
    until(&mut snapshots, Duration::from_secs(10), "2 users", |s| {
        s.users == 2 && s.state == State::Running
    })
    .await;

    // Reset stats: the first snapshot after the reset counts from zero.
    let before = handle.snapshot();
    assert!(before.aggregate.requests > 0);
    handle.reset_stats().unwrap();
    let (reset, _) = until(&mut snapshots, Duration::from_secs(5), "the reset", |s| {
        s.resets == before.resets + 1
    })
    .await;
    assert_eq!(reset.aggregate.requests, 0, "counts restart at 0");
    assert!(reset.entries.is_empty());
    assert!(reset.failures.is_empty());
    let (counting, _) = until(
        &mut snapshots,
        Duration::from_secs(5),
        "requests after the reset",
        |s| s.resets == reset.resets && s.aggregate.requests > 0,
    )
    .await;
    assert!(counting.entries.len() == 1);

    // A stage list of the other model is refused, not half applied.
    let open = Stage {
        name: "open".into(),
        users: 2,
        spawn_rate: 1.0,
        duration: Duration::from_secs(5),
        arrival_rate: Some(10.0),
    };
    assert!(matches!(
        handle.set_stages(vec![open]),
        Err(EngineError::Model { .. })
    ));
    assert!(matches!(
        handle.set_users(3, 0.0),
        Err(EngineError::SpawnRate(_))
    ));

    handle.stop();
    let controller = handle.controller();
    let finished = tokio::time::timeout(Duration::from_secs(10), handle.wait())
        .await
        .expect("the run stops at once (stop timeout 0)")
        .unwrap();
    let last = controller.snapshot();
    assert_eq!(last.state, State::Stopped);
    assert_eq!(last.users, 0);
    // The last snapshot is the aggregator's final numbers, endpoint by endpoint.
    let r = &finished.recorder;
    assert_eq!(last.aggregate.requests, r.aggregate.requests);
    assert_eq!(last.aggregate.failures, r.aggregate.failures);
    assert_eq!(
        last.entries.iter().map(|e| e.requests).sum::<u64>(),
        r.entries.iter().map(|e| e.requests).sum::<u64>()
    );
    assert_eq!(
        last.aggregate.percentiles_ms[0],
        r.aggregate.percentile_ms(0.5)
    );
    // Counted since the reset only (which came during the third stage), over the time since it.
    assert_eq!(r.stages[0].aggregate.requests, 0);
    assert_eq!(r.stages[1].aggregate.requests, 0);
    assert_eq!(r.stages[2].aggregate.requests, r.aggregate.requests);
    assert!(r.duration_s() < last.elapsed_s);
    // The edits are stages of their own: the plan's, then 20 users, then 2.
    let users: Vec<usize> = finished.stages.iter().map(|s| s.users).collect();
    assert_eq!(users, [5, 20, 2]);
    assert!(controller.set_users(1, 1.0).is_err(), "the run is over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_run_starts_no_iteration_and_new_stages_replace_the_rest() {
    let server = Server::start().await;
    let handle = Engine::start(config(&server, 3, 100.0, Duration::from_secs(120)));
    let mut snapshots = handle.subscribe();
    until(&mut snapshots, Duration::from_secs(10), "3 users", |s| {
        s.users == 3 && s.aggregate.requests > 0
    })
    .await;

    handle.pause().unwrap();
    let (paused, _) = until(&mut snapshots, Duration::from_secs(5), "paused", |s| {
        s.state == State::Paused
    })
    .await;
    // Tasks in hand finish within one 20 ms wait; after that nothing new starts.
    let (settled, _) = until(
        &mut snapshots,
        Duration::from_secs(5),
        "a settled pause",
        |s| s.series.len() > paused.series.len() + 1,
    )
    .await;
    let (later, _) = until(
        &mut snapshots,
        Duration::from_secs(5),
        "a paused second",
        |s| s.series.len() > settled.series.len() + 1,
    )
    .await;
    assert_eq!(
        later.aggregate.requests, settled.aggregate.requests,
        "no request while paused"
    );
    assert_eq!(later.users, 3, "paused users stay");

    handle.resume().unwrap();
    until(
        &mut snapshots,
        Duration::from_secs(5),
        "requests again",
        |s| s.aggregate.requests > later.aggregate.requests,
    )
    .await;

    // Two short stages replace the 120 s one: the run ends by itself after them.
    let stage = |users, secs| Stage {
        name: format!("{users} users"),
        users,
        spawn_rate: 50.0,
        duration: Duration::from_secs(secs),
        arrival_rate: None,
    };
    let asked = Instant::now();
    handle.set_stages(vec![stage(4, 1), stage(1, 1)]).unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(15), handle.wait())
        .await
        .expect("the replaced stages end the run")
        .unwrap();
    assert!(asked.elapsed() < Duration::from_secs(6));
    let users: Vec<usize> = finished.stages.iter().map(|s| s.users).collect();
    assert_eq!(users, [3, 4, 1]);
    assert_eq!(finished.recorder.stages.len(), 3);
    assert!(finished.recorder.stages[1].aggregate.requests > 0);
}
