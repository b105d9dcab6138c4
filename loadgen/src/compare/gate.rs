//! The regression gate: `--max-regression "p95 10%"` and its kin. A limit is broken only by a
//! change the comparison judged significant ([`super::Judgement::Regressed`]) that goes past it
//! in the metric's bad direction (slower, fewer requests/s, more failures).

use serde::Serialize;

use super::{Comparison, Judgement, Metric, Row};

/// One `--max-regression` limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub source: String,
    pub metric: Metric,
    /// `METHOD NAME` (or `Aggregated`) when the limit names one; every subject otherwise.
    pub subject: Option<String>,
    pub amount: f64,
    pub unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    PercentagePoints,
    Milliseconds,
}

/// A limit applied to one row.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub limit: String,
    pub subject: String,
    pub broken: bool,
    pub detail: String,
}

impl Limit {
    /// Parses `p95 10%`, `p99{POST /api/payments/confirm/} 20%`, `rps -5%`, `fail_ratio +0.5pp`,
    /// `p99 +50ms`.
    pub fn parse(source: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "--max-regression {source:?}: {why} (e.g. \"p95 10%\", \"p99{{POST /api/orders/}} 20%\", \
                 \"rps -5%\", \"fail_ratio +0.5pp\", \"p99 +50ms\")"
            )
        };
        let text = source.trim();
        let (head, amount) = text
            .rsplit_once(char::is_whitespace)
            .ok_or_else(|| bad("a metric and a limit, separated by a space"))?;
        let head = head.trim();
        let (name, subject) = match head.split_once('{') {
            Some((name, rest)) => {
                let subject = rest
                    .strip_suffix('}')
                    .ok_or_else(|| bad("an endpoint in braces ends with '}'"))?;
                (name.trim(), Some(subject.trim().to_owned()))
            }
            None => (head, None),
        };
        let metric = Metric::parse(name).ok_or_else(|| {
            bad(&format!(
                "unknown metric {name:?}; one of rps, fail_ratio, avg, p50, p95, p99, p99.9, \
                 db_connections, pool_waiting, cpu_s_per_1k_requests, statements_per_request"
            ))
        })?;
        let (number, unit) = if let Some(n) = amount.strip_suffix("pp") {
            (n, Unit::PercentagePoints)
        } else if let Some(n) = amount.strip_suffix('%') {
            (n, Unit::Percent)
        } else if let Some(n) = amount.strip_suffix("ms") {
            (n, Unit::Milliseconds)
        } else {
            return Err(bad("the limit ends with %, pp or ms"));
        };
        let value: f64 = number
            .parse()
            .map_err(|_| bad(&format!("{number:?} is not a number")))?;
        let against_direction = if metric.higher_is_better() {
            value > 0.0 && number.starts_with('+')
        } else {
            value < 0.0
        };
        if against_direction {
            return Err(bad(&format!(
                "a regression of {} is a {}; give the limit as {}{}",
                metric.as_str(),
                if metric.higher_is_better() {
                    "fall"
                } else {
                    "rise"
                },
                if metric.higher_is_better() { "-" } else { "+" },
                amount.trim_start_matches(['+', '-'])
            )));
        }
        match (metric.is_ratio(), unit) {
            (true, Unit::Percent) => {
                return Err(bad("fail_ratio changes in percentage points: write +0.5pp"));
            }
            (false, Unit::PercentagePoints) => {
                return Err(bad("pp is for fail_ratio; write a percentage"));
            }
            (_, Unit::Milliseconds)
                if !matches!(
                    metric,
                    Metric::Avg | Metric::P50 | Metric::P95 | Metric::P99 | Metric::P999
                ) =>
            {
                return Err(bad("ms is for avg and the percentiles"));
            }
            _ => {}
        }
        Ok(Self {
            source: text.to_owned(),
            metric,
            subject,
            amount: value.abs(),
            unit,
        })
    }

    fn applies_to(&self, row: &Row) -> bool {
        row.metric == self.metric && self.subject.as_ref().is_none_or(|s| *s == row.subject)
    }

    /// How far `row` went in the bad direction, in this limit's unit.
    fn regression(&self, row: &Row) -> Option<f64> {
        let sign = if self.metric.higher_is_better() {
            -1.0
        } else {
            1.0
        };
        match self.unit {
            Unit::Percent | Unit::PercentagePoints => row.change.map(|c| c * sign),
            Unit::Milliseconds => Some((row.new? - row.base?) * sign),
        }
    }
}

