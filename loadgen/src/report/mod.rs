//! What a run leaves behind: the console table, Locust's four CSVs, the self-contained HTML report,
//! summary.json and junit.xml. All read one `Results`.

pub mod charts;
pub mod console;
pub mod csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod server;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::runner::Stage;
use crate::saturation::Saturation;
use crate::stats::{Entry, Recorder};
use crate::threshold::{Verdict, failure_band};
use crate::trend::{Drift, StageSlo};

/// What the run was.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub phase: Option<String>,
    pub scenario: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_s: f64,
    /// "closed" (users with think time) or "open" (arrival rate).
    pub model: &'static str,
    pub seed: u64,
    pub command: String,
    #[serde(skip)]
    pub stages: Vec<Stage>,
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
    /// The diagnosis: findings over the client's and the server's data.
    pub findings: Vec<crate::diagnosis::Finding>,
}

impl Results {
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.passed)
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
