//! The live websocket against a real server on port 0 and real PostGIS: the upgrade needs a
//! session (bearer or cookie), the server greets with `hello`, and the socket closes with
//! 4401 and a reason when its session ends — at once for revocations in this process
//! (logout, account disabled, password reset), by the periodic re-check for an expiry
//! written straight into the database.
//!
//! Every wait has a generous hang guard (10 s), never a speed requirement. Tests that must
//! prove the in-process announcement re-check only once an hour, so nothing else can close
//! the socket within the guard; the expiry test re-checks every 200 ms, so only the re-check
//! can.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use common::{TOKEN, collection, features, post_hierarchy, user_with_session};
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_server::auth::AuthConfig;
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
    http: reqwest::Client,
}

impl Server {
    async fn start(pool: PgPool, ws_recheck: Duration) -> Self {
        let (router, _state) = common::app_with(
            pool,
            AuthConfig {
                ws_recheck,
                ..Default::default()
            },
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

/// The socket is alive: a text message gets the `unsupported` error reply.
async fn assert_open(ws: &mut Ws) {
    ws.send(Message::text("ping?")).await.unwrap();
    let reply = next_json(ws).await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], "unsupported", "{reply}");
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
async fn client_messages_get_an_error_reply_and_the_socket_stays_open(pool: PgPool) {
    let server = Server::start(pool.clone(), NEVER).await;
    let token = user_with_session(&pool, "op", "operator", None).await;
    let mut ws = server.open(&token).await;

    let long = "订阅".repeat(80);
    for text in [
        r#"{"type":"subscribe","layers":["workers"]}"#,
        long.as_str(),
    ] {
        ws.send(Message::text(text)).await.unwrap();
        let reply = next_json(&mut ws).await;
        assert_eq!(reply["type"], "error", "{reply}");
        assert_eq!(reply["code"], "unsupported", "{reply}");
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
        // The echo is cut at 100 characters (not bytes: Chinese text must stay valid).
        let echoed: String = text.chars().take(100).collect();
        assert_eq!(reply["received"], echoed.as_str(), "{reply}");
    }
    // Binary frames are ignored without a reply: the next reply is the one to the next text.
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    ws.send(Message::text("after binary")).await.unwrap();
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["code"], "unsupported", "{reply}");
    assert_eq!(reply["received"], "after binary", "{reply}");
}
