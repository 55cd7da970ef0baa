//! `GET /ws`: the websocket for live data (protocol in `docs/websocket.md`). The upgrade needs
//! a session (cookie or bearer); the socket then lives while the session does: it closes with
//! code 4401 and a reason ("session expired", "session revoked") when the session ends by time,
//! logout, password change or a disabled account, and with 4403 ("account changed") when the
//! account's role, territory or worker record changes, since everything it shows was resolved
//! for the old one. Changes in this process close at once; others (another instance, the CLI,
//! the database) are caught by a periodic re-check that compares the account with the
//! database's. What the socket shows is what the account may read over HTTP
//! ([`stream::Reach`]).
//!
//! The client subscribes (layers and a viewport or a unit); the server answers with a snapshot
//! and then coalesced deltas at most once per flush period. This module is the socket glue:
//! the subscription logic lives in [`crate::stream`]. Each socket is two halves joined in
//! one task: the reader (client messages, the bus, timers) never waits on the network; it hands
//! whole messages to the writer through a small bounded queue and, when that queue is full,
//! keeps coalescing instead. The writer alone waits on the socket, and gives up on a client that
//! takes nothing for the stall timeout. So a slow or dead client never holds up the bus or any
//! other client, and its memory is bounded by the queue, the pending cap and what it sees.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, MissedTickBehavior};

use super::error::{ApiResult, ErrorBody};
use crate::alerts::AlertChange;
use crate::auth::{Caller, Principal, Revocation, SessionCheck};
use crate::cases::CaseChange;
use crate::live::StreamStats;
use crate::state::AppState;
use crate::stream::{
    self, ClientMessage, Feed, ProtocolError, Reach, Record, RecordFeed, SnapshotReason, View,
};

/// Close code when the session ends (expired, revoked): like HTTP 401.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code when the account's role, territory or worker record changed: what the socket
/// showed is no longer what it may read (like 403); reconnect to stream the new account's.
pub const CLOSE_ACCOUNT_CHANGED: u16 = 4403;
/// Close code when the client sent nothing (not even a pong) for the idle timeout: like 408.
pub const CLOSE_IDLE: u16 = 4408;
/// Close code when the client took no data for the stall timeout: like 429, it was shed.
pub const CLOSE_TOO_SLOW: u16 = 4429;
/// Close code when the server shuts down (RFC 6455 "going away"): reconnect to another
/// instance, or to this one once it is back.
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// Opens the live websocket (protocol in `docs/websocket.md`).
#[utoipa::path(get, path = "/ws", tag = "live",
    responses((status = 101, description = "switching to the websocket protocol"),
        (status = 401, body = ErrorBody)))]
