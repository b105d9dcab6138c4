//! summary.json: everything the other reports show, machine-readable, with a schema version. Each
//! entry carries its HdrHistogram (V2, deflated, base64: HdrHistogram's own log encoding), so
//! results of several generator processes merge exactly.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use serde_json::{Value, json};

use super::Results;
use crate::stats::{Entry, PERCENTILES, percentile_ms};

/// Bumped when a field changes meaning or goes away (new fields do not bump it).
pub const SCHEMA_VERSION: u32 = 1;

pub fn render(r: &Results) -> anyhow::Result<String> {
    let stages: Vec<Value> = r
        .recorder
        .stages
        .iter()
        .map(|s| {
            let plan = r.meta.stages.get(s.index);
            let seconds = s.end_s - s.start_s;
            json!({
                "index": s.index + 1,
                "name": plan.map(|p| p.name.clone()),
                "users": plan.map(|p| p.users),
                "spawn_rate": plan.map(|p| p.spawn_rate),
                "arrival_rate": plan.and_then(|p| p.arrival_rate),
                "start_s": s.start_s,
                "end_s": s.end_s,
                "aggregate": entry(&s.aggregate, seconds),
                "entries": s.entries.iter().filter(|e| e.requests > 0).map(|e| entry(e, seconds)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let seconds = r.meta.duration_s;
    let summary = json!({
        "schema_version": SCHEMA_VERSION,
        "generator": concat!("loadgen ", env!("CARGO_PKG_VERSION")),
        "meta": r.meta,
        "passed": r.passed(),
        "failure_band": r.failure_band(),
        "thresholds": r.verdicts,
        "aggregate": entry(&r.recorder.aggregate, seconds),
        "entries": r.sorted_entries().into_iter().map(|e| entry(e, seconds)).collect::<Vec<_>>(),
        "stages": stages,
        "failures": r.recorder.failures.values().collect::<Vec<_>>(),
        "exceptions": r.recorder.exceptions.iter().map(|(m, c)| json!({"message": m, "count": c})).collect::<Vec<_>>(),
        "relogins": r.recorder.relogins,
        "dropped_iterations": r.recorder.dropped,
        "saturation": r.saturation,
        "stage_slos": r.stage_slos,
        "first_broken_stage": crate::trend::first_broken(&r.stage_slos).map(|s| s.stage),
        "drift": r.drift,
        "series": r.recorder.seconds,
        "server": r.server,
        "findings": r.findings,
    });
    Ok(serde_json::to_string_pretty(&summary)?)
}

fn percentiles(h: &Histogram<u64>) -> Value {
    let mut map = serde_json::Map::new();
    for q in PERCENTILES.iter().chain(&[0.95]) {
        let key = format!("p{}", (q * 10000.0).round() / 100.0);
        map.insert(key, json!(percentile_ms(h, *q)));
    }
    Value::Object(map)
}

fn entry(e: &Entry, seconds: f64) -> Value {
    json!({
        "method": e.method,
        "name": e.name,
        "requests": e.requests,
        "failures": e.failures,
        "handled": e.handled,
        "fail_ratio": e.fail_ratio(),
        "avg_ms": e.avg_ms(),
        "min_ms": e.min_ms(),
        "max_ms": e.max_ms(),
        "avg_content_size": e.avg_content_size(),
        "rps": super::per_second(e.requests, seconds),
        "percentiles_ms": percentiles(&e.raw),
        "corrected_percentiles_ms": e.corrected.as_ref().map(percentiles),
        "histogram": encode(&e.raw),
        "corrected_histogram": e.corrected.as_ref().map(encode),
    })
}

/// HdrHistogram's V2 deflate encoding in base64 (what `HdrHistogram` log tools read).
pub fn encode(h: &Histogram<u64>) -> Option<String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut bytes).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The inverse of [`encode`].
pub fn decode(text: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
    let mut d = hdrhistogram::serialization::Deserializer::new();
    Ok(d.deserialize(&mut bytes.as_slice())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_round_trip() {
        let mut h = crate::stats::histogram(3);
        for v in [1, 10, 100, 1000, 123_456] {
            h.record(v).unwrap();
        }
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }
}
