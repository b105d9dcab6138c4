//! The faults applied to this command's own stack and children while loadgen runs, each undone
//! at its window's end, and every one still active undone at once when the load ends early
//! (Ctrl-C, loadgen gone): no server is left frozen, no child left dead.
//!
//! The stack does what is the stack's (`fixtures::stack`: SIGSTOP/SIGCONT or `docker pause`,
//! a PostgreSQL restart on its port and data); the mock and the shop are `launcher` services,
//! frozen the same way, or killed and started again on the same port so that loadgen, which keeps
//! its URL, finds them there.

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use fixtures::stack::{Server, Stack};
use launcher::Service;
use loadgen::report::faults::Applied;
use tokio::time::Instant;
use toss_mock::stats::StatsReport;

use super::spec::{Kind, Spec};
use crate::services::{self, ShopConfig};

/// How long the mock gets to finish confirms already decided before it is killed: an approval
/// whose answer has not reached the shop by then is in the killed mock's books but never in the
/// shop's (the restarted mock cannot answer its lookup). 200 ms lost two payments once in six runs
/// of the debug shop beside the other e2e lanes (answers took up to 876 ms there); new confirms
/// are refused meanwhile, so a longer drain costs only refusals inside the fault's own window.
const DRAIN_BEFORE_KILL: Duration = Duration::from_millis(1500);

/// The mock and the shop, and how to start each again on its own port.
pub struct Children<'a> {
    pub mock: Option<Service>,
    pub shop: Option<Service>,
    pub mock_binary: &'a Path,
    pub mock_flags: &'a [String],
    pub mock_url: &'a str,
    pub shop_binary: &'a Path,
    pub shop_config: &'a ShopConfig<'a>,
    pub shop_url: &'a str,
    pub log_dir: &'a Path,
    /// The books of mock processes killed on purpose (`/__mock/stats` read before each kill): the
    /// reconciliation adds them to the last one's, as the money they approved is still taken.
    pub earlier_books: Vec<StatsReport>,
    restarts: usize,
}

impl<'a> Children<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mock: Service,
        shop: Service,
        mock_binary: &'a Path,
        mock_flags: &'a [String],
        mock_url: &'a str,
        shop_binary: &'a Path,
        shop_config: &'a ShopConfig<'a>,
        shop_url: &'a str,
        log_dir: &'a Path,
    ) -> Self {
        Self {
            mock: Some(mock),
            shop: Some(shop),
            mock_binary,
            mock_flags,
            mock_url,
            shop_binary,
            shop_config,
            shop_url,
            log_dir,
            earlier_books: Vec::new(),
            restarts: 0,
        }
    }

    /// A log of its own for each restart: the killed process's log is evidence.
    fn restart_log(&mut self, name: &str) -> PathBuf {
        self.restarts += 1;
        self.log_dir
            .join(format!("{name}.restart-{}.log", self.restarts))
    }

    async fn start_mock(&mut self) -> anyhow::Result<()> {
        let log = self.restart_log("toss-mock");
        let running = services::toss_mock_at(
            self.mock_binary,
            &log,
            self.mock_flags,
            port(self.mock_url)?,
        )
        .await?;
        self.mock = Some(running.service);
        Ok(())
    }

    async fn start_shop(&mut self) -> anyhow::Result<()> {
        let log = self.restart_log("target-shop");
        let running = services::shop_at(
            self.shop_binary,
            &log,
            self.shop_config,
            port(self.shop_url)?,
        )
        .await?;
        self.shop = Some(running.service);
        Ok(())
    }

    /// Stops the mock from approving anything more, reads its books, then kills it.
    async fn kill_mock(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        // Every confirm refused from now on (a definite answer, never one in doubt), then a
        // moment for those already decided: what the books say is then all this process took.
        client
            .put(format!("{}/__mock/chaos", self.mock_url))
            .basic_auth("test_sk_shopload", Some(""))
            .json(&serde_json::json!({"error_rate": 1.0}))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .context("refusing confirms before the kill")?;
        tokio::time::sleep(DRAIN_BEFORE_KILL).await;
        let books = services::mock_stats(&client, self.mock_url)
            .await
            .context("before the kill")?;
        self.earlier_books.push(books);
        // Dropping a service SIGKILLs its group and reaps it.
        drop(self.mock.take());
        Ok(())
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        if let Some(shop) = self.shop {
            shop.stop().await.context("stopping target-shop")?;
        }
        if let Some(mock) = self.mock {
            mock.stop().await.context("stopping toss-mock")?;
        }
        Ok(())
    }
}

fn port(url: &str) -> anyhow::Result<u16> {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .with_context(|| format!("no port in {url}"))
}

/// One step of the schedule.
struct Step {
    at: Duration,
    index: usize,
    begin: bool,
}

/// A fault applied and not yet undone.
struct Active {
    index: usize,
    started_at: DateTime<Utc>,
    note: Option<String>,
}

