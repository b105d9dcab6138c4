//! DRF's PageNumberPagination: `{"count","next","previous","results"}` with absolute links built
//! from the request's Host, query parameters re-sorted and re-encoded as `replace_query_param` does,
//! page 1's link without `page`, and 404 `Invalid page.` past the end.

use serde_json::{Value, json};

use crate::error::ApiError;

pub const PAGE_SIZE: i64 = 20;

/// The page asked for, checked against the number of rows.
pub fn page_number(raw: Option<&str>, count: i64) -> Result<i64, ApiError> {
    let pages = if count == 0 {
        1
    } else {
        (count + PAGE_SIZE - 1) / PAGE_SIZE
    };
    let invalid = || ApiError::NotFound("Invalid page.".into());
    let page = match raw.map(str::trim) {
        None | Some("") => 1,
        Some("last") => pages,
        Some(n) => n.parse::<i64>().map_err(|_| invalid())?,
    };
    if page < 1 || page > pages {
        return Err(invalid());
    }
    Ok(page)
}

/// The page's envelope around `results`.
pub fn envelope(
    base_url: &str,
    query: &[(String, String)],
    page: i64,
    count: i64,
    results: Vec<Value>,
) -> Value {
    let pages = (count + PAGE_SIZE - 1) / PAGE_SIZE;
    let link = |target: i64| -> String {
        let mut params: Vec<(String, String)> =
            query.iter().filter(|(k, _)| k != "page").cloned().collect();
        if target > 1 {
            params.push(("page".into(), target.to_string()));
        }
        params.sort();
        if params.is_empty() {
            return base_url.to_string();
        }
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        format!("{base_url}?{encoded}")
    };
    let next = (page < pages).then(|| link(page + 1));
    let previous = (page > 1).then(|| link(page - 1));
    json!({"count": count, "next": next, "previous": previous, "results": results})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn links_are_absolute_sorted_and_drop_page_one() {
        let body = envelope(
            "http://h/api/items/",
            &q(&[("zeta", "1"), ("page", "3"), ("alpha", "a b")]),
            3,
            100,
            vec![],
        );
        assert_eq!(body["next"], "http://h/api/items/?alpha=a+b&page=4&zeta=1");
        assert_eq!(
            body["previous"],
            "http://h/api/items/?alpha=a+b&page=2&zeta=1"
        );
        let body = envelope("http://h/api/items/", &q(&[("page", "2")]), 2, 30, vec![]);
        assert_eq!(body["previous"], "http://h/api/items/");
        assert_eq!(body["next"], Value::Null);
    }

    #[test]
    fn pages_out_of_range_are_invalid() {
        assert_eq!(page_number(None, 0).unwrap(), 1);
        assert_eq!(page_number(Some(""), 5).unwrap(), 1);
        assert_eq!(page_number(Some("last"), 41).unwrap(), 3);
        for bad in ["0", "4", "abc", "-1"] {
            assert!(page_number(Some(bad), 41).is_err(), "{bad}");
        }
        assert!(page_number(Some("2"), 0).is_err());
    }
}
