//! The shards' recorders added into one: every endpoint's counts and HdrHistograms (service time
//! and, in the open model, corrected), per run and per stage, the failures and errors. This is
//! where a merge is exact: histograms add bucket by bucket, so a merged percentile is the one a
//! single process that had recorded every request would report.
//!
//! Shards number their endpoints alike (one scenario), but the merge goes by `METHOD NAME` rather
//! than by position, so that no summary's column lands under another endpoint's name. Times
//! inside a shard count from its own start; `offset_s` moves them onto the merged run's clock.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::bail;

use crate::stats::{Entry, FailureRow, Recorder, StageStats};

/// One shard's numbers and where they came from.
pub(super) struct Part<'a> {
    pub(super) path: &'a Path,
    /// Seconds from the earliest shard's start to this one's.
    pub(super) offset_s: f64,
    pub(super) recorder: &'a Recorder,
}

/// The shards' recorders, added up.
pub(super) struct Combined {
    pub(super) entries: Vec<Entry>,
    pub(super) aggregate: Entry,
    /// By stage, in stage order.
    pub(super) stages: Vec<StageStats>,
    pub(super) failures: BTreeMap<(String, String, String), FailureRow>,
    pub(super) exceptions: BTreeMap<String, u64>,
    pub(super) relogins: u64,
    pub(super) dropped: u64,
    /// For each part, the merged index of each of its entries (its series' columns too).
    pub(super) maps: Vec<Vec<usize>>,
}

pub(super) fn combine(parts: &[Part<'_>], open: bool) -> anyhow::Result<Combined> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let maps: Vec<Vec<usize>> = parts
        .iter()
        .map(|p| {
            p.recorder
                .entries
                .iter()
                .map(|e| {
                    match keys
                        .iter()
                        .position(|(m, n)| *m == e.method && *n == e.name)
                    {
                        Some(i) => i,
                        None => {
                            keys.push((e.method.clone(), e.name.clone()));
                            keys.len() - 1
                        }
                    }
                })
                .collect()
        })
        .collect();
    let fresh = |keys: &[(String, String)]| -> Vec<Entry> {
        keys.iter().map(|(m, n)| Entry::new(m, n, open)).collect()
    };
    let mut entries = fresh(&keys);
    let mut aggregate = Entry::new("", "Aggregated", open);
    let mut stages: BTreeMap<usize, StageStats> = BTreeMap::new();
    let mut failures = BTreeMap::new();
    let mut exceptions: BTreeMap<String, u64> = BTreeMap::new();
    let (mut relogins, mut dropped) = (0, 0);
    for (part, map) in parts.iter().zip(&maps) {
        let r = part.recorder;
        for (e, &i) in r.entries.iter().zip(map) {
            add(&mut entries[i], e, part)?;
        }
        add(&mut aggregate, &r.aggregate, part)?;
        for s in &r.stages {
            let slot = stages.entry(s.index).or_insert_with(|| StageStats {
                index: s.index,
                start_s: f64::INFINITY,
                end_s: f64::NEG_INFINITY,
                entries: fresh(&keys),
                aggregate: Entry::new("", "Aggregated", open),
            });
            slot.start_s = slot.start_s.min(s.start_s + part.offset_s);
            slot.end_s = slot.end_s.max(s.end_s + part.offset_s);
            for (e, &i) in s.entries.iter().zip(map) {
                add(&mut slot.entries[i], e, part)?;
            }
            add(&mut slot.aggregate, &s.aggregate, part)?;
        }
        for (key, row) in &r.failures {
            failures
                .entry(key.clone())
                .and_modify(|into: &mut FailureRow| {
                    into.occurrences += row.occurrences;
                    into.first_seen = into.first_seen.min(row.first_seen);
                    into.last_seen = into.last_seen.max(row.last_seen);
                    into.status = into.status.or(row.status);
                    if into.example.is_none() {
                        into.example.clone_from(&row.example);
                    }
                })
                .or_insert_with(|| row.clone());
        }
        for (message, count) in &r.exceptions {
            *exceptions.entry(message.clone()).or_default() += count;
        }
        relogins += r.relogins;
        dropped += r.dropped;
    }
    Ok(Combined {
        entries,
        aggregate,
        stages: stages.into_values().collect(),
        failures,
        exceptions,
        relogins,
        dropped,
        maps,
    })
}

/// Adds `from` (on its shard's clock) into `into`, refusing a histogram that would not add in
/// full: `Entry::merge` drops what does not fit, and a merge must never be silently short.
fn add(into: &mut Entry, from: &Entry, part: &Part<'_>) -> anyhow::Result<()> {
    if from.requests == 0 {
        return Ok(());
    }
    let name = || format!("{} {}", from.method, from.name).trim().to_owned();
    if into.corrected.is_some() && from.corrected.is_none() {
        bail!(
            "{}: {} has no corrected_histogram, which an open-model run has",
            part.path.display(),
            name()
        );
    }
    let raw = into.raw.len() + from.raw.len();
    let corrected = into.corrected.as_ref().map(|h| h.len()).unwrap_or_default()
        + from.corrected.as_ref().map(|h| h.len()).unwrap_or_default();
    let mut shifted = from.clone();
    shifted.first_s += part.offset_s;
    shifted.last_s += part.offset_s;
    into.merge(&shifted);
    let added = into.corrected.as_ref().map(|h| h.len()).unwrap_or_default();
    if into.raw.len() != raw || (into.corrected.is_some() && added != corrected) {
        bail!(
            "{}: the histogram of {} does not add up (values beyond what loadgen records?)",
            part.path.display(),
            name()
        );
    }
    Ok(())
}
