//! Response headers that harden the web page and the API, and the (off by default) CORS layer.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The page loads only from its own origin: no inline scripts, no inline style markup, no
/// frames. MapLibre's workers start from blob: URLs; sprites and glyphs may be data: URLs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; \
     worker-src 'self' blob:; child-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'; object-src 'none'";

fn set_default(headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str) {
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// Adds the security headers to every response; API answers are never cached unless the
/// route says so (tiles do).
pub async fn headers(hsts: bool, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    set_default(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set_default(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(h, header::X_FRAME_OPTIONS, "DENY");
    set_default(h, header::REFERRER_POLICY, "no-referrer");
    set_default(
        h,
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
    set_default(
        h,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if api {
        set_default(h, header::CACHE_CONTROL, "no-store");
    }
    if hsts {
        set_default(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    resp
}

/// CORS for the listed origins (with credentials), or `None` — the default — for no CORS
/// at all: browsers then refuse cross-origin reads of the API.
#[must_use]
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    if list.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_credentials(true)
            .allow_methods([
                axum::http::Method::GET,
                axum::http::Method::POST,
                axum::http::Method::PATCH,
                axum::http::Method::DELETE,
            ])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]),
    )
}
