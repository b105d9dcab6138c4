//! Payments in memory: sharded by paymentKey, with an orderId index sharded by orderId, each shard
//! behind its own short-held mutex. Bounded: a payment is kept `retention` after its session was
//! created and at most `max` are kept, oldest evicted first; both are enforced in creation order,
//! so eviction costs O(evicted), never a scan.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};

use crate::clock::Millis;
use crate::codes::{self, Code};
use crate::ids::PaymentKey;
use crate::payment::{Payment, Status};

const SHARDS: usize = 64;

/// orderId to the paymentKey of its latest session.
type OrderIndex = HashMap<Box<str>, PaymentKey>;

#[derive(Default)]
struct Shard {
    map: HashMap<PaymentKey, Payment>,
    /// Keys in creation order, with their creation time: the eviction order.
    queue: VecDeque<(Millis, PaymentKey)>,
}

pub struct Payments {
    shards: Box<[Mutex<Shard>]>,
    orders: Box<[Mutex<OrderIndex>]>,
    /// Shard choice only; each map hashes with its own random state.
    router: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>,
    retention: Millis,
    per_shard: usize,
}

/// Locks a shard; a poisoned lock (a panic while held) still holds consistent maps, since every
/// critical section here is a few map operations.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Payments {
    pub fn new(retention: Millis, max: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            orders: (0..SHARDS).map(|_| Mutex::default()).collect(),
            router: Default::default(),
            retention,
            per_shard: max.div_ceil(SHARDS).max(1),
        }
    }

    fn shard_of<K: Hash + ?Sized>(&self, key: &K) -> usize {
        (self.router.hash_one(key) % SHARDS as u64) as usize
    }

    /// Runs `f` on the payment `key` names, with its expiry applied at `now`, under its shard's lock.
    pub fn with<R>(
        &self,
        key: &PaymentKey,
        now: Millis,
        f: impl FnOnce(Option<&mut Payment>) -> R,
    ) -> R {
        let mut shard = lock(&self.shards[self.shard_of(key)]);
        let mut payment = shard.map.get_mut(key);
        if let Some(p) = payment.as_mut() {
            p.refresh(now);
        }
        f(payment)
    }

    pub fn key_of_order(&self, order_id: &str) -> Option<PaymentKey> {
        lock(&self.orders[self.shard_of(order_id)])
            .get(order_id)
            .copied()
    }

    /// Adds a new session. An orderId already approved is refused (`DUPLICATED_ORDER_ID`); one
    /// whose session never completed is taken over, as when a buyer reopens the checkout.
    pub fn insert(&self, payment: Payment, now: Millis) -> Result<(), &'static Code> {
        let mut evicted = Vec::new();
        {
            // Lock order everywhere: orderId shard, then payment shard; never the reverse.
            let mut orders = lock(&self.orders[self.shard_of(&*payment.order_id)]);
            if let Some(existing) = orders.get(&payment.order_id) {
                let approved = self.with(existing, now, |p| p.is_some_and(|p| p.status.approved()));
                if approved {
                    return Err(&codes::DUPLICATED_ORDER_ID);
                }
            }
            orders.insert(payment.order_id.clone(), payment.key);
            let mut shard = lock(&self.shards[self.shard_of(&payment.key)]);
            shard.queue.push_back((payment.requested_at, payment.key));
            shard.map.insert(payment.key, payment);
            self.evict(&mut shard, now, &mut evicted);
        }
        self.unindex(evicted);
        Ok(())
    }

    /// Drops payments past their retention, in every shard.
    pub fn sweep(&self, now: Millis) -> usize {
        let mut evicted = Vec::new();
        for shard in &self.shards {
            self.evict(&mut lock(shard), now, &mut evicted);
        }
        let n = evicted.len();
        self.unindex(evicted);
        n
    }

    fn evict(&self, shard: &mut Shard, now: Millis, evicted: &mut Vec<(Box<str>, PaymentKey)>) {
        while let Some(&(created, key)) = shard.queue.front() {
            let expired = created.saturating_add(self.retention) <= now;
            if !expired && shard.map.len() <= self.per_shard {
                break;
            }
            shard.queue.pop_front();
            if let Some(p) = shard.map.remove(&key) {
                evicted.push((p.order_id, key));
            }
        }
    }

    /// Removes evicted payments from the orderId index, unless a newer session took the orderId.
    fn unindex(&self, evicted: Vec<(Box<str>, PaymentKey)>) {
        for (order_id, key) in evicted {
            let mut orders = lock(&self.orders[self.shard_of(&*order_id)]);
            if let Entry::Occupied(e) = orders.entry(order_id)
                && *e.get() == key
            {
                e.remove();
            }
        }
    }

    /// Payments by the status a lookup at `now` would show.
    pub fn count_by_status(&self, now: Millis) -> [(Status, u64); 7] {
        let mut counts = Status::ALL.map(|s| (s, 0u64));
        for shard in &self.shards {
            for p in lock(shard).map.values() {
                let status = p.status_at(now);
                if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == status) {
                    slot.1 += 1;
                }
            }
        }
        counts
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
        for orders in &self.orders {
            *lock(orders) = HashMap::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Ids;

    fn session(ids: &Ids, order: &str, at: Millis) -> Payment {
        Payment {
            key: ids.payment_key("20240213121757"),
            order_id: order.into(),
            order_name: None,
            owner: 0,
            status: Status::InProgress,
            total: 1000,
            balance: 1000,
            requested_at: at,
            expires_at: at + 600_000,
            approved_at: None,
            attempt: None,
            failure: None,
            cancels: Vec::new(),
        }
    }

    #[test]
    fn retention_and_count_bound_evict_oldest_first() {
        let ids = Ids::new(0);
        let store = Payments::new(10_000, 64 * 2);
        let first = session(&ids, "order-0000", 0);
        let first_key = first.key;
        store.insert(first, 0).unwrap();
        for i in 1..1000 {
            store
                .insert(session(&ids, &format!("order-{i:04}"), 5), 5)
                .unwrap();
        }
        assert!(store.len() <= 64 * 2, "{}", store.len());
        assert_eq!(store.key_of_order("order-0000"), None);
        assert!(store.with(&first_key, 5, |p| p.is_none()));
        assert!(store.key_of_order("order-0999").is_some());
        store.sweep(10_005);
        assert!(store.is_empty());
        assert_eq!(store.key_of_order("order-0999"), None);
    }

    #[test]
    fn approved_order_ids_are_not_reused() {
        let ids = Ids::new(0);
        let store = Payments::new(u64::MAX, 1000);
        let p = session(&ids, "order-dup", 0);
        let key = p.key;
        store.insert(p, 0).unwrap();
        // An open session's orderId can be opened again, and then names the new session.
        let again = session(&ids, "order-dup", 1);
        let again_key = again.key;
        store.insert(again, 1).unwrap();
        assert_eq!(store.key_of_order("order-dup"), Some(again_key));
        store.with(&again_key, 1, |p| p.unwrap().status = Status::Done);
        assert_eq!(
            store.insert(session(&ids, "order-dup", 2), 2),
            Err(&codes::DUPLICATED_ORDER_ID)
        );
        assert!(store.with(&key, 2, |p| p.is_some()));
    }
}
