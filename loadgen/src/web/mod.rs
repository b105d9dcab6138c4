//! The web UI (`loadgen run` without `--headless`): Locust's page and HTTP API on
//! 127.0.0.1:8089, and beside them the server's side of the same seconds and the findings as they
//! fire. It reads the engine's once-a-second snapshot and the monitors' copies; the request path
//! gains nothing. The page's assets are compiled in (`assets/`): it works offline.
//!
//! `session` holds the state, `form` checks the start and edit forms, `locust` answers Locust's
//! routes, `api` ours, `guard` the credentials and the same-origin rule. The routes are in
//! `docs/web-ui.md`.

mod api;
mod assets;
mod form;
mod guard;
mod locust;
pub mod session;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};

pub use self::guard::Credentials;
use self::session::Session;
pub use self::session::Setup;

/// How the UI is served.
pub struct Options {
    pub credentials: Option<Credentials>,
    pub autostart: bool,
    /// Quit this long after a run ends.
    pub autoquit: Option<Duration>,
}

/// Where the UI listens: loopback, or anything with credentials.
pub fn address(host: &str, port: u16, credentials: bool) -> anyhow::Result<SocketAddr> {
    let ip: IpAddr = if host == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse()
            .with_context(|| format!("--web-host {host:?} is not an IP address"))?
    };
    if !ip.is_loopback() && !credentials {
        anyhow::bail!(
            "--web-host {host}: the UI starts and stops load; served beyond this machine it needs \
             --web-auth USER:PASSWORD"
        );
    }
    Ok(SocketAddr::new(ip, port))
}

pub fn router(session: Arc<Session>, credentials: Option<Credentials>) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/app.js", get(assets::script))
        .route("/assets/charts.js", get(assets::charts))
        .route("/assets/app.css", get(assets::style))
        .route("/swarm", post(locust::swarm))
        // GET as Locust before 2.4x, POST as Locust 2.47 (its scripts POST them).
        .route("/stop", get(locust::stop).post(locust::stop))
        .route("/stats/reset", get(locust::reset).post(locust::reset))
        .route("/stats/requests", get(locust::stats_requests))
        .route("/stats/requests/csv", get(locust::requests_csv))
        .route(
            "/stats/requests_full_history/csv",
            get(locust::full_history_csv),
        )
        .route("/stats/failures/csv", get(locust::failures_csv))
        .route("/exceptions/csv", get(locust::exceptions_csv))
        .route("/stats/report", get(locust::report))
        .route("/exceptions", get(locust::exceptions))
        .route("/tasks", get(locust::tasks))
        .route("/logs", get(locust::logs))
        .route("/api/ui", get(api::ui))
        .route("/api/history", get(api::history))
        .route("/api/findings", get(api::findings))
        .route("/api/summary.json", get(locust::summary_json))
        .route("/api/junit.xml", get(locust::junit_xml))
        .route("/api/new", post(api::new_test))
        .route("/quit", post(api::quit))
        .layer(axum::middleware::from_fn_with_state(
            credentials,
            guard::guard,
        ))
        .with_state(session)
}

/// Serves the UI on a bound listener until "Stop and quit", `--autoquit` or `shutdown`; a run
/// still going is stopped and its reports written first. Returns the last run's results (None
/// when no run started).
pub async fn serve(
    listener: tokio::net::TcpListener,
    setup: Setup,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<Arc<crate::report::Results>>> {
    let session = Session::new(setup);
    let app = router(Arc::clone(&session), options.credentials.clone());
    let quitting = {
        let session = Arc::clone(&session);
        async move {
            tokio::select! {
                () = session.quit.notified() => {}
                () = shutdown => session.log("Ctrl-C: quitting"),
                () = autoquit(&session, options.autoquit) => {}
            }
            finish_run(&session).await;
        }
    };
    if options.autostart {
        autostart(&session).await?;
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(quitting)
        .await
        .context("serving the web UI")?;
    Ok(session.run().and_then(|r| r.finished()))
}

/// `--autostart`: the command line's users, spawn rate and run time, as the form would send them.
async fn autostart(session: &Arc<Session>) -> anyhow::Result<()> {
    let setup = &session.setup;
    let fields: HashMap<String, String> = [
        ("user_count", setup.users.to_string()),
        ("spawn_rate", setup.spawn_rate.to_string()),
        (
            "run_time",
            setup
                .run_time
                .map(|t| t.as_secs().to_string())
                .unwrap_or_default(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let start = form::start(&fields, setup)
        .map_err(|e| anyhow::anyhow!("--autostart: {}", form::message(&e)))?;
    session.start(start).await;
    Ok(())
}

/// Resolves `after` a run has ended (never without --autoquit).
async fn autoquit(session: &Session, after: Option<Duration>) {
    let Some(after) = after else {
        return std::future::pending().await;
    };
    let mut ended = session.ended.subscribe();
    while ended.changed().await.is_ok() {
        tokio::time::sleep(after).await;
        if session.running().is_none() {
            session.log(format!(
                "--autoquit: quitting {}s after the run",
                after.as_secs()
            ));
            return;
        }
    }
    std::future::pending().await
}

/// Stops a run still going and waits for its reports.
async fn finish_run(session: &Session) {
    let Some(run) = session.running() else {
        return;
    };
    run.controller.stop();
    let mut ended = session.ended.subscribe();
    while !run.is_over() {
        if ended.changed().await.is_err() {
            break;
        }
    }
}
