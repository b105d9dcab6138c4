//! summary.json back into [`Results`], so that a finished run's reports can be rendered again
//! (a section added to a phase's report after the fact; later, summaries of several generator
//! processes merged and reported as one run).
//!
//! The summary keeps every number the reports print, but not in the recorder's shape, and this
//! is what the way back has to make up (the tests hold the rest to byte equality):
//! - the recorder's index order: the series' per-endpoint points are indexed by the scenario's
//!   endpoints, while the summary's entries are sorted and list only endpoints with requests;
//!   `endpoints` says which column is which (a summary without it loses its per-endpoint series
//!   rather than have them drawn under a guessed name);
//! - `first_s`/`last_s` of an entry: no report reads them, and only a merge compares them; they
//!   become the span the entry covers (the run, or its stage), the widest bound that is true;
//! - `Meta::stages`: rebuilt from the summary's stages, with the measured duration instead of
//!   the planned one, and placeholders for planned stages that never ran (no report reads those);
//! - Locust's history rows (`Second::history`), the live windows and the reset count: the
//!   history CSV is not written again, and the others only serve a run in progress.
//!
//! What the summary derives (`passed`, `failure_band`, `first_broken_stage`, each entry's
//! ratios, rates and percentiles) is not read back but derived again from what it came from, so
//! a summary edited by hand in those fields alone renders as its counts and histograms say.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};

use super::{EntrySummary, StageSummary, Summary};
use crate::report::{Meta, Model, Results};
use crate::runner::Stage;
use crate::stats::{Entry, FailureRow, Recorder, StageStats};

impl Summary {
    /// The [`Results`] this summary was written from, as far as the reports can tell: rendering
    /// them gives the same reports, and `Summary::from_results` the same summary.
    pub fn into_results(self) -> anyhow::Result<Results> {
        let open = self.meta.model == Model::Open;
        let run_span = (0.0, self.meta.duration_s);
        let mut series = self.series;
        let entries = if self.endpoints.is_empty() {
            // An older summary does not say which endpoint a series column is: the per-endpoint
            // points are left out rather than drawn under a guessed name.
            for s in &mut series {
                s.endpoints.clear();
            }
            self.entries
                .iter()
                .map(|e| entry(e, run_span))
                .collect::<anyhow::Result<Vec<_>>>()?
        } else {
            self.endpoints
                .iter()
                .map(|k| {
                    match self
                        .entries
                        .iter()
                        .find(|e| e.method == k.method && e.name == k.name)
                    {
                        Some(e) => entry(e, run_span),
                        None => Ok(Entry::new(&k.method, &k.name, open)),
                    }
                })
                .collect::<anyhow::Result<Vec<_>>>()?
        };
        let stages = self
            .stages
            .iter()
            .map(|s| stage(s, &entries, open))
            .collect::<anyhow::Result<Vec<_>>>()?;

        let mut recorder = Recorder::restored(
            entries,
            open,
            // The recorder's clock started with the run: the engine reads both at once.
            self.meta.started_at.timestamp(),
            self.meta.duration_s,
        );
        recorder.aggregate = entry(&self.aggregate, run_span)?;
        recorder.stages = stages;
        recorder.seconds = series;
        recorder.failures = failures(self.failures);
        let mut exceptions = BTreeMap::new();
        for e in self.exceptions {
            *exceptions.entry(e.message).or_default() += e.count;
        }
        recorder.exceptions = exceptions;
        recorder.relogins = self.relogins;
        recorder.dropped = self.dropped_iterations;

        Ok(Results {
            meta: Meta {
                stages: plan(&self.stages),
                ..self.meta
            },
            recorder,
            verdicts: self.thresholds,
            saturation: self.saturation,
            stage_slos: self.stage_slos,
            drift: self.drift,
            server: self.server,
            findings: self.findings,
            reconciliation: self.reconciliation,
            baseline: self.baseline,
            faults: self.faults,
        })
    }
}

