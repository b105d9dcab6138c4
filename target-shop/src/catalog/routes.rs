//! `GET /api/products/` and `GET /api/products/{id}/`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::json;
use sqlx::{Postgres, QueryBuilder};

use super::{PRODUCT_COLUMNS, PRODUCT_JOINS, ProductRow, cache, pagination};
use crate::AppState;
use crate::auth::MaybeUser;
use crate::drf;
use crate::error::ApiError;

/// `?ordering=` values OrderingFilter accepts here; anything else falls back to the default.
const ORDERINGS: &[(&str, &str)] = &[
    ("price", "p.price, p.id"),
    ("-price", "p.price DESC, p.id"),
    ("created_at", "p.created_at, p.id"),
    ("-created_at", "p.created_at DESC, p.id"),
    ("id", "p.id"),
    ("-id", "p.id DESC"),
];

struct Filters {
    category: Option<i64>,
    search: Option<String>,
    order_by: &'static str,
}

/// `GET /api/products/`: DRF pagination, filters, the anonymous first pages from Redis.
#[utoipa::path(
    get,
    path = "/api/products/",
    tag = "catalog",
    operation_id = "product_list",
    params(("page" = Option<String>, Query, description = "a page number (1, 2, ...) or `last`"), ("category" = Option<String>, Query, description = "a category id; empty: no filter", pattern = r"^\s*([+-]?[0-9]+)?\s*$"), ("search" = Option<String>, Query, description = "in the name or the description"), ("ordering" = Option<String>, Query, description = "`price`, `-price`, `created_at`, `-created_at`, `id`, `-id`; anything else: the default order")),
    security((), ("jwtAuth" = [])),
    responses(
        (status = 200, description = "a page of products", body = crate::openapi::wire::ProductPage),
        (status = 400, description = "`category`: not a category (field errors); `search` with a NUL: DRF's bare list of messages", body = crate::openapi::wire::FilterRefusal),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 404, description = "`Invalid page.`", body = crate::error::Detail),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query: Vec<(String, String)> =
        form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let param = |name: &str| {
        query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base_url = format!("http://{host}/api/products/");

    let requested_page = param("page")
        .and_then(|p| p.trim().parse::<i64>().ok())
        .unwrap_or(1);
    let cacheable =
        user.is_none() && requested_page <= cache::CACHED_PAGES && !state.faults.no_cache;
    let cache_key = if cacheable {
        let mut sorted = query.clone();
        sorted.sort();
        let canonical = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(sorted)
            .finish();
        cache::page_key(&state, &format!("{host}?{canonical}")).await
    } else {
        None
    };
    if let Some(key) = &cache_key
        && let Some(body) = cache::get(&state, key).await
    {
        return Ok(drf::json_text(axum::http::StatusCode::OK, body));
    }

    let filters = filters(
        &state,
        param("category"),
        param("search"),
        param("ordering"),
    )
    .await?;
    let mut count_query =
        QueryBuilder::<Postgres>::new("SELECT count(*) FROM products_product p WHERE true");
    push_filters(&mut count_query, &filters);
    let count: i64 = count_query
        .build_query_scalar()
        .fetch_one(&state.db)
        .await?;
    let page = pagination::page_number(param("page"), count)?;

    let mut rows_query = QueryBuilder::<Postgres>::new(format!(
        "SELECT {PRODUCT_COLUMNS} {PRODUCT_JOINS} WHERE true"
    ));
    push_filters(&mut rows_query, &filters);
    rows_query
        .push(format_args!(" ORDER BY {} LIMIT ", filters.order_by))
        .push_bind(pagination::PAGE_SIZE)
        .push(" OFFSET ")
        .push_bind((page - 1) * pagination::PAGE_SIZE);
    let mut rows: Vec<ProductRow> = rows_query.build_query_as().fetch_all(&state.db).await?;
    if state.faults.n_plus_one {
        n_plus_one(&state, &mut rows).await?;
    }
    let results = rows.iter().map(|r| r.to_json(false)).collect();
    let body = pagination::envelope(&base_url, &query, page, count, results).to_string();
    if let Some(key) = &cache_key {
        cache::put(&state, key, &body).await;
    }
    Ok(drf::json_text(axum::http::StatusCode::OK, body))
}

