//! Sessions in PostGIS: created at login, looked up by token hash on every request, ended by
//! logout, password change, disabling the account, idle time or age.

use std::net::IpAddr;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

use super::token::{TokenKind, hash_token, new_token};
use super::{AuthConfig, Principal, Role, Territory};
use crate::unit_ref::UnitRef;

/// A session as stored, with its user.
#[derive(Debug)]
struct SessionRow {
    id: i64,
    user_id: i64,
    expires_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    idle_timeout_s: i32,
    revoked_at: Option<DateTime<Utc>>,
    username: String,
    display_name: String,
    role: String,
    scope_unit_id: Option<i64>,
    scope_code: Option<String>,
    scope_name: Option<String>,
    scope_level: Option<i16>,
    phone: Option<String>,
    disabled_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
}

/// The outcome of looking a session up.
#[derive(Debug)]
pub enum SessionCheck {
    /// Valid; the user behind it.
    Valid(Box<Principal>),
    /// Past its absolute or idle expiry.
    Expired,
    /// Logged out, revoked by a password change, or the account was disabled.
    Revoked,
    /// No such session.
    Unknown,
}

/// A valid session as last read from the database, trusted from memory for
/// [`AuthConfig::session_cache`](super::AuthConfig::session_cache).
#[derive(Debug)]
pub struct CachedSession {
    principal: Principal,
    /// `last_seen_at` as the database has it now.
    last_seen_at: DateTime<Utc>,
    /// The database's clock when the row was read, and our monotonic clock then: expiry is
    /// decided on the database's time, as on the uncached path.
    db_now: DateTime<Utc>,
    read_at: Instant,
}

impl CachedSession {
    /// The verdict from memory; `None` when the database must be asked (a touch is due).
    fn decide(&self, via_cookie: bool, address: Option<IpAddr>) -> Option<SessionCheck> {
        let elapsed = chrono::Duration::from_std(self.read_at.elapsed()).ok()?;
        let now = self.db_now + elapsed;
        let p = &self.principal;
        let idle_end = self.last_seen_at + chrono::Duration::seconds(i64::from(p.idle_timeout_s));
        if now >= p.expires_at || now >= idle_end {
            return Some(SessionCheck::Expired);
        }
        if now - self.last_seen_at >= chrono::Duration::seconds(TOUCH_EVERY_S) {
            return None;
        }
        Some(SessionCheck::Valid(Box::new(Principal {
            via_cookie,
            address,
            ..p.clone()
        })))
    }
}

/// Requests within this long of the last recorded one do not write `last_seen_at` again.
const TOUCH_EVERY_S: i64 = 60;

/// Creates a session for `user_id`; returns the token (shown once) and the absolute expiry.
///
/// # Errors
///
/// Database failure, or no randomness (as `sqlx::Error::Protocol`).
#[allow(
    clippy::cast_precision_loss,
    reason = "a session's lifetime in seconds, far below 2^52"
)]
pub async fn create_session(
    db: impl PgExecutor<'_>,
    user_id: i64,
    config: &AuthConfig,
    address: Option<IpAddr>,
    user_agent: Option<&str>,
) -> Result<(String, DateTime<Utc>), sqlx::Error> {
    let token = new_token(TokenKind::Session)
        .map_err(|e| sqlx::Error::Protocol(format!("no randomness for a session token: {e}")))?;
    let max_age_s = i64::try_from(config.max_age.as_secs()).unwrap_or(i64::MAX / 2);
    let idle_s = i32::try_from(config.idle_timeout.as_secs().max(1)).unwrap_or(i32::MAX);
    let expires_at = sqlx::query_scalar!(
        "INSERT INTO sessions (token_hash, user_id, expires_at, idle_timeout_s, address, user_agent)
         VALUES ($1, $2, now() + make_interval(secs => $3), $4, $5::text::inet, $6)
         RETURNING expires_at",
        hash_token(&token),
        user_id,
        max_age_s as f64,
        idle_s,
        address.map(|a| a.to_string()),
        user_agent.map(|ua| ua.chars().take(300).collect::<String>()),
    )
    .fetch_one(db)
    .await?;
    Ok((token, expires_at))
}

/// Looks a session token up and decides whether it is valid now; refreshes `last_seen_at`
/// (at most once a minute) when it is. Answered from `cache` while the session's entry is fresh (see
/// [`AuthConfig::session_cache`](super::AuthConfig::session_cache)); a valid answer from the
/// database refreshes the entry.
///
/// # Errors
///
/// Database failure.
pub async fn check_token(
    pool: &PgPool,
    cache: Option<&moka::future::Cache<Vec<u8>, Arc<CachedSession>>>,
    token: &str,
    via_cookie: bool,
    address: Option<IpAddr>,
) -> Result<SessionCheck, sqlx::Error> {
    let hash = hash_token(token);
    if let Some(cache) = cache
        && let Some(entry) = cache.get(&hash).await
    {
        match entry.decide(via_cookie, address) {
            Some(SessionCheck::Valid(p)) => return Ok(SessionCheck::Valid(p)),
            // Expired (or a touch is due): the database decides and says why.
            _ => cache.invalidate(&hash).await,
        }
    }
    let read_at = Instant::now();
    let row = sqlx::query_as!(
        SessionRow,
        r#"SELECT s.id, s.user_id, s.expires_at, s.last_seen_at, s.idle_timeout_s, s.revoked_at,
                  u.username, u.display_name, u.role, u.scope_unit_id,
                  su.code AS "scope_code?", su.name AS "scope_name?", su.level AS "scope_level?",
                  u.phone, u.disabled_at, now() AS "now!"
           FROM sessions s
           JOIN users u ON u.id = s.user_id
           LEFT JOIN units su ON su.id = u.scope_unit_id
           WHERE s.token_hash = $1"#,
        &hash
    )
    .fetch_optional(pool)
    .await?;
    let seen = row.as_ref().map(|r| (r.now, r.last_seen_at));
    let verdict = conclude(pool, row, via_cookie, address).await?;
    if let (Some(cache), Some((db_now, last_seen)), SessionCheck::Valid(p)) =
        (cache, seen, &verdict)
    {
        // `conclude` touched the row when a touch was due: then it was seen just now.
        let last_seen_at = if db_now - last_seen >= chrono::Duration::seconds(TOUCH_EVERY_S) {
            db_now
        } else {
            last_seen
        };
        let entry = CachedSession {
            principal: (**p).clone(),
            last_seen_at,
            db_now,
            read_at,
        };
        cache.insert(hash, Arc::new(entry)).await;
    }
    Ok(verdict)
}

