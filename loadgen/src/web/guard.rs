//! Who may use the UI: HTTP basic credentials when `--web-auth` is set (every route, as Locust's),
//! and no state-changing request from another site. A page elsewhere in the same browser can
//! send a form to 127.0.0.1:8089 (a "simple" cross-origin POST needs no preflight), so a POST,
//! and the GETs that steer a run (Locust's `/stop`, `/stats/reset`), are refused when the browser
//! says they come from another origin.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

/// `user:password` as `--web-auth` gives it.
#[derive(Clone)]
pub struct Credentials {
    expected: String,
}

impl Credentials {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok(Self {
                expected: base64::engine::general_purpose::STANDARD.encode(text),
            }),
            _ => anyhow::bail!("--web-auth {text:?}: write USER:PASSWORD"),
        }
    }

    fn admits(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .map(str::trim);
        // Equal length first, then every byte: the comparison takes the same time wherever the
        // first difference is.
        given.is_some_and(|g| {
            g.len() == self.expected.len()
                && g.bytes()
                    .zip(self.expected.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    }
}

/// Routes that change the run even though Locust serves them as GET.
const STEERING_GETS: [&str; 3] = ["/stop", "/stats/reset", "/quit"];

pub async fn guard(
    State(credentials): State<Option<Credentials>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(c) = &credentials
        && !c.admits(request.headers())
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"loadgen\"")],
            "the web UI needs the --web-auth credentials\n",
        )
            .into_response();
    }
    let steers = request.method() != Method::GET && request.method() != Method::HEAD
        || STEERING_GETS.contains(&request.uri().path());
    if steers && cross_site(request.headers()) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({
                "success": false,
                "message": "cross-origin request refused",
            })),
        )
            .into_response();
    }
    next.run(request).await
}

/// Whether the browser says the request comes from another site: `Sec-Fetch-Site` where it
/// sends it, else an `Origin` whose host:port is not the one the request was sent to. Tools
/// (curl, scripts written for Locust) send neither and are let through, as Locust lets them.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_authority = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    origin == "null" || !origin_authority.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn another_site_is_told_apart_from_this_one_and_from_tools() {
        assert!(!cross_site(&headers(&[])));
        assert!(!cross_site(&headers(&[
            ("origin", "http://127.0.0.1:8089"),
            ("host", "127.0.0.1:8089")
        ])));
        assert!(cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8089")
        ])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(cross_site(&headers(&[
            ("origin", "null"),
            ("host", "127.0.0.1:8089")
        ])));
    }

    #[test]
    fn credentials_are_checked_exactly() {
        let c = Credentials::parse("ann:secret").unwrap();
        let basic = |s: &str| {
            headers(&[(
                "authorization",
                &format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(s)
                ),
            )])
        };
        assert!(c.admits(&basic("ann:secret")));
        assert!(!c.admits(&basic("ann:secreT")));
        assert!(!c.admits(&headers(&[])));
        assert!(Credentials::parse("nocolon").is_err());
    }
}
