//! Fan-out: position ingest → websocket delivery latency with many subscribed clients.
//!
//! One process runs the real server (router, live index, track writer into PostGIS) on a
//! loopback port; N websocket clients subscribe to a viewport; a poster sends positions for
//! 10,000 workers over HTTP (`POST /api/positions`, batches of 100, an admin session as an
//! integration would) at a fixed rate; each client measures, for every `moved`/`entered` item
//! it receives, the time since that resource's latest position was posted. The latency
//! therefore includes the HTTP request, the group commit to PostGIS (the live update is
//! published before the commit, the answer after it), the bus, the 100 ms coalescing window
//! and the JSON on the socket.
//!
//! Needs PostGIS with the demo hierarchy (`DATABASE_URL`, default the local `gridwall_bench`
//! database; imported when missing). Knobs: `FANOUT_CLIENTS` (100), `FANOUT_RATE` (10,000/s),
//! `FANOUT_SECONDS` (20), `FANOUT_VIEWPORT` (`city` or `township`). Run:
//! `cargo bench -p gridwall-server --bench fanout`.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "benchmark"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::env;
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_server::auth::AuthConfig;
use gridwall_server::live::LiveConfig;
use gridwall_server::{cli, http};
use gridwall_spatial::LatLng;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

mod common;

const WORKERS: usize = 10_000;
const BATCH: usize = 100;
const TOKEN: &str = "gws_bench-fanout-admin";

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[allow(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
#[allow(clippy::cast_possible_wrap, reason = "WORKERS is 10,000")]
fn main() {
    let clients: usize = env("FANOUT_CLIENTS", 100);
    let rate: usize = env("FANOUT_RATE", 10_000);
    let seconds: u64 = env("FANOUT_SECONDS", 20);
    let viewport: String = env("FANOUT_VIEWPORT", "city".to_owned());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let pool = common::bench_pool(16).await;
        // An admin session and 10,000 workers in random grids (made once per database).
        common::admin_session(&pool, "bench-fanout", TOKEN).await;
        let have: i64 =
            sqlx::query_scalar("SELECT count(*) FROM resources WHERE name LIKE 'bench-fanout-%'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if have < WORKERS as i64 {
            sqlx::query(
                "INSERT INTO resources (kind, name, unit_id, on_duty)
                 SELECT 'worker', 'bench-fanout-' || n, (SELECT id FROM units WHERE level = 4
                        ORDER BY md5(n::text) LIMIT 1), true
                 FROM generate_series($1::int + 1, $2::int) n",
            )
            .bind(have as i32)
            .bind(WORKERS as i32)
            .execute(&pool)
            .await
            .unwrap();
        }
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM resources WHERE name LIKE 'bench-fanout-%' ORDER BY id LIMIT $1",
        )
        .bind(WORKERS as i64)
        .fetch_all(&pool)
        .await
        .unwrap();
        let state = cli::state(pool.clone(), 16, AuthConfig::default(), LiveConfig::default())
            .await
            .unwrap();
        let loaded = state.hierarchy.get().unwrap();
        let router = http::app(state.clone(), None);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .into_future(),
        );

        // Each worker walks around a random point in a grid.
        let mut rng = StdRng::seed_from_u64(3);
        let homes: Vec<LatLng> = ids
            .iter()
            .map(|_| loop {
                let p = LatLng::new(rng.random_range(31.6..32.72), rng.random_range(120.2..121.98))
                    .unwrap();
                if loaded.hierarchy.locate(p).is_some() {
                    break p;
                }
            })
            .collect();
        let bbox = if viewport == "township" {
            // A viewport around one township: ≈ 1/40 of the workers.
            [120.80, 31.95, 120.92, 32.05]
        } else {
            [120.0, 31.5, 122.1, 32.8]
        };
        let in_view: usize = homes
            .iter()
            .filter(|p| {
                (bbox[0]..=bbox[2]).contains(&p.lng()) && (bbox[1]..=bbox[3]).contains(&p.lat())
            })
            .count();

        let sent: Arc<Mutex<HashMap<i64, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
        let samples: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(Vec::new()));
        let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for c in 0..clients {
            let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
            req.headers_mut()
                .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
            let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
            let sub = json!({"type": "subscribe", "id": c, "layers": ["workers"],
                             "viewport": {"bbox": bbox, "zoom": 12}});
            ws.send(Message::Text(sub.to_string().into())).await.unwrap();
            let (sent, samples, measuring, received) = (
                Arc::clone(&sent),
                Arc::clone(&samples),
                Arc::clone(&measuring),
                Arc::clone(&received),
            );
            tasks.push(tokio::spawn(async move {
                let mut local = Vec::new();
                while let Some(Ok(msg)) = ws.next().await {
                    let Message::Text(text) = msg else { continue };
                    let now = Instant::now();
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    if v["type"] != "delta" {
                        continue;
                    }
                    let items = v["moved"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .chain(v["entered"].as_array().into_iter().flatten());
                    let on = measuring.load(Ordering::Relaxed);
                    let sent = sent.lock().unwrap();
                    for item in items {
                        received.fetch_add(1, Ordering::Relaxed);
                        if !on {
                            continue;
                        }
                        if let Some(t) = item["id"].as_i64().and_then(|id| sent.get(&id)) {
                            local.push(now.saturating_duration_since(*t).as_micros() as u32);
                        }
                    }
                    drop(sent);
                    // Handed over at once: the task is aborted at the end, not joined.
                    if !local.is_empty() {
                        samples.lock().unwrap().append(&mut local);
                    }
                }
                samples.lock().unwrap().append(&mut local);
            }));
        }

        // The poster: `rate` positions per second in batches of 100, spread evenly.
        let http = reqwest::Client::new();
        let per_second_batches = (rate / BATCH).max(1);
        let gap = Duration::from_secs(1) / per_second_batches as u32;
        let warmup = 3;
        let mut next_id = 0usize;
        let mut tick = tokio::time::interval(gap);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let started = Instant::now();
        let mut posted = 0u64;
        let mut errors = 0u64;
        let mut step = 0u64;
        let mut inflight = Vec::new();
        while started.elapsed() < Duration::from_secs(seconds + warmup) {
            tick.tick().await;
            if started.elapsed() >= Duration::from_secs(warmup) {
                measuring.store(true, Ordering::Relaxed);
            }
            step += 1;
            let mut batch = Vec::with_capacity(BATCH);
            let now_ms = chrono::Utc::now().timestamp_millis();
            {
                let mut s = sent.lock().unwrap();
                for _ in 0..BATCH {
                    let i = next_id % ids.len();
                    next_id += 1;
                    let h = homes[i];
                    let wobble = ((step as f64) * 0.01).sin() * 2e-4;
                    batch.push(json!({"resource": ids[i], "lat": h.lat() + wobble,
                                      "lng": h.lng(), "at": now_ms}));
                    s.insert(ids[i], Instant::now());
                }
            }
            let req = http
                .post(format!("http://{addr}/api/positions"))
                .bearer_auth(TOKEN)
                .json(&json!({"positions": batch}));
            inflight.push(tokio::spawn(async move {
                matches!(req.send().await, Ok(r) if r.status().is_success())
            }));
            if inflight.len() >= 64 {
                for t in inflight.drain(..) {
                    if t.await.unwrap_or(false) {
                        posted += BATCH as u64;
                    } else {
                        errors += 1;
                    }
                }
            }
        }
        for t in inflight.drain(..) {
            if t.await.unwrap_or(false) {
                posted += BATCH as u64;
            } else {
                errors += 1;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss = rss_mib();
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        let mut all = std::mem::take(&mut *samples.lock().unwrap());
        all.sort_unstable();
        let pct = |p: f64| f64::from(all[((all.len() - 1) as f64 * p) as usize]) / 1000.0;
        println!(
            "\nclients {clients}, viewport {viewport} ({in_view} of {WORKERS} workers in view), \
             target {rate} positions/s for {seconds} s after {warmup} s warm-up"
        );
        println!(
            "posted {posted} positions ({:.0}/s achieved, {errors} failed requests); \
             {} items delivered to clients; {} latency samples",
            posted as f64 / elapsed,
            received.load(Ordering::Relaxed),
            all.len()
        );
        if !all.is_empty() {
            println!(
                "ingest → websocket latency: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                pct(0.5),
                pct(0.9),
                pct(0.99),
                pct(1.0)
            );
        }
        println!(
            "process RSS (server + {clients} clients + poster): {rss:.0} MiB; track buffer now {}",
            state.live.tracks.queued()
        );
    });
}
