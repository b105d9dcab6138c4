//! The scenario compiler's tests: built-in files, templates, captures, checks, tags and the
//! errors that name file, line and key.

use super::*;

#[test]
fn the_built_in_scenarios_compile() {
    for (name, _) in BUILT_IN {
        let s = Scenario::load(name).unwrap();
        assert!(!s.tasks.is_empty(), "{name}");
    }
    let shop = Scenario::load("shop").unwrap();
    let weights: Vec<u32> = shop.tasks.iter().map(|t| t.weight).collect();
    assert_eq!(
        weights,
        [5, 3, 2, 1, 1, 1],
        "the plan's mix, with the stock reservation"
    );
    assert_eq!(
        shop.wait_time,
        WaitTime::Between(Duration::from_secs(1), Duration::from_secs(3))
    );
}

#[test]
fn the_specs_example_compiles() {
    let s = Scenario::parse(
        "example",
        r#"
wait_time = "between 1s 3s"

[[on_start]]
method = "POST"
path = "/api/auth/login/"
json = { username = "load_test_user_{user_index}", password = "testpass123" }
capture = { token = "/access" }
expect = [200]

[[task]]
name = "product detail"
weight = 3
[[task.request]]
method = "GET"
path = "/api/products/{rand 1 100}/"
name = "/api/products/[id]/"
headers = { Authorization = "Bearer {token}" }
expect = [200]
"#,
        "example.toml",
    )
    .unwrap();
    assert_eq!(
        s.endpoints,
        [
            ("POST".to_owned(), "/api/auth/login/".to_owned()),
            ("GET".to_owned(), "/api/products/[id]/".to_owned())
        ]
    );
}

#[test]
fn errors_name_the_file_line_and_key() {
    let e = Scenario::parse(
        "bad",
        "[[task]]\nweight = 1\n[[task.request]]\npath = \"/x/{rand 9 1}/\"\n",
        "bad.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("bad.toml:4: task[0].request[0].path:"), "{e}");

    let e = Scenario::parse("bad", "[[task]]\nwieght = 1\n", "bad.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.toml") && e.contains("line 2") && e.contains("wieght"),
        "{e}"
    );

    let e = Scenario::parse(
        "bad",
        "wait_time = \"sometimes\"\n[[task]]\n[[task.request]]\npath=\"/\"\n",
        "w.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("w.toml:1: wait_time:"), "{e}");
}

#[test]
fn pointers_with_a_star_collect_a_list() {
    let body = serde_json::json!({"results": [{"id": 3}, {"id": 5}]});
    let p = Pointer::parse("/results/*/id").unwrap();
    assert_eq!(p.read(&body), Some(serde_json::json!([3, 5])));
    assert_eq!(
        Pointer::parse("/results/0/id").unwrap().read(&body),
        Some(3.into())
    );
    assert!(Pointer::parse("results").is_err());
}

const SHARED_TOKEN: &str = r#"
[vars]
lang = "ko-KR"

[headers]
Accept-Language = "{lang}"
Authorization = "Bearer {access}"

[[on_start]]
method = "POST"
path = "/api/auth/login/"
capture = { access = "/access" }

[[task]]
[[task.request]]
path = "/api/cart/"
"#;

#[test]
fn a_per_user_value_in_shared_headers_is_refused_with_the_per_request_form() {
    let error = Scenario::parse("shared", SHARED_TOKEN, "shared.toml")
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(
            "shared.toml:7: headers.Authorization: {access} is captured per user (by on_start[0])"
        ),
        "{error}"
    );
    assert!(
        error.contains(
            r#"`headers = { Authorization = "Bearer {access}" }` in the [[task.request]]"#
        ),
        "{error}"
    );
    let by_index = SHARED_TOKEN.replace("Bearer {access}", "user-{user_index}");
    let error = Scenario::parse("shared", &by_index, "shared.toml")
        .unwrap_err()
        .to_string();
    assert!(error.contains("{user_index} differs per user"), "{error}");
}

#[test]
fn constant_shared_headers_go_on_every_request_unless_it_sets_its_own() {
    let source = SHARED_TOKEN
        .replace("Authorization = \"Bearer {access}\"\n", "")
        .replace(
            "path = \"/api/cart/\"",
            "path = \"/api/cart/\"\nheaders = { Accept-Language = \"en\" }",
        );
    let s = Scenario::parse("shared", &source, "shared.toml").unwrap();
    let header = |r: &Request| {
        r.headers
            .iter()
            .find(|(n, _)| n == "accept-language")
            .map(|(_, t)| t.source().to_owned())
    };
    assert_eq!(header(&s.on_start[0]).as_deref(), Some("{lang}"));
    assert_eq!(header(&s.tasks[0].requests[0]).as_deref(), Some("en"));
}
