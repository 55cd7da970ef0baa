//! Property-based fuzzing of every parser and route family against real PostGIS: positions
//! (JSON batches), OsmAnd (query strings, forms, the app's JSON), case bodies and transitions,
//! every list route's query string and every path parameter, other write bodies (workers,
//! vehicles, categories, alert notes, login), hierarchy files, and the websocket's client
//! messages. Thousands of generated inputs — valid templates with fields replaced by NULs, long
//! strings, huge numbers, wrong types and deep nesting, and raw text that is not JSON at all.
//!
//! The properties: no answer is a 5xx; every error answers `{"error": {code, message,
//! details}}` as JSON (a 405 with `Allow`); a refused request (4xx) leaves the stored data as
//! it was; the websocket answers every message and stays open. Each test prints one line: cases tried and failures.
//! The inputs are reproducible: `FUZZ_SEED=<n>` draws others, `FUZZ_SCALE=<k>` tries k times as
//! many (both optional).
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::future::IntoFuture as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use chrono::Utc;
use common::{TOKEN, collection, features, json_as, post_hierarchy, send_anon};
use futures_util::{SinkExt as _, StreamExt as _};
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

const GRID: &str = "320999001001001";

// ---------------------------------------------------------------------------------------------
// Drawing inputs

/// A runner with a fixed seed (or `FUZZ_SEED`), so that a failure can be reproduced.
fn runner(salt: u64) -> (TestRunner, u64) {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(20_261_207);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&salt.to_le_bytes());
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    (
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)),
        seed,
    )
}

/// `n` times `FUZZ_SCALE`.
fn scaled(n: usize) -> usize {
    let k = std::env::var("FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1);
    n * k.max(1)
}

fn draw<T: std::fmt::Debug>(runner: &mut TestRunner, s: &impl Strategy<Value = T>) -> T {
    s.new_tree(runner).unwrap().current()
}

/// Text meant to hurt: NULs, control and bidi characters, long strings, SQL, numbers and codes
/// where text is expected, and plain random Unicode.
fn hostile_text() -> BoxedStrategy<String> {
    let special = prop::sample::select(vec![
        "",
        " ",
        "\u{0}",
        "null",
        "NaN",
        "Infinity",
        "-0",
        "1e309",
        "-1e309",
        "99999999999999999999999",
        "%00",
        "\\u0000",
        "'; DROP TABLE cases; --",
        "\u{FEFF}",
        "\u{202E}abc",
        "😀",
        "\u{7}\u{1b}[2J",
        "320999",
        "320999001001001",
        "2026-12-07T08:00:00Z",
        "9999-99-99T99:99:99Z",
        "true",
        "0x10",
        "../../etc/passwd",
        "a,b,,c",
        "1,2,3,4",
        "-180,-90,180,90",
        "open",
        "queue",
        "csv",
        "geojson",
    ])
    .prop_map(String::from);
    prop_oneof![
        3 => any::<String>().prop_map(|s| s.chars().take(40).collect()),
        2 => "[a-z0-9_.,-]{0,16}",
        3 => ("[a-z0-9]{0,8}", "[a-z0-9]{0,8}").prop_map(|(a, b)| format!("{a}\u{0}{b}")),
        3 => special,
        1 => prop::sample::select(vec![300usize, 2_001, 70_000])
            .prop_map(|n| "长".repeat(n)),
    ]
    .boxed()
}

/// Numbers at and past every edge, as JSON.
fn hostile_number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        prop::sample::select(vec![
            0i64,
            -1,
            1,
            i64::MAX,
            i64::MIN,
            i64::from(i32::MAX) + 1,
            i64::from(i16::MAX) + 1,
            9_007_199_254_740_993,
        ])
        .prop_map(Value::from),
        prop::sample::select(vec![
            1e308, -1e308, 5e-324, 90.000_001, 180.5, -91.0, 1e20, 0.5, -0.0
        ])
        .prop_map(|f| json!(f)),
    ]
    .boxed()
}

