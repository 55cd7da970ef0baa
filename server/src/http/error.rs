//! The one error type of the HTTP API: every failure answers `{"error": {code, message, details}}`.
//!
//! Internal causes are logged here and never sent to the client (no SQL, no stack traces).

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::repeats::Repeats;

/// An API failure with its HTTP status and a stable machine-readable code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter, path segment or body field is malformed or out of range (400).
    #[error("{message}")]
    BadRequest {
        /// Stable code, e.g. `invalid_parameter`.
        code: &'static str,
        /// For people.
        message: String,
        /// For programs: which parameter, what was given.
        details: Value,
    },
    /// Nothing there (404).
    #[error("{message}")]
    NotFound {
        /// Stable code, e.g. `unit_not_found`.
        code: &'static str,
        /// For people.
        message: String,
        /// For programs.
        details: Value,
    },
    /// The request is well-formed but its content is refused (422), e.g. an invalid hierarchy.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// For people.
        message: String,
        /// For programs: the list of problems.
        details: Value,
    },
    /// Missing, wrong, expired or revoked credentials (401).
    #[error("{message}")]
    Unauthorized {
        /// Stable code: `unauthorized`, `invalid_credentials`, `session_expired`, …
        code: &'static str,
        /// For people.
        message: String,
    },
    /// Too many attempts (429, with `Retry-After`).
    #[error("{message}")]
    TooManyRequests {
        /// Stable code, e.g. `too_many_attempts`.
        code: &'static str,
        /// For people.
        message: String,
        /// When to try again, seconds.
        retry_after_s: u64,
    },
    /// The request conflicts with what is stored (409), e.g. a taken username.
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// For people.
        message: String,
        /// For programs.
        details: Value,
    },
    /// The body is not in a format the route reads (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Not allowed here (403).
    #[error("{0}")]
    Forbidden(String),
    /// The body is larger than the route accepts (413).
    #[error("the request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit_bytes: usize,
    },
    /// A dependency is not ready (503), e.g. no hierarchy imported yet or the database is down.
    #[error("{message}")]
    Unavailable {
        /// Stable code.
        code: &'static str,
        /// For people.
        message: String,
    },
    /// A bug or an unexpected failure; logged, answered as 500 without the cause.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Structured details (which parameter, the list of problems, …); `{}` when none.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl ApiError {
    /// A 400 naming the parameter and the value that was wrong.
    pub fn invalid_param(name: &str, value: impl Into<Value>, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "invalid_parameter",
            message: message.into(),
            details: serde_json::json!({ "parameter": name, "value": value.into() }),
        }
    }

    /// A 400 for a body that is not JSON at all, with the parser's reason.
    #[must_use]
    pub fn invalid_json(e: &serde_json::Error) -> Self {
        Self::BadRequest {
            code: "invalid_json",
            message: format!("the body is not valid JSON: {e}"),
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// A 404 with a code and a message.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// A 401 with a code and a message.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            message: message.into(),
        }
    }

    /// A 422 with a code and a message, naming the field in `details`.
    pub fn unprocessable(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
            details: serde_json::json!({ "field": field }),
        }
    }

    /// A 409 with a code and a message.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// A database failure: 503 when the database is unavailable (`db::is_unavailable`: any
    /// connection-class error), 500 otherwise.
    #[must_use]
    pub fn from_db(e: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&e) {
            crate::db::outage::warn("answering 503", &e);
            Self::unavailable_db()
        } else {
            Self::Internal(anyhow::Error::new(e))
        }
    }

    /// 503: the database cannot be reached.
    #[must_use]
    pub fn unavailable_db() -> Self {
        Self::Unavailable {
            code: "database_unavailable",
            message: "the database is not reachable; try again shortly".into(),
        }
    }

    fn parts(&self) -> (StatusCode, &str, String, Value) {
        let empty = || Value::Object(serde_json::Map::new());
        match self {
            Self::BadRequest {
                code,
                message,
                details,
            } => (
                StatusCode::BAD_REQUEST,
                code,
                message.clone(),
                details.clone(),
            ),
            Self::NotFound {
                code,
                message,
                details,
            } => (
                StatusCode::NOT_FOUND,
                code,
                message.clone(),
                details.clone(),
            ),
            Self::Unprocessable {
                code,
                message,
                details,
            } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                message.clone(),
                details.clone(),
            ),
            Self::Unauthorized { code, message } => {
                (StatusCode::UNAUTHORIZED, code, message.clone(), empty())
            }
            Self::TooManyRequests {
                code,
                message,
                retry_after_s,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                code,
                message.clone(),
                serde_json::json!({ "retry_after_s": retry_after_s }),
            ),
            Self::Conflict {
                code,
                message,
                details,
            } => (StatusCode::CONFLICT, code, message.clone(), details.clone()),
            Self::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                m.clone(),
                empty(),
            ),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone(), empty()),
            Self::PayloadTooLarge { limit_bytes } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                self.to_string(),
                serde_json::json!({ "limit_bytes": limit_bytes }),
            ),
            Self::Unavailable { code, message } => (
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                message.clone(),
                empty(),
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal server error".into(),
                empty(),
            ),
        }
    }
}

