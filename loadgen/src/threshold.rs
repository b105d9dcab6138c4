//! Thresholds: the plan's SLOs as pass/fail rules (`avg < 500ms`, `p95 < 1000ms`,
//! `fail_ratio < 5%`, `rps >= 100`, `p95{POST /api/payments/confirm/} < 800ms`,
//! `"POST /api/payments/confirm/".p95 < 800ms`, `p99{stage=3} < 2s`). A phase's `[[stage]]` table
//! may list its own, which then apply to that stage alone.

use std::fmt;

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::stats::{Entry, percentile_ms};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Avg,
    Min,
    Max,
    Median,
    /// A percentile, 0..=100.
    Percentile(f64),
    FailRatio,
    Rps,
    Requests,
    Failures,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
}

impl Op {
    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Self::Lt => actual < limit,
            Self::Le => actual <= limit,
            Self::Gt => actual > limit,
            Self::Ge => actual >= limit,
            Self::Eq => (actual - limit).abs() < 1e-9,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
        }
    }
}

/// A parsed threshold. Times are in milliseconds, ratios in 0..=1, rates per second.
#[derive(Debug, Clone, Serialize)]
pub struct Threshold {
    pub source: String,
    pub metric: Metric,
    /// `METHOD NAME` or `NAME` of one endpoint; None for the aggregate.
    pub endpoint: Option<String>,
    /// A stage index (0-based); None for the whole run.
    pub stage: Option<usize>,
    pub op: Op,
    pub limit: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Threshold {
    pub fn parse(source: &str) -> anyhow::Result<Self> {
        parse(source).with_context(|| format!("threshold {source:?}"))
    }

    /// This threshold, applying to `stage` (a phase's per-stage list).
    pub fn in_stage(mut self, stage: usize) -> Self {
        self.stage.get_or_insert(stage);
        self
    }

    /// The metric's value for an entry measured over `seconds`; None when there is nothing to
    /// measure (no requests: a latency threshold then fails, saying so).
    pub fn measure(&self, entry: &Entry, seconds: f64) -> Option<f64> {
        let h = entry.headline();
        let requests = entry.requests;
        match self.metric {
            Metric::Avg => entry.avg_ms(),
            Metric::Min => entry.min_ms(),
            Metric::Max => entry.max_ms(),
            Metric::Median => percentile_ms(h, 0.5),
            Metric::Percentile(p) => percentile_ms(h, p / 100.0),
            Metric::FailRatio => (requests > 0).then(|| entry.fail_ratio()),
            Metric::Rps => Some(if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            }),
            Metric::Requests => Some(requests as f64),
            Metric::Failures => Some(entry.failures as f64),
        }
    }

    pub fn holds(&self, actual: f64) -> bool {
        self.op.holds(actual, self.limit)
    }

    /// A value of this threshold's metric, in its unit.
    pub fn format(&self, value: f64) -> String {
        match self.metric {
            Metric::FailRatio => format!("{:.2}%", value * 100.0),
            Metric::Rps => format!("{value:.1}/s"),
            Metric::Requests | Metric::Failures => format!("{value:.0}"),
            _ => format!("{value:.1}ms"),
        }
    }

    pub fn describe_limit(&self) -> String {
        format!("{} {}", self.op.symbol(), self.format(self.limit))
    }
}

fn parse(source: &str) -> anyhow::Result<Threshold> {
    let s = source.trim();
    let op_at = ["<=", ">=", "==", "<", ">"]
        .iter()
        .filter_map(|op| s.rfind(op).map(|i| (i, *op)))
        // The operator is the last one outside braces and quotes: names hold no operators.
        .max_by_key(|(i, op)| (*i, op.len()))
        .context("no comparison (one of < <= > >= ==)")?;
    let (i, op_text) = op_at;
    let op = match op_text {
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "==" => Op::Eq,
        other => bail!("unknown comparison {other:?}"),
    };
    let left = s[..i].trim();
    let right = s[i + op_text.len()..].trim();
    let (metric_text, selector) = selector(left)?;
    let metric = metric(metric_text)?;
    let mut endpoint = None;
    let mut stage = None;
    if let Some(sel) = selector {
        for part in sel.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(n) = part.strip_prefix("stage=") {
                let n: usize = n
                    .trim()
                    .parse()
                    .context("stage=N needs a stage number (1 is the first)")?;
                if n == 0 {
                    bail!("stages count from 1");
                }
                stage = Some(n - 1);
            } else {
                endpoint = Some(part.to_owned());
            }
        }
    }
    let limit = value(metric, right)?;
    Ok(Threshold {
        source: source.trim().to_owned(),
        metric,
        endpoint,
        stage,
        op,
        limit,
    })
}

/// Splits `p95{SELECTOR}` or `"SELECTOR".p95` into the metric and the selector.
fn selector(left: &str) -> anyhow::Result<(&str, Option<&str>)> {
    if let Some(rest) = left.strip_prefix('"') {
        let (sel, metric) = rest
            .split_once("\".")
            .context("a quoted endpoint is followed by .metric, e.g. \"GET /api/products/\".p95")?;
        return Ok((metric.trim(), Some(sel)));
    }
    if let Some(open) = left.find('{') {
        let sel = left[open + 1..]
            .strip_suffix('}')
            .context("a '{' selector must end with '}'")?;
        return Ok((left[..open].trim(), Some(sel)));
    }
    Ok((left, None))
}

