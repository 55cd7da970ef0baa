//! The extractors that read credentials: [`Principal`] (a user's session, from the cookie or
//! `Authorization: Bearer`), [`Device`] (a phone's device token) and [`ClientAddr`].
//!
//! Handlers that take one of these cannot run without valid credentials; that is the whole
//! enforcement of "logged in".

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use chrono::{DateTime, Utc};

use super::session::{SessionCheck, check_token};
use super::token::{TokenKind, hash_token};
use super::{AuthConfig, Principal};
use crate::http::ApiError;
use crate::state::AppState;

/// Name of the session cookie (HttpOnly, SameSite=Strict).
pub const SESSION_COOKIE: &str = "gridwall_session";

/// The `Set-Cookie` value that stores `token` for `max_age_s` seconds; an empty token with
/// `max_age_s = 0` clears it.
#[must_use]
pub fn session_cookie(token: &str, max_age_s: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    );
    // The token is base64url: always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// Where a request came from: the peer address, or behind a trusted proxy the last
/// `X-Forwarded-For` entry.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    fn of(parts: &Parts, config: &AuthConfig) -> Self {
        if config.trust_forwarded_for {
            // The proxy appends the address it saw: the last entry is the one it vouches for.
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .collect::<Vec<_>>()
                .last()
                .and_then(|s| s.trim().parse::<IpAddr>().ok());
            if forwarded.is_some() {
                return Self(forwarded);
            }
        }
        Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        )
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, &state.auth.config))
    }
}

/// A cookie-authenticated write must come from our own page: browsers send `Origin` and
/// `Sec-Fetch-Site` on such requests, and SameSite=Strict already keeps the cookie off
/// cross-site requests; this is the second lock on the door.
fn cross_site(parts: &Parts) -> bool {
    if parts
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return true;
    }
    let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let host = parts
        .headers
        .get("x-forwarded-host")
        .or_else(|| parts.headers.get(header::HOST))
        .and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, h)| h);
    origin_host != host
}

fn unauthorized_for(check: &SessionCheck) -> ApiError {
    match check {
        SessionCheck::Expired => {
            ApiError::unauthorized("session_expired", "the session has expired; log in again")
        }
        SessionCheck::Revoked => ApiError::unauthorized(
            "session_revoked",
            "the session was ended (logout, password change or account disabled); log in again",
        ),
        _ => ApiError::unauthorized("invalid_token", "the session is not known; log in again"),
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let address = ClientAddr::of(parts, &state.auth.config).0;
        let (token, via_cookie) = match (bearer(parts), cookie(parts, SESSION_COOKIE)) {
            (Some(t), _) => (t, false),
            (None, Some(t)) => (t, true),
            (None, None) => {
                return Err(ApiError::unauthorized(
                    "unauthorized",
                    "log in first: POST /api/auth/login, then send the session cookie or \
                     Authorization: Bearer <token>",
                ));
            }
        };
        match TokenKind::of(token) {
            Some(TokenKind::Session) => {}
            Some(TokenKind::Device) => {
                return Err(ApiError::unauthorized(
                    "device_token_not_allowed",
                    "a device token may only post positions for its own worker or vehicle; \
                     log in as a user for this",
                ));
            }
            None => {
                return Err(ApiError::unauthorized(
                    "invalid_token",
                    "this is not a Gridwall session token",
                ));
            }
        }
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if via_cookie && unsafe_method && cross_site(parts) {
            return Err(ApiError::Forbidden(
                "cross-site request refused: writes with the session cookie must come from \
                 Gridwall's own page"
                    .into(),
            ));
        }
        match check_token(
            &state.pool,
            state.auth.sessions.as_ref(),
            token,
            via_cookie,
            address,
        )
        .await?
        {
            SessionCheck::Valid(p) => Ok(*p),
            other => Err(unauthorized_for(&other)),
        }
    }
}

