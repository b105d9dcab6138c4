//! Redis is a helper of the request path, never a condition of it: the catalog cache and the job
//! stream make the shop faster, PostgreSQL holds the truth. [`RedisGuard`] bounds every Redis call
//! a request makes by `Config::redis_timeout` (a stopped Redis accepts connections and answers
//! nothing, so without a bound a request would wait for the client's own timeouts), and remembers
//! an outage: after a failure the calls are skipped for [`RETRY_AFTER`], then one call tries
//! again, so a Redis that is down costs each request nothing rather than a timeout each. An outage
//! is logged once when it starts and once when it ends, not once per request.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Default bound of one Redis call from the request path: far above a healthy Redis's round trip
/// (well under a millisecond on a LAN), far below what a buyer notices.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(150);

/// After a failed call, Redis is not tried again for this long (then one call probes).
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct RedisGuard {
    timeout: Duration,
    link: Mutex<Link>,
    /// Catalog version bumps that failed: until one succeeds after them, cached pages may be older
    /// than the catalog and the cache is not read (`catalog::cache`).
    pub catalog_bumps: MissedWrites,
}

/// Writes that failed and must be made up by a later one of the same kind (an idempotent "bump",
/// where one success covers every failure before it). Counters rather than a flag, so a failure
/// that lands while a make-up is in flight is not forgotten when that make-up succeeds.
#[derive(Debug, Default)]
pub struct MissedWrites {
    missed: AtomicU64,
    made_up: AtomicU64,
}

impl MissedWrites {
    pub fn missed(&self) {
        self.missed.fetch_add(1, Ordering::SeqCst);
    }

    /// `Some(ticket)` when failures are owed: pass it to [`made_up`](Self::made_up) after a
    /// write that succeeded.
    pub fn owed(&self) -> Option<u64> {
        let missed = self.missed.load(Ordering::SeqCst);
        (missed != self.made_up.load(Ordering::SeqCst)).then_some(missed)
    }

    /// A write started after `ticket` was taken succeeded: the failures up to it are covered.
    pub fn made_up(&self, ticket: u64) {
        self.made_up.fetch_max(ticket, Ordering::SeqCst);
    }
}

#[derive(Debug, Default)]
struct Link {
    /// When the current outage was noticed; `None` while Redis answers.
    down_since: Option<Instant>,
    /// During an outage: the earliest moment the next call may try Redis.
    next_try: Option<Instant>,
}

impl RedisGuard {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            link: Mutex::default(),
            catalog_bumps: MissedWrites::default(),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether an outage is under way (the last call failed, none has succeeded since).
    pub fn is_down(&self) -> bool {
        self.link().down_since.is_some()
    }

    /// Runs `call` within the timeout; `None` when it failed, timed out, or was not even tried
    /// because Redis is down and not due another try. `what` names the call in the logs.
    pub async fn call<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        if !self.may_try() {
            return None;
        }
        self.attempt(what, call).await
    }

    /// [`call`](Self::call), tried even during an outage: `/healthz` must say what Redis does now.
    pub async fn probe<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        self.attempt(what, call).await
    }

    async fn attempt<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => {
                self.answered();
                Some(value)
            }
            // An error Redis answered with (a wrong type, a missing group) is a bug to see each
            // time, not an outage: Redis itself is there.
            Ok(Err(e)) if refused_by_redis(&e) => {
                self.answered();
                tracing::warn!(operation = what, error = %e, "redis refused a call");
                None
            }
            Ok(Err(e)) => {
                self.failed(what, &e.to_string());
                None
            }
            Err(_) => {
                self.failed(
                    what,
                    &format!("no answer within {} ms", self.timeout.as_millis()),
                );
                None
            }
        }
    }

    fn link(&self) -> MutexGuard<'_, Link> {
        // The lock only guards two timestamps, each write complete: a panic elsewhere cannot
        // leave them half-written.
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Up, or down and due a try (which then takes the slot: one probe per period, not one per
    /// request waiting).
    fn may_try(&self) -> bool {
        self.may_try_at(Instant::now())
    }

    fn may_try_at(&self, now: Instant) -> bool {
        let mut link = self.link();
        match link.next_try {
            None => true,
            Some(at) if now >= at => {
                link.next_try = Some(now + RETRY_AFTER);
                true
            }
            Some(_) => false,
        }
    }

    fn answered(&self) {
        let mut link = self.link();
        if let Some(since) = link.down_since.take() {
            tracing::warn!(
                down_ms = since.elapsed().as_millis() as u64,
                "redis answers again: the cache and the job stream are back in use"
            );
        }
        link.next_try = None;
    }

    fn failed(&self, what: &'static str, error: &str) {
        let mut link = self.link();
        if link.down_since.is_none() {
            link.down_since = Some(Instant::now());
            tracing::warn!(
                operation = what,
                error,
                "redis unavailable: reads served from PostgreSQL, jobs kept in PostgreSQL until it answers"
            );
        } else {
            tracing::debug!(operation = what, error, "redis still unavailable");
        }
        link.next_try = Some(Instant::now() + RETRY_AFTER);
    }
}

