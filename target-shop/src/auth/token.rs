//! simplejwt-compatible tokens, byte for byte: PyJWT's header `{"alg":"HS256","typ":"JWT"}` (sorted
//! keys), claims in simplejwt's insertion order (`token_type, exp, iat, jti, user_id`), `user_id` as a
//! string, `jti` as uuid4 hex, unpadded base64url. Written by hand over `hmac` because the exact
//! bytes are the contract: generic JWT crates order the header differently.
//!
//! Verification follows simplejwt 5.5: signature first (any failure is "Token is invalid"), then
//! expiry, then `jti`, then `token_type`, each with simplejwt's own message.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

/// base64url of `{"alg":"HS256","typ":"JWT"}`, as PyJWT writes it.
const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Access,
    Refresh,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// Why a token was refused, with simplejwt's message for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Invalid,
    Expired,
    NoExp,
    NoId,
    NoType,
    WrongType,
}

impl TokenError {
    pub fn message(self) -> &'static str {
        match self {
            Self::Invalid => "Token is invalid",
            Self::Expired => "Token is expired",
            Self::NoExp => "Token has no 'exp' claim",
            Self::NoId => "Token has no id",
            Self::NoType => "Token has no type",
            Self::WrongType => "Token has wrong type",
        }
    }
}

#[derive(Clone)]
pub struct Tokens {
    key: Hmac<Sha256>,
    pub access_lifetime: Duration,
    pub refresh_lifetime: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_lifetime", &self.access_lifetime)
            .field("refresh_lifetime", &self.refresh_lifetime)
            .finish_non_exhaustive()
    }
}

/// A token's claims, in the order they were written.
pub type Claims = Map<String, Value>;

impl Tokens {
    pub fn new(secret: &[u8], access_lifetime: Duration, refresh_lifetime: Duration) -> Self {
        // HMAC takes keys of any length; this cannot fail.
        let key = Hmac::<Sha256>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        Self {
            key,
            access_lifetime,
            refresh_lifetime,
        }
    }

    /// The login pair `(refresh, access)`; `now` is epoch seconds.
    pub fn pair(&self, user_id: i32, now: i64) -> (String, String) {
        let refresh = claims(
            TokenType::Refresh,
            now,
            self.refresh_lifetime,
            &[("user_id", json!(user_id.to_string()))],
        );
        let access = self.access_claims_from(&refresh, now);
        (self.sign(&refresh), self.sign(&access))
    }

    /// A new access token from verified refresh claims, as `RefreshToken.access_token` makes it:
    /// every claim but `token_type, exp, iat, jti` is copied.
    pub fn access_from_refresh(&self, refresh: &Claims, now: i64) -> String {
        self.sign(&self.access_claims_from(refresh, now))
    }

