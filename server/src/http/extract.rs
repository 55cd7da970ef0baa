//! The extractors that read credentials: [`Principal`] (a user's session, from the cookie or
//! `Authorization: Bearer`), [`Device`] (a phone's device token), [`Caller`] (either) and
//! [`ClientAddr`].
//!
//! Handlers that take one of these cannot run without valid credentials; that is the whole
//! enforcement of "logged in". What a credential means is decided in `auth`; here is only how
//! it is read from a request.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};

use crate::auth::{
    self, AuthConfig, Caller, ClientAddr, Device, Principal, SESSION_COOKIE, SessionCheck,
    TokenKind, check_token,
};
use crate::http::ApiError;
use crate::state::AppState;

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
fn client_addr(parts: &Parts, config: &AuthConfig) -> ClientAddr {
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
            return ClientAddr(forwarded);
        }
    }
    ClientAddr(
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
    )
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(client_addr(parts, &state.auth.config))
    }
}

/// A cookie-authenticated request that acts — a write, or a websocket (which browsers open
/// across origins freely) — must come from our own page or a configured CORS origin. Browsers
/// send `Origin` and `Sec-Fetch-Site` on such requests, and SameSite=Strict already keeps the
/// cookie off cross-site requests; this is the second lock on the door. A request without
/// `Origin` (not a browser's) passes.
///
/// Our own origin is scheme, host and port: the scheme is `https` when the cookie is `Secure`
/// (the server is behind HTTPS), else `http`; behind a trusted proxy (`trust_forwarded_for`)
/// the proxy's `X-Forwarded-Proto` and `X-Forwarded-Host` say it, and otherwise those headers
/// are ignored (anyone can send them).
fn cross_site(parts: &Parts, config: &AuthConfig) -> bool {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|v| v.eq_ignore_ascii_case("cross-site")) {
        return true;
    }
    let Some(origin) = header(header::ORIGIN.as_str()) else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if config
        .cors_origins
        .iter()
        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return false;
    }
    let forwarded = |name: &str| {
        config
            .trust_forwarded_for
            .then(|| header(name))
            .flatten()
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    let scheme = forwarded("x-forwarded-proto").unwrap_or(if config.secure_cookies {
        "https"
    } else {
        "http"
    });
    let Some(host) = forwarded("x-forwarded-host").or_else(|| header(header::HOST.as_str())) else {
        return true;
    };
    !origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
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
        let address = client_addr(parts, &state.auth.config).0;
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
        let websocket = parts
            .headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if via_cookie && (unsafe_method || websocket) && cross_site(parts, &state.auth.config) {
            return Err(ApiError::Forbidden(
                "cross-site request refused: writes and websockets with the session cookie must \
                 come from Gridwall's own page or a configured CORS origin"
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

impl FromRequestParts<AppState> for Device {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let address = client_addr(parts, &state.auth.config).0;
        let Some(token) = bearer(parts) else {
            return Err(ApiError::unauthorized(
                "unauthorized",
                "a device token is required: Authorization: Bearer gwd_…",
            ));
        };
        Ok(auth::authenticate_device(&state.auth, &state.pool, token, address).await?)
    }
}

/// A phone's device token or a user's session, whichever the request carries; a worker's
/// account comes with its worker record.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_some_and(|t| TokenKind::of(t) == Some(TokenKind::Device)) {
            let device = Device::from_request_parts(parts, state).await?;
            return Ok(Self::Device(Box::new(device)));
        }
        let principal = Principal::from_request_parts(parts, state).await?;
        Ok(Self::of_session(&state.pool, principal).await?)
    }
}
