//! The HTTP edge that target-shop and toss-mock share: what happens to a connection and a request
//! before a server's own router and after its answer, written once.
//!
//! - [`serve`]: the accept loop, ours rather than `axum::serve` because that one gives hyper no
//!   timer, so a client that never finishes its headers (a slowloris) held its connection
//!   forever. Every connection gets a header-read deadline; shutdown stops accepting and lets the
//!   requests in flight finish. What differs between the servers is an [`Edge`] setting, not a
//!   copy: h2c beside HTTP/1 (the shop), Nagle off and a bounded drain (the mock), and a response
//!   marked [`CloseConnection`] closes its connection without a byte (the mock's chaos).
//! - [`body`]: the request body limit at the transport level: a declared length over the limit
//!   refused before a byte is read (the rest read and thrown away for a while, so the refusal is
//!   not lost to a reset), a body read whole, and a [`BodyError`] saying which of those failed.
//! - [`shutdown_signal`]: Ctrl-C or SIGTERM, for a binary's `main` to hand to `serve`.
//! - [`openapi`]: a utoipa document served as JSON, and the links between operations that utoipa
//!   cannot derive.
//! - `testing` (feature `testing`, for the servers' tests): a raw TCP client for what an HTTP
//!   client cannot do (stall, trickle, announce a body and never send it), and the check of a
//!   served OpenAPI document against its checked-in copy.
//!
//! What it does not do: it knows no wire format. Every error it returns ([`BodyError`]) is mapped
//! by each server's own `error.rs` to DRF's or Toss's shapes, in that one place; it renders no
//! error body itself. It binds no port, reads no environment variable and installs no signal
//! handler unless a binary's `main` calls [`shutdown_signal`]. It does not route, authenticate,
//! log requests or count them: that is each server's router.

pub mod body;
pub mod openapi;
mod serve;
mod shutdown;
#[cfg(feature = "testing")]
pub mod testing;

pub use body::BodyError;
pub use serve::{CloseConnection, DEFAULT_HEADER_READ_TIMEOUT, Edge, serve};
pub use shutdown::shutdown_signal;