/// An entry from its summary; `span` is the seconds it covers (the run, or its stage).
fn entry(e: &EntrySummary, span: (f64, f64)) -> anyhow::Result<Entry> {
    let raw = e.decode_histogram()?.ok_or_else(|| {
        anyhow!(
            "{} {} has no histogram: its percentiles cannot be rebuilt",
            e.method,
            e.name
        )
    })?;
    let corrected = e.decode_corrected_histogram()?;
    let requests = e.requests as f64;
    let some = e.requests > 0;
    Ok(Entry {
        method: e.method.clone(),
        name: e.name.clone(),
        requests: e.requests,
        failures: e.failures,
        handled: e.handled,
        // The average was total / requests: multiplied back it is exact until ~10^15 µs.
        total_us: e
            .avg_ms
            .map_or(0, |avg| (avg * 1000.0 * requests).round() as u128),
        // Entry::new's values without requests, so a merge ignores them as it would have.
        min_us: e.min_ms.filter(|_| some).map_or(u64::MAX, micros),
        max_us: e.max_ms.filter(|_| some).map_or(0, micros),
        content_bytes: (e.avg_content_size * requests).round() as u64,
        raw,
        corrected,
        first_s: if some { span.0 } else { f64::NAN },
        last_s: if some { span.1 } else { 0.0 },
        tls_handshakes: e.tls_handshakes,
        tls_handshake_us: e
            .tls_handshake_avg_ms
            .map_or(0, |avg| micros(avg * e.tls_handshakes as f64)),
    })
}

fn micros(ms: f64) -> u64 {
    (ms * 1000.0).round() as u64
}

/// A stage's statistics, its entries in the run's index order.
fn stage(s: &StageSummary, run: &[Entry], open: bool) -> anyhow::Result<StageStats> {
    let Some(index) = s.index.checked_sub(1) else {
        bail!("stage index 0 in the summary: stages count from 1");
    };
    let span = (s.start_s, s.end_s);
    let mut listed: Vec<Option<&EntrySummary>> = s.entries.iter().map(Some).collect();
    let entries = run
        .iter()
        .map(|r| {
            let own = listed
                .iter_mut()
                .find(|e| e.is_some_and(|e| e.method == r.method && e.name == r.name))
                .and_then(Option::take);
            match own {
                Some(e) => entry(e, span),
                None => Ok(Entry::new(&r.method, &r.name, open)),
            }
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // A stage's requests are the run's too: an endpoint only a stage lists is a broken summary.
    if let Some(e) = listed.into_iter().flatten().next() {
        bail!(
            "stage {} lists {} {}, which the run's entries do not",
            s.index,
            e.method,
            e.name
        );
    }
    Ok(StageStats {
        index,
        start_s: s.start_s,
        end_s: s.end_s,
        aggregate: entry(&s.aggregate, span)
            .with_context(|| format!("the aggregate of stage {}", s.index))?,
        entries,
    })
}

/// The plan's stages as the reports look them up (by the stage's 0-based index). Stages the
/// summary lists without a plan had none; planned stages that never ran left nothing, and get
/// an empty placeholder only when a later one needs its position.
fn plan(stages: &[StageSummary]) -> Vec<Stage> {
    let mut plan: Vec<Option<Stage>> = Vec::new();
    for s in stages {
        let (Some(name), Some(users), Some(spawn_rate), Some(index)) =
            (&s.name, s.users, s.spawn_rate, s.index.checked_sub(1))
        else {
            continue;
        };
        if plan.len() <= index {
            plan.resize(index + 1, None);
        }
        plan[index] = Some(Stage {
            name: name.clone(),
            users,
            spawn_rate,
            duration: Duration::try_from_secs_f64(s.end_s - s.start_s).unwrap_or_default(),
            arrival_rate: s.arrival_rate,
        });
    }
    plan.into_iter()
        .map(|s| {
            s.unwrap_or_else(|| Stage {
                name: Stage::default_name(0, None),
                users: 0,
                spawn_rate: 0.0,
                duration: Duration::ZERO,
                arrival_rate: None,
            })
        })
        .collect()
}

fn failures(rows: Vec<FailureRow>) -> BTreeMap<(String, String, String), FailureRow> {
    let mut map = BTreeMap::new();
    for row in rows {
        let key = (row.method.clone(), row.name.clone(), row.error.clone());
        map.insert(key, row);
    }
    map
}

#[cfg(test)]
#[path = "results_tests.rs"]
mod tests;
