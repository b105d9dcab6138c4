//! The faults' windows, as applied, handed to loadgen's report writer (summary.json, report.html
//! with every chart shaded, junit.xml) and the per-fault table printed.

use std::path::Path;

use loadgen::report::faults::{self, Applied};

/// Adds the windows to the run's reports in `dir` and prints the table; true when every fault
/// recovered within its limit.
pub fn report(dir: &Path, applied: &[Applied]) -> anyhow::Result<bool> {
    let (measured, _) = faults::add_to_reports(dir, applied)?;
    println!("\n{}", faults::console(&measured));
    Ok(measured.passed)
}