/// Database failures through `?`: see [`ApiError::from_db`].
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::from_db(e)
    }
}

/// Internal errors logged: five per 10 s, then a count (one bug hit by every request must not
/// flood the log).
static INTERNAL_LOGGED: Repeats = Repeats::new(Duration::from_secs(10), 5);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = match self {
            // A database outage that reached here inside another error is still an outage.
            Self::Internal(cause) if crate::db::is_unavailable_chain(cause.as_ref()) => {
                if let Some(left_out) = INTERNAL_LOGGED.admit() {
                    tracing::warn!("database unavailable; answering 503: {cause:#}{left_out}");
                }
                Self::unavailable_db()
            }
            Self::Internal(cause) => {
                // The chain on one line (`{:#}`), never `{:?}`: with RUST_BACKTRACE set that
                // resolves and prints anyhow's backtrace, hundreds of lines per request.
                if let Some(left_out) = INTERNAL_LOGGED.admit() {
                    tracing::error!("internal error: {cause:#}{left_out}");
                }
                Self::Internal(cause)
            }
            other => other,
        };
        this.respond()
    }
}

impl ApiError {
    fn respond(self) -> Response {
        let (status, code, message, details) = self.parts();
        let mut resp = (
            status,
            axum::Json(ErrorBody {
                error: ErrorDetail {
                    code: code.to_owned(),
                    message,
                    details,
                },
            }),
        )
            .into_response();
        let headers = resp.headers_mut();
        match &self {
            Self::Unavailable { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::TooManyRequests { retry_after_s, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
            }
            Self::Unauthorized { .. } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"gridwall\""),
                );
            }
            _ => {}
        }
        resp
    }
}

/// The domain errors, each mapped to its answer here and nowhere else.
impl From<crate::hierarchy::NotLoaded> for ApiError {
    fn from(e: crate::hierarchy::NotLoaded) -> Self {
        Self::Unavailable {
            code: "hierarchy_not_loaded",
            message: e.to_string(),
        }
    }
}

impl From<crate::auth::Error> for ApiError {
    fn from(e: crate::auth::Error) -> Self {
        use crate::auth::Error as E;
        match e {
            E::Unauthorized { code, message } => Self::Unauthorized { code, message },
            E::Forbidden(m) => Self::Forbidden(m),
            E::TooManyRequests {
                code,
                message,
                retry_after_s,
            } => Self::TooManyRequests {
                code,
                message,
                retry_after_s,
            },
            E::Db(e) => Self::from_db(e),
        }
    }
}

