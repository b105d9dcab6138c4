//! `loadgen compare BASE NEW`: reads both runs, compares, prints, writes the files asked for and
//! answers with the gate's exit code.

use anyhow::Context as _;

use super::CompareArgs;
use crate::compare::html::render as render_html;
use crate::compare::{self, gate, render};

/// 0 no limit broken, 1 a limit broken, 2 the runs cannot be compared (an `Err` is 2 as well).
pub fn run(args: &CompareArgs) -> anyhow::Result<u8> {
    Ok(compare_runs(args)?.code)
}

/// A comparison made, printed and written: its exit code with what was found, for a caller that
/// adds it to a run's own reports (a phase's `--baseline`).
pub struct Compared {
    pub code: u8,
    pub comparison: compare::Comparison,
    pub checks: Vec<gate::Check>,
}

/// [`run`], keeping the comparison. With runs that are not like for like (and no `--force`) the
/// code is 2, nothing is written and the comparison names the differences.
pub fn compare_runs(args: &CompareArgs) -> anyhow::Result<Compared> {
    let limits = args
        .max_regression
        .iter()
        .map(|l| gate::Limit::parse(l))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    if !(args.min_change.is_finite() && args.min_change >= 0.0) {
        anyhow::bail!(
            "--min-change {} must be a percentage of 0 or more",
            args.min_change
        );
    }
    let base = compare::read_run(&args.base)?;
    let new = compare::read_run(&args.new)?;
    let comparison = compare::compare(
        &base,
        &args.base.display().to_string(),
        &new,
        &args.new.display().to_string(),
        args.min_change,
    );
    if !comparison.differences.is_empty() && !args.force {
        eprintln!(
            "error: the runs are not like for like: {}; --force compares their common part",
            comparison.differences.join("; ")
        );
        return Ok(Compared {
            code: 2,
            comparison,
            checks: Vec::new(),
        });
    }
    let checks = gate::check(&comparison, &limits).map_err(anyhow::Error::msg)?;
    print!("{}", render::console(&comparison, &checks));
    if let Some(path) = &args.html {
        std::fs::write(path, render_html(&comparison, &checks, &base, &new))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, render::json(&comparison, &checks)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, render::junit(&comparison, &checks)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let regressed = comparison
        .rows
        .iter()
        .any(|r| r.judgement == compare::Judgement::Regressed);
    let code = u8::from(checks.iter().any(|c| c.broken) || (args.fail_on_regression && regressed));
    Ok(Compared {
        code,
        comparison,
        checks,
    })
}
