//! The track roll-up: new positions (by arrival time) become per-hour, per-cell rows of
//! `track_cells` — points per cell for density, and the cells on-duty workers' patrols passed
//! through (the walk between consecutive reports included) for coverage.
//!
//! It runs a minute behind arrival (`LAG`): a position is visible to it once its transaction
//! committed, and its `received_at` is the transaction's start. Positions committed more than
//! `LAG` after their transaction began are missed (the track writer commits in milliseconds).
//! The walk between two reports is counted when they are at most [`MAX_GAP`] apart in time and
//! [`MAX_STEP_M`] in distance (a phone that was off for an hour did not walk a straight line).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use gridwall_spatial::{BlockBits, CellIndex, LatLng, Resolution, block_bit, path_cells};
use sqlx::{PgPool, Postgres, Transaction};

use crate::context::Core;

/// The resolution of the roll-up (coarser coverage is derived from it).
pub const ROLLUP_RESOLUTION: Resolution = Resolution::Eleven;
/// The roll-up reads positions that arrived at least this long ago.
pub const LAG: TimeDelta = TimeDelta::seconds(30);
/// Two reports further apart in time are not joined by a walk.
pub const MAX_GAP: TimeDelta = TimeDelta::minutes(10);
/// Two reports further apart than this are not joined by a walk, metres.
pub const MAX_STEP_M: f64 = 2_000.0;
/// Positions read per pass, unless one arrival instant holds more.
pub const BATCH: i64 = 200_000;

/// The previous report of each resource, to join the next one to it.
#[derive(Debug)]
pub struct Rollup {
    last: HashMap<i64, (DateTime<Utc>, LatLng, CellIndex)>,
    batch: i64,
}

impl Default for Rollup {
    fn default() -> Self {
        Self::with_batch(BATCH)
    }
}

#[derive(sqlx::FromRow)]
struct Point {
    resource_id: i64,
    at: DateTime<Utc>,
    lng: f64,
    lat: f64,
    patrolling: bool,
    received_at: DateTime<Utc>,
}

/// A cell's index as stored.
#[must_use]
pub fn cell_key(cell: CellIndex) -> i64 {
    // H3 indexes leave the top bit zero: they fit a signed 64-bit integer.
    i64::try_from(u64::from(cell)).unwrap_or(i64::MAX)
}

