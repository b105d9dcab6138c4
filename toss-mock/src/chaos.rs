//! Seeded chaos for confirms: latency, refusals, hangs that end in a dropped connection, and the
//! approval whose answer is lost (commit-then-drop). The n-th confirm's fate depends only on the
//! seed and n, so the same sequence of confirms meets the same chaos on every run.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codes::{self, Code};

/// z of the normal distribution's 99th percentile: a lognormal's p99 is `median * e^(z * sigma)`.
const Z99: f64 = 2.326_347_874_040_840_8;
/// No sampled delay exceeds this, however heavy the tail asked for.
const MAX_LATENCY: Duration = Duration::from_secs(120);

/// The chaos settings, as flags, `Config::chaos` and `PUT /__mock/chaos` name them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Chaos {
    /// Added to every confirm: `fixed:50ms` or `lognormal:median=120ms,p99=900ms`.
    #[schema(value_type = Option<String>, example = "fixed:50ms")]
    pub latency: Option<Latency>,
    /// Fraction of confirms refused with `error_code`, the payment left `ABORTED`.
    pub error_rate: f64,
    pub error_code: String,
    /// Fraction of confirms that hang for `hang`, then close the connection without an answer.
    pub timeout_rate: f64,
    #[serde(serialize_with = "duration_out", deserialize_with = "duration_in")]
    #[schema(value_type = String, example = "30s")]
    pub hang: Duration,
    /// Fraction of confirms that approve the payment, then close the connection without an answer.
    pub commit_then_drop_rate: f64,
}

impl Default for Chaos {
    fn default() -> Self {
        Self {
            latency: None,
            error_rate: 0.0,
            error_code: codes::PROVIDER_ERROR.code.to_string(),
            timeout_rate: 0.0,
            hang: Duration::from_secs(30),
            commit_then_drop_rate: 0.0,
        }
    }
}

impl Chaos {
    /// Checks the settings and builds what confirms draw from.
    pub fn compile(&self) -> Result<Compiled, String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("timeout_rate", self.timeout_rate),
            ("commit_then_drop_rate", self.commit_then_drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, not {rate}"));
            }
        }
        let sum = self.error_rate + self.timeout_rate + self.commit_then_drop_rate;
        if sum > 1.0 + 1e-9 {
            return Err(format!(
                "error_rate + timeout_rate + commit_then_drop_rate is {sum}, over 1"
            ));
        }
        let error_code = codes::find(&self.error_code)
            .filter(|c| c.status >= 400)
            .ok_or_else(|| format!("unknown error_code {:?}", self.error_code))?;
        let latency = match self.latency {
            None => Delay::None,
            Some(Latency::Fixed(d)) => Delay::Fixed(d),
            Some(Latency::LogNormal { median, p99 }) => {
                let sigma = (p99.as_secs_f64() / median.as_secs_f64()).ln() / Z99;
                let dist = LogNormal::new(median.as_secs_f64().ln(), sigma)
                    .map_err(|e| format!("latency: {e}"))?;
                Delay::LogNormal(dist)
            }
        };
        Ok(Compiled {
            settings: self.clone(),
            latency,
            error_code,
        })
    }
}

/// A latency distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    Fixed(Duration),
    LogNormal { median: Duration, p99: Duration },
}

impl FromStr for Latency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let duration = |v: &str| {
            humantime::parse_duration(v.trim()).map_err(|e| format!("latency {s:?}: {v:?}: {e}"))
        };
        let (kind, args) = s.split_once(':').ok_or_else(|| {
            format!("latency {s:?}: expected fixed:DUR or lognormal:median=DUR,p99=DUR")
        })?;
        match kind.trim() {
            "fixed" => Ok(Self::Fixed(duration(args)?)),
            "lognormal" => {
                let (mut median, mut p99) = (None, None);
                for part in args.split(',') {
                    match part.split_once('=') {
                        Some(("median", v)) => median = Some(duration(v)?),
                        Some(("p99", v)) => p99 = Some(duration(v)?),
                        _ => return Err(format!("latency {s:?}: unknown part {part:?}")),
                    }
                }
                let (Some(median), Some(p99)) = (median, p99) else {
                    return Err(format!("latency {s:?}: needs median= and p99="));
                };
                if median.is_zero() || p99 < median {
                    return Err(format!("latency {s:?}: needs 0 < median <= p99"));
                }
                Ok(Self::LogNormal { median, p99 })
            }
            other => Err(format!("latency {s:?}: unknown distribution {other:?}")),
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(d) => write!(f, "fixed:{}", humantime::format_duration(*d)),
            Self::LogNormal { median, p99 } => write!(
                f,
                "lognormal:median={},p99={}",
                humantime::format_duration(*median),
                humantime::format_duration(*p99)
            ),
        }
    }
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

fn duration_out<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*d))
}

fn duration_in<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    humantime::parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

#[derive(Debug)]
enum Delay {
    None,
    Fixed(Duration),
    LogNormal(LogNormal<f64>),
}

/// Checked settings, ready to draw from.
#[derive(Debug)]
pub struct Compiled {
    pub settings: Chaos,
    latency: Delay,
    error_code: &'static Code,
}

/// What happens to one confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Answer,
    Refuse(&'static Code),
    /// Hang this long, then drop the connection; nothing is processed.
    Hang(Duration),
    /// Process as usual, then drop the connection.
    CommitThenDrop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub latency: Duration,
    pub fate: Fate,
}