/// Every limit against every row it applies to. A limit naming an endpoint that neither run has
/// is an error: a typo must not pass the gate silently.
pub fn check(comparison: &Comparison, limits: &[Limit]) -> Result<Vec<Check>, String> {
    let mut checks = Vec::new();
    for limit in limits {
        let rows: Vec<&Row> = comparison
            .rows
            .iter()
            .filter(|r| limit.applies_to(r))
            .collect();
        if rows.is_empty() {
            return Err(format!(
                "--max-regression {:?}: no such figure in both runs{}",
                limit.source,
                limit
                    .subject
                    .as_ref()
                    .map(|s| format!(" (endpoints are named \"METHOD NAME\", e.g. \"GET /api/products/\"; {s:?} is not one)"))
                    .unwrap_or_default()
            ));
        }
        for row in rows {
            let went = limit.regression(row);
            let past = went.is_some_and(|w| w > limit.amount);
            let broken = past && row.judgement == Judgement::Regressed;
            let unit = match limit.unit {
                Unit::Percent => "%",
                Unit::PercentagePoints => "pp",
                Unit::Milliseconds => " ms",
            };
            let detail = match (went, row.judgement) {
                (None, _) => "no figure to compare".to_owned(),
                (Some(w), Judgement::Regressed) if broken => {
                    format!("regressed {w:.1}{unit}, more than {}{unit}", limit.amount)
                }
                (Some(w), Judgement::NotJudged) => {
                    format!("{w:+.1}{unit}, not judged (too few seconds)")
                }
                (Some(w), Judgement::WithinNoise | Judgement::Mixed) => {
                    format!("{w:+.1}{unit}, within noise")
                }
                (Some(w), _) => format!("{w:+.1}{unit}, within the limit"),
            };
            checks.push(Check {
                limit: limit.source.clone(),
                subject: row.subject.clone(),
                broken,
                detail,
            });
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::{Limit, Unit};
    use crate::compare::Metric;

    #[test]
    fn limits_parse_as_written_in_the_docs() {
        let l = Limit::parse("p99{POST /api/payments/confirm/} 20%").unwrap();
        assert_eq!(
            (l.metric, l.subject.as_deref(), l.amount, l.unit),
            (
                Metric::P99,
                Some("POST /api/payments/confirm/"),
                20.0,
                Unit::Percent
            )
        );
        let rps = Limit::parse("rps -5%").unwrap();
        assert_eq!((rps.metric, rps.amount), (Metric::Rps, 5.0));
        let fails = Limit::parse("fail_ratio +0.5pp").unwrap();
        assert_eq!((fails.amount, fails.unit), (0.5, Unit::PercentagePoints));
        assert_eq!(Limit::parse("p95 +20ms").unwrap().unit, Unit::Milliseconds);
        assert_eq!(Limit::parse("p99.9 10%").unwrap().metric, Metric::P999);
    }

    #[test]
    fn limits_that_cannot_mean_anything_are_refused_with_the_form_to_use() {
        for (bad, says) in [
            ("p95", "separated by a space"),
            ("p97 10%", "unknown metric"),
            ("p95 ten%", "not a number"),
            ("p95 10", "ends with %, pp or ms"),
            ("rps +5%", "give the limit as -5%"),
            ("p95 -10%", "give the limit as +10%"),
            ("fail_ratio 1%", "percentage points"),
            ("p95 1pp", "pp is for fail_ratio"),
            ("rps 5ms", "ms is for avg"),
            ("p95{GET / 10%", "ends with '}'"),
        ] {
            let e = Limit::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
