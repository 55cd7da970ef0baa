//! What can go wrong computing coverage; the HTTP layer maps each to its status code.

use serde_json::Value;

/// A refused or failed coverage query.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query asks for more than is answered at once (e.g. too many cells to list).
    #[error("{message}")]
    Refused {
        /// Stable code, e.g. `too_many_cells`.
        code: &'static str,
        /// For people.
        message: String,
        /// For programs: the parameter.
        details: Value,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// A bug: a stored bitmap that cannot be, a computation thread that died.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Result of a coverage query.
pub type Result<T, E = Error> = std::result::Result<T, E>;
