//! loadgen's integration tests: the real binary against stub servers on 127.0.0.1:0, read back
//! through the files it writes (CSV, HTML, summary.json, junit.xml) and its exit code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod stub;

mod browser;
mod celery;
mod cli;
mod compare;
mod django;
mod engine;
mod http2;
mod locust_master;
pub mod monitors;
mod open_model;
mod outputs;
mod sessions;
mod shards;
mod tls;
mod web;
