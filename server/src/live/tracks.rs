//! Tracks: every accepted point goes to the `positions` table through a bounded buffer.
//!
//! Ingest hands a request's points to [`TrackWriter::try_enqueue`] and gets a [`Durable`]
//! receipt; one writer task drains the buffer in batches of up to `max_batch` points, writes
//! each batch in one transaction (a multi-row `INSERT … SELECT FROM unnest(…)`, duplicates
//! ignored by the primary key, and the newest point per resource into `last_positions`) and
//! then resolves the receipts of every request in it (group commit). Up to `writers` such
//! transactions run at once, so the server prepares the next batch while PostgreSQL writes
//! and flushes the last one (the order of commits does not matter: `last_positions` keeps the
//! newest point whichever batch commits first, and each batch's rows are written in key order
//! so two batches never wait on each other crosswise). So:
//!
//! - a request answered 2xx had its points committed to PostGIS (durable);
//! - when the database is slow or unavailable (`db::is_unavailable`: refused or lost
//!   connections, a database that accepts none, a pool timeout), the buffer absorbs: the live
//!   index has already moved, the request waits up to the acknowledgement timeout and then
//!   answers 503 with Retry-After, and the batch is retried until it is written (a client that
//!   re-sends the points makes no duplicates). A buffered point is never dropped for an
//!   outage; only the end of the process loses it, unacknowledged;
//! - when the database refuses a batch as such (a constraint, a bad value) three times, each
//!   request's points in it are tried alone, so that only the request the database refuses is
//!   refused; its points go to [`Refusal`]s, which the live picture takes off the map before
//!   the request is answered (`live::take_back_task`);
//! - when the buffer holds its capacity, new requests answer 503 at once and take nothing.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::db;

/// SQLSTATEs of a transaction PostgreSQL aborted for what ran beside it, not for what it
/// holds: a deadlock it broke, a serialization failure, a lock not available. Tried again
/// like a lost connection, never counted as a refusal of the points.
const TRANSIENT: [&str; 3] = ["40P01", "40001", "55P03"];

/// The first pause between two tries of a batch; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest pause between two tries: also the longest the writer may take to notice that
/// the database is back.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// One point of a track, as written to `positions`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackPoint {
    /// `resources.id`.
    pub resource_id: i64,
    /// When the device took the fix.
    pub at: DateTime<Utc>,
    /// WGS84 latitude.
    pub lat: f64,
    /// WGS84 longitude.
    pub lng: f64,
    /// The grid (`units.id`) it was located in, `None` outside every grid.
    pub grid_id: Option<i64>,
    /// Horizontal accuracy, metres.
    pub accuracy_m: Option<f32>,
    /// Speed, m/s.
    pub speed_mps: Option<f32>,
    /// Course, degrees.
    pub heading_deg: Option<f32>,
    /// Altitude, metres.
    pub altitude_m: Option<f32>,
    /// Battery, percent.
    pub battery_pct: Option<f32>,
    /// The device raised SOS with this point.
    pub sos: bool,
}

/// The buffer is full: nothing was taken; try again after `retry_after_s`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the track buffer is full ({queued} of {capacity} points waiting for the database)")]
pub struct BufferFull {
    /// Points waiting.
    pub queued: usize,
    /// The buffer's capacity.
    pub capacity: usize,
}

/// Why a receipt did not resolve to "durable".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotDurable {
    /// The acknowledgement timeout passed first; the points stay buffered and will be written.
    #[error("the database did not confirm the points in time; they stay buffered")]
    Pending,
    /// The database refused the request's points (not for being unavailable); they were
    /// taken off the live map and dropped.
    #[error("the database refused the points")]
    Refused,
}

/// The promise that a request's points will be committed.
#[derive(Debug)]
pub struct Durable(oneshot::Receiver<bool>);

