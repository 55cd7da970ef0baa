//! The live websocket against a real server on port 0 and real PostGIS: the upgrade needs a
//! session (bearer or cookie), the server greets with `hello`, and the socket closes with
//! 4401 and a reason when its session ends — at once for revocations in this process
//! (logout, account disabled, password reset), by the periodic re-check for an expiry
//! written straight into the database.
//!
//! Streaming: subscribe → snapshot, positions posted to `POST /api/positions` → coalesced
//! deltas (entered, moved, left, removed), re-subscribing, scope isolation, and a stalled
//! client that is shed without delaying another.
//!
//! Every wait has a generous hang guard (10 s), never a speed requirement. Tests that must
//! prove the in-process announcement re-check only once an hour, so nothing else can close
//! the socket within the guard; the expiry test re-checks every 200 ms, so only the re-check
//! can.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use axum::http::StatusCode;
use common::{TOKEN, collection, features, post_hierarchy, user_with_session};
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_server::AppState;
use gridwall_server::auth::AuthConfig;
use gridwall_server::live::{LiveConfig, ResourceInfo, StreamConfig};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, COOKIE, HeaderName};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// One extra request header: the credential a test connects with.
type Credential = Option<(HeaderName, String)>;

/// Longest any single wait may take before the test calls it a hang.
const HANG_GUARD: Duration = Duration::from_secs(10);
/// A re-check period no test outlives: only the in-process announcement can close a socket.
const NEVER: Duration = Duration::from_secs(3600);

/// A running server on 127.0.0.1:0 and its router (for in-process requests such as imports).
struct Server {
    addr: SocketAddr,
    router: axum::Router,
    state: AppState,
    http: reqwest::Client,
}

impl Server {
    async fn start(pool: PgPool, ws_recheck: Duration) -> Self {
        Self::start_with(pool, ws_recheck, LiveConfig::default()).await
    }

    async fn start_with(pool: PgPool, ws_recheck: Duration, live: LiveConfig) -> Self {
        let (router, state) = common::app_full(
            pool,
            AuthConfig {
                ws_recheck,
                ..Default::default()
            },
            live,
        )
        .await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            axum::serve(
                listener,
                router
                    .clone()
                    .into_make_service_with_connect_info::<SocketAddr>(),
            )
            .into_future(),
        );
        Self {
            addr,
            router,
            state,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Opens `/ws` with one extra header (the credential), or none.
    async fn connect(&self, header: Credential) -> Result<Ws, tungstenite::Error> {
        let mut req = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .unwrap();
        if let Some((name, value)) = header {
            req.headers_mut().insert(name, value.parse().unwrap());
        }
        tokio::time::timeout(HANG_GUARD, tokio_tungstenite::connect_async(req))
            .await
            .expect("the handshake hung")
            .map(|(ws, resp)| {
                assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
                ws
            })
    }

    async fn connect_bearer(&self, token: &str) -> Ws {
        self.connect(Some((AUTHORIZATION, format!("Bearer {token}"))))
            .await
            .unwrap_or_else(|e| panic!("bearer upgrade refused: {e:?}"))
    }

    /// Connects with a bearer token and reads the hello.
    async fn open(&self, token: &str) -> Ws {
        let mut ws = self.connect_bearer(token).await;
        let hello = next_json(&mut ws).await;
        assert_eq!(hello["type"], "hello", "{hello}");
        ws
    }
}

/// The next data or close message, skipping pings and pongs.
async fn next_message(ws: &mut Ws) -> Option<Message> {
    loop {
        let msg = tokio::time::timeout(HANG_GUARD, ws.next())
            .await
            .expect("nothing arrived on the socket within the hang guard");
        match msg {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(m)) => return Some(m),
            Some(Err(e)) => panic!("socket error: {e}"),
            None => return None,
        }
    }
}

async fn next_json(ws: &mut Ws) -> Value {
    match next_message(ws).await {
        Some(Message::Text(text)) => {
            serde_json::from_str(text.as_str()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        }
        other => panic!("expected a JSON text message, got {other:?}"),
    }
}

/// Waits for the server's Close frame: code 4401 with `reason`; then the stream ends.
async fn expect_close(ws: &mut Ws, reason: &str) {
    match next_message(ws).await {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 4401, "close code ({frame})");
            assert_eq!(frame.reason.as_str(), reason);
        }
        other => panic!("expected Close 4401 {reason:?}, got {other:?}"),
    }
    assert!(
        next_message(ws).await.is_none(),
        "the socket must end after the close"
    );
}

/// The socket is alive: a text message that is not JSON gets the `bad_message` error reply.
async fn assert_open(ws: &mut Ws) {
    ws.send(Message::text("ping?")).await.unwrap();
    let reply = next_json(ws).await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], "bad_message", "{reply}");
}

