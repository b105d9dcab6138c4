//! summary.json as a type: what a run leaves for machines (xtask, the reconciliation, another
//! generator's merge), written and read through one [`Summary`] so that every reader shares the
//! writer's field names instead of indexing untyped JSON.
//!
//! The wire format is the contract, not the type: field names, nesting and meaning are those
//! summary.json has had since schema version 1, a test holds a snapshot of them, and
//! `loadgen/summary.schema.json` is generated from these types (a test fails when it is stale).
//! Histograms stay HdrHistogram's V2 deflate log encoding in base64, so runs of several
//! processes still merge exactly; [`EntrySummary::decode_histogram`] turns them back.

use std::path::Path;

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::diagnosis::Finding;
use crate::monitor::Server;
use crate::report::json::{decode, encode};
use crate::report::{Meta, Results, per_second};
use crate::saturation::Saturation;
use crate::stats::{Entry, FailureRow, Second, percentile_ms};
use crate::threshold::Verdict;
use crate::trend::{Drift, StageSlo};

/// Bumped when a field changes meaning or goes away (new fields do not bump it).
pub const SCHEMA_VERSION: u32 = 1;

/// Everything the other reports show, machine-readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    pub schema_version: u32,
    /// `loadgen VERSION`.
    pub generator: String,
    pub meta: Meta,
    /// Every threshold held (and, after a phase, the reconciliation and the baseline's gate too).
    pub passed: bool,
    /// The aggregate failure ratio in words: `normal`, `elevated`, `warning`, `critical`.
    pub failure_band: String,
    pub thresholds: Vec<Verdict>,
    pub aggregate: EntrySummary,
    /// Endpoints with requests, by name then method (Locust's order).
    pub entries: Vec<EntrySummary>,
    /// The scenario's endpoints in the run's own order: `series[].endpoints[i]` is
    /// `endpoints[i]`'s second (summaries written before this field have none).
    #[serde(default)]
    pub endpoints: Vec<EndpointKey>,
    pub stages: Vec<StageSummary>,
    /// Kinds of failure (Locust's failures.csv rows).
    pub failures: Vec<FailureRow>,
    /// Errors of the scenario itself, by message.
    pub exceptions: Vec<ExceptionCount>,
    pub relogins: u64,
    /// Open model: iterations that could not start within the allowed lag.
    pub dropped_iterations: u64,
    pub saturation: Saturation,
    pub stage_slos: Vec<StageSlo>,
    /// 1-based, as in `stage_slos`.
    pub first_broken_stage: Option<usize>,
    pub drift: Option<Drift>,
    /// One point a second.
    pub series: Vec<Second>,
    /// What the server-side monitors saw; null when none ran.
    pub server: Option<Server>,
    pub findings: Vec<Finding>,
    /// After a phase: the system's books checked (stock and money against the mock's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation: Option<crate::report::reconciliation::Reconciliation>,
    /// After a phase with `--baseline`: its comparison with the earlier run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<crate::report::baseline::Baseline>,
    /// After a phase with `--inject`: each fault's window (seconds since `meta.started_at`) and
    /// what the run went through in and after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<crate::report::faults::Faults>,
}

/// An endpoint's identity: its method and its stats name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EndpointKey {
    pub method: String,
    pub name: String,
}

/// One row of the statistics: an endpoint, or the aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EntrySummary {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    /// Expected business errors (statuses the scenario marks as handled).
    pub handled: u64,
    pub fail_ratio: f64,
    pub avg_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub avg_content_size: f64,
    /// Over the run (or the stage) the entry belongs to.
    pub rps: f64,
    /// Service time: from sending to the end of the response.
    pub percentiles_ms: Percentiles,
    /// Open model: from the intended start (coordinated omission corrected).
    pub corrected_percentiles_ms: Option<Percentiles>,
    /// The service times' HdrHistogram: V2 deflate, base64.
    pub histogram: Option<String>,
    pub corrected_histogram: Option<String>,
    /// HTTPS: TLS handshakes made by these requests (each opened its connection; absent over
    /// plain HTTP) and their mean time, which the requests' own times include.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_handshakes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_handshake_avg_ms: Option<f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Locust's percentile columns in milliseconds (p95 is also a headline); None without requests.
/// `p100` is the histogram's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p66: Option<f64>,
    pub p75: Option<f64>,
    pub p80: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p98: Option<f64>,
    pub p99: Option<f64>,
    #[serde(rename = "p99.9")]
    pub p99_9: Option<f64>,
    #[serde(rename = "p99.99")]
    pub p99_99: Option<f64>,
    pub p100: Option<f64>,
}

/// One stage's own statistics, beside what the plan asked of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StageSummary {
    /// 1-based, as the reports number stages.
    pub index: usize,
    pub name: Option<String>,
    pub users: Option<usize>,
    pub spawn_rate: Option<f64>,
    pub arrival_rate: Option<f64>,
    /// Seconds since the start of the run.
    pub start_s: f64,
    pub end_s: f64,
    pub aggregate: EntrySummary,
    pub entries: Vec<EntrySummary>,
}

/// An error of the scenario itself (an unset variable, a failed capture) and how often it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExceptionCount {
    pub message: String,
    pub count: u64,
}

/// What `read` looks at first, so a file of another version fails on that, not on a field.
#[derive(Deserialize)]
struct Version {
    schema_version: Option<u32>,
}

