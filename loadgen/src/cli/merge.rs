//! `loadgen merge DIR_OR_FILES...`: the shards of one run read, merged (`crate::merge`), judged
//! against the thresholds they carried and `--threshold`, printed and written by the writers
//! `loadgen run` uses, with `loadgen run`'s exit codes.

use super::MergeArgs;
use crate::merge;
use crate::phase::Outputs;
use crate::report;
use crate::threshold::Threshold;
use crate::{trend, verdict};

/// Returns the exit code: 0 every threshold held (or, without any, no request failed), 1 one
/// failed (or `--exit-code-on-error`); an `Err` is 2, the shards could not be merged.
pub fn run(args: &MergeArgs, command_line: &[String]) -> anyhow::Result<u8> {
    // The rules first: a typo in one is found before any file is read.
    let asked = args
        .verdict
        .thresholds
        .iter()
        .map(|t| Threshold::parse(t).map_err(|e| anyhow::anyhow!("--threshold: {e:#}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let files = merge::find(&args.inputs)?;
    let runs = files
        .iter()
        .map(|f| merge::read(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let count = runs.len();
    let merge::Merged {
        mut results,
        mut thresholds,
        notes,
    } = merge::merge(runs, super::shown_command(command_line.iter().cloned()))?;
    for t in asked {
        merge::add_rule(&mut thresholds, t);
    }
    let endpoints: Vec<(String, String)> = results
        .recorder
        .entries
        .iter()
        .map(|e| (e.method.clone(), e.name.clone()))
        .collect();
    let stages = results.meta.stages.len().max(results.recorder.stages.len());
    verdict::validate(&thresholds, &endpoints, stages)?;
    results.verdicts = verdict::evaluate(&thresholds, &results.recorder);
    results.stage_slos = trend::stage_slos(&thresholds, &results.recorder);
    results.drift = trend::drift(&results.recorder);
    eprintln!(
        "loadgen: merged {count} shards of scenario {} against {} ({:.1}s)",
        results.meta.scenario, results.meta.host, results.meta.duration_s
    );
    for note in &notes {
        eprintln!("note: {note}");
    }
    println!("{}", report::console::final_report(&results));
    let outputs = Outputs {
        csv: args.outputs.csv.clone(),
        html: args.outputs.html.clone(),
        json: args.outputs.json.clone(),
        junit: args.outputs.junit.clone(),
    };
    super::write_outputs(&results, &outputs, false)?;
    Ok(super::exit_code(&results, args.verdict.exit_code_on_error))
}
