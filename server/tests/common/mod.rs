//! Helpers shared by the server's integration tests: a small synthetic hierarchy, the app on a
//! fresh PostGIS database, and requests through the router in-process.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, reason = "test helpers")]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use gridwall_server::{AppState, cli, http};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt as _;

/// The admin token the test state accepts.
pub const TOKEN: &str = "test-admin-token";

/// A closed rectangle ring, [lng, lat] positions.
pub fn rect(w: f64, s: f64, e: f64, n: f64) -> Value {
    json!([[[w, s], [e, s], [e, n], [w, n], [w, s]]])
}

/// A GeoJSON Feature of the import format.
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
pub fn collection(features: Vec<Value>) -> Value {
    json!({"type": "FeatureCollection", "features": features})
}

/// The app on `pool` (migrated by `#[sqlx::test]`), with the hierarchy loaded if any.
pub async fn app(pool: PgPool) -> (Router, AppState) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn,gridwall_server=info")
        .with_test_writer()
        .try_init();
    let state = cli::state(pool, 16, Some(TOKEN.into())).await;
    (http::app(state.clone(), None), state)
}

/// Sends a request through the router; returns status, headers and body bytes.
pub async fn send(
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
