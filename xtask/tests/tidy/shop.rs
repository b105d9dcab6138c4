//! target-shop's invariants a reading of its sources holds: error responses are made in
//! `error.rs` alone, stock is written only in `orders`, and the stock invariant is a CHECK
//! constraint of the schema.

use std::path::PathBuf;

use super::rules::{code_lines, is_test_file};

/// The one place an `ApiError` becomes a response.
const ERROR_RS: &str = "target-shop/src/error.rs";

/// Status constants that are not errors: a response outside `error.rs` may carry these.
const NON_ERROR_STATUSES: [&str; 7] = [
    "OK",
    "CREATED",
    "ACCEPTED",
    "NO_CONTENT",
    "MOVED_PERMANENTLY",
    "FOUND",
    "NOT_MODIFIED",
];

/// The operations endpoints, which are not the shop's API and answer in their own formats:
/// `/healthz`'s 503 names the store that is down, `/metrics`' 500 is Prometheus' empty failure.
const OPERATIONS: [&str; 2] = ["target-shop/src/health.rs", "target-shop/src/telemetry.rs"];

/// What may come just before an error status outside `error.rs`: handing it to an `ApiError`
/// (which `error.rs` renders), or comparing with it.
const HANDED_TO_AN_ERROR: [&str; 5] = [
    "ApiError::coded(",
    "ApiError::Coded {",
    "ApiError::Shaped {",
    "== ",
    "!= ",
];

fn shop_sources() -> Vec<PathBuf> {
    super::sources(&super::root())
        .into_iter()
        .filter(|f| f.starts_with("target-shop/src") && !is_test_file(f))
        .collect()
}

/// The error statuses `line` names that are not handed to an `ApiError` or compared with;
/// `before` is the code line above it (a constructor's head when the status is its argument).
fn error_statuses_made(before: &str, line: &str) -> Vec<String> {
    let mut made = Vec::new();
    for (at, _) in line.match_indices("StatusCode::") {
        let name: String = line[at + "StatusCode::".len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if NON_ERROR_STATUSES.contains(&name.as_str()) {
            continue;
        }
        let head = format!("{} {}", before.trim(), line[..at].trim());
        let head = head.trim_end().trim_end_matches("status:").trim_end();
        if !HANDED_TO_AN_ERROR
            .iter()
            .any(|h| head.ends_with(h.trim_end()))
        {
            made.push(name);
        }
    }
    made
}

#[test]
fn target_shop_makes_error_responses_only_in_error_rs() {
    let root = super::root();
    let mut hits = Vec::new();
    for file in shop_sources() {
        let path = file.to_string_lossy();
        if path == ERROR_RS || OPERATIONS.contains(&path.as_ref()) {
            continue;
        }
        let lines = code_lines(&root, &file);
        for (i, (n, line)) in lines.iter().enumerate() {
            let before = i.checked_sub(1).map_or("", |b| lines[b].1.as_str());
            let made = error_statuses_made(before, line);
            if !made.is_empty() {
                hits.push(format!("{path}:{n}: {made:?}: {}", line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "return an ApiError (a new wire error is a variant in {ERROR_RS}, rendered by its one \
         IntoResponse) instead of making an error response here: {hits:#?}"
    );
}

#[test]
fn the_error_status_reader_tells_handing_over_from_making() {
    assert!(error_statuses_made("", "Ok(drf::json(StatusCode::CREATED, &body))").is_empty());
    assert!(
        error_statuses_made("    ApiError::coded(", "        StatusCode::CONFLICT,").is_empty()
    );
    assert!(
        error_statuses_made(
            "    ApiError::Coded {",
            "  status: StatusCode::BAD_REQUEST,"
        )
        .is_empty()
    );
    assert!(error_statuses_made("", "if e.status() == StatusCode::PAYLOAD_TOO_LARGE {").is_empty());
    assert_eq!(
        error_statuses_made("", "(StatusCode::NOT_FOUND, PAGE).into_response()"),
        ["NOT_FOUND"]
    );
    assert_eq!(
        error_statuses_made("", "drf::json(StatusCode::from_u16(400)?, &body)"),
        ["from_u16"]
    );
}

#[test]
fn stock_is_written_only_in_orders() {
    let root = super::root();
    let mut hits = Vec::new();
    for file in shop_sources() {
        if file.starts_with("target-shop/src/orders") {
            continue;
        }
        for (n, line) in code_lines(&root, &file) {
            let upper = line.to_uppercase();
            let writes = ["UPDATE ", "INSERT INTO ", "DELETE FROM "]
                .iter()
                .any(|w| upper.contains(&format!("{w}PRODUCTS_PRODUCTSTOCK")));
            if writes {
                hits.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "stock changes only in target-shop's orders module, under its row locks in product-id \
         order: call orders' functions instead: {hits:#?}"
    );
}

#[test]
fn the_stock_invariant_is_a_check_constraint() {
    let dir = super::root().join("target-shop/migrations");
    let mut migrations: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    migrations.sort();
    let schema: String = migrations
        .iter()
        .map(|m| std::fs::read_to_string(m).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let squeezed = schema.split_whitespace().collect::<Vec<_>>().join(" ");
    let constraint = "CONSTRAINT products_productstock_invariant CHECK ( reserved_stock >= 0 AND \
                      available_stock = physical_stock - reserved_stock AND available_stock >= 0 )";
    assert!(
        squeezed.contains(constraint),
        "target-shop/migrations must hold `{constraint}`: it is what makes an overselling bug \
         fail loudly"
    );
    assert!(
        !squeezed.contains("DROP CONSTRAINT products_productstock_invariant"),
        "a migration drops the stock invariant's CHECK constraint"
    );
}