/// An error Redis answered with and will answer with again (WRONGTYPE, NOGROUP, a reply of the
/// wrong type), as against one that says it is away, loading or busy.
fn refused_by_redis(error: &redis::RedisError) -> bool {
    match error.kind() {
        redis::ErrorKind::UnexpectedReturnType => true,
        redis::ErrorKind::Server(_) => matches!(error.retry_method(), redis::RetryMethod::NoRetry),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    fn refused() -> redis::RedisError {
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()
    }

    #[tokio::test]
    async fn an_outage_skips_calls_until_a_probe_is_due_and_ends_on_an_answer() {
        let guard = RedisGuard::new(REDIS_TIMEOUT);
        assert_eq!(guard.call("get", async { Ok(1) }).await, Some(1));
        assert!(!guard.is_down());

        assert_eq!(
            guard.call::<i32>("get", async { Err(refused()) }).await,
            None
        );
        assert!(guard.is_down());
        // Skipped: not even polled.
        let polled = AtomicBool::new(false);
        let skipped = guard
            .call("get", async {
                polled.store(true, Ordering::SeqCst);
                Ok(2)
            })
            .await;
        assert_eq!(skipped, None);
        assert!(!polled.load(Ordering::SeqCst));
        // /healthz probes anyway.
        assert_eq!(
            guard.probe::<i32>("ping", async { Err(refused()) }).await,
            None
        );

        // One try per period once it is due, however many callers.
        let due = Instant::now() + RETRY_AFTER;
        assert!(!guard.may_try_at(due - Duration::from_millis(1)));
        assert!(guard.may_try_at(due));
        assert!(!guard.may_try_at(due));
        assert_eq!(guard.probe("get", async { Ok(3) }).await, Some(3));
        assert!(!guard.is_down());
        assert_eq!(guard.call("get", async { Ok(4) }).await, Some(4));
    }

    #[tokio::test]
    async fn a_call_that_hangs_is_cut_at_the_timeout() {
        let guard = RedisGuard::new(Duration::from_millis(20));
        let started = Instant::now();
        let hung = guard
            .call("get", std::future::pending::<redis::RedisResult<i32>>())
            .await;
        assert_eq!(hung, None);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(guard.is_down());
    }

    #[test]
    fn a_failure_during_a_make_up_is_still_owed() {
        let writes = MissedWrites::default();
        assert_eq!(writes.owed(), None);
        writes.missed();
        let ticket = writes.owed().unwrap();
        writes.missed();
        writes.made_up(ticket);
        let ticket = writes.owed().unwrap();
        writes.made_up(ticket);
        assert_eq!(writes.owed(), None);
    }

    #[tokio::test]
    async fn an_error_redis_answered_is_no_outage() {
        let guard = RedisGuard::new(REDIS_TIMEOUT);
        let wrong_type: redis::RedisError =
            (redis::ErrorKind::UnexpectedReturnType, "not a number").into();
        assert_eq!(
            guard.call::<i32>("get", async { Err(wrong_type) }).await,
            None
        );
        assert!(!guard.is_down());
    }
}
