//! Alerts in PostGIS: raise (or raise again), resolve, acknowledge, read. After each commit
//! the in-memory board follows and the change goes out on the `alerts` layer.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

use super::{AlertBrief, AlertKind, Alerts, Rule};
use crate::auth::mask_phone;
use crate::territory::Territory;

/// An alert as stored, with its unit's code.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(
    missing_docs,
    reason = "the columns are documented in migrations/0005_alerts.sql"
)]
pub struct AlertRow {
    pub id: i64,
    pub kind: String,
    pub severity: i16,
    pub status: String,
    pub unit_id: i64,
    pub unit_code: String,
    pub unit_name: String,
    pub lng: f64,
    pub lat: f64,
    pub entity_type: String,
    pub entity_id: String,
    pub title: String,
    pub details: Value,
    pub raised_at: DateTime<Utc>,
    pub last_raised_at: DateTime<Utc>,
    pub occurrences: i32,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub acknowledge_note: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolve_note: Option<String>,
    pub version: i32,
}

const COLUMNS: &str = "a.id, a.kind, a.severity, a.status, a.unit_id, u.code AS unit_code,
    u.name AS unit_name, ST_X(a.geom) AS lng, ST_Y(a.geom) AS lat, a.entity_type, a.entity_id,
    a.title, a.details, a.raised_at, a.last_raised_at, a.occurrences, a.acknowledged_at,
    a.acknowledged_by, a.acknowledge_note, a.resolved_at, a.resolved_by, a.resolve_note,
    a.version";

impl AlertRow {
    /// The board's view.
    #[must_use]
    pub fn brief(&self) -> AlertBrief {
        AlertBrief {
            id: self.id,
            kind: AlertKind::parse(&self.kind).unwrap_or(AlertKind::Sos),
            severity: self.severity,
            status: self.status.clone(),
            unit: self.unit_code.clone(),
            position: [self.lng, self.lat],
            entity_type: self.entity_type.clone(),
            entity_id: if self.entity_type == "reporter" {
                mask_phone(&self.entity_id)
            } else {
                self.entity_id.clone()
            },
            entity_key: self.entity_id.clone(),
            title: self.title.clone(),
            raised_at: self.raised_at,
            last_raised_at: self.last_raised_at,
            occurrences: self.occurrences,
            version: self.version,
        }
    }
}

/// The rules, by kind.
pub async fn rules(db: impl PgExecutor<'_>) -> Result<Vec<Rule>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, enabled, severity, minutes, distance_m, min_count, ratio, window_hours,
                baseline_days, h3_resolution
         FROM alert_rules ORDER BY kind",
    )
    .fetch_all(db)
    .await
}

/// Writes one rule's settings.
pub async fn put_rule(db: impl PgExecutor<'_>, r: &Rule) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE alert_rules SET enabled = $2, severity = $3, minutes = $4, distance_m = $5,
                min_count = $6, ratio = $7, window_hours = $8, baseline_days = $9,
                h3_resolution = $10, updated_at = now()
         WHERE kind = $1",
    )
    .bind(&r.kind)
    .bind(r.enabled)
    .bind(r.severity)
    .bind(r.minutes)
    .bind(r.distance_m)
    .bind(r.min_count)
    .bind(r.ratio)
    .bind(r.window_hours)
    .bind(r.baseline_days)
    .bind(r.h3_resolution)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Reads the rules and the live alerts into memory (start-up).
///
/// # Errors
///
/// When the database fails.
pub async fn load(alerts: &Alerts, pool: &PgPool) -> Result<usize, sqlx::Error> {
    alerts.set_rules(rules(pool).await?);
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts a JOIN units u ON u.id = a.unit_id
         WHERE a.status <> 'resolved'"
    );
    let rows: Vec<AlertRow> = sqlx::query_as(&sql).fetch_all(pool).await?;
    let n = rows.len();
    alerts.set_live(rows.iter().map(AlertRow::brief).collect());
    Ok(n)
}

