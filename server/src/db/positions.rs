//! A resource's stored positions (its track) and its SOS flag, in the caller's territory.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use crate::territory::Territory;

/// One stored fix of a track.
#[derive(Debug, sqlx::FromRow)]
pub struct TrackRow {
    /// When the phone took the fix.
    pub at: DateTime<Utc>,
    /// Longitude, degrees WGS84.
    pub lng: f64,
    /// Latitude, degrees WGS84.
    pub lat: f64,
    /// Speed over ground, m/s.
    pub speed_mps: Option<f32>,
    /// Code of the grid the fix lies in.
    pub grid: Option<String>,
}

/// (kind, name, home unit code) of resource `id` when its home unit lies in `territory`.
///
/// # Errors
///
/// When the database fails.
pub async fn resource_in_scope(
    pool: &PgPool,
    territory: Territory,
    id: i64,
) -> Result<Option<(String, String, String)>, sqlx::Error> {
    sqlx::query_as::<_, (String, String, String)>(
        "SELECT r.kind, r.name, u.code FROM resources r JOIN units u ON u.id = r.unit_id
           JOIN territory($1) scope ON u.tree_lo BETWEEN scope.lo AND scope.hi
         WHERE r.id = $2",
    )
    .bind(territory.root())
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The fixes of resource `id` in `[from, to]` that `territory` may see, oldest first, at most
/// `limit`: those taken while the resource was at home in the territory (`resource_homes`,
/// `migrations/0010_resource_homes.sql`), so a re-homed worker brings no earlier track.
///
/// # Errors
///
/// When the database fails.
pub async fn track(
    pool: &PgPool,
    territory: Territory,
    id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<TrackRow>, sqlx::Error> {
    sqlx::query_as::<_, TrackRow>(
        "SELECT p.at, ST_X(p.geom) AS lng, ST_Y(p.geom) AS lat, p.speed_mps, g.code AS grid
         FROM positions p
         JOIN resource_homes h ON h.resource_id = p.resource_id
                              AND p.at >= h.since AND (h.until IS NULL OR p.at < h.until)
         LEFT JOIN units home ON home.id = h.unit_id
         JOIN territory($5) scope ON scope.everything OR home.tree_lo BETWEEN scope.lo AND scope.hi
         LEFT JOIN units g ON g.id = p.grid_id
         WHERE p.resource_id = $1 AND p.at >= $2 AND p.at <= $3
         ORDER BY p.at LIMIT $4",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(limit)
    .bind(territory.root())
    .fetch_all(pool)
    .await
}

/// Locks resource `id` in `territory` until `tx` ends: (home unit code, when
/// its SOS was raised).
///
/// # Errors
///
/// When the database fails.
pub async fn lock_sos(
    tx: &mut Transaction<'_, Postgres>,
    territory: Territory,
    id: i64,
) -> Result<Option<(String, Option<DateTime<Utc>>)>, sqlx::Error> {
    sqlx::query_as::<_, (String, Option<DateTime<Utc>>)>(
        "SELECT u.code, r.sos_at FROM resources r JOIN units u ON u.id = r.unit_id
           JOIN territory($1) scope ON u.tree_lo BETWEEN scope.lo AND scope.hi
         WHERE r.id = $2
         FOR UPDATE OF r",
    )
    .bind(territory.root())
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// Clears resource `id`'s SOS.
///
/// # Errors
///
/// When the database fails.
pub async fn clear_sos(tx: &mut Transaction<'_, Postgres>, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE resources SET sos_at = NULL, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}