/// A phone authenticated by its device token: it may only post positions for its resource.
#[derive(Debug, Clone)]
pub struct Device {
    /// `devices.id`.
    pub device_id: i64,
    /// Its label.
    pub label: String,
    /// The worker or vehicle (`resources.id`) it reports for.
    pub resource_id: i64,
    /// `worker` or `vehicle`.
    pub resource_kind: String,
    /// The resource's name.
    pub resource_name: String,
    /// When the device token was issued.
    pub created_at: DateTime<Utc>,
    /// Where the request came from.
    pub address: Option<IpAddr>,
}

impl FromRequestParts<AppState> for Device {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let address = ClientAddr::of(parts, &state.auth.config).0;
        let Some(token) = bearer(parts) else {
            return Err(ApiError::unauthorized(
                "unauthorized",
                "a device token is required: Authorization: Bearer gwd_…",
            ));
        };
        if TokenKind::of(token) != Some(TokenKind::Device) {
            return Err(ApiError::unauthorized(
                "invalid_token",
                "this route takes a device token (gwd_…), not a session",
            ));
        }
        let hash = hash_token(token);
        let record = match state.auth.devices.get(&hash).await {
            Some(r) => r,
            None => {
                let record = Arc::new(DeviceRecord::load(&state.pool, &hash).await?.ok_or_else(
                    || ApiError::unauthorized("invalid_token", "this device token is not known"),
                )?);
                state.auth.devices.insert(hash, Arc::clone(&record)).await;
                record
            }
        };
        if record.revoked {
            return Err(ApiError::unauthorized(
                "device_revoked",
                "this device token was revoked; ask the command center for a new one",
            ));
        }
        Ok(Self {
            device_id: record.device_id,
            label: record.label.clone(),
            resource_id: record.resource_id,
            resource_kind: record.resource_kind.clone(),
            resource_name: record.resource_name.clone(),
            created_at: record.created_at,
            address,
        })
    }
}

/// A device token as the database knows it (cached in [`AuthState::devices`](super::AuthState)).
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    device_id: i64,
    label: String,
    resource_id: i64,
    resource_kind: String,
    resource_name: String,
    created_at: DateTime<Utc>,
    /// The token or its resource was revoked or disabled.
    revoked: bool,
}

impl DeviceRecord {
    /// Reads the device of a token hash, and notes its use (at most once a minute).
    async fn load(pool: &sqlx::PgPool, hash: &[u8]) -> Result<Option<Self>, sqlx::Error> {
        let Some(row) = sqlx::query!(
            r#"SELECT d.id, d.label, d.revoked_at, d.created_at, d.last_used_at,
                      r.id AS resource_id, r.kind, r.name, r.disabled_at, now() AS "now!"
               FROM devices d JOIN resources r ON r.id = d.resource_id
               WHERE d.token_hash = $1"#,
            hash
        )
        .fetch_optional(pool)
        .await?
        else {
            return Ok(None);
        };
        if row
            .last_used_at
            .is_none_or(|t| row.now - t > chrono::Duration::seconds(60))
        {
            sqlx::query!(
                "UPDATE devices SET last_used_at = now() WHERE id = $1",
                row.id
            )
            .execute(pool)
            .await?;
        }
        Ok(Some(Self {
            device_id: row.id,
            label: row.label,
            resource_id: row.resource_id,
            resource_kind: row.kind,
            resource_name: row.name,
            created_at: row.created_at,
            revoked: row.revoked_at.is_some() || row.disabled_at.is_some(),
        }))
    }
}

/// Who posts positions: a phone with its device token, or a user's session (integrations).
#[derive(Debug, Clone)]
pub enum Reporter {
    /// A device token: its own resource only.
    Device(Device),
    /// A session: any resource in the user's territory (the route checks the role).
    User(Box<Principal>),
}

impl FromRequestParts<AppState> for Reporter {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_some_and(|t| TokenKind::of(t) == Some(TokenKind::Device)) {
            Device::from_request_parts(parts, state)
                .await
                .map(Self::Device)
        } else {
            Principal::from_request_parts(parts, state)
                .await
                .map(|p| Self::User(Box::new(p)))
        }
    }
}