/// What a rule raises.
#[derive(Debug, Clone)]
pub struct Raise<'a> {
    pub kind: AlertKind,
    /// Severity (from the rule).
    pub severity: i16,
    /// `units.id` of the unit it belongs to.
    pub unit_id: i64,
    /// Where (lng, lat).
    pub position: (f64, f64),
    /// `resource`, `case`, `cell`, `reporter`.
    pub entity_type: &'a str,
    /// The entity.
    pub entity_id: &'a str,
    /// For people.
    pub title: &'a str,
    /// For programs.
    pub details: Value,
}

/// Raises an alert, or raises the live one about the same kind and entity again (its
/// position, title and details are refreshed, `occurrences` counts up); publishes it.
///
/// An alert belongs to one unit for its whole life (属地: its acknowledgement, notes and
/// count are that territory's). Raised about the same entity in another unit, the live one is
/// resolved by the system ("moved out of this territory", naming nothing of the other side)
/// and a new one opens in the new unit. One transaction: both or neither.
///
/// # Errors
///
/// When the database fails.
pub async fn raise(alerts: &Alerts, pool: &PgPool, r: &Raise<'_>) -> Result<AlertRow, sqlx::Error> {
    let moved_out = format!(
        "WITH a AS (
             UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = 'system',
                               resolve_note = '{MOVED_OUT}', version = version + 1
             WHERE kind = $1 AND entity_type = $2 AND entity_id = $3 AND status <> 'resolved'
               AND unit_id <> $4
             RETURNING *)
         SELECT {COLUMNS} FROM a JOIN units u ON u.id = a.unit_id"
    );
    let upsert = format!(
        "WITH a AS (
             INSERT INTO alerts (kind, severity, unit_id, geom, entity_type, entity_id, title,
                                 details)
             VALUES ($1, $2, $3, ST_SetSRID(ST_MakePoint($4, $5), 4326), $6, $7, $8, $9)
             ON CONFLICT (kind, entity_type, entity_id) WHERE status <> 'resolved'
             DO UPDATE SET last_raised_at = now(), occurrences = alerts.occurrences + 1,
                           geom = EXCLUDED.geom, title = EXCLUDED.title,
                           details = EXCLUDED.details, version = alerts.version + 1
             RETURNING *)
         SELECT {COLUMNS} FROM a JOIN units u ON u.id = a.unit_id"
    );
    let mut tx = pool.begin().await?;
    let resolved: Option<AlertRow> = sqlx::query_as(&moved_out)
        .bind(r.kind.as_str())
        .bind(r.entity_type)
        .bind(r.entity_id)
        .bind(r.unit_id)
        .fetch_optional(&mut *tx)
        .await?;
    let row: AlertRow = sqlx::query_as(&upsert)
        .bind(r.kind.as_str())
        .bind(r.severity)
        .bind(r.unit_id)
        .bind(r.position.0)
        .bind(r.position.1)
        .bind(r.entity_type)
        .bind(r.entity_id)
        .bind(r.title)
        .bind(&r.details)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    if let Some(old) = &resolved {
        alerts.apply(old.brief());
    }
    alerts.apply(row.brief());
    Ok(row)
}

/// The note of an alert the system resolved because its entity moved to another unit.
pub const MOVED_OUT: &str = "moved out of this territory";

/// Resolves the live alert of `kind` about an entity, if there is one (`by` a user or
/// `system`); publishes it.
///
/// # Errors
///
/// When the database fails.
pub async fn resolve_about(
    alerts: &Alerts,
    pool: &PgPool,
    kind: AlertKind,
    entity_type: &str,
    entity_id: &str,
    by: &str,
    note: &str,
) -> Result<Option<AlertRow>, sqlx::Error> {
    let sql = format!(
        "WITH a AS (
             UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = $4,
                               resolve_note = $5, version = version + 1
             WHERE kind = $1 AND entity_type = $2 AND entity_id = $3 AND status <> 'resolved'
             RETURNING *)
         SELECT {COLUMNS} FROM a JOIN units u ON u.id = a.unit_id"
    );
    let row: Option<AlertRow> = sqlx::query_as(&sql)
        .bind(kind.as_str())
        .bind(entity_type)
        .bind(entity_id)
        .bind(by)
        .bind(note)
        .fetch_optional(pool)
        .await?;
    if let Some(r) = &row {
        alerts.apply(r.brief());
    }
    Ok(row)
}

