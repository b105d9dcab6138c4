//! Seeded chaos over real HTTP: repeatable outcomes, commit-then-drop, hangs, latency.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::app::{Config, TestServer};

fn chaos(settings: serde_json::Value) -> toss_mock::Chaos {
    serde_json::from_value(settings).unwrap()
}

/// The outcome of each of `n` sequential confirms on a fresh server: a status or `dropped`.
async fn outcomes(seed: u64, n: usize) -> Vec<String> {
    let server = TestServer::start(Config {
        seed,
        chaos: chaos(json!({"error_rate": 0.3, "commit_then_drop_rate": 0.2,
                             "timeout_rate": 0.1, "hang": "20ms"})),
        ..Config::default()
    })
    .await;
    let mut seen = Vec::new();
    for i in 0..n {
        let order = format!("order-seed-{i:03}");
        let key = server.session(&order, 1000).await;
        let outcome = match server.confirm(&key, &order, 1000).send().await {
            Ok(r) => r.status().as_str().to_string(),
            Err(_) => "dropped".to_string(),
        };
        seen.push(outcome);
    }
    seen
}

#[tokio::test]
async fn a_fixed_seed_gives_the_same_outcomes_on_every_run() {
    let first = outcomes(42, 40).await;
    let second = outcomes(42, 40).await;
    assert_eq!(first, second);
    for kind in ["200", "400", "dropped"] {
        assert!(first.iter().any(|o| o == kind), "no {kind} in {first:?}");
    }
    assert_ne!(first, outcomes(43, 40).await);
}

#[tokio::test]
async fn commit_then_drop_approves_and_loses_the_answer() {
    let server = TestServer::start(Config {
        chaos: chaos(json!({"commit_then_drop_rate": 1.0})),
        ..Config::default()
    })
    .await;
    let key = server.session("order-drop-1", 1000).await;
    let lost = server.confirm(&key, "order-drop-1", 1000).send().await;
    let error = lost.expect_err("the answer should have been dropped");
    assert!(
        error.is_request() || error.is_connect() || error.is_body(),
        "{error:?}"
    );
    // The shop's reconciliation finds the payment approved.
    let (status, payment) = server.get_json("/v1/payments/orders/order-drop-1").await;
    assert_eq!(status, 200);
    assert_eq!(payment["status"], "DONE");
    // A plain retry meets ALREADY_PROCESSED_PAYMENT (and is dropped too while chaos lasts).
    server
        .request(reqwest::Method::PUT, "/__mock/chaos")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let retry = server
        .confirm(&key, "order-drop-1", 1000)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 400);
    let body: serde_json::Value = retry.json().await.unwrap();
    assert_eq!(body["code"], "ALREADY_PROCESSED_PAYMENT");
    let (_, stats) = server.get_json("/__mock/stats").await;
    assert_eq!(
        stats["endpoints"]["POST /v1/payments/confirm"]["COMMIT_THEN_DROP"],
        1
    );
}

#[tokio::test]
async fn an_idempotent_retry_after_a_drop_gets_the_lost_answer() {
    let server = TestServer::start(Config {
        chaos: chaos(json!({"commit_then_drop_rate": 1.0})),
        ..Config::default()
    })
    .await;
    let key = server.session("order-drop-2", 1000).await;
    let confirm = || {
        server
            .confirm(&key, "order-drop-2", 1000)
            .header("idempotency-key", "confirm:order-drop-2")
    };
    assert!(confirm().send().await.is_err());
    server
        .request(reqwest::Method::PUT, "/__mock/chaos")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let replayed = confirm().send().await.unwrap();
    assert_eq!(replayed.status(), 200);
    let body: serde_json::Value = replayed.json().await.unwrap();
    assert_eq!(body["status"], "DONE");
}

#[tokio::test]
async fn a_timeout_hangs_then_drops_without_processing() {
    let server = TestServer::start(Config {
        chaos: chaos(json!({"timeout_rate": 1.0, "hang": "300ms"})),
        ..Config::default()
    })
    .await;
    let key = server.session("order-hang-1", 1000).await;
    let started = Instant::now();
    let hung = server
        .confirm(&key, "order-hang-1", 1000)
        .header("idempotency-key", "hang-1")
        .send()
        .await;
    assert!(hung.is_err());
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    let (_, payment) = server.get_json(&format!("/v1/payments/{key}")).await;
    assert_eq!(payment["status"], "IN_PROGRESS");
    server
        .request(reqwest::Method::PUT, "/__mock/chaos")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    // nothing was recorded under the key: the retry runs
    let retry = server
        .confirm(&key, "order-hang-1", 1000)
        .header("idempotency-key", "hang-1")
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 200);
}

#[tokio::test]
async fn latency_delays_every_confirm() {
    let server = TestServer::start(Config {
        chaos: chaos(json!({"latency": "fixed:150ms"})),
        ..Config::default()
    })
    .await;
    let key = server.session("order-latency-1", 1000).await;
    let started = Instant::now();
    let done = server
        .confirm(&key, "order-latency-1", 1000)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    // lookups are not delayed: they work while confirms suffer
    let started = Instant::now();
    server.get_json(&format!("/v1/payments/{key}")).await;
    assert!(started.elapsed() < Duration::from_millis(150));
}
