//! The recorder's tests: percentiles against a sorted vector, exact merges, failures grouped
//! with their status, stages kept apart.

use proptest::prelude::*;

use super::*;

fn sample(us: u64) -> Sample {
    Sample {
        endpoint: 0,
        raw_us: us,
        lag_us: None,
        bytes: 10,
        outcome: Outcome::Success,
        status: Some(200),
        example: None,
    }
}

proptest! {
    /// Percentiles from the histogram agree with a sorted vector to 3 significant digits.
    #[test]
    fn percentiles_match_a_sorted_vector(mut values in proptest::collection::vec(1u64..5_000_000, 1..2000), q in 0.0f64..1.0) {
        let mut entry = Entry::new("GET", "/", false);
        for &v in &values {
            entry.record(&sample(v), 0.0);
        }
        values.sort_unstable();
        // HdrHistogram's quantile: the smallest value with at least q of the samples at or below it.
        let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        let exact = values[rank - 1] as f64 / 1000.0;
        let got = entry.percentile_ms(q).unwrap();
        prop_assert!((got - exact).abs() <= exact * 0.001 + 0.001, "q={q} got={got} exact={exact}");
        prop_assert_eq!(entry.percentile_ms(1.0).unwrap(), *values.last().unwrap() as f64 / 1000.0);
    }

    /// Merging two entries equals recording everything into one.
    #[test]
    fn merging_equals_recording_into_one(a in proptest::collection::vec(1u64..10_000_000, 0..500), b in proptest::collection::vec(1u64..10_000_000, 0..500)) {
        let mut one = Entry::new("GET", "/", true);
        let mut left = Entry::new("GET", "/", true);
        let mut right = Entry::new("GET", "/", true);
        for &v in &a { one.record(&sample(v), 1.0); left.record(&sample(v), 1.0); }
        for &v in &b { one.record(&sample(v), 2.0); right.record(&sample(v), 2.0); }
        left.merge(&right);
        prop_assert_eq!(left.requests, one.requests);
        prop_assert_eq!(left.total_us, one.total_us);
        prop_assert_eq!(&left.raw, &one.raw);
        prop_assert_eq!(left.corrected.as_ref(), one.corrected.as_ref());
        for q in PERCENTILES {
            prop_assert_eq!(left.percentile_ms(q), one.percentile_ms(q));
        }
    }
}

#[test]
fn an_empty_entry_has_no_percentiles() {
    let e = Entry::new("GET", "/", false);
    assert_eq!(e.percentile_ms(0.5), None);
    assert_eq!(e.avg_ms(), None);
}

#[test]
fn failures_are_grouped_and_stages_kept_apart() {
    let endpoints = vec![("GET".to_owned(), "/a".to_owned())];
    let mut r = Recorder::new(&endpoints, false);
    r.handle(Event::Stage(0));
    r.handle(Event::Sample(sample(1000)));
    r.handle(Event::Stage(1));
    for _ in 0..3 {
        r.handle(Event::Sample(Sample {
            outcome: Outcome::Failure("boom".into()),
            status: Some(503),
            ..sample(2000)
        }));
    }
    r.tick(5);
    r.finish();
    assert_eq!(r.aggregate.requests, 4);
    assert_eq!(r.stages[0].aggregate.requests, 1);
    assert_eq!(r.stages[1].aggregate.failures, 3);
    let row = r.failures.values().next().unwrap();
    assert_eq!((row.occurrences, row.error.as_str()), (3, "boom"));
    // The status is a field of the row, never parsed back out of the message.
    assert_eq!(row.status, Some(503));
    assert_eq!(r.seconds[0].requests, 4);
    assert_eq!(r.seconds[0].users, 5);
}
