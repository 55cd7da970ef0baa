//! The one error type of the HTTP API: every failure answers `{"error": {code, message, details}}`.
//!
//! Internal causes are logged here and never sent to the client (no SQL, no stack traces).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

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
    /// Missing or wrong credentials (401).
    #[error("{0}")]
    Unauthorized(String),
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

    /// A 404 with a code and a message.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// A database failure: 503 when the database cannot be reached, 500 otherwise.
    pub fn from_db(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::warn!(error = %e, "database unavailable");
                Self::Unavailable {
                    code: "database_unavailable",
                    message: "the database is not reachable; try again shortly".into(),
                }
            }
            other => Self::Internal(anyhow::Error::new(other)),
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
            Self::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized", m.clone(), empty()),
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = ?cause, "internal error");
        }
        let (status, code, message, details) = self.parts();
        let mut resp = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code: code.to_owned(),
                    message,
                    details,
                },
            }),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
        resp
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
    JsonRejection => "invalid_json",
}

/// `Query<T>` whose failures answer in the API's error shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `Path<T>` whose failures answer in the API's error shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
