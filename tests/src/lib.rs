//! End-to-end crate: whole phases against real PostgreSQL, Redis, toss-mock and target-shop. Its
//! tests live in `tests/e2e/`; the library is empty on purpose.
