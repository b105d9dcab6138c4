//! What a run leaves behind: the console table, Locust's four CSVs, the self-contained HTML report,
//! summary.json and junit.xml. All read one `Results`.

pub mod baseline;
pub mod charts;
pub mod console;
pub mod csv;
pub mod faults;
pub mod history;
pub mod html;
pub mod json;
pub mod junit;
pub mod reconciliation;
pub mod server;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::runner::Stage;
use crate::saturation::Saturation;
use crate::stats::{Entry, Recorder};
use crate::threshold::{Verdict, failure_band};
use crate::trend::{Drift, StageSlo};

/// What the run was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Meta {
    pub phase: Option<String>,
    pub scenario: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_s: f64,
    pub model: Model,
    pub seed: u64,
    pub command: String,
    /// HTTPS with `--insecure`: the server's certificate was not checked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_insecure: bool,
    /// With `--http2`: the protocol the host agreed to (`HTTP/2`, or `HTTP/1.1` when its ALPN
    /// declined h2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// With `--shard I/N`: this run was shard I (from 1) of N, its plan that shard's share;
    /// `loadgen merge` adds the N up. Absent on a whole run, and on a merge of shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
    /// The plan's stages: not in summary.json, whose stages carry their name and load
    /// themselves (so a summary read back has none here).
    #[serde(skip)]
    pub stages: Vec<Stage>,
}

/// The load model, as summary.json and the reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// Users looping over their tasks with think time.
    Closed,
    /// Iterations started at an arrival rate, whatever the target's speed.
    Open,
}

impl Model {
    /// The runner's question is "open model?": this is its answer, named.
    pub fn from_open(open: bool) -> Self {
        if open { Self::Open } else { Self::Closed }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
        }
    }
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything measured and judged.
pub struct Results {
    pub meta: Meta,
    pub recorder: Recorder,
    pub verdicts: Vec<Verdict>,
    pub saturation: Saturation,
    /// A stepped run: each step judged by the SLO thresholds on its own.
    pub stage_slos: Vec<StageSlo>,
    /// A single-stage run: its first and last windows compared.
    pub drift: Option<Drift>,
    /// What the server-side monitors saw (None when none ran).
    pub server: Option<crate::monitor::Server>,
    /// The diagnosis: findings over the client's and the server's data (and the books').
    pub findings: Vec<crate::diagnosis::Finding>,
    /// The system's books checked after the run (a phase's stock and money), when they were.
    pub reconciliation: Option<reconciliation::Reconciliation>,
    /// A phase's comparison with an earlier run (`--baseline`), when it had one.
    pub baseline: Option<baseline::Baseline>,
    /// Faults a harness injected during the run (`--inject`), measured, when there were any.
    pub faults: Option<faults::Faults>,
}

impl Results {
    /// Every threshold held, and the reconciliation, the baseline's gate and the faults'
    /// recovery limits too when there were.
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.passed)
            && self.reconciliation.as_ref().is_none_or(|r| r.passed)
            && self.baseline.as_ref().is_none_or(|b| b.passed)
            && self.faults.as_ref().is_none_or(|f| f.passed)
    }

    pub fn failure_band(&self) -> &'static str {
        failure_band(self.recorder.aggregate.fail_ratio())
    }

    /// Endpoints with requests, in Locust's order (by name, then method).
    pub fn sorted_entries(&self) -> Vec<&Entry> {
        sorted(&self.recorder.entries)
    }

    pub fn rps(&self, entry: &Entry) -> f64 {
        per_second(entry.requests, self.meta.duration_s)
    }

    pub fn fails_per_s(&self, entry: &Entry) -> f64 {
        per_second(entry.failures, self.meta.duration_s)
    }
}

/// Changes a finished run's reports in `dir`: the run is read back from its summary.json, `change`
/// applied, and summary.json (and report.html and junit.xml where the run wrote them) written
/// again by their own writers, so no one patches another component's output. Returns whether the
/// run, as changed, passed.
pub fn rewrite(dir: &std::path::Path, change: impl FnOnce(&mut Results)) -> anyhow::Result<bool> {
    use anyhow::Context as _;

    let summary_path = dir.join("summary.json");
    let mut results = crate::summary::Summary::read(&summary_path)?.into_results()?;
    change(&mut results);
    let write = |name: &str, text: String| -> anyhow::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("summary.json", json::render(&results)?)?;
    if dir.join("report.html").exists() {
        write("report.html", html::render(&results))?;
    }
    if dir.join("junit.xml").exists() {
        write("junit.xml", junit::render(&results)?)?;
    }
    Ok(results.passed())
}

/// Entries with requests, by name then method.
pub fn sorted(entries: &[Entry]) -> Vec<&Entry> {
    let mut v: Vec<&Entry> = entries.iter().filter(|e| e.requests > 0).collect();
    v.sort_by(|a, b| (&a.name, &a.method).cmp(&(&b.name, &b.method)));
    v
}

pub fn per_second(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}