impl Durable {
    /// Waits until the points are committed, or `timeout`.
    ///
    /// # Errors
    ///
    /// [`NotDurable::Pending`] after `timeout`, [`NotDurable::Refused`] when the database
    /// refused the batch.
    pub async fn wait(self, timeout: Duration) -> Result<(), NotDurable> {
        match tokio::time::timeout(timeout, self.0).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false) | Err(_)) => Err(NotDurable::Refused),
            Err(_) => Err(NotDurable::Pending),
        }
    }
}

struct Job {
    points: Vec<TrackPoint>,
    done: oneshot::Sender<bool>,
}

/// A request's points the database refused: the live picture takes them off the map, then
/// drops this, which answers the request (not durable, refused).
#[derive(Debug)]
pub struct Refusal {
    /// The refused points.
    pub points: Vec<TrackPoint>,
    _done: oneshot::Sender<bool>,
}

/// Tuning of the track writer.
#[derive(Debug, Clone, Copy)]
pub struct TrackConfig {
    /// Points the buffer holds before ingest answers 503.
    pub capacity: usize,
    /// Points written per transaction at most.
    pub max_batch: usize,
    /// Write transactions in flight at most.
    pub writers: usize,
}

impl Default for TrackConfig {
    fn default() -> Self {
        Self {
            capacity: 1_000_000,
            max_batch: 20_000,
            writers: 3,
        }
    }
}

/// Counters of the writer, for metrics and tests.
#[derive(Debug, Default)]
pub struct TrackStats {
    /// Points waiting in the buffer (enqueued, not yet committed or dropped).
    pub queued: AtomicUsize,
    /// Points committed (including exact duplicates the database ignored).
    pub written: AtomicUsize,
    /// Transactions committed.
    pub batches: AtomicUsize,
    /// Points dropped because the database refused their batch.
    pub refused: AtomicUsize,
    /// Failed write attempts (then retried).
    pub failures: AtomicUsize,
    /// Since when writes fail for an unavailable database (for the "back" log line).
    unavailable_since: Mutex<Option<Instant>>,
}

/// The handle ingest uses; cheap to clone.
#[derive(Debug, Clone)]
pub struct TrackWriter {
    tx: mpsc::UnboundedSender<Job>,
    capacity: usize,
    /// Counters.
    pub stats: Arc<TrackStats>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("points", &self.points.len())
            .finish_non_exhaustive()
    }
}

impl TrackWriter {
    /// Starts the writer task on `pool`; the receiver gets the points the database refuses.
    #[must_use]
    pub fn start(pool: PgPool, config: TrackConfig) -> (Self, mpsc::UnboundedReceiver<Refusal>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (refused_tx, refused_rx) = mpsc::unbounded_channel();
        let stats = Arc::new(TrackStats::default());
        tokio::spawn(run(pool, rx, refused_tx, config, Arc::clone(&stats)));
        let writer = Self {
            tx,
            capacity: config.capacity,
            stats,
        };
        (writer, refused_rx)
    }

    /// Waits until the buffer is empty (every point written or refused), at most `limit`;
    /// answers the points still waiting (0: flushed).
    pub async fn flush(&self, limit: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let queued = self.queued();
            if queued == 0 || tokio::time::Instant::now() >= deadline {
                return queued;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Points waiting for the database.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.stats.queued.load(Ordering::Relaxed)
    }

    /// The buffer's capacity in points.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Takes all of `points` into the buffer, or none of them when they do not fit.
    ///
    /// # Errors
    ///
    /// [`BufferFull`] when the buffer cannot take them all.
    pub fn try_enqueue(&self, points: Vec<TrackPoint>) -> Result<Durable, BufferFull> {
        let n = points.len();
        let (done, rx) = oneshot::channel();
        if n == 0 {
            let _ = done.send(true);
            return Ok(Durable(rx));
        }
        let reserved = self
            .stats
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q + n <= self.capacity).then_some(q + n)
            });
        if let Err(queued) = reserved {
            return Err(BufferFull {
                queued,
                capacity: self.capacity,
            });
        }
        if let Err(mpsc::error::SendError(job)) = self.tx.send(Job { points, done }) {
            // The writer is gone (shutting down): nothing will be written.
            self.stats.queued.fetch_sub(n, Ordering::AcqRel);
            let _ = job.done.send(false);
        }
        Ok(Durable(rx))
    }
}

