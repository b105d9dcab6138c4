//! Locust's master/worker messages on the wire: each one msgpack array `[type, data, node_id]`
//! (`locust/rpc/protocol.py`), data being whatever the type carries. The master's listener dies
//! for good on a missing key, so the payloads here have every key Locust's own worker sends, with
//! its types: integer map keys for the buckets and the per-second counts, floats for times, nil
//! where Python has None.

use std::collections::BTreeMap;

use rmpv::Value;
use sha2::{Digest as _, Sha256};

use crate::stats::deltas::{DeltaEntry, LocustReport};

/// One message, either way.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: String,
    pub data: Value,
    pub node_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("not msgpack: {0}")]
    Decode(#[from] rmpv::decode::Error),
    #[error("not a Locust message (an array [type, data, node_id]): {0}")]
    Shape(String),
    #[error("a {kind} message without {field}")]
    Field {
        kind: &'static str,
        field: &'static str,
    },
}

impl Message {
    pub fn new(kind: &str, data: Value, node_id: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            data,
            node_id: node_id.to_owned(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let value = Value::Array(vec![
            Value::from(self.kind.as_str()),
            self.data.clone(),
            Value::from(self.node_id.as_str()),
        ]);
        let mut bytes = Vec::with_capacity(64);
        // Writing into a Vec cannot fail.
        let _ = rmpv::encode::write_value(&mut bytes, &value);
        bytes
    }

    pub fn decode(mut bytes: &[u8]) -> Result<Self, ProtocolError> {
        let value = rmpv::decode::read_value(&mut bytes)?;
        let Value::Array(parts) = value else {
            return Err(ProtocolError::Shape(value.to_string()));
        };
        match <[Value; 3]>::try_from(parts) {
            Ok([Value::String(kind), data, node_id]) => Ok(Self {
                kind: kind.into_str().unwrap_or_default(),
                data,
                node_id: node_id.as_str().unwrap_or_default().to_owned(),
            }),
            Ok(other) => Err(ProtocolError::Shape(
                Value::Array(other.to_vec()).to_string(),
            )),
            Err(parts) => Err(ProtocolError::Shape(Value::Array(parts).to_string())),
        }
    }
}

/// A master's `spawn`: how many users of each of its user classes this worker should run now.
#[derive(Debug, Clone, PartialEq)]
pub struct Spawn {
    pub timestamp: f64,
    /// The master's user class names and this worker's absolute count of each.
    pub user_classes_count: Vec<(String, u64)>,
    /// The master's --host, when it has one.
    pub host: Option<String>,
    /// The master's --expect-workers: how many workers share the load.
    pub expect_workers: Option<u64>,
}

impl Spawn {
    pub fn parse(data: &Value) -> Result<Self, ProtocolError> {
        let missing = |field| ProtocolError::Field {
            kind: "spawn",
            field,
        };
        let timestamp = get(data, "timestamp")
            .and_then(Value::as_f64)
            .or_else(|| {
                get(data, "timestamp")
                    .and_then(Value::as_i64)
                    .map(|t| t as f64)
            })
            .ok_or_else(|| missing("timestamp"))?;
        let counts = get(data, "user_classes_count")
            .and_then(Value::as_map)
            .ok_or_else(|| missing("user_classes_count"))?;
        let user_classes_count = counts
            .iter()
            .map(|(k, v)| {
                Some((
                    k.as_str()?.to_owned(),
                    v.as_u64().or_else(|| v.as_f64().map(|f| f as u64))?,
                ))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| missing("user_classes_count as {class: count}"))?;
        let host = get(data, "host")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
            .map(str::to_owned);
        let expect_workers = get(data, "parsed_options")
            .and_then(|o| get(o, "expect_workers"))
            .and_then(Value::as_u64);
        Ok(Self {
            timestamp,
            user_classes_count,
            host,
            expect_workers,
        })
    }

    pub fn users(&self) -> u64 {
        self.user_classes_count.iter().map(|(_, n)| n).sum()
    }
}

/// The value under `key` of a msgpack map.
pub fn get<'a>(data: &'a Value, key: &str) -> Option<&'a Value> {
    data.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

fn opt_f64(v: Option<f64>) -> Value {
    v.map_or(Value::Nil, Value::from)
}

fn int_keyed<K: Copy + Into<i64>>(counts: &BTreeMap<K, u64>) -> Value {
    Value::Map(
        counts
            .iter()
            .map(|(k, n)| (Value::from((*k).into()), Value::from(*n)))
            .collect(),
    )
}

/// Locust's `StatsEntryDict`: exactly its 14 keys.
fn entry(name: &str, method: &str, e: &DeltaEntry) -> Value {
    let buckets: BTreeMap<i64, u64> = e
        .response_times
        .iter()
        .map(|(k, n)| (i64::try_from(*k).unwrap_or(i64::MAX), *n))
        .collect();
    map(vec![
        ("name", Value::from(name)),
        ("method", Value::from(method)),
        ("last_request_timestamp", opt_f64(e.last_request_timestamp)),
        ("start_time", Value::from(e.start_time)),
        ("num_requests", Value::from(e.num_requests)),
        ("num_none_requests", Value::from(0u64)),
        ("num_failures", Value::from(e.num_failures)),
        ("total_response_time", Value::from(e.total_response_time)),
        ("max_response_time", Value::from(e.max_response_time)),
        ("min_response_time", opt_f64(e.min_response_time)),
        ("total_content_length", Value::from(e.total_content_length)),
        ("response_times", int_keyed(&buckets)),
        ("num_reqs_per_sec", int_keyed(&e.num_reqs_per_sec)),
        ("num_fail_per_sec", int_keyed(&e.num_fail_per_sec)),
    ])
}

/// Locust's key of an error: sha256 of "method.name.error" (as its `StatsError.create_key`,
/// which hashes Python's repr of the error; ours is already a message).
pub fn error_key(method: &str, name: &str, error: &str) -> String {
    let digest = Sha256::digest(format!("{method}.{name}.{error}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The user classes as the master named them, with this worker's counts.
pub fn classes(counts: &[(String, u64)]) -> Value {
    Value::Map(
        counts
            .iter()
            .map(|(k, n)| (Value::from(k.as_str()), Value::from(*n)))
            .collect(),
    )
}

/// The `stats` message's data: every row with something to add, the "Aggregated" row, the errors
/// (Locust's key `errors`), and the users (the master reads `user_classes_count` without a
/// default).
pub fn stats(report: &LocustReport, counts: &[(String, u64)]) -> Value {
    let rows = report
        .entries
        .iter()
        .map(|(method, name, e)| entry(name, method, e))
        .collect();
    let errors = report
        .errors
        .iter()
        .map(|e| {
            (
                Value::from(error_key(&e.method, &e.name, &e.error)),
                map(vec![
                    ("method", Value::from(e.method.as_str())),
                    ("name", Value::from(e.name.as_str())),
                    ("error", Value::from(e.error.as_str())),
                    ("occurrences", Value::from(e.occurrences)),
                    ("first_seen", Value::from(e.first_seen)),
                    ("last_seen", Value::from(e.last_seen)),
                ]),
            )
        })
        .collect();
    map(vec![
        ("stats", Value::Array(rows)),
        ("stats_total", entry("Aggregated", "", &report.total)),
        ("errors", Value::Map(errors)),
        ("user_classes_count", classes(counts)),
        (
            "user_count",
            Value::from(counts.iter().map(|(_, n)| n).sum::<u64>()),
        ),
    ])
}

/// The `heartbeat` message's data.
pub fn heartbeat(state: &str, cpu_percent: f64, memory_bytes: u64) -> Value {
    map(vec![
        ("state", Value::from(state)),
        ("current_cpu_usage", Value::from(cpu_percent)),
        ("current_memory_usage", Value::from(memory_bytes)),
    ])
}

/// The `spawning_complete` message's data.
pub fn spawning_complete(counts: &[(String, u64)]) -> Value {
    map(vec![
        ("user_classes_count", classes(counts)),
        (
            "user_count",
            Value::from(counts.iter().map(|(_, n)| n).sum::<u64>()),
        ),
    ])
}

/// The `exception` message's data: the scenario's error, with no Python traceback to give.
pub fn exception(message: &str) -> Value {
    map(vec![
        ("msg", Value::from(message)),
        ("traceback", Value::from("")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::deltas::LocustDeltas;
    use crate::stats::{Event, Outcome, Sample};

    #[test]
    fn a_message_goes_out_and_comes_back_the_same() {
        let m = Message::new("client_ready", Value::from(-1), "host_abc");
        assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        // The bytes Python's msgpack.dumps(("ack", {"index": 0}, "host_abc")) gives.
        let python = b"\x93\xa3ack\x81\xa5index\x00\xa8host_abc";
        let ack = Message::decode(python).unwrap();
        assert_eq!(ack.kind, "ack");
        assert_eq!(get(&ack.data, "index").and_then(Value::as_u64), Some(0));
        assert!(Message::decode(b"\x92\xa3ack\xc0").is_err());
        assert!(Message::decode(b"\xc1").is_err());
    }

    #[test]
    fn a_spawn_gives_the_absolute_counts_and_the_host() {
        let data = map(vec![
            ("timestamp", Value::from(1_765_000_000.5)),
            (
                "user_classes_count",
                map(vec![
                    ("ShopUser", Value::from(3)),
                    ("Admin", Value::from(1)),
                ]),
            ),
            ("host", Value::from("http://127.0.0.1:8000")),
            ("stop_timeout", Value::Nil),
            (
                "parsed_options",
                map(vec![("expect_workers", Value::from(2))]),
            ),
        ]);
        let spawn = Spawn::parse(&data).unwrap();
        assert_eq!(spawn.users(), 4);
        assert_eq!(spawn.host.as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(spawn.timestamp, 1_765_000_000.5);
        assert_eq!(spawn.expect_workers, Some(2));
        let bad = map(vec![("timestamp", Value::from(1.0))]);
        assert!(Spawn::parse(&bad).is_err());
    }

    #[test]
    fn a_stats_message_has_every_key_locust_reads_with_integer_keys() {
        let endpoints = vec![("GET".to_owned(), "/api/products/".to_owned())];
        let mut d = LocustDeltas::new(&endpoints, 1000.0);
        d.observe(
            &Event::Sample(Sample {
                endpoint: 0,
                raw_us: 12_300,
                lag_us: None,
                bytes: 5,
                outcome: Outcome::Failure("HTTPError('500 Server Error')".into()),
                status: Some(500),
                example: None,
            }),
            1000.5,
        );
        let data = stats(&d.take(1001.0), &[("ShopUser".into(), 2)]);
        for key in [
            "stats",
            "stats_total",
            "errors",
            "user_classes_count",
            "user_count",
        ] {
            assert!(get(&data, key).is_some(), "{key}");
        }
        let row = &get(&data, "stats").and_then(Value::as_array).unwrap()[0];
        assert_eq!(row.as_map().unwrap().len(), 14);
        let buckets = get(row, "response_times").unwrap().as_map().unwrap();
        assert_eq!(buckets[0], (Value::from(12), Value::from(1u64)));
        let per_second = get(row, "num_reqs_per_sec").unwrap().as_map().unwrap();
        assert_eq!(per_second[0].0, Value::from(1000));
        let total = get(&data, "stats_total").unwrap();
        assert_eq!(
            get(total, "name").and_then(Value::as_str),
            Some("Aggregated")
        );
        let errors = get(&data, "errors").unwrap().as_map().unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0.as_str().map(str::len), Some(64));
        assert_eq!(get(&data, "user_count").and_then(Value::as_u64), Some(2));
    }
}
