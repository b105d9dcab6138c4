//! Authentication as simplejwt's `JWTAuthentication` does it: the header rules, the token checks,
//! and one user lookup per authenticated request. Plus Django's password hashes and the token
//! endpoints.

/// Django's password hashes (the `django-password` crate, shared with the seeder).
pub use django_password as password;
pub mod routes;
pub mod token;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::AppState;
use crate::error::ApiError;
use token::{TokenError, TokenType};

/// A user who presented a valid access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub id: i32,
}

/// The request's user, if any. An invalid token is a 401 even here (DRF authenticates before it
/// looks at permissions); no header, or a scheme other than `Bearer`, is anonymous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaybeUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(raw) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let words: Vec<&[u8]> = raw
            .as_bytes()
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty())
            .collect();
        match words.as_slice() {
            [] => Ok(Self(None)),
            [scheme, ..] if *scheme != b"Bearer" => Ok(Self(None)),
            [_, token] => {
                let token = std::str::from_utf8(token)
                    .map_err(|_| ApiError::TokenNotValid(TokenError::Invalid.message()))?;
                authenticate(state, token)
                    .await
                    .map(|user| Self(Some(user)))
            }
            _ => Err(ApiError::BadAuthorizationHeader),
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        MaybeUser::from_request_parts(parts, state)
            .await?
            .0
            .ok_or(ApiError::NotAuthenticated)
    }
}

async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let now = state.clock.now();
    let claims = state
        .tokens
        .verify(token, TokenType::Access, now)
        .map_err(|e| ApiError::TokenNotValid(e.message()))?;
    let id = token::user_id(&claims).ok_or(ApiError::NoUserIdentification)?;
    let active: Option<bool> = sqlx::query_scalar("SELECT is_active FROM auth_user WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db)
        .await?;
    match active {
        None => Err(ApiError::UserNotFound),
        Some(false) => Err(ApiError::UserInactive),
        Some(true) => Ok(AuthUser { id }),
    }
}