pub async fn upgrade(
    State(state): State<AppState>,
    me: Principal,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let recheck = state.auth.config.ws_recheck;
    // A change announced from here on reaches this socket; one made since the session was
    // looked up is found by the first re-check.
    let revocations = state.auth.revocations.subscribe();
    let caller = Caller::of_session(&state.pool, me).await?;
    let version = state.hierarchy.version();
    Ok(ws.on_upgrade(move |socket: WebSocket| async move {
        let (sink, stream) = socket.split();
        run(sink, stream, state, caller, revocations, recheck, version).await;
    }))
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// Resolves once the server shuts down (at once if it already does).
async fn shutting_down(going_away: &mut tokio::sync::watch::Receiver<bool>) {
    if going_away.wait_for(|&g| g).await.is_err() {
        // The live picture is gone: nobody will say it.
        std::future::pending::<()>().await;
    }
}

/// The close code and reason when `revocation` ends `me`'s socket.
fn ends(revocation: Revocation, me: &Principal) -> Option<(u16, &'static str)> {
    match revocation {
        Revocation::Session(id) if id == me.session_id => {
            Some((CLOSE_UNAUTHORIZED, "session revoked"))
        }
        Revocation::User(id) if id == me.user_id => Some((CLOSE_UNAUTHORIZED, "session revoked")),
        Revocation::Reach(id) if id == me.user_id => {
            Some((CLOSE_ACCOUNT_CHANGED, "account changed"))
        }
        _ => None,
    }
}

fn to_message(value: &impl serde::Serialize) -> Option<Message> {
    match serde_json::to_string(value) {
        Ok(s) => Some(Message::Text(s.into())),
        Err(e) => {
            tracing::error!(error = %e, "a websocket message did not serialise");
            None
        }
    }
}

fn error_message(e: &ProtocolError, received: Option<&str>) -> Message {
    let mut v = json!({"type": "error", "code": e.code, "message": e.message});
    if let Some(id) = &e.id {
        v["id"] = id.clone();
    }
    if let Some(r) = received {
        v["received"] = r.chars().take(100).collect::<String>().into();
    }
    Message::Text(v.to_string().into())
}

/// The life of one socket, over any sink and stream of messages (tests drive it with
/// channels).
#[allow(clippy::similar_names, reason = "`stats` and `state` read apart")]
pub async fn run<Tx, Rx>(
    tx: Tx,
    rx: Rx,
    state: AppState,
    caller: Caller,
    revocations: broadcast::Receiver<Revocation>,
    recheck_every: Duration,
    hierarchy_version: Option<i64>,
) where
    Tx: Sink<Message> + Unpin,
    Rx: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let Some(me) = caller.principal().cloned() else {
        return;
    };
    let config = state.live.config.stream;
    let (out, queue) = mpsc::channel(config.queue_messages.max(1));
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
        "layers": Reach::of(&caller, None).layers(),
        "max_deltas_per_s": u64::try_from(1000 / config.flush_every.as_millis().max(1)).unwrap_or(1),
    });
    if out
        .try_send(Message::Text(hello.to_string().into()))
        .is_err()
    {
        return;
    }
    let reader = Reader {
        out,
        state,
        me,
        caller,
        feed: Feed::new(config.max_pending),
        cases: RecordFeed::default(),
        alerts: RecordFeed::default(),
    };
    let stats = &reader.state.live.streams;
    stats.open.fetch_add(1, Relaxed);
    let live = Arc::clone(&reader.state.live);
    let ((), shed) = tokio::join!(
        reader.run(rx, revocations, recheck_every),
        write(tx, queue, config.stall_timeout),
    );
    if shed {
        live.streams.shed.fetch_add(1, Relaxed);
    }
    live.streams.open.fetch_sub(1, Relaxed);
}

/// The writer half: sends what the reader queued, in order; gives up (and says so, if the
/// socket still takes it) when one message waits longer than `stall` for the socket, and then
/// answers true.
async fn write<Tx>(mut tx: Tx, mut queue: mpsc::Receiver<Message>, stall: Duration) -> bool
where
    Tx: Sink<Message> + Unpin,
{
    while let Some(msg) = queue.recv().await {
        let closing = matches!(msg, Message::Close(_));
        match tokio::time::timeout(stall, tx.send(msg)).await {
            Ok(Ok(())) if !closing => {}
            Ok(_) => return false,
            Err(_) => {
                tracing::info!(
                    stall_s = stall.as_secs(),
                    "websocket client too slow: closing"
                );
                // Dropping `queue` on return tells the reader to stop.
                queue.close();
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    tx.send(close(CLOSE_TOO_SLOW, "too slow")),
                )
                .await;
                return true;
            }
        }
    }
    false
}

struct Reader {
    out: mpsc::Sender<Message>,
    state: AppState,
    me: Principal,
    /// Who reads: `me` and their worker record, as the socket opened.
    caller: Caller,
    /// The `workers` and `vehicles` layers.
    feed: Feed,
    /// The `cases` layer.
    cases: RecordFeed<CaseChange>,
    /// The `alerts` layer.
    alerts: RecordFeed<AlertChange>,
}

/// Sends a record layer's snapshot or changes if the client's queue has room; otherwise they
/// stay coalesced, the latest per record.
fn flush_layer<C: Record>(
    out: &mpsc::Sender<Message>,
    stats: &StreamStats,
    layer: &mut RecordFeed<C>,
    enabled: bool,
    visible: impl FnOnce() -> Vec<Arc<C::Brief>>,
) {
    if !layer.due(enabled) {
        return;
    }
    let Ok(permit) = out.try_reserve() else {
        stats.behind.fetch_add(1, Relaxed);
        return;
    };
    if let Some(msg) = to_message(&layer.message(visible)) {
        permit.send(msg);
    }
}

impl Reader {
    /// Queues a message unless the client is behind (then it is dropped: errors only; state
    /// goes through the feed, which coalesces).
    fn offer(&self, msg: Message) {
        let _ = self.out.try_send(msg);
    }

    /// Queues the close frame (waiting for room at most until the writer gives up).
    async fn close(&self, code: u16, reason: &'static str) {
        let _ = self.out.send(close(code, reason)).await;
    }

