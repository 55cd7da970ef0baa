//! Accounts and sessions over real HTTP against real PostGIS: the route table's protection,
//! login and logout (cookie and bearer), throttling, expiry, password changes, account
//! management, device tokens, the audit log and the hardening headers.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use common::{
    ADMIN, TOKEN, collection, error_parts, features, json_as, post_hierarchy, send, send_anon,
};
use gridwall_server::auth::AuthConfig;
use serde_json::{Value, json};
use sqlx::PgPool;

const PASSWORD: &str = "网格化管理-2026-secret";

async fn loaded(pool: &PgPool) -> Router {
    loaded_with(pool, AuthConfig::default()).await
}

async fn loaded_with(pool: &PgPool, config: AuthConfig) -> Router {
    let (app, _) = common::app_with(pool.clone(), config).await;
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    app
}

/// Creates an account through the API as the test admin.
async fn add_user(app: &Router, username: &str, role: &str, scope: Option<&str>) -> i64 {
    let (status, v) = json_as(
        app,
        "POST",
        "/api/users",
        Some(TOKEN),
        Some(json!({
            "username": username, "display_name": format!("{username} 的名字"),
            "role": role, "scope": scope, "phone": "13912345678", "password": PASSWORD
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert!(
        v.get("password").is_none(),
        "a given password is not echoed: {v}"
    );
    v["user"]["id"].as_i64().unwrap()
}

/// A login request from `addr`.
fn login_request(username: &str, password: &str, addr: Option<&str>) -> Request<Body> {
    let mut req = Request::post("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"username": username, "password": password}).to_string(),
        ))
        .unwrap();
    if let Some(a) = addr {
        let a: SocketAddr = a.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(a));
    }
    req
}

async fn login(app: &Router, username: &str, password: &str) -> (StatusCode, Value) {
    let (status, headers, body) = send_anon(app, login_request(username, password, None)).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    if status == StatusCode::TOO_MANY_REQUESTS {
        assert!(headers.contains_key(header::RETRY_AFTER), "{v}");
    }
    (status, v)
}

async fn token_of(app: &Router, username: &str, password: &str) -> String {
    let (status, v) = login(app, username, password).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

/// A value for every path parameter of the route table, so that only authentication decides.
fn concrete(path: &str) -> String {
    path.replace("{code}", "320999")
        .replace("{id}", "1")
        .replace("{z}", "1")
        .replace("{x}", "1")
        .replace("{y}", "1.mvt")
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn every_route_but_health_and_login_needs_a_session(pool: PgPool) {
    let app = loaded(&pool).await;
    // The OpenAPI document is generated from the router's own route list (`http::api`), so a
    // route added without documentation is not served at all, and one added with it is here.
    let doc = serde_json::to_value(gridwall_server::http::openapi()).unwrap();
    let public = [("get", "/api/health"), ("post", "/api/auth/login")];
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let uri = concrete(path);
            let body = if method == "get" || method == "delete" {
                Body::empty()
            } else {
                Body::from("{}")
            };
            let req = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .unwrap();
            let (status, _, bytes) = send_anon(&app, req).await;
            if public.contains(&(method, path.as_str())) {
                assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {uri} is public");
                continue;
            }
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} answered without a session: {}",
                String::from_utf8_lossy(&bytes)
            );
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            let (code, _, _) = error_parts(&v);
            // The OsmAnd protocol's only credential is the device identifier.
            let want = if path == "/api/osmand" {
                "missing_device_id"
            } else {
                "unauthorized"
            };
            assert_eq!(code, want, "{method} {uri}");
            checked += 1;

            // A phone's device token opens nothing but the device routes.
            let phone_routes = [
                "/api/device",
                "/api/positions",
                "/api/osmand",
                "/api/case-categories",
                "/api/cases",
                "/api/cases/{id}",
                "/api/cases/{id}/transition",
                "/api/me/cases",
            ];
            let phone_route =
                phone_routes.contains(&path.as_str()) && !(path == "/api/cases" && method == "get");
            if !phone_route {
                let req = Request::builder()
                    .method(method.to_uppercase().as_str())
                    .uri(&uri)
                    .header(header::AUTHORIZATION, "Bearer gwd_not-a-session")
                    .body(Body::empty())
                    .unwrap();
                let (status, _, bytes) = send_anon(&app, req).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
                let v: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(
                    error_parts(&v).0,
                    "device_token_not_allowed",
                    "{method} {uri}"
                );
            }
        }
    }
    // The walk really walked: the API has well over twenty protected operations.
    assert!(
        checked >= 20,
        "only {checked} protected operations in {doc}"
    );
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn login_me_logout_with_cookie_and_bearer(pool: PgPool) {
    let app = loaded(&pool).await;
    let id = add_user(&app, "Disp.One", "dispatcher", Some("320999001")).await;

    // Login is case-insensitive on the name; the session comes as a cookie and a token.
    let (status, headers, body) = send_anon(&app, login_request("disp.one", PASSWORD, None)).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).unwrap();
    let token = v["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("gws_") && token.len() >= 40, "{token}");
    assert_eq!(v["user"]["id"], id);
    assert_eq!(v["user"]["role"], "dispatcher");
    assert_eq!(v["user"]["scope"]["code"], "320999001");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    for part in ["gridwall_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(cookie.contains(&token), "the cookie holds the same session");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");

    // Stored hashed, never in clear.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE token_hash = $1")
        .bind(token.as_bytes())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    let (status, me) = json_as(&app, "GET", "/api/auth/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "Disp.One");
    assert_eq!(
        me["user"]["phone"], "13912345678",
        "one's own phone in clear"
    );
    assert!(me["session"]["idle_timeout_s"].as_i64().unwrap() > 0);

    let cookie_get = |uri: &str| {
        Request::get(uri)
            .header(header::COOKIE, format!("other=1; gridwall_session={token}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, _) = send_anon(&app, cookie_get("/api/auth/me")).await;
    assert_eq!(status, StatusCode::OK, "the cookie works as well");

    // A write with the cookie from another site is refused even with a valid session.
    let req = Request::post("/api/auth/logout")
        .header(header::COOKIE, format!("gridwall_session={token}"))
        .header(header::ORIGIN, "http://evil.example")
        .header(header::HOST, "wall.local:8080")
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = send_anon(&app, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Logout from our own page: 204, cookie cleared, the token is dead everywhere.
    let req = Request::post("/api/auth/logout")
        .header(header::COOKIE, format!("gridwall_session={token}"))
        .header(header::ORIGIN, "http://wall.local:8080")
        .header(header::HOST, "wall.local:8080")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send_anon(&app, req).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, v) = json_as(&app, "GET", "/api/auth/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_parts(&v).0, "session_revoked");

    // Modes: the browser asks for the cookie only, API clients for the token only.
    let req = Request::post("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"username": "disp.one", "password": PASSWORD, "mode": "cookie"}).to_string(),
        ))
        .unwrap();
    let (status, headers, body) = send_anon(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v.get("token").is_none(), "{v}");
    assert!(headers.contains_key(header::SET_COOKIE));
    let req = Request::post("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"username": "disp.one", "password": PASSWORD, "mode": "bearer"}).to_string(),
        ))
        .unwrap();
    let (status, headers, body) = send_anon(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["token"].is_string());
    assert!(!headers.contains_key(header::SET_COOKIE));

    // Every login and the logout are in the audit log, with the user.
    let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT action, outcome, user_id FROM audit_log WHERE action LIKE 'auth.%' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let actions: Vec<(&str, &str)> = rows
        .iter()
        .map(|(a, o, _)| (a.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("auth.login", "ok"),
            ("auth.logout", "ok"),
            ("auth.login", "ok"),
            ("auth.login", "ok")
        ]
    );
    assert!(rows.iter().all(|r| r.2 == Some(id)));
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn wrong_password_and_unknown_user_look_the_same_then_lock(pool: PgPool) {
    let app = loaded(&pool).await;
    add_user(&app, "op1", "operator", Some("320999001")).await;

    let (s1, wrong) = login(&app, "op1", "not the password").await;
    let (s2, unknown) = login(&app, "nobody", "not the password").await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(wrong, unknown, "the same answer for both");
    assert_eq!(error_parts(&wrong).0, "invalid_credentials");

    // Five failures lock the name (four more here); then even the right password gets 429.
    for _ in 0..3 {
        let (s, _) = login(&app, "op1", "still wrong!").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, v) = login(&app, "op1", "fifth wrong").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    let (s, v) = login(&app, "OP1", PASSWORD).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    let (code, _, details) = error_parts(&v);
    assert_eq!(code, "too_many_attempts");
    let retry = details["retry_after_s"].as_u64().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");

    // The lock ends when its time is up (moved into the past here, not waited for).
    sqlx::query("UPDATE login_throttle SET locked_until = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let (s, v) = login(&app, "op1", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let denied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'auth.login' AND outcome = 'denied'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(denied, 7, "six refused attempts and the locked one");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn one_address_trying_many_names_is_locked(pool: PgPool) {
    let config = AuthConfig {
        max_failures_per_address: 3,
        ..AuthConfig::default()
    };
    let app = loaded_with(&pool, config).await;
    add_user(&app, "op2", "operator", Some("320999001")).await;
    for name in ["a1", "a2"] {
        let (s, _, _) = send_anon(&app, login_request(name, "x", Some("10.1.2.3:5000"))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, h, _) = send_anon(&app, login_request("a3", "x", Some("10.1.2.3:5001"))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key(header::RETRY_AFTER));
    // That address is locked even for a real account; another address is not.
    let (s, _, _) = send_anon(&app, login_request("op2", PASSWORD, Some("10.1.2.3:5002"))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let (s, _, _) = send_anon(&app, login_request("op2", PASSWORD, Some("10.9.9.9:5000"))).await;
    assert_eq!(s, StatusCode::OK);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn sessions_expire_by_age_and_by_idle_time(pool: PgPool) {
    let app = loaded(&pool).await;
    add_user(&app, "leader1", "leader", None).await;
    let absolute = token_of(&app, "leader1", PASSWORD).await;
    let idle = token_of(&app, "leader1", PASSWORD).await;
    for t in [&absolute, &idle] {
        let (s, _) = json_as(&app, "GET", "/api/units/320999", Some(t), None).await;
        assert_eq!(s, StatusCode::OK);
    }
    sqlx::query(
        "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
    )
    .bind(gridwall_server::auth::hash_token(&absolute))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE sessions SET last_seen_at = now() - make_interval(secs => idle_timeout_s + 1)
         WHERE token_hash = $1",
    )
    .bind(gridwall_server::auth::hash_token(&idle))
    .execute(&pool)
    .await
    .unwrap();
    for t in [&absolute, &idle] {
        let (s, v) = json_as(&app, "GET", "/api/units/320999", Some(t), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        assert_eq!(error_parts(&v).0, "session_expired");
    }
    // A forged or unknown token is not a session.
    let (s, v) = json_as(&app, "GET", "/api/auth/me", Some("gws_forged"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(error_parts(&v).0, "invalid_token");
}

/// Sessions trusted from memory (`--session-cache-ms`): a request is answered without the
/// database (a revocation written behind the server's back is not seen yet), yet idle expiry,
/// logout and a password change on this server end sessions at once.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn cached_sessions_still_end_at_once(pool: PgPool) {
    let app = loaded_with(
        &pool,
        AuthConfig {
            session_cache: std::time::Duration::from_secs(60),
            idle_timeout: std::time::Duration::from_secs(2),
            ..AuthConfig::default()
        },
    )
    .await;
    add_user(&app, "disp3", "dispatcher", Some("320999")).await;
    let me = |t: String| {
        let app = app.clone();
        async move { json_as(&app, "GET", "/api/auth/me", Some(&t), None).await }
    };
    let a = token_of(&app, "disp3", PASSWORD).await;
    let b = token_of(&app, "disp3", PASSWORD).await;
    let c = token_of(&app, "disp3", PASSWORD).await;
    for t in [&a, &b, &c] {
        assert_eq!(me(t.clone()).await.0, StatusCode::OK);
    }
    // Revoked in the database directly: this server still trusts its memory of it.
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE token_hash = $1")
        .bind(gridwall_server::auth::hash_token(&a))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(me(a.clone()).await.0, StatusCode::OK);
    // Logout on this server: at once, and the cache is emptied (a's revocation is now seen).
    let (s, v) = json_as(&app, "POST", "/api/auth/logout", Some(&b), None).await;
    assert!(s.is_success(), "{v}");
    for t in [&a, &b] {
        let (s, v) = me(t.clone()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        assert_eq!(error_parts(&v).0, "session_revoked");
    }
    // Idle expiry is decided from memory too: two seconds without a request.
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    let (s, v) = me(c.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(error_parts(&v).0, "session_expired");
    // A password change ends the user's other (cached) sessions at once.
    let d = token_of(&app, "disp3", PASSWORD).await;
    let e = token_of(&app, "disp3", PASSWORD).await;
    assert_eq!(me(e.clone()).await.0, StatusCode::OK);
    let (s, v) = json_as(
        &app,
        "POST",
        "/api/auth/password",
        Some(&d),
        Some(json!({"current_password": PASSWORD, "new_password": "a-new-password-2"})),
    )
    .await;
    assert!(s.is_success(), "{v}");
    let (s, v) = me(e).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_password_change_ends_every_session(pool: PgPool) {
    let app = loaded(&pool).await;
    add_user(&app, "disp2", "dispatcher", Some("320999")).await;
    let a = token_of(&app, "disp2", PASSWORD).await;
    let b = token_of(&app, "disp2", PASSWORD).await;

    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (s, v) = json_as(
        &app,
        "POST",
        "/api/auth/password",
        Some(&a),
        Some(change("wrong one!", "a-new-password-1")),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(error_parts(&v).0, "invalid_credentials");
    let (s, v) = json_as(
        &app,
        "POST",
        "/api/auth/password",
        Some(&a),
        Some(change(PASSWORD, "short")),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (code, _, details) = error_parts(&v);
    assert_eq!(code, "weak_password");
    assert_eq!(details["field"], "new_password");
    assert_eq!(details["min_length"], 10);

    let (s, v) = json_as(
        &app,
        "POST",
        "/api/auth/password",
        Some(&a),
        Some(change(PASSWORD, "a-new-password-1")),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    for t in [&a, &b] {
        let (s, v) = json_as(&app, "GET", "/api/auth/me", Some(t), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(error_parts(&v).0, "session_revoked");
    }
    let (s, _) = login(&app, "disp2", PASSWORD).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the old password is gone");
    let (s, _) = login(&app, "disp2", "a-new-password-1").await;
    assert_eq!(s, StatusCode::OK);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn admins_manage_accounts_and_nobody_else_does(pool: PgPool) {
    let app = loaded(&pool).await;
    let id = add_user(&app, "leader2", "leader", Some("320999")).await;
    let leader = token_of(&app, "leader2", PASSWORD).await;

    // Only admins create and change accounts.
    let body =
        json!({"username": "x1", "display_name": "x", "role": "operator", "scope": "320999"});
    let (s, v) = json_as(
        &app,
        "POST",
        "/api/users",
        Some(&leader),
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(error_parts(&v).0, "forbidden");

    // A generated password is returned once and works.
    let (s, v) = json_as(&app, "POST", "/api/users", Some(TOKEN), Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let generated = v["password"].as_str().unwrap().to_owned();
    let (s, _) = login(&app, "x1", &generated).await;
    assert_eq!(s, StatusCode::OK);

    // Names are unique whatever their case; bad input names the field.
    let cases = [
        (
            json!({"username": "LEADER2", "display_name": "y", "role": "leader", "scope": "320999"}),
            StatusCode::CONFLICT,
            "username_taken",
        ),
        (
            json!({"username": "a b", "display_name": "y", "role": "leader", "scope": "320999"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_username",
        ),
        (
            json!({"username": "adm2", "display_name": "y", "role": "admin", "scope": "320999"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_scope",
        ),
        (
            json!({"username": "w1", "display_name": "y", "role": "worker"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_scope",
        ),
        (
            json!({"username": "w2", "display_name": "y", "role": "worker", "scope": "320998"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_unit",
        ),
        (
            json!({"username": "w3", "display_name": "y", "role": "chief", "scope": "320999"}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json!({"username": "w4", "display_name": "y", "role": "leader", "scope": "320999", "password": "short"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        ),
        (
            json!({"username": "w5", "display_name": "y", "role": "leader", "scope": "320999", "phone": "call me"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
        ),
        (
            json!({"username": "w6", "display_name": "y", "role": "leader", "scope": "320999", "admin": true}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ];
    for (body, status, code) in cases {
        let (s, v) = json_as(&app, "POST", "/api/users", Some(TOKEN), Some(body.clone())).await;
        assert_eq!(
            (s, error_parts(&v).0.as_str()),
            (status, code),
            "{body} → {v}"
        );
    }
    // Strict JSON: an unknown field is named.
    let (_, v) = json_as(
        &app,
        "POST",
        "/api/users",
        Some(TOKEN),
        Some(json!({"username": "w7", "display_name": "y", "role": "leader", "admin": true})),
    )
    .await;
    assert!(error_parts(&v).1.contains("admin"), "{v}");
    // Not JSON at all: 415.
    let req = Request::post("/api/users")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("username=x"))
        .unwrap();
    let (s, _, _) = send(&app, req).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Disabling ends the account's sessions at once.
    let (s, v) = json_as(
        &app,
        "PATCH",
        &format!("/api/users/{id}"),
        Some(TOKEN),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["disabled"], true);
    let (s, v) = json_as(&app, "GET", "/api/auth/me", Some(&leader), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(error_parts(&v).0, "session_revoked");
    let (s, _) = login(&app, "leader2", PASSWORD).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "disabled accounts cannot log in"
    );

    // The last active admin cannot be disabled or demoted.
    let admin_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(ADMIN)
        .fetch_one(&pool)
        .await
        .unwrap();
    for patch in [
        json!({"disabled": true}),
        json!({"role": "leader", "scope": "320999"}),
    ] {
        let (s, v) = json_as(
            &app,
            "PATCH",
            &format!("/api/users/{admin_id}"),
            Some(TOKEN),
            Some(patch),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        assert_eq!(error_parts(&v).0, "last_admin");
    }

    // An admin's reset ends the user's sessions and returns the generated password once.
    let x1: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'x1'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let x1_token = token_of(&app, "x1", &generated).await;
    let (s, v) = json_as(
        &app,
        "POST",
        &format!("/api/users/{x1}/password"),
        Some(TOKEN),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["sessions_ended"], 2);
    let (s, _) = json_as(&app, "GET", "/api/auth/me", Some(&x1_token), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = login(&app, "x1", v["password"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);

    // Every change is audited with its actor.
    let (s, v) = json_as(
        &app,
        "GET",
        "/api/audit?action=user.&limit=50",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let actions: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user.password_reset",
            "user.disable",
            "user.create",
            "user.create"
        ],
        "newest first"
    );
    assert!(
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == ADMIN)
    );
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn device_tokens_post_for_their_worker_only(pool: PgPool) {
    let app = loaded(&pool).await;
    let (s, w) = json_as(
        &app,
        "POST",
        "/api/workers",
        Some(TOKEN),
        Some(
            json!({"name": "张网格", "phone": "13800001111", "grid": "320999001001001",
                    "skills": ["矛盾纠纷"], "on_duty": true}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{w}");
    let worker = w["id"].as_i64().unwrap();
    let uri = format!("/api/workers/{worker}/devices");

    let mut tokens = Vec::new();
    for i in 0..3 {
        let (s, v) = json_as(
            &app,
            "POST",
            &uri,
            Some(TOKEN),
            Some(json!({"label": format!("手机 {i}")})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let t = v["token"].as_str().unwrap().to_owned();
        assert!(t.starts_with("gwd_"), "{t}");
        tokens.push((v["device"]["id"].as_i64().unwrap(), t));
    }
    // At most three active devices per worker.
    let (s, v) = json_as(
        &app,
        "POST",
        &uri,
        Some(TOKEN),
        Some(json!({"label": "第四部"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(error_parts(&v).0, "device_limit");

    // The token names its worker, and opens nothing else.
    let (s, v) = json_as(&app, "GET", "/api/device", Some(&tokens[0].1), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["resource_id"], worker);
    assert_eq!(v["resource_name"], "张网格");
    let (s, v) = json_as(&app, "GET", "/api/units", Some(&tokens[0].1), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(error_parts(&v).0, "device_token_not_allowed");
    let (s, v) = json_as(&app, "GET", "/api/device", Some(TOKEN), None).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a session is not a device: {v}"
    );

    // Listed without the token; revoking frees a slot and kills the token.
    let (s, v) = json_as(&app, "GET", &uri, Some(TOKEN), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["devices"].as_array().unwrap().len(), 3);
    assert!(!v.to_string().contains("gwd_"), "{v}");
    let (s, _) = json_as(
        &app,
        "DELETE",
        &format!("/api/devices/{}", tokens[0].0),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = json_as(&app, "GET", "/api/device", Some(&tokens[0].1), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(error_parts(&v).0, "device_revoked");
    let (s, _) = json_as(&app, "GET", "/api/device", Some(&tokens[1].1), None).await;
    assert_eq!(s, StatusCode::OK, "the others still work");
    let (s, v) = json_as(
        &app,
        "POST",
        &uri,
        Some(TOKEN),
        Some(json!({"label": "换新手机"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // Operators read workers but do not issue devices.
    let op = common::user_with_session(&pool, "op3", "operator", Some("320999")).await;
    let (s, _) = json_as(&app, "POST", &uri, Some(&op), Some(json!({"label": "x"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = json_as(
        &app,
        "GET",
        &format!("/api/workers/{worker}"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["phone"], "138****1111", "masked for an operator");
    let (_, v) = json_as(
        &app,
        "GET",
        &format!("/api/workers/{worker}"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(v["phone"], "13800001111", "in clear for an admin");
    assert_eq!(v["active_devices"], 3);

    let issued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'device.issue'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(issued, 4);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn the_audit_log_is_append_only_and_admin_only(pool: PgPool) {
    let app = loaded(&pool).await;
    add_user(&app, "disp3", "dispatcher", Some("320999")).await;
    let disp = token_of(&app, "disp3", PASSWORD).await;
    let (s, _) = json_as(&app, "GET", "/api/audit", Some(&disp), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let e = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    let (s, v) = json_as(
        &app,
        "GET",
        "/api/audit?actor=disp3&action=auth.login",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{v}");
    assert_eq!(entries[0]["outcome"], "ok");

    // Paging: newest first, `before` continues.
    let (_, first) = json_as(&app, "GET", "/api/audit?limit=1", Some(TOKEN), None).await;
    let before = first["next_before"].as_i64().unwrap();
    let (_, second) = json_as(
        &app,
        "GET",
        &format!("/api/audit?limit=1&before={before}"),
        Some(TOKEN),
        None,
    )
    .await;
    assert!(second["entries"][0]["id"].as_i64().unwrap() < before);

    for bad in [
        "/api/audit?limit=0",
        "/api/audit?from=yesterday",
        "/api/audit?outcome=maybe",
    ] {
        let (s, v) = json_as(&app, "GET", bad, Some(TOKEN), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert_eq!(error_parts(&v).0, "invalid_parameter", "{bad}");
    }
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn hardening_headers_and_no_cors(pool: PgPool) {
    let dir = std::env::temp_dir().join(format!("gridwall-csp-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>一张图</title>",
    )
    .unwrap();
    std::fs::write(dir.join("assets/app-1234.js"), "export {}").unwrap();
    common::ensure_admin(&pool).await;
    let state = gridwall_server::cli::state(
        pool,
        16,
        AuthConfig::default(),
        gridwall_server::live::LiveConfig::default(),
    )
    .await
    .unwrap();
    let app = gridwall_server::http::app(state, Some(dir.clone()));

    let (s, h, _) = send_anon(&app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    let (_, h, _) = send_anon(
        &app,
        Request::get("/assets/app-1234.js")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        h[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );

    // No CORS unless configured: a preflight from another origin gets no allowance.
    let req = Request::builder()
        .method("OPTIONS")
        .uri("/api/auth/login")
        .header(header::ORIGIN, "http://other.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .unwrap();
    let (_, h, _) = send_anon(&app, req).await;
    assert!(
        !h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "{h:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn bodies_are_bounded(pool: PgPool) {
    let app = loaded(&pool).await;
    let big = json!({"username": "x".repeat(2 << 20), "password": "y"});
    let (s, v) = json_as(&app, "POST", "/api/auth/login", None, Some(big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(error_parts(&v).0, "payload_too_large");
}

/// A stranger failing at an account from one address locks that address out of that account,
/// and nobody else: the owner signs in from their own address all the while.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_stranger_cannot_lock_an_account_out_for_its_owner(pool: PgPool) {
    let app = loaded(&pool).await;
    add_user(&app, "disp.four", "dispatcher", Some("320999")).await;
    let stranger = "10.66.0.1:5000";
    for _ in 0..4 {
        let (s, _, _) = send_anon(&app, login_request("disp.four", "guess!", Some(stranger))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // The fifth failure from that address locks the pair: even the right password is refused
    // there.
    let (s, h, _) = send_anon(&app, login_request("disp.four", "guess!", Some(stranger))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key(header::RETRY_AFTER));
    let (s, _, _) = send_anon(&app, login_request("DISP.FOUR", PASSWORD, Some(stranger))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // The owner, from another address, is not locked out.
    let (s, _, body) = send_anon(
        &app,
        login_request("disp.four", PASSWORD, Some("10.66.0.2:6000")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    // Nor is the stranger's address locked for other accounts (its own ceiling is higher).
    add_user(&app, "op.four", "operator", Some("320999")).await;
    let (s, _, _) = send_anon(&app, login_request("op.four", PASSWORD, Some(stranger))).await;
    assert_eq!(s, StatusCode::OK);
}

/// Guessing spread over many addresses: one address stops at the pair's ceiling, the others
/// stay under it, and the account alone locks at its higher ceiling, for everyone.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn the_account_alone_locks_at_its_higher_ceiling(pool: PgPool) {
    let config = AuthConfig {
        max_failures_per_user_address: 3,
        max_failures_per_user: 7,
        ..AuthConfig::default()
    };
    let app = loaded_with(&pool, config).await;
    add_user(&app, "disp.five", "dispatcher", Some("320999")).await;
    let attempt = |password: &'static str, addr: &'static str| {
        let app = app.clone();
        async move {
            send_anon(&app, login_request("disp.five", password, Some(addr)))
                .await
                .0
        }
    };
    let owner = "10.67.0.9:5000";
    for _ in 0..2 {
        assert_eq!(
            attempt("guess!", "10.67.0.1:5000").await,
            StatusCode::UNAUTHORIZED
        );
    }
    // The pair's ceiling: that address is done with this account.
    assert_eq!(
        attempt("guess!", "10.67.0.1:5000").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    for addr in ["10.67.0.2:5000", "10.67.0.2:5001", "10.67.0.3:5000"] {
        assert_eq!(attempt("guess!", addr).await, StatusCode::UNAUTHORIZED);
    }
    // Six failures at the account: under its ceiling, the owner still gets in.
    assert_eq!(attempt(PASSWORD, owner).await, StatusCode::OK);
    // The seventh, from yet another address, reaches it: locked for everyone.
    assert_eq!(
        attempt("guess!", "10.67.0.4:5000").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let (s, _, body) = send_anon(&app, login_request("disp.five", PASSWORD, Some(owner))).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error_parts(&v).0, "too_many_attempts");
}

/// Guessable passwords are refused wherever a password is set (an admin creating or resetting
/// an account, a user changing theirs, the command line), saying why.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn guessable_passwords_are_refused_wherever_one_is_set(pool: PgPool) {
    let app = loaded(&pool).await;
    let id = add_user(&app, "disp.six", "dispatcher", Some("320999")).await;
    let token = token_of(&app, "disp.six", PASSWORD).await;
    let attempts = [
        (
            "/api/users".to_owned(),
            TOKEN.to_owned(),
            json!({"username": "weak1", "display_name": "x", "role": "leader", "scope": "320999",
                   "password": "1234567890"}),
            "password",
        ),
        (
            format!("/api/users/{id}/password"),
            TOKEN.to_owned(),
            json!({"password": "qwertyuiop"}),
            "password",
        ),
        (
            "/api/auth/password".to_owned(),
            token.clone(),
            json!({"current_password": PASSWORD, "new_password": "disp.six2026"}),
            "new_password",
        ),
    ];
    for (uri, token, body, field) in attempts {
        let (s, v) = json_as(&app, "POST", &uri, Some(&token), Some(body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{uri}: {v}");
        let (code, message, details) = error_parts(&v);
        assert_eq!(code, "weak_password", "{v}");
        assert_eq!(details["field"], field);
        assert!(
            message.starts_with("the password is too easy to guess"),
            "{message}"
        );
        assert!(details["score"].as_u64().unwrap() < 3, "{v}");
        assert!(
            details["warning"].is_string()
                || !details["suggestions"].as_array().unwrap().is_empty(),
            "zxcvbn's feedback: {v}"
        );
    }
    // Nothing was set: the old password still works.
    assert!(!token_of(&app, "disp.six", PASSWORD).await.is_empty());

    // The command line, with the password on standard input.
    let db = pool.connect_options().get_database().unwrap().to_owned();
    let base = std::env::var("DATABASE_URL").unwrap();
    let url = format!("{}/{db}", base.rsplit_once('/').unwrap().0);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gridwall"))
        .args([
            "user",
            "add",
            "weak2",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .env("DATABASE_URL", &url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"1234567890\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("too easy to guess"), "{said}");
    let made: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE username LIKE 'weak%'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(made, 0);
}
