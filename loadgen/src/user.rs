//! One simulated user: its own connections, variables and seeded randomness; logs in once, keeps
//! its token fresh (refreshed before it expires, one re-login on a 401), runs tasks and reports
//! every request to the aggregator.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::uri::PathAndQuery;
use http::{HeaderMap, Uri};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::client::tls::Tls;
use crate::client::{Connections, Origin};
use crate::scenario::{Body, Request, Scenario, Task, WaitTime};
use crate::stats::{Event, Outcome, Sample, Sender};
use crate::template::Context;

/// What every user shares.
pub struct Shared {
    pub scenario: Scenario,
    pub host: Uri,
    /// The host's origin (the connection key, the Host header, TLS or not) and base path, once.
    origin: Origin,
    base_path: String,
    tls: Option<Tls>,
    /// The variables the Authorization header reads: a capture of one renders it anew.
    auth_vars: Vec<String>,
    pub request_timeout: Duration,
    pub seed: u64,
    /// The scenario's `[vars]` with `--var` applied.
    pub vars: HashMap<String, Value>,
    pub total_weight: u32,
}

impl Shared {
    pub fn new(
        scenario: Scenario,
        host: Uri,
        tls: Option<Tls>,
        request_timeout: Duration,
        seed: u64,
        overrides: &[(String, String)],
    ) -> Self {
        let mut vars = scenario.vars.clone();
        for (k, v) in overrides {
            // `--var n=5` stays a number, like the same value written in TOML.
            let value = serde_json::from_str::<Value>(v)
                .ok()
                .filter(|v| v.is_number() || v.is_boolean())
                .unwrap_or_else(|| Value::String(v.clone()));
            vars.insert(k.clone(), value);
        }
        let total_weight = scenario.tasks.iter().map(|t| t.weight).sum();
        let origin = Origin::of(&host).unwrap_or(Origin {
            authority: host.authority().map_or("", |a| a.as_str()).to_owned(),
            tls: false,
        });
        let base_path = host.path().trim_end_matches('/').to_owned();
        let auth_vars = scenario
            .auth
            .as_ref()
            .map(|a| a.header.variables().map(str::to_owned).collect())
            .unwrap_or_default();
        Self {
            scenario,
            origin,
            base_path,
            tls,
            auth_vars,
            host,
            request_timeout,
            seed,
            vars,
            total_weight,
        }
    }
}

/// A task or a request stopped early: the rest of the task depends on it.
struct Stop;

/// Where a request goes: the host's connection (`absolute` None) or another host's, and the
/// request target sent on it.
struct Target {
    absolute: Option<Origin>,
    path: PathAndQuery,
}

pub struct User {
    index: u64,
    shared: Arc<Shared>,
    vars: HashMap<String, Value>,
    rng: ChaCha8Rng,
    connections: Connections,
    events: Sender,
    iteration: u64,
    logged_in: bool,
    /// When the access token should be refreshed.
    refresh_at: Option<SystemTime>,
    last_task_start: Option<Instant>,
    /// The Authorization header as last rendered: rendered again only when its token changes.
    auth_header: Option<HeaderValue>,
}

