//! target-shop's one integration-test binary. It owns a real PostgreSQL + Redis stack for its whole
//! run (libtest-mimic harness: started before the first test, stopped after the last, so nothing is
//! left behind), migrates a template database once, and gives every test a fresh clone of it, a
//! Redis key prefix of its own and a shop on 127.0.0.1:0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod auth;
mod cart;
mod catalog;
mod degradation;
mod faults;
mod jobs;
mod openapi;
mod orders;
mod payments;
mod routing;
mod security;
mod seeded;
mod toss;

use std::process::ExitCode;
use std::sync::Arc;

use futures::future::BoxFuture;
use libtest_mimic::{Arguments, Failed, Trial};

use app::TestApp;

type Test = fn(TestApp) -> BoxFuture<'static, ()>;

macro_rules! tests {
    ($($module:ident :: $name:ident),* $(,)?) => {
        vec![$((concat!(stringify!($module), "::", stringify!($name)), (|app| Box::pin($module::$name(app))) as Test)),*]
    };
}

fn all() -> Vec<(&'static str, Test)> {
    tests![
        auth::login_returns_a_simplejwt_pair,
        auth::a_django_made_hash_logs_in,
        auth::wrong_unknown_and_inactive_logins_get_the_same_401,
        auth::login_validation_errors_are_drfs,
        auth::bad_bodies_get_drfs_answers,
        auth::refresh_and_verify,
        auth::refresh_and_verify_refuse_bad_tokens,
        auth::me_with_a_valid_token,
        auth::me_authentication_failures,
        auth::an_expired_access_token_is_refused,
        auth::a_deleted_user_is_not_found,
        auth::the_short_token_fault_shortens_access_tokens,
        cart::adding_items_and_reading_the_cart,
        cart::bad_cart_input_gets_drfs_answer_and_changes_nothing,
        cart::items_are_private_to_their_owner,
        cart::the_cart_405_fault_refuses_post_like_a_read_only_viewset,
        catalog::the_no_cache_fault_serves_every_page_from_the_database,
        catalog::the_list_is_paginated_like_drf,
        catalog::the_n_plus_one_fault_queries_per_product_with_the_same_answer,
        catalog::filters_and_ordering,
        catalog::anonymous_pages_are_cached_until_the_catalog_changes,
        catalog::a_page_read_before_a_change_is_never_served_after_it,
        catalog::detail_and_its_404s,
        catalog::public_views_still_refuse_a_bad_token,
        orders::reservations_answer_with_a_reservation_result,
        orders::an_order_reserves_the_whole_cart_and_empties_it,
        orders::an_order_is_all_or_nothing,
        orders::cancelling_gives_the_stock_back_once,
        orders::two_hundred_buyers_of_fifty_never_oversell,
        orders::the_no_lock_fault_oversells,
        orders::the_reservation_serializer_fault_is_a_500_that_changes_nothing,
        degradation::a_stopped_redis_fails_no_read_order_or_payment_and_loses_no_job,
        degradation::a_killed_redis_fails_no_read_or_payment_and_its_jobs_wait_for_a_new_one,
        degradation::a_job_sent_twice_runs_once,
        degradation::a_database_restart_fails_no_read_and_replaces_the_pool,
        faults::missing_index_drops_the_order_index_and_a_plain_start_restores_it,
        faults::missing_app_refuses_to_start_naming_the_app_and_the_fix,
        faults::single_worker_runs_one_job_at_a_time,
        faults::leak_keeps_memory_per_request,
        payments::a_confirm_pays_the_order_once,
        payments::concurrent_confirms_of_one_order_pay_once,
        payments::confirm_refuses_bad_input_and_orders_it_cannot_pay,
        payments::tosss_refusal_is_passed_through_and_the_order_stays_pending,
        payments::a_confirm_whose_answer_is_lost_still_pays_once,
        payments::a_payment_approved_while_the_shop_was_down_is_recorded_at_start_up,
        payments::a_payment_approved_while_the_database_restarts_is_recorded_once_it_is_back,
        payments::a_timed_out_confirm_answers_503_and_a_retry_pays,
        payments::money_taken_for_an_order_expired_meanwhile_is_refunded,
        payments::cancelling_a_payment_refunds_it_and_returns_the_stock,
        payments::a_paid_order_is_never_expired,
        jobs::a_payments_jobs_happen_once_even_when_a_worker_dies_mid_job,
        jobs::expired_reservations_give_their_stock_back,
        jobs::the_worker_runs_jobs_and_expires_reservations_on_its_own,
        jobs::the_inline_jobs_fault_does_the_jobs_inside_the_confirm,
        openapi::the_served_document_is_the_checked_in_one,
        openapi::a_nul_in_any_text_is_drfs_400_or_a_404_never_a_500,
        routing::token_views_answer_post_only,
        routing::authentication_comes_before_the_method_check,
        routing::a_missing_trailing_slash_is_redirected,
        routing::unknown_urls_get_djangos_html_404,
        routing::healthz_reports_both_stores,
        routing::metrics_count_requests_by_route_and_show_the_pool,
        routing::the_pool_fault_starves_requests_into_a_500,
        seeded::seeded_users_log_in_with_testpass123,
        security::crafted_tokens_get_simplejwts_token_is_invalid,
        security::expired_and_wrong_type_tokens_are_judged_in_simplejwts_order,
        security::another_users_objects_are_not_found_on_every_object_route,
        security::an_oversized_body_gets_drfs_answer_after_authentication,
        security::the_edge_serves_the_shop_with_its_header_deadline_and_h2c,
    ]
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    // The shop's logs (a 500's cause among them) go to the failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let world = if args.list {
        Err("listing only".to_string())
    } else {
        runtime.block_on(app::start_world())
    };
    let world = world.map(Arc::new);
    let trials = all()
        .into_iter()
        .map(|(name, test)| {
            let world = world.clone();
            let handle = runtime.handle().clone();
            Trial::test(name, move || {
                let world = world.map_err(|e| Failed::from(format!("no test stack: {e}")))?;
                handle.block_on(async {
                    let app = TestApp::spawn(&world).await;
                    let db_url = app.database_url.clone();
                    // A panicking test fails here; its database is kept to look at.
                    let outcome = tokio::spawn(test(app)).await;
                    match outcome {
                        Ok(()) => {
                            world.template.drop_database(&db_url).await.ok();
                            Ok(())
                        }
                        Err(e) => Err(Failed::from(panic_message(e))),
                    }
                })
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if let Ok(world) = world {
        runtime.block_on(world.stop());
    }
    conclusion.exit_code()
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "test panicked".into()),
        Err(e) => e.to_string(),
    }
}
