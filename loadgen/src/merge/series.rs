//! The per-second series of the shards added on wall-clock time: a shard that started `k` whole
//! seconds after the earliest one has its second `t` in the merged second `t + k` (shards begun
//! at one `--start-at` all have `k = 0`). Users, requests and failures add exactly.
//!
//! A second's p50/p95/p99 cannot: a shard's summary keeps those three numbers of each second, not
//! the second's histogram. The merged value is read off the shards' seconds taken together, each
//! known only at its three points: a shard's share of requests at or below a value `v` is taken
//! as the highest of its points at or below `v` (0.5 at its p50, and so on), and the merged
//! quantile `q` is the lowest point at which the shards, weighted by their requests, reach `q`.
//! It never reads below what a slow shard shows at its tail, and one shard gives back its own
//! numbers. These are chart points; every verdict reads the exact histograms.

use crate::stats::{EndpointSecond, Second};

/// One shard's seconds and where they go.
pub(super) struct SeriesPart<'a> {
    /// Whole seconds from the earliest shard's start to this one's.
    pub(super) offset: u64,
    pub(super) seconds: &'a [Second],
    /// The merged index of each of the shard's endpoint columns.
    pub(super) map: &'a [usize],
}

/// A second's latency as a shard knows it: its requests and its p50, p95, p99.
type Known = (u64, [Option<f64>; 3]);

const POINTS: [f64; 3] = [0.5, 0.95, 0.99];

#[derive(Default)]
struct Slot {
    contributed: bool,
    unix: Option<i64>,
    users: usize,
    stage: usize,
    requests: u64,
    failures: u64,
    latency: Vec<Known>,
    endpoints: Vec<(u64, u64, Vec<Known>)>,
}