impl User {
    pub fn new(index: u64, shared: Arc<Shared>, events: Sender) -> Self {
        Self {
            index,
            vars: shared.vars.clone(),
            rng: ChaCha8Rng::seed_from_u64(shared.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            connections: Connections::new(
                shared.tls.clone(),
                shared.tls.as_ref().is_some_and(|t| t.http2()),
            ),
            shared,
            events,
            iteration: 0,
            logged_in: false,
            refresh_at: None,
            last_task_start: None,
            auth_header: None,
        }
    }

    /// Logs in (when the scenario has `[auth]`) and runs `on_start`; false when that failed.
    pub async fn start(&mut self) -> bool {
        let shared = Arc::clone(&self.shared);
        if shared.scenario.auth.is_some() && self.login().await.is_err() {
            return false;
        }
        for request in &shared.scenario.on_start {
            if self.request(request, None).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Picks a task by weight.
    pub fn pick_task(&mut self) -> usize {
        let tasks = &self.shared.scenario.tasks;
        let mut roll = self.rng.random_range(0..self.shared.total_weight.max(1));
        for (i, t) in tasks.iter().enumerate() {
            if roll < t.weight {
                return i;
            }
            roll -= t.weight;
        }
        0
    }

    /// Runs one task; `lag` is how late it started (open model), added to each request's
    /// corrected latency. A user whose start failed retries it first.
    pub async fn run_task(&mut self, task: usize, lag: Option<Duration>, started: bool) {
        if matches!(self.shared.scenario.wait_time, WaitTime::Pacing(_)) {
            // Only pacing reads it: no clock read per task otherwise.
            self.last_task_start = Some(Instant::now());
        }
        if !started && !self.start().await {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let task: &Task = &shared.scenario.tasks[task];
        self.iteration += 1;
        let lag_us = lag.map(|l| l.as_micros() as u64);
        for request in &task.requests {
            if self.request(request, lag_us).await.is_err() {
                break;
            }
        }
    }

    /// How long to wait after a task, as the scenario's wait time says.
    pub fn wait_time(&mut self) -> Duration {
        match self.shared.scenario.wait_time {
            WaitTime::Constant(d) => d,
            WaitTime::Between(a, b) => {
                if a == b {
                    a
                } else {
                    Duration::from_secs_f64(self.rng.random_range(a.as_secs_f64()..b.as_secs_f64()))
                }
            }
            WaitTime::Pacing(d) => {
                let spent = self.last_task_start.map_or(Duration::ZERO, |s| s.elapsed());
                d.saturating_sub(spent)
            }
        }
    }

    /// One request of a task, with the token kept fresh and one re-login on a 401.
    async fn request(&mut self, request: &Request, lag_us: Option<u64>) -> Result<(), Stop> {
        let auth = request.with_auth && self.shared.scenario.auth.is_some();
        if auth {
            self.fresh_token().await?;
        }
        let status = self.send(request, lag_us, auth).await?;
        if status == 401 && auth {
            let _ = self.events.send(Event::Relogin);
            self.logged_in = false;
            self.login().await?;
            self.send(request, lag_us, auth).await?;
        }
        Ok(())
    }

    /// Sends one request and records it; returns its status, or Stop when the task cannot go on.
    async fn send(
        &mut self,
        request: &Request,
        lag_us: Option<u64>,
        auth: bool,
    ) -> Result<u16, Stop> {
        {
            let prepared = match self.prepare(request, auth) {
                Ok(p) => p,
                Err(message) => {
                    let _ = self.events.send(Event::Exception(message));
                    return Err(Stop);
                }
            };
            let (Target { absolute, path }, headers, body) = prepared;
            let started = Instant::now();
            let result = self
                .connections
                .send(
                    &request.method,
                    absolute.as_ref().unwrap_or(&self.shared.origin),
                    path,
                    headers,
                    body,
                    self.shared.request_timeout,
                )
                .await;
            let raw_us = started.elapsed().as_micros() as u64;
            let (outcome, bytes, status, example, handshake) = match result {
                Err(e) => (Outcome::Failure(e.to_string().into()), 0, None, None, None),
                Ok(response) => {
                    let bytes = response.body.len() as u64;
                    let outcome = self.judge(request, response.status, &response.body);
                    let example =
                        matches!(outcome, Outcome::Failure(_)).then(|| failure_example(&response));
                    let handshake = response.tls_handshake_us;
                    (outcome, bytes, Some(response.status), example, handshake)
                }
            };
            let ok = outcome == Outcome::Success;
            let _ = self.events.send(Event::Sample(Sample {
                endpoint: request.endpoint as u32,
                raw_us,
                lag_us,
                bytes,
                outcome,
                status,
                example,
            }));
            if let Some(us) = handshake {
                let endpoint = request.endpoint as u32;
                let _ = self.events.send(Event::TlsHandshake { endpoint, us });
            }
            match status {
                Some(401) if auth => Ok(401),
                Some(s) if ok => Ok(s),
                _ => Err(Stop),
            }
        }
    }

    fn prepare(
        &mut self,
        request: &Request,
        auth: bool,
    ) -> Result<(Target, HeaderMap, Option<Bytes>), String> {
        let shared: &Shared = &self.shared;
        let mut cx = Context {
            vars: &self.vars,
            user_index: self.index,
            iteration: self.iteration,
            rng: &mut self.rng,
        };
        let what =
            |e: &dyn std::fmt::Display| format!("{} {}: {e}", request.method, request.url.source());
        let rendered = request.url.render(&mut cx).map_err(|e| what(&e))?;
        let target = if rendered.starts_with('/') {
            let full = if shared.base_path.is_empty() {
                rendered
            } else {
                format!("{}{rendered}", shared.base_path)
            };
            Target {
                absolute: None,
                path: PathAndQuery::from_maybe_shared(Bytes::from(full)).map_err(|e| what(&e))?,
            }
        } else {
            let uri: Uri = rendered.parse().map_err(|e| what(&e))?;
            let (origin, path) =
                crate::client::target_of(&uri).ok_or_else(|| what(&"the URL has no host"))?;
            Target {
                absolute: Some(origin),
                path,
            }
        };
        // Sized to what goes in: a request with no headers allocates none.
        let mut headers = HeaderMap::with_capacity(
            request.headers.len()
                + usize::from(auth)
                + usize::from(matches!(request.body, Body::Json(_))),
        );
        if auth && let Some(a) = &shared.scenario.auth {
            let value = match &self.auth_header {
                Some(v) => v.clone(),
                None => {
                    let text = a.header.render(&mut cx).map_err(|e| what(&e))?;
                    let value = HeaderValue::from_str(&text).map_err(|e| what(&e))?;
                    self.auth_header = Some(value.clone());
                    value
                }
            };
            headers.insert(AUTHORIZATION, value);
        }
        for (name, template) in &request.headers {
            let value = template.render(&mut cx).map_err(|e| what(&e))?;
            headers.insert(
                name.clone(),
                HeaderValue::from_str(&value).map_err(|e| what(&e))?,
            );
        }
        let body = match &request.body {
            Body::None => None,
            Body::Json(t) => {
                let value = t.render(&mut cx).map_err(|e| what(&e))?;
                headers
                    .entry(CONTENT_TYPE)
                    .or_insert(HeaderValue::from_static("application/json"));
                Some(Bytes::from(
                    serde_json::to_vec(&value).map_err(|e| what(&e))?,
                ))
            }
            Body::Raw(t) => Some(Bytes::from(t.render(&mut cx).map_err(|e| what(&e))?)),
        };
        Ok((target, headers, body))
    }

    /// Success, handled business error, or failure (with Locust's wording); applies captures.
    fn judge(&mut self, request: &Request, status: u16, body: &[u8]) -> Outcome {
        let name = &self.shared.scenario.endpoints[request.endpoint].1;
        if !request.is_success(status) {
            if request.handled.contains(&status)
                && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
            {
                return Outcome::Handled;
            }
            return Outcome::Failure(
                http_error(status, name, request.handled.contains(&status)).into(),
            );
        }
        if request.captures.is_empty() && request.checks.is_empty() {
            return Outcome::Success;
        }
        let Ok(json) = request.needs.parse(body) else {
            return Outcome::Failure(
                format!("JSONDecodeError('the body of {status} is not JSON; captures and checks need JSON')").into(),
            );
        };
        for (pointer, expected) in &request.checks {
            let got = json.pointer(pointer);
            if got != Some(expected) {
                return Outcome::Failure(
                    format!(
                        "CatchResponseError('check {pointer}: expected {expected}, got {}')",
                        got.map_or_else(|| "nothing".to_owned(), Value::to_string)
                    )
                    .into(),
                );
            }
        }
        for (var, pointer) in &request.captures {
            match pointer.read(&json) {
                Some(value) => {
                    if *var == self.token_var() {
                        self.refresh_at = refresh_time(&value, self.refresh_before());
                    }
                    if self.shared.auth_vars.iter().any(|v| v == var) {
                        self.auth_header = None;
                    }
                    self.vars.insert(var.clone(), value);
                }
                None => {
                    return Outcome::Failure(
                        format!("CaptureError('{var}: {pointer:?} is not in the response')").into(),
                    );
                }
            }
        }
        Outcome::Success
    }

    fn token_var(&self) -> &str {
        self.shared
            .scenario
            .auth
            .as_ref()
            .map_or("", |a| a.token.as_str())
    }

    fn refresh_before(&self) -> Option<Duration> {
        self.shared
            .scenario
            .auth
            .as_ref()
            .and_then(|a| a.refresh_before)
    }

    async fn login(&mut self) -> Result<(), Stop> {
        let shared = Arc::clone(&self.shared);
        let Some(auth) = &shared.scenario.auth else {
            return Ok(());
        };
        self.logged_in = false;
        self.send(&auth.login, None, false).await?;
        self.logged_in = true;
        Ok(())
    }

    /// Refreshes the token when it is about to expire (or logs in when there is none).
    async fn fresh_token(&mut self) -> Result<(), Stop> {
        if !self.logged_in {
            return self.login().await;
        }
        let due = self.refresh_at.is_some_and(|at| SystemTime::now() >= at);
        if !due {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let refreshed = match shared
            .scenario
            .auth
            .as_ref()
            .and_then(|a| a.refresh.as_ref())
        {
            Some(refresh) => self.send(refresh, None, false).await.is_ok(),
            None => false,
        };
        if refreshed {
            Ok(())
        } else {
            self.login().await
        }
    }
}

/// When to refresh a JWT: `refresh_before` ahead of its `exp`, or a tenth of its life ahead.
fn refresh_time(token: &Value, refresh_before: Option<Duration>) -> Option<SystemTime> {
    let payload = token.as_str()?.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?,
    )
    .ok()?;
    let exp = claims.get("exp")?.as_u64()?;
    let margin = refresh_before.unwrap_or_else(|| {
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .unwrap_or(exp.saturating_sub(300));
        Duration::from_secs((exp.saturating_sub(iat) / 10).max(1))
    });
    Some(UNIX_EPOCH + Duration::from_secs(exp).saturating_sub(margin))
}

/// A failed answer as the server gave it, e.g.
/// `405 Method Not Allowed · Allow: GET, HEAD, OPTIONS · {"detail":"Method \"POST\" not allowed."}`.
fn failure_example(response: &crate::client::Response) -> Box<str> {
    const BODY_CHARS: usize = 300;
    let reason = http::StatusCode::from_u16(response.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut text = format!("{} {reason}", response.status);
    if let Some(headers) = &response.notable_headers {
        text.push_str(" · ");
        text.push_str(headers);
    }
    let body = String::from_utf8_lossy(&response.body);
    let body = body.trim();
    if !body.is_empty() {
        text.push_str(" · ");
        let mut chars = body.chars();
        text.extend(chars.by_ref().take(BODY_CHARS));
        if chars.next().is_some() {
            text.push('…');
        }
    }
    text.into()
}

/// Locust's (requests') wording of a bad status, so failures.csv reads the same.
fn http_error(status: u16, name: &str, unparsable_handled: bool) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let kind = if status >= 500 { "Server" } else { "Client" };
    let note = if unparsable_handled {
        " (body is not JSON)"
    } else {
        ""
    };
    format!("HTTPError('{status} {kind} Error: {reason} for url: {name}'){note}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_is_planned_before_expiry() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"token_type":"access","exp":1000300,"iat":1000000}"#);
        let token = Value::String(format!("h.{claims}.s"));
        assert_eq!(
            refresh_time(&token, None),
            Some(UNIX_EPOCH + Duration::from_secs(1000270))
        );
        assert_eq!(
            refresh_time(&token, Some(Duration::from_secs(60))),
            Some(UNIX_EPOCH + Duration::from_secs(1000240))
        );
        assert_eq!(refresh_time(&Value::from("opaque"), None), None);
    }

    #[test]
    fn failures_read_like_locusts() {
        assert_eq!(
            http_error(405, "/api/cart/items/", false),
            "HTTPError('405 Client Error: Method Not Allowed for url: /api/cart/items/')"
        );
        assert_eq!(
            http_error(500, "/x", false),
            "HTTPError('500 Server Error: Internal Server Error for url: /x')"
        );
    }
}