/// A stored cell index, when valid.
#[must_use]
pub fn cell_from_key(key: i64) -> Option<CellIndex> {
    u64::try_from(key)
        .ok()
        .and_then(|k| CellIndex::try_from(k).ok())
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

impl Rollup {
    /// A roll-up reading at most `batch` positions per pass (at least 1).
    #[must_use]
    pub fn with_batch(batch: i64) -> Self {
        Self {
            last: HashMap::new(),
            batch: batch.max(1),
        }
    }

    /// Reads the positions that arrived since the last pass (up to `now - LAG`) and adds them
    /// to `track_cells`; answers how many positions it read. Several passes may be needed to
    /// catch up (each reads at most 200,000).
    ///
    /// # Errors
    ///
    /// When the database fails; nothing is committed then and the next pass reads the same.
    pub async fn pass(
        &mut self,
        state: &impl Core,
        now: DateTime<Utc>,
    ) -> Result<usize, sqlx::Error> {
        let pool = state.pool();
        let from: DateTime<Utc> = sqlx::query_scalar(
            "SELECT coalesce((SELECT upto FROM rollup_state WHERE name = 'track_cells'),
                             'epoch'::timestamptz)",
        )
        .fetch_one(pool)
        .await?;
        let upto = now - LAG;
        if from >= upto {
            return Ok(0);
        }
        summarize(pool).await;
        let mut points = read(pool, from, upto, self.batch).await?;
        let mut new_upto = upto;
        if i64::try_from(points.len()).unwrap_or(i64::MAX) >= self.batch
            && let (Some(first), Some(last)) = (
                points.first().map(|p| p.received_at),
                points.last().map(|p| p.received_at),
            )
        {
            if first < last {
                // A full batch may end inside one arrival instant: stop before it, read it
                // next time.
                points.retain(|p| p.received_at < last);
                new_upto = points.last().map_or(from, |p| p.received_at);
            } else {
                // One arrival instant (one commit) holds more than a batch: read it whole.
                points = read(pool, from, last, i64::MAX).await?;
                new_upto = last;
            }
        }
        let n = points.len();
        let cells = self.cells(&points);
        let loaded = state.hierarchy().get();
        let mut hours = Vec::with_capacity(cells.len());
        let mut keys = Vec::with_capacity(cells.len());
        let mut grids: Vec<Option<i64>> = Vec::with_capacity(cells.len());
        let mut counts = Vec::with_capacity(cells.len());
        let mut patrolled = Vec::with_capacity(cells.len());
        let blocks = Blocks::of(
            cells
                .iter()
                .filter(|(_, v)| v.1)
                .map(|((hour, cell), _)| (*hour, *cell)),
        );
        for ((hour, cell), (count, walked)) in cells {
            let centre = h3o::LatLng::from(cell);
            let grid = loaded.as_deref().and_then(|l| {
                LatLng::new(centre.lat(), centre.lng())
                    .ok()
                    .and_then(|p| l.hierarchy.locate(p))
                    .map(|path| l.db_ids[path.grid.0 as usize])
            });
            hours.push(hour);
            keys.push(cell_key(cell));
            grids.push(grid);
            counts.push(i32::try_from(count).unwrap_or(i32::MAX));
            patrolled.push(walked);
        }
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO track_cells AS t (hour, cell, grid_id, points, patrolled)
             SELECT * FROM unnest($1::timestamptz[], $2::bigint[], $3::bigint[], $4::int[],
                                  $5::bool[])
             ON CONFLICT (hour, cell) DO UPDATE
             SET points = t.points + EXCLUDED.points,
                 patrolled = t.patrolled OR EXCLUDED.patrolled,
                 grid_id = coalesce(EXCLUDED.grid_id, t.grid_id)",
        )
        .bind(&hours)
        .bind(&keys)
        .bind(&grids)
        .bind(&counts)
        .bind(&patrolled)
        .execute(&mut *tx)
        .await?;
        blocks.write(&mut tx).await?;
        sqlx::query(
            "INSERT INTO rollup_state (name, upto) VALUES ('track_cells', $1)
             ON CONFLICT (name) DO UPDATE SET upto = $1",
        )
        .bind(new_upto)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// (hour, cell) → (points reported there, an on-duty patrol passed through).
    fn cells(&mut self, points: &[Point]) -> HashMap<(DateTime<Utc>, CellIndex), (u32, bool)> {
        let mut out: HashMap<(DateTime<Utc>, CellIndex), (u32, bool)> = HashMap::new();
        // Per resource in time order (the query sorts by arrival first).
        let mut order: Vec<&Point> = points.iter().collect();
        order.sort_by_key(|p| (p.resource_id, p.at));
        for p in order {
            let Ok(here) = LatLng::new(p.lat, p.lng) else {
                continue;
            };
            let hour = hour_of(p.at);
            let Ok(ll) = h3o::LatLng::new(p.lat, p.lng) else {
                continue;
            };
            let cell = ll.to_cell(ROLLUP_RESOLUTION);
            let e = out.entry((hour, cell)).or_default();
            e.0 += 1;
            e.1 |= p.patrolling;
            let prev = self.last.get(&p.resource_id).copied();
            match prev {
                Some((t, _, _)) if t >= p.at => continue, // late or repeated: its cell only
                // A step inside one cell walks through that cell only (marked above).
                Some((_, _, c)) if c == cell => {}
                Some((t, from, _))
                    if p.patrolling
                        && p.at - t <= MAX_GAP
                        && gridwall_spatial::haversine_m(from, here) <= MAX_STEP_M =>
                {
                    for c in path_cells(from, here, ROLLUP_RESOLUTION) {
                        out.entry((hour, c)).or_default().1 = true;
                    }
                }
                _ => {}
            }
            self.last.insert(p.resource_id, (p.at, here, cell));
        }
        out
    }
}

