//! Redis (`--redis-url`), over one connection: each second `INFO` (memory, clients, commands and
//! keyspace hits), `XLEN` and `XINFO GROUPS` of the job stream (`--redis-stream`, the shop's
//! `shop:jobs` by default) for its backlog, `LLEN` of each Celery queue (`--celery-queue`: Celery's
//! Redis transport keeps a queue as a list of that name); at the start and the end `INFO commandstats`, whose
//! difference says which commands the shop ran during the run (a product-list cache that is
//! never read shows as no `GET`).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context as _;
use redis::AsyncCommands as _;
use redis::aio::MultiplexedConnection;
use serde::Serialize;

use super::{CONNECT_TIMEOUT, Monitor, Note};

#[derive(Debug, Clone, Serialize, PartialEq, serde::Deserialize, schemars::JsonSchema)]
pub struct Point {
    pub t: u64,
    pub used_memory: Option<u64>,
    pub connected_clients: Option<u64>,
    /// Commands per second (the server's `total_commands_processed`, the monitor's own 3 a
    /// second included).
    pub ops_per_s: Option<f64>,
    /// Key lookups that found / missed their key, per second.
    pub hits_per_s: Option<f64>,
    pub misses_per_s: Option<f64>,
    /// hits / (hits + misses) of this second; None without lookups.
    pub hit_ratio: Option<f64>,
    /// Entries in the job stream (the shop deletes done jobs: every entry is waiting or running).
    pub stream_length: Option<u64>,
    /// The consumer group's delivered-but-unacknowledged entries, and entries not yet delivered.
    pub pending: Option<u64>,
    pub lag: Option<u64>,
    /// Messages waiting in each Celery queue of [`Data::queues`], in its order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<Option<u64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Data {
    pub version: Option<String>,
    pub maxmemory: Option<u64>,
    pub stream: String,
    pub group: String,
    /// The Celery queues followed (Redis lists), `Point::queues`' order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<String>,
    pub points: Vec<Point>,
    /// Key lookups during the run, the monitor's own left out.
    pub hits: u64,
    pub misses: u64,
    /// Calls per command during the run (`get`, `setex`, `xadd`, ...), the monitor's own left out.
    pub commands: BTreeMap<String, u64>,
}

/// `INFO`'s `key:value` lines.
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `INFO commandstats` into calls per command: `cmdstat_get:calls=12,usec=...` is `get: 12`.
pub fn parse_commandstats(text: &str) -> BTreeMap<String, u64> {
    parse_info(text)
        .into_iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("cmdstat_")?.to_owned();
            let calls = v
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name, calls))
        })
        .collect()
}

fn number<T: std::str::FromStr>(info: &BTreeMap<String, String>, key: &str) -> Option<T> {
    info.get(key)?.trim().parse().ok()
}

/// Commands the monitor itself sends each sample, left out of the run's counts.
const OWN: [&str; 4] = ["info", "xlen", "xinfo", "xinfo|groups"];

pub struct Redis {
    connection: MultiplexedConnection,
    stream: String,
    group: String,
    queues: Vec<String>,
    /// LLENs the monitor sent, taken out of the run's command counts.
    own_llen: u64,
    version: Option<String>,
    maxmemory: Option<u64>,
    start_commands: BTreeMap<String, u64>,
    start_lookups: Option<(u64, u64)>,
    last_lookups: Option<(u64, u64)>,
    /// Lookups the monitor made itself (XLEN, XINFO): hits when the stream existed, else misses.
    own_hits: u64,
    own_misses: u64,
    last: Option<(f64, f64, f64, Instant)>,
    points: Vec<Point>,
    notes: Vec<Note>,
}

