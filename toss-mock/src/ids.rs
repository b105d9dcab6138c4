//! Identifiers: paymentKeys in Toss's current form (`tshop` + `yyyyMMddHHmmss` + 5 alphanumerics)
//! and 32-hex transaction keys, all drawn from the seed so a run can be repeated.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PREFIX: &[u8; 5] = b"tshop";
const LEN: usize = 24;
const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^5 suffixes per second.
const SUFFIXES: u64 = 916_132_832;
/// Odd and not a multiple of 31, so coprime with 62^5: `n * STEP` visits every suffix once, which
/// keeps keys unique (a random suffix collides within a second at a few thousand sessions per
/// second) while still looking random.
const STEP: u64 = 387_420_489;

/// A paymentKey, stored inline (no heap) since the mock holds up to millions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentKey([u8; LEN]);

impl PaymentKey {
    /// The key `s` names, if it has the mock's form (any other string names no payment).
    pub fn parse(s: &str) -> Option<Self> {
        let bytes: [u8; LEN] = s.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(u8::is_ascii_alphanumeric)
            .then_some(Self(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Built from ASCII only (`new` and `parse`).
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for PaymentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for PaymentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transaction key: 128 bits shown as 32 upper-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TxKey([u8; 16]);

impl TxKey {
    pub fn as_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }
}

impl fmt::Display for TxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032X}", self.as_u128())
    }
}

#[derive(Debug)]
pub struct Ids {
    sessions: AtomicU64,
    offset: u64,
    rng: Mutex<ChaCha8Rng>,
}

impl Ids {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Stream 0 is chaos's (see chaos.rs); identifiers draw from their own.
        rng.set_stream(u64::MAX);
        Self {
            sessions: AtomicU64::new(0),
            offset: rng.random_range(0..SUFFIXES),
            rng: Mutex::new(rng),
        }
    }

    /// A new paymentKey stamped with `timestamp` (`yyyyMMddHHmmss`, 14 digits).
    pub fn payment_key(&self, timestamp: &str) -> PaymentKey {
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let mut suffix = (n % SUFFIXES * STEP + self.offset) % SUFFIXES;
        let mut key = [b'0'; LEN];
        key[..5].copy_from_slice(PREFIX);
        let ts = timestamp.as_bytes();
        let ts_len = ts.len().min(14);
        key[5..5 + ts_len].copy_from_slice(&ts[..ts_len]);
        for slot in key[19..].iter_mut().rev() {
            *slot = ALNUM[(suffix % 62) as usize];
            suffix /= 62;
        }
        PaymentKey(key)
    }

    pub fn tx_key(&self) -> TxKey {
        let mut bytes = [0u8; 16];
        match self.rng.lock() {
            Ok(mut rng) => rng.fill(&mut bytes),
            // A poisoned lock only means a panic elsewhere; the generator itself is intact.
            Err(poisoned) => poisoned.into_inner().fill(&mut bytes),
        }
        TxKey(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn payment_keys_have_tosss_form_and_never_repeat() {
        let ids = Ids::new(7);
        let mut seen = HashSet::new();
        for _ in 0..200_000 {
            let key = ids.payment_key("20240213121757");
            let s = key.as_str();
            assert_eq!(s.len(), 24);
            assert!(s.starts_with("tshop20240213121757"), "{s}");
            assert_eq!(PaymentKey::parse(s), Some(key));
            assert!(seen.insert(key), "{s} repeated");
        }
        assert_eq!(PaymentKey::parse("tshop2024"), None);
        assert_eq!(PaymentKey::parse("tshop20240213121757ab-d!"), None);
    }

    #[test]
    fn tx_keys_are_32_upper_hex_and_seeded() {
        let a = Ids::new(1).tx_key().to_string();
        assert_eq!(a.len(), 32);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
        );
        assert_eq!(a, Ids::new(1).tx_key().to_string());
        assert_ne!(a, Ids::new(2).tx_key().to_string());
    }
}
