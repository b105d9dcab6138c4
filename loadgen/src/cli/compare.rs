//! `loadgen compare BASE NEW`: the flags turned into [`compare::Options`], and the gate's exit
//! code.

use super::CompareArgs;
use crate::compare;

/// 0 no limit broken, 1 a limit broken, 2 the runs cannot be compared (an `Err` is 2 as well).
pub fn run(args: &CompareArgs) -> anyhow::Result<u8> {
    Ok(compare::compare_runs(&args.clone().into())?.code)
}

impl From<CompareArgs> for compare::Options {
    fn from(args: CompareArgs) -> Self {
        let CompareArgs {
            base,
            new,
            max_regression,
            fail_on_regression,
            min_change,
            force,
            html,
            json,
            junit,
        } = args;
        Self {
            base,
            new,
            max_regression,
            fail_on_regression,
            min_change,
            force,
            html,
            json,
            junit,
        }
    }
}
