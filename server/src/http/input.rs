//! The extractors that read what a request says: [`Json`] bodies, [`Query`] strings and
//! [`Path`] segments, each into a typed value. Failures answer in the API's error shape, and
//! text holding a NUL is refused here, once for every route (`crate::text` says why), with
//! the field or parameter named: 422 `invalid_text` with `details.field` (and the exact JSON
//! `details.pointer`) for a body, 400 `invalid_text` with `details.parameter` for a query or
//! path parameter.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, MissingJsonContentType};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::text;

/// 422 `invalid_text`: the body holds a NUL at `pointer` (a JSON pointer; `""` is the whole
/// body). `details.field` names the top-level field, as other field errors do, and
/// `details.pointer` the exact place (`/skills/1`).
#[must_use]
pub fn nul_in_field(pointer: &str) -> ApiError {
    let place = pointer.strip_prefix('/').unwrap_or(pointer);
    let field = place.split('/').next().unwrap_or_default();
    let (field, place) = if place.is_empty() {
        ("body", "the body")
    } else {
        (field, place)
    };
    ApiError::Unprocessable {
        code: "invalid_text",
        message: format!("{place} {}", text::NUL_REASON),
        details: json!({ "field": field, "pointer": pointer }),
    }
}

/// 400 `invalid_text`: the query or path parameter `name` holds a NUL.
#[must_use]
pub fn nul_in_param(name: &str) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_text",
        message: format!("parameter {name} {}", text::NUL_REASON),
        details: json!({ "parameter": name }),
    }
}

/// Refuses JSON text holding a NUL anywhere (a string or a key), naming where. Text that is not
/// JSON passes: its parser reports that.
pub fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    if !text::json_may_hold_nul(bytes) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => text::first_nul(&value).map_or(Ok(()), |p| Err(nul_in_field(&p))),
        Err(_) => Ok(()),
    }
}

/// The body as `T`, as [`Json`] reads it (after the content type and size checks).
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_nul_in_json(bytes)?;
    Ok(axum::Json::<T>::from_bytes(bytes)?.0)
}

/// `application/json` or `application/…+json`, parameters allowed (what axum's `Json` takes).
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence
        .split_once('/')
        .is_some_and(|(ty, sub)| ty == "application" && (sub == "json" || sub.ends_with("+json")))
}

/// The body of a JSON request, within the route's body limit.
async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if !json_content_type(req.headers()) {
        return Err(JsonRejection::from(MissingJsonContentType::default()).into());
    }
    Ok(Bytes::from_request(req, state)
        .await
        .map_err(JsonRejection::from)?)
}

/// `Json<T>` whose failures answer in the API's error shape. Request bodies deny unknown
/// fields (`#[serde(deny_unknown_fields)]`), so a misspelt field is an error, not ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        json_body(&json_bytes(req, state).await?).map(Self)
    }
}

/// [`Json`] without the NUL check, for the one route that must see refused text before it
/// refuses it: a login with a NUL in it is still throttled and audited (`http/auth.rs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonKeepingNul<T>(pub T);

impl<T, S> FromRequest<S> for JsonKeepingNul<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state).await?;
        Ok(Self(axum::Json::<T>::from_bytes(&bytes)?.0))
    }
}

/// `Query<T>` whose failures answer in the API's error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(name) = parts.uri.query().and_then(text::first_nul_in_query) {
            return Err(nul_in_param(&name));
        }
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// `Path<T>` whose failures answer in the API's error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if parts.uri.path().contains("%00")
            && let Ok(raw) = RawPathParams::from_request_parts(parts, state).await
            && let Some((name, _)) = raw.iter().find(|(_, v)| text::has_nul(v))
        {
            return Err(nul_in_param(name));
        }
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}
