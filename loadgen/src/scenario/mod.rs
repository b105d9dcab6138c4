//! Scenarios: what each simulated user does. A scenario is a TOML file (the built-in `shop`,
//! `payment` and `browse` are such files, embedded) compiled once into requests whose templates,
//! captures and checks are ready to run; every (method, name) gets an endpoint index, so the hot
//! path records stats by number.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use http::Method;
use http::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::template::{JsonTemplate, Template};

/// The scenarios built into the binary.
pub const BUILT_IN: [(&str, &str); 3] = [
    ("shop", include_str!("../../scenarios/shop.toml")),
    ("payment", include_str!("../../scenarios/payment.toml")),
    ("browse", include_str!("../../scenarios/browse.toml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    wait_time: Option<Spanned<String>>,
    #[serde(default)]
    vars: toml::Table,
    /// Headers every request of every user sends (a client's default headers): constants only.
    #[serde(default)]
    headers: HashMap<String, Spanned<String>>,
    #[serde(default)]
    auth: Option<AuthFile>,
    #[serde(default)]
    on_start: Vec<RequestFile>,
    #[serde(default)]
    task: Vec<TaskFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    login: RequestFile,
    #[serde(default)]
    refresh: Option<RequestFile>,
    /// The `Authorization` header every request carries once logged in.
    header: Spanned<String>,
    /// The variable holding the access token: a JWT whose `exp` says when to refresh.
    #[serde(default = "default_token_var")]
    token: String,
    /// Refresh when less than this is left of the token's life.
    #[serde(default)]
    refresh_before: Option<Spanned<String>>,
}

fn default_token_var() -> String {
    "access".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "one")]
    weight: u32,
    #[serde(default)]
    tags: Vec<String>,
    request: Vec<RequestFile>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFile {
    #[serde(default = "get")]
    method: String,
    path: Spanned<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    headers: HashMap<String, Spanned<String>>,
    #[serde(default)]
    json: Option<toml::Value>,
    #[serde(default)]
    body: Option<Spanned<String>>,
    #[serde(default)]
    capture: HashMap<String, Spanned<String>>,
    #[serde(default)]
    expect: Vec<u16>,
    #[serde(default)]
    handled: Vec<u16>,
    #[serde(default)]
    check: HashMap<String, toml::Value>,
    /// Send the scenario's `[auth]` header (default true once logged in).
    #[serde(default = "yes")]
    auth: bool,
}

fn get() -> String {
    "GET".into()
}

fn yes() -> bool {
    true
}

/// How long a user waits after each task (Locust's `wait_time`).
#[derive(Debug, Clone, PartialEq)]
pub enum WaitTime {
    Constant(Duration),
    Between(Duration, Duration),
    /// Start tasks this far apart (Locust's `constant_pacing`).
    Pacing(Duration),
}

impl WaitTime {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let duration = |w: &str| {
            humantime::parse_duration(w).with_context(|| format!("{w:?} is not a duration"))
        };
        Ok(match words.as_slice() {
            ["between", a, b] => {
                let (a, b) = (duration(a)?, duration(b)?);
                if a > b {
                    bail!("between {a:?} and {b:?}: the first must not be greater");
                }
                Self::Between(a, b)
            }
            ["constant", a] => Self::Constant(duration(a)?),
            ["pacing", a] => Self::Pacing(duration(a)?),
            [a] => Self::Constant(duration(a)?),
            _ => bail!(
                "{s:?} is not a wait time (\"between 1s 3s\", \"constant 1s\", \"pacing 2s\" or \"0s\")"
            ),
        })
    }
}

/// Where a capture reads: a JSON pointer, or a pointer with one `*` that collects a list
/// (`/results/*/id`: every product id of a page).
#[derive(Debug, Clone)]
pub enum Pointer {
    One(String),
    Each { list: String, then: String },
}