/// The `n-plus-one` fault: what a serializer with nested `category` and `stock` does without
/// `select_related`: two more queries per product on the page.
async fn n_plus_one(state: &AppState, rows: &mut [ProductRow]) -> Result<(), ApiError> {
    for row in rows.iter_mut() {
        row.category_name = match row.category_id {
            Some(id) => {
                sqlx::query_scalar("SELECT name FROM products_category WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&state.db)
                    .await?
            }
            None => None,
        };
        let stock: Option<(i32, i32, i32)> = sqlx::query_as(
            "SELECT available_stock, physical_stock, reserved_stock FROM products_productstock
             WHERE product_id = $1",
        )
        .bind(row.id)
        .fetch_optional(&state.db)
        .await?;
        row.available_stock = stock.map(|s| s.0);
        row.physical_stock = stock.map(|s| s.1);
        row.reserved_stock = stock.map(|s| s.2);
    }
    Ok(())
}

async fn filters(
    state: &AppState,
    category: Option<&str>,
    search: Option<&str>,
    ordering: Option<&str>,
) -> Result<Filters, ApiError> {
    let category = match category.map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => {
            let invalid = || {
                ApiError::BadRequest(json!({
                    "category": ["Select a valid choice. That choice is not one of the available choices."]
                }))
            };
            let id: i64 = raw.parse().map_err(|_| invalid())?;
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM products_category WHERE id = $1)")
                    .bind(id)
                    .fetch_one(&state.db)
                    .await?;
            if !exists {
                return Err(invalid());
            }
            Some(id)
        }
    };
    // SearchFilter reads `search` through a `CharField`, whose validators refuse a NUL (PostgreSQL
    // cannot take one): DRF's answer is the bare list of the ValidationError raised in the filter.
    if search.is_some_and(|s| s.contains('\0')) {
        return Err(ApiError::BadRequest(json!([
            "Null characters are not allowed."
        ])));
    }
    let search = search.map(str::trim).filter(|s| !s.is_empty()).map(|s| {
        format!(
            "%{}%",
            s.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let order_by = ordering
        .and_then(|o| ORDERINGS.iter().find(|(name, _)| *name == o.trim()))
        .map_or("p.id", |(_, sql)| sql);
    Ok(Filters {
        category,
        search,
        order_by,
    })
}

fn push_filters(query: &mut QueryBuilder<Postgres>, filters: &Filters) {
    if let Some(category) = filters.category {
        query.push(" AND p.category_id = ").push_bind(category);
    }
    if let Some(pattern) = &filters.search {
        query
            .push(" AND (p.name ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR p.description ILIKE ")
            .push_bind(pattern.clone())
            .push(")");
    }
}

/// `GET /api/products/{id}/`.
#[utoipa::path(
    get,
    path = "/api/products/{id}/",
    tag = "catalog",
    operation_id = "product_detail",
    params(("id" = i64, Path, description = "the object's id")),
    security((), ("jwtAuth" = [])),
    responses(
        (status = 200, description = "the product with its stock", body = crate::openapi::wire::ProductDetail),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 404, description = "no such product", body = crate::error::Detail),
    ),
)]
pub async fn detail(
    State(state): State<AppState>,
    MaybeUser(_): MaybeUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // DRF: a lookup value of the wrong type is a bare 404.
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("Not found.".into()))?;
    let row: Option<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        // Both parts are constants of this module.
        "SELECT {PRODUCT_COLUMNS} {PRODUCT_JOINS} WHERE p.id = $1"
    )))
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    let row =
        row.ok_or_else(|| ApiError::NotFound("No Product matches the given query.".into()))?;
    Ok(drf::ok(&row.to_json(true)))
}
