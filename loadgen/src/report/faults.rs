//! Faults injected into the system under test during a run (a harness's doing, e.g.
//! `cargo xtask phase --inject redis-stop@20s+10s`), as the reports show them: each fault's
//! window, the failed requests inside and after it, and the time the run took to get back under
//! its SLOs. loadgen sees only the wire, so the harness applies the faults and hands their windows
//! back through [`add_to_reports`]; the numbers are measured here from the run's own seconds, so
//! the one report writer shows them beside the thresholds (and shades the windows on every chart).
//!
//! A fault that did not recover within its limit fails the run's verdict like a threshold.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::Results;
use super::html::passed;
use crate::stats::Second;
use crate::threshold::{Metric, Threshold};

/// A second is back under the SLOs with fewer failures than this.
pub const RECOVERED_FAIL_RATIO: f64 = 0.01;
/// The p95 a second must stay under when the run has no aggregate p95 threshold.
pub const DEFAULT_P95_LIMIT_MS: f64 = 1000.0;

/// Every fault of the run, measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Faults {
    /// Every fault recovered within its limit.
    pub passed: bool,
    /// A second counts as recovered under this p95 (the run's aggregate p95 threshold) and with
    /// a failure ratio under 1 %.
    pub p95_limit_ms: f64,
    pub windows: Vec<FaultWindow>,
}

/// What the harness did, and when: the input of [`Faults::measure`].
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// As given, e.g. `redis-stop@20s+10s`.
    pub spec: String,
    /// `redis-stop`, `postgres-stall`, `postgres-restart`, `toss-hang`, `toss-down`, `shop-kill`.
    pub kind: String,
    /// Wall-clock: the fault applied, and undone (a restart: the server answering again).
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// Seconds after the window's end by which the run must be back under its SLOs.
    pub recovery_limit_s: f64,
    /// What went wrong applying or undoing it, when something did.
    pub note: Option<String>,
}

/// One fault's window and what the run went through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FaultWindow {
    pub spec: String,
    pub kind: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// The window in seconds since the run's start (`meta.started_at`), as the charts' x axis.
    pub start_s: f64,
    pub end_s: f64,
    /// Requests that ended in a second overlapping the window, and how many of them failed.
    pub requests_inside: u64,
    pub failed_inside: u64,
    /// Requests that ended after the window, up to the next fault's start or the run's end.
    pub requests_after: u64,
    pub failed_after: u64,
    /// Seconds from the window's end to the start of the first second back under the SLOs
    /// (0 when the second the window ended in was already fine); absent when the run ended first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_s: Option<f64>,
    pub recovery_limit_s: f64,
    /// Recovered, within the limit.
    pub recovered: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Faults {
    /// The windows placed on the run's time axis and measured from its seconds; `p95_limit_ms`
    /// from [`p95_limit_ms`].
    pub fn measure(
        applied: &[Applied],
        started_at: DateTime<Utc>,
        seconds: &[Second],
        p95_limit_ms: f64,
    ) -> Self {
        let offset = |t: DateTime<Utc>| (t - started_at).num_milliseconds() as f64 / 1000.0;
        let mut windows: Vec<FaultWindow> = applied
            .iter()
            .map(|a| FaultWindow {
                spec: a.spec.clone(),
                kind: a.kind.clone(),
                started_at: a.started_at,
                ended_at: a.ended_at,
                start_s: offset(a.started_at),
                end_s: offset(a.ended_at),
                requests_inside: 0,
                failed_inside: 0,
                requests_after: 0,
                failed_after: 0,
                recovery_s: None,
                recovery_limit_s: a.recovery_limit_s,
                recovered: false,
                note: a.note.clone(),
            })
            .collect();
        windows.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        let starts: Vec<f64> = windows.iter().map(|w| w.start_s).collect();
        for (i, w) in windows.iter_mut().enumerate() {
            // "After" stops where the next fault begins: its failures are that fault's.
            let next = starts.get(i + 1).copied().unwrap_or(f64::INFINITY);
            w.count(seconds, next, p95_limit_ms);
        }
        Self {
            passed: windows.iter().all(|w| w.recovered),
            p95_limit_ms,
            windows,
        }
    }
}

impl FaultWindow {
    /// Second `t` covers `[t - 1, t)` seconds since the start.
    fn count(&mut self, seconds: &[Second], next_start: f64, p95_limit_ms: f64) {
        for s in seconds {
            let (from, to) = (s.t as f64 - 1.0, s.t as f64);
            if to > self.start_s && from < self.end_s {
                self.requests_inside += s.requests;
                self.failed_inside += s.failures;
            } else if from >= self.end_s && to <= next_start {
                self.requests_after += s.requests;
                self.failed_after += s.failures;
            }
        }
        self.recovery_s = seconds
            .iter()
            .filter(|s| s.t as f64 > self.end_s)
            .find(|s| under_slos(s, p95_limit_ms))
            .map(|s| (s.t as f64 - 1.0 - self.end_s).max(0.0));
        self.recovered = self.recovery_s.is_some_and(|r| r <= self.recovery_limit_s);
    }