/// Any JSON value, nested a few levels, with hostile leaves.
fn hostile_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        3 => hostile_number(),
        4 => hostile_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((hostile_text(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Text that is not quite JSON, or JSON past the parser's limits.
fn raw_text() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        (1usize..3000).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d)).into_bytes()),
        (1usize..3000)
            .prop_map(|d| format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d)).into_bytes()),
        prop::sample::select(vec![
            "",
            "{",
            "[",
            "nul",
            "1e999",
            "-1e999",
            "123456789012345678901234567890123456789",
            "{\"a\":1,\"a\":2}",
            "{\"positions\": [{\"lat\": 1e999}]}",
            "{\"title\": \"\\ud800\"}",
            "{\"title\": \"\u{0}\"}",
            "\u{FEFF}{}",
            "[1,2,]",
            "{\"a\" 1}",
            "\"\\u0000\"",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..200),
        Just(b"{\"title\": \"\xff\xfe\"}".to_vec()),
    ]
    .boxed()
}

/// `v` with a NUL put into its text (each string of an array; a number or a bool becomes text
/// with a NUL; anything else is left): valid but for the NUL.
fn with_nul(v: &Value, at: usize) -> Value {
    match v {
        Value::String(s) => {
            let mut chars: Vec<char> = s.chars().collect();
            chars.insert(at % (chars.len() + 1), '\u{0}');
            Value::String(chars.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| with_nul(i, at)).collect()),
        Value::Number(_) | Value::Bool(_) => Value::String(format!("{v}\u{0}")),
        other => other.clone(),
    }
}

/// A template object changed a little: one field given a NUL, replaced by a hostile value or
/// removed (the rest still valid, so the request goes as deep as it can); or every field
/// kept, replaced or removed at random, and maybe an unknown one added.
fn mutated(template: Value) -> BoxedStrategy<Value> {
    let Value::Object(fields) = template else {
        return Just(template).boxed();
    };
    let n = fields.len();
    let keys: Vec<String> = fields.keys().cloned().collect();
    let one = {
        let (fields, keys) = (fields.clone(), keys.clone());
        (0..n, 0u8..4, any::<usize>(), hostile_value()).prop_map(move |(i, how, at, hostile)| {
            let mut out = fields.clone();
            let k = &keys[i];
            match how {
                0 | 1 => {
                    let v = with_nul(&out[k], at);
                    out.insert(k.clone(), v);
                }
                2 => {
                    out.insert(k.clone(), hostile);
                }
                _ => {
                    out.remove(k);
                }
            }
            Value::Object(out)
        })
    };
    let many = (
        prop::collection::vec((0u8..8, hostile_value()), n),
        prop::option::weighted(0.15, (hostile_text(), hostile_value())),
    )
        .prop_map(move |(ops, extra)| {
            let mut out = Map::new();
            for ((k, v), (op, replacement)) in fields.iter().zip(ops) {
                match op {
                    0..=3 => {
                        out.insert(k.clone(), v.clone());
                    }
                    4..=6 => {
                        out.insert(k.clone(), replacement);
                    }
                    _ => {}
                }
            }
            if let Some((k, v)) = extra {
                out.insert(k, v);
            }
            Value::Object(out)
        });
    prop_oneof![3 => one, 2 => many].boxed()
}

/// A JSON body: mostly a mutated template, sometimes any value or raw text.
fn body_from(template: Value) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        8 => mutated(template).prop_map(|v| v.to_string().into_bytes()),
        1 => hostile_value().prop_map(|v| v.to_string().into_bytes()),
        2 => raw_text(),
    ]
    .boxed()
}

/// A URL query string of `names` (and maybe others) with hostile values, form-encoded; or raw.
fn query_from(names: Vec<String>) -> BoxedStrategy<String> {
    let names = if names.is_empty() {
        vec!["q".to_owned()]
    } else {
        names
    };
    let pairs = prop::collection::vec(
        (
            prop_oneof![
                8 => prop::sample::select(names),
                1 => hostile_text(),
            ],
            hostile_text(),
        ),
        0..4,
    )
    .prop_map(|pairs| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(&k, &v);
        }
        s.finish()
    });
    prop_oneof![
        6 => pairs,
        1 => prop::sample::select(vec!["%", "%zz", "a=%ff%fe", "&&==&", "a[]=1&a[]=2", "=x"])
            .prop_map(String::from),
    ]
    .boxed()
}

