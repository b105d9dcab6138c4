//! Two runs side by side: per endpoint and in aggregate the client's figures (requests/s,
//! failures, latency percentiles) and the server's (database connections, pool waits, CPU per
//! request, statements per request), each change judged against the runs' own per-second
//! variation ([`noise`]), the findings that appeared or went away, and the regression gate
//! ([`gate`]).

mod compared;
pub mod gate;
pub mod html;
pub mod noise;
pub mod render;
mod server;

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

pub use self::compared::{Compared, DEFAULT_MIN_CHANGE, Options, compare_runs};
use crate::diagnosis::FindingId;
use crate::summary::{EntrySummary, Summary};

/// How confident a change must be: a rank test's p-value below this.
pub const ALPHA: f64 = 0.01;

/// A figure compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Rps,
    FailRatio,
    Avg,
    P50,
    P95,
    P99,
    #[serde(rename = "p99.9")]
    P999,
    /// Server side: peak database connections.
    DbConnections,
    /// Server side: requests waiting for a pooled database connection.
    PoolWaiting,
    /// Server side: CPU seconds of the named process per 1,000 requests.
    CpuPerKiloRequest,
    /// Server side: database statements per request (one figure per run).
    StatementsPerRequest,
}

impl Metric {
    pub const CLIENT: [Self; 7] = [
        Self::Rps,
        Self::FailRatio,
        Self::Avg,
        Self::P50,
        Self::P95,
        Self::P99,
        Self::P999,
    ];

    pub const SERVER: [Self; 4] = [
        Self::DbConnections,
        Self::PoolWaiting,
        Self::CpuPerKiloRequest,
        Self::StatementsPerRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rps => "rps",
            Self::FailRatio => "fail_ratio",
            Self::Avg => "avg",
            Self::P50 => "p50",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::P999 => "p99.9",
            Self::DbConnections => "db_connections",
            Self::PoolWaiting => "pool_waiting",
            Self::CpuPerKiloRequest => "cpu_s_per_1k_requests",
            Self::StatementsPerRequest => "statements_per_request",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::CLIENT
            .into_iter()
            .chain(Self::SERVER)
            .find(|m| m.as_str() == s || (s == "p999" && *m == Self::P999))
    }

    /// Requests/s is better higher; everything else lower.
    pub fn higher_is_better(self) -> bool {
        self == Self::Rps
    }

    /// A ratio shown in percentage points rather than relative change.
    pub fn is_ratio(self) -> bool {
        self == Self::FailRatio
    }

    pub fn unit(self) -> &'static str {
        match self {
            Self::Rps => "/s",
            Self::FailRatio => "%",
            Self::Avg | Self::P50 | Self::P95 | Self::P99 | Self::P999 => " ms",
            Self::CpuPerKiloRequest => " s",
            Self::DbConnections | Self::PoolWaiting | Self::StatementsPerRequest => "",
        }
    }
}

/// What a change amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    Regressed,
    Improved,
    WithinNoise,
    /// The seconds moved one way and the whole run's figure the other (a few outliers decide the
    /// figure, e.g. one slow start): not counted either way.
    Mixed,
    /// Too few seconds with this figure on a side, or one figure per run: shown, never judged.
    NotJudged,
}

/// One figure of one endpoint (or the aggregate, or a server part) in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `GET /api/products/`, `Aggregated`, or the server part (`postgres`, `shop` ...).
    pub subject: String,
    pub metric: Metric,
    pub base: Option<f64>,
    pub new: Option<f64>,
    /// Relative change in percent; for a ratio, the change in percentage points.
    pub change: Option<f64>,
    /// Seconds that served as samples, each side.
    pub samples: (usize, usize),
    pub p_value: Option<f64>,
    pub judgement: Judgement,
}

/// A run as the comparison names it.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub path: String,
    pub phase: Option<String>,
    pub scenario: String,
    pub started_at: String,
    pub duration_s: f64,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub base: RunInfo,
    pub new: RunInfo,
    /// Why the runs are not like for like (compared anyway with `--force`).
    pub differences: Vec<String>,
    pub rows: Vec<Row>,
    pub only_in_base: Vec<String>,
    pub only_in_new: Vec<String>,
    pub findings_appeared: Vec<FindingId>,
    pub findings_gone: Vec<FindingId>,
    /// The smallest relative change (percent) that counts, however confident.
    pub min_change_percent: f64,
}

