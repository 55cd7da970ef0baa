//! Every error answers `{"error": {"code", "message", "details"}}`, including those the
//! framework writes itself: the method router's 405 (here, with `Allow`), a route's time
//! limit (here, 503 with `Retry-After`), and, through [`json_errors`], whatever else answers
//! an error in plain text or with no body — the body limit of a route that reads raw bytes
//! (413), the websocket upgrade's refusals (400, 405, 426).

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{ApiError, ErrorBody, ErrorDetail};

/// Longest plain-text error body kept as the message (axum's rejections are one line).
const MAX_MESSAGE_BYTES: usize = 1024;

/// An error answer in the API's shape.
fn error_response(status: StatusCode, code: &str, message: String, details: Value) -> Response {
    (
        status,
        axum::Json(ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                details,
            },
        }),
    )
        .into_response()
}

/// The method router's answer for a path that exists but not with this method: 405. The router
/// adds `Allow` with the methods the path takes.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}", uri.path()),
        json!({ "method": method.as_str() }),
    )
}

/// Runs the rest of the request within `limit`; past it, answers 503 `timeout` with
/// `Retry-After` (the work is dropped, as a client that gave up would).
pub async fn within(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::Unavailable {
            code: "timeout",
            message: format!(
                "the request took longer than {} s; try again",
                limit.as_secs()
            ),
        }
        .into_response(),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The code an error status answers with when nothing more specific said one.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::UPGRADE_REQUIRED => "upgrade_required",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// Rewrites an error answer that is not JSON into the API's shape, keeping its status, its
/// headers (`Allow`, `Retry-After`, …) and its text as the message. JSON answers (every
/// [`ApiError`]) and successes pass untouched.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(resp.headers()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase()
    } else {
        text
    };
    if status.is_server_error() {
        tracing::warn!(%status, message, "a plain-text error answer was reshaped");
    }
    let mut out = error_response(status, code_of(status), message, json!({}));
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name, value.clone());
        }
    }
    if status == StatusCode::SERVICE_UNAVAILABLE && !out.headers().contains_key(header::RETRY_AFTER)
    {
        out.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    out
}
