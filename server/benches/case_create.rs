//! Case registration throughput: `POST /api/cases` over HTTP (session check, locate, case
//! number, duplicate search, one transaction with the case row and its event, the board, the
//! websocket `cases` layer) with N clients at once for a fixed time, while websocket clients
//! watch the whole city's `cases` layer and must each receive every created case. The anchor,
//! in the same run: a plain client writing the same rows (a case and its event, one
//! transaction per case, the grid given) straight into PostGIS with N connections.
//!
//! The cases made here are marked `rejected` by SQL at the start and the end of a run (bench
//! hygiene: they would otherwise stay on the board of every later run); their events stay.
//!
//! Knobs: `CREATE_CLIENTS` (comma list, `1,8,32`), `CREATE_SECONDS` (10 per phase),
//! `CREATE_WS_CLIENTS` (10). Run: `cargo bench -p gridwall-server --bench case_create`.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_lines,
    reason = "benchmark"
)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{env, load_average, summary};
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_server::auth::AuthConfig;
use gridwall_server::live::LiveConfig;
use gridwall_server::{cli, hierarchy, http};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

mod common;

const TOKEN: &str = "gws_bench-cases-admin";
const POSITIONS: usize = 50_000;
const CATEGORIES: [&str; 4] = ["dispute", "safety_hazard", "environment", "fire"];