    /// The window as the table prints it: `20.1-30.2 s`.
    pub fn window_text(&self) -> String {
        format!("{:.1}-{:.1} s", self.start_s, self.end_s)
    }

    pub fn recovery_text(&self) -> String {
        match self.recovery_s {
            Some(r) => format!("{r:.1} s"),
            None => "not within the run".to_owned(),
        }
    }
}

/// Answered, with under 1 % failures and a p95 under the limit.
fn under_slos(s: &Second, p95_limit_ms: f64) -> bool {
    s.requests > 0
        && (s.failures as f64) < RECOVERED_FAIL_RATIO * s.requests as f64
        && s.p95.is_some_and(|p95| p95 < p95_limit_ms)
}

/// The run's aggregate, whole-run p95 threshold in ms (the phase's), else [`DEFAULT_P95_LIMIT_MS`].
pub fn p95_limit_ms(r: &Results) -> f64 {
    r.verdicts
        .iter()
        .filter_map(|v| Threshold::parse(&v.threshold).ok())
        .find(|t| t.metric == Metric::Percentile(95.0) && t.endpoint.is_none() && t.stage.is_none())
        .map_or(DEFAULT_P95_LIMIT_MS, |t| t.limit)
}

/// The per-fault table for a terminal.
pub fn console(f: &Faults) -> String {
    let mut out = format!(
        "faults (recovered: the first second with < 1% failures and p95 < {:.0} ms)\n",
        f.p95_limit_ms
    );
    let _ = writeln!(
        out,
        "{:<28} {:>13} {:>15} {:>15} {:>18} {:>8}  result",
        "fault", "window", "failed inside", "failed after", "time to recover", "limit"
    );
    for w in &f.windows {
        // Padded as whole cells: the widths apply to the texts, not to their parts.
        let inside = format!("{}/{}", w.failed_inside, w.requests_inside);
        let after = format!("{}/{}", w.failed_after, w.requests_after);
        let limit = format!("{:.0} s", w.recovery_limit_s);
        let _ = writeln!(
            out,
            "{:<28} {:>13} {inside:>15} {after:>15} {:>18} {limit:>8}  {}",
            w.spec,
            w.window_text(),
            w.recovery_text(),
            if w.recovered { "ok" } else { "FAILED" }
        );
        if let Some(note) = &w.note {
            let _ = writeln!(out, "  {}: {note}", w.spec);
        }
    }
    out
}

/// The report's section, after the reconciliation.
pub fn html(r: &Results) -> Markup {
    let Some(f) = &r.faults else {
        return html! {};
    };
    html! {
        h2 { "Faults" }
        p.note {
            "Injected by the harness; each window is shaded on every chart. Recovered: the first \
             second after the window with < 1% failures and p95 < " (format!("{:.0}", f.p95_limit_ms))
            " ms. \"After\" runs to the next fault or the end of the run."
        }
        table {
            tr {
                th { "Fault" } th { "Window" } th { "Failed inside" } th { "Failed after" }
                th { "Time to recover" } th { "Limit" } th { "Result" }
            }
            @for w in &f.windows {
                tr {
                    td { code { (w.spec) } }
                    td.n { (w.window_text()) }
                    td.n { (w.failed_inside) " of " (w.requests_inside) }
                    td.n { (w.failed_after) " of " (w.requests_after) }
                    td.n { (w.recovery_text()) }
                    td.n { (format!("{:.0} s", w.recovery_limit_s)) }
                    td {
                        (passed(w.recovered, "pass", "FAIL"))
                        @if let Some(note) = &w.note { " (" (note) ")" }
                    }
                }
            }
        }
    }
}

/// The JUnit cases: one per fault, failed when it did not recover in time.
pub fn junit_cases(f: &Faults) -> Vec<(String, Option<String>)> {
    f.windows
        .iter()
        .map(|w| {
            (
                format!("{} recovers within {:.0} s", w.spec, w.recovery_limit_s),
                (!w.recovered).then(|| format!("time to recover: {}", w.recovery_text())),
            )
        })
        .collect()
}

