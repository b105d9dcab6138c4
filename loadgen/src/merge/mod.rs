//! `loadgen merge`'s library side: the summary.json files of a run's N shards (`--shard I/N`)
//! back into one run's [`Results`], so that every report writer `loadgen run` uses renders the
//! whole run, and its thresholds are judged on the whole, which no shard alone can do.
//!
//! Exact where summary.json allows it (counts, HdrHistograms, failures, errors, the plan: see
//! `combine`), estimated and said so where it does not (a second's p50/p95/p99: see `series`).
//! Left out, with a note: the server monitors' series and the diagnosis, which are each shard's
//! own view; Locust's per-second history rows, which are running totals no summary keeps.
//!
//! Files: `inputs` finds, reads and checks the shards; `combine` adds their recorders; `series`
//! adds their seconds; this file rebuilds what the run was (`Meta`, its plan) and the rules the
//! shards judged, to be judged again.

mod combine;
mod inputs;
mod series;

use anyhow::Context as _;

pub use self::inputs::{ShardRun, find, read};
use crate::report::{Meta, Model, Results};
use crate::runner::Stage;
use crate::saturation::Saturation;
use crate::stats::Recorder;
use crate::threshold::{Threshold, Verdict};

/// The shards, merged.
pub struct Merged {
    /// The whole run, its verdicts not yet judged.
    pub results: Results,
    /// The rules the shards judged (their phase's, their `--threshold`s), once each.
    pub thresholds: Vec<Threshold>,
    /// What the merged reports leave out, in words.
    pub notes: Vec<String>,
}

/// Merges every shard of one run; `command` is the merge's own command line, for the reports.
pub fn merge(mut runs: Vec<ShardRun>, command: String) -> anyhow::Result<Merged> {
    inputs::check(&runs.iter().map(inputs::Identity::of).collect::<Vec<_>>())?;
    runs.sort_by_key(|r| r.shard.index);
    let earliest = runs
        .iter()
        .map(|r| r.results.meta.started_at)
        .min()
        .context("no summaries to merge")?;
    let offsets: Vec<f64> = runs
        .iter()
        .map(|r| (r.results.meta.started_at - earliest).num_milliseconds() as f64 / 1000.0)
        .collect();
    let open = runs[0].results.meta.model == Model::Open;
    let parts: Vec<combine::Part<'_>> = runs
        .iter()
        .zip(&offsets)
        .map(|(r, &offset_s)| combine::Part {
            path: &r.path,
            offset_s,
            recorder: &r.results.recorder,
        })
        .collect();
    let combined = combine::combine(&parts, open)?;
    let series_parts: Vec<series::SeriesPart<'_>> = runs
        .iter()
        .zip(&offsets)
        .zip(&combined.maps)
        .map(|((r, &offset), map)| series::SeriesPart {
            offset: offset.round() as u64,
            seconds: &r.results.recorder.seconds,
            map,
        })
        .collect();
    let seconds = series::merge(&series_parts, combined.entries.len(), earliest.timestamp());
    let duration_s = runs
        .iter()
        .zip(&offsets)
        .map(|(r, off)| off + r.results.meta.duration_s)
        .fold(0.0, f64::max);

    let mut recorder = Recorder::restored(combined.entries, open, earliest.timestamp(), duration_s);
    recorder.aggregate = combined.aggregate;
    recorder.stages = combined.stages;
    recorder.seconds = seconds;
    recorder.failures = combined.failures;
    recorder.exceptions = combined.exceptions;
    recorder.relogins = combined.relogins;
    recorder.dropped = combined.dropped;

    let metas: Vec<&Meta> = runs.iter().map(|r| &r.results.meta).collect();
    let meta = Meta {
        phase: metas[0].phase.clone(),
        scenario: metas[0].scenario.clone(),
        host: distinct(metas.iter().map(|m| Some(m.host.as_str()))).unwrap_or_default(),
        started_at: earliest,
        ended_at: metas.iter().map(|m| m.ended_at).max().unwrap_or(earliest),
        duration_s,
        model: metas[0].model,
        seed: metas[0].seed,
        command,
        tls_insecure: metas.iter().any(|m| m.tls_insecure),
        protocol: distinct(metas.iter().map(|m| m.protocol.as_deref())),
        shard: None,
        stages: plan(&metas),
    };
    let mut notes = Vec::new();
    if runs.iter().any(|r| r.results.server.is_some()) {
        notes.push(
            "the shards' server monitors are not merged (each watched the server on its own \
             clock): see each shard's report"
                .to_owned(),
        );
    }
    if runs.iter().any(|r| !r.results.findings.is_empty()) {
        notes.push(
            "the shards' diagnoses are not merged (each judged its own share): see each \
             shard's report"
                .to_owned(),
        );
    }
    let mut thresholds: Vec<Threshold> = Vec::new();
    for r in &runs {
        for v in &r.results.verdicts {
            let t = judged(v).with_context(|| format!("{}: its thresholds", r.path.display()))?;
            add_rule(&mut thresholds, t);
        }
    }
    Ok(Merged {
        results: Results {
            meta,
            recorder,
            verdicts: Vec::new(),
            saturation: worst(runs.iter().map(|r| &r.results.saturation)),
            stage_slos: Vec::new(),
            drift: None,
            server: None,
            findings: Vec::new(),
            reconciliation: None,
            baseline: None,
            faults: None,
        },
        thresholds,
        notes,
    })
}