async fn retire_bench_cases(pool: &PgPool) {
    sqlx::query(
        "UPDATE cases SET status = 'rejected', closed_at = now()
         WHERE title IN ('bench-create', 'bench-create-anchor')
           AND status NOT IN ('closed', 'rejected')",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// One row of the table.
fn row(what: &str, n: usize, wall: Duration, times: &mut [Duration], extra: &str) -> String {
    let s = summary(times);
    format!(
        "| {what} | {n} | {:.0} | {:.2} | {:.2} | {:.2} | {extra} | {} |",
        n as f64 / wall.as_secs_f64(),
        s.p50_us / 1000.0,
        s.p99_us / 1000.0,
        s.max_us / 1000.0,
        load_average()
    )
}

fn main() {
    let clients: Vec<usize> = env("CREATE_CLIENTS", "1,8,32".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let seconds: u64 = env("CREATE_SECONDS", 10);
    let ws_clients: usize = env("CREATE_WS_CLIENTS", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        println!("load average at start: {}", load_average());
        let pool = common::bench_pool(16).await;
        common::admin_session(&pool, "bench-cases", TOKEN).await;
        retire_bench_cases(&pool).await;
        let loaded = hierarchy::load(&pool).await.unwrap().unwrap();
        let mut rng = StdRng::seed_from_u64(77);
        let positions: Arc<Vec<(f64, f64, i64)>> = Arc::new(
            (0..POSITIONS)
                .map(|_| {
                    let (p, g) = common::in_grid(&mut rng, &loaded.hierarchy);
                    (p.lng(), p.lat(), loaded.db_ids[g.0 as usize])
                })
                .collect(),
        );
        drop(loaded);
        let state = cli::state(
            pool.clone(),
            16,
            AuthConfig::default(),
            LiveConfig::default(),
        )
        .await
        .unwrap();
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

        // Websocket clients on the whole city's cases layer; each keeps the ids it was told
        // were created (or saw in a snapshot after falling behind).
        let seen: Vec<Arc<Mutex<HashSet<i64>>>> = (0..ws_clients)
            .map(|_| Arc::new(Mutex::new(HashSet::new())))
            .collect();
        let resyncs = Arc::new(AtomicUsize::new(0));
        let mut ws_tasks = Vec::new();
        for (c, seen) in seen.iter().enumerate() {
            let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
            req.headers_mut()
                .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
            let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
            let sub = json!({"type": "subscribe", "id": c, "layers": ["cases"],
                             "viewport": {"bbox": [120.0, 31.5, 122.1, 32.8], "zoom": 10}});
            ws.send(Message::Text(sub.to_string().into()))
                .await
                .unwrap();
            let (seen, resyncs) = (Arc::clone(seen), Arc::clone(&resyncs));
            ws_tasks.push(tokio::spawn(async move {
                let mut snapshots = 0;
                while let Some(Ok(msg)) = ws.next().await {
                    let Message::Text(text) = msg else { continue };
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let mut seen = seen.lock().unwrap();
                    match v["type"].as_str() {
                        Some("cases") => {
                            for ch in v["changes"].as_array().into_iter().flatten() {
                                if ch["what"] == "created"
                                    && let Some(id) = ch["case"]["id"].as_i64()
                                {
                                    seen.insert(id);
                                }
                            }
                        }
                        Some("cases_snapshot") => {
                            snapshots += 1;
                            if snapshots > 1 {
                                resyncs.fetch_add(1, Ordering::Relaxed);
                            }
                            for c in v["cases"].as_array().into_iter().flatten() {
                                if let Some(id) = c["id"].as_i64() {
                                    seen.insert(id);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;

        let http = reqwest::Client::new();
        let next = Arc::new(AtomicUsize::new(0));
        let body = |i: usize, positions: &[(f64, f64, i64)]| {
            let (lng, lat, _) = positions[i % positions.len()];
            json!({"title": "bench-create", "description": "bench", "category": CATEGORIES[i % 4],
                   "source": "hotline_12345", "severity": 2, "lat": lat, "lng": lng,
                   "reporter_name": "张先生", "reporter_phone": "13912345678"})
        };
        // Warm-up: connections, statements, caches.
        for i in 0..200 {
            let r = http
                .post(format!("http://{addr}/api/cases"))
                .bearer_auth(TOKEN)
                .json(&body(i, &positions))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
        next.store(200, Ordering::Relaxed);
        let mut table = Vec::new();
        let mut checks = Vec::new();
        for &n in &clients {
            let created: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(Vec::new()));
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let started = Instant::now();
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let (http, next, positions, created) = (
                        http.clone(),
                        Arc::clone(&next),
                        Arc::clone(&positions),
                        Arc::clone(&created),
                    );
                    tokio::spawn(async move {
                        let mut times = Vec::new();
                        let mut errors = 0usize;
                        while Instant::now() < deadline {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let req = http
                                .post(format!("http://{addr}/api/cases"))
                                .bearer_auth(TOKEN)
                                .json(&body(i, &positions));
                            let t = Instant::now();
                            let r = req.send().await;
                            let ok = match r {
                                Ok(r) if r.status() == 201 => {
                                    let v: Value = r.json().await.unwrap();
                                    times.push(t.elapsed());
                                    v["id"].as_i64()
                                }
                                _ => None,
                            };
                            match ok {
                                Some(id) => created.lock().unwrap().push(id),
                                None => errors += 1,
                            }
                        }
                        (times, errors)
                    })
                })
                .collect();
            let mut times = Vec::new();
            let mut errors = 0;
            for h in handles {
                let (t, e) = h.await.unwrap();
                times.extend(t);
                errors += e;
            }
            let wall = started.elapsed();
            let ids = std::mem::take(&mut *created.lock().unwrap());
            table.push(row(
                &format!("HTTP `POST /api/cases`, {n} clients, {ws_clients} ws clients watching"),
                ids.len(),
                wall,
                &mut times,
                &format!("{errors}"),
            ));
            // Every watcher must have been told of every case of this phase.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let missing: Vec<usize> = seen
                .iter()
                .map(|s| {
                    let s = s.lock().unwrap();
                    ids.iter().filter(|id| !s.contains(id)).count()
                })
                .collect();
            checks.push(format!(
                "{n} clients: {} cases created; ws clients missing any: {:?} (0 = all received)",
                ids.len(),
                missing
            ));
        }

        // The anchor: the same rows, straight into PostGIS, one transaction per case.
        for &n in &clients {
            let anchor = sqlx::postgres::PgPoolOptions::new()
                .max_connections(u32::try_from(n).unwrap())
                .connect(&common::database_url())
                .await
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let started = Instant::now();
            let run = format!("{}", chrono::Utc::now().timestamp_millis());
            let handles: Vec<_> = (0..n)
                .map(|t| {
                    let (anchor, next, positions, run) = (
                        anchor.clone(),
                        Arc::clone(&next),
                        Arc::clone(&positions),
                        run.clone(),
                    );
                    tokio::spawn(async move {
                        let mut conn = anchor.acquire().await.unwrap();
                        let mut times = Vec::new();
                        let mut k = 0;
                        while Instant::now() < deadline {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let (lng, lat, grid) = positions[i % positions.len()];
                            let tm = Instant::now();
                            let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
                            let id: i64 = sqlx::query_scalar(
                                "INSERT INTO cases (number, title, description, category,
                                     source, severity, geom, grid_id, handling_unit_id,
                                     reporter_name, reporter_phone, deadline_at)
                                 VALUES ($1, 'bench-create-anchor', 'bench', $2,
                                     'hotline_12345', 2, ST_SetSRID(ST_MakePoint($3, $4), 4326),
                                     $5, $5, '张先生', '13912345678', now() + interval '1 day')
                                 RETURNING id",
                            )
                            .bind(format!("BENCH-A-{run}-{t}-{k}"))
                            .bind(CATEGORIES[i % 4])
                            .bind(lng)
                            .bind(lat)
                            .bind(grid)
                            .fetch_one(&mut *tx)
                            .await
                            .unwrap();
                            sqlx::query(
                                "INSERT INTO case_events (case_id, version, action, to_status,
                                     actor, role, details)
                                 VALUES ($1, 1, 'report', 'reported', 'bench', 'admin',
                                     '{\"source\": \"hotline_12345\"}')",
                            )
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                            tx.commit().await.unwrap();
                            times.push(tm.elapsed());
                            k += 1;
                        }
                        times
                    })
                })
                .collect();
            let mut times = Vec::new();
            for h in handles {
                times.extend(h.await.unwrap());
            }
            let wall = started.elapsed();
            let count = times.len();
            table.push(row(
                &format!(
                    "**anchor**: PostGIS, INSERT case + event per transaction, {n} connections"
                ),
                count,
                wall,
                &mut times,
                "0",
            ));
            anchor.close().await;
        }
        retire_bench_cases(&pool).await;
        for t in &ws_tasks {
            t.abort();
        }
        println!();
        for c in checks {
            println!("{c}");
        }
        println!(
            "websocket resyncs (a client fell behind and got a fresh cases_snapshot): {}",
            resyncs.load(Ordering::Relaxed)
        );
        println!(
            "\n| what | cases | cases/s | p50 ms | p99 ms | max ms | errors | load avg (1/5/15) |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for r in table {
            println!("{r}");
        }
    });
}
