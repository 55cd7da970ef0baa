//! `GET /ws`: the websocket for live data. The upgrade needs a session (cookie or bearer);
//! the socket then lives while the session does: it closes with code 4401 and a reason
//! ("session expired", "session revoked") when the session ends by time, logout, password
//! change or a disabled account. Revocations in this process close at once; others (another
//! instance, the database) are caught by a periodic re-check.
//!
//! The live issue adds subscriptions and streaming on this socket; today it greets the client
//! and keeps the connection honest.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _};
use serde_json::json;
use tokio::sync::broadcast;

use super::error::ErrorBody;
use crate::auth::{Principal, Revocation, SessionCheck};
use crate::state::AppState;

/// Close code when the session ends (expired, revoked): like HTTP 401.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// How often the server pings.
const PING_EVERY: Duration = Duration::from_secs(30);

/// Opens the live websocket (protocol in `docs/websocket.md`).
#[utoipa::path(get, path = "/ws", tag = "live",
    responses((status = 101, description = "switching to the websocket protocol"),
        (status = 401, body = ErrorBody)))]
pub async fn upgrade(
    State(state): State<AppState>,
    me: Principal,
    ws: WebSocketUpgrade,
) -> Response {
    let recheck = state.auth.config.ws_recheck;
    let revocations = state.auth.revocations.subscribe();
    let version = state.hierarchy.version();
    ws.on_upgrade(move |socket: WebSocket| async move {
        let (sink, stream) = socket.split();
        run(sink, stream, state, me, revocations, recheck, version).await;
    })
}

fn close(reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CLOSE_UNAUTHORIZED,
        reason: Utf8Bytes::from_static(reason),
    }))
}

fn ends(revocation: Revocation, me: &Principal) -> bool {
    match revocation {
        Revocation::Session(id) => id == me.session_id,
        Revocation::User(id) => id == me.user_id,
    }
}

/// The life of one socket, over any sink and stream of messages (tests drive it with
/// channels).
#[allow(
    clippy::too_many_lines,
    reason = "one select loop reads best in one piece"
)]
pub async fn run<Tx, Rx>(
    mut tx: Tx,
    mut rx: Rx,
    state: AppState,
    me: Principal,
    mut revocations: broadcast::Receiver<Revocation>,
    recheck_every: Duration,
    hierarchy_version: Option<i64>,
) where
    Tx: Sink<Message> + Unpin,
    Rx: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let hello = json!({
        "type": "hello",
        "protocol": 1,
        "user": {
            "username": me.username,
            "display_name": me.display_name,
            "role": me.role,
            "scope": me.scope_unit,
        },
        "hierarchy_version": hierarchy_version,
        "session_expires_at": me.expires_at,
    });
    if tx
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let mut recheck = tokio::time::interval(recheck_every);
    recheck.tick().await;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let until_expiry = (me.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let expiry = tokio::time::sleep(until_expiry);
    tokio::pin!(expiry);
    loop {
        let check_now = tokio::select! {
            msg = rx.next() => match msg {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(Message::Text(text))) => {
                    let reply = json!({
                        "type": "error",
                        "code": "unsupported",
                        "message": "this server does not take messages on the socket yet",
                        "received": text.chars().take(100).collect::<String>(),
                    });
                    if tx.send(Message::Text(reply.to_string().into())).await.is_err() {
                        return;
                    }
                    false
                }
                Some(Ok(_)) => false,
            },
            r = revocations.recv() => match r {
                Ok(rev) if ends(rev, &me) => {
                    let _ = tx.send(close("session revoked")).await;
                    return;
                }
                Ok(_) => false,
                // Missed some: ask the database.
                Err(broadcast::error::RecvError::Lagged(_)) => true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = recheck.tick() => true,
            () = &mut expiry => {
                // Fire once; if the database's clock disagrees, the periodic check decides.
                expiry.as_mut().reset(tokio::time::Instant::now() + recheck_every);
                true
            }
            _ = ping.tick() => {
                if tx.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
                false
            }
        };
        if check_now {
            match crate::auth::recheck(&state.pool, me.session_id).await {
                Ok(SessionCheck::Valid(_)) => {}
                Ok(SessionCheck::Expired) => {
                    let _ = tx.send(close("session expired")).await;
                    return;
                }
                Ok(SessionCheck::Revoked | SessionCheck::Unknown) => {
                    let _ = tx.send(close("session revoked")).await;
                    return;
                }
                // A database blip does not end a live wall; the next check decides.
                Err(e) => tracing::warn!(error = %e, "websocket session re-check failed"),
            }
        }
    }
}