async fn run(
    pool: PgPool,
    mut rx: mpsc::UnboundedReceiver<Job>,
    refused: mpsc::UnboundedSender<Refusal>,
    config: TrackConfig,
    stats: Arc<TrackStats>,
) {
    let partitions = Arc::new(Mutex::new(HashSet::new()));
    let writers = Arc::new(Semaphore::new(config.writers.max(1)));
    while let Some(first) = rx.recv().await {
        // Wait for a free writer before gathering: while all are busy the queue grows, and
        // the next batch takes all of it (up to `max_batch`).
        let Ok(permit) = Arc::clone(&writers).acquire_owned().await else {
            break;
        };
        let mut jobs = vec![first];
        let mut n = jobs[0].points.len();
        while n < config.max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    n += job.points.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let (pool, partitions, stats, refused) = (
            pool.clone(),
            Arc::clone(&partitions),
            Arc::clone(&stats),
            refused.clone(),
        );
        tokio::spawn(async move {
            settle(&pool, jobs, &partitions, &stats, &refused).await;
            drop(permit);
        });
    }
}

/// Writes a batch and resolves its receipts. When the database refuses the batch as such,
/// each request's points are tried alone, so that one request the database refuses does not
/// take the others of its batch with it.
async fn settle(
    pool: &PgPool,
    jobs: Vec<Job>,
    partitions: &Mutex<HashSet<NaiveDate>>,
    stats: &TrackStats,
    refused: &mpsc::UnboundedSender<Refusal>,
) {
    let n: usize = jobs.iter().map(|j| j.points.len()).sum();
    let refusal = write_with_retry(pool, &jobs, partitions, stats).await.err();
    let Some(e) = refusal else {
        stats.queued.fetch_sub(n, Ordering::AcqRel);
        stats.written.fetch_add(n, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        for job in jobs {
            let _ = job.done.send(true);
        }
        return;
    };
    let alone = jobs.len() > 1;
    if alone {
        tracing::warn!(error = %e, requests = jobs.len(), points = n,
            "the database refused a batch of track points; trying each request's points alone");
    }
    let mut refused_alone = Some(e);
    for job in jobs {
        let m = job.points.len();
        let result = match (alone, refused_alone.take()) {
            (false, Some(e)) => Err(e),
            _ => write_with_retry(pool, std::slice::from_ref(&job), partitions, stats).await,
        };
        stats.queued.fetch_sub(m, Ordering::AcqRel);
        match result {
            Ok(()) => {
                stats.written.fetch_add(m, Ordering::Relaxed);
                stats.batches.fetch_add(1, Ordering::Relaxed);
                let _ = job.done.send(true);
            }
            Err(e) => {
                tracing::error!(error = %e, points = m,
                    "the database refused a request's track points: not acknowledged, taken off the live map");
                stats.refused.fetch_add(m, Ordering::Relaxed);
                let refusal = Refusal {
                    points: job.points,
                    _done: job.done,
                };
                // Without a taker (the live picture is gone) dropping it answers the request.
                let _ = refused.send(refusal);
            }
        }
    }
}

/// Why the database refused a batch, kept as text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RefusedBy(String);

/// Writes until it works. An unavailable database (and a transaction aborted for what ran
/// beside it) is retried for ever, with backoff, the buffer absorbing meanwhile; a refusal by
/// the database (a constraint, a bad value) three times, then answered.
async fn write_with_retry(
    pool: &PgPool,
    jobs: &[Job],
    partitions: &Mutex<HashSet<NaiveDate>>,
    stats: &TrackStats,
) -> Result<(), RefusedBy> {
    let mut backoff = FIRST_BACKOFF;
    let mut refusals = 0;
    loop {
        match write(pool, jobs, partitions).await {
            Ok(()) => {
                let since = stats
                    .unavailable_since
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(since) = since {
                    db::outage::back(since.elapsed());
                }
                return Ok(());
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                if db::is_unavailable(&e) {
                    stats
                        .unavailable_since
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_or_insert_with(Instant::now);
                    db::outage::warn("writing track points (kept in the buffer, retrying)", &e);
                } else if matches!(&e, sqlx::Error::Database(d)
                    if d.code().is_some_and(|c| TRANSIENT.contains(&c.as_ref())))
                {
                    tracing::warn!(error = %e, "writing track points was aborted; retrying");
                } else {
                    refusals += 1;
                    partitions
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clear();
                    if refusals >= 3 {
                        return Err(RefusedBy(e.to_string()));
                    }
                    tracing::warn!(error = %e, "the database refused track points; retrying");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[allow(
    clippy::too_many_lines,
    reason = "one group commit: its retries and its bookkeeping share the batch"
)]
async fn write(
    pool: &PgPool,
    jobs: &[Job],
    partitions: &Mutex<HashSet<NaiveDate>>,
) -> Result<(), sqlx::Error> {
    // Key order, so that concurrent batches take the primary key's locks in the same order;
    // stable, so that of points sharing a key the first sent is the one the key keeps.
    let mut points: Vec<&TrackPoint> = jobs.iter().flat_map(|j| &j.points).collect();
    points.sort_by_key(|p| (p.resource_id, p.at));
    let mut cols = Columns::default();
    for p in &points {
        cols.push(p);
    }
    // The newest point of each resource: the first of its run's latest time.
    let newest: Vec<&TrackPoint> = points
        .chunk_by(|a, b| a.resource_id == b.resource_id)
        .filter_map(|run| {
            let at = run.last()?.at;
            run.get(run.partition_point(|p| p.at < at)).copied()
        })
        .collect();
    let days: Vec<NaiveDate> = {
        let known = partitions.lock().unwrap_or_else(PoisonError::into_inner);
        cols.at
            .iter()
            .map(DateTime::date_naive)
            .collect::<HashSet<_>>()
            .into_iter()
            .filter(|d| !known.contains(d))
            .collect()
    };
    for day in days {
        sqlx::query("SELECT positions_ensure_partition($1)")
            .bind(day)
            .execute(pool)
            .await?;
        partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(day);
    }
    let mut last = Columns::default();
    for p in &newest {
        last.push(p);
    }
    let mut tx = pool.begin().await?;
    // Resources are disabled, never deleted, so the track takes every point as it is (a check
    // of each point's resource cost PostgreSQL ≈15 % of the insert); `last_positions`, whose
    // rows hang off `resources`, skips a resource deleted by hand meanwhile.
    sqlx::query(
        "INSERT INTO positions (resource_id, at, geom, grid_id, accuracy_m, speed_mps,
                                heading_deg, altitude_m, battery_pct, sos)
         SELECT u.rid, u.at, ST_SetSRID(ST_MakePoint(u.lng, u.lat), 4326), u.grid, u.acc,
                u.speed, u.heading, u.alt, u.batt, u.sos
         FROM unnest($1::bigint[], $2::timestamptz[], $3::float8[], $4::float8[], $5::bigint[],
                     $6::real[], $7::real[], $8::real[], $9::real[], $10::real[], $11::bool[])
              AS u(rid, at, lat, lng, grid, acc, speed, heading, alt, batt, sos)
         ORDER BY u.rid, u.at
         ON CONFLICT DO NOTHING",
    )
    .bind(&cols.resource_id)
    .bind(&cols.at)
    .bind(&cols.lat)
    .bind(&cols.lng)
    .bind(&cols.grid_id)
    .bind(&cols.accuracy_m)
    .bind(&cols.speed_mps)
    .bind(&cols.heading_deg)
    .bind(&cols.altitude_m)
    .bind(&cols.battery_pct)
    .bind(&cols.sos)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO last_positions AS l (resource_id, at, geom, grid_id, accuracy_m, speed_mps,
                                          heading_deg, battery_pct, sos)
         SELECT u.rid, u.at, ST_SetSRID(ST_MakePoint(u.lng, u.lat), 4326), u.grid, u.acc,
                u.speed, u.heading, u.batt, u.sos
         FROM unnest($1::bigint[], $2::timestamptz[], $3::float8[], $4::float8[], $5::bigint[],
                     $6::real[], $7::real[], $8::real[], $9::real[], $10::bool[])
              AS u(rid, at, lat, lng, grid, acc, speed, heading, batt, sos)
         WHERE EXISTS (SELECT 1 FROM resources r WHERE r.id = u.rid)
         ORDER BY u.rid
         ON CONFLICT (resource_id) DO UPDATE
           SET at = excluded.at, geom = excluded.geom, grid_id = excluded.grid_id,
               accuracy_m = excluded.accuracy_m, speed_mps = excluded.speed_mps,
               heading_deg = excluded.heading_deg, battery_pct = excluded.battery_pct,
               sos = excluded.sos
           WHERE l.at < excluded.at",
    )
    .bind(&last.resource_id)
    .bind(&last.at)
    .bind(&last.lat)
    .bind(&last.lng)
    .bind(&last.grid_id)
    .bind(&last.accuracy_m)
    .bind(&last.speed_mps)
    .bind(&last.heading_deg)
    .bind(&last.battery_pct)
    .bind(&last.sos)
    .execute(&mut *tx)
    .await?;
    let sos: Vec<(i64, DateTime<Utc>)> = newest
        .iter()
        .filter(|p| p.sos)
        .map(|p| (p.resource_id, p.at))
        .collect();
    if !sos.is_empty() {
        let (ids, ats): (Vec<i64>, Vec<DateTime<Utc>>) = sos.into_iter().unzip();
        sqlx::query(
            "UPDATE resources r SET sos_at = u.at
             FROM unnest($1::bigint[], $2::timestamptz[]) AS u(rid, at)
             WHERE r.id = u.rid AND r.sos_at IS NULL",
        )
        .bind(&ids)
        .bind(&ats)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// A batch of points as columns, for `unnest`.
#[derive(Default)]
struct Columns {
    resource_id: Vec<i64>,
    at: Vec<DateTime<Utc>>,
    lat: Vec<f64>,
    lng: Vec<f64>,
    grid_id: Vec<Option<i64>>,
    accuracy_m: Vec<Option<f32>>,
    speed_mps: Vec<Option<f32>>,
    heading_deg: Vec<Option<f32>>,
    altitude_m: Vec<Option<f32>>,
    battery_pct: Vec<Option<f32>>,
    sos: Vec<bool>,
}

impl Columns {
    fn push(&mut self, p: &TrackPoint) {
        self.resource_id.push(p.resource_id);
        self.at.push(p.at);
        self.lat.push(p.lat);
        self.lng.push(p.lng);
        self.grid_id.push(p.grid_id);
        self.accuracy_m.push(p.accuracy_m);
        self.speed_mps.push(p.speed_mps);
        self.heading_deg.push(p.heading_deg);
        self.altitude_m.push(p.altitude_m);
        self.battery_pct.push(p.battery_pct);
        self.sos.push(p.sos);
    }
}

pub use crate::db::retention::apply_retention;

/// Applies retention at start-up and then every hour, until the process ends.
pub async fn retention_task(pool: PgPool, days: u32) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        match apply_retention(&pool, days, Utc::now()).await {
            Ok(dropped) if !dropped.is_empty() => {
                tracing::info!(?dropped, days, "dropped track partitions past retention");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "track retention failed; retrying in an hour"),
        }
    }
}
