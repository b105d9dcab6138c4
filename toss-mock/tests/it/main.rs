//! toss-mock's integration tests: one binary, one module per rule family of the spec. Rules that
//! need time use the router in-process under `tokio::time::pause`; chaos, concurrency and dropped
//! connections go over real HTTP to `serve` on `127.0.0.1:0`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;

mod auth;
mod cancel;
mod chaos;
mod cli;
mod concurrency;
mod confirm;
mod eviction;
mod expiry;
mod idempotency;
mod input;
mod lookup;
mod mock_api;
mod openapi;
mod security;
mod test_codes;
