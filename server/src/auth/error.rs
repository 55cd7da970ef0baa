//! Why credentials or a role were refused; the HTTP layer answers 401, 403 or 429 for them.

/// A refused credential or role.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing, wrong, expired or revoked credentials.
    #[error("{message}")]
    Unauthorized {
        /// Stable code: `unauthorized`, `invalid_token`, `device_revoked`, …
        code: &'static str,
        /// For people.
        message: String,
    },
    /// The credential is good but may not do this (a role that is not enough).
    #[error("{0}")]
    Forbidden(String),
    /// Too many failed attempts from one address lately: it waits before it may try again.
    #[error("{message}")]
    TooManyRequests {
        /// Stable code, e.g. `too_many_unknown_devices`.
        code: &'static str,
        /// For people.
        message: String,
        /// When to try again, seconds.
        retry_after_s: u64,
    },
    /// The database failed while checking.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Error {
    /// A refused credential.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            message: message.into(),
        }
    }
}
