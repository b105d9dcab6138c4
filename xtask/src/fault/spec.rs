//! The `--inject` language: `KIND@AT[+LENGTH][/LIMIT]`, e.g. `redis-stop@20s+10s`,
//! `postgres-restart@40s/5s`. AT is an offset from the start of the load, LENGTH how long the
//! fault lasts (kinds that are one act, a restart or a kill, take none), LIMIT how soon after
//! the fault's end the run must be back under its SLOs (each kind has a default). Parsed and
//! checked against the run's length before anything is built or started: a bad spec costs
//! nothing but a one-line reason.

use std::time::Duration;

use anyhow::{Context as _, bail};

/// What a fault does, to which part of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Redis frozen (SIGSTOP / `docker pause`) for LENGTH.
    RedisStop,
    /// PostgreSQL frozen for LENGTH.
    PostgresStall,
    /// PostgreSQL restarted (fast shutdown, start on the same port and data).
    PostgresRestart,
    /// The Toss mock frozen for LENGTH: calls to it hang.
    TossHang,
    /// The Toss mock killed, started again on the same port after LENGTH.
    TossDown,
    /// The shop SIGKILLed and started again at once on the same port, behind its health gate.
    ShopKill,
}

pub const KINDS: [(&str, Kind); 6] = [
    ("redis-stop", Kind::RedisStop),
    ("postgres-stall", Kind::PostgresStall),
    ("postgres-restart", Kind::PostgresRestart),
    ("toss-hang", Kind::TossHang),
    ("toss-down", Kind::TossDown),
    ("shop-kill", Kind::ShopKill),
];

/// The part a fault acts on: two faults on one part may not overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Redis,
    Postgres,
    Toss,
    Shop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| *n)
    }

    /// A window of its own (a stop, a stall, a hang, a time down) rather than one act.
    pub fn has_length(self) -> bool {
        !matches!(self, Self::PostgresRestart | Self::ShopKill)
    }

    pub fn part(self) -> Part {
        match self {
            Self::RedisStop => Part::Redis,
            Self::PostgresStall | Self::PostgresRestart => Part::Postgres,
            Self::TossHang | Self::TossDown => Part::Toss,
            Self::ShopKill => Part::Shop,
        }
    }

    /// How soon after its end the run must be back under its SLOs, unless the spec says: Redis
    /// is never needed to answer and a restart costs only the requests in flight (the shop's
    /// invariants), while a hung or absent Toss leaves confirms waiting for their timeout, and a
    /// killed shop has its users log in again.
    pub fn default_recovery_limit(self) -> Duration {
        Duration::from_secs(match self {
            Self::RedisStop | Self::PostgresStall | Self::PostgresRestart => 5,
            Self::TossHang | Self::TossDown | Self::ShopKill => 10,
        })
    }
}

/// One fault as asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// As written, for the reports.
    pub text: String,
    pub kind: Kind,
    pub at: Duration,
    /// Zero for a kind that is one act.
    pub length: Duration,
    pub recovery_limit: Duration,
}

impl Spec {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        let (kind_text, rest) = text.split_once('@').with_context(|| {
            format!("{text:?}: write KIND@AT[+LENGTH][/LIMIT], e.g. redis-stop@20s+10s")
        })?;
        let kind = KINDS
            .iter()
            .find(|(n, _)| *n == kind_text)
            .map(|(_, k)| *k)
            .with_context(|| {
                format!(
                    "{text:?}: unknown fault {kind_text:?} (one of {})",
                    KINDS.map(|(n, _)| n).join(", ")
                )
            })?;
        let (rest, limit) = match rest.split_once('/') {
            Some((rest, limit)) => (rest, Some(duration(text, "LIMIT", limit)?)),
            None => (rest, None),
        };
        let (at, length) = match rest.split_once('+') {
            Some((at, length)) => (at, Some(duration(text, "LENGTH", length)?)),
            None => (rest, None),
        };
        let at = duration(text, "AT", at)?;
        let length = match (kind.has_length(), length) {
            (true, Some(l)) if !l.is_zero() => l,
            (true, _) => bail!(
                "{text:?}: {} needs a length, e.g. {}@{}+10s",
                kind.name(),
                kind.name(),
                humantime::format_duration(at)
            ),
            (false, None) => Duration::ZERO,
            (false, Some(_)) => bail!(
                "{text:?}: {} is one act and takes no length: {}@{}",
                kind.name(),
                kind.name(),
                humantime::format_duration(at)
            ),
        };
        Ok(Self {
            text: text.to_owned(),
            kind,
            at,
            length,
            recovery_limit: limit.unwrap_or_else(|| kind.default_recovery_limit()),
        })
    }

    pub fn end(&self) -> Duration {
        self.at + self.length
    }
}

