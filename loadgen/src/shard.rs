//! `--shard I/N`: one generator process's share of a plan split over N processes, so that N
//! standalone runs started together (`--start-at`) are one run, and `loadgen merge` can judge
//! them as one. This is k6's execution segments made concrete, with one rule instead of fractions
//! on the command line: shards count from 1, and user `k` of the whole plan (from 0) is shard
//! `k mod N + 1`'s. Striping, rather than a block of users per shard, keeps every shard's share
//! within one user of the others' and makes each shard's users grow with the whole's at every
//! stage, so a ramp down stops users on every shard and never starts one anywhere.
//!
//! What must hold, whatever the numbers: the shards' users add up to the whole's exactly, and so
//! do their rates when summed in shard order (`loadgen merge` rebuilds the whole's plan that way).
//! Integers split by the striping. A rate is split as an integer too: it is exactly `m * 2^e`
//! (its 53-bit significand and exponent), `m` is cut at the cumulative points `m * W_k / W` of the
//! shards' integer weights, and shard k takes the steps between its two points times `2^e`. Every
//! share and every partial sum is then a whole number of `2^e` below `2^53` of them, which a float
//! holds exactly, so the additions never round and the sum is the rate to the bit. (Cutting the
//! float itself, `rate * W_k / W`, is off by an ulp for some weights.) Each share is within
//! `2^e`, one ulp of the rate, of its exact proportion.

use std::fmt;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::runner::Stage;