    #[allow(
        clippy::too_many_lines,
        reason = "one select loop reads best in one piece"
    )]
    async fn run<Rx>(
        mut self,
        mut rx: Rx,
        mut revocations: broadcast::Receiver<Revocation>,
        recheck_every: Duration,
    ) where
        Rx: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
        let config = self.state.live.config.stream;
        let mut updates = self.state.live.bus.subscribe();
        let mut case_changes = self.state.cases.board.subscribe();
        let mut alert_changes = self.state.alerts.subscribe();
        let mut recheck = tokio::time::interval(recheck_every);
        recheck.tick().await;
        let mut ping = tokio::time::interval(config.ping_every);
        ping.tick().await;
        let mut flush = tokio::time::interval(config.flush_every);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut heard = Instant::now();
        let until_expiry = (self.me.expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let expiry = tokio::time::sleep(until_expiry);
        tokio::pin!(expiry);
        let mut going_away = self.state.live.going_away.subscribe();
        loop {
            let check_now = tokio::select! {
                // The writer gave up on this client.
                () = self.out.closed() => return,
                () = shutting_down(&mut going_away) => {
                    self.close(CLOSE_GOING_AWAY, "server shutting down").await;
                    // Give the client a moment to answer the close, so that the socket ends
                    // cleanly rather than with a reset.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while let Some(Ok(msg)) = rx.next().await {
                            if matches!(msg, Message::Close(_)) {
                                break;
                            }
                        }
                    })
                    .await;
                    return;
                }
                msg = rx.next() => {
                    heard = Instant::now();
                    match msg {
                        None | Some(Err(_) | Ok(Message::Close(_))) => return,
                        Some(Ok(Message::Text(text))) => {
                            self.on_text(text.as_str(), &mut updates);
                            false
                        }
                        Some(Ok(_)) => false,
                    }
                },
                u = updates.recv() => match u {
                    Ok(batch) => {
                        self.feed.observe(&batch);
                        false
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "websocket client lagged behind the bus: resync");
                        self.feed.owe(SnapshotReason::Resync);
                        false
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                c = case_changes.recv() => match c {
                    Ok(change) => {
                        let view = self.feed.view();
                        let visible = view.is_some_and(|v| v.sees_case(&change.case));
                        let was_visible = view.is_some_and(|v| {
                            change.before.as_deref().is_some_and(|b| v.sees_case(b))
                        });
                        self.cases.observe(change, visible, was_visible);
                        false
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.cases.resync();
                        false
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                a = alert_changes.recv() => match a {
                    Ok(change) => {
                        let visible =
                            self.feed.view().is_some_and(|v| v.sees_alert(&change.alert));
                        self.alerts.observe(change, visible, false);
                        false
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.alerts.resync();
                        false
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = flush.tick() => {
                    self.flush(&mut updates);
                    self.flush_records();
                    false
                }
                r = revocations.recv() => match r {
                    Ok(rev) => {
                        if let Some((code, reason)) = ends(rev, &self.me) {
                            self.close(code, reason).await;
                            return;
                        }
                        false
                    }
                    // Missed some: ask the database.
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = recheck.tick() => true,
                () = &mut expiry => {
                    // Fire once; if the database's clock disagrees, the periodic check decides.
                    expiry.as_mut().reset(Instant::now() + recheck_every);
                    true
                }
                _ = ping.tick() => {
                    if heard.elapsed() >= config.idle_timeout {
                        self.state.live.streams.idle.fetch_add(1, Relaxed);
                        self.close(CLOSE_IDLE, "idle timeout").await;
                        return;
                    }
                    self.offer(Message::Ping(Vec::new().into()));
                    false
                }
            };
            if check_now {
                match crate::auth::recheck(&self.state.pool, self.me.session_id).await {
                    Ok(SessionCheck::Valid(now)) => {
                        // A change made elsewhere (the CLI, SQL, another instance).
                        match Caller::of_session(&self.state.pool, *now).await {
                            Ok(now) if self.caller.same_reach(&now) => {}
                            Ok(_) => {
                                self.close(CLOSE_ACCOUNT_CHANGED, "account changed").await;
                                return;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "websocket account re-check failed");
                            }
                        }
                    }
                    Ok(SessionCheck::Expired) => {
                        self.close(CLOSE_UNAUTHORIZED, "session expired").await;
                        return;
                    }
                    Ok(SessionCheck::Revoked | SessionCheck::Unknown) => {
                        self.close(CLOSE_UNAUTHORIZED, "session revoked").await;
                        return;
                    }
                    // A database blip does not end a live wall; the next check decides.
                    Err(e) if crate::db::is_unavailable(&e) => {
                        crate::db::outage::warn("re-checking a websocket's session", &e);
                    }
                    Err(e) => tracing::warn!(error = %e, "websocket session re-check failed"),
                }
            }
        }
    }

    fn on_text(&mut self, text: &str, updates: &mut broadcast::Receiver<crate::live::bus::Batch>) {
        let sub = match stream::parse(text) {
            Ok(ClientMessage::Subscribe(sub)) => sub,
            Err(e) => {
                let echo = (e.code == "bad_message").then_some(text);
                self.offer(error_message(&e, echo));
                return;
            }
        };
        let loaded = self.state.hierarchy.get();
        let reach = Reach::of(&self.caller, loaded.as_deref());
        match View::resolve(sub, loaded, reach) {
            Ok(view) => {
                self.feed.subscribe(view);
                self.cases.subscribe();
                self.alerts.subscribe();
                // Answer now rather than at the next tick.
                self.flush(updates);
                self.flush_records();
            }
            Err(e) => self.offer(error_message(&e, None)),
        }
    }

    /// Sends the record layers' snapshots or changes.
    #[allow(clippy::similar_names, reason = "`stats` and `state` read apart")]
    fn flush_records(&mut self) {
        let Some(view) = self.feed.view() else { return };
        let layers = view.subscription().layers;
        let (out, state) = (&self.out, &self.state);
        let stats = &state.live.streams;
        flush_layer(out, stats, &mut self.cases, layers.cases, || {
            state.cases.board.open(|c| view.sees_case(c))
        });
        flush_layer(out, stats, &mut self.alerts, layers.alerts, || {
            state.alerts.live(|a| view.sees_alert(a))
        });
    }

    /// Sends what the client is owed, if its queue has room: a snapshot, or the delta of the
    /// changes since the last flush. Without room the changes stay coalesced in the feed.
    fn flush(&mut self, updates: &mut broadcast::Receiver<crate::live::bus::Batch>) {
        let Some(view) = self.feed.view() else { return };
        let current = self.state.hierarchy.version().unwrap_or(0);
        if current != view.version() && self.feed.owed().is_none() {
            self.feed.owe(SnapshotReason::Hierarchy);
        }
        let Ok(permit) = self.out.try_reserve() else {
            if self.feed.owed().is_some() || self.feed.pending_len() > 0 {
                self.state.live.streams.behind.fetch_add(1, Relaxed);
            }
            return;
        };
        if self.feed.owed().is_none() {
            if let Some(msg) = self.feed.delta().as_ref().and_then(to_message) {
                permit.send(msg);
            }
            return;
        }
        let loaded = self.state.hierarchy.get();
        if self
            .feed
            .view()
            .is_some_and(|v| v.version() != loaded.as_ref().map_or(0, |l| l.version))
        {
            let Some(sub) = self.feed.view().map(|v| v.subscription().clone()) else {
                return;
            };
            let reach = Reach::of(&self.caller, loaded.as_deref());
            match View::resolve(sub, loaded.clone(), reach) {
                Ok(view) => self.feed.reresolve(view),
                Err(e) => {
                    // The subscribed unit is gone (or left the user's territory).
                    self.feed.unsubscribe();
                    permit.send(error_message(&e, None));
                    return;
                }
            }
        }
        // Updates already queued on the bus are in the index the snapshot reads: skip them.
        // (One published between here and the read is replayed; the feed drops stale moves.)
        while !matches!(
            updates.try_recv(),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
        ) {}
        let snapshot = {
            let read = self.state.live.read(loaded.as_deref());
            if self
                .feed
                .view()
                .is_none_or(|v| v.version() != read.version())
            {
                // Another hierarchy was installed meanwhile: try again at the next tick.
                return;
            }
            self.feed
                .snapshot(read.index(), |id| self.state.live.info(id))
        };
        if let Some(snapshot) = &snapshot
            && let Some(msg) = to_message(snapshot)
        {
            if snapshot.reason == SnapshotReason::Resync {
                self.state.live.streams.resyncs.fetch_add(1, Relaxed);
            }
            permit.send(msg);
        }
    }
}
