//! How a run changed over time: which step of a stepped (stress) run first broke a service-level
//! objective, and whether a long (soak) run drifted between its first and last minutes.

use serde::Serialize;

use crate::stats::{Recorder, Second};
use crate::threshold::{Metric, Threshold, Verdict};
use crate::verdict;

/// One step of a stepped run, judged on its own by the run's SLO thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct StageSlo {
    /// 1-based, as the reports number stages.
    pub stage: usize,
    pub broken: Vec<Verdict>,
}

/// Latency and error objectives apply to every step; throughput and counts are run totals (a
/// 10-user step is not expected to reach 100 requests/s).
fn is_slo(t: &Threshold) -> bool {
    !matches!(
        t.metric,
        Metric::Rps | Metric::Requests | Metric::Failures | Metric::Min
    )
}

/// Each stage judged by the run-wide SLO thresholds (and its own), when the run has several stages.
pub fn stage_slos(thresholds: &[Threshold], recorder: &Recorder) -> Vec<StageSlo> {
    if recorder.stages.len() < 2 {
        return Vec::new();
    }
    recorder
        .stages
        .iter()
        .map(|stage| {
            let scoped: Vec<Threshold> = thresholds
                .iter()
                .filter(|t| is_slo(t) && t.stage.is_none_or(|s| s == stage.index))
                .map(|t| Threshold {
                    stage: Some(stage.index),
                    ..t.clone()
                })
                .collect();
            StageSlo {
                stage: stage.index + 1,
                broken: verdict::evaluate(&scoped, recorder)
                    .into_iter()
                    .filter(|v| !v.passed && v.actual.is_some())
                    .collect(),
            }
        })
        .collect()
}

/// The first stage with a broken SLO.
pub fn first_broken(slos: &[StageSlo]) -> Option<&StageSlo> {
    slos.iter().find(|s| !s.broken.is_empty())
}

/// The run's first and last windows side by side.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Drift {
    pub window_s: u64,
    pub first: Window,
    pub last: Window,
    /// What moved beyond its tolerance, in words; empty when the run held steady.
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Window {
    pub from_s: u64,
    pub to_s: u64,
    pub requests: u64,
    pub failures: u64,
    pub fail_ratio: f64,
    /// The median of the window's per-second p95 (a robust level, not one bad second).
    pub p95_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub users: usize,
}

/// The plan compares a soak's last 5 minutes with its first 5; shorter runs compare their first and
/// last thirds. The ramp-up is left out of the first window.
pub const WINDOW_S: u64 = 300;
/// Below this the windows are too short to mean anything.
pub const MIN_RUN_S: u64 = 60;
/// Latency drift: the last window's p95 this much above the first's, and at least `DRIFT_MIN_MS`.
pub const DRIFT_RATIO: f64 = 1.5;
pub const DRIFT_MIN_MS: f64 = 50.0;
/// Error drift: the failure rate up by this many percentage points.
pub const FAIL_DRIFT_POINTS: f64 = 1.0;

/// First against last window of a single-stage run (a soak); None for stepped or short runs.
pub fn drift(recorder: &Recorder) -> Option<Drift> {
    if recorder.stages.len() > 1 {
        return None;
    }
    let seconds = &recorder.seconds;
    // The ramp ends when the user count stops growing.
    let peak = seconds.iter().map(|s| s.users).max()?;
    let ramped = seconds.iter().position(|s| s.users == peak)?;
    let steady = &seconds[ramped..];
    let span = steady.len() as u64;
    if span < MIN_RUN_S {
        return None;
    }
    let window = WINDOW_S.min(span / 3);
    let first = summarize(&steady[..window as usize]);
    let last = summarize(&steady[steady.len() - window as usize..]);
    let mut flags = Vec::new();
    if let (Some(a), Some(b)) = (first.p95_ms, last.p95_ms)
        && b > a * DRIFT_RATIO
        && b - a >= DRIFT_MIN_MS
    {
        flags.push(format!(
            "latency drift: p95 {a:.0} ms in the first {window} s, {b:.0} ms in the last {window} s (+{:.0} %)",
            (b / a - 1.0) * 100.0
        ));
    }
    let points = (last.fail_ratio - first.fail_ratio) * 100.0;
    if points >= FAIL_DRIFT_POINTS {
        flags.push(format!(
            "error drift: failures {:.2} % in the first {window} s, {:.2} % in the last",
            first.fail_ratio * 100.0,
            last.fail_ratio * 100.0
        ));
    }
    Some(Drift {
        window_s: window,
        first,
        last,
        flags,
    })
}

