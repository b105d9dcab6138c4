//! One comparison as `loadgen compare` and a phase's `--baseline` make it: both runs read and
//! compared, the table printed, the files asked for written, and the gate's exit code. [`Options`]
//! is plain data: the CLI's clap struct converts into it, a caller such as xtask fills it directly.

use std::path::PathBuf;

use anyhow::Context as _;

use super::html::render as render_html;
use super::{Comparison, Judgement, compare, gate, read_run, render};

/// `--min-change`'s default: the smallest relative change, in percent, that counts.
pub const DEFAULT_MIN_CHANGE: f64 = 5.0;

/// What to compare and what to write; the fields are `loadgen compare`'s flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// The run before (summary.json or its report directory).
    pub base: PathBuf,
    /// The run after.
    pub new: PathBuf,
    /// Limits such as "p95 10%" (see `gate::Limit::parse`).
    pub max_regression: Vec<String>,
    /// Code 1 when any figure is judged regressed.
    pub fail_on_regression: bool,
    /// In percent.
    pub min_change: f64,
    /// Compare runs that are not like for like (their common endpoints).
    pub force: bool,
    pub html: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            base: PathBuf::new(),
            new: PathBuf::new(),
            max_regression: Vec::new(),
            fail_on_regression: false,
            min_change: DEFAULT_MIN_CHANGE,
            force: false,
            html: None,
            json: None,
            junit: None,
        }
    }
}

/// A comparison made, printed and written: its exit code with what was found, for a caller that
/// adds it to a run's own reports (a phase's `--baseline`).
pub struct Compared {
    pub code: u8,
    pub comparison: Comparison,
    pub checks: Vec<gate::Check>,
}

/// Reads both runs, compares, prints and writes the files asked for. With runs that are not like for
/// like (and no `force`) the code is 2, nothing is written and the comparison names the differences.
pub fn compare_runs(args: &Options) -> anyhow::Result<Compared> {
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
    let base = read_run(&args.base)?;
    let new = read_run(&args.new)?;
    let comparison = compare(
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
        .any(|r| r.judgement == Judgement::Regressed);
    let code = u8::from(checks.iter().any(|c| c.broken) || (args.fail_on_regression && regressed));
    Ok(Compared {
        code,
        comparison,
        checks,
    })
}
