//! The load generator (`../shared/spec/loadgen.md`): Locust's flags and CSVs, exact percentiles,
//! thresholds and an HTML report. Built by the loadgen issue.