impl Summary {
    pub fn from_results(r: &Results) -> Self {
        let rec = &r.recorder;
        let stages = rec
            .stages
            .iter()
            .map(|s| {
                let plan = r.meta.stages.get(s.index);
                let seconds = s.end_s - s.start_s;
                StageSummary {
                    index: s.index + 1,
                    name: plan.map(|p| p.name.clone()),
                    users: plan.map(|p| p.users),
                    spawn_rate: plan.map(|p| p.spawn_rate),
                    arrival_rate: plan.and_then(|p| p.arrival_rate),
                    start_s: s.start_s,
                    end_s: s.end_s,
                    aggregate: EntrySummary::of(&s.aggregate, seconds),
                    entries: s
                        .entries
                        .iter()
                        .filter(|e| e.requests > 0)
                        .map(|e| EntrySummary::of(e, seconds))
                        .collect(),
                }
            })
            .collect();
        let seconds = r.meta.duration_s;
        Self {
            schema_version: SCHEMA_VERSION,
            generator: concat!("loadgen ", env!("CARGO_PKG_VERSION")).to_owned(),
            meta: r.meta.clone(),
            passed: r.passed(),
            failure_band: r.failure_band().to_owned(),
            thresholds: r.verdicts.clone(),
            aggregate: EntrySummary::of(&rec.aggregate, seconds),
            entries: r
                .sorted_entries()
                .into_iter()
                .map(|e| EntrySummary::of(e, seconds))
                .collect(),
            endpoints: rec
                .entries
                .iter()
                .map(|e| EndpointKey {
                    method: e.method.clone(),
                    name: e.name.clone(),
                })
                .collect(),
            stages,
            failures: rec.failures.values().cloned().collect(),
            exceptions: rec
                .exceptions
                .iter()
                .map(|(message, count)| ExceptionCount {
                    message: message.clone(),
                    count: *count,
                })
                .collect(),
            relogins: rec.relogins,
            dropped_iterations: rec.dropped,
            saturation: r.saturation.clone(),
            stage_slos: r.stage_slos.clone(),
            first_broken_stage: crate::trend::first_broken(&r.stage_slos).map(|s| s.stage),
            drift: r.drift.clone(),
            series: rec.seconds.clone(),
            server: r.server.clone(),
            findings: r.findings.clone(),
            reconciliation: r.reconciliation.clone(),
            baseline: r.baseline.clone(),
            faults: r.faults.clone(),
        }
    }

    /// Reads a summary.json; the error names the file, and both versions when they differ.
    pub fn read(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the summary {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("reading the summary {}", path.display()))
    }

    /// Parses a summary.json's text.
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        let version: Version =
            serde_json::from_str(text).context("not a loadgen summary: not a JSON object")?;
        match version.schema_version {
            None => bail!("not a loadgen summary: no schema_version"),
            Some(v) if v != SCHEMA_VERSION => bail!(
                "schema_version {v}, but this loadgen reads schema_version {SCHEMA_VERSION}: \
                 read it with the loadgen that wrote it"
            ),
            Some(_) => {}
        }
        serde_json::from_str(text)
            .with_context(|| format!("not a loadgen summary of schema_version {SCHEMA_VERSION}"))
    }

    pub fn to_json_pretty(&self) -> anyhow::Result<String> {
        serde_json::to_string_pretty(self).context("serialising the summary")
    }

    /// The JSON Schema of summary.json, as checked in at `loadgen/summary.schema.json`.
    pub fn json_schema() -> schemars::Schema {
        schemars::schema_for!(Summary)
    }

    /// The endpoint `METHOD NAME`, when it had requests.
    pub fn entry(&self, method: &str, name: &str) -> Option<&EntrySummary> {
        self.entries
            .iter()
            .find(|e| e.method == method && e.name == name)
    }
}

impl EntrySummary {
    /// `seconds`: what its requests per second are counted over.
    pub fn of(e: &Entry, seconds: f64) -> Self {
        Self {
            method: e.method.clone(),
            name: e.name.clone(),
            requests: e.requests,
            failures: e.failures,
            handled: e.handled,
            fail_ratio: e.fail_ratio(),
            avg_ms: e.avg_ms(),
            min_ms: e.min_ms(),
            max_ms: e.max_ms(),
            avg_content_size: e.avg_content_size(),
            rps: per_second(e.requests, seconds),
            percentiles_ms: Percentiles::of(&e.raw),
            corrected_percentiles_ms: e.corrected.as_ref().map(Percentiles::of),
            histogram: encode(&e.raw),
            corrected_histogram: e.corrected.as_ref().and_then(encode),
            tls_handshakes: e.tls_handshakes,
            tls_handshake_avg_ms: e.tls_handshake_avg_ms(),
        }
    }

    /// The service times' histogram, decoded (None when the writer could not encode it).
    pub fn decode_histogram(&self) -> anyhow::Result<Option<Histogram<u64>>> {
        decoded(self.histogram.as_deref(), "histogram", self)
    }

    /// Open model: the corrected latencies' histogram, decoded.
    pub fn decode_corrected_histogram(&self) -> anyhow::Result<Option<Histogram<u64>>> {
        decoded(
            self.corrected_histogram.as_deref(),
            "corrected_histogram",
            self,
        )
    }
}

fn decoded(
    text: Option<&str>,
    field: &str,
    e: &EntrySummary,
) -> anyhow::Result<Option<Histogram<u64>>> {
    text.map(|t| {
        decode(t).with_context(|| format!("decoding the {field} of {} {}", e.method, e.name))
    })
    .transpose()
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        let at = |q| percentile_ms(h, q);
        Self {
            p50: at(0.5),
            p66: at(0.66),
            p75: at(0.75),
            p80: at(0.8),
            p90: at(0.9),
            p95: at(0.95),
            p98: at(0.98),
            p99: at(0.99),
            p99_9: at(0.999),
            p99_99: at(0.9999),
            p100: at(1.0),
        }
    }
}

mod results;

#[cfg(test)]
mod tests;