/// Runs `load` (loadgen, started just now: offsets count from here) while the faults of `plan`
/// are applied and undone on schedule. Returns the load's result and each fault's actual window.
pub async fn during<F>(
    plan: &[Spec],
    stack: &mut Stack,
    children: &mut Children<'_>,
    ready_timeout: Duration,
    load: F,
) -> (anyhow::Result<u8>, Vec<Applied>)
where
    F: Future<Output = anyhow::Result<u8>>,
{
    let t0 = Instant::now();
    let mut steps: Vec<Step> = plan
        .iter()
        .enumerate()
        .flat_map(|(index, s)| {
            let begin = Step {
                at: s.at,
                index,
                begin: true,
            };
            let end = s.kind.has_length().then_some(Step {
                at: s.end(),
                index,
                begin: false,
            });
            std::iter::once(begin).chain(end)
        })
        .collect();
    steps.sort_by_key(|s| s.at);
    let mut steps: VecDeque<Step> = steps.into();
    let mut active: Vec<Active> = Vec::new();
    let mut applied: Vec<Applied> = Vec::new();
    tokio::pin!(load);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut listening = true;
    let result = loop {
        let next = steps.front().map(|s| t0 + s.at);
        tokio::select! {
            result = &mut load => break result,
            _ = tokio::time::sleep_until(next.unwrap_or(t0)), if next.is_some() => {
                let Some(step) = steps.pop_front() else { continue };
                let spec = &plan[step.index];
                if step.begin {
                    let started_at = Utc::now();
                    tracing::info!(fault = %spec.text, "fault applied");
                    let note = begin(spec, stack, children, ready_timeout).await.err();
                    if spec.kind.has_length() {
                        active.push(Active { index: step.index, started_at, note: note.map(|e| format!("{e:#}")) });
                    } else {
                        // One act: its window is the act itself (the restart, the kill and start).
                        applied.push(window(spec, started_at, note.map(|e| format!("{e:#}"))));
                    }
                } else if let Some(pos) = active.iter().position(|a| a.index == step.index) {
                    let a = active.remove(pos);
                    applied.push(end(&plan[a.index], a, stack, children).await);
                }
            }
            _ = &mut interrupted, if listening => {
                // Ctrl-C reaches loadgen too, which stops and reports: everything is put back
                // now, and nothing more is applied while it does.
                listening = false;
                steps.clear();
                for a in std::mem::take(&mut active) {
                    applied.push(end(&plan[a.index], a, stack, children).await);
                }
            }
        }
    };
    // The load ended (or failed) with faults still on: undone before anything else happens.
    for a in std::mem::take(&mut active) {
        applied.push(end(&plan[a.index], a, stack, children).await);
    }
    (result, applied)
}

fn window(spec: &Spec, started_at: DateTime<Utc>, note: Option<String>) -> Applied {
    Applied {
        spec: spec.text.clone(),
        kind: spec.kind.name().to_owned(),
        started_at,
        ended_at: Utc::now(),
        recovery_limit_s: spec.recovery_limit.as_secs_f64(),
        note,
    }
}

/// Undoes an active fault; the window ends when it is undone. A failure to undo is said loudly
/// and kept in the window's note (the report shows it).
async fn end(spec: &Spec, a: Active, stack: &Stack, children: &mut Children<'_>) -> Applied {
    let undone = match spec.kind {
        Kind::RedisStop => stack
            .resume(Server::Redis)
            .await
            .map_err(anyhow::Error::from),
        Kind::PostgresStall => stack
            .resume(Server::Postgres)
            .await
            .map_err(anyhow::Error::from),
        Kind::TossHang => match &children.mock {
            Some(mock) => mock.resume().map_err(anyhow::Error::from),
            None => Ok(()),
        },
        Kind::TossDown => children.start_mock().await,
        // One-act kinds are never active.
        Kind::PostgresRestart | Kind::ShopKill => Ok(()),
    };
    if let Err(e) = &undone {
        tracing::error!(fault = %spec.text, error = %format!("{e:#}"), "fault NOT undone");
    } else {
        tracing::info!(fault = %spec.text, "fault undone");
    }
    let note = match (a.note, undone) {
        (Some(n), _) => Some(n),
        (None, Err(e)) => Some(format!("not undone: {e:#}")),
        (None, Ok(())) => None,
    };
    window(spec, a.started_at, note)
}

async fn begin(
    spec: &Spec,
    stack: &mut Stack,
    children: &mut Children<'_>,
    ready_timeout: Duration,
) -> anyhow::Result<()> {
    match spec.kind {
        Kind::RedisStop => stack.pause(Server::Redis).await?,
        Kind::PostgresStall => stack.pause(Server::Postgres).await?,
        Kind::PostgresRestart => stack.restart_postgres(ready_timeout).await?,
        Kind::TossHang => {
            if let Some(mock) = &children.mock {
                mock.pause()?;
            }
        }
        Kind::TossDown => children.kill_mock().await?,
        Kind::ShopKill => {
            drop(children.shop.take());
            children.start_shop().await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_the_url() {
        assert_eq!(port("http://127.0.0.1:4123").unwrap(), 4123);
        assert!(port("http://127.0.0.1").is_err());
    }
}
