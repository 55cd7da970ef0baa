//! Hostile input at the edge, against real PostGIS: a NUL anywhere in text is refused with a
//! 4xx naming the field (a refused login still throttled and audited, a refused import
//! audited); the framework's own errors (body limit, wrong method, websocket upgrade, time
//! limit) answer in the API's shape; a gzip file is bounded once decompressed.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use common::{TOKEN, collection, error_parts, features, json_as, post_hierarchy, send, send_anon};
use serde_json::{Value, json};
use sqlx::PgPool;

const GRID: &str = "320999001001001";

async fn loaded(pool: &PgPool) -> Router {
    let (app, _) = common::app(pool.clone()).await;
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    app
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Rows of the tables a refused request might have touched.
async fn counts(pool: &PgPool) -> Vec<i64> {
    let mut out = Vec::new();
    for t in [
        "cases",
        "case_events",
        "resources",
        "users",
        "units",
        "case_categories",
        "audit_log",
    ] {
        out.push(count(pool, t).await);
    }
    out
}

fn new_case() -> Value {
    json!({"title": "楼道堆放杂物", "description": "三楼楼道", "category": "environment",
           "source": "hotline_12345", "severity": 2, "lng": 120.01, "lat": 32.05,
           "address": "测试路 1 号", "reporter_name": "张先生", "reporter_phone": "13912345678"})
}

fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    *body.pointer_mut(pointer).unwrap() = value;
    body
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_nul_anywhere_in_text_is_refused_naming_the_field(pool: PgPool) {
    let app = loaded(&pool).await;
    let (s, case) = json_as(&app, "POST", "/api/cases", Some(TOKEN), Some(new_case())).await;
    assert_eq!(s, StatusCode::CREATED, "{case}");
    let id = case["id"].as_i64().unwrap();
    let version = case["version"].clone();
    let nul = || json!("a\u{0}b");

    // (method, uri, body, the place the answer must name: the field, then the rest of the
    // JSON pointer when it is deeper)
    let body_cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            "/api/cases".into(),
            with(new_case(), "/title", nul()),
            "title",
        ),
        (
            "POST",
            "/api/cases".into(),
            with(new_case(), "/description", nul()),
            "description",
        ),
        (
            "POST",
            "/api/cases".into(),
            with(new_case(), "/category", nul()),
            "category",
        ),
        (
            "POST",
            "/api/cases".into(),
            with(new_case(), "/address", nul()),
            "address",
        ),
        (
            "POST",
            "/api/cases".into(),
            with(new_case(), "/reporter_name", nul()),
            "reporter_name",
        ),
        (
            "POST",
            format!("/api/cases/{id}/transition"),
            json!({"action": "reject", "version": version, "note": "a\u{0}"}),
            "note",
        ),
        (
            "POST",
            "/api/alerts/1/acknowledge".into(),
            json!({"note": "\u{0}"}),
            "note",
        ),
        (
            "POST",
            "/api/alerts/1/resolve".into(),
            json!({"note": "\u{0}"}),
            "note",
        ),
        (
            "POST",
            "/api/workers".into(),
            json!({"name": "网格员", "grid": GRID, "skills": ["ok", "a\u{0}"]}),
            "skills/1",
        ),
        (
            "PUT",
            "/api/case-categories/noise".into(),
            json!({"name_zh": "噪音\u{0}", "name_en": "noise", "sla_hours": 24}),
            "name_zh",
        ),
        (
            "POST",
            "/api/users".into(),
            json!({"username": "u\u{0}", "display_name": "x", "role": "leader"}),
            "username",
        ),
        // In a key too.
        (
            "POST",
            "/api/cases".into(),
            json!({"ti\u{0}tle": "x"}),
            "ti\u{FFFD}tle",
        ),
    ];
    let query_cases: Vec<(String, &str)> = vec![
        ("/api/cases?q=%00".into(), "q"),
        ("/api/cases?category=environment%00".into(), "category"),
        ("/api/cases?unit=320999%00".into(), "unit"),
        ("/api/audit?actor=a%00".into(), "actor"),
        ("/api/audit?action=auth.%00".into(), "action"),
        ("/api/audit?entity_type=%00".into(), "entity_type"),
        ("/api/audit?entity_id=1%00".into(), "entity_id"),
        ("/api/audit?unit=%00".into(), "unit"),
        ("/api/units/search?q=%E6%B5%8B%00".into(), "q"),
        ("/api/workers?q=%00".into(), "q"),
        ("/api/alerts?kind=%00".into(), "kind"),
        ("/api/units/3209%0099".into(), "code"),
    ];

    let before = counts(&pool).await;
    for (method, uri, body, field) in body_cases {
        let (s, v) = json_as(&app, method, &uri, Some(TOKEN), Some(body.clone())).await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {uri} {body} → {v}"
        );
        let (code, message, details) = error_parts(&v);
        assert_eq!(code, "invalid_text", "{method} {uri} → {v}");
        assert_eq!(
            details["field"],
            field.split('/').next().unwrap(),
            "{method} {uri} → {v}"
        );
        assert!(message.contains("NUL"), "{message}");
        assert_eq!(details["pointer"], format!("/{field}"), "{v}");
    }
    for (uri, parameter) in query_cases {
        let (s, v) = json_as(&app, "GET", &uri, Some(TOKEN), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri} → {v}");
        let (code, _, details) = error_parts(&v);
        assert_eq!(code, "invalid_text", "{uri} → {v}");
        assert_eq!(details["parameter"], parameter, "{uri} → {v}");
    }
    assert_eq!(
        counts(&pool).await,
        before,
        "a refused request changed nothing"
    );
    // The same texts without the NUL are fine.
    let (s, v) = json_as(&app, "GET", "/api/cases?q=ab", Some(TOKEN), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // `\\u0000` in JSON is the six characters, not a NUL.
    let (s, v) = json_as(
        &app,
        "POST",
        "/api/cases",
        Some(TOKEN),
        Some(with(new_case(), "/title", json!("\\u0000"))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["title"], "\\u0000");
}

fn login_from(username: &str, password: &str, addr: &str) -> Request<Body> {
    let mut req = Request::post("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"username": username, "password": password}).to_string(),
        ))
        .unwrap();
    let a: SocketAddr = addr.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(a));
    req
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_login_with_a_nul_is_refused_yet_throttled_and_audited(pool: PgPool) {
    let app = loaded(&pool).await;
    let (s, _, body) = send_anon(&app, login_from("disp\u{0}one", "x", "10.7.0.1:4000")).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (code, _, details) = error_parts(&v);
    assert_eq!(
        (code.as_str(), &details["field"]),
        ("invalid_text", &json!("username"))
    );

    let (actor, reason): (String, String) = sqlx::query_as(
        "SELECT actor, details->>'reason' FROM audit_log
         WHERE action = 'auth.login' AND outcome = 'denied'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (actor.as_str(), reason.as_str()),
        ("disp\u{FFFD}one", "invalid_text")
    );
    // Counted like any failed login: the fifth from the same place locks that pair.
    for _ in 0..3 {
        let (s, _, _) = send_anon(&app, login_from("disp\u{0}one", "x", "10.7.0.1:4000")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (s, h, body) = send_anon(&app, login_from("disp\u{0}one", "x", "10.7.0.1:4000")).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(h.contains_key(header::RETRY_AFTER));
    // A NUL in the password is refused the same way (and counted for the address).
    let (s, _, body) = send_anon(&app, login_from("someone", "pa\u{0}ss", "10.7.0.2:4000")).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_parts(&v).2["field"], "password");
    let failures: i32 =
        sqlx::query_scalar("SELECT failures FROM login_throttle WHERE key = 'addr:10.7.0.2'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(failures, 1);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_nul_in_a_hierarchy_file_names_feature_and_property_and_is_audited(pool: PgPool) {
    let app = loaded(&pool).await;
    let units = count(&pool, "units").await;
    let mut fs = features();
    fs[3]["properties"]["name"] = json!("测试\u{0}村");
    fs[5]["properties"]["code"] = json!("320999001\u{0}002001");
    let (s, v) = post_hierarchy(&app, collection(fs).to_string().into_bytes()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (code, _, details) = error_parts(&v);
    assert_eq!(code, "invalid_hierarchy");
    let problems = details["problems"].as_array().unwrap();
    let at = |i: u64| {
        problems
            .iter()
            .find(|p| p["index"] == i)
            .unwrap_or_else(|| panic!("no problem for feature {i}: {v}"))["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        at(3).starts_with("/properties/name contains a NUL"),
        "{}",
        at(3)
    );
    assert!(
        at(5).starts_with("/properties/code contains a NUL"),
        "{}",
        at(5)
    );
    assert_eq!(count(&pool, "units").await, units, "nothing changed");
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'hierarchy.import' AND outcome = 'failed'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(failed, 1, "the refusal is in the audit log");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn the_frameworks_own_errors_answer_in_the_api_shape(pool: PgPool) {
    let app = loaded(&pool).await;
    let json_error = |s: StatusCode, h: &axum::http::HeaderMap, body: &[u8]| {
        assert_eq!(
            h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{s}: {}",
            String::from_utf8_lossy(body)
        );
        let v: Value = serde_json::from_slice(body).unwrap();
        error_parts(&v)
    };

    // A body over the limit of a route that reads raw bytes.
    let big = vec![b' '; gridwall_server::http::positions::MAX_INGEST_BODY_BYTES + 1];
    let req = Request::post("/api/positions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big))
        .unwrap();
    let (s, h, body) = send(&app, req).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_error(s, &h, &body).0, "payload_too_large");

    // A method the path does not take: 405 with Allow.
    let (s, h, body) = send(
        &app,
        Request::delete("/api/cases").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json_error(s, &h, &body).0, "method_not_allowed");
    let allow = h
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        allow.contains("GET") && allow.contains("POST"),
        "Allow: {allow}"
    );
    let (s, h, body) = send_anon(
        &app,
        Request::get("/api/auth/login").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json_error(s, &h, &body).0, "method_not_allowed");
    assert_eq!(h.get(header::ALLOW).unwrap(), "POST");

    // The websocket without the upgrade headers.
    let (s, h, body) = send(&app, Request::get("/ws").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (code, message, _) = json_error(s, &h, &body);
    assert_eq!(code, "bad_request");
    assert!(message.to_lowercase().contains("upgrade"), "{message}");
}

/// The time limit of a route answers 503 in the API's shape with `Retry-After` (the app's limits
/// are 30 s and 5 min; the same layer on a small router with a handler that never finishes).
#[tokio::test]
async fn a_request_past_its_time_limit_answers_503_in_the_api_shape() {
    use axum::middleware::{self, Next};
    use gridwall_server::http::shape;
    let app: Router = Router::new()
        .route(
            "/slow",
            axum::routing::get(std::future::pending::<&'static str>),
        )
        .layer(middleware::from_fn(|req, next: Next| {
            shape::within(Duration::from_millis(20), req, next)
        }))
        .layer(middleware::from_fn(shape::json_errors));
    let (s, h, body) = send_anon(&app, Request::get("/slow").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.contains_key(header::RETRY_AFTER));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error_parts(&v).0, "timeout");
}

/// The outside round's gzip bomb: 1 MiB that expands to 1 GiB. Refused once the expansion
/// passes the import limit, as 413 in the API's shape, and audited.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_gzip_bomb_is_refused_once_decompressed_past_the_limit(pool: PgPool) {
    let app = loaded(&pool).await;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let (s, v) = post_hierarchy(&app, bomb).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let (code, _, details) = error_parts(&v);
    assert_eq!(code, "payload_too_large");
    assert_eq!(
        details["limit_bytes"],
        gridwall_server::http::admin::MAX_IMPORT_BYTES
    );
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'hierarchy.import' AND outcome = 'failed'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(failed, 1);
}
