//! simplejwt-compatible tokens, byte for byte: PyJWT's header `{"alg":"HS256","typ":"JWT"}` (sorted
//! keys), claims in simplejwt's insertion order (`token_type, exp, iat, jti, user_id`), `user_id` as a
//! string, `jti` as uuid4 hex, unpadded base64url.
//!
//! The HMAC on both sides is `jsonwebtoken`'s, but the signing input is assembled here:
//! `jsonwebtoken::encode` serialises its `Header` struct in field order, `{"typ":"JWT","alg":"HS256"}`,
//! and those bytes are not PyJWT's, so the header is PyJWT's bytes as a constant and the payload is
//! the claims map in insertion order; `jsonwebtoken::crypto::sign` signs that.
//!
//! Verification follows simplejwt 5.5: signature first (any failure is "Token is invalid"), then
//! expiry, then `jti`, then `token_type`, each with simplejwt's own message. `jsonwebtoken::decode`
//! checks the structure, the header's algorithm and the signature; its own time and claim checks are
//! off, because it would read the system clock (the shop's clock is injected), allow 60 s of leeway and
//! call a token valid in its `exp` second, and answer a missing `exp` with its own error rather than
//! simplejwt's message. Expiry and `iat` are therefore checked here against the caller's `now`, as
//! PyJWT checks them. One deliberate difference from PyJWT: a header that is not `jsonwebtoken`'s
//! `Header` shape (say a numeric `typ`), or a payload with a duplicated registered claim, is invalid;
//! only the holder of the secret could sign either.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde_json::{Map, Value, json};

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
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
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
        let mut validation = Validation::new(Algorithm::HS256);
        // Time and registered claims are judged in `decode`, against the injected clock and
        // with simplejwt's messages (see the module doc).
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.required_spec_claims.clear();
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
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
        // An HMAC key made by `from_secret` signs HS256 whatever its length: the only errors
        // `sign` has are a key of another family or an algorithm of another family.
        let signature =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &self.encoding, Algorithm::HS256)
                .unwrap_or_else(|e| unreachable!("an HMAC secret signs HS256: {e}"));
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

    /// PyJWT's `decode`: structure, algorithm, signature (all `jsonwebtoken`'s), then `exp`
    /// (expired) and `iat` (not in the future) when present and well-typed.
    fn decode(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
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

    /// A token over any header and claims, signed with `secret`'s HS256.
    fn forged(header: &str, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(b"secret"),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{input}.{signature}")
    }

    #[test]
    fn expiry_is_judged_on_the_callers_clock_to_the_second_without_leeway() {
        let t = tokens();
        // Made in 1970: only the injected clock, never the system's, may call it fresh.
        let (_, access) = t.pair(1, 1000);
        assert!(t.verify(&access, TokenType::Access, 1299).is_ok());
        assert_eq!(
            t.verify(&access, TokenType::Access, 1300),
            Err(TokenError::Expired)
        );
        assert_eq!(
            t.verify(&access, TokenType::Access, 999),
            Err(TokenError::Invalid),
            "an iat in the future is PyJWT's ImmatureSignatureError"
        );
    }

    #[test]
    fn missing_claims_get_simplejwts_messages_and_aud_is_ignored() {
        let t = tokens();
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let no_exp = forged(header, r#"{"token_type":"access","jti":"a","user_id":"1"}"#);
        assert_eq!(t.verify_untyped(&no_exp, 10), Err(TokenError::NoExp));
        let no_jti = forged(header, r#"{"token_type":"access","exp":20,"user_id":"1"}"#);
        assert_eq!(t.verify_untyped(&no_jti, 10), Err(TokenError::NoId));
        let no_type = forged(header, r#"{"exp":20,"jti":"a","user_id":"1"}"#);
        assert_eq!(
            t.verify(&no_type, TokenType::Access, 10),
            Err(TokenError::NoType)
        );
        let text_exp = forged(header, r#"{"token_type":"access","exp":"20","jti":"a"}"#);
        assert_eq!(t.verify_untyped(&text_exp, 10), Err(TokenError::Invalid));
        let with_aud = forged(
            header,
            r#"{"token_type":"access","exp":20,"jti":"a","aud":"x","user_id":"1"}"#,
        );
        assert!(t.verify(&with_aud, TokenType::Access, 10).is_ok());
        // PyJWT reads any header whose alg is allowed, in any key order.
        let reordered = forged(
            r#"{"typ":"JWT","alg":"HS256"}"#,
            r#"{"token_type":"access","exp":20,"jti":"a","user_id":"1"}"#,
        );
        assert!(t.verify(&reordered, TokenType::Access, 10).is_ok());
    }

    #[test]
    fn only_hs256_is_accepted() {
        let t = tokens();
        let claims = r#"{"token_type":"access","exp":20,"jti":"a","user_id":"1"}"#;
        let hs384 = forged(r#"{"alg":"HS384","typ":"JWT"}"#, claims);
        assert_eq!(t.verify_untyped(&hs384, 10), Err(TokenError::Invalid));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        );
        assert_eq!(t.verify_untyped(&none, 10), Err(TokenError::Invalid));
        let (_, access) = t.pair(1, 1000);
        assert_eq!(
            t.verify_untyped(&format!("{access}.x"), 1000),
            Err(TokenError::Invalid)
        );
    }
}
