//! `cargo xtask phase --inject`, as a user runs it: every fault kind on a short payment run, with
//! what each must cost. Two runs carry all six kinds (the chaos phase's own set, then a killed
//! mock and a killed shop), as each run costs a minute of load; a bad spec costs nothing.
//!
//! The runs ask for the local provider: it is the one that can restart PostgreSQL, and a machine
//! without its servers fails here with xtask's own message naming what to install.

use std::path::Path;
use std::sync::Arc;

use loadgen::report::faults::FaultWindow;
use loadgen::summary::Summary;

use crate::repro::xtask;
use crate::world::World;

/// `xtask ARGS --report-dir DIR`: its exit code, stdout and stderr.
async fn xtask_run(args: &[&str], dir: &Path) -> (Option<i32>, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut command = xtask();
    command
        .current_dir(root)
        .args(args)
        .arg("--report-dir")
        .arg(dir);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn window<'a>(s: &'a Summary, kind: &str) -> &'a FaultWindow {
    let faults = s.faults.as_ref().expect("the faults in summary.json");
    faults
        .windows
        .iter()
        .find(|w| w.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} window in {:#?}", faults.windows))
}

fn fail_ratio(failed: u64, requests: u64) -> f64 {
    failed as f64 / requests.max(1) as f64
}

/// The books held (every check but those named in `known`), and every window was recorded
/// where it was asked for.
fn reconciled(s: &Summary, stdout: &str) {
    let rec = s.reconciliation.as_ref().expect("the reconciliation ran");
    assert!(
        rec.checks.iter().all(|c| c.ok),
        "reconciliation: {:#?}\n{stdout}",
        rec.checks
    );
    for w in &s.faults.as_ref().unwrap().windows {
        assert!(
            w.start_s > 0.0 && w.end_s >= w.start_s && w.end_s < s.meta.duration_s,
            "{w:#?}"
        );
        assert!(w.note.is_none(), "{w:#?}");
    }
}

/// The chaos phase's default set: Redis frozen 10 s, PostgreSQL stalled 5 s, then restarted,
/// then the Toss mock hung 5 s, on 15 payers whose stock lasts the whole run.
pub async fn the_chaos_phase_rides_out_redis_postgres_and_toss_faults(_world: Arc<World>) {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) =
        xtask_run(&["phase", "chaos", "--provider", "local"], dir.path()).await;
    let summary = dir.path().join("summary.json");
    assert!(
        summary.is_file(),
        "cargo xtask phase chaos left no summary ({code:?}):\n{stdout}\n{stderr}"
    );
    let s = Summary::read(&summary).unwrap();
    println!(
        "cargo xtask phase chaos:\n{}",
        stdout.split("\nfaults ").nth(1).unwrap_or(&stdout)
    );
    reconciled(&s, &stdout);
    let redis = window(&s, "redis-stop");
    assert!(
        (redis.end_s - redis.start_s - 10.0).abs() < 1.0,
        "{redis:#?}"
    );
    assert!(
        fail_ratio(redis.failed_inside, redis.requests_inside) < 0.01,
        "a 10 s Redis stop fails under 1 %: {redis:#?}"
    );
    let stall = window(&s, "postgres-stall");
    assert!(
        fail_ratio(stall.failed_inside, stall.requests_inside) < 0.01,
        "a 5 s PostgreSQL stall fails under 1 %: {stall:#?}"
    );
    let restart = window(&s, "postgres-restart");
    assert!(
        restart.recovery_s.is_some_and(|r| r <= 5.0),
        "recovered within 5 s of a PostgreSQL restart: {restart:#?}"
    );
    window(&s, "toss-hang");
    assert_eq!(code, Some(0), "the verdict:\n{stdout}\n{stderr}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Faults</h2>") && html.matches("postgres-restart@42s").count() >= 4,
        "the windows on the charts"
    );
}

/// The mock killed for 10 s and started again on its port, then the shop killed and started
/// again at once: both come back where loadgen looks, and the money still adds up (a killed
/// mock's approvals counted, a confirm cut off by the shop's kill settled at its restart).
pub async fn a_killed_mock_and_shop_come_back_and_the_books_still_reconcile(_world: Arc<World>) {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "phase",
        "payment",
        "--provider",
        "local",
        "-u",
        "15",
        "-r",
        "15",
        "-t",
        "55s",
        // Stock that lasts: payments, and so Toss, keep going through both faults.
        "--hot-stock",
        "300",
        "--inject",
        "toss-down@12s+10s",
        "--inject",
        "shop-kill@35s",
    ];
    let (code, stdout, stderr) = xtask_run(&args, dir.path()).await;
    let summary = dir.path().join("summary.json");
    assert!(
        summary.is_file(),
        "cargo xtask phase payment --inject left no summary ({code:?}):\n{stdout}\n{stderr}"
    );
    let s = Summary::read(&summary).unwrap();
    println!(
        "cargo xtask phase payment --inject:\n{}",
        stdout.split("\nfaults ").nth(1).unwrap_or(&stdout)
    );
    // Every check, money included: a confirm the kill cut off after Toss approved is recorded by
    // the restarted shop (`payments::settle_pending`), so no payment is lost.
    reconciled(&s, &stdout);
    let down = window(&s, "toss-down");
    assert!((down.end_s - down.start_s - 10.0).abs() < 2.0, "{down:#?}");
    assert!(down.recovery_s.is_some(), "{down:#?}");
    let kill = window(&s, "shop-kill");
    assert!(
        kill.recovery_s.is_some(),
        "the shop answered again: {kill:#?}"
    );
    assert!(
        dir.path().join("target-shop.restart-2.log").is_file()
            || dir.path().join("target-shop.restart-1.log").is_file(),
        "the restarted shop's log"
    );
    assert_ne!(code, Some(2), "{stdout}\n{stderr}");
}

/// A spec that cannot run is refused before anything is built or started.
pub async fn a_bad_inject_spec_is_refused_before_anything_starts(_world: Arc<World>) {
    let dir = tempfile::tempdir().unwrap();
    for (spec, says) in [
        ("redis-stop@20s", "redis-stop needs a length"),
        ("postgres-restart@50s", "must end before the run does"),
        ("disk-full@5s+5s", "unknown fault"),
    ] {
        let started = std::time::Instant::now();
        let (code, _, stderr) = xtask_run(
            &["phase", "payment", "-t", "30s", "--inject", spec],
            dir.path(),
        )
        .await;
        assert_eq!(code, Some(2), "{spec}: {stderr}");
        assert!(
            stderr.trim().lines().count() == 1 && stderr.contains(says),
            "{spec}: {stderr}"
        );
        assert!(started.elapsed().as_secs() < 10, "{spec}: refused at once");
    }
    assert!(!dir.path().join("summary.json").exists());
}
