//! The mock's time: milliseconds on tokio's clock (so `tokio::time::pause`/`advance` drive session
//! expiry in tests), shown as KST wall time anchored where the clock was made.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, Offset, TimeDelta, Utc};
use tokio::time::Instant;

/// Milliseconds since the clock's start; stored instead of `Instant` to keep a payment small.
pub type Millis = u64;

#[derive(Debug, Clone)]
pub struct Clock {
    start: Instant,
    wall_start: DateTime<FixedOffset>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::starting_at(Utc::now())
    }
}

impl Clock {
    /// A clock whose "now" shows as `wall` (tests pin the displayed times this way).
    pub fn starting_at(wall: DateTime<Utc>) -> Self {
        Self {
            start: Instant::now(),
            wall_start: wall.with_timezone(&kst()),
        }
    }

    pub fn now(&self) -> Millis {
        u64::try_from(Instant::now().duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    /// `at` as Toss shows times: KST, whole seconds, `2024-02-13T12:18:14+09:00`.
    pub fn kst(&self, at: Millis) -> String {
        let delta = TimeDelta::from_std(Duration::from_millis(at)).unwrap_or(TimeDelta::MAX);
        let t = self
            .wall_start
            .checked_add_signed(delta)
            .unwrap_or(self.wall_start);
        t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }

    /// `at` as `yyyyMMddHHmmss` in KST, the timestamp inside a paymentKey.
    pub fn compact(&self, at: Millis) -> String {
        let delta = TimeDelta::from_std(Duration::from_millis(at)).unwrap_or(TimeDelta::MAX);
        let t = self
            .wall_start
            .checked_add_signed(delta)
            .unwrap_or(self.wall_start);
        t.format("%Y%m%d%H%M%S").to_string()
    }
}

/// Korea Standard Time, UTC+9 all year.
fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| Utc.fix())
}

/// Saturating `Duration` to milliseconds.
pub fn millis(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_kst_without_fraction() {
        let wall = DateTime::parse_from_rfc3339("2024-02-13T03:17:57.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::starting_at(wall);
        assert_eq!(clock.kst(0), "2024-02-13T12:17:57+09:00");
        assert_eq!(clock.kst(17_000), "2024-02-13T12:18:14+09:00");
        assert_eq!(clock.compact(0), "20240213121757");
    }
}
