//! The case and patrol figures behind density and the KPIs, per unit and window.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::territory::Territory;

/// Positions (lng, lat) of the cases registered in `[from, to)` in `territory`, of the given
/// categories (none: all).
///
/// # Errors
///
/// When the database fails.
pub async fn case_points(
    pool: &PgPool,
    territory: Territory,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    categories: &[String],
) -> Result<Vec<(f64, f64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ST_X(c.geom), ST_Y(c.geom) FROM cases c JOIN units g ON g.id = c.grid_id
               JOIN territory($1) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
             WHERE c.created_at >= $2 AND c.created_at < $3
               AND (cardinality($4::text[]) = 0 OR c.category = ANY($4))",
    )
    .bind(territory.root())
    .bind(from)
    .bind(to)
    .bind(categories)
    .fetch_all(pool)
    .await
}

/// Track points per roll-up cell (its stored key) in the hours of `[from, to)` in
/// `territory`.
///
/// # Errors
///
/// When the database fails.
pub async fn track_points_by_cell(
    pool: &PgPool,
    territory: Territory,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.cell, sum(t.points)::bigint FROM track_cells t JOIN units g ON g.id = t.grid_id
               JOIN territory($1) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
             WHERE t.hour >= $2 AND t.hour < $3 AND t.points > 0
             GROUP BY t.cell",
    )
    .bind(territory.root())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// The case figures of one unit (rolled up from its grids) in a window.
#[derive(Debug, sqlx::FromRow)]
pub struct CaseFigures {
    /// `units.id`.
    pub id: i64,
    /// Registered in the window.
    pub opened: i64,
    /// Resolved in the window.
    pub resolved: i64,
    /// Closed in the window.
    pub closed: i64,
    /// Open and past their deadline now.
    pub overdue_now: i64,
    /// Registered in the window and handled to the end since.
    pub handled: i64,
    /// Resolved in the window within their deadline.
    pub on_time: i64,
    /// Median time from registration to the first dispatch, seconds.
    pub median_dispatch_s: Option<f64>,
    /// Median time from registration to resolution, seconds.
    pub median_resolve_s: Option<f64>,
}

/// [`CaseFigures`] of each unit of `unit_ids` (`units.id`) in `[from, to)`.
///
/// # Errors
///
/// When the database fails.
pub async fn case_figures(
    pool: &PgPool,
    unit_ids: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<CaseFigures>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id,
            count(*) FILTER (WHERE c.created_at >= $2 AND c.created_at < $3) AS opened,
            count(*) FILTER (WHERE c.resolved_at >= $2 AND c.resolved_at < $3) AS resolved,
            count(*) FILTER (WHERE c.status = 'closed' AND c.closed_at >= $2 AND c.closed_at < $3)
                AS closed,
            count(*) FILTER (WHERE c.deadline_at < now()
                AND c.status NOT IN ('resolved', 'followed_up', 'closed', 'rejected'))
                AS overdue_now,
            count(*) FILTER (WHERE c.created_at >= $2 AND c.created_at < $3
                AND c.status IN ('resolved', 'followed_up', 'closed')) AS handled,
            count(*) FILTER (WHERE c.resolved_at >= $2 AND c.resolved_at < $3
                AND c.overdue_at IS NULL AND c.resolved_at <= c.deadline_at) AS on_time,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
                c.first_dispatched_at - c.created_at))
                FILTER (WHERE c.created_at >= $2 AND c.created_at < $3
                        AND c.first_dispatched_at IS NOT NULL) AS median_dispatch_s,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
                c.resolved_at - c.created_at))
                FILTER (WHERE c.resolved_at >= $2 AND c.resolved_at < $3) AS median_resolve_s
         FROM units u
         LEFT JOIN units g ON g.level = 4 AND g.tree_lo BETWEEN u.tree_lo AND u.tree_hi
         LEFT JOIN cases c ON c.grid_id = g.id
         WHERE u.id = ANY($1)
         GROUP BY u.id",
    )
    .bind(unit_ids)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// (unit id, status, count) of the cases registered in `[from, to)` under each unit of
/// `unit_ids`.
///
/// # Errors
///
/// When the database fails.
pub async fn cases_by_status(
    pool: &PgPool,
    unit_ids: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(i64, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, c.status, count(*)
         FROM units u
         JOIN units g ON g.level = 4 AND g.tree_lo BETWEEN u.tree_lo AND u.tree_hi
         JOIN cases c ON c.grid_id = g.id
         WHERE u.id = ANY($1) AND c.created_at >= $2 AND c.created_at < $3
         GROUP BY u.id, c.status",
    )
    .bind(unit_ids)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}
