//! `/api/auth`: login, logout, who am I, change my password.
//!
//! Login answers the same 401 for an unknown user, a wrong password and a disabled account,
//! and takes the same time for each (an unknown user is checked against a dummy hash).
//! Failures are throttled per user name and per client address (429 with Retry-After).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody, Json};
use super::input::{JsonKeepingNul, nul_in_field};
use crate::audit::{self, Event, Outcome};
use crate::auth::{
    self, Actor, ClientAddr, LoginThrottle, PasswordError, Principal, Revocation, ThrottleDecision,
    UserView,
};
use crate::db;
use crate::state::AppState;
use crate::territory::Territory;

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name (case-insensitive).
    pub username: String,
    /// Password.
    pub password: String,
    /// How the session is handed over: `cookie` (the browser: HttpOnly cookie only, no token
    /// in the body, so page scripts never hold it), `bearer` (API clients: the token only),
    /// or both when absent.
    #[serde(default)]
    pub mode: Option<LoginMode>,
}

/// How a new session is handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoginMode {
    /// The HttpOnly cookie only.
    Cookie,
    /// The token in the body only.
    Bearer,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Opaque bearer token for API clients; absent with `mode: cookie`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Absolute expiry; the session also ends after `idle_timeout_s` without requests.
    pub expires_at: DateTime<Utc>,
    /// Idle timeout, seconds.
    pub idle_timeout_s: u64,
    /// Who logged in.
    pub user: UserView,
}

/// The session in use.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Idle timeout, seconds.
    pub idle_timeout_s: i32,
}

/// Who is logged in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The user (own phone in clear).
    pub user: UserView,
    /// The session.
    pub session: SessionInfo,
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password in use now.
    pub current_password: String,
    /// The new one (at least 10 characters, not the user name, not easy to guess).
    pub new_password: String,
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "wrong user name or password")
}

fn locked(retry_after_s: u64) -> ApiError {
    ApiError::TooManyRequests {
        code: "too_many_attempts",
        message: format!("too many failed logins; try again in {retry_after_s} s"),
        retry_after_s,
    }
}

/// Runs argon2 work on a blocking thread, bounded by the hashing semaphore.
async fn hashing<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    let _permit = state
        .auth
        .hashing
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing semaphore: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing task: {e}")))
}

/// Hashes a password (argon2id) off the async workers.
pub(crate) async fn hash_blocking(state: &AppState, password: String) -> ApiResult<String> {
    hashing(state, move || auth::hash_password(&password))
        .await?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))
}

/// Verifies a password against a stored hash off the async workers.
pub(crate) async fn verify_blocking(
    state: &AppState,
    password: String,
    hash: String,
) -> ApiResult<bool> {
    hashing(state, move || auth::verify_password(&password, &hash)).await
}

/// A password-policy failure as a 422 naming the field; a guessable password also says why
/// (`details.warning`, `details.suggestions`, `details.score` of 0–4, `min_score`).
pub(crate) fn weak_password(field: &str, e: &PasswordError) -> ApiError {
    let mut details = json!({
        "field": field,
        "min_length": auth::MIN_PASSWORD_CHARS,
        "max_bytes": auth::MAX_PASSWORD_BYTES,
        "min_score": auth::MIN_PASSWORD_SCORE,
    });
    if let PasswordError::Weak {
        score,
        warning,
        suggestions,
    } = e
    {
        details["score"] = json!(score);
        details["warning"] = json!(warning);
        details["suggestions"] = json!(suggestions);
    }
    ApiError::Unprocessable {
        code: "weak_password",
        message: e.to_string(),
        details,
    }
}