/// A path segment: hostile text, percent-encoded.
fn segment() -> BoxedStrategy<String> {
    hostile_text()
        .prop_map(|s| {
            let s: String = s.chars().take(200).collect();
            form_urlencoded::byte_serialize(s.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        })
        .prop_filter("a segment", |s| !s.is_empty())
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Checking answers

/// What a family found.
struct Tally {
    family: &'static str,
    seed: u64,
    tried: usize,
    accepted: usize,
    refused: usize,
    server_errors: usize,
    failures: Vec<String>,
}

impl Tally {
    fn new(family: &'static str, seed: u64) -> Self {
        Self {
            family,
            seed,
            tried: 0,
            accepted: 0,
            refused: 0,
            server_errors: 0,
            failures: Vec::new(),
        }
    }

    fn fail(&mut self, what: String) {
        if self.failures.len() < 20 {
            self.failures.push(what);
        } else {
            self.failures.push(String::new());
        }
    }

    /// One answer: no 5xx, errors in the shape, a refusal changed nothing.
    fn check(
        &mut self,
        what: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        changed: bool,
    ) {
        self.tried += 1;
        let shown = || {
            let what: String = what.chars().take(300).collect();
            let body: String = String::from_utf8_lossy(body).chars().take(300).collect();
            format!("{what} → {status} {body}")
        };
        if status.is_success() {
            self.accepted += 1;
        } else if status.is_client_error() {
            self.refused += 1;
        }
        if status.is_server_error() {
            self.server_errors += 1;
            self.fail(format!("5xx: {}", shown()));
        }
        if status == StatusCode::METHOD_NOT_ALLOWED && !headers.contains_key(header::ALLOW) {
            self.fail(format!("405 without Allow: {}", shown()));
        }
        if status.is_client_error() || status.is_server_error() {
            if let Err(why) = error_shape(headers, body) {
                self.fail(format!("{why}: {}", shown()));
            }
            if changed {
                self.fail(format!("refused but stored data changed: {}", shown()));
            }
        }
    }

    /// Prints the one-line summary (to the terminal, past the test harness's capture, so
    /// that `make test` shows it) and fails the test on any failure.
    fn finish(self) {
        let _ = writeln!(
            std::io::stderr(),
            "fuzz {}: {} cases tried (seed {}; {} 2xx, {} 4xx), {} answered 5xx, {} failures",
            self.family,
            self.tried,
            self.seed,
            self.accepted,
            self.refused,
            self.server_errors,
            self.failures.len()
        );
        let shown: Vec<&String> = self.failures.iter().filter(|f| !f.is_empty()).collect();
        assert!(
            self.failures.is_empty(),
            "{}: {} failures, first ones:\n{}",
            self.family,
            self.failures.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// `{"error": {"code": "…", "message": "…", "details": …}}` served as JSON.
fn error_shape(headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err("an error not served as JSON");
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| "an error body that is not JSON")?;
    let e = v.get("error").ok_or("no error object")?;
    let code_ok = e
        .get("code")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty());
    if !code_ok || !e.get("message").is_some_and(Value::is_string) || e.get("details").is_none() {
        return Err("an error without code, message and details");
    }
    Ok(())
}

/// What the fuzzed routes may store: if a refused request changes any of it, that is a
/// failure. (Alerts and the audit log are left out: background rules and the audit of
/// refusals write them by design.)
async fn fingerprint(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT ARRAY[
           (SELECT count(*) FROM cases),
           (SELECT coalesce(sum(version), 0) FROM cases),
           (SELECT count(*) FROM case_events),
           (SELECT count(*) FROM resources),
           (SELECT coalesce(sum(extract(epoch FROM updated_at) * 1000)::bigint, 0) FROM resources),
           (SELECT count(*) FROM devices),
           (SELECT count(*) FROM users),
           (SELECT count(*) FROM units),
           (SELECT coalesce(max(version), 0) FROM hierarchy_versions),
           (SELECT count(*) FROM unit_cells),
           (SELECT count(*) FROM case_categories),
           (SELECT coalesce(sum(hashtext(c::text)), 0) FROM case_categories c),
           (SELECT count(*) FROM positions)
         ]::bigint[]",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A request with a bearer token (or none), an optional content type and a body, from `addr`.
fn request(
    method: &str,
    uri: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
    addr: Option<SocketAddr>,
) -> Option<Request<Body>> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    // A URI that http itself refuses never reaches a server: not a case.
    let mut req = b.body(Body::from(body)).ok()?;
    if let Some(a) = addr {
        req.extensions_mut().insert(ConnectInfo(a));
    }
    Some(req)
}

/// Sends it and checks the answer, the stored data compared before and after.
async fn try_one(tally: &mut Tally, app: &Router, pool: &PgPool, req: Request<Body>) {
    let what = format!("{} {}", req.method(), req.uri());
    let before = fingerprint(pool).await;
    let (status, headers, body) = send_anon(app, req).await;
    let changed = status.is_client_error() && fingerprint(pool).await != before;
    tally.check(&what, status, &headers, &body, changed);
}

// ---------------------------------------------------------------------------------------------
// The world the inputs land in

struct World {
    app: Router,
    worker_id: i64,
    device_token: String,
    ident: String,
    case_id: i64,
}

async fn world(pool: &PgPool) -> World {
    let (app, _) = common::app(pool.clone()).await;
    let (status, answer) =
        post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, worker) = json_as(
        &app,
        "POST",
        "/api/workers",
        Some(TOKEN),
        Some(json!({"name": "网格员甲", "grid": GRID, "on_duty": true, "skills": ["dispute"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{worker}");
    let worker_id = worker["id"].as_i64().unwrap();
    let (status, device) = json_as(
        &app,
        "POST",
        &format!("/api/workers/{worker_id}/devices"),
        Some(TOKEN),
        Some(json!({"label": "手机"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    let (status, case) = json_as(&app, "POST", "/api/cases", Some(TOKEN), Some(new_case())).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    World {
        app,
        worker_id,
        device_token: device["token"].as_str().unwrap().to_owned(),
        ident: device["ident"].as_str().unwrap().to_owned(),
        case_id: case["id"].as_i64().unwrap(),
    }
}

fn new_case() -> Value {
    json!({"title": "楼道堆放杂物", "description": "三楼楼道", "category": "environment",
           "source": "hotline_12345", "severity": 2, "lng": 120.01, "lat": 32.05, "crs": "wgs84",
           "address": "测试路 1 号", "reporter_name": "张先生", "reporter_phone": "13912345678"})
}

/// A made-up client address, so that per-address limits do not end the fuzzing early.
fn addr_of(i: usize) -> SocketAddr {
    let byte = |n: usize| u8::try_from(n % 250).unwrap_or(0);
    SocketAddr::from(([127, 9, byte(i / 250), byte(i) + 1], 40_000))
}

// ---------------------------------------------------------------------------------------------
// The families

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn positions_and_osmand(pool: PgPool) {
    let w = world(&pool).await;
    let (mut run, seed) = runner(1);
    let mut tally = Tally::new("positions and OsmAnd", seed);
    let at = Utc::now().to_rfc3339();
    let item = json!({"resource": w.worker_id, "lat": 32.05, "lng": 120.01, "at": at,
                      "accuracy_m": 5.0, "speed_mps": 1.2, "heading_deg": 90.0,
                      "altitude_m": 10.0, "battery": 0.8, "sos": false});
    let batch = prop_oneof![
        3 => (prop::collection::vec(mutated(item.clone()), 1..4), hostile_value())
            .prop_map(|(items, crs)| json!({"positions": items, "crs": crs}).to_string().into_bytes()),
        3 => prop::collection::vec(mutated(item.clone()), 1..4)
            .prop_map(|items| Value::Array(items).to_string().into_bytes()),
        2 => body_from(json!({"positions": [item.clone()], "crs": "wgs84"})),
    ];
    let limit = gridwall_server::http::positions::MAX_INGEST_BODY_BYTES;
    for i in 0..scaled(700) {
        let mut body = draw(&mut run, &batch);
        if i % 97 == 0 {
            // Past the route's body limit.
            body.resize(limit + 1 + i, b' ');
        }
        let token = match i % 10 {
            0..=6 => Some(w.device_token.as_str()),
            7 | 8 => Some(TOKEN),
            _ => None,
        };
        let query = if i % 7 == 0 {
            format!("?{}", draw(&mut run, &query_from(vec!["crs".into()])))
        } else {
            String::new()
        };
        let ct = if i % 13 == 0 {
            "text/plain"
        } else {
            "application/json"
        };
        if let Some(req) = request(
            "POST",
            &format!("/api/positions{query}"),
            token,
            Some(ct),
            body,
            None,
        ) {
            try_one(&mut tally, &w.app, &pool, req).await;
        }
    }

    let now_s = Utc::now().timestamp().to_string();
    let params = [
        ("id", w.ident.clone()),
        ("lat", "32.05".into()),
        ("lon", "120.01".into()),
        ("timestamp", now_s),
        ("speed", "1.0".into()),
        ("bearing", "90".into()),
        ("altitude", "10".into()),
        ("accuracy", "5".into()),
        ("batt", "80".into()),
        ("charge", "true".into()),
        ("alarm", "sos".into()),
    ];
    let form = prop::collection::vec((0u8..6, hostile_text()), params.len()).prop_map(move |ops| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for ((k, v), (op, hostile)) in params.iter().zip(ops) {
            match op {
                0..=2 => {
                    s.append_pair(k, v);
                }
                3 | 4 => {
                    s.append_pair(k, &hostile);
                }
                _ => {}
            }
        }
        s.finish()
    });
    let app_json = json!({"device_id": w.ident, "location": {
        "timestamp": Utc::now().to_rfc3339(),
        "coords": {"latitude": 32.05, "longitude": 120.01, "speed": 1.0, "heading": 90.0,
                   "altitude": 10.0, "accuracy": 5.0},
        "battery": {"level": 0.8, "is_charging": true}}});
    let app_body = prop_oneof![
        3 => mutated(app_json.clone()).prop_map(|v| v.to_string().into_bytes()),
        3 => mutated(app_json["location"]["coords"].clone()).prop_map(move |coords| {
            let mut v = app_json.clone();
            v["location"]["coords"] = coords;
            v.to_string().into_bytes()
        }),
        1 => raw_text(),
    ];
    for i in 0..scaled(800) {
        let addr = Some(addr_of(i));
        let req = match i % 4 {
            0 | 1 => {
                let q = draw(&mut run, &form);
                request(
                    "GET",
                    &format!("/api/osmand?{q}"),
                    None,
                    None,
                    Vec::new(),
                    addr,
                )
            }
            2 => {
                let q = draw(&mut run, &form);
                request(
                    "POST",
                    "/api/osmand",
                    None,
                    Some("application/x-www-form-urlencoded"),
                    q.into_bytes(),
                    addr,
                )
            }
            _ => {
                let body = draw(&mut run, &app_body);
                request(
                    "POST",
                    "/api/osmand",
                    None,
                    Some("application/json"),
                    body,
                    addr,
                )
            }
        };
        if let Some(req) = req {
            try_one(&mut tally, &w.app, &pool, req).await;
        }
    }
    tally.finish();
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn case_bodies_queries_and_other_writes(pool: PgPool) {
    let w = world(&pool).await;
    let (mut run, seed) = runner(2);
    let mut tally = Tally::new("cases, queries and writes", seed);

    let case_body = body_from(new_case());
    for _ in 0..scaled(500) {
        let body = draw(&mut run, &case_body);
        if let Some(req) = request(
            "POST",
            "/api/cases",
            Some(TOKEN),
            Some("application/json"),
            body,
            None,
        ) {
            try_one(&mut tally, &w.app, &pool, req).await;
        }
    }

    // Transitions the case allows now (so that a body valid but for one field goes deep),
    // and sometimes any action.
    let any_action = prop::sample::select(vec![
        "accept",
        "reject",
        "dispatch",
        "reassign",
        "take",
        "start",
        "decline",
        "return",
        "resolve",
        "follow_up",
        "close",
        "escalate",
        "reopen",
    ]);
    for i in 0..scaled(300) {
        let (_, case) = json_as(
            &w.app,
            "GET",
            &format!("/api/cases/{}", w.case_id),
            Some(TOKEN),
            None,
        )
        .await;
        let version = case["version"].clone();
        let allowed: Vec<String> = case["allowed_actions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let action = if allowed.is_empty() || i % 5 == 0 {
            draw(&mut run, &any_action).to_owned()
        } else {
            allowed[i % allowed.len()].clone()
        };
        let template = json!({"action": action, "version": version, "note": "处理中",
                              "assignee": w.worker_id, "position": [120.01, 32.05]});
        let body = draw(&mut run, &body_from(template));
        if let Some(req) = request(
            "POST",
            &format!("/api/cases/{}/transition", w.case_id),
            Some(TOKEN),
            Some("application/json"),
            body,
            None,
        ) {
            try_one(&mut tally, &w.app, &pool, req).await;
        }
    }

    // Every GET route of the API: its query parameters with hostile values, and every path
    // parameter hostile (from the OpenAPI document, so a new route is fuzzed too).
    let doc = serde_json::to_value(gridwall_server::http::openapi()).unwrap();
    let mut gets: Vec<(String, Vec<String>)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else { continue };
        let names = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        gets.push((path.clone(), names));
    }
    assert!(gets.len() > 20, "{}", gets.len());
    for i in 0..scaled(1200) {
        let (path, names) = &gets[i % gets.len()];
        let mut uri = path.clone();
        while let Some(start) = uri.find('{') {
            let end = uri[start..].find('}').map_or(uri.len(), |e| start + e + 1);
            let value = if i % 3 == 0 {
                draw(&mut run, &segment())
            } else {
                match &uri[start..end] {
                    "{id}" => w.case_id.to_string(),
                    "{code}" => "320999".into(),
                    "{z}" | "{x}" => "1".into(),
                    "{y}" => "1.mvt".into(),
                    _ => draw(&mut run, &segment()),
                }
            };
            uri.replace_range(start..end, &value);
        }
        let q = draw(&mut run, &query_from(names.clone()));
        // Now and then a method the route does not take.
        let method = [
            "GET", "GET", "GET", "GET", "GET", "GET", "DELETE", "PUT", "PATCH",
        ][i % 9];
        if let Some(req) = request(
            method,
            &format!("{uri}?{q}"),
            Some(TOKEN),
            None,
            Vec::new(),
            None,
        ) {
            try_one(&mut tally, &w.app, &pool, req).await;
        }
    }

    // Other bodies that reach PostgreSQL: workers, vehicles, categories, alert notes, login.
    let writes: Vec<(&str, String, Value)> = vec![
        (
            "POST",
            "/api/workers".into(),
            json!({"name": "网格员乙", "grid": GRID, "phone": "13912345678", "on_duty": true,
                   "skills": ["dispute", "fire"], "crs": "wgs84"}),
        ),
        (
            "POST",
            "/api/vehicles".into(),
            json!({"name": "巡逻车", "plate": "苏F12345", "unit": "320999001", "crs": "gcj02"}),
        ),
        (
            "PUT",
            "/api/case-categories/noise".into(),
            json!({"name_zh": "噪音", "name_en": "noise", "sla_hours": 24, "skill": "dispute",
                   "active": true, "sort": 5}),
        ),
        (
            "POST",
            "/api/alerts/1/acknowledge".into(),
            json!({"note": "在处理"}),
        ),
        (
            "PATCH",
            format!("/api/workers/{}", w.worker_id),
            json!({"name": "网格员丙", "skills": ["x"], "on_duty": false, "phone": null}),
        ),
        (
            "POST",
            "/api/auth/login".into(),
            json!({"username": "nobody", "password": "not the password", "mode": "bearer"}),
        ),
    ];
    for i in 0..scaled(600) {
        let (method, uri, template) = &writes[i % writes.len()];
        let body = draw(&mut run, &body_from(template.clone()));
        let token = (*uri != "/api/auth/login").then_some(TOKEN);
        if let Some(req) = request(
            method,
            uri,
            token,
            Some("application/json"),
            body,
            Some(addr_of(i)),
        ) {
            try_one(&mut tally, &w.app, &pool, req).await;
        }
    }
    tally.finish();
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn hierarchy_files(pool: PgPool) {
    let w = world(&pool).await;
    let (mut run, seed) = runner(3);
    let mut tally = Tally::new("hierarchy import", seed);
    let base = features();
    let n = base.len();
    let props_of = base.clone();
    let file = (
        (0..n).prop_flat_map(move |i| (Just(i), mutated(props_of[i]["properties"].clone()))),
        0u8..5,
        hostile_value(),
        raw_text(),
    )
        .prop_map(move |((i, props), how, value, raw)| {
            let mut fs = base.clone();
            match how {
                0 | 1 => {
                    fs[i]["properties"] = props;
                    collection(fs).to_string().into_bytes()
                }
                2 => {
                    fs[i]["geometry"]["coordinates"][0][1] = value;
                    collection(fs).to_string().into_bytes()
                }
                3 => {
                    fs[i] = value;
                    collection(fs).to_string().into_bytes()
                }
                _ => raw,
            }
        });
    for i in 0..scaled(250) {
        let mut body = draw(&mut run, &file);
        if i % 5 == 0 {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut enc, &body).unwrap();
            body = enc.finish().unwrap();
        }
        if let Some(req) = request(
            "POST",
            "/api/admin/hierarchy",
            Some(TOKEN),
            Some("application/geo+json"),
            body,
            None,
        ) {
            try_one(&mut tally, &w.app, &pool, req).await;
        }
    }
    tally.finish();
}

/// The websocket's client messages: first the parser alone on many inputs (nothing may
/// panic; every refusal has a code), then a real socket fed hostile messages, which must
/// answer each and stay open.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn websocket_messages(pool: PgPool) {
    let w = world(&pool).await;
    let (mut run, seed) = runner(4);
    let mut tally = Tally::new("websocket messages", seed);
    let subscribe = json!({"type": "subscribe", "id": "s1",
                           "layers": ["workers", "vehicles", "cases", "alerts"],
                           "viewport": {"bbox": [120.0, 32.0, 120.2, 32.2], "zoom": 12}});
    let by_unit = json!({"type": "subscribe", "id": 7, "layers": ["workers"], "unit": "320999001"});
    let message = prop_oneof![
        4 => mutated(subscribe.clone()).prop_map(|v| v.to_string()),
        2 => mutated(by_unit).prop_map(|v| v.to_string()),
        2 => mutated(subscribe["viewport"].clone()).prop_map(move |vp| {
            let mut v = subscribe.clone();
            v["viewport"] = vp;
            v.to_string()
        }),
        1 => hostile_value().prop_map(|v| v.to_string()),
        1 => raw_text().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    let messages: Vec<String> = (0..scaled(5000))
        .map(|_| draw(&mut run, &message))
        .collect();
    for text in &messages {
        tally.tried += 1;
        match std::panic::catch_unwind(|| gridwall_server::stream::parse(text)) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if !e.code.is_empty() => {}
            Ok(Err(_)) => tally.fail(format!("a refusal without a code: {text}")),
            Err(_) => tally.fail(format!("the parser panicked on {text}")),
        }
    }

    // The same over a real socket: each message gets an answer and the socket stays open.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        axum::serve(
            listener,
            w.app
                .clone()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .into_future(),
    );
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {TOKEN}").parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let over_socket = messages.len().min(scaled(400));
    for text in &messages[..over_socket] {
        ws.send(Message::text(text.clone())).await.unwrap();
    }
    ws.send(Message::text(
        json!({"type": "subscribe", "id": "last", "layers": ["workers"], "unit": "320999"})
            .to_string(),
    ))
    .await
    .unwrap();
    tally.tried += over_socket + 1;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(30), ws.next()).await;
        let Ok(Some(Ok(msg))) = next else {
            tally.fail(format!("the socket ended or hung: {next:?}"));
            break;
        };
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                if v["type"] == "error" && !v["code"].is_string() {
                    tally.fail(format!("an error without a code: {t}"));
                }
                if v["type"] == "snapshot" && v["id"] == "last" {
                    break;
                }
            }
            Message::Close(frame) => {
                tally.fail(format!("the server closed the socket: {frame:?}"));
                break;
            }
            _ => {}
        }
    }
    tally.finish();
}
