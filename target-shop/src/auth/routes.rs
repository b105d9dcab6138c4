//! The token endpoints (simplejwt's TokenObtainPair, TokenRefresh and TokenVerify views) and `me`.
//! Token views ignore any `Authorization` header and answer only POST.

use axum::extract::State;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::token::TokenType;
use super::{AuthUser, password};
use crate::AppState;
use crate::drf::{self, Data};
use crate::error::ApiError;
use crate::fields::Fields;

const NO_ACTIVE_ACCOUNT: &str = "No active account found with the given credentials";

/// `POST /api/auth/login/`: `{"username","password"}` -> `{"refresh","access"}`.
#[utoipa::path(
    post,
    path = "/api/auth/login/",
    tag = "auth",
    operation_id = "login",
    request_body = crate::openapi::wire::LoginBody,
    security(()),
    responses(
        (status = 200, description = "the token pair", body = crate::openapi::wire::TokenPair),
        (status = 400, description = "field errors, a JSON parse error or a refusal", body = crate::openapi::wire::Invalid),
        (status = 401, description = "`No active account found with the given credentials`", body = crate::error::Detail),
        (status = 415, description = "a body that is neither JSON nor a form", body = crate::error::Detail),
    ),
)]
pub async fn login(State(state): State<AppState>, Data(data): Data) -> Result<Response, ApiError> {
    let mut fields = Fields::new(&data);
    let username = fields.char_field("username");
    let password = fields.char_field("password");
    fields.finish()?;
    let (username, password) = (username.unwrap_or_default(), password.unwrap_or_default());

    let user: Option<(i32, String, bool)> =
        sqlx::query_as("SELECT id, password, is_active FROM auth_user WHERE username = $1")
            .bind(&username)
            .fetch_optional(&state.db)
            .await?;
    // Django hashes even for an unknown user, so a failed login costs what a good one does.
    let stored = match &user {
        Some((_, hash, _)) => hash.clone(),
        None => state
            .dummy_hash
            .get_or_try_init(|| async {
                let salt = password::salt(&mut rand::rng());
                tokio::task::spawn_blocking(move || {
                    password::make("", &salt, password::DJANGO_ITERATIONS)
                })
                .await
            })
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .clone(),
    };
    let matches = state.hasher.verify(password, stored).await?;
    match user {
        Some((id, _, true)) if matches => {
            let (refresh, access) = state.tokens.pair(id, state.clock.now());
            Ok(drf::ok(&json!({"refresh": refresh, "access": access})))
        }
        _ => Err(ApiError::AuthenticationFailed(NO_ACTIVE_ACCOUNT)),
    }
}

/// `POST /api/auth/refresh/`: `{"refresh"}` -> `{"access"}`.
#[utoipa::path(
    post,
    path = "/api/auth/refresh/",
    tag = "auth",
    operation_id = "refresh",
    request_body = crate::openapi::wire::RefreshBody,
    security(()),
    responses(
        (status = 200, description = "a new access token", body = crate::openapi::wire::AccessToken),
        (status = 400, description = "field errors, a JSON parse error or a refusal", body = crate::openapi::wire::Invalid),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 415, description = "a body that is neither JSON nor a form", body = crate::error::Detail),
    ),
)]
pub async fn refresh(
    State(state): State<AppState>,
    Data(data): Data,
) -> Result<Response, ApiError> {
    let mut fields = Fields::new(&data);
    let token = fields.char_field("refresh");
    fields.finish()?;
    let now = state.clock.now();
    let claims = state
        .tokens
        .verify(&token.unwrap_or_default(), TokenType::Refresh, now)
        .map_err(|e| ApiError::TokenViewInvalid(e.message()))?;
    // simplejwt 5.4+ refuses refresh tokens of inactive users.
    if let Some(id) = super::token::user_id(&claims) {
        let active: Option<bool> =
            sqlx::query_scalar("SELECT is_active FROM auth_user WHERE id = $1")
                .bind(id)
                .fetch_optional(&state.db)
                .await?;
        if active != Some(true) {
            return Err(ApiError::AuthenticationFailed(
                "No active account found for the given token.",
            ));
        }
    }
    let access = state.tokens.access_from_refresh(&claims, now);
    Ok(drf::ok(&json!({ "access": access })))
}

/// `POST /api/auth/verify/`: `{"token"}` -> `{}` for any valid token, refresh tokens included.
#[utoipa::path(
    post,
    path = "/api/auth/verify/",
    tag = "auth",
    operation_id = "verify",
    request_body = crate::openapi::wire::VerifyBody,
    security(()),
    responses(
        (status = 200, description = "the token is valid", body = crate::openapi::wire::Verified),
        (status = 400, description = "field errors, a JSON parse error or a refusal", body = crate::openapi::wire::Invalid),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
        (status = 415, description = "a body that is neither JSON nor a form", body = crate::error::Detail),
    ),
)]
pub async fn verify(State(state): State<AppState>, Data(data): Data) -> Result<Response, ApiError> {
    let mut fields = Fields::new(&data);
    let token = fields.char_field("token");
    fields.finish()?;
    state
        .tokens
        .verify_untyped(&token.unwrap_or_default(), state.clock.now())
        .map_err(|e| ApiError::TokenViewInvalid(e.message()))?;
    Ok(drf::ok(&Value::Object(Map::new())))
}

/// A row of `auth_user` with its profile, as `me` shows it.
#[derive(sqlx::FromRow)]
struct Me {
    id: i32,
    username: String,
    email: String,
    email_verified: Option<bool>,
    points: Option<i64>,
}

/// `GET /api/auth/me/`.
#[utoipa::path(
    get,
    path = "/api/auth/me/",
    tag = "auth",
    operation_id = "me",
    security(("jwtAuth" = [])),
    responses(
        (status = 200, description = "the current user", body = crate::openapi::wire::Me),
        (status = 401, description = "no or bad credentials (`WWW-Authenticate: Bearer realm=\"api\"`)", body = crate::openapi::wire::Unauthorized),
    ),
)]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let me: Me = sqlx::query_as(
        "SELECT u.id, u.username, u.email, p.email_verified, p.points
         FROM auth_user u LEFT JOIN accounts_profile p ON p.user_id = u.id
         WHERE u.id = $1",
    )
    .bind(user.id)
    .fetch_optional(&state.db)
    .await?
    .ok_or(ApiError::UserNotFound)?;
    Ok(drf::ok(&json!({
        "id": me.id,
        "username": me.username,
        "email": me.email,
        "email_verified": me.email_verified.unwrap_or(false),
        "points": me.points.unwrap_or(0),
    })))
}

/// Hashing runs on the blocking pool, at most one hash per core at a time, so a login storm queues
/// behind the CPUs instead of stalling every other request on the async runtime.
#[derive(Clone)]
pub struct Hasher {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
        }
    }

    pub async fn verify(&self, password: String, encoded: String) -> Result<bool, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || password::verify(&password, &encoded))
            .await
            .map_err(|e| ApiError::Internal(e.into()))
    }
}
