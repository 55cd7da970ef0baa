//! Territory (属地) on the live websocket, against a real server on port 0 and real PostGIS:
//!
//! - a change of an account's territory or role ends every open stream of that account at
//!   once (close 4403 `account changed`) when an admin makes it over HTTP, and at the periodic
//!   re-check when it is written straight into the database (as the CLI or another instance
//!   would); the reconnected stream is the new account's;
//! - a worker's stream carries only what the same account may read over HTTP: no workers'
//!   positions, no alerts, only the cases assigned to or reported by them — while a
//!   dispatcher's stream over the same world carries all of it.
//!
//! Every wait has a generous hang guard, never a speed requirement. Tests of the in-process
//! announcement re-check only once an hour, so nothing else can close the socket within the
//! guard; the database test re-checks every 200 ms, so only the re-check can.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use common::{TOKEN, collection, features, json_as, post_hierarchy, user_with_session};
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_server::AppState;
use gridwall_server::alerts::engine::Engine;
use gridwall_server::auth::AuthConfig;
use gridwall_server::live::LiveConfig;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest any single wait may take before the test calls it a hang.
const HANG_GUARD: Duration = Duration::from_secs(10);
/// A re-check period no test outlives: only the in-process announcement can close a socket.
const NEVER: Duration = Duration::from_secs(3600);

/// The west township and the east one: two territories side by side.
const WEST: &str = "320999001";
const EAST: &str = "320999002";
/// The west township's first grid: lng 120.0–120.033, lat 32.0–32.1.
const WEST_GRID: &str = "320999001001001";
/// Much more than the test city.
const CITY_BOX: [f64; 4] = [119.0, 31.0, 121.0, 33.0];

/// A running server on 127.0.0.1:0 and its router (for in-process requests).
struct Server {
    addr: SocketAddr,
    router: axum::Router,
    state: AppState,
}

impl Server {
    /// Starts the server (re-checking open sockets every `ws_recheck`) with the test
    /// hierarchy loaded.
    async fn start(pool: PgPool, ws_recheck: Duration) -> Self {
        let (router, state) = common::app_full(
            pool,
            AuthConfig {
                ws_recheck,
                ..Default::default()
            },
            LiveConfig::default(),
        )
        .await;
        let (status, v) =
            post_hierarchy(&router, collection(features()).to_string().into_bytes()).await;
        assert_eq!(status, StatusCode::OK, "{v}");
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
        }
    }

    /// Connects with a bearer token and returns the socket and its hello.
    async fn open(&self, token: &str) -> (Ws, Value) {
        let mut req = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        let (mut ws, _) = tokio::time::timeout(HANG_GUARD, tokio_tungstenite::connect_async(req))
            .await
            .expect("the handshake hung")
            .unwrap_or_else(|e| panic!("upgrade refused: {e:?}"));
        let hello = next_json(&mut ws).await;
        assert_eq!(hello["type"], "hello", "{hello}");
        (ws, hello)
    }

    /// A JSON request through the router with `token`; answers status and body.
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        json_as(&self.router, method, uri, Some(token), body).await
    }
}

/// The next data or close message, skipping pings and pongs; `None` when the socket ended.
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

/// Waits for the server's Close frame with `code` and `reason`; then the stream ends.
async fn expect_close(ws: &mut Ws, code: u16, reason: &str) {
    match next_message(ws).await {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), code, "close code ({frame})");
            assert_eq!(frame.reason.as_str(), reason);
        }
        other => panic!("expected Close {code} {reason:?}, got {other:?}"),
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

/// Sends a subscription; answers the messages that answer it: the resources' snapshot, then
/// the snapshot of each record layer subscribed (`cases`, then `alerts`).
async fn subscribe(ws: &mut Ws, id: &str, layers: &[&str], area: Value) -> Vec<Value> {
    let mut msg = json!({"type": "subscribe", "id": id, "layers": layers});
    for (k, v) in area.as_object().unwrap() {
        msg[k] = v.clone();
    }
    ws.send(Message::text(msg.to_string())).await.unwrap();
    let snap = next_json(ws).await;
    assert_eq!(snap["type"], "snapshot", "{snap}");
    assert_eq!(snap["id"], id, "{snap}");
    let mut out = vec![snap];
    for (layer, kind) in [("cases", "cases_snapshot"), ("alerts", "alerts_snapshot")] {
        if layers.contains(&layer) {
            let s = next_json(ws).await;
            assert_eq!(s["type"], kind, "{s}");
            out.push(s);
        }
    }
    out
}