/// A second session for an existing user; returns its token.
async fn another_session(pool: &PgPool, username: &str) -> String {
    let token = format!("gws_test-{username}-second");
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, expires_at, idle_timeout_s)
         SELECT $1, id, now() + interval '1 day', 86400 FROM users WHERE username = $2",
    )
    .bind(gridwall_server::auth::hash_token(&token))
    .bind(username)
    .execute(pool)
    .await
    .unwrap();
    token
}

async fn user_id(pool: &PgPool, username: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn the_upgrade_needs_a_valid_session(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    let expired = user_with_session(&pool, "expired", "operator", None).await;
    sqlx::query(
        "UPDATE sessions SET expires_at = now() - interval '1 second'
         WHERE user_id = (SELECT id FROM users WHERE username = 'expired')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let revoked = user_with_session(&pool, "revoked", "operator", None).await;
    sqlx::query(
        "UPDATE sessions SET revoked_at = now()
         WHERE user_id = (SELECT id FROM users WHERE username = 'revoked')",
    )
    .execute(&pool)
    .await
    .unwrap();

    let bearer = |t: &str| Some((AUTHORIZATION, format!("Bearer {t}")));
    let cases: Vec<(&str, Credential, &str)> = vec![
        ("no credentials", None, "unauthorized"),
        (
            "a device token",
            bearer("gwd_x"),
            "device_token_not_allowed",
        ),
        ("an unknown session", bearer("gws_x"), "invalid_token"),
        ("not a gridwall token", bearer("hello"), "invalid_token"),
        (
            "an unknown session cookie",
            Some((COOKIE, "gridwall_session=gws_x".into())),
            "invalid_token",
        ),
        ("an expired session", bearer(&expired), "session_expired"),
        ("a revoked session", bearer(&revoked), "session_revoked"),
    ];
    for (what, header, code) in cases {
        match server.connect(header).await {
            Err(tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{what}");
                let body = resp
                    .body()
                    .as_deref()
                    .unwrap_or_else(|| panic!("{what}: 401 without a body"));
                let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
                    panic!("{what}: not JSON ({e}): {}", String::from_utf8_lossy(body))
                });
                assert_eq!(common::error_parts(&v).0, code, "{what}: {v}");
            }
            Ok(_) => panic!("{what}: the upgrade was accepted"),
            Err(e) => panic!("{what}: expected HTTP 401, got {e:?}"),
        }
    }
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn bearer_and_cookie_both_open_the_socket_with_a_hello(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    let (status, v) = post_hierarchy(
        &server.router,
        collection(features()).to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let version = v["version"].as_i64().unwrap();
    let token = user_with_session(&pool, "disp", "dispatcher", Some("320999")).await;
    let expires_at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT expires_at FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE u.username = 'disp'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();

    let by_bearer = server.connect_bearer(&token).await;
    let by_cookie = server
        .connect(Some((
            COOKIE,
            format!("theme=dark; gridwall_session={token}"),
        )))
        .await
        .unwrap_or_else(|e| panic!("cookie upgrade refused: {e:?}"));
    for (how, mut ws) in [("bearer", by_bearer), ("cookie", by_cookie)] {
        let hello = next_json(&mut ws).await;
        assert_eq!(hello["type"], "hello", "{how}: {hello}");
        assert_eq!(hello["protocol"], 1, "{how}: {hello}");
        assert_eq!(hello["user"]["username"], "disp", "{how}: {hello}");
        assert_eq!(hello["user"]["role"], "dispatcher", "{how}: {hello}");
        assert_eq!(hello["user"]["scope"]["code"], "320999", "{how}: {hello}");
        assert_eq!(hello["user"]["scope"]["level"], 1, "{how}: {hello}");
        assert_eq!(hello["hierarchy_version"], version, "{how}: {hello}");
        let said: chrono::DateTime<chrono::Utc> = hello["session_expires_at"]
            .as_str()
            .unwrap_or_else(|| panic!("{how}: no session_expires_at in {hello}"))
            .parse()
            .unwrap();
        assert_eq!(said, expires_at, "{how}: the session's absolute expiry");
        assert_open(&mut ws).await;
    }

    // The admin's own socket says who it is too.
    let mut admin = server.connect_bearer(TOKEN).await;
    let hello = next_json(&mut admin).await;
    assert_eq!(hello["user"]["username"], common::ADMIN);
    assert_eq!(hello["user"]["role"], "admin");
    assert!(hello["user"]["scope"].is_null(), "{hello}");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn logout_closes_that_sessions_socket_at_once(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    let token = user_with_session(&pool, "op", "operator", None).await;
    let second = another_session(&pool, "op").await;
    let mut ws = server.open(&token).await;
    let mut other_session = server.open(&second).await;
    let mut other_user = server.open(TOKEN).await;

    let resp = server
        .http
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_close(&mut ws, "session revoked").await;

    // Only that session ended: the user's other session and other users stay connected.
    assert_open(&mut other_session).await;
    assert_open(&mut other_user).await;
    // And it cannot come back.
    assert!(matches!(
        server.connect(Some((AUTHORIZATION, format!("Bearer {token}")))).await,
        Err(tungstenite::Error::Http(r)) if r.status() == StatusCode::UNAUTHORIZED
    ));
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn an_expiry_written_in_the_database_is_found_by_the_recheck(pool: PgPool) {
    let server = Server::start(pool.clone(), Duration::from_millis(200)).await;
    let token = user_with_session(&pool, "leader", "leader", None).await;
    let keep = user_with_session(&pool, "other", "leader", None).await;
    let mut ws = server.open(&token).await;
    let mut kept = server.open(&keep).await;

    // Nothing announces this: only the periodic re-check can see it.
    let done = sqlx::query(
        "UPDATE sessions SET expires_at = now() - interval '1 second'
         WHERE user_id = (SELECT id FROM users WHERE username = 'leader')",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 1);
    expect_close(&mut ws, "session expired").await;
    assert_open(&mut kept).await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn disabling_the_account_or_resetting_its_password_closes_its_sockets(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    let disabled = user_with_session(&pool, "to-disable", "operator", None).await;
    let disabled_2 = another_session(&pool, "to-disable").await;
    let reset = user_with_session(&pool, "to-reset", "operator", None).await;
    let bystander = user_with_session(&pool, "bystander", "operator", None).await;
    let mut d1 = server.open(&disabled).await;
    let mut d2 = server.open(&disabled_2).await;
    let mut r = server.open(&reset).await;
    let mut b = server.open(&bystander).await;

    let id = user_id(&pool, "to-disable").await;
    let resp = server
        .http
        .patch(server.url(&format!("/api/users/{id}")))
        .bearer_auth(TOKEN)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Every session of the account ends.
    expect_close(&mut d1, "session revoked").await;
    expect_close(&mut d2, "session revoked").await;
    assert_open(&mut r).await;

    let id = user_id(&pool, "to-reset").await;
    let resp = server
        .http
        .post(server.url(&format!("/api/users/{id}/password")))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["sessions_ended"], 1, "{v}");
    expect_close(&mut r, "session revoked").await;

    assert_open(&mut b).await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn bad_client_messages_get_an_error_reply_and_the_socket_stays_open(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    load_hierarchy(&server).await;
    let token = user_with_session(&pool, "op", "operator", Some("320999001")).await;
    let mut ws = server.open(&token).await;

    let long = "订阅".repeat(80);
    let cases = [
        (long.as_str(), "bad_message"),
        (r#"{"type":"unsubscribe","id":3}"#, "unsupported"),
        (
            r#"{"type":"subscribe","id":"a","layers":["workers"]}"#,
            "invalid_subscription",
        ),
        (
            r#"{"type":"subscribe","id":"b","layers":["people"],"unit":"320999"}"#,
            "unknown_layer",
        ),
        (
            r#"{"type":"subscribe","id":"c","layers":[],"viewport":{"bbox":[121,32,120,33],"zoom":9}}"#,
            "invalid_bbox",
        ),
        (
            r#"{"type":"subscribe","id":"d","layers":["workers"],"unit":"320999777"}"#,
            "unknown_unit",
        ),
        (
            r#"{"type":"subscribe","id":"e","layers":["workers"],"unit":"320999002"}"#,
            "out_of_scope",
        ),
    ];
    for (text, code) in cases {
        ws.send(Message::text(text)).await.unwrap();
        let reply = next_json(&mut ws).await;
        assert_eq!(reply["type"], "error", "{text}: {reply}");
        assert_eq!(reply["code"], code, "{text}: {reply}");
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
        if code == "bad_message" {
            // The echo is cut at 100 characters (not bytes: Chinese text must stay valid).
            let echoed: String = text.chars().take(100).collect();
            assert_eq!(reply["received"], echoed.as_str(), "{reply}");
        } else {
            let id: Value = serde_json::from_str::<Value>(text).unwrap()["id"].clone();
            assert_eq!(reply["id"], id, "the id is echoed: {reply}");
        }
    }
    // Binary frames are ignored without a reply: the next reply is the one to the next text.
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    ws.send(Message::text("after binary")).await.unwrap();
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["code"], "bad_message", "{reply}");
    assert_eq!(reply["received"], "after binary", "{reply}");
    // Reserved layers are accepted.
    subscribe(
        &mut ws,
        "f",
        &["cases", "alerts"],
        json!({"unit": "320999001"}),
    )
    .await;
}

// --- streaming ---------------------------------------------------------------------------

/// West township 320999001, south village, first grid: lng 120.0–120.033, lat 32.0–32.1.
const WEST_GRID: &str = "320999001001001";
/// East township 320999002, south village, first grid: lng 120.1–120.133, lat 32.0–32.1.
const EAST_GRID: &str = "320999002001001";
/// The west township's south village (all three grids).
const WEST_BOX: [f64; 4] = [120.0, 32.0, 120.1, 32.1];
/// The east township's south village.
const EAST_BOX: [f64; 4] = [120.1, 32.0, 120.2, 32.1];
/// Much more than the test city.
const CITY_BOX: [f64; 4] = [119.0, 31.0, 121.0, 33.0];

async fn load_hierarchy(server: &Server) -> i64 {
    let (status, v) = post_hierarchy(
        &server.router,
        collection(features()).to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["version"].as_i64().unwrap()
}

/// A worker homed at grid `home`, loaded into the live directory.
async fn worker(server: &Server, name: &str, home: &str) -> Arc<ResourceInfo> {
    let pool = &server.state.pool;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO resources (kind, name, unit_id, on_duty)
         SELECT 'worker', $1, id, true FROM units WHERE code = $2 RETURNING id",
    )
    .bind(name)
    .bind(home)
    .fetch_one(pool)
    .await
    .unwrap();
    server.state.live.resource(pool, id).await.unwrap().unwrap()
}

/// The time `at_s` seconds after a fixed start (a minute ago: recent enough not to be
/// offline), RFC 3339.
fn at(at_s: i64) -> String {
    static START: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        let now = chrono::Utc::now() - chrono::Duration::seconds(60);
        now - chrono::Duration::milliseconds(now.timestamp_subsec_millis().into())
    });
    (start + chrono::Duration::seconds(at_s)).to_rfc3339()
}

/// Posts one batch of positions, (resource, lng, lat, seconds after the start) each, to
/// `POST /api/positions` as the admin; every one must be accepted.
async fn put(server: &Server, items: &[(&Arc<ResourceInfo>, f64, f64, i64)]) {
    let positions: Vec<Value> = items
        .iter()
        .map(|&(info, lng, lat, at_s)| {
            json!({"resource": info.id, "lng": lng, "lat": lat, "at": at(at_s),
                   "accuracy_m": 5.0, "speed_mps": 1.2, "heading_deg": 90.0, "battery": 80})
        })
        .collect();
    let (status, v) = common::json_as(
        &server.router,
        "POST",
        "/api/positions",
        Some(TOKEN),
        Some(json!({ "positions": positions })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["rejected"], 0, "every position is accepted");
}

/// Sends a subscription and returns the snapshot that answers it.
async fn subscribe(ws: &mut Ws, id: &str, layers: &[&str], area: Value) -> Value {
    let mut msg = json!({"type": "subscribe", "id": id, "layers": layers});
    for (k, v) in area.as_object().unwrap() {
        msg[k] = v.clone();
    }
    ws.send(Message::text(msg.to_string())).await.unwrap();
    let snap = next_json(ws).await;
    assert_eq!(snap["type"], "snapshot", "{snap}");
    assert_eq!(snap["id"], id, "{snap}");
    assert_eq!(snap["reason"], "subscribe", "{snap}");
    snap
}

fn viewport(bbox: [f64; 4]) -> Value {
    json!({"viewport": {"bbox": bbox, "zoom": 13}})
}

fn ids(list: &Value) -> Vec<i64> {
    let mut out: Vec<i64> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|r| r.as_i64().or_else(|| r["id"].as_i64()).unwrap())
        .collect();
    out.sort_unstable();
    out
}

/// The next delta (skipping nothing else: any other message fails the test).
async fn next_delta(ws: &mut Ws) -> Value {
    let d = next_json(ws).await;
    assert_eq!(d["type"], "delta", "{d}");
    d
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn subscribe_answers_a_snapshot_then_coalesced_deltas(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    let version = load_hierarchy(&server).await;
    let a = worker(&server, "甲", WEST_GRID).await;
    let b = worker(&server, "乙", WEST_GRID).await;
    let c = worker(&server, "丙", EAST_GRID).await;
    put(&server, &[(&a, 120.01, 32.05, 0), (&c, 120.15, 32.05, 0)]).await;
    let mut ws = server.open(TOKEN).await;

    let snap = subscribe(&mut ws, "v1", &["workers"], viewport(WEST_BOX)).await;
    assert_eq!(snap["hierarchy_version"], version);
    let resources = snap["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "{snap}");
    let r = &resources[0];
    assert_eq!(r["id"], a.id);
    assert_eq!(r["kind"], "worker");
    assert_eq!(r["name"], "甲");
    assert_eq!(r["position"], json!([120.01, 32.05]));
    assert_eq!(r["grid"], WEST_GRID);
    assert_eq!(r["status"], json!(["on_duty"]));
    assert_eq!(r["speed_mps"], 1.2);
    assert_eq!(r["heading_deg"], 90.0);
    assert_eq!(r["battery_pct"], 80);
    assert!(r["at"].as_str().is_some(), "{r}");

    // Three moves of a in one batch arrive as one, its latest; b appears.
    put(
        &server,
        &[
            (&a, 120.02, 32.05, 10),
            (&b, 120.05, 32.06, 10),
            (&a, 120.03, 32.05, 20),
            (&a, 120.04, 32.05, 30),
        ],
    )
    .await;
    let d = next_delta(&mut ws).await;
    assert_eq!(ids(&d["moved"]), vec![a.id], "{d}");
    assert_eq!(d["moved"][0]["position"], json!([120.04, 32.05]), "{d}");
    assert_eq!(d["moved"][0]["grid"], "320999001001002", "{d}");
    assert_eq!(ids(&d["entered"]), vec![b.id], "{d}");
    assert_eq!(d["entered"][0]["name"], "乙", "{d}");
    assert_eq!(d["left"], json!([]));
    assert_eq!(d["removed"], json!([]));

    // a walks out of the viewport: left; c walks in: entered.
    put(&server, &[(&a, 120.12, 32.05, 40), (&c, 120.09, 32.05, 40)]).await;
    let d = next_delta(&mut ws).await;
    assert_eq!(ids(&d["left"]), vec![a.id], "{d}");
    assert_eq!(ids(&d["entered"]), vec![c.id], "{d}");
    assert_eq!(d["moved"], json!([]), "{d}");

    // A new viewport: a new snapshot replaces the set.
    let snap = subscribe(&mut ws, "v2", &["workers"], viewport(EAST_BOX)).await;
    assert_eq!(ids(&snap["resources"]), vec![a.id], "{snap}");
    // Moves in the old viewport are not sent any more; in the new one they are.
    put(&server, &[(&b, 120.06, 32.06, 50), (&a, 120.13, 32.05, 50)]).await;
    let d = next_delta(&mut ws).await;
    assert_eq!(ids(&d["moved"]), vec![a.id], "{d}");
    assert!(d["entered"].as_array().unwrap().is_empty(), "{d}");

    // Disabled: removed.
    sqlx::query("UPDATE resources SET disabled_at = now() WHERE id = $1")
        .bind(a.id)
        .execute(&pool)
        .await
        .unwrap();
    let loaded = server.state.hierarchy.get();
    server
        .state
        .live
        .refresh_resource(&pool, loaded.as_deref(), a.id)
        .await
        .unwrap();
    let d = next_delta(&mut ws).await;
    assert_eq!(ids(&d["removed"]), vec![a.id], "{d}");

    // A unit subscription: resources located under the unit.
    let snap = subscribe(
        &mut ws,
        "u",
        &["workers", "vehicles"],
        json!({"unit": "320999001"}),
    )
    .await;
    assert_eq!(ids(&snap["resources"]), vec![b.id, c.id], "{snap}");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_township_user_never_sees_another_townships_worker(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    load_hierarchy(&server).await;
    let mine = worker(&server, "本镇", WEST_GRID).await;
    let theirs = worker(&server, "外镇", EAST_GRID).await;
    // Theirs stands in my township, mine in theirs: the home unit decides.
    put(
        &server,
        &[(&mine, 120.15, 32.05, 0), (&theirs, 120.05, 32.05, 0)],
    )
    .await;
    let token = user_with_session(&pool, "west", "dispatcher", Some("320999001")).await;
    let mut west = server.open(&token).await;
    let mut admin = server.open(TOKEN).await;

    let snap = subscribe(
        &mut west,
        "city",
        &["workers", "vehicles"],
        viewport(CITY_BOX),
    )
    .await;
    assert_eq!(ids(&snap["resources"]), vec![mine.id], "{snap}");
    let snap = subscribe(&mut admin, "city", &["workers"], viewport(CITY_BOX)).await;
    assert_eq!(ids(&snap["resources"]), vec![mine.id, theirs.id], "{snap}");

    // Theirs moves about in my township; then mine moves. The first delta the west user
    // gets is mine alone: every earlier change was theirs and never sent.
    for step in 1..=5 {
        put(
            &server,
            &[(
                &theirs,
                120.05 + 0.001 * f64::from(step),
                32.05,
                step.into(),
            )],
        )
        .await;
    }
    put(&server, &[(&mine, 120.16, 32.05, 10)]).await;
    let d = next_delta(&mut west).await;
    assert_eq!(ids(&d["moved"]), vec![mine.id], "{d}");
    assert!(
        !d.to_string().contains(&format!("\"id\":{}", theirs.id)),
        "{d}"
    );
    let mut admin_saw = Vec::new();
    while !admin_saw.contains(&mine.id) {
        admin_saw.extend(ids(&next_delta(&mut admin).await["moved"]));
    }
    assert!(admin_saw.contains(&theirs.id), "the admin sees both");

    // A unit under my township shows only mine, though theirs is located there.
    let snap = subscribe(&mut west, "u", &["workers"], json!({"unit": "320999001"})).await;
    assert!(ids(&snap["resources"]).is_empty(), "{snap}");
    let snap = subscribe(&mut admin, "u", &["workers"], json!({"unit": "320999001"})).await;
    assert_eq!(ids(&snap["resources"]), vec![theirs.id], "{snap}");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_stalled_client_is_shed_and_never_delays_another(pool: PgPool) {
    // Enough workers that snapshots are large (≈0.8 MB each) and the socket buffers fill.
    const CROWD: i64 = 3000;
    let live = LiveConfig {
        stream: StreamConfig {
            queue_messages: 2,
            stall_timeout: Duration::from_secs(1),
            ..StreamConfig::default()
        },
        ..LiveConfig::default()
    };
    let server = Server::start_with(pool.clone(), NEVER, live).await;
    load_hierarchy(&server).await;
    let crowd_ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO resources (kind, name, unit_id, on_duty)
         SELECT 'worker', '网格员' || n, u.id, true
         FROM generate_series(1, $1) n, units u WHERE u.code = $2 RETURNING id",
    )
    .bind(CROWD)
    .bind(WEST_GRID)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut crowd = Vec::new();
    for id in crowd_ids {
        crowd.push(
            server
                .state
                .live
                .resource(&pool, id)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let items: Vec<_> = crowd
        .iter()
        .zip(0..)
        .map(|(w, i)| {
            (
                w,
                120.001 + 0.00003 * f64::from(i % 1000),
                32.001 + 0.03 * f64::from(i / 1000),
                0,
            )
        })
        .collect();
    put(&server, &items).await;
    let watched = worker(&server, "观察", EAST_GRID).await;
    put(&server, &[(&watched, 120.15, 32.05, 0)]).await;

    let mut healthy = server.open(TOKEN).await;
    subscribe(&mut healthy, "h", &["workers"], viewport(EAST_BOX)).await;

    // The stalled client subscribes over and over (each answer is a large snapshot) and
    // never reads a byte, until the server drops it.
    let (mut stalled_tx, mut stalled_rx) = server.connect_bearer(TOKEN).await.split();
    let sub = json!({"type": "subscribe", "id": "s", "layers": ["workers"], "viewport": {"bbox": WEST_BOX}});
    let subscribes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent = Arc::clone(&subscribes);
    let spam = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + 3 * HANG_GUARD;
        while tokio::time::Instant::now() < deadline
            && stalled_tx
                .send(Message::text(sub.to_string()))
                .await
                .is_ok()
        {
            sent.fetch_add(1, Relaxed);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let streams = &server.state.live.streams;
    wait_for("the stalled client's queue to fill", || {
        streams.behind.load(Relaxed) > 0
    })
    .await;

    // Meanwhile the healthy client gets its deltas.
    for step in 1..=3 {
        put(
            &server,
            &[(
                &watched,
                120.15 + 0.001 * f64::from(step),
                32.05,
                step.into(),
            )],
        )
        .await;
        let d = next_delta(&mut healthy).await;
        assert_eq!(ids(&d["moved"]), vec![watched.id], "{d}");
    }

    // The stalled client is shed once its socket takes nothing for the stall timeout; what
    // reached it is what the socket buffers held, not a snapshot per subscribe.
    tokio::time::timeout(3 * HANG_GUARD, async {
        while streams.shed.load(Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the stalled client was never shed");
    spam.abort();
    let subscribes = subscribes.load(Relaxed);
    let mut snapshots = 0;
    loop {
        match tokio::time::timeout(HANG_GUARD, stalled_rx.next())
            .await
            .expect("hang")
        {
            Some(Ok(Message::Text(t))) => {
                if t.as_str().starts_with(r#"{"type":"snapshot""#) {
                    snapshots += 1;
                }
            }
            Some(Ok(Message::Close(frame))) => {
                if let Some(f) = frame {
                    assert_eq!(u16::from(f.code), 4429, "{f}");
                }
            }
            Some(Ok(_)) => {}
            // The server dropped the connection without a closing handshake.
            Some(Err(_)) | None => break,
        }
    }
    assert!(
        snapshots < subscribes,
        "{snapshots} snapshots for {subscribes} subscribes"
    );
    wait_for("only the healthy socket to be left", || {
        streams.open.load(Relaxed) == 1
    })
    .await;

    // And the healthy one still streams.
    put(&server, &[(&watched, 120.16, 32.05, 10)]).await;
    let d = next_delta(&mut healthy).await;
    assert_eq!(ids(&d["moved"]), vec![watched.id], "{d}");
}

/// Polls `done` until it holds, within the hang guard.
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited too long for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_client_that_answers_nothing_is_closed_as_idle(pool: PgPool) {
    let live = LiveConfig {
        stream: StreamConfig {
            ping_every: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
            ..StreamConfig::default()
        },
        ..LiveConfig::default()
    };
    let server = Server::start_with(pool.clone(), NEVER, live).await;
    // Not reading means not answering the server's pings either.
    let mut ws = server.connect_bearer(TOKEN).await;
    let streams = &server.state.live.streams;
    wait_for("the idle close", || streams.idle.load(Relaxed) == 1).await;
    // The socket ends; the close frame says why when it arrives before the client's own
    // (late) pongs hit the closed connection.
    loop {
        match tokio::time::timeout(HANG_GUARD, ws.next())
            .await
            .expect("hang")
        {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 4408, "{frame}");
                assert_eq!(frame.reason.as_str(), "idle timeout");
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    wait_for("the socket to be gone", || streams.open.load(Relaxed) == 0).await;
}

/// Registers a case at (lng, lat) through the API as `token`; returns it.
async fn new_case(server: &Server, token: &str, lng: f64, lat: f64) -> Value {
    let (status, v) = common::json_as(
        &server.router,
        "POST",
        "/api/cases",
        Some(token),
        Some(
            json!({"title": "占道经营", "category": "city_appearance", "source": "walk_in",
                    "lng": lng, "lat": lat}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

/// Moves a case as the admin.
async fn case_action(server: &Server, case: &Value, action: &str, note: Option<&str>) -> Value {
    let (status, v) = common::json_as(
        &server.router,
        "POST",
        &format!("/api/cases/{}/transition", case["id"]),
        Some(TOKEN),
        Some(json!({"action": action, "version": case["version"], "note": note})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

/// The next `cases` message: (what, id, status) of each change.
async fn next_cases(ws: &mut Ws) -> Vec<(String, i64, String)> {
    let m = next_json(ws).await;
    assert_eq!(m["type"], "cases", "{m}");
    m["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["what"].as_str().unwrap().to_owned(),
                c["case"]["id"].as_i64().unwrap(),
                c["case"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn the_cases_layer_streams_open_cases_within_scope(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    load_hierarchy(&server).await;
    let west_token = user_with_session(&pool, "west", "dispatcher", Some("320999001")).await;
    let early_west = new_case(&server, TOKEN, 120.01, 32.05).await;
    let early_east = new_case(&server, TOKEN, 120.15, 32.05).await;
    let closed_before = new_case(&server, TOKEN, 120.02, 32.05).await;
    case_action(&server, &closed_before, "reject", Some("不属实")).await;

    let mut west = server.open(&west_token).await;
    let mut admin = server.open(TOKEN).await;
    // The resources' snapshot answers the subscription, the cases' snapshot follows.
    for (ws, want) in [
        (&mut west, vec![early_west["id"].as_i64().unwrap()]),
        (
            &mut admin,
            vec![
                early_west["id"].as_i64().unwrap(),
                early_east["id"].as_i64().unwrap(),
            ],
        ),
    ] {
        subscribe(ws, "c", &["workers", "cases"], viewport(CITY_BOX)).await;
        let snap = next_json(ws).await;
        assert_eq!(snap["type"], "cases_snapshot", "{snap}");
        assert_eq!(ids(&snap["cases"]), want, "{snap}");
        assert_eq!(snap["cases"][0]["status"], "reported");
        assert!(
            snap["cases"][0]["number"]
                .as_str()
                .unwrap()
                .starts_with("NT-")
        );
    }

    // Created: each sees what lies in its territory.
    let mine = new_case(&server, TOKEN, 120.03, 32.06).await;
    let theirs = new_case(&server, TOKEN, 120.16, 32.06).await;
    let mine_id = mine["id"].as_i64().unwrap();
    assert_eq!(
        next_cases(&mut west).await,
        vec![("created".into(), mine_id, "reported".into())]
    );
    let mut admin_saw = Vec::new();
    while admin_saw.len() < 2 {
        admin_saw.extend(next_cases(&mut admin).await.into_iter().map(|c| c.1));
    }
    admin_saw.sort_unstable();
    assert_eq!(admin_saw, vec![mine_id, theirs["id"].as_i64().unwrap()]);

    // Changed, then closed. Their case's changes never reach the west.
    let theirs = case_action(&server, &theirs, "accept", None).await;
    case_action(&server, &theirs, "reject", Some("重复")).await;
    let mine = case_action(&server, &mine, "accept", None).await;
    assert_eq!(
        next_cases(&mut west).await,
        vec![("changed".into(), mine_id, "accepted".into())]
    );
    case_action(&server, &mine, "reject", Some("不属实")).await;
    assert_eq!(
        next_cases(&mut west).await,
        vec![("closed".into(), mine_id, "rejected".into())]
    );

    // A unit subscription shows the cases in grids under it; a viewport only what lies in it.
    subscribe(&mut west, "u", &["cases"], json!({"unit": "320999001001"})).await;
    let snap = next_json(&mut west).await;
    assert_eq!(
        ids(&snap["cases"]),
        vec![early_west["id"].as_i64().unwrap()],
        "{snap}"
    );
    subscribe(
        &mut west,
        "v",
        &["cases"],
        viewport([120.1, 32.0, 120.2, 32.2]),
    )
    .await;
    let snap = next_json(&mut west).await;
    assert_eq!(snap["type"], "cases_snapshot");
    assert!(
        ids(&snap["cases"]).is_empty(),
        "the east is not my territory: {snap}"
    );

    // Without the layer, no case message at all: the next message is the workers' delta.
    let mut plain = server.open(TOKEN).await;
    subscribe(&mut plain, "w", &["workers"], viewport(CITY_BOX)).await;
    new_case(&server, TOKEN, 120.04, 32.07).await;
    let w = worker(&server, "巡查员", WEST_GRID).await;
    put(&server, &[(&w, 120.01, 32.05, 1)]).await;
    let d = next_json(&mut plain).await;
    assert_eq!(d["type"], "delta", "{d}");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn the_alerts_layer_streams_live_alerts_within_scope(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    load_hierarchy(&server).await;
    let mut engine = gridwall_server::alerts::engine::Engine::default();
    let west_token = user_with_session(&pool, "west", "dispatcher", Some("320999001")).await;
    let mine = worker(&server, "本镇", WEST_GRID).await;
    let theirs = worker(&server, "外镇", EAST_GRID).await;
    // Both silent for an hour: offline alerts before anyone subscribes.
    put(
        &server,
        &[
            (&mine, 120.01, 32.05, -3600),
            (&theirs, 120.15, 32.05, -3600),
        ],
    )
    .await;
    engine
        .tick(&server.state, chrono::Utc::now())
        .await
        .unwrap();

    let mut west = server.open(&west_token).await;
    let mut admin = server.open(TOKEN).await;
    for (ws, want) in [(&mut west, 1), (&mut admin, 2)] {
        subscribe(ws, "a", &["alerts"], viewport(CITY_BOX)).await;
        let snap = next_json(ws).await;
        assert_eq!(snap["type"], "alerts_snapshot", "{snap}");
        assert_eq!(snap["alerts"].as_array().unwrap().len(), want, "{snap}");
        assert_eq!(snap["alerts"][0]["kind"], "offline");
    }
    // Mine reports again: its alert resolves, and the west hears of it; theirs never.
    put(&server, &[(&mine, 120.011, 32.05, 0)]).await;
    engine
        .tick(&server.state, chrono::Utc::now())
        .await
        .unwrap();
    let m = next_json(&mut west).await;
    assert_eq!(m["type"], "alerts", "{m}");
    let changes = m["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{m}");
    assert_eq!(changes[0]["what"], "resolved");
    assert_eq!(changes[0]["alert"]["entity_id"], mine.id.to_string());
    let m = next_json(&mut admin).await;
    assert_eq!(
        m["changes"][0]["alert"]["entity_id"],
        mine.id.to_string(),
        "{m}"
    );
}

/// The session cookie opens a websocket only from our own page (scheme, host and port) or a
/// configured CORS origin, as it does a write; `X-Forwarded-Host` counts only behind a trusted
/// proxy. A bearer token is not an ambient credential: any origin may use it.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn the_cookie_opens_a_websocket_only_from_our_own_origin(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    let token = user_with_session(&pool, "disp", "dispatcher", Some("320999")).await;
    let ours = format!("http://{}", server.addr);
    let open = |headers: Vec<(&'static str, String)>| {
        let addr = server.addr;
        async move {
            let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
            for (name, value) in headers {
                req.headers_mut()
                    .insert(HeaderName::from_static(name), value.parse().unwrap());
            }
            tokio::time::timeout(HANG_GUARD, tokio_tungstenite::connect_async(req))
                .await
                .expect("the handshake hung")
                .map(|_| ())
        }
    };
    let cookie = || ("cookie", format!("gridwall_session={token}"));
    let refused = [
        (
            "another site",
            vec![cookie(), ("origin", "http://evil.example".into())],
        ),
        (
            "our host over another scheme",
            vec![cookie(), ("origin", ours.replace("http:", "https:"))],
        ),
        (
            "a forwarded host from an untrusted client",
            vec![
                cookie(),
                ("origin", "http://evil.example".into()),
                ("x-forwarded-host", "evil.example".into()),
            ],
        ),
        (
            "a sandboxed page",
            vec![cookie(), ("origin", "null".into())],
        ),
    ];
    for (what, headers) in refused {
        match open(headers).await {
            Err(tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{what}");
                let v: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
                assert_eq!(common::error_parts(&v).0, "forbidden", "{what}: {v}");
            }
            other => panic!("{what}: expected 403, got {other:?}"),
        }
    }
    let accepted = [
        ("our own page", vec![cookie(), ("origin", ours.clone())]),
        ("no Origin (not a browser)", vec![cookie()]),
        (
            "a bearer token from anywhere",
            vec![
                ("authorization", format!("Bearer {token}")),
                ("origin", "http://evil.example".into()),
            ],
        ),
    ];
    for (what, headers) in accepted {
        open(headers)
            .await
            .unwrap_or_else(|e| panic!("{what}: refused: {e:?}"));
    }
}
