//! summary.json: everything the other reports show, machine-readable, with a schema version. The
//! content is the [`Summary`] type (`crate::summary`), serialised with serde, so the file and its
//! readers share one definition. Each entry carries its HdrHistogram (V2, deflated, base64:
//! HdrHistogram's own log encoding), so results of several generator processes merge exactly;
//! the encoding lives here, beside the file it is written into.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};

use super::Results;
pub use crate::summary::SCHEMA_VERSION;
use crate::summary::Summary;

pub fn render(r: &Results) -> anyhow::Result<String> {
    Summary::from_results(r).to_json_pretty()
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