impl Pointer {
    fn parse(s: &str) -> anyhow::Result<Self> {
        if !s.is_empty() && !s.starts_with('/') {
            bail!("{s:?} is not a JSON pointer (it must start with '/', e.g. \"/access\")");
        }
        match s.split_once("/*") {
            None => Ok(Self::One(s.to_owned())),
            Some((list, then)) => {
                if then.contains("/*") {
                    bail!("{s:?}: only one '*' is allowed");
                }
                if !then.is_empty() && !then.starts_with('/') {
                    bail!("{s:?}: '*' must be a whole segment");
                }
                Ok(Self::Each {
                    list: list.to_owned(),
                    then: then.to_owned(),
                })
            }
        }
    }

    pub fn read(&self, body: &Value) -> Option<Value> {
        match self {
            Self::One(p) => body.pointer(p).cloned(),
            Self::Each { list, then } => {
                let items = body.pointer(list)?.as_array()?;
                items
                    .iter()
                    .map(|item| item.pointer(then).cloned())
                    .collect::<Option<Vec<_>>>()
                    .map(Value::Array)
            }
        }
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(JsonTemplate),
    Raw(Template),
}

/// One request, ready to render.
#[derive(Debug, Clone)]
pub struct Request {
    pub endpoint: usize,
    pub method: Method,
    pub url: Template,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Body,
    pub captures: Vec<(String, Pointer)>,
    /// Statuses that count as success; empty means any status below 400, as Locust does.
    pub expect: Vec<u16>,
    /// Statuses counted as handled business errors when the body is valid JSON.
    pub handled: Vec<u16>,
    pub checks: Vec<(String, Value)>,
    /// What the captures and checks read of a JSON answer: the body is parsed that far.
    pub needs: Needs,
    pub with_auth: bool,
}

impl Request {
    pub fn is_success(&self, status: u16) -> bool {
        if self.expect.is_empty() {
            status < 400
        } else {
            self.expect.contains(&status)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub name: String,
    pub weight: u32,
    pub tags: Vec<String>,
    pub requests: Vec<Request>,
}

#[derive(Debug, Clone)]
pub struct Auth {
    pub login: Request,
    pub refresh: Option<Request>,
    pub header: Template,
    pub token: String,
    pub refresh_before: Option<Duration>,
}

/// A compiled scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub wait_time: WaitTime,
    pub vars: HashMap<String, Value>,
    pub auth: Option<Auth>,
    pub on_start: Vec<Request>,
    pub tasks: Vec<Task>,
    /// (method, name) of every endpoint, indexed by `Request::endpoint`.
    pub endpoints: Vec<(String, String)>,
}

/// The built-in scenarios' names and descriptions (`loadgen scenarios`, the web UI's form).
pub fn built_ins() -> Vec<(&'static str, String)> {
    BUILT_IN
        .iter()
        .map(|(name, source)| {
            let description = Scenario::parse(name, source, name)
                .ok()
                .and_then(|s| s.description)
                .unwrap_or_default();
            (*name, description)
        })
        .collect()
}

impl Scenario {
    /// Its tasks' names and weights (the web UI's Current ratio).
    pub fn task_weights(&self) -> Vec<(String, f64)> {
        self.tasks
            .iter()
            .map(|t| (t.name.clone(), f64::from(t.weight)))
            .collect()
    }

    /// A built-in name (`shop`, `payment`, `browse`) or a path to a scenario file.
    pub fn load(name_or_path: &str) -> anyhow::Result<Self> {
        if let Some((name, source)) = BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::parse(name, source, &format!("built-in scenario {name}"));
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
            bail!(
                "scenario {name_or_path:?} is neither a built-in ({}) nor a file",
                names.join(", ")
            );
        }
        let source =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_stem()
            .map_or_else(|| name_or_path.to_owned(), |s| s.to_string_lossy().into());
        Self::parse(&name, &source, &path.display().to_string())
    }

