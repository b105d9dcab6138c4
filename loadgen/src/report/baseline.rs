//! A comparison with an earlier run (a phase's `--baseline`), as this run's own reports show it:
//! the gate's result, every change judged beyond the noise with both figures, the findings that
//! appeared or went away, and a link to the full comparison page. It is carried in summary.json so
//! that the report's one writer renders it, and a broken gate fails the run's verdict like a
//! failed threshold.

use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::Results;
use super::html::passed;
use crate::compare::gate::Check;
use crate::compare::{Comparison, Judgement, render};
use crate::diagnosis::FindingId;

/// What this run's reports say of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Baseline {
    /// The earlier run, as it was named.
    pub path: String,
    /// The full comparison, relative to the report directory (e.g. `compare.html`); not written
    /// when the runs were not like for like.
    pub page: String,
    /// No limit broken (and, without limits, no figure regressed); false when the runs were not
    /// like for like.
    pub passed: bool,
    /// Why the runs could not be compared; empty when they were.
    pub differences: Vec<String>,
    /// The limits given (`--max-regression`); without any, every regressed figure fails.
    pub limits: Vec<String>,
    /// Every limit against every figure it applies to.
    pub checks: Vec<BaselineCheck>,
    /// Every figure judged beyond the noise, regressions first.
    pub changes: Vec<BaselineChange>,
    pub findings_appeared: Vec<FindingId>,
    pub findings_gone: Vec<FindingId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BaselineCheck {
    pub limit: String,
    pub subject: String,
    pub broken: bool,
    pub detail: String,
}

/// One significant change, with its figures as the comparison prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BaselineChange {
    /// `GET /api/products/`, `Aggregated`, or a server part.
    pub subject: String,
    pub metric: String,
    pub regressed: bool,
    pub base: String,
    pub new: String,
    pub change: String,
    /// The judgement with its p-value, e.g. `REGRESSED (p<0.001)`.
    pub verdict: String,
}

impl Baseline {
    /// From a finished comparison and the gate's checks; `limits` as given, `page` relative to the
    /// report directory.
    pub fn new(c: &Comparison, checks: &[Check], limits: &[String], page: &str) -> Self {
        let mut changes: Vec<BaselineChange> = c
            .rows
            .iter()
            .filter(|r| matches!(r.judgement, Judgement::Regressed | Judgement::Improved))
            .map(|r| BaselineChange {
                subject: r.subject.clone(),
                metric: r.metric.as_str().to_owned(),
                regressed: r.judgement == Judgement::Regressed,
                base: render::value(r.base, r.metric),
                new: render::value(r.new, r.metric),
                change: render::change(r),
                verdict: render::verdict(r),
            })
            .collect();
        // Stable: within each kind the comparison's own order (endpoints, aggregate, server).
        changes.sort_by_key(|c| !c.regressed);
        let passed = c.differences.is_empty()
            && if limits.is_empty() {
                !changes.iter().any(|c| c.regressed)
            } else {
                !checks.iter().any(|k| k.broken)
            };
        Self {
            path: c.base.path.clone(),
            page: page.to_owned(),
            passed,
            differences: c.differences.clone(),
            limits: limits.to_vec(),
            checks: checks
                .iter()
                .map(|k| BaselineCheck {
                    limit: k.limit.clone(),
                    subject: k.subject.clone(),
                    broken: k.broken,
                    detail: k.detail.clone(),
                })
                .collect(),
            changes,
            findings_appeared: c.findings_appeared.clone(),
            findings_gone: c.findings_gone.clone(),
        }
    }

    /// The gate as JUnit cases: `(name, failure message when failed)`.
    pub fn junit_cases(&self) -> Vec<(String, Option<String>)> {
        if !self.differences.is_empty() {
            return vec![(
                format!("comparable with {}", self.path),
                Some(format!(
                    "not like for like: {}",
                    self.differences.join("; ")
                )),
            )];
        }
        if self.limits.is_empty() {
            let regressed: Vec<String> = self
                .changes
                .iter()
                .filter(|c| c.regressed)
                .map(|c| format!("{} {} {} -> {}", c.subject, c.metric, c.base, c.new))
                .collect();
            return vec![(
                format!("no figure regressed against {}", self.path),
                (!regressed.is_empty()).then(|| format!("regressed: {}", regressed.join("; "))),
            )];
        }
        self.checks
            .iter()
            .map(|k| {
                (
                    format!("{} ({})", k.limit, k.subject),
                    k.broken.then(|| k.detail.clone()),
                )
            })
            .collect()
    }
}

/// The report's section, after the run's description: the gate first, then the changes.
pub fn html(r: &Results) -> Markup {
    let Some(b) = &r.baseline else {
        return html! {};
    };
    let regressed = b.changes.iter().filter(|c| c.regressed).count();
    let broken = b.checks.iter().filter(|k| k.broken).count();
    let gate = match (b.passed, b.differences.is_empty(), b.limits.is_empty()) {
        (true, _, true) => "no figure regressed".to_owned(),
        (true, _, false) => "every limit held".to_owned(),
        (false, false, _) => "not like for like".to_owned(),
        (false, true, true) => format!("{regressed} figure(s) regressed"),
        (false, true, false) => format!("{broken} limit check(s) broken"),
    };
    let ids = |v: &[FindingId]| {
        html! {
            @for (i, f) in v.iter().enumerate() {
                @if i > 0 { ", " }
                code { (f.as_str()) }
            }
        }
    };
    html! {
        h2 { "Compared with the baseline" }
        p {
            "Against " code { (b.path) } ": " (passed(b.passed, "passed", "FAILED")) ": " (gate) "."
            @if b.differences.is_empty() {
                " The whole comparison, every figure with both runs' charts: "
                a href=(b.page) { (b.page) } "."
            }
        }
        @for d in &b.differences {
            p.warn { "Not like for like: " (d) }
        }
        @if !b.checks.is_empty() {
            table {
                tr { th { "Limit" } th { "Figure of" } th { "Result" } th { "Found" } }
                @for k in &b.checks {
                    tr {
                        td { code { (k.limit) } }
                        td { (k.subject) }
                        td { (passed(!k.broken, "ok", "BROKEN")) }
                        td { (k.detail) }
                    }
                }
            }
        }
        @if b.changes.is_empty() && b.differences.is_empty() {
            p.note { "No figure changed beyond the runs' own noise." }
        } @else if !b.changes.is_empty() {
            table {
                tr {
                    th { "Endpoint" } th { "Figure" } th { "Baseline" } th { "This run" }
                    th { "Change" } th { "Judged" }
                }
                @for c in &b.changes {
                    tr {
                        td { (c.subject) }
                        td { (c.metric) }
                        td.n { (c.base) }
                        td.n { (c.new) }
                        td.n { (c.change) }
                        td { (passed(!c.regressed, &c.verdict, &c.verdict)) }
                    }
                }
            }
        }
        @if !b.findings_appeared.is_empty() {
            p { "Findings that appeared: " (ids(&b.findings_appeared)) "." }
        }
        @if !b.findings_gone.is_empty() {
            p { "Findings that went away: " (ids(&b.findings_gone)) "." }
        }
    }
}

/// Adds the comparison to a finished run's reports in `dir` (each file written again by its own
/// writer). Returns whether the whole run, comparison included, passed.
pub fn add_to_reports(dir: &std::path::Path, baseline: Baseline) -> anyhow::Result<bool> {
    super::rewrite(dir, |results| results.baseline = Some(baseline))
}
