//! A reconciliation of the system's own books after a run (for our shop: stock and money from its
//! database against the Toss mock's), as the reports show it. The checks are made outside loadgen
//! (it sees only the wire); they come back here so that the one report writer renders them beside
//! the thresholds, and a failed check fails the run's verdict like a failed threshold.

use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::Results;
use super::html::passed;

/// Every check and whether all held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reconciliation {
    pub passed: bool,
    pub checks: Vec<ReconciliationCheck>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReconciliationCheck {
    /// What was checked, e.g. "no stock below zero".
    pub check: String,
    pub ok: bool,
    /// What was found: the evidence when it fails.
    pub detail: String,
}

impl Reconciliation {
    pub fn new(checks: Vec<ReconciliationCheck>) -> Self {
        Self {
            passed: checks.iter().all(|c| c.ok),
            checks,
        }
    }
}

/// The report's section, placed before the thresholds.
pub fn html(r: &Results) -> Markup {
    let Some(rec) = &r.reconciliation else {
        return html! {};
    };
    html! {
        h2 { "Reconciliation" }
        table {
            tr { th { "Check" } th { "Result" } th { "Found" } }
            @for c in &rec.checks {
                tr { td { (c.check) } td { (passed(c.ok, "pass", "FAIL")) } td { (c.detail) } }
            }
        }
    }
}

/// Adds a reconciliation and its findings to a finished run's reports in `dir` (each file
/// written again by its own writer). Returns whether the whole run, reconciliation included,
/// passed.
pub fn add_to_reports(
    dir: &std::path::Path,
    reconciliation: Reconciliation,
    findings: Vec<crate::diagnosis::Finding>,
) -> anyhow::Result<bool> {
    super::rewrite(dir, |results| {
        results.reconciliation = Some(reconciliation);
        // The books' findings beside the run's own.
        results.findings.extend(findings);
    })
}
