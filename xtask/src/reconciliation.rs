//! After a phase (or a repro with hot stock): fixtures' checks of the shop's books, printed, kept
//! in `reconciliation.json`, and handed to loadgen's report writer so that summary.json,
//! report.html and junit.xml show them with the run and fail its verdict when one fails.

use std::path::Path;

use anyhow::Context as _;
use fixtures::reconcile::{self, Check};
use loadgen::diagnosis::{Finding, FindingId};
use loadgen::report::reconciliation::{self as section, Reconciliation, ReconciliationCheck};

/// Prints the checks and adds them to the run's reports in `dir`; true when every check held.
pub fn report(checks: &[Check], dir: &Path) -> anyhow::Result<bool> {
    let passed = reconcile::print(checks);
    let reconciliation = Reconciliation::new(
        checks
            .iter()
            .map(|c| ReconciliationCheck {
                check: c.name.to_owned(),
                ok: c.ok,
                detail: c.detail.clone(),
            })
            .collect(),
    );
    let findings = reconcile::findings(checks)
        .into_iter()
        .map(|issue| {
            Ok(Finding {
                id: issue
                    .id
                    .parse::<FindingId>()
                    .with_context(|| format!("the reconciliation's finding {:?}", issue.id))?,
                title: issue.title.to_owned(),
                evidence: issue.evidence,
                fix: issue.fix.to_owned(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    std::fs::write(
        dir.join("reconciliation.json"),
        serde_json::to_string_pretty(&reconciliation)?,
    )
    .context("writing reconciliation.json")?;
    section::add_to_reports(dir, reconciliation, findings)?;
    Ok(passed)
}