impl Compiled {
    /// No chaos at all.
    pub fn none() -> Self {
        Self {
            settings: Chaos::default(),
            latency: Delay::None,
            error_code: &codes::PROVIDER_ERROR,
        }
    }

    fn plan(&self, rng: &mut ChaCha8Rng) -> Plan {
        // The fate is drawn first: each confirm has its own stream, so what the latency draws
        // after it changes nothing else.
        let r: f64 = rng.random();
        let s = &self.settings;
        let fate = if r < s.timeout_rate {
            Fate::Hang(s.hang)
        } else if r < s.timeout_rate + s.error_rate {
            Fate::Refuse(self.error_code)
        } else if r < s.timeout_rate + s.error_rate + s.commit_then_drop_rate {
            Fate::CommitThenDrop
        } else {
            Fate::Answer
        };
        let latency = match &self.latency {
            Delay::None => Duration::ZERO,
            Delay::Fixed(d) => *d,
            Delay::LogNormal(dist) => {
                Duration::from_secs_f64(dist.sample(rng).min(MAX_LATENCY.as_secs_f64()))
            }
        };
        Plan { latency, fate }
    }
}

/// The running chaos: its settings (replaceable at run time) and the count of confirms drawn.
#[derive(Debug)]
pub struct Engine {
    seed: u64,
    drawn: AtomicU64,
    current: RwLock<Arc<Compiled>>,
}

impl Engine {
    pub fn new(seed: u64, compiled: Compiled) -> Self {
        Self {
            seed,
            drawn: AtomicU64::new(0),
            current: RwLock::new(Arc::new(compiled)),
        }
    }

    /// The next confirm's plan: confirm n draws from stream n of the seed's generator.
    pub fn next(&self) -> Plan {
        let n = self.drawn.fetch_add(1, Ordering::Relaxed);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(n);
        self.compiled().plan(&mut rng)
    }

    pub fn compiled(&self) -> Arc<Compiled> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set(&self, compiled: Compiled) {
        let compiled = Arc::new(compiled);
        match self.current.write() {
            Ok(mut c) => *c = compiled,
            Err(poisoned) => *poisoned.into_inner() = compiled,
        }
    }

    /// Starts the sequence again (`POST /__mock/reset`), so a reset run repeats the last one.
    pub fn restart(&self) {
        self.drawn.store(0, Ordering::Relaxed);
    }
}

/// On a dropped response (the edge closes its connection on `http_edge::CloseConnection`): whether
/// the request was processed, which the idempotency gate needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Nothing was processed (a hang): an idempotent retry runs afresh.
    BeforeCommit,
    /// The request was processed and its answer lost: an idempotent retry replays it.
    AfterCommit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_parses_and_prints() {
        let l: Latency = "lognormal:median=120ms,p99=900ms".parse().unwrap();
        assert_eq!(
            l,
            Latency::LogNormal {
                median: Duration::from_millis(120),
                p99: Duration::from_millis(900)
            }
        );
        assert_eq!(l.to_string(), "lognormal:median=120ms,p99=900ms");
        assert_eq!(
            "fixed:50ms".parse::<Latency>().unwrap(),
            Latency::Fixed(Duration::from_millis(50))
        );
        for bad in [
            "",
            "fixed",
            "normal:1s",
            "lognormal:median=1s",
            "lognormal:median=2s,p99=1s",
        ] {
            assert!(bad.parse::<Latency>().is_err(), "{bad}");
        }
    }

    #[test]
    fn lognormal_hits_its_median_and_p99() {
        let chaos = Chaos {
            latency: Some("lognormal:median=120ms,p99=900ms".parse().unwrap()),
            ..Chaos::default()
        };
        let engine = Engine::new(42, chaos.compile().unwrap());
        let mut samples: Vec<f64> = (0..20_000)
            .map(|_| engine.next().latency.as_secs_f64())
            .collect();
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        let p99 = samples[samples.len() * 99 / 100];
        assert!((median - 0.120).abs() < 0.01, "median {median}");
        assert!((p99 - 0.900).abs() < 0.1, "p99 {p99}");
    }

    #[test]
    fn same_seed_same_fates_and_rates_hold() {
        let chaos = Chaos {
            error_rate: 0.2,
            timeout_rate: 0.1,
            commit_then_drop_rate: 0.1,
            ..Chaos::default()
        };
        let run = |seed| {
            let engine = Engine::new(seed, chaos.compile().unwrap());
            (0..10_000).map(|_| engine.next().fate).collect::<Vec<_>>()
        };
        let a = run(9);
        assert_eq!(a, run(9));
        assert_ne!(a, run(10));
        let refused = a.iter().filter(|f| matches!(f, Fate::Refuse(_))).count();
        assert!((1800..2200).contains(&refused), "{refused}");
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = [
            Chaos {
                error_rate: 1.5,
                ..Chaos::default()
            },
            Chaos {
                error_rate: 0.6,
                timeout_rate: 0.6,
                ..Chaos::default()
            },
            Chaos {
                error_code: "NOPE".into(),
                ..Chaos::default()
            },
        ];
        for chaos in bad {
            assert!(chaos.compile().is_err(), "{chaos:?}");
        }
    }
}