/// Summarises the block ranges of `positions` added since the last pass in their BRIN index
/// on arrival time. Left to itself PostgreSQL does that only in VACUUM, hours apart on an
/// append-only table, and every unsummarised range is read whole by each pass (measured under
/// load: the day's 11 M rows read to find 200,000). Gives up at once when VACUUM holds the
/// table (the pass is then slower, not wrong), so that autovacuum is never cancelled for it.
async fn summarize(pool: &PgPool) {
    let run = async {
        let mut tx = pool.begin().await?;
        sqlx::query("SET LOCAL lock_timeout = '100ms'")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "SELECT brin_summarize_new_values(i.inhrelid)
             FROM pg_inherits i
             WHERE i.inhparent = 'positions_received_brin'::regclass",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    };
    if let Err(e) = run.await {
        tracing::debug!(error = %e, "summarising new track ranges skipped this pass");
    }
}

/// The positions that arrived in `(from, upto]`, in arrival order, at most `limit` (after
/// [`summarize`], which makes the index read only the new ranges).
async fn read(
    pool: &PgPool,
    from: DateTime<Utc>,
    upto: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Point>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Through the BRIN index on arrival time, always: the statistics of a partition that
    // fills all day never know its newest rows, and the planner then scans it whole.
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await?;
    let points = sqlx::query_as(
        "SELECT p.resource_id, p.at, ST_X(p.geom) AS lng, ST_Y(p.geom) AS lat,
                (r.kind = 'worker' AND r.on_duty) AS patrolling, p.received_at
         FROM positions p JOIN resources r ON r.id = p.resource_id
         WHERE p.received_at > $1 AND p.received_at <= $2
         ORDER BY p.received_at, p.resource_id, p.at
         LIMIT $3",
    )
    // Planned with the bounds each time (a generic plan cannot see that they are the
    // newest sliver of the table).
    .persistent(false)
    .bind(from)
    .bind(upto)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(points)
}

fn day_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::days(1)).unwrap_or(t)
}

/// Patrolled cells as bitmaps per resolution-8 block, by hour and by UTC day: what a pass ORs
/// into `patrol_blocks_hourly` and `patrol_blocks_daily`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Blocks {
    /// (block, hour) → cells.
    pub hourly: BTreeMap<(i64, DateTime<Utc>), BlockBits>,
    /// (block, midnight UTC) → cells.
    pub daily: BTreeMap<(i64, DateTime<Utc>), BlockBits>,
}

impl Blocks {
    /// The bitmaps of patrolled (hour, resolution-11 cell) pairs (other resolutions are left
    /// out).
    #[must_use]
    pub fn of(patrolled: impl IntoIterator<Item = (DateTime<Utc>, CellIndex)>) -> Self {
        let mut out = Self::default();
        for (hour, cell) in patrolled {
            let Some((block, bit)) = block_bit(cell) else {
                continue;
            };
            let b = cell_key(block);
            out.hourly.entry((b, hour)).or_default().set(bit);
            out.daily.entry((b, day_of(hour))).or_default().set(bit);
        }
        out
    }

    /// ORs the bitmaps into the tables (idempotent; any order of passes gives the same rows).
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn write(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
        for (table, col, rows) in [
            ("patrol_blocks_hourly", "hour", &self.hourly),
            ("patrol_blocks_daily", "day", &self.daily),
        ] {
            if rows.is_empty() {
                continue;
            }
            let mut blocks = Vec::with_capacity(rows.len());
            let mut times = Vec::with_capacity(rows.len());
            let mut bits = Vec::with_capacity(rows.len());
            for ((b, t), v) in rows {
                blocks.push(*b);
                times.push(*t);
                bits.push(v.to_bit_string());
            }
            sqlx::query(&format!(
                "INSERT INTO {table} AS t (block, {col}, bits)
                 SELECT b, x, s::bit(343)
                 FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS u (b, x, s)
                 ON CONFLICT (block, {col}) DO UPDATE SET bits = t.bits | EXCLUDED.bits"
            ))
            .bind(&blocks)
            .bind(&times)
            .bind(&bits)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

/// Rolls up every `every` until the process ends (catching up in several passes after a
/// pause).
pub async fn task(state: impl Core, every: std::time::Duration) {
    let mut rollup = Rollup::default();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        loop {
            match rollup.pass(&state, Utc::now()).await {
                Ok(n) if n > 0 => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "track roll-up failed; retrying at the next tick");
                    break;
                }
            }
        }
    }
}
