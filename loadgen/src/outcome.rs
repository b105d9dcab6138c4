//! A run's numbers judged: the `Results` every report reads, built from what the engine measured
//! (at the end, or a copy of the run so far) with the thresholds' verdicts, the per-stage SLOs,
//! the drift and the diagnosis. The headless run and the web UI build them the same way.

use chrono::{DateTime, Utc};

use crate::diagnosis::{self, ScenarioFacts};
use crate::monitor;
use crate::report::{self, Meta, Results};
use crate::runner::Stage;
use crate::saturation::Saturation;
use crate::stats::Recorder;
use crate::threshold::Threshold;
use crate::{trend, verdict};

/// What a run was, besides its numbers: the reports' header and what judges it.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub phase: Option<String>,
    pub scenario: String,
    pub host: String,
    pub open_model: bool,
    pub seed: u64,
    pub command: String,
    pub tls_insecure: bool,
    pub protocol: Option<String>,
    pub shard: Option<crate::shard::Shard>,
    pub thresholds: Vec<Threshold>,
    pub scenario_facts: ScenarioFacts,
}

/// What the engine measured over one span of time.
pub struct Measured {
    pub recorder: Recorder,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub stages: Vec<Stage>,
    pub saturation: Saturation,
    pub server: Option<monitor::Server>,
}

impl From<crate::engine::Finished> for Measured {
    fn from(f: crate::engine::Finished) -> Self {
        Self {
            recorder: f.recorder,
            started_at: f.started_at,
            ended_at: f.ended_at,
            stages: f.stages,
            saturation: f.saturation,
            server: f.server,
        }
    }
}

/// The run judged: verdicts, stage SLOs, drift and findings.
pub fn judge(facts: &RunFacts, m: Measured) -> Results {
    let recorder = m.recorder;
    let verdicts = verdict::evaluate(&facts.thresholds, &recorder);
    let stage_slos = trend::stage_slos(&facts.thresholds, &recorder);
    let drift = trend::drift(&recorder);
    let mut results = Results {
        meta: Meta {
            phase: facts.phase.clone(),
            scenario: facts.scenario.clone(),
            host: facts.host.trim_end_matches('/').to_owned(),
            started_at: m.started_at,
            ended_at: m.ended_at,
            duration_s: recorder.duration_s(),
            model: report::Model::from_open(facts.open_model),
            seed: facts.seed,
            command: facts.command.clone(),
            tls_insecure: facts.tls_insecure,
            protocol: facts.protocol.clone(),
            shard: facts.shard,
            stages: m.stages,
        },
        recorder,
        verdicts,
        saturation: m.saturation,
        stage_slos,
        drift,
        server: m.server,
        findings: Vec::new(),
        reconciliation: None,
        baseline: None,
        faults: None,
    };
    results.findings = diagnosis::diagnose(&diagnosis::View::of(
        &results,
        &facts.scenario_facts,
        results.server.as_ref(),
    ));
    results
}
