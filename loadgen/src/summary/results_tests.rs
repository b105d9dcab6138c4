//! The way back from summary.json held to the way there: the small run of `summary::tests`
//! written, restored and written again gives the same summary and the same reports, byte for
//! byte; and the recorder's endpoint order, which the summary does not keep, comes back.

use super::*;
use crate::report::{console, html, junit};
use crate::stats::{Event, Outcome, Sample};
use crate::summary::tests::small_run;

fn restored(r: &Results) -> Results {
    let text = Summary::from_results(r).to_json_pretty().unwrap();
    // Through the text, as a reader of a finished run's summary.json gets it.
    Summary::from_json(&text).unwrap().into_results().unwrap()
}

/// Equal reports, or the first line where they part (a whole report is too long to read).
fn same(restored: &str, original: &str) {
    let first = restored
        .lines()
        .zip(original.lines())
        .position(|(a, b)| a != b);
    if let Some(i) = first {
        panic!(
            "line {}: restored {:?}, original {:?}",
            i + 1,
            restored.lines().nth(i),
            original.lines().nth(i)
        );
    }
    assert_eq!(restored.lines().count(), original.lines().count());
    assert_eq!(restored, original);
}

#[test]
fn a_restored_run_writes_the_same_summary() {
    let original = small_run();
    let first = Summary::from_results(&original).to_json_pretty().unwrap();
    let again = Summary::from_results(&restored(&original))
        .to_json_pretty()
        .unwrap();
    assert_eq!(again, first);
}

#[test]
fn a_restored_run_renders_the_same_reports() {
    let original = small_run();
    let back = restored(&original);
    assert_eq!(html::render(&back), html::render(&original));
    assert_eq!(
        console::final_report(&back),
        console::final_report(&original)
    );
    assert_eq!(
        junit::render(&back).unwrap(),
        junit::render(&original).unwrap()
    );
}

#[test]
fn the_recorder_comes_back_in_its_index_order() {
    let original = small_run();
    let back = restored(&original);
    let names = |r: &Results| -> Vec<(String, String)> {
        r.recorder
            .entries
            .iter()
            .map(|e| (e.method.clone(), e.name.clone()))
            .collect()
    };
    // The summary lists POST /api/cart/items/ first (by name); the series' index 0 is GET.
    assert_eq!(names(&back), names(&original));
    let (a, b) = (&back.recorder, &original.recorder);
    for (x, y) in a
        .entries
        .iter()
        .zip(&b.entries)
        .chain([(&a.aggregate, &b.aggregate)])
    {
        assert_eq!(
            (
                x.requests, x.failures, x.handled, x.total_us, x.min_us, x.max_us
            ),
            (
                y.requests, y.failures, y.handled, y.total_us, y.min_us, y.max_us
            )
        );
        assert_eq!(x.content_bytes, y.content_bytes);
        assert_eq!((&x.raw, &x.corrected), (&y.raw, &y.corrected));
    }
    assert_eq!(a.stages.len(), b.stages.len());
    for (x, y) in a.stages.iter().zip(&b.stages) {
        assert_eq!((x.index, x.start_s, x.end_s), (y.index, y.start_s, y.end_s));
        assert_eq!(x.entries.len(), y.entries.len());
        assert_eq!(x.aggregate.raw, y.aggregate.raw);
    }
    assert_eq!(a.failures, b.failures);
    assert_eq!(a.exceptions, b.exceptions);
    assert_eq!((a.relogins, a.dropped), (b.relogins, b.dropped));
    assert_eq!(a.start_unix, b.start_unix);
    // What the thresholds divide by is the run's measured length, not the time since reading.
    assert!((a.duration_s() - original.meta.duration_s).abs() < 1e-6);
}

#[test]
fn an_endpoint_without_requests_keeps_its_place() {
    let endpoints: Vec<(String, String)> = ["/a", "/b", "/c"]
        .iter()
        .map(|n| ("GET".to_owned(), (*n).to_owned()))
        .collect();
    let mut rec = Recorder::new(&endpoints, false);
    rec.handle(Event::Stage(0));
    let sample = |endpoint, raw_us| Sample {
        endpoint,
        raw_us,
        lag_us: None,
        bytes: 10,
        outcome: Outcome::Success,
        status: Some(200),
        example: None,
    };
    // /c and /a alike in counts; /b never answered.
    for _ in 0..3 {
        rec.handle(Event::Sample(sample(2, 1_000)));
        rec.handle(Event::Sample(sample(0, 50_000)));
    }
    rec.tick(1);
    rec.finish();
    let mut original = small_run();
    original.recorder = rec;
    original.meta.model = crate::report::Model::Closed;
    original.stage_slos.clear();
    let back = restored(&original);
    let names: Vec<&str> = back
        .recorder
        .entries
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["/a", "/b", "/c"]);
    same(&html::render(&back), &html::render(&original));
}

#[test]
fn a_summary_without_its_endpoint_order_drops_the_per_endpoint_series() {
    let mut summary = Summary::from_results(&small_run());
    summary.endpoints.clear();
    let back = summary.into_results().unwrap();
    assert!(back.recorder.seconds.iter().all(|s| s.endpoints.is_empty()));
    assert!(!back.recorder.entries.is_empty());
}

#[test]
fn a_stage_counted_from_zero_is_refused() {
    let mut summary = Summary::from_results(&small_run());
    summary.stages[0].index = 0;
    let error = format!("{:#}", summary.into_results().err().unwrap());
    assert!(error.contains("stage index 0"), "{error}");
}

#[test]
fn the_plans_stages_come_back_from_the_summarys() {
    let mut original = small_run();
    let stage = |name: &str, users, arrival_rate| crate::runner::Stage {
        name: name.to_owned(),
        users,
        spawn_rate: 1.0,
        // The small run's stages last a second each: what the summary measured.
        duration: std::time::Duration::from_secs(1),
        arrival_rate,
    };
    original.meta.stages = vec![stage("warm", 2, Some(4.0)), stage("peak", 4, Some(8.0))];
    let first = Summary::from_results(&original).to_json_pretty().unwrap();
    let back = restored(&original);
    assert_eq!(back.meta, original.meta);
    assert_eq!(back.meta.stages.len(), 2);
    assert_eq!(
        Summary::from_results(&back).to_json_pretty().unwrap(),
        first
    );
    same(&html::render(&back), &html::render(&original));
    same(
        &console::final_report(&back),
        &console::final_report(&original),
    );
}
