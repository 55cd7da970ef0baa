//! Retention: track partitions and the coverage roll-ups past the configured days go together.

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use sqlx::PgPool;

/// Drops day partitions older than `days` and makes sure today's and tomorrow's exist; returns
/// the names dropped.
///
/// # Errors
///
/// When the database fails.
pub async fn apply_retention(
    pool: &PgPool,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    let today = now.date_naive();
    for day in [today, today + chrono::Days::new(1)] {
        sqlx::query("SELECT positions_ensure_partition($1)")
            .bind(day)
            .execute(pool)
            .await?;
    }
    let cutoff = now - chrono::Duration::days(i64::from(days));
    drop_before(pool, cutoff).await?;
    sqlx::query_scalar("SELECT positions_drop_before($1)")
        .bind(cutoff)
        .fetch_all(pool)
        .await
}

/// Drops roll-up rows older than `cutoff` (with the positions' retention).
///
/// # Errors
///
/// When the database fails.
pub async fn drop_before(pool: &PgPool, cutoff: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let n = sqlx::query("DELETE FROM track_cells WHERE hour < $1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM patrol_blocks_hourly WHERE hour < $1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    // Whole days before the cutoff go; the day it falls in keeps only its remaining hours.
    let day = cutoff.duration_trunc(TimeDelta::days(1)).unwrap_or(cutoff);
    sqlx::query("DELETE FROM patrol_blocks_daily WHERE day < $1 OR (day = $1 AND $1 < $2)")
        .bind(day)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    if day < cutoff {
        sqlx::query(
            "INSERT INTO patrol_blocks_daily AS t (block, day, bits)
             SELECT block, $1, bit_or(bits) FROM patrol_blocks_hourly
             WHERE hour >= $1 AND hour < $1 + interval '1 day'
             GROUP BY block
             ON CONFLICT (block, day) DO UPDATE SET bits = t.bits | EXCLUDED.bits",
        )
        .bind(day)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(n)
}