fn metric(text: &str) -> anyhow::Result<Metric> {
    Ok(match text {
        "avg" | "mean" => Metric::Avg,
        "min" => Metric::Min,
        "max" => Metric::Max,
        "med" | "median" => Metric::Median,
        "fail_ratio" | "failure_rate" | "error_rate" => Metric::FailRatio,
        "rps" => Metric::Rps,
        "requests" => Metric::Requests,
        "failures" => Metric::Failures,
        p if p.starts_with('p') => {
            let n: f64 = p[1..]
                .parse()
                .with_context(|| format!("{p:?} is not a percentile like p95 or p99.9"))?;
            if !(0.0..=100.0).contains(&n) {
                bail!("{p:?}: a percentile is between p0 and p100");
            }
            Metric::Percentile(n)
        }
        other => bail!(
            "unknown metric {other:?} (avg, min, max, median, pNN, fail_ratio, rps, requests, failures)"
        ),
    })
}

fn value(metric: Metric, text: &str) -> anyhow::Result<f64> {
    let number = |t: &str| -> anyhow::Result<f64> {
        t.trim()
            .parse::<f64>()
            .with_context(|| format!("{text:?} is not a number with a unit"))
    };
    match metric {
        Metric::FailRatio => match text.strip_suffix('%') {
            Some(p) => Ok(number(p)? / 100.0),
            None => {
                let v = number(text)?;
                if v > 1.0 {
                    bail!("{text:?}: write a ratio as a percentage (5%) or a fraction (0.05)");
                }
                Ok(v)
            }
        },
        Metric::Rps => number(text.strip_suffix("/s").unwrap_or(text)),
        Metric::Requests | Metric::Failures => number(text),
        _ => {
            if let Some(v) = text.strip_suffix("ms") {
                number(v)
            } else if let Some(v) = text.strip_suffix("us").or_else(|| text.strip_suffix("µs")) {
                Ok(number(v)? / 1000.0)
            } else if let Some(v) = text.strip_suffix('s') {
                Ok(number(v)? * 1000.0)
            } else {
                bail!("{text:?}: give a time with its unit (ms, s or us)")
            }
        }
    }
}

/// The plan's failure-rate bands.
pub fn failure_band(ratio: f64) -> &'static str {
    if ratio >= 0.10 {
        "critical"
    } else if ratio >= 0.05 {
        "warning"
    } else if ratio >= 0.01 {
        "elevated"
    } else {
        "normal"
    }
}

/// A threshold's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Verdict {
    pub threshold: String,
    pub scope: String,
    pub actual: Option<f64>,
    pub actual_text: String,
    pub limit_text: String,
    pub passed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plans_slos_parse() {
        let t = Threshold::parse("avg < 500ms").unwrap();
        assert_eq!((t.metric, t.op, t.limit), (Metric::Avg, Op::Lt, 500.0));
        let t = Threshold::parse("p99.9 <= 2s").unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit),
            (Metric::Percentile(99.9), Op::Le, 2000.0)
        );
        let t = Threshold::parse("fail_ratio < 5%").unwrap();
        assert!((t.limit - 0.05).abs() < 1e-12);
        let t = Threshold::parse("rps >= 100").unwrap();
        assert_eq!((t.metric, t.op, t.limit), (Metric::Rps, Op::Ge, 100.0));
        let t = Threshold::parse("p95{POST /api/payments/confirm/} < 800ms").unwrap();
        assert_eq!(t.endpoint.as_deref(), Some("POST /api/payments/confirm/"));
        let t = Threshold::parse("\"POST /api/payments/confirm/\".p95 < 800ms").unwrap();
        assert_eq!(
            (t.endpoint.as_deref(), t.metric),
            (
                Some("POST /api/payments/confirm/"),
                Metric::Percentile(95.0)
            )
        );
        let t = Threshold::parse("p99{GET /api/products/; stage=3} < 2s").unwrap();
        assert_eq!(
            (t.endpoint.as_deref(), t.stage),
            (Some("GET /api/products/"), Some(2))
        );
        let t = Threshold::parse("p95 < 1ms").unwrap();
        assert_eq!(t.limit, 1.0);
    }

    #[test]
    fn bad_thresholds_say_why() {
        for (bad, says) in [
            ("p95 1000ms", "no comparison"),
            ("p95 < 1000", "unit"),
            ("fast < 1ms", "unknown metric"),
            ("fail_ratio < 7", "percentage"),
            ("p101 < 1s", "between"),
            ("p95{stage=0} < 1s", "from 1"),
        ] {
            let e = format!("{:#}", Threshold::parse(bad).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn bands() {
        assert_eq!(failure_band(0.0), "normal");
        assert_eq!(failure_band(0.02), "elevated");
        assert_eq!(failure_band(0.05), "warning");
        assert_eq!(failure_band(0.10), "critical");
    }
}