/// The verdict on a looked-up row; a valid session's use is recorded (at most once a minute,
/// and only then does it cost a second statement).
async fn conclude(
    pool: &PgPool,
    row: Option<SessionRow>,
    via_cookie: bool,
    address: Option<IpAddr>,
) -> Result<SessionCheck, sqlx::Error> {
    let Some(row) = row else {
        return Ok(SessionCheck::Unknown);
    };
    // The row already says when the session was last recorded: write only when that is due,
    // so that a request costs one round trip to the database, not two.
    let touch_due = row.now - row.last_seen_at >= chrono::Duration::seconds(TOUCH_EVERY_S);
    let verdict = decide(row, via_cookie, address);
    if touch_due && let SessionCheck::Valid(p) = &verdict {
        touch_if_due(pool, p.session_id).await?;
    }
    Ok(verdict)
}

fn decide(row: SessionRow, via_cookie: bool, address: Option<IpAddr>) -> SessionCheck {
    if row.revoked_at.is_some() || row.disabled_at.is_some() {
        return SessionCheck::Revoked;
    }
    let idle_end = row.last_seen_at + chrono::Duration::seconds(i64::from(row.idle_timeout_s));
    if row.now >= row.expires_at || row.now >= idle_end {
        return SessionCheck::Expired;
    }
    let Some(role) = Role::parse(&row.role) else {
        return SessionCheck::Revoked;
    };
    // A scoped user whose scope root vanished sees nothing rather than everything.
    if row.scope_unit_id.is_some() && row.scope_code.is_none() {
        return SessionCheck::Revoked;
    }
    let scope_unit = UnitRef::of_row(row.scope_code, row.scope_name, row.scope_level);
    SessionCheck::Valid(Box::new(Principal {
        user_id: row.user_id,
        username: row.username,
        display_name: row.display_name,
        role,
        territory: Territory::rooted_at(row.scope_unit_id),
        scope_unit,
        phone: row.phone,
        session_id: row.id,
        expires_at: row.expires_at,
        idle_timeout_s: row.idle_timeout_s,
        via_cookie,
        address,
    }))
}

#[allow(clippy::cast_precision_loss, reason = "a few seconds, far below 2^52")]
async fn touch_if_due(pool: &PgPool, session_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE sessions SET last_seen_at = now()
         WHERE id = $1 AND last_seen_at < now() - make_interval(secs => $2)",
        session_id,
        TOUCH_EVERY_S as f64,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether a session is still usable, for long-lived connections; counts as activity.
///
/// # Errors
///
/// Database failure.
pub async fn recheck(pool: &PgPool, session_id: i64) -> Result<SessionCheck, sqlx::Error> {
    let row = sqlx::query_as!(
        SessionRow,
        r#"SELECT s.id, s.user_id, s.expires_at, s.last_seen_at, s.idle_timeout_s, s.revoked_at,
                  u.username, u.display_name, u.role, u.scope_unit_id,
                  su.code AS "scope_code?", su.name AS "scope_name?", su.level AS "scope_level?",
                  u.phone, u.disabled_at, now() AS "now!"
           FROM sessions s
           JOIN users u ON u.id = s.user_id
           LEFT JOIN units su ON su.id = u.scope_unit_id
           WHERE s.id = $1"#,
        session_id
    )
    .fetch_optional(pool)
    .await?;
    conclude(pool, row, false, None).await
}

/// Ends one session (logout). Returns whether it was open.
///
/// # Errors
///
/// Database failure.
pub async fn revoke_session(
    db: impl PgExecutor<'_>,
    session_id: i64,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE sessions SET revoked_at = now(), revoke_reason = $2
         WHERE id = $1 AND revoked_at IS NULL",
        session_id,
        reason
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends every open session of a user (password change, disabled). Returns how many.
///
/// # Errors
///
/// Database failure.
pub async fn revoke_user_sessions(
    db: impl PgExecutor<'_>,
    user_id: i64,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE sessions SET revoked_at = now(), revoke_reason = $2
         WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        reason
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes sessions that ended more than `keep_days` ago (they only matter for the audit log,
/// which has its own rows).
///
/// # Errors
///
/// Database failure.
pub async fn purge_old(pool: &PgPool, keep_days: i32) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM sessions
         WHERE greatest(expires_at, coalesce(revoked_at, expires_at))
               < now() - make_interval(days => $1)",
        keep_days
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
