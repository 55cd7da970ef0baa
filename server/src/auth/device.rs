//! Credentials as the server knows them, apart from how a request carries them (that is
//! `http::extract`): the session cookie, a phone's device token, who reports positions.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderValue;
use chrono::{DateTime, Utc};

use super::token::{TokenKind, hash_token};
use super::{AuthState, Error};

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

/// Where a request came from: the peer address, or behind a trusted proxy the last
/// `X-Forwarded-For` entry.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

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

/// The device of a device token: from memory when seen lately, else from the database.
///
/// # Errors
///
/// [`Error::Unauthorized`] for a token that is not a device token, unknown or revoked;
/// database failures.
pub async fn authenticate_device(
    auth: &AuthState,
    pool: &sqlx::PgPool,
    token: &str,
    address: Option<IpAddr>,
) -> Result<Device, Error> {
    if TokenKind::of(token) != Some(TokenKind::Device) {
        return Err(Error::unauthorized(
            "invalid_token",
            "this route takes a device token (gwd_…), not a session",
        ));
    }
    let hash = hash_token(token);
    let record = if let Some(r) = auth.devices.get(&hash).await {
        r
    } else {
        let record = Arc::new(DeviceRecord::load(pool, &hash).await?.ok_or_else(|| {
            Error::unauthorized("invalid_token", "this device token is not known")
        })?);
        auth.devices.insert(hash, Arc::clone(&record)).await;
        record
    };
    if record.revoked {
        return Err(Error::unauthorized(
            "device_revoked",
            "this device token was revoked; ask the command center for a new one",
        ));
    }
    Ok(Device {
        device_id: record.device_id,
        label: record.label.clone(),
        resource_id: record.resource_id,
        resource_kind: record.resource_kind.clone(),
        resource_name: record.resource_name.clone(),
        created_at: record.created_at,
        address,
    })
}

/// A device token as the database knows it (cached in [`AuthState::devices`]).
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