fn duration(spec: &str, what: &str, text: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        anyhow::anyhow!("{spec:?}: {what} {text:?} is not a duration like 20s or 1m30s: {e}")
    })
}

/// Every spec parsed, then checked together against the run's length: each must end before the
/// run does, and two faults on one part may not overlap (the first one's undo would end the
/// second). Sorted by start.
pub fn plan(texts: &[String], run_length: Duration) -> anyhow::Result<Vec<Spec>> {
    let mut specs = texts
        .iter()
        .map(|t| Spec::parse(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    specs.sort_by_key(|s| s.at);
    for s in &specs {
        if s.end() >= run_length {
            bail!(
                "{:?} ends at {} but the run lasts {}: it must end before the run does",
                s.text,
                humantime::format_duration(s.end()),
                humantime::format_duration(run_length)
            );
        }
    }
    for (i, a) in specs.iter().enumerate() {
        for b in &specs[i + 1..] {
            if a.kind.part() == b.kind.part() && b.at <= a.end() {
                bail!(
                    "{:?} and {:?} act on the same server at the same time: one at a time",
                    a.text,
                    b.text
                );
            }
        }
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn every_kind_parses() {
        let r = Spec::parse("redis-stop@20s+10s").unwrap();
        assert_eq!((r.kind, r.at, r.length), (Kind::RedisStop, s(20), s(10)));
        assert_eq!(r.recovery_limit, s(5));
        let r = Spec::parse("postgres-restart@40s").unwrap();
        assert_eq!(
            (r.kind, r.at, r.length),
            (Kind::PostgresRestart, s(40), s(0))
        );
        let r = Spec::parse("postgres-stall@50s+5s").unwrap();
        assert_eq!((r.kind, r.end()), (Kind::PostgresStall, s(55)));
        let r = Spec::parse("toss-hang@30s+5s/20s").unwrap();
        assert_eq!((r.kind, r.recovery_limit), (Kind::TossHang, s(20)));
        assert_eq!(
            Spec::parse("toss-down@30s+10s").unwrap().kind,
            Kind::TossDown
        );
        let r = Spec::parse("shop-kill@1m").unwrap();
        assert_eq!(
            (r.kind, r.at, r.recovery_limit),
            (Kind::ShopKill, s(60), s(10))
        );
        assert_eq!(
            Spec::parse("postgres-restart@40s/3s")
                .unwrap()
                .recovery_limit,
            s(3)
        );
    }

    #[test]
    fn bad_specs_say_why_in_one_line() {
        for (spec, says) in [
            ("redis-stop", "write KIND@AT"),
            ("redis-nap@20s+5s", "unknown fault \"redis-nap\""),
            ("redis-stop@20s", "needs a length"),
            ("redis-stop@20s+0s", "needs a length"),
            ("postgres-restart@40s+5s", "takes no length"),
            ("shop-kill@soon", "AT \"soon\" is not a duration"),
            ("toss-hang@10s+5", "LENGTH \"5\" is not a duration"),
            ("toss-hang@10s+5s/quick", "LIMIT \"quick\""),
        ] {
            let e = format!("{:#}", Spec::parse(spec).unwrap_err());
            assert!(e.contains(says), "{spec}: {e}");
            assert!(!e.contains('\n'), "{spec}: {e}");
        }
    }

    #[test]
    fn a_plan_fits_the_run_and_keeps_one_fault_per_server() {
        let texts = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = plan(
            &texts(&["postgres-restart@50s", "redis-stop@20s+10s"]),
            s(90),
        )
        .unwrap();
        assert_eq!(p[0].kind, Kind::RedisStop, "sorted by start");
        let e = plan(&texts(&["redis-stop@80s+10s"]), s(90)).unwrap_err();
        assert!(
            e.to_string().contains("must end before the run does"),
            "{e}"
        );
        let e = plan(&texts(&["shop-kill@2m"]), s(90)).unwrap_err();
        assert!(e.to_string().contains("the run lasts 1m 30s"), "{e}");
        let e = plan(
            &texts(&["postgres-stall@20s+10s", "postgres-restart@25s"]),
            s(90),
        )
        .unwrap_err();
        assert!(e.to_string().contains("same server"), "{e}");
        // Different servers may overlap.
        plan(
            &texts(&["postgres-stall@20s+10s", "redis-stop@25s+10s"]),
            s(90),
        )
        .unwrap();
    }
}
