//! The page, compiled into the binary: no CDN, no JavaScript registry, nothing fetched at run time.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const CHARTS: &str = include_str!("assets/charts.js");
const STYLE: &str = include_str!("assets/app.css");

/// The page changes with the binary, never within one: a reload after an upgrade gets the new one.
const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-cache");

pub async fn index() -> impl IntoResponse {
    ([NO_STORE], Html(INDEX))
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            NO_STORE,
        ],
        SCRIPT,
    )
}

pub async fn charts() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            NO_STORE,
        ],
        CHARTS,
    )
}

pub async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), NO_STORE],
        STYLE,
    )
}
