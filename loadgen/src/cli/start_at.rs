//! `--start-at TIME`: shards started by hand, by compose or by a Job begin their load at one
//! moment, so that their seconds line up when `loadgen merge` adds them up on wall-clock time.
//! The wait comes after everything that can refuse a run (flags, files, the host's preflight,
//! the monitors' connections), so a broken shard says so at once instead of at the start time.

use std::time::Duration;

use anyhow::bail;
use chrono::{DateTime, Utc};

/// A start further ahead than this is far likelier a mistake (a time zone, milliseconds for
/// seconds) than a plan, and a shard silently waiting for it would look hung.
const MAX_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// An RFC 3339 time (`2026-01-31T12:00:00Z`, any offset) or a unix time in seconds (decimals
/// allowed), at most a day after `now`.
pub(super) fn parse(text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let t = text.trim();
    let at = if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        at.with_timezone(&Utc)
    } else if let Ok(secs) = t.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
        && let Some(at) = from_unix(secs)
    {
        at
    } else {
        bail!(
            "--start-at {text:?}: not an RFC 3339 time (2026-01-31T12:00:00Z) nor a unix time in \
             seconds (1769860800)"
        );
    };
    let ahead = (at - now).to_std().unwrap_or_default();
    if ahead > MAX_AHEAD {
        bail!(
            "--start-at {text:?} is {} from now, more than 24h ahead (a unix time is in seconds, \
             not milliseconds)",
            humantime::format_duration(Duration::from_secs(ahead.as_secs()))
        );
    }
    Ok(at)
}

fn from_unix(secs: f64) -> Option<DateTime<Utc>> {
    let whole = secs.trunc();
    if whole > i64::MAX as f64 {
        return None;
    }
    let nanos = ((secs - whole) * 1e9).round().min(999_999_999.0) as u32;
    DateTime::from_timestamp(whole as i64, nanos)
}

/// Waits until `at`; a time already past starts at once, with a warning (a shard that was slow
/// to be scheduled still runs, and its late seconds show in the merged series).
pub(super) async fn wait(at: DateTime<Utc>, quiet: bool) {
    match (at - Utc::now()).to_std() {
        Ok(ahead) if !ahead.is_zero() => {
            if !quiet {
                eprintln!(
                    "loadgen: waiting {:.1}s for --start-at {}",
                    ahead.as_secs_f64(),
                    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                );
            }
            tokio::time::sleep(ahead).await;
        }
        _ => {
            let late = (Utc::now() - at).to_std().unwrap_or_default();
            tracing::warn!(
                "--start-at {} was {:.1}s ago: starting now",
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                late.as_secs_f64()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_769_860_800, 0).unwrap()
    }

    #[test]
    fn rfc_3339_and_unix_times_read() {
        let at = parse("2026-01-31T12:00:30Z", now()).unwrap();
        assert_eq!(at.timestamp(), 1_769_860_830);
        let at = parse("2026-01-31T21:00:30+09:00", now()).unwrap();
        assert_eq!(at.timestamp(), 1_769_860_830);
        let at = parse("1769860830.25", now()).unwrap();
        assert_eq!(at.timestamp_millis(), 1_769_860_830_250);
        // The past is accepted here: the wait starts at once, with a warning.
        assert!(parse("1000", now()).is_ok());
    }

    #[test]
    fn an_unreadable_or_far_time_is_refused_in_one_line() {
        for (text, says) in [
            ("soon", "not an RFC 3339 time"),
            ("2026-01-31 12:00", "not an RFC 3339 time"),
            ("-5", "not an RFC 3339 time"),
            ("NaN", "not an RFC 3339 time"),
            ("2026-02-02T12:00:00Z", "more than 24h ahead"),
            ("1769860800000", "not milliseconds"),
            ("1e300", "not an RFC 3339 time"),
        ] {
            let e = parse(text, now()).unwrap_err().to_string();
            assert!(
                e.starts_with("--start-at") && e.contains(says),
                "{text}: {e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        assert!(
            parse("2026-02-01T11:59:59Z", now()).is_ok(),
            "a day ahead is fine"
        );
    }
}
