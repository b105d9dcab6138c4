//! `Idempotency-Key` records: per scope (secret key + method + path + key) the first answer's
//! status and body, replayed byte for byte whatever a repeat sends, or an in-flight marker that
//! makes a concurrent repeat a 409. Kept `retention` (Toss: 15 days) and at most `max` records,
//! evicted oldest first in creation order.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::StatusCode;
use bytes::Bytes;

use crate::clock::Millis;

const SHARDS: usize = 64;
/// Toss's limit on a key's length, in characters.
pub const MAX_KEY_CHARS: usize = 300;

enum Record {
    InFlight {
        id: u64,
    },
    Done {
        id: u64,
        status: StatusCode,
        body: Bytes,
    },
}

impl Record {
    fn id(&self) -> u64 {
        match self {
            Record::InFlight { id } | Record::Done { id, .. } => *id,
        }
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<Arc<str>, Record>,
    /// Scopes in creation order with their time and record id: the eviction order. A scope whose
    /// first request was abandoned leaves a stale entry here, skipped when it comes up.
    queue: VecDeque<(Millis, u64, Arc<str>)>,
}

pub struct Idempotency {
    shards: Box<[Mutex<Shard>]>,
    router: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>,
    next_id: AtomicU64,
    retention: Millis,
    per_shard: usize,
}

/// What a request with a key meets.
pub enum Begin {
    /// The first answer, to send again.
    Replay(StatusCode, Bytes),
    /// The first request is still running.
    Busy,
    /// This request is the first: run it, then [`Ticket::finish`].
    Started(Ticket),
}

/// The right to record a scope's answer. Dropped unfinished (the request was abandoned or ended
/// without an answer), it removes the in-flight marker so a retry runs afresh.
pub struct Ticket {
    store: Arc<Idempotency>,
    scope: Arc<str>,
    id: u64,
    finished: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Idempotency {
    pub fn new(retention: Millis, max: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            router: Default::default(),
            next_id: AtomicU64::new(1),
            retention,
            per_shard: max.div_ceil(SHARDS).max(1),
        }
    }

    /// The scope's string: the parts cannot contain a newline (header values and paths never do).
    pub fn scope(secret_key: &str, method: &str, path: &str, key: &str) -> Arc<str> {
        format!("{secret_key}\n{method}\n{path}\n{key}").into()
    }

    fn shard(&self, scope: &str) -> &Mutex<Shard> {
        &self.shards[(self.router.hash_one(scope) % SHARDS as u64) as usize]
    }

    pub fn begin(self: &Arc<Self>, scope: Arc<str>, now: Millis) -> Begin {
        let mut shard = lock(self.shard(&scope));
        self.evict(&mut shard, now);
        match shard.map.get(&scope) {
            Some(Record::Done { status, body, .. }) => return Begin::Replay(*status, body.clone()),
            Some(Record::InFlight { .. }) => return Begin::Busy,
            None => {}
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        shard.map.insert(scope.clone(), Record::InFlight { id });
        shard.queue.push_back((now, id, scope.clone()));
        self.evict(&mut shard, now);
        Begin::Started(Ticket {
            store: self.clone(),
            scope,
            id,
            finished: false,
        })
    }

    fn evict(&self, shard: &mut Shard, now: Millis) -> usize {
        let mut evicted = 0;
        while let Some((created, id, scope)) = shard.queue.front() {
            let expired = created.saturating_add(self.retention) <= now;
            if !expired && shard.map.len() <= self.per_shard {
                break;
            }
            if shard.map.get(scope).is_some_and(|r| r.id() == *id) {
                shard.map.remove(scope);
                evicted += 1;
            }
            shard.queue.pop_front();
        }
        evicted
    }

    pub fn sweep(&self, now: Millis) -> usize {
        self.shards
            .iter()
            .map(|s| self.evict(&mut lock(s), now))
            .sum()
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        for shard in &self.shards {
            *lock(shard) = Shard::default();
        }
    }
}

impl Ticket {
    /// Records the answer, unless the record was evicted or cleared meanwhile.
    pub fn finish(mut self, status: StatusCode, body: Bytes) {
        self.finished = true;
        let mut shard = lock(self.store.shard(&self.scope));
        if let Some(record) = shard.map.get_mut(&self.scope)
            && record.id() == self.id
        {
            *record = Record::Done {
                id: self.id,
                status,
                body,
            };
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut shard = lock(self.store.shard(&self.scope));
        if shard
            .map
            .get(&self.scope)
            .is_some_and(|r| r.id() == self.id)
        {
            shard.map.remove(&self.scope);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(b: Begin) -> Ticket {
        match b {
            Begin::Started(t) => t,
            _ => panic!("expected a first request"),
        }
    }

    #[test]
    fn replays_then_expires() {
        let store = Arc::new(Idempotency::new(1000, 100));
        let scope = Idempotency::scope("k", "POST", "/p", "a");
        let ticket = started(store.begin(scope.clone(), 0));
        assert!(matches!(store.begin(scope.clone(), 1), Begin::Busy));
        ticket.finish(StatusCode::OK, Bytes::from_static(b"first"));
        match store.begin(scope.clone(), 2) {
            Begin::Replay(status, body) => {
                assert_eq!(status, StatusCode::OK);
                assert_eq!(&body[..], b"first");
            }
            _ => panic!("expected a replay"),
        }
        assert_eq!(store.sweep(1000), 1);
        assert!(store.is_empty());
        drop(started(store.begin(scope, 1001)));
    }

    #[test]
    fn abandoned_requests_free_their_scope() {
        let store = Arc::new(Idempotency::new(u64::MAX, 100));
        let scope = Idempotency::scope("k", "POST", "/p", "a");
        drop(started(store.begin(scope.clone(), 0)));
        assert!(store.is_empty());
        let ticket = started(store.begin(scope, 1));
        ticket.finish(StatusCode::BAD_REQUEST, Bytes::new());
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn count_is_bounded() {
        let store = Arc::new(Idempotency::new(u64::MAX, 64 * 3));
        for i in 0..10_000 {
            let scope = Idempotency::scope("k", "POST", "/p", &i.to_string());
            started(store.begin(scope, i)).finish(StatusCode::OK, Bytes::new());
        }
        assert!(store.len() <= 64 * 3, "{}", store.len());
        // the newest survive
        let newest = Idempotency::scope("k", "POST", "/p", "9999");
        assert!(matches!(store.begin(newest, 10_000), Begin::Replay(..)));
    }
}
