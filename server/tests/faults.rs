//! Faults, against the real binary (`gridwall serve`, one process per scenario) on its own
//! fresh PostGIS database, with its positions posted over HTTP and its websocket read like a
//! wall's:
//!
//! - the database refuses every connection for a few seconds under ingest: no 500, every
//!   refusal a 503 with `Retry-After`, no acknowledged point lost, nothing the websocket
//!   showed missing from the track afterwards, serving again once the database is back (the
//!   time is printed, with a generous hang guard only), and the log summarised, not flooded;
//! - `kill -9` during ingest, then a restart: no acknowledged point lost;
//! - SIGTERM: an open websocket gets close 1001, a request in flight is answered, and a point
//!   buffered but not yet written reaches the database before the process exits.
//!
//! In-process (the same code, with settings the command line does not expose):
//!
//! - points the database refuses as such leave the live map, and spare the other requests of
//!   their batch;
//! - a client that stops reading is shed by the stall rule (4429), not the idle rule, because
//!   each connection's send buffer is bounded; and the kernel lets go of the closed connection
//!   after the user timeout.
//!
//! The figures of a run go to `docs/reliability.md` ("Faults"): `cargo test -p gridwall-server
//! --test faults -- --nocapture` prints them.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]
#![allow(
    clippy::print_stdout,
    reason = "the tests print the figures they measure"
)]

mod common;

use std::collections::{BTreeSet, HashSet};
use std::future::IntoFuture as _;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use common::{TOKEN, collection, ensure_admin, features, json_as, post_hierarchy};
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_server::auth::AuthConfig;
use gridwall_server::http::listen::{self, SocketOptions};
use gridwall_server::live::tracks::TrackConfig;
use gridwall_server::live::{LiveConfig, StreamConfig};
use gridwall_spatial::ResourceId;
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection, PgPool};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// Longest any single wait may take before the test calls it a hang (not a speed target).
const HANG_GUARD: Duration = Duration::from_secs(30);
/// Inside grid 320999001001001 (lng 120.0–120.0333, lat 32.0–32.1).
const GRID: &str = "320999001001001";
const LAT: f64 = 32.05;
const LNG: f64 = 120.01;

/// A point: (resource, time in ms).
type Point = (i64, i64);

// ---------------------------------------------------------------------------------------------
// The binary and its database

/// The URL of database `name` on the server of `DATABASE_URL`.
fn url_of(name: &str) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/gridwall".into());
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

/// The name of the test's own database.
fn db_name(pool: &PgPool) -> String {
    pool.connect_options()
        .get_database()
        .expect("the test pool names its database")
        .to_owned()
}