/// Reads a run: its summary.json, or a report directory holding one.
pub fn read_run(path: &Path) -> anyhow::Result<Summary> {
    let file = if path.is_dir() {
        path.join("summary.json")
    } else {
        path.to_path_buf()
    };
    Summary::read(&file).with_context(|| format!("reading the run {}", path.display()))
}

/// Compares `new` with `base`. A change counts when the rank test over the runs' seconds gives
/// p < [`ALPHA`] and it is at least `min_change_percent` (percentage points / 10 for ratios).
pub fn compare(
    base: &Summary,
    base_path: &str,
    new: &Summary,
    new_path: &str,
    min_change_percent: f64,
) -> Comparison {
    let key = |e: &EntrySummary| format!("{} {}", e.method, e.name);
    let only_in = |a: &Summary, b: &Summary| -> Vec<String> {
        a.entries
            .iter()
            .filter(|e| b.entry(&e.method, &e.name).is_none())
            .map(key)
            .collect()
    };
    let mut rows = Vec::new();
    for e in &base.entries {
        if let Some(n) = new.entry(&e.method, &e.name) {
            let a = Seconds::of(base, Some((&e.method, &e.name)));
            let b = Seconds::of(new, Some((&e.method, &e.name)));
            rows.extend(client_rows(&key(e), e, n, &a, &b, min_change_percent));
        }
    }
    let a = Seconds::of(base, None);
    let b = Seconds::of(new, None);
    rows.extend(client_rows(
        "Aggregated",
        &base.aggregate,
        &new.aggregate,
        &a,
        &b,
        min_change_percent,
    ));
    rows.extend(server::rows(base, new, min_change_percent));
    let ids = |s: &Summary| -> Vec<FindingId> { s.findings.iter().map(|f| f.id).collect() };
    let (before, after) = (ids(base), ids(new));
    let (only_in_base, only_in_new) = (only_in(base, new), only_in(new, base));
    Comparison {
        base: RunInfo::of(base, base_path),
        new: RunInfo::of(new, new_path),
        differences: differences(base, new, &only_in_base, &only_in_new),
        rows,
        only_in_base,
        only_in_new,
        findings_appeared: after
            .iter()
            .filter(|f| !before.contains(f))
            .copied()
            .collect(),
        findings_gone: before
            .iter()
            .filter(|f| !after.contains(f))
            .copied()
            .collect(),
        min_change_percent,
    }
}

impl RunInfo {
    fn of(s: &Summary, path: &str) -> Self {
        Self {
            path: path.to_owned(),
            phase: s.meta.phase.clone(),
            scenario: s.meta.scenario.clone(),
            started_at: s
                .meta
                .started_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            duration_s: s.meta.duration_s,
            passed: s.passed,
        }
    }
}

/// What makes two runs not like for like: another scenario, phase, load model or load, or other
/// endpoints.
fn differences(
    base: &Summary,
    new: &Summary,
    only_in_base: &[String],
    only_in_new: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    if base.meta.scenario != new.meta.scenario {
        out.push(format!(
            "scenario {} vs {}",
            base.meta.scenario, new.meta.scenario
        ));
    }
    if base.meta.phase != new.meta.phase {
        let name = |p: &Option<String>| p.clone().unwrap_or_else(|| "none".into());
        out.push(format!(
            "phase {} vs {}",
            name(&base.meta.phase),
            name(&new.meta.phase)
        ));
    }
    if base.meta.model != new.meta.model {
        out.push(format!(
            "load model {:?} vs {:?}",
            base.meta.model, new.meta.model
        ));
    }
    let load = |s: &Summary| -> Vec<String> {
        s.stages
            .iter()
            .map(|st| match (st.users, st.arrival_rate) {
                (_, Some(rate)) => format!("{rate}/s"),
                (Some(users), None) => format!("{users} users"),
                (None, None) => "?".into(),
            })
            .collect()
    };
    let (a, b) = (load(base), load(new));
    if a != b {
        out.push(format!("stages [{}] vs [{}]", a.join(", "), b.join(", ")));
    }
    let missing: Vec<&String> = only_in_base.iter().chain(only_in_new).collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|m| m.as_str()).collect();
        out.push(format!("endpoints in one run only: {}", names.join(", ")));
    }
    out
}

/// One run's seconds of one endpoint (or of the aggregate): the samples of the noise test. The
/// first and last second are left out (the ramp's first users, a partial last second).
struct Seconds {
    requests: Vec<f64>,
    fail_ratio: Vec<f64>,
    p50: Vec<f64>,
    p95: Vec<f64>,
    p99: Vec<f64>,
}

