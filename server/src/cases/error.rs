//! What can go wrong with a case; the HTTP layer maps each to its status code in one place.

use serde_json::{Value, json};

use crate::hierarchy::NotLoaded;

/// A refused or failed case operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such case in the caller's territory; answered like one that does not exist.
    #[error("no case {0} in your territory")]
    NotFound(i64),
    /// The input is refused: an unknown category, a position outside the territory, a worker
    /// who cannot take the case. `details` names the field.
    #[error("{message}")]
    Refused {
        /// Stable code, e.g. `unknown_category`.
        code: &'static str,
        /// For people.
        message: String,
        /// For programs: the field and what else helps.
        details: Value,
    },
    /// The caller's part on this case does not allow the action.
    #[error("{0}")]
    Forbidden(String),
    /// The case is not in a state for this, or changed since the caller read it.
    #[error("{message}")]
    Conflict {
        /// Stable code, e.g. `version_conflict`, `illegal_transition`.
        code: &'static str,
        /// For people.
        message: String,
        /// For programs: the current version and status, the actions allowed.
        details: Value,
    },
    /// No hierarchy to locate the case in.
    #[error(transparent)]
    NoHierarchy(#[from] NotLoaded),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// A bug: a stored value that cannot be, a row gone inside its own transaction.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// A refusal naming the field.
    pub fn refused(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        Self::Refused {
            code,
            message: message.into(),
            details: json!({ "field": field }),
        }
    }
}

/// Result of a case operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
