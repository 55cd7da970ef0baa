//! Helpers shared by the server's integration tests: a small synthetic hierarchy, the app on a
//! fresh PostGIS database, and requests through the router in-process.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, reason = "test helpers")]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use gridwall_server::auth::AuthConfig;
use gridwall_server::live::LiveConfig;
use gridwall_server::{AppState, cli, http};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt as _;

/// The session token of the admin every test app starts with (`send` uses it unless the
/// request carries its own credentials; `send_anon` sends none).
pub const TOKEN: &str = "gws_test-admin-session-token";
/// Login name of that admin.
pub const ADMIN: &str = "test-admin";

/// A closed rectangle ring, [lng, lat] positions.
pub fn rect(w: f64, s: f64, e: f64, n: f64) -> Value {
    json!([[[w, s], [e, s], [e, n], [w, n], [w, s]]])
}

/// A GeoJSON Feature of the import format.
#[allow(
    clippy::needless_pass_by_value,
    reason = "callers build the coordinates with json! in the call"
)]
pub fn feature(code: &str, name: &str, level: &str, parent: Option<&str>, coords: Value) -> Value {
    json!({
        "type": "Feature",
        "properties": {"code": code, "name": name, "level": level, "parent": parent},
        "geometry": {"type": "Polygon", "coordinates": coords}
    })
}

/// A small exact partition: county 320999 = [120.0, 120.2] × [32.0, 32.2]; two townships
/// (west, east), each two villages (south, north), each three grids (vertical strips).
pub fn features() -> Vec<Value> {
    let mut out = vec![feature(
        "320999",
        "测试区",
        "county",
        None,
        rect(120.0, 32.0, 120.2, 32.2),
    )];
    for t in 0..2 {
        let tw = 120.0 + 0.1 * f64::from(t);
        let tcode = format!("320999{:03}", t + 1);
        out.push(feature(
            &tcode,
            &format!("测试{}镇", t + 1),
            "township",
            Some("320999"),
            rect(tw, 32.0, tw + 0.1, 32.2),
        ));
        for v in 0..2 {
            let vs = 32.0 + 0.1 * f64::from(v);
            let vcode = format!("{tcode}{:03}", v + 1);
            out.push(feature(
                &vcode,
                &format!("测试{}村", v + 1),
                "village",
                Some(&tcode),
                rect(tw, vs, tw + 0.1, vs + 0.1),
            ));
            for g in 0..3 {
                let gw = tw + 0.1 * f64::from(g) / 3.0;
                let ge = if g == 2 {
                    tw + 0.1
                } else {
                    tw + 0.1 * f64::from(g + 1) / 3.0
                };
                out.push(feature(
                    &format!("{vcode}{:03}", g + 1),
                    &format!("测试{}村第{}网格", v + 1, g + 1),
                    "grid",
                    Some(&vcode),
                    rect(gw, vs, ge, vs + 0.1),
                ));
            }
        }
    }
    out
}

/// Wraps features in a FeatureCollection.
#[allow(
    clippy::needless_pass_by_value,
    reason = "callers build the features in the call"
)]
pub fn collection(features: Vec<Value>) -> Value {
    json!({"type": "FeatureCollection", "features": features})
}

/// The app on `pool` (migrated by `#[sqlx::test]`), with the hierarchy loaded if any, and an
/// admin whose session token is [`TOKEN`].
pub async fn app(pool: PgPool) -> (Router, AppState) {
    app_with(pool, AuthConfig::default()).await
}

/// [`app`] with a given session and login policy.
pub async fn app_with(pool: PgPool, auth: AuthConfig) -> (Router, AppState) {
    app_full(pool, auth, LiveConfig::default()).await
}

/// [`app`] with given auth and live settings.
pub async fn app_full(pool: PgPool, auth: AuthConfig, live: LiveConfig) -> (Router, AppState) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn,gridwall_server=info")
        .with_test_writer()
        .try_init();
    ensure_admin(&pool).await;
    let state = cli::state(pool, 16, auth, live).await.unwrap();
    (http::app(state.clone(), None), state)
}

/// The test admin and its session with the well-known token (idempotent).
pub async fn ensure_admin(pool: &PgPool) {
    sqlx::query(
        "INSERT INTO users (username, display_name, role, password_hash)
         VALUES ($1, '测试管理员', 'admin', 'not-a-hash') ON CONFLICT DO NOTHING",
    )
    .bind(ADMIN)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, expires_at, idle_timeout_s)
         SELECT $1, id, now() + interval '1 day', 86400 FROM users WHERE username = $2
         ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(gridwall_server::auth::hash_token(TOKEN))
    .bind(ADMIN)
    .execute(pool)
    .await
    .unwrap();
}

/// Sends a request through the router as the test admin (unless it carries its own
/// `Authorization` or `Cookie`); returns status, headers and body bytes.
pub async fn send(
    app: &Router,
    mut req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let h = req.headers_mut();
    if !h.contains_key(header::AUTHORIZATION) && !h.contains_key(header::COOKIE) {
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {TOKEN}").parse().unwrap(),
        );
    }
    send_anon(app, req).await
}

/// Sends a request exactly as given (no credentials added).
pub async fn send_anon(
    app: &Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, headers, body)
}

/// Sends JSON with a bearer token (`None`: no credentials); parses the answer (`null` when
/// the body is empty).
pub async fn json_as(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let (status, _, bytes) = send_anon(app, req).await;
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {uri}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    (status, value)
}

/// GET and parse the JSON answer.
pub async fn get_json(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, value)
}

/// POST a hierarchy through the admin route.
pub async fn post_hierarchy(app: &Router, body: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::post("/api/admin/hierarchy")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/geo+json")
        .body(Body::from(body))
        .unwrap();
    let (status, _, body) = send(app, req).await;
    (status, serde_json::from_slice(&body).unwrap())
}

/// Asserts the JSON error shape and returns (code, message, details).
pub fn error_parts(v: &Value) -> (String, String, Value) {
    let e = v
        .get("error")
        .unwrap_or_else(|| panic!("no error object in {v}"));
    let code = e["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {v}"));
    let message = e["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {v}"));
    assert!(e.get("details").is_some(), "no details in {v}");
    (code.to_owned(), message.to_owned(), e["details"].clone())
}

/// A user with `role` scoped to the unit `scope` (code; `None` = everything) and a session;
/// returns the session token. Fast: no password hashing (the account cannot log in).
pub async fn user_with_session(
    pool: &PgPool,
    username: &str,
    role: &str,
    scope: Option<&str>,
) -> String {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, display_name, role, scope_unit_id, password_hash, phone)
         VALUES ($1, $1, $2, (SELECT id FROM units WHERE code = $3), 'not-a-hash', '13812345678')
         RETURNING id",
    )
    .bind(username)
    .bind(role)
    .bind(scope)
    .fetch_one(pool)
    .await
    .unwrap();
    let token = format!("gws_test-{username}-{id}");
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, expires_at, idle_timeout_s)
         VALUES ($1, $2, now() + interval '1 day', 86400)",
    )
    .bind(gridwall_server::auth::hash_token(&token))
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
    token
}