/// Adds `rule` unless the same rule in the same stage is there already.
pub fn add_rule(rules: &mut Vec<Threshold>, rule: Threshold) {
    if !rules
        .iter()
        .any(|t| t.source == rule.source && t.stage == rule.stage)
    {
        rules.push(rule);
    }
}

/// The rule a shard judged. A phase's per-stage rule is written without its stage, which the
/// verdict's scope (`stage 3, all requests`: `verdict::evaluate`'s words) still says.
fn judged(v: &Verdict) -> anyhow::Result<Threshold> {
    let t = Threshold::parse(&v.threshold)?;
    let stage = v
        .scope
        .strip_prefix("stage ")
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse::<usize>().ok())
        .and_then(|n| n.checked_sub(1));
    Ok(match stage {
        Some(s) => t.in_stage(s),
        None => t,
    })
}

/// The whole plan: each stage's shares added in shard order, which gives back the whole's
/// numbers exactly (`crate::shard`'s split is made for it).
fn plan(metas: &[&Meta]) -> Vec<Stage> {
    let stages = metas.iter().map(|m| m.stages.len()).max().unwrap_or(0);
    (0..stages)
        .map(|k| {
            let shares: Vec<&Stage> = metas.iter().filter_map(|m| m.stages.get(k)).collect();
            let arrival = shares
                .iter()
                .filter_map(|s| s.arrival_rate)
                .reduce(|a, b| a + b);
            Stage {
                name: shares.first().map(|s| s.name.clone()).unwrap_or_default(),
                users: shares.iter().map(|s| s.users).sum(),
                spawn_rate: shares.iter().fold(0.0, |a, s| a + s.spawn_rate),
                duration: shares.iter().map(|s| s.duration).max().unwrap_or_default(),
                arrival_rate: arrival,
            }
        })
        .collect()
}

/// The values the shards had, each once, joined; None when none had one.
fn distinct<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for v in values.flatten() {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    (!seen.is_empty()).then(|| seen.join(", "))
}

/// The most saturated shard's figures: a generator that could not keep up skews its share of the
/// latencies, and the merged report must say so.
fn worst<'a>(all: impl Iterator<Item = &'a Saturation>) -> Saturation {
    all.fold(Saturation::default(), |w, s| Saturation {
        max_lag_ms: w.max_lag_ms.max(s.max_lag_ms),
        lagging_seconds: w.lagging_seconds.max(s.lagging_seconds),
        max_cpu: w.max_cpu.max(s.max_cpu),
        busy_seconds: w.busy_seconds.max(s.busy_seconds),
        cores: w.cores.max(s.cores),
    })
}

#[cfg(test)]
mod tests;
