//! The health gate: a child is up when a real check answers, polled with a deadline, never after a
//! sleep. An HTTP server's check is `GET url` answering 2xx ([`crate::Launch::health`]); a server
//! spoken to otherwise (PostgreSQL's `SELECT 1`, Redis's `PING`) brings its own probe
//! ([`Service::ready`]). Either way a child that exits first fails the gate at once, reaped and
//! quoted from its log.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::time::Instant;

use crate::LaunchError;
use crate::error::error_tail;
use crate::service::Service;

/// One health request may not hang the poll: a server that accepts but never answers is retried.
const HEALTH_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
const HEALTH_POLL: Duration = Duration::from_millis(50);

/// Why a gate did not open.
enum Closed {
    Exited(ExitStatus),
    /// Still no answer at the deadline: the probe's last word.
    Silent(String),
    Error(LaunchError),
}

impl From<LaunchError> for Closed {
    fn from(e: LaunchError) -> Self {
        Self::Error(e)
    }
}

impl Service {
    /// Waits until `probe` succeeds, at most `deadline`. `what` names what it checks, for errors
    /// (a URL, with no password in it). A child that exits first is [`LaunchError::Exited`]
    /// (reaped); one still silent at the deadline is [`LaunchError::Unanswered`] and runs on
    /// until it is dropped.
    pub async fn ready<F, Fut, E>(
        &mut self,
        what: &str,
        deadline: Duration,
        mut probe: F,
    ) -> Result<(), LaunchError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let gate = self
            .gate(deadline, || {
                let attempt = probe();
                async move { attempt.await.map_err(|e| e.to_string()) }
            })
            .await;
        match gate {
            Ok(()) => Ok(()),
            Err(Closed::Exited(status)) => Err(self.exited(status, what)),
            Err(Closed::Silent(last)) => Err(LaunchError::Unanswered {
                name: self.name().to_owned(),
                what: what.into(),
                waited: deadline,
                last: last.into(),
                log: self.log().map(Into::into),
                tail: error_tail(self.log()).into(),
            }),
            Err(Closed::Error(e)) => Err(e),
        }
    }

    /// Waits until `GET url` answers 2xx, at most `deadline`.
    pub(crate) async fn healthy(
        &mut self,
        url: &str,
        deadline: Duration,
    ) -> Result<(), LaunchError> {
        let client = reqwest::Client::builder()
            .timeout(HEALTH_REQUEST_TIMEOUT)
            .build()
            .map_err(|e| LaunchError::Client(with_sources(&e)))?;
        let client = &client;
        let gate = self
            .gate(deadline, move || async move {
                match client.get(url).send().await {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => Err(format!("answered {}", response.status())),
                    Err(e) => Err(with_sources(&e)),
                }
            })
            .await;
        match gate {
            Ok(()) => Ok(()),
            Err(Closed::Exited(status)) => Err(self.exited(status, url)),
            Err(Closed::Silent(last)) => Err(LaunchError::NotReady {
                name: self.name().to_owned(),
                url: url.into(),
                waited: deadline,
                last: last.into(),
                log: self.log().map(Into::into),
                tail: error_tail(self.log()).into(),
            }),
            Err(Closed::Error(e)) => Err(e),
        }
    }

    async fn gate<F, Fut>(&mut self, deadline: Duration, mut probe: F) -> Result<(), Closed>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let started = Instant::now();
        loop {
            if self.has_exited()? {
                return Err(Closed::Exited(self.reap_exited()?));
            }
            let last = match probe().await {
                Ok(()) => return Ok(()),
                Err(last) => last,
            };
            if started.elapsed() >= deadline {
                return Err(Closed::Silent(last));
            }
            tokio::time::sleep(HEALTH_POLL).await;
        }
    }

    fn exited(&self, status: ExitStatus, what: &str) -> LaunchError {
        LaunchError::Exited {
            name: self.name().to_owned(),
            status,
            url: what.to_owned(),
            log: self.log().map(Into::into),
            tail: error_tail(self.log()),
        }
    }
}

/// An error with its causes: reqwest's own text ("error sending request") hides the reason.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
