//! The reference shop: a Django + DRF + simplejwt shop's API (`../shared/spec/shop-api.md`) on axum,
//! PostgreSQL and Redis, with its known bugs behind switches. Built by the target-shop issue; the
//! workspace carries the crate now so the data flow of ARCHITECTURE.md has its place.
