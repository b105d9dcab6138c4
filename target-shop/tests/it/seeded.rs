//! The seeder's users, at Django 5.2's 1,000,000 iterations, log in to the shop.

use crate::app::TestApp;

pub async fn seeded_users_log_in_with_testpass123(app: TestApp) {
    let pool = fixtures::seed::pool(&app.database_url).unwrap();
    let plan = fixtures::seed::SeedPlan {
        users: 3,
        products: 2,
        categories: 1,
        ..fixtures::seed::SeedPlan::default()
    };
    let summary = fixtures::seed::seed(&pool, &plan).await.unwrap();
    assert_eq!(summary.users, 3);
    let (_, access) = app.login("load_test_user_2", "testpass123").await;
    let me = app.get("/api/auth/me/", Some(&access)).await.json();
    assert_eq!(me["username"], "load_test_user_2");
    assert_eq!(me["email_verified"], true);
    let wrong = app
        .post_json(
            "/api/auth/login/",
            &serde_json::json!({"username": "load_test_user_2", "password": "testpass124"}),
        )
        .await;
    assert_eq!(wrong.status, 401);
}
