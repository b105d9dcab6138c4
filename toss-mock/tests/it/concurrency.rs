//! Many payers at once over real HTTP: every distinct session confirms, one session confirms once.

use futures::future::join_all;

use crate::app::{Config, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_confirms_of_different_sessions_all_succeed() {
    let server = TestServer::start(Config::default()).await;
    let sessions = join_all((0..500).map(|i| {
        let server = &server;
        async move {
            let order = format!("order-many-{i:04}");
            let key = server.session(&order, 1000 + i).await;
            (order, key, 1000 + i)
        }
    }))
    .await;
    let statuses = join_all(sessions.iter().map(|(order, key, amount)| {
        let request = server.confirm(key, order, *amount);
        async move { request.send().await.map(|r| r.status().as_u16()) }
    }))
    .await;
    let ok = statuses.iter().filter(|s| matches!(s, Ok(200))).count();
    assert_eq!(
        ok,
        500,
        "{:?}",
        statuses
            .iter()
            .filter(|s| !matches!(s, Ok(200)))
            .collect::<Vec<_>>()
    );
    let (_, stats) = server.get_json("/__mock/stats").await;
    assert_eq!(stats["payments"]["DONE"], 500);
    assert_eq!(stats["approved"]["count"], 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_confirms_of_one_session_succeed_exactly_once() {
    let server = TestServer::start(Config::default()).await;
    let key = server.session("order-race-1", 5000).await;
    let answers = join_all((0..50).map(|_| {
        let request = server.confirm(&key, "order-race-1", 5000);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body["code"].as_str().unwrap_or("").to_string())
        }
    }))
    .await;
    let done = answers.iter().filter(|(s, _)| *s == 200).count();
    let already = answers
        .iter()
        .filter(|(s, c)| *s == 400 && c == "ALREADY_PROCESSED_PAYMENT")
        .count();
    assert_eq!((done, already), (1, 49), "{answers:?}");
    let (_, stats) = server.get_json("/__mock/stats").await;
    assert_eq!(
        stats["approved"],
        serde_json::json!({"count": 1, "amount": 5000})
    );
}