/// Shard `index` (from 1) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Shard {
    /// From 1 to `count`.
    pub index: usize,
    pub count: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// `I/N`, with `1 <= I <= N`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let Some((i, n)) = text.trim().split_once('/') else {
            bail!("--shard {text:?}: write I/N, e.g. 2/4 (shard 2 of 4; shards count from 1)");
        };
        let (Ok(index), Ok(count)) = (i.trim().parse::<usize>(), n.trim().parse::<usize>()) else {
            bail!("--shard {text:?}: I and N must be whole numbers, e.g. 2/4");
        };
        if count == 0 {
            bail!("--shard {text:?}: N must be at least 1");
        }
        if index == 0 {
            // Kubernetes' completion index, the likeliest source of a 0, counts from 0.
            bail!("--shard {text:?}: shards count from 1 to N (from a 0-based index, add 1)");
        }
        if index > count {
            bail!("--shard {text:?}: I must be at most N");
        }
        Ok(Self { index, count })
    }

    /// This shard's users of `whole`: the whole's users `k` with `k mod N == I - 1`.
    pub fn users(self, whole: usize) -> usize {
        (whole + self.count - self.index) / self.count
    }

    /// Every shard's users of `whole`, in shard order.
    fn all_users(count: usize, whole: usize) -> Vec<usize> {
        (1..=count)
            .map(|index| Self { index, count }.users(whole))
            .collect()
    }

    /// This shard's stages of the whole plan's: the same names and durations; users striped; the
    /// spawn rate in proportion to the users each shard starts or stops on the way into the
    /// stage (so every shard ends its ramp about when the whole would); the arrival rate in
    /// proportion to each shard's users (its concurrency cap), so every user carries the same load.
    pub fn stages(self, whole: &[Stage]) -> Vec<Stage> {
        let mut before = vec![0; self.count];
        whole
            .iter()
            .map(|stage| {
                let users = Self::all_users(self.count, stage.users);
                let changes: Vec<usize> = users
                    .iter()
                    .zip(&before)
                    .map(|(now, then)| now.abs_diff(*then))
                    .collect();
                // A stage that keeps the users it had spawns nobody: its rate goes where the users are.
                let spawn_weights = if changes.iter().any(|c| *c > 0) {
                    &changes
                } else {
                    &users
                };
                let share = Stage {
                    name: stage.name.clone(),
                    users: users[self.index - 1],
                    spawn_rate: self.rate(stage.spawn_rate, spawn_weights),
                    duration: stage.duration,
                    arrival_rate: stage.arrival_rate.map(|rate| self.rate(rate, &users)),
                };
                before = users;
                share
            })
            .collect()
    }

    /// This shard's part of `rate`, split in proportion to `weights` (one per shard), or evenly
    /// when every weight is 0 (or the weights are not one per shard). See the module's doc for
    /// why the parts sum exactly.
    pub fn rate(self, rate: f64, weights: &[usize]) -> f64 {
        if !(rate.is_finite() && rate > 0.0) {
            // Nothing to split (plans refuse such rates): the first shard keeps it whole.
            return if self.index == 1 { rate } else { 0.0 };
        }
        let even = vec![1; self.count];
        let weights = if weights.len() == self.count && weights.iter().any(|w| *w > 0) {
            weights
        } else {
            &even
        };
        let (m, e) = significand_and_exponent(rate);
        let total: u128 = weights.iter().map(|w| *w as u128).sum();
        let point = |k: usize| -> u64 {
            let upto: u128 = weights[..k].iter().map(|w| *w as u128).sum();
            // m < 2^53 and the weights' sum < 2^64: the product fits, the quotient is at most m.
            (u128::from(m) * upto / total) as u64
        };
        libm::ldexp((point(self.index) - point(self.index - 1)) as f64, e)
    }

    /// The seed of this shard's random choices: the run's own for a whole run, else one derived
    /// from it, since shards number their users from 0 alike and would otherwise repeat each
    /// other's choices user for user.
    pub fn seed(self, seed: u64) -> u64 {
        if self.count == 1 {
            return seed;
        }
        // SplitMix64's finaliser: neighbouring indices give unrelated seeds.
        let mut z = seed.wrapping_add((self.index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `(m, e)` with `x == m * 2^e` exactly, `m < 2^53`, for a positive finite `x`.
fn significand_and_exponent(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    if exponent == 0 {
        // Subnormal: no implicit leading bit.
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), exponent - 1075)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn all(count: usize) -> impl Iterator<Item = Shard> {
        (1..=count).map(move |index| Shard { index, count })
    }

    fn stage(users: usize, spawn_rate: f64, arrival_rate: Option<f64>) -> Stage {
        Stage {
            name: format!("{users} users"),
            users,
            spawn_rate,
            duration: Duration::from_secs(30),
            arrival_rate,
        }
    }

    /// The shards' stages summed in shard order, as `loadgen merge` rebuilds the whole.
    fn summed(whole: &[Stage], count: usize) -> Vec<(usize, f64, Option<f64>)> {
        let shares: Vec<Vec<Stage>> = all(count).map(|s| s.stages(whole)).collect();
        (0..whole.len())
            .map(|i| {
                let mut users = 0;
                let mut spawn = 0.0;
                let mut arrival: Option<f64> = None;
                for share in &shares {
                    users += share[i].users;
                    spawn += share[i].spawn_rate;
                    if let Some(a) = share[i].arrival_rate {
                        arrival = Some(arrival.unwrap_or(0.0) + a);
                    }
                }
                (users, spawn, arrival)
            })
            .collect()
    }

    #[test]
    fn the_flag_counts_from_one() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(Shard::parse(" 1 / 1 ").unwrap().to_string(), "1/1");
        for (bad, says) in [
            ("0/4", "count from 1"),
            ("5/4", "at most N"),
            ("1/0", "at least 1"),
            ("2", "write I/N"),
            ("a/b", "whole numbers"),
            ("-1/4", "whole numbers"),
        ] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("--shard") && e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn users_are_striped_first_shards_first() {
        let users = |n, whole| all(n).map(|s| s.users(whole)).collect::<Vec<_>>();
        assert_eq!(users(4, 10), [3, 3, 2, 2]);
        assert_eq!(users(4, 2), [1, 1, 0, 0]);
        assert_eq!(users(3, 0), [0, 0, 0]);
        assert_eq!(users(1, 7), [7]);
    }

    #[test]
    fn rates_follow_the_users_each_shard_starts() {
        // 10 users at 2/s: each shard reaches its users after 5 s, as the whole does.
        let shares: Vec<Stage> = all(4)
            .map(|s| s.stages(&[stage(10, 2.0, None)]).remove(0))
            .collect();
        for s in &shares {
            assert!((s.users as f64 / s.spawn_rate - 5.0).abs() < 1e-9, "{s:?}");
        }
        // From 10 to 20 users at 5/s: shards 1 and 2 start 2 more, shards 3 and 4 start 3.
        let whole = [stage(10, 2.0, None), stage(20, 5.0, None)];
        let second: Vec<f64> = all(4).map(|s| s.stages(&whole)[1].spawn_rate).collect();
        assert_eq!(second, [1.0, 1.0, 1.5, 1.5]);
        // Open model: the arrival rate goes with the users, every user carrying the same load.
        let open: Vec<Option<f64>> = all(4)
            .map(|s| s.stages(&[stage(50, 50.0, Some(500.0))])[0].arrival_rate)
            .collect();
        assert_eq!(open, [Some(130.0), Some(130.0), Some(120.0), Some(120.0)]);
    }

    #[test]
    fn one_shard_is_the_whole_plan() {
        let whole = [
            stage(10, 0.3, None),
            stage(3, 7.1, None),
            stage(3, 1.0, None),
            stage(0, 2.0, None),
        ];
        assert_eq!(Shard { index: 1, count: 1 }.stages(&whole), whole);
        let open = [stage(7, 7.0, Some(123.456)), stage(0, 1.0, Some(0.1))];
        assert_eq!(Shard { index: 1, count: 1 }.stages(&open), open);
        assert_eq!(Shard { index: 1, count: 1 }.seed(42), 42);
    }

    #[test]
    fn shards_draw_different_random_choices() {
        let seeds: std::collections::BTreeSet<u64> = all(16).map(|s| s.seed(0)).collect();
        assert_eq!(seeds.len(), 16);
        assert_eq!(
            Shard { index: 3, count: 4 }.seed(9),
            Shard { index: 3, count: 4 }.seed(9)
        );
    }

    proptest! {
        /// Whatever the numbers, the shares are never negative and add up to the whole exactly.
        #[test]
        fn shares_add_up_to_the_whole_exactly(
            plan in proptest::collection::vec((0usize..5_000, 0.001f64..10_000.0, proptest::option::of(0.001f64..100_000.0)), 1..6),
            count in 1usize..40,
            open in any::<bool>(),
        ) {
            let whole: Vec<Stage> = plan
                .iter()
                .map(|&(users, spawn, arrival)| stage(users, spawn, if open { Some(arrival.unwrap_or(1.0)) } else { None }))
                .collect();
            for shard in all(count) {
                for s in shard.stages(&whole) {
                    prop_assert!(s.spawn_rate >= 0.0);
                    prop_assert!(s.arrival_rate.is_none_or(|a| a >= 0.0));
                }
            }
            for (w, (users, spawn, arrival)) in whole.iter().zip(summed(&whole, count)) {
                prop_assert_eq!(users, w.users);
                prop_assert_eq!(spawn, w.spawn_rate, "spawn rate of {:?} over {}", w, count);
                prop_assert_eq!(arrival, w.arrival_rate, "arrival rate of {:?} over {}", w, count);
            }
        }

        /// Any weights, awkward rates: the parts in shard order sum to the rate to the bit.
        #[test]
        fn a_rate_splits_exactly_by_any_weights(
            weights in proptest::collection::vec(0usize..1_000, 1..64),
            rate in 1e-9f64..1e12,
        ) {
            let count = weights.len();
            let parts: Vec<f64> = all(count).map(|s| s.rate(rate, &weights)).collect();
            prop_assert!(parts.iter().all(|p| *p >= 0.0));
            prop_assert_eq!(parts.iter().fold(0.0, |a, p| a + p), rate);
            // Each within an ulp of the rate of its exact share.
            let total: usize = weights.iter().sum();
            if total > 0 {
                for (part, w) in parts.iter().zip(&weights) {
                    let exact = rate * (*w as f64 / total as f64);
                    prop_assert!((part - exact).abs() <= rate * 4.0 * f64::EPSILON, "{} vs {}", part, exact);
                }
            }
        }
    }

    #[test]
    fn awkward_numbers_split_exactly() {
        for (rate, count) in [
            (0.1, 3),
            (1.0 / 3.0, 7),
            (2.2, 9),
            (1e-7, 13),
            (123_456.789, 64),
            (657_715_396_974.550_9, 3),
            (f64::MIN_POSITIVE / 3.0, 5),
            (f64::MAX, 7),
        ] {
            let parts: Vec<f64> = all(count).map(|s| s.rate(rate, &[])).collect();
            assert_eq!(
                parts.iter().fold(0.0, |a, p| a + p),
                rate,
                "{rate} over {count}"
            );
        }
        assert_eq!(summed(&[stage(1_000_003, 0.7, None)], 7)[0].0, 1_000_003);
    }
}