/// Sends a subscription that must be refused with `code`.
async fn refused(ws: &mut Ws, area: Value, code: &str) {
    let mut msg = json!({"type": "subscribe", "id": "x", "layers": ["workers"]});
    for (k, v) in area.as_object().unwrap() {
        msg[k] = v.clone();
    }
    ws.send(Message::text(msg.to_string())).await.unwrap();
    let reply = next_json(ws).await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], code, "{reply}");
}

fn unit(code: &str) -> Value {
    json!({ "unit": code })
}

fn city() -> Value {
    json!({"viewport": {"bbox": CITY_BOX, "zoom": 12}})
}

fn ids(list: &Value) -> Vec<i64> {
    let mut out: Vec<i64> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    out.sort_unstable();
    out
}

async fn user_id(pool: &PgPool, username: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(pool)
        .await
        .unwrap()
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

// --- a change of territory or role -------------------------------------------------------

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_territory_change_over_http_ends_every_stream_of_the_account_at_once(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    let token = user_with_session(&pool, "disp", "dispatcher", Some(WEST)).await;
    let second = another_session(&pool, "disp").await;
    let other = user_with_session(&pool, "other", "dispatcher", Some(WEST)).await;
    let (mut ws, hello) = server.open(&token).await;
    assert_eq!(hello["user"]["scope"]["code"], WEST, "{hello}");
    let (mut ws2, _) = server.open(&second).await;
    let (mut bystander, _) = server.open(&other).await;
    subscribe(&mut ws, "w", &["workers"], unit(WEST)).await;

    let id = user_id(&pool, "disp").await;
    let (status, v) = server
        .call(
            "PATCH",
            &format!("/api/users/{id}"),
            TOKEN,
            Some(json!({"scope": EAST})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Both sessions' streams end: what they showed was resolved for the old territory.
    expect_close(&mut ws, 4403, "account changed").await;
    expect_close(&mut ws2, 4403, "account changed").await;
    assert_open(&mut bystander).await;

    // The session itself goes on; a new stream is the new territory's.
    let (mut ws, hello) = server.open(&token).await;
    assert_eq!(hello["user"]["scope"]["code"], EAST, "{hello}");
    refused(&mut ws, unit(WEST), "out_of_scope").await;
    subscribe(&mut ws, "e", &["workers"], unit(EAST)).await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_role_change_over_http_ends_the_accounts_stream_at_once(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    let token = user_with_session(&pool, "disp", "dispatcher", Some(WEST_GRID)).await;
    let (mut ws, hello) = server.open(&token).await;
    assert_eq!(
        hello["layers"],
        json!(["workers", "vehicles", "cases", "alerts"])
    );
    subscribe(&mut ws, "w", &["workers", "alerts"], city()).await;

    let id = user_id(&pool, "disp").await;
    let (status, v) = server
        .call(
            "PATCH",
            &format!("/api/users/{id}"),
            TOKEN,
            Some(json!({"role": "worker"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    expect_close(&mut ws, 4403, "account changed").await;

    let (_ws, hello) = server.open(&token).await;
    assert_eq!(hello["user"]["role"], "worker", "{hello}");
    assert_eq!(hello["layers"], json!(["cases"]), "{hello}");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_change_written_in_the_database_is_found_by_the_recheck(pool: PgPool) {
    let server = Server::start(pool.clone(), Duration::from_millis(200)).await;
    let moved = user_with_session(&pool, "moved", "dispatcher", Some(WEST)).await;
    let demoted = user_with_session(&pool, "demoted", "leader", Some(WEST)).await;
    let kept = user_with_session(&pool, "kept", "dispatcher", Some(WEST)).await;
    let (mut moved_ws, _) = server.open(&moved).await;
    let (mut demoted_ws, _) = server.open(&demoted).await;
    let (mut kept_ws, _) = server.open(&kept).await;
    subscribe(&mut moved_ws, "w", &["workers"], unit(WEST)).await;

    // Nothing announces these (the CLI and other instances write the table): only the
    // periodic re-check can see them.
    sqlx::query(
        "UPDATE users SET scope_unit_id = (SELECT id FROM units WHERE code = $1)
         WHERE username = 'moved'",
    )
    .bind(EAST)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE users SET role = 'operator' WHERE username = 'demoted'")
        .execute(&pool)
        .await
        .unwrap();
    expect_close(&mut moved_ws, 4403, "account changed").await;
    expect_close(&mut demoted_ws, 4403, "account changed").await;
    assert_open(&mut kept_ws).await;

    let (mut moved_ws, hello) = server.open(&moved).await;
    assert_eq!(hello["user"]["scope"]["code"], EAST, "{hello}");
    refused(&mut moved_ws, unit(WEST), "out_of_scope").await;
}

// --- a worker's stream -------------------------------------------------------------------

/// Creates a worker homed at `WEST_GRID` (linked to the account `username`, if any).
async fn worker(server: &Server, name: &str, username: Option<&str>) -> i64 {
    let (status, v) = server
        .call(
            "POST",
            "/api/workers",
            TOKEN,
            Some(json!({"name": name, "grid": WEST_GRID, "on_duty": true, "username": username})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

/// Posts one position of `resource` at (lng, lat) as the admin.
async fn put(server: &Server, resource: i64, lng: f64, lat: f64, sos: bool) {
    let at = chrono::Utc::now().to_rfc3339();
    let (status, v) = server
        .call(
            "POST",
            "/api/positions",
            TOKEN,
            Some(json!([{"resource": resource, "lng": lng, "lat": lat, "at": at, "sos": sos}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 1, "{v}");
}

/// Raises `resource`'s SOS: its position with the flag, run through the alert engine.
async fn sos(server: &Server, resource: i64, lng: f64, lat: f64) {
    let mut bus = server.state.live.bus.subscribe();
    put(server, resource, lng, lat, true).await;
    let batch = bus.recv().await.unwrap();
    Engine::default()
        .on_live(&server.state, &batch)
        .await
        .unwrap();
}

/// Registers a case at (lng, lat) with `token`; answers it.
async fn case(server: &Server, token: &str, lng: f64, lat: f64, source: Option<&str>) -> Value {
    let mut body = json!({"title": "楼道堆放杂物", "category": "environment", "severity": 2,
                          "lng": lng, "lat": lat});
    if let Some(s) = source {
        body["source"] = s.into();
    }
    let (status, v) = server.call("POST", "/api/cases", token, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

/// Moves a case by `action`; answers it.
async fn act(server: &Server, token: &str, case: &Value, action: &str, extra: Value) -> Value {
    let mut body = json!({"action": action, "version": case["version"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, v) = server
        .call(
            "POST",
            &format!("/api/cases/{}/transition", case["id"]),
            token,
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{action}: {v}");
    v
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
#[allow(
    clippy::too_many_lines,
    reason = "one world, two readers, step by step"
)]
async fn a_workers_stream_shows_no_more_than_the_worker_reads_over_http(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    let me = user_with_session(&pool, "w1", "worker", Some(WEST_GRID)).await;
    let disp = user_with_session(&pool, "disp", "dispatcher", Some(WEST)).await;
    let mine = worker(&server, "甲", Some("w1")).await;
    let other = worker(&server, "乙", None).await;
    put(&server, mine, 120.01, 32.05, false).await;
    sos(&server, other, 120.02, 32.05).await;
    let assigned = case(&server, &disp, 120.01, 32.02, Some("hotline_12345")).await;
    let assigned = act(&server, &disp, &assigned, "accept", json!({})).await;
    let assigned = act(
        &server,
        &disp,
        &assigned,
        "dispatch",
        json!({"assignee": mine}),
    )
    .await;
    let unassigned = case(&server, &disp, 120.02, 32.04, Some("hotline_12345")).await;
    let reported = case(&server, &me, 120.03, 32.06, None).await;

    // Over HTTP the worker reads its own cases, and nothing of the live picture or alerts.
    for (c, status) in [
        (&assigned, StatusCode::OK),
        (&reported, StatusCode::OK),
        (&unassigned, StatusCode::NOT_FOUND),
    ] {
        let (s, v) = server
            .call("GET", &format!("/api/cases/{}", id(c)), &me, None)
            .await;
        assert_eq!(s, status, "case {}: {v}", id(c));
    }
    for uri in [
        "/api/alerts".to_owned(),
        format!("/api/workers/{other}"),
        format!("/api/workers/{mine}"),
        format!("/api/resources/{other}/track"),
    ] {
        let (s, v) = server.call("GET", &uri, &me, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{uri}: {v}");
    }

    let all = ["workers", "vehicles", "cases", "alerts"];
    let (mut w, hello) = server.open(&me).await;
    let snaps = subscribe(&mut w, "w", &all, city()).await;
    assert_eq!(
        ids(&snaps[0]["resources"]),
        Vec::<i64>::new(),
        "{}",
        snaps[0]
    );
    assert_eq!(
        ids(&snaps[1]["cases"]),
        vec![id(&assigned), id(&reported)],
        "{}",
        snaps[1]
    );
    assert_eq!(ids(&snaps[2]["alerts"]), Vec::<i64>::new(), "{}", snaps[2]);
    assert_eq!(hello["layers"], json!(["cases"]), "{hello}");
    // A unit subscription, inside the worker's own territory, shows no more.
    let snaps = subscribe(&mut w, "g", &all, unit(WEST_GRID)).await;
    assert_eq!(
        ids(&snaps[0]["resources"]),
        Vec::<i64>::new(),
        "{}",
        snaps[0]
    );
    assert_eq!(
        ids(&snaps[1]["cases"]),
        vec![id(&assigned), id(&reported)],
        "{}",
        snaps[1]
    );
    assert_eq!(ids(&snaps[2]["alerts"]), Vec::<i64>::new(), "{}", snaps[2]);
    subscribe(&mut w, "w2", &all, city()).await;

    // The dispatcher's stream over the same world carries all of it: a filter, not an empty
    // world.
    let (mut d, _) = server.open(&disp).await;
    let snaps = subscribe(&mut d, "d", &all, city()).await;
    assert_eq!(
        ids(&snaps[0]["resources"]),
        vec![mine, other],
        "{}",
        snaps[0]
    );
    assert_eq!(
        ids(&snaps[1]["cases"]),
        vec![id(&assigned), id(&unassigned), id(&reported)],
        "{}",
        snaps[1]
    );
    let alerts = snaps[2]["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{}", snaps[2]);
    assert_eq!(alerts[0]["kind"], "sos");
    assert_eq!(alerts[0]["entity_id"], other.to_string());

    // Changes: another worker moves, a new unassigned case, a third worker's SOS.
    let third = worker(&server, "丙", None).await;
    put(&server, other, 120.021, 32.05, true).await;
    let fresh = case(&server, &disp, 120.015, 32.08, Some("hotline_12345")).await;
    sos(&server, third, 120.025, 32.03).await;
    let third_id = third.to_string();
    let (mut moved, mut created, mut raised) = (false, false, false);
    while !(moved && created && raised) {
        let m = next_json(&mut d).await;
        match m["type"].as_str() {
            Some("delta") => moved |= m.to_string().contains(&format!("\"id\":{other}")),
            Some("cases") => {
                created |= m["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["case"]["id"] == fresh["id"]);
            }
            Some("alerts") => {
                raised |= m["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["alert"]["entity_id"].as_str() == Some(third_id.as_str()));
            }
            _ => panic!("unexpected {m}"),
        }
    }
    // The worker gets none of them. Dispatching the new case to them is what it gets next;
    // everything before that is about that case.
    let fresh = act(&server, &disp, &fresh, "accept", json!({})).await;
    act(
        &server,
        &disp,
        &fresh,
        "dispatch",
        json!({"assignee": mine}),
    )
    .await;
    loop {
        let m = next_json(&mut w).await;
        assert_eq!(m["type"], "cases", "the worker got {m}");
        let changes = m["changes"].as_array().unwrap();
        assert!(
            changes.iter().all(|c| c["case"]["id"] == fresh["id"]),
            "the worker got {m}"
        );
        if changes.iter().any(|c| c["case"]["status"] == "dispatched") {
            break;
        }
    }

    // Its case dispatched to another worker leaves the worker's set: a fresh cases snapshot
    // without it (the change itself, naming the other worker, is not theirs to see).
    act(
        &server,
        &disp,
        &assigned,
        "reassign",
        json!({"assignee": other}),
    )
    .await;
    let m = next_json(&mut w).await;
    assert_eq!(m["type"], "cases_snapshot", "{m}");
    assert_eq!(ids(&m["cases"]), vec![id(&reported), id(&fresh)], "{m}");
    let (s, _) = server
        .call("GET", &format!("/api/cases/{}", id(&assigned)), &me, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "and HTTP agrees");
}