fn summarize(seconds: &[Second]) -> Window {
    let requests = seconds.iter().map(|s| s.requests).sum::<u64>();
    let failures = seconds.iter().map(|s| s.failures).sum::<u64>();
    let median = |pick: fn(&Second) -> Option<f64>| {
        let mut v: Vec<f64> = seconds.iter().filter_map(pick).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(v[v.len() / 2])
    };
    Window {
        from_s: seconds.first().map_or(0, |s| s.t),
        to_s: seconds.last().map_or(0, |s| s.t + 1),
        requests,
        failures,
        fail_ratio: if requests == 0 {
            0.0
        } else {
            failures as f64 / requests as f64
        },
        p95_ms: median(|s| s.p95),
        p50_ms: median(|s| s.p50),
        users: seconds.iter().map(|s| s.users).max().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(t: u64, users: usize, p95: f64, failures: u64) -> Second {
        Second {
            t,
            unix: 0,
            users,
            stage: 0,
            requests: 10,
            failures,
            p50: Some(p95 / 2.0),
            p95: Some(p95),
            p99: Some(p95 * 1.5),
            endpoints: Vec::new(),
            history: Default::default(),
        }
    }

    fn recorder_with(seconds: Vec<Second>) -> Recorder {
        let mut r = Recorder::new(&[("GET".into(), "/".into())], false);
        r.seconds = seconds;
        r
    }

    #[test]
    fn a_steady_run_has_no_drift_and_a_slowing_one_has() {
        let steady: Vec<Second> = (0..600)
            .map(|t| second(t, (t as usize * 10 + 10).min(300), 100.0, 0))
            .collect();
        let d = drift(&recorder_with(steady)).unwrap();
        assert!(d.flags.is_empty(), "{:?}", d.flags);
        // Ramped at 29 s: 571 steady seconds, compared by thirds.
        assert_eq!((d.first.from_s, d.window_s), (29, 190));

        let slowing: Vec<Second> = (0..1200)
            .map(|t| second(t, 300, 100.0 + t as f64 / 2.0, u64::from(t > 1000)))
            .collect();
        let d = drift(&recorder_with(slowing)).unwrap();
        assert_eq!(d.window_s, 300);
        assert!(
            d.flags.iter().any(|f| f.starts_with("latency drift")),
            "{:?}",
            d.flags
        );
        assert!(
            d.flags.iter().any(|f| f.starts_with("error drift")),
            "{:?}",
            d.flags
        );
    }

    #[test]
    fn the_first_step_that_broke_an_slo_is_named() {
        use crate::stats::{Event, Outcome, Sample};
        let mut r = Recorder::new(&[("GET".into(), "/".into())], false);
        for (stage, ms) in [(0, 100), (1, 300), (2, 2000)] {
            r.handle(Event::Stage(stage));
            for _ in 0..10 {
                r.handle(Event::Sample(Sample {
                    endpoint: 0,
                    raw_us: ms * 1000,
                    lag_us: None,
                    bytes: 1,
                    outcome: Outcome::Success,
                    status: Some(200),
                    example: None,
                }));
            }
        }
        r.finish();
        let thresholds = ["p95 < 1000ms", "rps >= 100"]
            .map(|t| Threshold::parse(t).unwrap())
            .to_vec();
        let slos = stage_slos(&thresholds, &r);
        assert_eq!(slos.len(), 3);
        let first = first_broken(&slos).unwrap();
        assert_eq!(first.stage, 3);
        assert_eq!(
            first.broken.len(),
            1,
            "rps is a run total, not a step's SLO"
        );
        assert_eq!(first.broken[0].threshold, "p95 < 1000ms");
    }

    #[test]
    fn short_runs_are_not_judged_for_drift() {
        let short: Vec<Second> = (0..30).map(|t| second(t, 10, 100.0, 0)).collect();
        assert!(drift(&recorder_with(short)).is_none());
    }
}
