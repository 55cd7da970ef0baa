//! Login throttling in PostGIS (shared by every server instance). Failures are counted in a
//! window under three keys, each with its own ceiling; past one, that key is locked for a while,
//! and a locked key answers 429 whatever the password:
//!
//! - the account and the address together (`pair:`, low ceiling): guessing one account's
//!   password from one place stops quickly, and locks out nobody else;
//! - the address alone (`addr:`): one place trying many accounts;
//! - the account alone (`user:`, a much higher ceiling): guessing spread over many addresses.
//!
//! So a stranger who fails at a dispatcher's name locks only themself out of that account; the
//! account as a whole is locked only when many addresses fail at it.

use std::net::IpAddr;

use sqlx::PgPool;

use super::AuthConfig;

/// The keys one login attempt counts against.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    /// `pair:<name>@<address>`.
    pair: String,
    /// `user:<name>`.
    user: String,
    /// `addr:<address>`, when the address is known.
    address: Option<String>,
}

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleDecision {
    /// Go ahead.
    Allowed,
    /// Locked; try again after this many seconds.
    Locked {
        /// Seconds until the lock ends (at least 1).
        retry_after_s: u64,
    },
}

fn secs(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

impl LoginThrottle {
    /// The keys for a user name (case-insensitive) and an address. A name holding a NUL (which
    /// a key cannot) counts with the NUL shown as U+FFFD.
    #[must_use]
    pub fn new(username: &str, address: Option<IpAddr>) -> Self {
        let name = crate::text::visible(username).to_lowercase();
        let place = address.map_or_else(|| "-".to_owned(), |a| a.to_string());
        Self {
            pair: format!("pair:{name}@{place}"),
            user: format!("user:{name}"),
            address: address.map(|a| format!("addr:{a}")),
        }
    }

    fn keys(&self) -> Vec<String> {
        let mut keys = vec![self.pair.clone(), self.user.clone()];
        keys.extend(self.address.clone());
        keys
    }

    /// Whether any of the keys is locked now.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn check(&self, pool: &PgPool) -> Result<ThrottleDecision, sqlx::Error> {
        let remaining = sqlx::query_scalar!(
            r#"SELECT max(extract(epoch FROM locked_until - now()))::float8 AS "s"
               FROM login_throttle WHERE key = ANY($1) AND locked_until > now()"#,
            &self.keys()
        )
        .fetch_one(pool)
        .await?;
        Ok(match remaining {
            Some(s) if s > 0.0 => ThrottleDecision::Locked {
                retry_after_s: retry_after(s),
            },
            _ => ThrottleDecision::Allowed,
        })
    }

    /// Counts a failed attempt against every key; returns the decision for the next attempt.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn fail(
        &self,
        pool: &PgPool,
        config: &AuthConfig,
    ) -> Result<ThrottleDecision, sqlx::Error> {
        let mut locked_for: Option<f64> = None;
        let limits = [
            (
                Some(self.pair.clone()),
                config.max_failures_per_user_address,
            ),
            (Some(self.user.clone()), config.max_failures_per_user),
            (self.address.clone(), config.max_failures_per_address),
        ];
        for (key, limit) in limits {
            let Some(key) = key else { continue };
            let s = sqlx::query_scalar!(
                r#"INSERT INTO login_throttle AS t (key, failures, first_failure_at)
                   VALUES ($1, 1, now())
                   ON CONFLICT (key) DO UPDATE SET
                     failures = CASE WHEN t.first_failure_at < now() - make_interval(secs => $2)
                                     THEN 1 ELSE t.failures + 1 END,
                     first_failure_at = CASE
                         WHEN t.first_failure_at < now() - make_interval(secs => $2)
                         THEN now() ELSE t.first_failure_at END
                   RETURNING failures"#,
                key,
                secs(config.throttle_window),
            )
            .fetch_one(pool)
            .await?;
            if s >= limit {
                sqlx::query!(
                    "UPDATE login_throttle
                     SET locked_until = now() + make_interval(secs => $2),
                         failures = 0, first_failure_at = now()
                     WHERE key = $1",
                    key,
                    secs(config.lockout),
                )
                .execute(pool)
                .await?;
                locked_for = Some(secs(config.lockout));
            }
        }
        Ok(
            locked_for.map_or(ThrottleDecision::Allowed, |s| ThrottleDecision::Locked {
                retry_after_s: retry_after(s),
            }),
        )
    }

    /// A successful login forgives this address's failures at this account (not the account's
    /// failures from elsewhere, nor the address's at other accounts).
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn succeed(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        sqlx::query!("DELETE FROM login_throttle WHERE key = $1", self.pair)
            .execute(pool)
            .await?;
        Ok(())
    }
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a positive number of seconds well below u64::MAX"
)]
fn retry_after(s: f64) -> u64 {
    (s.ceil() as u64).max(1)
}
