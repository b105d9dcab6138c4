//! Toss's Basic auth (`base64("<secretKey>:")`) and the `TossPayments-Test-Code` header.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::codes::{self, Code};
use crate::payment::KeyId;

pub const TEST_CODE_HEADER: &str = "tosspayments-test-code";

/// The secret key a request authenticated with (an index into the configured keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller(pub KeyId);

/// Which configured key the `Authorization` header carries.
pub fn authenticate(keys: &[String], headers: &HeaderMap) -> Result<Caller, &'static Code> {
    // No header, another scheme or bytes that are not text: Toss documents nothing; the mock (like
    // community mocks) answers as for an unknown key.
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(&codes::UNAUTHORIZED_KEY)?;
    let (scheme, credentials) = value
        .trim()
        .split_once(' ')
        .ok_or(&codes::UNAUTHORIZED_KEY)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(&codes::UNAUTHORIZED_KEY);
    }
    let decoded = STANDARD
        .decode(credentials.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(&codes::INCORRECT_BASIC_AUTH_FORMAT)?;
    // The password is empty; the colon that separates it is what Toss insists on.
    let (key, _password) = decoded
        .split_once(':')
        .ok_or(&codes::INCORRECT_BASIC_AUTH_FORMAT)?;
    keys.iter()
        .position(|k| k == key)
        .and_then(|i| KeyId::try_from(i).ok())
        .map(Caller)
        .ok_or(&codes::UNAUTHORIZED_KEY)
}

/// The error a `TossPayments-Test-Code` asks for: `None` without the header or with a live key
/// (Toss ignores it there), `INVALID_TEST_CODE` for a code it does not know.
pub fn test_code(headers: &HeaderMap, secret_key: &str) -> Option<&'static Code> {
    let value = headers.get(TEST_CODE_HEADER)?;
    if !secret_key.starts_with("test_") {
        return None;
    }
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| codes::find(v.trim()))
            .filter(|c| c.testable)
            .unwrap_or(&codes::INVALID_TEST_CODE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn keys() -> Vec<String> {
        vec!["test_sk_a".into(), "live_sk_b".into()]
    }

    fn auth(value: &str) -> Result<Caller, &'static str> {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        authenticate(&keys(), &h).map_err(|c| c.code)
    }

    #[test]
    fn basic_auth_rules() {
        let b64 = |s: &str| STANDARD.encode(s);
        assert_eq!(auth(&format!("Basic {}", b64("test_sk_a:"))), Ok(Caller(0)));
        assert_eq!(auth(&format!("basic {}", b64("live_sk_b:"))), Ok(Caller(1)));
        assert_eq!(
            auth(&format!("Basic {}", b64("test_sk_a"))),
            Err("INCORRECT_BASIC_AUTH_FORMAT")
        );
        assert_eq!(auth("Basic %%%"), Err("INCORRECT_BASIC_AUTH_FORMAT"));
        assert_eq!(
            auth(&format!("Basic {}", b64("test_sk_zzz:"))),
            Err("UNAUTHORIZED_KEY")
        );
        assert_eq!(auth("Bearer abc"), Err("UNAUTHORIZED_KEY"));
        assert_eq!(
            authenticate(&keys(), &HeaderMap::new()).map_err(|c| c.code),
            Err("UNAUTHORIZED_KEY")
        );
    }

    #[test]
    fn test_codes_only_on_test_keys() {
        let mut h = HeaderMap::new();
        assert_eq!(test_code(&h, "test_sk_a"), None);
        h.insert(
            TEST_CODE_HEADER,
            HeaderValue::from_static("REJECT_CARD_PAYMENT"),
        );
        assert_eq!(
            test_code(&h, "test_sk_a").map(|c| c.code),
            Some("REJECT_CARD_PAYMENT")
        );
        assert_eq!(test_code(&h, "live_sk_b"), None);
        h.insert(TEST_CODE_HEADER, HeaderValue::from_static("NOPE"));
        assert_eq!(
            test_code(&h, "test_sk_a").map(|c| c.code),
            Some("INVALID_TEST_CODE")
        );
    }
}
