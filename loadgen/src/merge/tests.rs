//! Merging held to recording everything in one process: shards made of random samples, written
//! to summary.json and read back as `loadgen merge` reads them, merge to the counts and the very
//! histograms of one recorder that saw every sample; the plan comes back whole; the shards'
//! rules come back in their stages.

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::shard::Shard;
use crate::stats::{Entry, Event, Outcome, Sample, histogram};
use crate::summary::Summary;

const ENDPOINTS: [(&str, &str); 2] = [("GET", "/a"), ("POST", "/b")];

/// (endpoint, microseconds, failed)
type Samples = Vec<(u32, u64, bool)>;

fn sample((endpoint, us, failed): (u32, u64, bool)) -> Sample {
    Sample {
        endpoint,
        raw_us: us,
        lag_us: None,
        bytes: 10,
        outcome: if failed {
            Outcome::Failure("HTTPError('500 Server Error')".into())
        } else {
            Outcome::Success
        },
        status: Some(if failed { 500 } else { 200 }),
        example: None,
    }
}

fn whole_plan() -> Vec<Stage> {
    vec![Stage {
        name: "10 users".into(),
        users: 10,
        spawn_rate: 2.5,
        duration: Duration::from_secs(3),
        arrival_rate: None,
    }]
}

/// A shard that recorded `samples` in one second, through its summary.json and back.
fn shard_run(shard: Shard, samples: &[(u32, u64, bool)], rules: &[(&str, &str)]) -> ShardRun {
    let endpoints: Vec<(String, String)> = ENDPOINTS
        .iter()
        .map(|(m, n)| ((*m).to_owned(), (*n).to_owned()))
        .collect();
    let mut rec = Recorder::new(&endpoints, false);
    rec.handle(Event::Stage(0));
    for &s in samples {
        rec.handle(Event::Sample(sample(s)));
    }
    rec.handle(Event::Exception("unset variable {x}".into()));
    rec.tick(shard.users(10));
    rec.finish();
    let started_at = chrono::DateTime::from_timestamp(1_769_860_800, 0).unwrap();
    let results = Results {
        meta: Meta {
            phase: None,
            scenario: "s.toml".into(),
            host: "http://127.0.0.1:1".into(),
            started_at,
            ended_at: started_at + chrono::Duration::seconds(1),
            duration_s: 1.0,
            model: Model::Closed,
            seed: 0,
            command: "loadgen run".into(),
            tls_insecure: false,
            protocol: None,
            shard: Some(shard),
            stages: shard.stages(&whole_plan()),
        },
        recorder: rec,
        verdicts: rules
            .iter()
            .map(|(rule, scope)| Verdict {
                threshold: (*rule).into(),
                scope: (*scope).into(),
                actual: None,
                actual_text: String::new(),
                limit_text: String::new(),
                passed: true,
            })
            .collect(),
        saturation: Saturation::default(),
        stage_slos: Vec::new(),
        drift: None,
        server: None,
        findings: Vec::new(),
        reconciliation: None,
        baseline: None,
        faults: None,
    };
    let text = Summary::from_results(&results).to_json_pretty().unwrap();
    ShardRun {
        path: PathBuf::from(format!("shard{}.json", shard.index)),
        shard,
        results: Summary::from_json(&text).unwrap().into_results().unwrap(),
    }
}

fn runs(all: &[Samples]) -> Vec<ShardRun> {
    let count = all.len();
    all.iter()
        .enumerate()
        .map(|(i, s)| {
            shard_run(
                Shard {
                    index: i + 1,
                    count,
                },
                s,
                &[],
            )
        })
        .collect()
}

fn samples() -> impl Strategy<Value = Samples> {
    proptest::collection::vec(
        (0u32..2, 1u64..5_000_000, proptest::bool::weighted(0.1)),
        0..300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The merge is the one recorder that saw every sample: counts and histograms, per endpoint
    /// and in aggregate, for the run and its stage.
    #[test]
    fn a_merge_is_one_recorder_of_every_sample(all in proptest::collection::vec(samples(), 1..5)) {
        let merged = merge(runs(&all), "loadgen merge".into()).unwrap().results;
        let mut one = Entry::new("", "Aggregated", false);
        let mut by_endpoint = [Entry::new("GET", "/a", false), Entry::new("POST", "/b", false)];
        let mut raw = histogram(3);
        for &(endpoint, us, failed) in all.iter().flatten() {
            one.requests += 1;
            one.failures += u64::from(failed);
            by_endpoint[endpoint as usize].requests += 1;
            raw.record(us).unwrap();
        }
        let rec = &merged.recorder;
        prop_assert_eq!(rec.aggregate.requests, one.requests);
        prop_assert_eq!(rec.aggregate.failures, one.failures);
        prop_assert_eq!(&rec.aggregate.raw, &raw);
        prop_assert_eq!(&rec.stages[0].aggregate.raw, &raw);
        for (e, expected) in rec.entries.iter().zip(&by_endpoint) {
            prop_assert_eq!((&e.method, &e.name, e.requests), (&expected.method, &expected.name, expected.requests));
        }
        prop_assert_eq!(rec.seconds[0].requests, one.requests);
        prop_assert_eq!(rec.exceptions.get("unset variable {x}"), Some(&(all.len() as u64)));
        let failures: u64 = rec.failures.values().map(|f| f.occurrences).sum();
        prop_assert_eq!(failures, one.failures);
    }
}

#[test]
fn the_plan_and_the_users_come_back_whole() {
    let merged = merge(runs(&[vec![], vec![], vec![], vec![]]), "m".into()).unwrap();
    let plan = &merged.results.meta.stages;
    assert_eq!((plan[0].users, plan[0].spawn_rate), (10, 2.5));
    assert_eq!(merged.results.recorder.seconds[0].users, 10);
    assert_eq!(merged.results.meta.shard, None);
    assert_eq!(merged.results.meta.command, "m");
}

#[test]
fn the_shards_rules_come_back_once_in_their_stages() {
    let rules = [
        ("p95 < 1s", "run, all requests"),
        ("p95 < 1s", "stage 1, all requests"),
        ("p99{GET /a} < 2s", "stage 1, GET /a"),
    ];
    let shards = (1..=2)
        .map(|index| shard_run(Shard { index, count: 2 }, &[(0, 1000, false)], &rules))
        .collect();
    let merged = merge(shards, "m".into()).unwrap();
    let got: Vec<(&str, Option<usize>)> = merged
        .thresholds
        .iter()
        .map(|t| (t.source.as_str(), t.stage))
        .collect();
    assert_eq!(
        got,
        [
            ("p95 < 1s", None),
            ("p95 < 1s", Some(0)),
            ("p99{GET /a} < 2s", Some(0))
        ]
    );
}

#[test]
fn an_incomplete_set_is_refused() {
    let mut shards = runs(&[vec![], vec![], vec![]]);
    shards.remove(1);
    let e = merge(shards, "m".into()).err().unwrap().to_string();
    assert!(e.starts_with("shard 2/3 missing"), "{e}");
}