/// The merged series; `start_unix` is the earliest shard's start (for seconds nobody reported).
pub(super) fn merge(parts: &[SeriesPart<'_>], endpoints: usize, start_unix: i64) -> Vec<Second> {
    let len = parts
        .iter()
        .filter_map(|p| p.seconds.iter().map(|s| s.t + p.offset).max())
        .max()
        .unwrap_or(0);
    let mut slots: Vec<Slot> = (0..len)
        .map(|_| Slot {
            endpoints: vec![(0, 0, Vec::new()); endpoints],
            ..Slot::default()
        })
        .collect();
    for part in parts {
        for s in part.seconds {
            let Some(slot) = (s.t + part.offset)
                .checked_sub(1)
                .and_then(|i| slots.get_mut(i as usize))
            else {
                continue;
            };
            slot.contributed = true;
            slot.unix = Some(slot.unix.map_or(s.unix, |u| u.min(s.unix)));
            slot.users += s.users;
            slot.stage = slot.stage.max(s.stage);
            slot.requests += s.requests;
            slot.failures += s.failures;
            slot.latency.push((s.requests, [s.p50, s.p95, s.p99]));
            for (e, &i) in s.endpoints.iter().zip(part.map) {
                if let Some((requests, failures, latency)) = slot.endpoints.get_mut(i) {
                    *requests += e.requests;
                    *failures += e.failures;
                    latency.push((e.requests, [e.p50, e.p95, e.p99]));
                }
            }
        }
    }
    let mut stage = 0;
    slots
        .into_iter()
        .enumerate()
        .map(|(i, slot)| {
            let t = i as u64 + 1;
            // A second nobody reported (a shard that started late) stays in the stage before it.
            if slot.contributed {
                stage = slot.stage;
            }
            let [p50, p95, p99] = POINTS.map(|q| quantile(&slot.latency, q));
            Second {
                t,
                unix: slot.unix.unwrap_or(start_unix + t as i64),
                users: slot.users,
                stage,
                requests: slot.requests,
                failures: slot.failures,
                p50,
                p95,
                p99,
                endpoints: slot
                    .endpoints
                    .into_iter()
                    .map(|(requests, failures, latency)| {
                        let [p50, p95, p99] = POINTS.map(|q| quantile(&latency, q));
                        EndpointSecond {
                            requests,
                            failures,
                            p50,
                            p95,
                            p99,
                        }
                    })
                    .collect(),
                history: Default::default(),
            }
        })
        .collect()
}

/// The merged quantile `q` (one of `POINTS`) of seconds known at their three points; see the
/// module's doc. None when no shard had a request that second.
fn quantile(known: &[Known], q: f64) -> Option<f64> {
    let known: Vec<&Known> = known
        .iter()
        .filter(|(n, p)| *n > 0 && p.iter().all(Option::is_some))
        .collect();
    let total: u64 = known.iter().map(|(n, _)| n).sum();
    if total == 0 {
        return None;
    }
    let mut candidates: Vec<f64> = known
        .iter()
        .flat_map(|(_, p)| p.iter().flatten().copied())
        .collect();
    candidates.sort_by(f64::total_cmp);
    let goal = q * total as f64;
    candidates.into_iter().find(|&v| {
        let reached: f64 = known
            .iter()
            .map(|(n, p)| {
                let share = POINTS
                    .iter()
                    .zip(p)
                    .filter(|(_, at)| at.is_some_and(|at| at <= v))
                    .map(|(q, _)| *q)
                    .fold(0.0, f64::max);
                *n as f64 * share
            })
            .sum();
        // The shares are sums of the same products the goal is: a relative hair of rounding.
        reached >= goal * (1.0 - 1e-12)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(t: u64, unix: i64, users: usize, requests: u64, p: [f64; 3]) -> Second {
        Second {
            t,
            unix,
            users,
            stage: 0,
            requests,
            failures: 1,
            p50: Some(p[0]),
            p95: Some(p[1]),
            p99: Some(p[2]),
            endpoints: vec![EndpointSecond {
                requests,
                failures: 1,
                p50: Some(p[0]),
                p95: Some(p[1]),
                p99: Some(p[2]),
            }],
            history: Default::default(),
        }
    }

    #[test]
    fn one_shard_gives_back_its_own_seconds() {
        let own = [
            second(1, 100, 3, 40, [1.0, 2.0, 3.0]),
            second(2, 101, 3, 50, [2.0, 2.0, 9.0]),
        ];
        let merged = merge(
            &[SeriesPart {
                offset: 0,
                seconds: &own,
                map: &[0],
            }],
            1,
            99,
        );
        assert_eq!(merged, own);
    }

    #[test]
    fn counts_add_on_wall_clock_time_and_a_slow_shard_shows_in_the_tail() {
        let fast = [
            second(1, 100, 3, 300, [1.0, 2.0, 3.0]),
            second(2, 101, 3, 300, [1.0, 2.0, 3.0]),
        ];
        let slow = [second(1, 101, 1, 100, [100.0, 120.0, 150.0])];
        let merged = merge(
            &[
                SeriesPart {
                    offset: 0,
                    seconds: &fast,
                    map: &[0],
                },
                SeriesPart {
                    offset: 1,
                    seconds: &slow,
                    map: &[0],
                },
            ],
            1,
            99,
        );
        assert_eq!(merged.len(), 2);
        assert_eq!((merged[0].requests, merged[0].users), (300, 3));
        assert_eq!(
            (merged[1].requests, merged[1].failures, merged[1].users),
            (400, 2, 4)
        );
        assert_eq!(merged[1].endpoints[0].requests, 400);
        // A quarter of the second's requests were slow: its median is fast, its tail slow.
        assert_eq!(merged[1].p50, Some(2.0));
        assert_eq!(merged[1].p95, Some(120.0));
        assert_eq!(merged[1].p99, Some(150.0));
        assert_eq!(merged[1].unix, 101);
    }

    #[test]
    fn a_second_without_requests_has_no_latency() {
        assert_eq!(quantile(&[(0, [None, None, None])], 0.5), None);
        assert_eq!(quantile(&[], 0.99), None);
    }
}