    fn access_claims_from(&self, refresh: &Claims, now: i64) -> Claims {
        let copied: Vec<(&str, Value)> = refresh
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "token_type" | "exp" | "iat" | "jti"))
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        claims(TokenType::Access, now, self.access_lifetime, &copied)
    }

    fn sign(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
        let signing_input = format!("{HEADER_B64}.{payload}");
        let mut mac = self.key.clone();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Signature, expiry and `jti`, as `UntypedToken` checks them (`/api/auth/verify/`).
    pub fn verify_untyped(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let claims = self.decode(token, now)?;
        match claims.get("exp") {
            None => return Err(TokenError::NoExp),
            Some(exp) if exp.as_i64().is_some_and(|exp| exp <= now) => {
                return Err(TokenError::Expired);
            }
            Some(_) => {}
        }
        if !claims.contains_key("jti") {
            return Err(TokenError::NoId);
        }
        Ok(claims)
    }

    /// [`Self::verify_untyped`] plus the token type.
    pub fn verify(&self, token: &str, expected: TokenType, now: i64) -> Result<Claims, TokenError> {
        let claims = self.verify_untyped(token, now)?;
        match claims.get("token_type") {
            None => Err(TokenError::NoType),
            Some(t) if t.as_str() == Some(expected.as_str()) => Ok(claims),
            Some(_) => Err(TokenError::WrongType),
        }
    }

    /// PyJWT's `decode`: structure, algorithm, signature, then `exp` (expired) and `iat` (not in the
    /// future) when present and well-typed.
    fn decode(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let signing_input_len = header.len() + 1 + payload.len();
        let header: Value = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenError::Invalid)?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err(TokenError::Invalid);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        let mut mac = self.key.clone();
        mac.update(&token.as_bytes()[..signing_input_len]);
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenError::Invalid)?;
        if let Some(exp) = claims.get("exp") {
            let exp = exp.as_i64().ok_or(TokenError::Invalid)?;
            if exp <= now {
                return Err(TokenError::Expired);
            }
        }
        if let Some(iat) = claims.get("iat") {
            let iat = iat.as_i64().ok_or(TokenError::Invalid)?;
            if iat > now {
                return Err(TokenError::Invalid);
            }
        }
        if claims.get("jti").is_some_and(|jti| !jti.is_string()) {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

fn claims(kind: TokenType, now: i64, lifetime: Duration, extra: &[(&str, Value)]) -> Claims {
    let mut claims = Map::new();
    claims.insert("token_type".into(), json!(kind.as_str()));
    claims.insert("exp".into(), json!(now + lifetime.as_secs() as i64));
    claims.insert("iat".into(), json!(now));
    claims.insert(
        "jti".into(),
        json!(uuid::Uuid::new_v4().simple().to_string()),
    );
    for (k, v) in extra {
        claims.insert((*k).to_string(), v.clone());
    }
    claims
}

/// The user a verified token names: simplejwt accepts `"1"` and `1` alike.
pub fn user_id(claims: &Claims) -> Option<i32> {
    match claims.get("user_id")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(
            b"secret",
            Duration::from_secs(300),
            Duration::from_secs(86400),
        )
    }

    fn payload(token: &str) -> String {
        let part = token.split('.').nth(1).unwrap();
        String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn the_pair_has_simplejwts_bytes_and_claims() {
        let (refresh, access) = tokens().pair(1, 1_795_348_822);
        assert!(refresh.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
        let refresh_payload = payload(&refresh);
        let access_payload = payload(&access);
        assert!(
            refresh_payload.starts_with(
                r#"{"token_type":"refresh","exp":1795435222,"iat":1795348822,"jti":""#
            )
        );
        assert!(refresh_payload.ends_with(r#"","user_id":"1"}"#));
        assert!(
            access_payload
                .starts_with(r#"{"token_type":"access","exp":1795349122,"iat":1795348822,"jti":""#)
        );
        // The capture's lengths for user 1: access 231 and refresh 232 characters.
        assert_eq!(access.len(), 231);
        assert_eq!(refresh.len(), 232);
        assert_eq!(access.rsplit('.').next().unwrap().len(), 43);
    }

    #[test]
    fn verification_follows_simplejwts_order_and_messages() {
        let t = tokens();
        let now = 1_795_348_822;
        let (refresh, access) = t.pair(7, now);
        let claims = t.verify(&access, TokenType::Access, now).unwrap();
        assert_eq!(user_id(&claims), Some(7));
        assert_eq!(
            t.verify(&refresh, TokenType::Access, now),
            Err(TokenError::WrongType)
        );
        assert_eq!(
            t.verify(&access, TokenType::Access, now + 300),
            Err(TokenError::Expired)
        );
        assert_eq!(
            t.verify("garbage", TokenType::Access, now),
            Err(TokenError::Invalid)
        );
        let other = Tokens::new(b"other", Duration::from_secs(300), Duration::from_secs(300));
        assert_eq!(
            other.verify(&access, TokenType::Access, now),
            Err(TokenError::Invalid)
        );
        // A bad signature wins over expiry, as in PyJWT.
        assert_eq!(
            other.verify(&access, TokenType::Access, now + 999),
            Err(TokenError::Invalid)
        );
        assert!(t.verify_untyped(&refresh, now).is_ok());
    }

    #[test]
    fn refreshing_copies_the_user_and_restarts_the_clock() {
        let t = tokens();
        let (refresh, _) = t.pair(3, 1000);
        let claims = t.verify(&refresh, TokenType::Refresh, 2000).unwrap();
        let access = t.access_from_refresh(&claims, 2000);
        let p = payload(&access);
        assert!(
            p.starts_with(r#"{"token_type":"access","exp":2300,"iat":2000,"#),
            "{p}"
        );
        assert!(p.ends_with(r#""user_id":"3"}"#), "{p}");
    }
}