/// Logs in with a user name and password. Sets the `gridwall_session` cookie (HttpOnly,
/// SameSite=Strict) and returns the same token for API clients.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    security(()),
    responses((status = 200, body = LoginResponse),
        (status = 400, body = ErrorBody),
        (status = 401, description = "wrong user name or password", body = ErrorBody),
        (status = 429, description = "locked for a while; see Retry-After", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    // Text with a NUL is refused below, after it has been counted and recorded like any other
    // failed login.
    JsonKeepingNul(req): JsonKeepingNul<LoginRequest>,
) -> ApiResult<Response> {
    let username = req.username.trim().to_owned();
    if username.is_empty() || username.len() > 64 {
        // No such account can exist; answer like any wrong login.
        return Err(invalid_credentials());
    }
    let attempt = Actor {
        user_id: None,
        name: username.clone(),
        role: None,
        address,
    };
    let throttle = LoginThrottle::new(&username, address);
    if let ThrottleDecision::Locked { retry_after_s } = throttle.check(&state.pool).await? {
        audit_login(&state.pool, &attempt, Outcome::Denied, "locked").await?;
        return Err(locked(retry_after_s));
    }
    let nul_in = [("/username", &username), ("/password", &req.password)]
        .into_iter()
        .find_map(|(field, text)| crate::text::has_nul(text).then_some(field));
    if let Some(field) = nul_in {
        let next = throttle.fail(&state.pool, &state.auth.config).await?;
        audit_login(&state.pool, &attempt, Outcome::Denied, "invalid_text").await?;
        tracing::info!(?address, field, "login refused: NUL in the form");
        if let ThrottleDecision::Locked { retry_after_s } = next {
            return Err(locked(retry_after_s));
        }
        return Err(nul_in_field(field));
    }

    let row = db::users::for_login(&state.pool, &username).await?;
    let hash = row.as_ref().map_or_else(
        || state.auth.dummy_hash.clone(),
        |r| r.password_hash.clone(),
    );
    let matches = verify_blocking(&state, req.password, hash).await?;
    let failure = match &row {
        None => Some("unknown_user"),
        Some(_) if !matches => Some("wrong_password"),
        Some(r) if r.disabled_at.is_some() => Some("disabled"),
        Some(_) => None,
    };
    let Some(user) = row.filter(|_| failure.is_none()) else {
        let reason = failure.unwrap_or("unknown_user");
        let next = throttle.fail(&state.pool, &state.auth.config).await?;
        audit_login(&state.pool, &attempt, Outcome::Denied, reason).await?;
        tracing::info!(username, ?address, reason, "login refused");
        if let ThrottleDecision::Locked { retry_after_s } = next {
            tracing::warn!(username, ?address, "login locked after repeated failures");
            return Err(locked(retry_after_s));
        }
        return Err(invalid_credentials());
    };

    throttle.succeed(&state.pool).await?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let mut tx = state.pool.begin().await?;
    let (token, expires_at) =
        auth::create_session(&mut *tx, user.id, &state.auth.config, address, user_agent).await?;
    let actor = Actor {
        user_id: Some(user.id),
        name: user.username.clone(),
        role: None,
        address,
    };
    audit_login(&mut *tx, &actor, Outcome::Ok, "password").await?;
    tx.commit().await?;

    let stored = db::users::by_username(&state.pool, &user.username)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("user vanished during login")))?;
    let view = super::users::view_unmasked(&stored);
    let max_age_s = state.auth.config.max_age.as_secs();
    let body = axum::Json(LoginResponse {
        token: (req.mode != Some(LoginMode::Cookie)).then(|| token.clone()),
        expires_at,
        idle_timeout_s: state.auth.config.idle_timeout.as_secs(),
        user: view,
    });
    if req.mode == Some(LoginMode::Bearer) {
        return Ok(body.into_response());
    }
    let cookie = auth::session_cookie(&token, max_age_s, state.auth.config.secure_cookies);
    Ok(([(header::SET_COOKIE, cookie)], body).into_response())
}

async fn audit_login(
    db: impl sqlx::PgExecutor<'_>,
    actor: &Actor,
    outcome: Outcome,
    reason: &str,
) -> ApiResult<()> {
    let event = Event {
        action: "auth.login",
        outcome,
        unit_code: None,
        entity_type: Some("user"),
        entity_id: actor.user_id.map(|id| id.to_string()),
        details: json!({ "reason": reason }),
    };
    Ok(audit::record(db, actor, event).await?)
}

fn clear_cookie(state: &AppState) -> [(header::HeaderName, header::HeaderValue); 1] {
    [(
        header::SET_COOKIE,
        auth::session_cookie("", 0, state.auth.config.secure_cookies),
    )]
}

/// Ends the session in use (cookie and bearer alike) and clears the cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204, description = "logged out"),
        (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, me: Principal) -> ApiResult<Response> {
    let mut tx = state.pool.begin().await?;
    auth::revoke_session(&mut *tx, me.session_id, "logout").await?;
    audit::record(
        &mut *tx,
        &me.actor(),
        Event::ok("auth.logout", "session", me.session_id),
    )
    .await?;
    tx.commit().await?;
    state.auth.announce(Revocation::Session(me.session_id));
    Ok((StatusCode::NO_CONTENT, clear_cookie(&state)).into_response())
}

/// The logged-in user and the session.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, me: Principal) -> ApiResult<axum::Json<Me>> {
    let row = db::users::get(&state.pool, Territory::All, me.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("session_revoked", "the account no longer exists"))?;
    Ok(axum::Json(Me {
        session: SessionInfo {
            expires_at: me.expires_at,
            idle_timeout_s: me.idle_timeout_s,
        },
        user: super::users::view_unmasked(&row),
    }))
}

/// Changes the logged-in user's password; every session of the user ends (log in again).
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204, description = "changed; all sessions ended"),
        (status = 401, description = "no session, or the current password is wrong",
         body = ErrorBody),
        (status = 422, description = "the new password is too weak", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    me: Principal,
    Json(req): Json<PasswordChange>,
) -> ApiResult<Response> {
    let throttle = LoginThrottle::new(&me.username, me.address);
    if let ThrottleDecision::Locked { retry_after_s } = throttle.check(&state.pool).await? {
        return Err(locked(retry_after_s));
    }
    let hash = db::users::password_hash(&state.pool, me.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("session_revoked", "the account no longer exists"))?;
    if !verify_blocking(&state, req.current_password, hash).await? {
        throttle.fail(&state.pool, &state.auth.config).await?;
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "the current password is wrong",
        ));
    }
    auth::validate_password(&me.username, &req.new_password)
        .map_err(|e| weak_password("new_password", &e))?;
    let new_hash = hash_blocking(&state, req.new_password).await?;
    let mut tx = state.pool.begin().await?;
    db::users::set_password(&mut *tx, me.user_id, &new_hash).await?;
    let ended = auth::revoke_user_sessions(&mut *tx, me.user_id, "password changed").await?;
    audit::record(
        &mut *tx,
        &me.actor(),
        Event::ok("auth.password_change", "user", me.user_id)
            .details(json!({ "sessions_ended": ended })),
    )
    .await?;
    tx.commit().await?;
    state.auth.announce(Revocation::User(me.user_id));
    Ok((StatusCode::NO_CONTENT, clear_cookie(&state)).into_response())
}