impl From<crate::cases::Error> for ApiError {
    fn from(e: crate::cases::Error) -> Self {
        use crate::cases::Error as E;
        match e {
            E::NotFound(_) => Self::not_found("case_not_found", e.to_string()),
            E::Refused {
                code,
                message,
                details,
            } => Self::Unprocessable {
                code,
                message,
                details,
            },
            E::Forbidden(m) => Self::Forbidden(m),
            E::Conflict {
                code,
                message,
                details,
            } => Self::Conflict {
                code,
                message,
                details,
            },
            E::NoHierarchy(e) => e.into(),
            E::Db(e) => Self::from_db(e),
            E::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<crate::coverage::Error> for ApiError {
    fn from(e: crate::coverage::Error) -> Self {
        use crate::coverage::Error as E;
        match e {
            E::Refused {
                code,
                message,
                details,
            } => Self::Unprocessable {
                code,
                message,
                details,
            },
            E::Db(e) => Self::from_db(e),
            E::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<crate::ingest::Error> for ApiError {
    fn from(e: crate::ingest::Error) -> Self {
        use crate::ingest::Error as E;
        match e {
            E::InvalidJson(e) => Self::invalid_json(&e),
            E::InvalidBody => Self::BadRequest {
                code: "invalid_body",
                message: e.to_string(),
                details: Value::Object(serde_json::Map::new()),
            },
            E::BatchTooLarge(_) => {
                Self::unprocessable("batch_too_large", "positions", e.to_string())
            }
            E::InvalidCrs(_) => Self::unprocessable("invalid_crs", "crs", e.to_string()),
            E::MissingDeviceId => Self::unauthorized("missing_device_id", e.to_string()),
            E::Rejected(r) => Self::Unprocessable {
                code: r.code,
                message: r.message,
                details: Value::Object(serde_json::Map::new()),
            },
            E::FixTooOld => Self::unprocessable("too_old", "timestamp", e.to_string()),
            E::ResourceGone => Self::unauthorized("unknown_device", e.to_string()),
            E::TrackBufferFull { .. } => Self::Unavailable {
                code: "track_buffer_full",
                message: e.to_string(),
            },
            E::NotDurableYet => Self::Unavailable {
                code: "not_durable_yet",
                message: e.to_string(),
            },
            E::TrackRefused => Self::Internal(anyhow::Error::new(e)),
            E::Db(e) => Self::from_db(e),
        }
    }
}

/// axum's extractor rejections answer 400 in our shape, with axum's message.
macro_rules! rejection_to_bad_request {
    ($($rejection:ty => $code:literal),* $(,)?) => {$(
        impl From<$rejection> for ApiError {
            fn from(r: $rejection) -> Self {
                Self::BadRequest {
                    code: $code,
                    message: r.body_text(),
                    details: Value::Object(serde_json::Map::new()),
                }
            }
        }
    )*};
}

rejection_to_bad_request! {
    QueryRejection => "invalid_query",
    PathRejection => "invalid_path",
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType(
                "the body must be JSON with Content-Type: application/json".into(),
            ),
            JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge {
                    limit_bytes: crate::http::MAX_JSON_BODY_BYTES,
                }
            }
            other => Self::BadRequest {
                code: "invalid_json",
                // serde's message names the field: "unknown field `x`, expected one of …".
                message: other.body_text(),
                details: Value::Object(serde_json::Map::new()),
            },
        }
    }
}

/// The extractors whose failures (and NULs) answer in this shape.
pub use super::input::{Json, Path, Query};

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// How many problems a refused import lists in its answer (`details.total` counts all).
const MAX_LISTED_PROBLEMS: usize = 500;

/// A refused file answers 400, refused features 422 with the problems; nothing was changed.
impl From<crate::import::Error> for ApiError {
    fn from(e: crate::import::Error) -> Self {
        use crate::import::Error;
        match e {
            Error::Parse(crate::import::ParseError::TooLarge { limit_bytes }) => {
                Self::PayloadTooLarge { limit_bytes }
            }
            Error::Parse(p) => Self::BadRequest {
                code: "invalid_hierarchy_file",
                message: p.to_string(),
                details: serde_json::json!({}),
            },
            Error::Invalid(problems) => Self::Unprocessable {
                code: "invalid_hierarchy",
                message: format!(
                    "the hierarchy was refused ({} problem(s)); nothing was changed",
                    problems.len()
                ),
                // A broken file can have a problem per feature: list the first ones only.
                details: serde_json::json!({
                    "problems": &problems[..problems.len().min(MAX_LISTED_PROBLEMS)],
                    "total": problems.len(),
                }),
            },
            Error::Db(db) => Self::from_db(db),
            cover @ Error::CoverTask(_) => Self::Internal(cover.into()),
        }
    }
}
