//! The load generator (`docs/contracts/loadgen.md`): Locust's flags and CSVs, exact percentiles,
//! an open model with coordinated-omission correction, thresholds with exit codes, and a
//! self-contained HTML report.
//!
//! Flow: `cli` resolves flags and a phase file into a `runner::Plan` and a compiled `scenario`,
//! then calls the `engine` (the library's entry point for any caller: start, steer through its
//! handle, read live snapshots, wait for the end); its `runner` starts `user`s (each with its own
//! `client` connections); users send one event per request to the aggregator, which alone owns
//! the `stats`; at the end `verdict` checks the `threshold`s and `report` writes the console
//! table, CSVs, HTML, JSON and JUnit. A run split over processes runs one `shard` of the plan in
//! each; `merge` adds their summary.json files up into one run's `Results`.

pub mod cli;
pub mod client;
pub mod compare;
pub mod diagnosis;
pub mod engine;
pub mod merge;
pub mod monitor;
pub mod outcome;
pub mod phase;
pub mod report;
pub mod runner;
pub mod saturation;
pub mod scenario;
pub mod shard;
pub mod stats;
pub mod summary;
pub mod template;
pub mod threshold;
pub mod timespan;
pub mod trend;
pub mod user;
pub mod verdict;
pub mod web;
pub mod worker;