    /// Compiles a scenario's TOML; `origin` names the file in errors.
    pub fn parse(name: &str, source: &str, origin: &str) -> anyhow::Result<Self> {
        let file: ScenarioFile = toml::from_str(source)
            .map_err(|e| anyhow::anyhow!("{origin}: {}", e.to_string().trim_end()))?;
        Compiler {
            source,
            origin,
            endpoints: Vec::new(),
        }
        .scenario(name, file)
    }

    /// Keeps only the tasks tagged with one of `tags` (when given) and none of `exclude`.
    pub fn filter_tags(&mut self, tags: &[String], exclude: &[String]) -> anyhow::Result<()> {
        self.tasks.retain(|t| {
            (tags.is_empty() || t.tags.iter().any(|g| tags.contains(g)))
                && !t.tags.iter().any(|g| exclude.contains(g))
        });
        if self.tasks.is_empty() {
            bail!(
                "no task of scenario {} is left after --tags/--exclude-tags",
                self.name
            );
        }
        Ok(())
    }
}

struct Compiler<'a> {
    source: &'a str,
    origin: &'a str,
    endpoints: Vec<(String, String)>,
}

impl Compiler<'_> {
    /// "FILE:LINE: KEY: reason": where a value of the file is wrong.
    fn at<T>(
        &self,
        spanned: &Spanned<T>,
        key: &str,
        reason: impl std::fmt::Display,
    ) -> anyhow::Error {
        let line = self.source[..spanned.span().start.min(self.source.len())]
            .matches('\n')
            .count()
            + 1;
        anyhow::anyhow!("{}:{line}: {key}: {reason}", self.origin)
    }

    fn scenario(mut self, name: &str, file: ScenarioFile) -> anyhow::Result<Scenario> {
        let wait_time = match &file.wait_time {
            None => WaitTime::Constant(Duration::ZERO),
            Some(w) => WaitTime::parse(w.get_ref()).map_err(|e| self.at(w, "wait_time", e))?,
        };
        let shared = self.shared_headers(&file)?;
        let vars = file
            .vars
            .into_iter()
            .map(|(k, v)| Ok((k, serde_json::to_value(v)?)))
            .collect::<anyhow::Result<_>>()?;
        let auth = match file.auth {
            None => None,
            Some(a) => Some(Auth {
                login: self.request(a.login, "auth.login")?,
                refresh: a
                    .refresh
                    .map(|r| self.request(r, "auth.refresh"))
                    .transpose()?,
                header: Template::parse(a.header.get_ref())
                    .map_err(|e| self.at(&a.header, "auth.header", e))?,
                token: a.token,
                refresh_before: a
                    .refresh_before
                    .map(|r| {
                        humantime::parse_duration(r.get_ref())
                            .map_err(|e| self.at(&r, "auth.refresh_before", e))
                    })
                    .transpose()?,
            }),
        };
        let on_start = file
            .on_start
            .into_iter()
            .enumerate()
            .map(|(i, r)| self.request(r, &format!("on_start[{i}]")))
            .collect::<anyhow::Result<_>>()?;
        if file.task.is_empty() {
            bail!("{}: a scenario needs at least one [[task]]", self.origin);
        }
        let mut tasks = Vec::new();
        for (i, t) in file.task.into_iter().enumerate() {
            if t.weight == 0 {
                bail!("{}: task[{i}].weight: must be at least 1", self.origin);
            }
            if t.request.is_empty() {
                bail!(
                    "{}: task[{i}]: a task needs at least one [[task.request]]",
                    self.origin
                );
            }
            let requests = t
                .request
                .into_iter()
                .enumerate()
                .map(|(j, r)| self.request(r, &format!("task[{i}].request[{j}]")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            tasks.push(Task {
                name: t.name.unwrap_or_else(|| {
                    let (method, name) = &self.endpoints[requests[0].endpoint];
                    format!("{method} {name}")
                }),
                weight: t.weight,
                tags: t.tags,
                requests,
            });
        }
        let mut scenario = Scenario {
            name: name.to_owned(),
            description: file.description,
            wait_time,
            vars,
            auth,
            on_start,
            tasks,
            endpoints: self.endpoints,
        };
        scenario.add_shared_headers(&shared);
        Ok(scenario)
    }

    fn request(&mut self, r: RequestFile, key: &str) -> anyhow::Result<Request> {
        let method =
            Method::from_bytes(r.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
                anyhow::anyhow!(
                    "{}: {key}.method: {:?} is not an HTTP method",
                    self.origin,
                    r.method
                )
            })?;
        let url = Template::parse(r.path.get_ref())
            .map_err(|e| self.at(&r.path, &format!("{key}.path"), e))?;
        if !(url.source().starts_with('/')
            || url.source().starts_with("http://")
            || url.source().starts_with('{'))
        {
            return Err(self.at(
                &r.path,
                &format!("{key}.path"),
                "must start with '/' (or be a whole http:// URL)",
            ));
        }
        let name = r.name.unwrap_or_else(|| url.display_name());
        let endpoint = match self
            .endpoints
            .iter()
            .position(|(m, n)| *m == method.as_str() && *n == name)
        {
            Some(i) => i,
            None => {
                self.endpoints.push((method.to_string(), name));
                self.endpoints.len() - 1
            }
        };
        let mut headers = Vec::new();
        for (h, v) in &r.headers {
            let header = HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                self.at(
                    v,
                    &format!("{key}.headers"),
                    format!("{h:?} is not a header name"),
                )
            })?;
            let template = Template::parse(v.get_ref())
                .map_err(|e| self.at(v, &format!("{key}.headers.{h}"), e))?;
            if template.variables().next().is_none() && HeaderValue::from_str(v.get_ref()).is_err()
            {
                return Err(self.at(v, &format!("{key}.headers.{h}"), "not a valid header value"));
            }
            headers.push((header, template));
        }
        let body = match (r.json, r.body) {
            (Some(_), Some(b)) => {
                return Err(self.at(&b, &format!("{key}.body"), "give json or body, not both"));
            }
            (Some(json), None) => Body::Json(
                JsonTemplate::compile(&serde_json::to_value(json)?)
                    .map_err(|e| anyhow::anyhow!("{}: {key}.json: {e}", self.origin))?,
            ),
            (None, Some(b)) => Body::Raw(
                Template::parse(b.get_ref()).map_err(|e| self.at(&b, &format!("{key}.body"), e))?,
            ),
            (None, None) => Body::None,
        };
        let mut captures = Vec::new();
        for (var, pointer) in r.capture {
            let p = Pointer::parse(pointer.get_ref())
                .map_err(|e| self.at(&pointer, &format!("{key}.capture.{var}"), e))?;
            captures.push((var, p));
        }
        captures.sort_by(|a, b| a.0.cmp(&b.0));
        for status in r.expect.iter().chain(&r.handled) {
            if !(100..=599).contains(status) {
                bail!("{}: {key}: {status} is not an HTTP status", self.origin);
            }
        }
        let mut checks: Vec<(String, Value)> = r
            .check
            .into_iter()
            .map(|(p, v)| Ok((p, serde_json::to_value(v)?)))
            .collect::<anyhow::Result<_>>()?;
        checks.sort_by(|a, b| a.0.cmp(&b.0));
        let mut needs = Needs::default();
        for (_, p) in &captures {
            match p {
                Pointer::One(p) => needs.add_pointer(p, None),
                Pointer::Each { list, then } => needs.add_pointer(list, Some(then)),
            }
        }
        for (p, _) in &checks {
            needs.add_pointer(p, None);
        }
        Ok(Request {
            endpoint,
            method,
            url,
            headers,
            body,
            captures,
            expect: r.expect,
            handled: r.handled,
            checks,
            needs,
            with_auth: r.auth,
        })
    }
}

mod headers;
mod needs;
#[cfg(test)]
mod tests;

pub use needs::Needs;