/// A `gridwall serve` process and everything it logged.
struct Gridwall {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

impl Gridwall {
    /// Starts the binary on `pool`'s database (port 0) and waits until it listens.
    fn start(pool: &PgPool, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gridwall"));
        cmd.arg("serve")
            .env("DATABASE_URL", url_of(&db_name(pool)))
            .env("GRIDWALL_LISTEN", "127.0.0.1:0")
            .env("GRIDWALL_WEB_DIR", "/nonexistent")
            .env("GRIDWALL_LOG", "info,sqlx=warn,tower_http=warn")
            .env("NO_COLOR", "1")
            // What the test round ran with: an error must not print a backtrace per request.
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (pipe, addr_tx) in [
            (
                Box::new(stdout) as Box<dyn std::io::Read + Send>,
                Some(addr_tx),
            ),
            (Box::new(stderr), None),
        ] {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if let Some(tx) = &addr_tx
                        && let Some(rest) = line.split("listening on http://").nth(1)
                    {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let Ok(addr) = addr_rx.recv_timeout(HANG_GUARD) else {
            let _ = child.kill();
            panic!(
                "the server did not start:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        Self {
            child,
            addr,
            log,
            http: reqwest::Client::builder()
                .timeout(HANG_GUARD)
                .build()
                .unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends `signal` (`TERM`, `KILL`) to the process.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// Waits for the process to end; its exit status.
    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// JSON request as the test admin.
    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    /// Imports the test hierarchy and creates `n` workers in [`GRID`], each with a device
    /// token: (worker id, token).
    async fn world(&self, n: usize) -> Vec<(i64, String)> {
        let resp = self
            .http
            .post(self.url("/api/admin/hierarchy"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/geo+json")
            .body(collection(features()).to_string())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
        let mut out = Vec::new();
        for i in 0..n {
            let w = self
                .admin(
                    reqwest::Method::POST,
                    "/api/workers",
                    Some(json!({"name": format!("网格员{i}"), "grid": GRID, "on_duty": true})),
                )
                .await;
            let id = w["id"].as_i64().unwrap();
            let d = self
                .admin(
                    reqwest::Method::POST,
                    &format!("/api/workers/{id}/devices"),
                    Some(json!({"label": "测试手机"})),
                )
                .await;
            out.push((id, d["token"].as_str().unwrap().to_owned()));
        }
        out
    }

    /// Points waiting in the server's track buffer.
    async fn buffered(&self) -> Option<u64> {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("gridwall_track_buffer_points "))
            .and_then(|n| n.trim().parse().ok())
    }

    /// Waits until the track buffer is empty.
    async fn drained(&self) {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            let buffered = self.buffered().await;
            if buffered == Some(0) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the track buffer never drained ({buffered:?} points left):\n{}",
                self.log().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Gridwall {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection to the maintenance database, to take the test's database away and back.
async fn maintenance() -> PgConnection {
    PgConnection::connect(&url_of("postgres")).await.unwrap()
}

/// The database stops accepting connections and every connection to it ends, as in the test
/// round (`ALTER DATABASE … ALLOW_CONNECTIONS false` and `pg_terminate_backend`).
async fn refuse_connections(admin: &mut PgConnection, db: &str) {
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"))
        .execute(&mut *admin)
        .await
        .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(db)
    .execute(&mut *admin)
    .await
    .unwrap();
}

async fn accept_connections(admin: &mut PgConnection, db: &str) {
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"))
        .execute(&mut *admin)
        .await
        .unwrap();
}

/// Every stored point of the track.
async fn stored(db: &str) -> HashSet<Point> {
    let mut conn = PgConnection::connect(&url_of(db)).await.unwrap();
    let rows: Vec<(i64, DateTime<Utc>)> = sqlx::query_as("SELECT resource_id, at FROM positions")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    rows.into_iter()
        .map(|(id, at)| (id, at.timestamp_millis()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Load: phones posting, a dashboard reading, a wall watching

/// What the posters and readers saw.
#[derive(Debug, Default)]
struct Tally {
    /// Points acknowledged (2xx).
    acked: HashSet<Point>,
    /// Points sent.
    sent: usize,
    /// 503 answers, each with Retry-After (else it is in `bad`).
    unavailable: usize,
    /// Every other answer: status and body, or the transport error.
    bad: Vec<String>,
    /// Answers to reads of a database-backed route: (status, Retry-After present).
    reads: Vec<(u16, bool)>,
    /// (sent, answered, ok) of every request, for the recovery time.
    timeline: Vec<(Instant, Instant, bool)>,
}

/// What one request came to.
enum Answer {
    /// 2xx: the points are acknowledged.
    Acked,
    /// 503 with Retry-After.
    Unavailable,
    /// Anything else: status and body, or the transport error.
    Bad(String),
}

async fn answer_of(resp: reqwest::Result<reqwest::Response>) -> Answer {
    match resp {
        Ok(r) if r.status().is_success() => Answer::Acked,
        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
            if r.headers().contains_key("retry-after") {
                Answer::Unavailable
            } else {
                Answer::Bad("503 without Retry-After".into())
            }
        }
        Ok(r) => {
            let status = r.status();
            Answer::Bad(format!("{status} {}", r.text().await.unwrap_or_default()))
        }
        Err(e) => Answer::Bad(format!("transport: {e}")),
    }
}

/// One phone: batches of `per_request` points, newest last, one request at a time, until
/// `stop`; its points are 1 ms apart from `start`.
async fn phone(
    gw: Arc<Gridwall>,
    id: i64,
    token: String,
    per_request: i64,
    start: DateTime<Utc>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    tally: Arc<Mutex<Tally>>,
) {
    let mut n: i64 = 0;
    while !stop.load(Relaxed) {
        let batch: Vec<(i64, Value)> = (0..per_request)
            .map(|k| {
                let i = n + k;
                let at = start + chrono::Duration::milliseconds(i);
                #[allow(clippy::cast_precision_loss, reason = "small")]
                let lng = LNG + 1e-6 * (i % 10_000) as f64;
                (
                    at.timestamp_millis(),
                    json!({"lat": LAT, "lng": lng, "at": at.to_rfc3339(), "battery": 80}),
                )
            })
            .collect();
        n += per_request;
        let body = json!({"positions": batch.iter().map(|(_, v)| v).collect::<Vec<_>>()});
        let sent = Instant::now();
        let resp = gw
            .http
            .post(gw.url("/api/positions"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await;
        let answer = answer_of(resp).await;
        let answered = Instant::now();
        {
            let mut t = tally.lock().unwrap();
            t.sent += batch.len();
            t.timeline
                .push((sent, answered, matches!(answer, Answer::Acked)));
            match answer {
                Answer::Acked => t.acked.extend(batch.iter().map(|&(at, _)| (id, at))),
                Answer::Unavailable => t.unavailable += 1,
                Answer::Bad(b) => t.bad.push(b),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A dashboard: reads a database-backed route every 50 ms until `stop`.
async fn dashboard(
    gw: Arc<Gridwall>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    tally: Arc<Mutex<Tally>>,
) {
    while !stop.load(Relaxed) {
        let resp = gw
            .http
            .get(gw.url("/api/workers"))
            .bearer_auth(TOKEN)
            .send()
            .await;
        let read = match resp {
            Ok(r) => Ok((r.status().as_u16(), r.headers().contains_key("retry-after"))),
            Err(e) => Err(format!("GET /api/workers: transport: {e}")),
        };
        {
            let mut t = tally.lock().unwrap();
            match read {
                Ok((status, retry)) => {
                    t.reads.push((status, retry));
                    if status != 200 && status != 503 {
                        t.bad.push(format!("GET /api/workers: {status}"));
                    }
                }
                Err(e) => t.bad.push(e),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the websocket as the admin, subscribed to every worker of the county.
async fn wall(gw: &Gridwall) -> Ws {
    let mut req = format!("ws://{}/ws", gw.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ws, _) = tokio::time::timeout(HANG_GUARD, tokio_tungstenite::connect_async(req))
        .await
        .unwrap()
        .unwrap();
    let sub = json!({"type": "subscribe", "id": "wall", "layers": ["workers"], "unit": "320999"});
    ws.send(Message::text(sub.to_string())).await.unwrap();
    ws
}

/// Every (resource, time) the wall was shown, until the socket ends or `stop`.
async fn watch(mut ws: Ws, stop: Arc<std::sync::atomic::AtomicBool>) -> HashSet<Point> {
    let mut shown = HashSet::new();
    while !stop.load(Relaxed) {
        let Ok(msg) = tokio::time::timeout(Duration::from_millis(200), ws.next()).await else {
            continue;
        };
        let Some(Ok(Message::Text(text))) = msg else {
            if msg.is_none() {
                break;
            }
            continue;
        };
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        let items = match v["type"].as_str() {
            Some("snapshot") => vec![&v["resources"]],
            Some("delta") => vec![&v["moved"], &v["entered"]],
            _ => vec![],
        };
        for item in items.into_iter().filter_map(Value::as_array).flatten() {
            let at = DateTime::parse_from_rfc3339(item["at"].as_str().unwrap()).unwrap();
            shown.insert((item["id"].as_i64().unwrap(), at.timestamp_millis()));
        }
    }
    shown
}

// ---------------------------------------------------------------------------------------------
// The scenarios

#[sqlx::test(migrations = "../migrations")]
async fn a_database_refusing_connections_costs_503s_only_and_no_point(pool: PgPool) {
    const PHONES: usize = 4;
    const OUTAGE: Duration = Duration::from_secs(5);
    ensure_admin(&pool).await;
    let db = db_name(&pool);
    let gw = Arc::new(Gridwall::start(&pool, &[("GRIDWALL_ACK_TIMEOUT_S", "2")]));
    let workers = gw.world(PHONES).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = tokio::spawn(watch(wall(&gw).await, Arc::clone(&stop)));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Utc::now() - chrono::Duration::minutes(2);
    let mut load = Vec::new();
    for (id, token) in workers {
        load.push(tokio::spawn(phone(
            Arc::clone(&gw),
            id,
            token,
            25,
            start,
            Arc::clone(&stop),
            Arc::clone(&tally),
        )));
    }
    load.push(tokio::spawn(dashboard(
        Arc::clone(&gw),
        Arc::clone(&stop),
        Arc::clone(&tally),
    )));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut admin = maintenance().await;
    refuse_connections(&mut admin, &db).await;
    let began = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    accept_connections(&mut admin, &db).await;
    let back = Instant::now();
    println!(
        "faults: the database refused connections for {:.1} s",
        (back - began).as_secs_f64()
    );
    // Serving again: the first request sent after the database returned that is acknowledged.
    let recovered = loop {
        let first_ok = tally
            .lock()
            .unwrap()
            .timeline
            .iter()
            .filter(|&&(sent, _, ok)| ok && sent >= back)
            .map(|&(_, answered, _)| answered)
            .min();
        if let Some(at) = first_ok {
            break at - back;
        }
        assert!(back.elapsed() < HANG_GUARD, "ingest never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Relaxed);
    for task in load {
        task.await.unwrap();
    }
    gw.drained().await;
    let stored = stored(&db).await;
    let shown = watcher.await.unwrap();
    let log = gw.log();

    let t = tally.lock().unwrap();
    let lost: BTreeSet<&Point> = t.acked.iter().filter(|p| !stored.contains(p)).collect();
    let shown_not_stored: BTreeSet<&Point> = shown.iter().filter(|p| !stored.contains(p)).collect();
    let reads_503 = t.reads.iter().filter(|r| r.0 == 503).count();
    let noisy = log
        .iter()
        .filter(|l| l.contains("database unavailable"))
        .count();
    let backtraces = log
        .iter()
        .filter(|l| l.to_lowercase().contains("backtrace"))
        .count();
    println!(
        "faults: outage under ingest: {} points sent, {} acknowledged, {} lost; {} ingest \
         answers 503 with Retry-After, {} other answers; dashboard reads {} (503: {}); \
         {} points shown live, {} of them not stored; recovery {} ms after the database \
         returned; {} log lines ({} about the outage, {} backtrace lines)",
        t.sent,
        t.acked.len(),
        lost.len(),
        t.unavailable,
        t.bad.len(),
        t.reads.len(),
        reads_503,
        shown.len(),
        shown_not_stored.len(),
        recovered.as_millis(),
        log.len(),
        noisy,
        backtraces,
    );
    assert!(
        t.bad.is_empty(),
        "answers other than 2xx and 503: {:?}",
        t.bad
    );
    assert!(
        t.unavailable > 0,
        "the outage must have been felt by ingest"
    );
    assert!(reads_503 > 0, "the outage must have been felt by a read");
    assert!(
        t.reads.iter().all(|&(s, retry)| s != 503 || retry),
        "every 503 says when to retry"
    );
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    assert!(
        shown_not_stored.is_empty(),
        "shown live, never stored: {shown_not_stored:?}"
    );
    assert!(!shown.is_empty(), "the wall was shown the points");
    assert_eq!(backtraces, 0, "no backtraces in the log");
    // Three per 10 s and a summary: a handful for a few seconds of outage, not one per request.
    assert!(
        noisy <= 12,
        "the outage is summarised, not logged per request ({noisy} lines):\n{}",
        log.join("\n")
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn kill_9_during_ingest_loses_no_acknowledged_point(pool: PgPool) {
    ensure_admin(&pool).await;
    let db = db_name(&pool);
    let gw = Arc::new(Gridwall::start(&pool, &[]));
    let workers = gw.world(2).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Utc::now() - chrono::Duration::minutes(2);
    let mut load = Vec::new();
    for (id, token) in workers.clone() {
        load.push(tokio::spawn(phone(
            Arc::clone(&gw),
            id,
            token,
            50,
            start,
            Arc::clone(&stop),
            Arc::clone(&tally),
        )));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    gw.signal("KILL");
    stop.store(true, Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let acked = std::mem::take(&mut tally.lock().unwrap().acked);
    assert!(!acked.is_empty(), "some points were acknowledged");
    drop(gw);

    let restarted = Gridwall::start(&pool, &[]);
    let stored = stored(&db).await;
    let lost = acked.iter().filter(|p| !stored.contains(p)).count();
    println!(
        "faults: kill -9 during ingest: {} points acknowledged, {} stored, {lost} lost",
        acked.len(),
        stored.len()
    );
    assert_eq!(lost, 0, "acknowledged points lost to kill -9");
    // The restarted server serves the same phones.
    let (id, token) = &workers[0];
    let resp = restarted
        .http
        .post(restarted.url("/api/positions"))
        .bearer_auth(token)
        .json(&json!([{"lat": LAT, "lng": LNG, "at": Utc::now().to_rfc3339()}]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "worker {id}");
}

#[sqlx::test(migrations = "../migrations")]
async fn sigterm_closes_websockets_with_1001_and_drains_ingest(pool: PgPool) {
    ensure_admin(&pool).await;
    let db = db_name(&pool);
    let mut gw = Gridwall::start(&pool, &[("GRIDWALL_ACK_TIMEOUT_S", "1")]);
    let workers = gw.world(1).await;
    let (id, token) = workers[0].clone();
    let mut ws = wall(&gw).await;
    // The hello and the snapshot.
    for _ in 0..2 {
        let msg = tokio::time::timeout(HANG_GUARD, ws.next()).await.unwrap();
        assert!(matches!(msg, Some(Ok(Message::Text(_)))), "{msg:?}");
    }
    // Writes to the track wait behind a lock: a point is taken but not written.
    let mut blocker = PgConnection::connect(&url_of(&db)).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE positions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let post = |at: DateTime<Utc>| {
        gw.http
            .post(gw.url("/api/positions"))
            .bearer_auth(&token)
            .json(&json!([{"lat": LAT, "lng": LNG, "at": at.to_rfc3339()}]))
            .send()
    };
    let buffered_at = Utc::now() - chrono::Duration::seconds(20);
    let resp = post(buffered_at).await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "not durable yet"
    );
    // A second one is in flight when the signal comes.
    let in_flight_at = Utc::now() - chrono::Duration::seconds(10);
    let in_flight = post(in_flight_at);
    // The database takes the points only after the request in flight was answered (its
    // acknowledgement timeout is 1 s): nothing but the server's own drain waits for them.
    let signal = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        gw.signal("TERM");
        tokio::time::sleep(Duration::from_millis(1300)).await;
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut blocker)
            .await
            .unwrap();
    };
    let (answer, ()) = tokio::join!(in_flight, signal);
    let answer = answer.expect("the request in flight is answered, not cut");
    let status = answer.status();
    assert!(
        status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
        "in flight: {status}"
    );
    let close = loop {
        match tokio::time::timeout(HANG_GUARD, ws.next())
            .await
            .expect("no close frame")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    };
    let code = close.map(|f| u16::from(f.code));
    assert_eq!(code, Some(1001), "going away");
    let exit = gw.wait();
    assert!(exit.success(), "{exit:?}\n{}", gw.log().join("\n"));
    let stored = stored(&db).await;
    for at in [buffered_at, in_flight_at] {
        assert!(
            stored.contains(&(id, at.timestamp_millis())),
            "the point at {at} was taken and never written:\n{}",
            gw.log().join("\n")
        );
    }
    println!(
        "faults: SIGTERM: websocket closed with {code:?}, the request in flight answered {status}, \
         the buffered points written before exit"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn points_the_database_refuses_leave_the_map_and_spare_their_batch(pool: PgPool) {
    // One writer: the batch after the blocked one gathers both requests.
    let live = LiveConfig {
        tracks: TrackConfig {
            writers: 1,
            ..TrackConfig::default()
        },
        ..LiveConfig::default()
    };
    let (app, state) = common::app_full(pool.clone(), AuthConfig::default(), live).await;
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let mut devices = Vec::new();
    for name in ["好", "坏"] {
        let (status, w) = json_as(
            &app,
            "POST",
            "/api/workers",
            Some(TOKEN),
            Some(json!({"name": name, "grid": GRID, "on_duty": true})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{w}");
        let id = w["id"].as_i64().unwrap();
        let (status, d) = json_as(
            &app,
            "POST",
            &format!("/api/workers/{id}/devices"),
            Some(TOKEN),
            Some(json!({"label": "手机"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{d}");
        devices.push((id, d["token"].as_str().unwrap().to_owned()));
    }
    let [(good, good_token), (bad, bad_token)] = <[_; 2]>::try_from(devices).unwrap();
    let at = |s: i64| (Utc::now() - chrono::Duration::seconds(s)).to_rfc3339();
    let post = |token: String, body: Value| {
        let app = app.clone();
        async move { json_as(&app, "POST", "/api/positions", Some(&token), Some(body)).await }
    };
    // Both are on the map at a stored point.
    for token in [&good_token, &bad_token] {
        let (status, v) = post(
            token.clone(),
            json!([{"lat": LAT, "lng": LNG, "at": at(60)}]),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let stored_at = |id: i64| {
        let read = state.live.read(state.hierarchy.get().as_deref());
        read.index().get(ResourceId(id)).map(|e| e.report.at_ms)
    };
    let before = stored_at(bad).unwrap();
    // The database refuses a battery of 13 % (as it might refuse any value ingest let pass).
    sqlx::query(
        "ALTER TABLE positions ADD CONSTRAINT test_refuse CHECK (battery_pct IS DISTINCT FROM 13)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE positions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let first = tokio::spawn(post(
        good_token.clone(),
        json!([{"lat": LAT, "lng": LNG + 0.001, "at": at(50)}]),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let good_req = tokio::spawn(post(
        good_token.clone(),
        json!([{"lat": LAT, "lng": LNG + 0.002, "at": at(40)}]),
    ));
    let bad_req = tokio::spawn(post(
        bad_token.clone(),
        json!([{"lat": LAT, "lng": LNG + 0.003, "at": at(40), "battery": 13}]),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_ne!(stored_at(bad), Some(before), "buffered: on the map");
    blocker.rollback().await.unwrap();
    assert_eq!(first.await.unwrap().0, StatusCode::OK);
    let (good_status, v) = good_req.await.unwrap();
    assert_eq!(good_status, StatusCode::OK, "spared by its batch: {v}");
    let (bad_status, v) = bad_req.await.unwrap();
    assert_eq!(
        bad_status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "refused: {v}"
    );
    assert_eq!(
        stored_at(bad),
        Some(before),
        "the refused point left the map: back at the stored one"
    );
    let rows: Vec<(i64, Option<f32>)> =
        sqlx::query_as("SELECT resource_id, battery_pct FROM positions ORDER BY at")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.iter().filter(|r| r.0 == good).count(), 3, "{rows:?}");
    assert_eq!(rows.iter().filter(|r| r.0 == bad).count(), 1, "{rows:?}");
    assert_eq!(
        state.live.tracks.stats.refused.load(Relaxed),
        1,
        "one point refused"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_client_that_stops_reading_is_shed_by_the_stall_rule(pool: PgPool) {
    // Idle after 6 s (pings every 250 ms go unanswered), too slow after 1 s of a blocked
    // write: which rule ends the client depends on whether the write blocks at all.
    let live = LiveConfig {
        stream: StreamConfig {
            stall_timeout: Duration::from_secs(1),
            ping_every: Duration::from_millis(250),
            idle_timeout: Duration::from_secs(6),
            ..StreamConfig::default()
        },
        ..LiveConfig::default()
    };
    let (app, state) = common::app_full(pool.clone(), AuthConfig::default(), live).await;
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // A snapshot of ≈250 KB: more than a bounded send buffer and the client's small receive
    // window hold, far less than what the kernel autotunes a loopback send buffer to.
    let ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO resources (kind, name, unit_id, on_duty)
         SELECT 'worker', '网格员' || n, u.id, true
         FROM generate_series(1, 1000) n, units u WHERE u.code = $1 RETURNING id",
    )
    .bind(GRID)
    .fetch_all(&pool)
    .await
    .unwrap();
    let positions: Vec<Value> = ids
        .iter()
        .zip(0_u32..)
        .map(|(id, i)| {
            json!({"resource": id, "lat": LAT, "lng": LNG + 1e-5 * f64::from(i),
                   "at": (Utc::now() - chrono::Duration::seconds(30)).to_rfc3339(),
                   "accuracy_m": 5.0, "speed_mps": 1.2, "heading_deg": 90.0, "battery": 80})
        })
        .collect();
    let (status, v) = json_as(
        &app,
        "POST",
        "/api/positions",
        Some(TOKEN),
        Some(json!({ "positions": positions })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = SocketOptions {
        send_buffer_bytes: Some(16 * 1024),
        user_timeout: Some(Duration::from_secs(3)),
    };
    tokio::spawn(
        axum::serve(
            listen::tuned(listener, options),
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .into_future(),
    );
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await.unwrap();
    let hello = tokio::time::timeout(HANG_GUARD, ws.next()).await.unwrap();
    assert!(matches!(hello, Some(Ok(Message::Text(_)))), "{hello:?}");
    let sub = json!({"type": "subscribe", "id": "s", "layers": ["workers"], "unit": "320999"});
    ws.send(Message::text(sub.to_string())).await.unwrap();
    // From here on the client reads nothing.
    let streams = &state.live.streams;
    let deadline = Instant::now() + HANG_GUARD;
    while streams.shed.load(Relaxed) + streams.idle.load(Relaxed) == 0 {
        assert!(
            Instant::now() < deadline,
            "the stalled client was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (streams.shed.load(Relaxed), streams.idle.load(Relaxed)),
        (1, 0),
        "shed as too slow (4429), not dropped as idle"
    );
    // The server closed its end with data the client never took: the kernel gives up on it
    // after the user timeout instead of probing the shut window for minutes (FIN-WAIT-1).
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let held = server_side_sockets(addr.port());
        if held.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed connection is still held by the kernel: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(ws);
}

/// States (hex, as in `/proc/net/tcp`: 01 established, 04 FIN-WAIT-1, …) of the server's
/// sockets on `port` other than the listener's.
fn server_side_sockets(port: u16) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols.get(1)?.rsplit(':').next()?;
            let state = *cols.get(3)?;
            (u16::from_str_radix(local_port, 16).ok()? == port && state != "0A")
                .then(|| state.to_owned())
        })
        .collect()
}