/// Acknowledges (`acknowledge`) or resolves an alert by id, if it is visible in `territory`
/// and its status allows; answers the row after, or the row as it is when the status did not
/// allow (`Err(row)`), or `None` when not visible.
///
/// # Errors
///
/// When the database fails.
pub async fn act(
    alerts: &Alerts,
    pool: &PgPool,
    territory: Territory,
    id: i64,
    resolve: bool,
    by: &str,
    note: Option<&str>,
) -> Result<Option<Result<AlertRow, AlertRow>>, sqlx::Error> {
    let Some(current) = get(pool, territory, id).await? else {
        return Ok(None);
    };
    let allowed = if resolve {
        current.status != "resolved"
    } else {
        current.status == "open"
    };
    if !allowed {
        return Ok(Some(Err(current)));
    }
    let set = if resolve {
        "status = 'resolved', resolved_at = now(), resolved_by = $3, resolve_note = $4"
    } else {
        "status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $3,
         acknowledge_note = $4"
    };
    let sql = format!(
        "WITH a AS (UPDATE alerts SET {set}, version = version + 1
                    WHERE id = $1 AND version = $2 RETURNING *)
         SELECT {COLUMNS} FROM a JOIN units u ON u.id = a.unit_id"
    );
    let row: Option<AlertRow> = sqlx::query_as(&sql)
        .bind(id)
        .bind(current.version)
        .bind(by)
        .bind(note)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(r) => {
            alerts.apply(r.brief());
            Ok(Some(Ok(r)))
        }
        // Changed meanwhile (raised again, or resolved by the system): report it as it is.
        None => Ok(get(pool, territory, id).await?.map(Err)),
    }
}

/// One alert visible in `territory`.
///
/// # Errors
///
/// When the database fails.
pub async fn get(
    db: impl PgExecutor<'_>,
    territory: Territory,
    id: i64,
) -> Result<Option<AlertRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts a JOIN units u ON u.id = a.unit_id
           JOIN territory($2) scope ON u.tree_lo BETWEEN scope.lo AND scope.hi
         WHERE a.id = $1"
    );
    sqlx::query_as(&sql)
        .bind(id)
        .bind(territory.root())
        .fetch_optional(db)
        .await
}

/// Filters of the alert list.
#[derive(Debug, Default)]
pub struct AlertFilter {
    /// Any of these kinds.
    pub kinds: Vec<String>,
    /// Any of these statuses.
    pub statuses: Vec<String>,
    /// Only under this unit (`units.id`).
    pub under_unit_id: Option<i64>,
    /// Raised at or after.
    pub from: Option<DateTime<Utc>>,
    /// Raised before.
    pub to: Option<DateTime<Utc>>,
    /// At most this many.
    pub limit: i64,
    /// Skip this many.
    pub offset: i64,
}

/// Alerts visible in `territory`, newest first, with the number of matches.
///
/// # Errors
///
/// When the database fails.
pub async fn list(
    db: impl PgExecutor<'_>,
    territory: Territory,
    f: &AlertFilter,
) -> Result<(Vec<AlertRow>, i64), sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS}, count(*) OVER () AS total FROM alerts a JOIN units u ON u.id = a.unit_id
           JOIN territory($1) scope ON u.tree_lo BETWEEN scope.lo AND scope.hi
           JOIN territory($2) under ON u.tree_lo BETWEEN under.lo AND under.hi
         WHERE (cardinality($3::text[]) = 0 OR a.kind = ANY($3))
           AND (cardinality($4::text[]) = 0 OR a.status = ANY($4))
           AND ($5::timestamptz IS NULL OR a.raised_at >= $5)
           AND ($6::timestamptz IS NULL OR a.raised_at < $6)
         ORDER BY a.severity DESC, a.last_raised_at DESC, a.id DESC
         LIMIT $7 OFFSET $8"
    );
    let rows: Vec<Listed> = sqlx::query_as(&sql)
        .bind(territory.root())
        .bind(f.under_unit_id)
        .bind(&f.kinds)
        .bind(&f.statuses)
        .bind(f.from)
        .bind(f.to)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(db)
        .await?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok((rows.into_iter().map(|r| r.row).collect(), total))
}

#[derive(sqlx::FromRow)]
struct Listed {
    #[sqlx(flatten)]
    row: AlertRow,
    total: i64,
}