impl Seconds {
    fn of(s: &Summary, endpoint: Option<(&str, &str)>) -> Self {
        let index = endpoint.and_then(|(m, n)| {
            s.endpoints
                .iter()
                .position(|k| k.method == m && k.name == n)
        });
        let inner = s.series.len().saturating_sub(1);
        let mut out = Self {
            requests: Vec::new(),
            fail_ratio: Vec::new(),
            p50: Vec::new(),
            p95: Vec::new(),
            p99: Vec::new(),
        };
        for second in s.series.iter().take(inner).skip(1) {
            let (requests, failures, p50, p95, p99) = match (endpoint, index) {
                (None, _) => (
                    second.requests,
                    second.failures,
                    second.p50,
                    second.p95,
                    second.p99,
                ),
                (Some(_), Some(i)) => match second.endpoints.get(i) {
                    Some(e) => (e.requests, e.failures, e.p50, e.p95, e.p99),
                    None => (0, 0, None, None, None),
                },
                (Some(_), None) => continue,
            };
            out.requests.push(requests as f64);
            if requests > 0 {
                out.fail_ratio.push(failures as f64 / requests as f64);
            }
            out.p50.extend(p50);
            out.p95.extend(p95);
            out.p99.extend(p99);
        }
        out
    }

    fn of_metric(&self, m: Metric) -> &[f64] {
        match m {
            Metric::Rps => &self.requests,
            Metric::FailRatio => &self.fail_ratio,
            // A second has no mean of its own: its median moves with it.
            Metric::Avg | Metric::P50 => &self.p50,
            Metric::P95 => &self.p95,
            // A second holds too few requests for its p99.9: its p99 stands in.
            Metric::P99 | Metric::P999 => &self.p99,
            _ => &[],
        }
    }
}

fn client_rows(
    subject: &str,
    base: &EntrySummary,
    new: &EntrySummary,
    a: &Seconds,
    b: &Seconds,
    min_change_percent: f64,
) -> Vec<Row> {
    let value = |e: &EntrySummary, m: Metric| -> Option<f64> {
        match m {
            Metric::Rps => Some(e.rps),
            Metric::FailRatio => Some(e.fail_ratio * 100.0),
            Metric::Avg => e.avg_ms,
            Metric::P50 => e.percentiles_ms.p50,
            Metric::P95 => e.percentiles_ms.p95,
            Metric::P99 => e.percentiles_ms.p99,
            Metric::P999 => e.percentiles_ms.p99_9,
            _ => None,
        }
    };
    Metric::CLIENT
        .iter()
        .map(|&m| {
            judge(
                subject,
                m,
                value(base, m),
                value(new, m),
                a.of_metric(m),
                b.of_metric(m),
                min_change_percent,
            )
        })
        .collect()
}

/// One row: the change, and whether it is beyond the noise of the two runs' seconds.
fn judge(
    subject: &str,
    metric: Metric,
    base: Option<f64>,
    new: Option<f64>,
    a: &[f64],
    b: &[f64],
    min_change_percent: f64,
) -> Row {
    let change = match (base, new) {
        (Some(x), Some(y)) if metric.is_ratio() => Some(y - x),
        (Some(x), Some(y)) if x != 0.0 => Some((y - x) / x * 100.0),
        (Some(x), Some(y)) if x == y => Some(0.0),
        _ => None,
    };
    let p_value = noise::mann_whitney(a, b);
    // Percentage points for a ratio: a tenth of the relative floor (5 % -> 0.5 pp).
    let floor = if metric.is_ratio() {
        min_change_percent / 10.0
    } else {
        min_change_percent
    };
    let shift = noise::shift(a, b);
    let agrees = |c: f64| shift == 0.0 || shift.is_nan() || (shift > 0.0) == (c > 0.0);
    let judgement = match (change, p_value) {
        (Some(c), Some(p)) if p < ALPHA && c.abs() >= floor => {
            if !agrees(c) {
                Judgement::Mixed
            } else if (c > 0.0) == metric.higher_is_better() {
                Judgement::Improved
            } else {
                Judgement::Regressed
            }
        }
        (Some(_), Some(_)) => Judgement::WithinNoise,
        _ => Judgement::NotJudged,
    };
    Row {
        subject: subject.to_owned(),
        metric,
        base,
        new,
        change,
        samples: (a.len(), b.len()),
        p_value,
        judgement,
    }
}
