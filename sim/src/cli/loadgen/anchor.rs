//! The load benchmark's anchor: the same points as the HTTP phases, inserted straight into
//! PostGIS, one autocommitted `INSERT` per point, over one connection and over a few.
//!
//! This is the only code of the crate that opens a database, and on purpose: the anchor
//! measures what the database does without the server in between, which no API can offer. It
//! writes into the server's `positions` table (and makes the day partitions the window needs
//! with the server's own `positions_ensure_partition`), so it runs only when `--database-url`
//! names the server's database. Everything else in the crate is a client of the public API.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;

use super::{Outcome, PHASE_WINDOW_MS, Target, point};

/// The anchor: the same points, one autocommitted `INSERT` per point, over `connections`.
pub(super) async fn insert_phase(
    database_url: &str,
    targets: &Arc<Vec<Target>>,
    connections: usize,
    duration: Duration,
    t0_ms: i64,
) -> anyhow::Result<Outcome> {
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(connections).unwrap_or(1))
        .connect(database_url)
        .await?;
    // The day partitions the window needs (the server creates them the same way).
    for ms in [t0_ms, t0_ms + PHASE_WINDOW_MS] {
        let day = DateTime::<Utc>::from_timestamp_millis(ms)
            .ok_or_else(|| anyhow::anyhow!("time out of range"))?
            .date_naive();
        sqlx::query("SELECT positions_ensure_partition($1)")
            .bind(day)
            .execute(&pool)
            .await?;
    }
    let seq: Arc<Vec<AtomicU64>> = Arc::new(targets.iter().map(|_| AtomicU64::new(0)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (pool, targets, seq, next) = (
            pool.clone(),
            Arc::clone(targets),
            Arc::clone(&seq),
            Arc::clone(&next),
        );
        tasks.spawn(async move {
            let mut o = Outcome::default();
            let Ok(mut conn) = pool.acquire().await else {
                o.errors += 1;
                return o;
            };
            while Instant::now() < deadline {
                let ti = next.fetch_add(1, Ordering::Relaxed) % targets.len();
                let k = seq[ti].fetch_add(1, Ordering::Relaxed);
                let f = point(&targets[ti], k, t0_ms);
                let at = DateTime::<Utc>::from_timestamp_millis(f.at).unwrap_or_default();
                let sent = Instant::now();
                let r = sqlx::query(
                    "INSERT INTO positions (resource_id, at, geom, accuracy_m, speed_mps,
                                            heading_deg, battery_pct)
                     VALUES ($1, $2, ST_SetSRID(ST_MakePoint($3, $4), 4326), $5, $6, $7, $8)",
                )
                .bind(f.resource)
                .bind(at)
                .bind(f.lng)
                .bind(f.lat)
                .bind(f.accuracy_m)
                .bind(f.speed_mps)
                .bind(f.heading_deg)
                .bind(f.battery)
                .execute(&mut *conn)
                .await;
                o.requests += 1;
                match r {
                    Ok(_) => {
                        o.points += 1;
                        o.latencies_us
                            .push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                    }
                    Err(_) => o.errors += 1,
                }
            }
            o
        });
    }
    let mut total = Outcome::default();
    while let Some(Ok(o)) = tasks.join_next().await {
        total.absorb(o);
    }
    total.elapsed = started.elapsed();
    total.name = format!("PostGIS, one INSERT per point, {connections} connection(s)");
    Ok(total)
}