/// Measures `applied` on a finished run in `dir` and adds them to its reports (each file written
/// again by its own writer). Returns the faults as measured, and whether the whole run passed.
pub fn add_to_reports(
    dir: &std::path::Path,
    applied: &[Applied],
) -> anyhow::Result<(Faults, bool)> {
    let mut measured = None;
    let passed = super::rewrite(dir, |results| {
        let faults = Faults::measure(
            applied,
            results.meta.started_at,
            &results.recorder.seconds,
            p95_limit_ms(results),
        );
        measured = Some(faults.clone());
        results.faults = Some(faults);
    })?;
    let faults = measured.ok_or_else(|| anyhow::anyhow!("the run was not rewritten"))?;
    Ok((faults, passed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 60 seconds of 100 requests at p95 50 ms, with `bad` seconds (t) failing or slow.
    fn series(failing: &[(u64, u64)], slow: &[u64]) -> Vec<Second> {
        (1..=60)
            .map(|t| Second {
                t,
                unix: 1_700_000_000 + t as i64,
                users: 10,
                stage: 0,
                requests: 100,
                failures: failing.iter().find(|(s, _)| *s == t).map_or(0, |(_, n)| *n),
                p50: Some(20.0),
                p95: Some(if slow.contains(&t) { 4000.0 } else { 50.0 }),
                p99: Some(80.0),
                endpoints: Vec::new(),
                history: Default::default(),
            })
            .collect()
    }

    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn applied(spec: &str, from_ms: i64, to_ms: i64, limit: f64) -> Applied {
        Applied {
            spec: spec.to_owned(),
            kind: spec.split('@').next().unwrap().to_owned(),
            started_at: start() + chrono::Duration::milliseconds(from_ms),
            ended_at: start() + chrono::Duration::milliseconds(to_ms),
            recovery_limit_s: limit,
            note: None,
        }
    }

    #[test]
    fn a_clean_window_recovers_at_once() {
        let f = Faults::measure(
            &[applied("redis-stop@20s+10s", 20_000, 30_000, 5.0)],
            start(),
            &series(&[], &[]),
            1000.0,
        );
        let w = &f.windows[0];
        assert_eq!((w.start_s, w.end_s), (20.0, 30.0));
        // Seconds 21..=30 cover [20, 30); 31..=60 are after.
        assert_eq!((w.requests_inside, w.failed_inside), (1000, 0));
        assert_eq!((w.requests_after, w.failed_after), (3000, 0));
        assert_eq!(w.recovery_s, Some(0.0));
        assert!(w.recovered && f.passed);
    }

    #[test]
    fn failures_inside_and_after_and_the_time_to_recover() {
        // A restart from 50.2 s to 51.5 s: seconds 51 and 52 overlap it; 53 and 54 still fail,
        // 55 is slow, 56 is the first second back.
        let f = Faults::measure(
            &[applied("postgres-restart@50s", 50_200, 51_500, 5.0)],
            start(),
            &series(&[(51, 30), (52, 40), (53, 10), (54, 2)], &[55]),
            1000.0,
        );
        let w = &f.windows[0];
        assert_eq!((w.requests_inside, w.failed_inside), (200, 70));
        assert_eq!((w.requests_after, w.failed_after), (800, 12));
        // Second 56 starts at 55 s: 3.5 s after the window's end.
        assert_eq!(w.recovery_s, Some(3.5));
        assert!(w.recovered);
        let strict = Faults::measure(
            &[applied("postgres-restart@50s/3s", 50_200, 51_500, 3.0)],
            start(),
            &series(&[(51, 30), (52, 40), (53, 10), (54, 2)], &[55]),
            1000.0,
        );
        assert!(!strict.windows[0].recovered && !strict.passed);
    }

    #[test]
    fn after_ends_at_the_next_fault_and_a_run_that_never_recovers_says_so() {
        let bad: Vec<(u64, u64)> = (41..=60).map(|t| (t, 50)).collect();
        let f = Faults::measure(
            &[
                // Given out of order: measured in time order.
                applied("toss-down@40s+10s", 40_000, 50_000, 10.0),
                applied("redis-stop@10s+5s", 10_000, 15_000, 5.0),
            ],
            start(),
            &series(&bad, &[]),
            1000.0,
        );
        let (first, second) = (&f.windows[0], &f.windows[1]);
        assert_eq!(first.spec, "redis-stop@10s+5s");
        // After the first: seconds 16..=40, up to the second fault's start.
        assert_eq!((first.requests_after, first.failed_after), (2500, 0));
        assert_eq!(second.failed_inside, 500);
        assert_eq!(second.recovery_s, None);
        assert!(!second.recovered && !f.passed);
        assert!(
            console(&f).contains("not within the run"),
            "{}",
            console(&f)
        );
    }

    #[test]
    fn a_second_without_answers_is_not_a_recovery() {
        let mut s = series(&[], &[]);
        s[30].requests = 0;
        s[30].failures = 0;
        s[30].p95 = None;
        let f = Faults::measure(
            &[applied("shop-kill@30s", 30_000, 30_500, 5.0)],
            start(),
            &s,
            1000.0,
        );
        // Second 31 ([30, 31)) answered nothing; 32 starts 0.5 s after the end.
        assert_eq!(f.windows[0].recovery_s, Some(0.5));
    }
}