impl Redis {
    pub async fn connect(
        url: &str,
        stream: &str,
        group: &str,
        queues: &[String],
    ) -> anyhow::Result<Self> {
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            Self::connect_inner(url, stream, group, queues),
        )
        .await
        .map_err(|_| anyhow::anyhow!("Redis did not answer within {CONNECT_TIMEOUT:?}"))?
    }

    async fn connect_inner(
        url: &str,
        stream: &str,
        group: &str,
        queues: &[String],
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("--redis-url is not a Redis URL")?;
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .context("connecting to Redis")?;
        let info: String = redis::cmd("INFO")
            .query_async(&mut connection)
            .await
            .context("INFO")?;
        let info = parse_info(&info);
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut connection)
            .await
            .context("INFO commandstats")?;
        let lookups = number(&info, "keyspace_hits").zip(number(&info, "keyspace_misses"));
        Ok(Self {
            connection,
            stream: stream.to_owned(),
            group: group.to_owned(),
            queues: queues.to_vec(),
            own_llen: 0,
            version: info.get("redis_version").cloned(),
            maxmemory: number(&info, "maxmemory"),
            start_commands: parse_commandstats(&stats),
            start_lookups: lookups,
            last_lookups: lookups,
            own_hits: 0,
            own_misses: 0,
            last: None,
            points: Vec::new(),
            notes: Vec::new(),
        })
    }

    /// One sample (second `t`).
    pub async fn sample_now(&mut self, t: u64) {
        // The stream first, INFO last: the lookups XLEN and XINFO make are then inside the
        // keyspace counters this sample reads, and can be taken out of the run's.
        let stream_length: Option<u64> = self.connection.xlen(&self.stream).await.ok();
        let groups: Option<redis::streams::StreamInfoGroupsReply> =
            self.connection.xinfo_groups(&self.stream).await.ok();
        if stream_length.is_some_and(|n| n > 0) || groups.is_some() {
            self.own_hits += 2;
        } else {
            self.own_misses += 2;
        }
        let mut queues = Vec::with_capacity(self.queues.len());
        for queue in &self.queues {
            let waiting: Option<u64> = self.connection.llen(queue).await.ok();
            self.own_llen += 1;
            // Redis deletes an emptied list: a lookup of an empty queue is a miss.
            if waiting.is_some_and(|n| n > 0) {
                self.own_hits += 1;
            } else {
                self.own_misses += 1;
            }
            queues.push(waiting);
        }
        let info: String = match redis::cmd("INFO").query_async(&mut self.connection).await {
            Ok(i) => i,
            Err(e) => {
                tracing::debug!(error = %e, "Redis sample failed");
                return;
            }
        };
        let info = parse_info(&info);
        let now = Instant::now();
        let commands: Option<f64> = number(&info, "total_commands_processed");
        let hits: Option<f64> = number(&info, "keyspace_hits");
        let misses: Option<f64> = number(&info, "keyspace_misses");
        let (mut ops_per_s, mut hits_per_s, mut misses_per_s) = (None, None, None);
        if let (Some(c), Some(h), Some(m)) = (commands, hits, misses) {
            if let Some((c0, h0, m0, then)) = self.last {
                ops_per_s = super::rate(Some((c0, then)), c, now);
                hits_per_s = super::rate(Some((h0, then)), h, now);
                misses_per_s = super::rate(Some((m0, then)), m, now);
            }
            self.last = Some((c, h, m, now));
            self.last_lookups = Some((h as u64, m as u64));
        }
        let hit_ratio = match (hits_per_s, misses_per_s) {
            (Some(h), Some(m)) if h + m > 0.0 => Some(h / (h + m)),
            _ => None,
        };
        let group = groups
            .as_ref()
            .and_then(|g| g.groups.iter().find(|g| g.name == self.group));
        self.points.push(Point {
            t,
            used_memory: number(&info, "used_memory"),
            connected_clients: number(&info, "connected_clients"),
            ops_per_s,
            hits_per_s,
            misses_per_s,
            hit_ratio,
            stream_length,
            pending: group.map(|g| g.pending as u64),
            lag: group.and_then(|g| g.lag).map(|l| l as u64),
            queues,
        });
    }

    /// Key hits and misses since the start, the monitor's own left out.
    fn lookups(&self) -> (u64, u64) {
        match (self.start_lookups, self.last_lookups) {
            (Some((h0, m0)), Some((h1, m1))) => (
                h1.saturating_sub(h0).saturating_sub(self.own_hits),
                m1.saturating_sub(m0).saturating_sub(self.own_misses),
            ),
            _ => (0, 0),
        }
    }

    pub async fn finish_now(mut self) -> (Data, Vec<Note>) {
        let mut commands = BTreeMap::new();
        match redis::cmd("INFO")
            .arg("commandstats")
            .query_async::<String>(&mut self.connection)
            .await
        {
            Ok(text) => {
                for (name, calls) in parse_commandstats(&text) {
                    let mut ran =
                        calls.saturating_sub(self.start_commands.get(&name).copied().unwrap_or(0));
                    if name == "llen" {
                        ran = ran.saturating_sub(self.own_llen);
                    }
                    if ran > 0 && !OWN.contains(&name.as_str()) {
                        commands.insert(name, ran);
                    }
                }
            }
            Err(e) => self.notes.push(Note {
                monitor: "redis",
                message: format!("INFO commandstats at the end of the run: {e}"),
            }),
        }
        let (hits, misses) = self.lookups();
        (
            Data {
                version: self.version,
                maxmemory: self.maxmemory.filter(|m| *m > 0),
                stream: self.stream,
                group: self.group,
                queues: self.queues,
                points: self.points,
                hits,
                misses,
                commands,
            },
            self.notes,
        )
    }
}

impl Monitor for Redis {
    type Data = Data;

    /// The points and the lookups so far; the commands are counted once, at the end.
    fn so_far(&self) -> Data {
        let (hits, misses) = self.lookups();
        Data {
            version: self.version.clone(),
            maxmemory: self.maxmemory.filter(|m| *m > 0),
            stream: self.stream.clone(),
            group: self.group.clone(),
            queues: self.queues.clone(),
            points: self.points.clone(),
            hits,
            misses,
            commands: BTreeMap::new(),
        }
    }

    fn publish(data: Data, server: &mut super::Server) {
        server.redis = Some(data);
    }

    async fn sample(&mut self, t: u64) {
        self.sample_now(t).await;
    }

    async fn finish(self) -> (Data, Vec<Note>) {
        self.finish_now().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_and_commandstats_parse() {
        let info = parse_info(
            "# Memory\r\nused_memory:1024\r\nmaxmemory:0\r\n\r\n# Stats\r\nkeyspace_hits:7\r\n",
        );
        assert_eq!(number::<u64>(&info, "used_memory"), Some(1024));
        assert_eq!(number::<u64>(&info, "keyspace_hits"), Some(7));
        let stats = parse_commandstats(
            "# Commandstats\r\ncmdstat_get:calls=12,usec=30,usec_per_call=2.50,rejected_calls=0,failed_calls=0\r\ncmdstat_xinfo|groups:calls=3,usec=1\r\n",
        );
        assert_eq!(stats.get("get"), Some(&12));
        assert_eq!(stats.get("xinfo|groups"), Some(&3));
    }
}
