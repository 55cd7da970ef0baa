//! Queries on `cases`, `case_events`, `case_categories` and `case_numbers`.
//!
//! Reads take the viewer's scope root: a case is visible when its grid lies in the viewer's
//! subtree. Writes are one transaction each: the case row and its event commit together.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::{PgExecutor, Postgres, QueryBuilder, Transaction};

use crate::territory::Territory;

/// Columns of a case as every read returns them.
const CASE_COLUMNS: &str = "c.id, c.number, c.title, c.description, c.category,
    cat.name_zh AS category_zh, cat.name_en AS category_en, c.source, c.severity,
    ST_X(c.geom) AS lng, ST_Y(c.geom) AS lat, c.address,
    g.id AS grid_id, g.code AS grid_code, g.name AS grid_name,
    h.id AS handling_unit_id, h.code AS handling_code, h.name AS handling_name,
    h.level AS handling_level,
    c.reporter_name, c.reporter_phone, c.created_by_user, c.created_by_resource,
    c.status, c.assignee_id, a.name AS assignee_name, c.assigned_at, c.taken_at,
    c.deadline_at, c.overdue_at,
    (c.deadline_at < now() AND c.status NOT IN ('resolved', 'followed_up', 'closed', 'rejected'))
        AS overdue,
    c.duplicate_of, d.number AS duplicate_of_number, c.version, c.created_at, c.updated_at,
    c.first_dispatched_at, c.resolved_at, c.closed_at";

const CASE_FROM: &str = " FROM cases c
    JOIN case_categories cat ON cat.code = c.category
    JOIN units g ON g.id = c.grid_id
    JOIN units h ON h.id = c.handling_unit_id
    LEFT JOIN resources a ON a.id = c.assignee_id
    LEFT JOIN cases d ON d.id = c.duplicate_of";

/// A case as stored, with the names of what it refers to.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(
    missing_docs,
    reason = "the columns are documented in migrations/0004_cases.sql"
)]
pub struct CaseRow {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub category_zh: String,
    pub category_en: String,
    pub source: String,
    pub severity: i16,
    pub lng: f64,
    pub lat: f64,
    pub address: Option<String>,
    pub grid_id: i64,
    pub grid_code: String,
    pub grid_name: String,
    pub handling_unit_id: i64,
    pub handling_code: String,
    pub handling_name: String,
    pub handling_level: i16,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    pub created_by_user: Option<i64>,
    pub created_by_resource: Option<i64>,
    pub status: String,
    pub assignee_id: Option<i64>,
    pub assignee_name: Option<String>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub taken_at: Option<DateTime<Utc>>,
    pub deadline_at: DateTime<Utc>,
    pub overdue_at: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub duplicate_of: Option<i64>,
    pub duplicate_of_number: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub first_dispatched_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A category of the code list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryRow {
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Hours from report to deadline.
    pub sla_hours: i32,
    /// Skill a worker needs, if any.
    pub skill: Option<String>,
    /// Offered for new cases.
    pub active: bool,
}

/// The code list, in display order.
pub async fn categories(db: impl PgExecutor<'_>) -> Result<Vec<CategoryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT code, name_zh, name_en, sla_hours, skill, active FROM case_categories
         ORDER BY sort, code",
    )
    .fetch_all(db)
    .await
}

/// One category.
pub async fn category(
    db: impl PgExecutor<'_>,
    code: &str,
) -> Result<Option<CategoryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT code, name_zh, name_en, sla_hours, skill, active FROM case_categories
         WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(db)
    .await
}

/// Adds a category or changes an existing one.
pub async fn upsert_category(
    db: impl PgExecutor<'_>,
    c: &CategoryRow,
    sort: Option<i32>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO case_categories (code, name_zh, name_en, sla_hours, skill, active, sort)
         VALUES ($1, $2, $3, $4, $5, $6,
                 coalesce($7, (SELECT coalesce(max(sort), 0) + 10 FROM case_categories)))
         ON CONFLICT (code) DO UPDATE SET name_zh = $2, name_en = $3, sla_hours = $4,
             skill = $5, active = $6, sort = coalesce($7, case_categories.sort)",
    )
    .bind(&c.code)
    .bind(&c.name_zh)
    .bind(&c.name_en)
    .bind(c.sla_hours)
    .bind(&c.skill)
    .bind(c.active)
    .bind(sort)
    .execute(db)
    .await?;
    Ok(())
}

/// The next case number of `day` (its counter is incremented and committed at once, so two
/// registrations never wait on each other; a failed registration leaves a gap).
pub async fn next_number(db: impl PgExecutor<'_>, day: NaiveDate) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO case_numbers (day, last) VALUES ($1, 1)
         ON CONFLICT (day) DO UPDATE SET last = case_numbers.last + 1
         RETURNING last",
    )
    .bind(day)
    .fetch_one(db)
    .await
}

/// A case registered under an idempotency key by this credential: its id and request hash.
pub async fn by_idempotency_key(
    db: impl PgExecutor<'_>,
    actor: &str,
    key: &str,
) -> Result<Option<(i64, Option<Vec<u8>>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, request_hash FROM cases WHERE idempotency_actor = $1 AND idempotency_key = $2",
    )
    .bind(actor)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// An open case of `category` within `radius_m` of (lng, lat) registered in the last
/// `window_h` hours, nearest first: the possible original of a new report.
pub async fn possible_duplicate(
    db: impl PgExecutor<'_>,
    territory: Territory,
    category: &str,
    lng: f64,
    lat: f64,
    radius_m: f64,
    window_h: i32,
) -> Result<Option<i64>, sqlx::Error> {
    // The box prefilter (≈ radius in degrees, generous in longitude) uses the GiST index; the
    // geography distance decides.
    sqlx::query_scalar(
        "SELECT c.id FROM cases c JOIN units g ON g.id = c.grid_id
           JOIN territory($6) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
         WHERE c.category = $1 AND c.status NOT IN ('closed', 'rejected')
           AND c.created_at > now() - make_interval(hours => $5)
           AND c.geom && ST_Expand(ST_SetSRID(ST_MakePoint($2, $3), 4326), $4 / 90000.0)
           AND ST_DWithin(c.geom::geography,
                          ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography, $4)
         ORDER BY ST_Distance(c.geom::geography,
                              ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography), c.id
         LIMIT 1",
    )
    .bind(category)
    .bind(lng)
    .bind(lat)
    .bind(radius_m)
    .bind(window_h)
    .bind(territory.root())
    .fetch_optional(db)
    .await
}

/// A case to register.
#[derive(Debug)]
pub struct NewCase<'a> {
    pub number: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub category: &'a str,
    pub source: &'a str,
    pub severity: i16,
    pub lng: f64,
    pub lat: f64,
    pub address: Option<&'a str>,
    pub grid_id: i64,
    pub reporter_name: Option<&'a str>,
    pub reporter_phone: Option<&'a str>,
    pub created_by_user: Option<i64>,
    pub created_by_resource: Option<i64>,
    pub deadline_at: DateTime<Utc>,
    pub duplicate_of: Option<i64>,
    pub now: DateTime<Utc>,
    /// (credential, key, SHA-256 of the request).
    pub idempotency: Option<(&'a str, &'a str, &'a [u8])>,
}

/// Inserts a case; `None` when another request with the same idempotency key won the race.
pub async fn insert_case(
    tx: &mut Transaction<'_, Postgres>,
    c: &NewCase<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    let (actor, key, hash) = match c.idempotency {
        Some((a, k, h)) => (Some(a), Some(k), Some(h)),
        None => (None, None, None),
    };
    sqlx::query_scalar(
        "INSERT INTO cases (number, title, description, category, source, severity, geom,
                            address, grid_id, handling_unit_id, reporter_name, reporter_phone,
                            created_by_user, created_by_resource, deadline_at, duplicate_of,
                            created_at, updated_at, idempotency_actor, idempotency_key,
                            request_hash)
         VALUES ($1, $2, $3, $4, $5, $6, ST_SetSRID(ST_MakePoint($7, $8), 4326), $9, $10, $10,
                 $11, $12, $13, $14, $15, $16, $17, $17, $18, $19, $20)
         ON CONFLICT (idempotency_actor, idempotency_key) WHERE idempotency_key IS NOT NULL
         DO NOTHING
         RETURNING id",
    )
    .bind(c.number)
    .bind(c.title)
    .bind(c.description)
    .bind(c.category)
    .bind(c.source)
    .bind(c.severity)
    .bind(c.lng)
    .bind(c.lat)
    .bind(c.address)
    .bind(c.grid_id)
    .bind(c.reporter_name)
    .bind(c.reporter_phone)
    .bind(c.created_by_user)
    .bind(c.created_by_resource)
    .bind(c.deadline_at)
    .bind(c.duplicate_of)
    .bind(c.now)
    .bind(actor)
    .bind(key)
    .bind(hash)
    .fetch_optional(&mut **tx)
    .await
}

/// One case, when visible in `territory`.
pub async fn get_case(
    db: impl PgExecutor<'_>,
    territory: Territory,
    id: i64,
) -> Result<Option<CaseRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {CASE_COLUMNS}{CASE_FROM}
           JOIN territory($2) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
         WHERE c.id = $1"
    );
    sqlx::query_as(&sql)
        .bind(id)
        .bind(territory.root())
        .fetch_optional(db)
        .await
}

/// Every open case (start-up of the board).
pub async fn open_cases(db: impl PgExecutor<'_>) -> Result<Vec<CaseRow>, sqlx::Error> {
    let sql =
        format!("SELECT {CASE_COLUMNS}{CASE_FROM} WHERE c.status NOT IN ('closed', 'rejected')");
    sqlx::query_as(&sql).fetch_all(db).await
}

/// Filters of the case list.
#[derive(Debug, Default)]
pub struct CaseFilter {
    /// Any of these statuses.
    pub statuses: Vec<String>,
    /// Any of these categories.
    pub categories: Vec<String>,
    /// Any of these sources.
    pub sources: Vec<String>,
    /// Only cases whose grid lies under this unit (`units.id`).
    pub under_unit_id: Option<i64>,
    /// [west, south, east, north].
    pub bbox: Option<[f64; 4]>,
    /// Registered at or after.
    pub from: Option<DateTime<Utc>>,
    /// Registered before.
    pub to: Option<DateTime<Utc>>,
    /// Only overdue (`true`) or only not overdue.
    pub overdue: Option<bool>,
    /// Only cases assigned to this worker.
    pub assignee: Option<i64>,
    /// Title, number or address contains this.
    pub q: Option<String>,
    /// Overdue first, then by deadline (the dispatcher's queue); otherwise newest first.
    pub queue_order: bool,
    /// At most this many.
    pub limit: i64,
    /// Skip this many.
    pub offset: i64,
}

/// Cases visible in `territory` passing `f`, with the number of matches before paging.
pub async fn list_cases(
    db: impl PgExecutor<'_>,
    territory: Territory,
    f: &CaseFilter,
) -> Result<(Vec<CaseRow>, i64), sqlx::Error> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("SELECT ");
    qb.push(CASE_COLUMNS)
        .push(", count(*) OVER () AS total")
        .push(CASE_FROM)
        .push(" JOIN territory(")
        .push_bind(territory.root())
        .push(") scope ON g.tree_lo BETWEEN scope.lo AND scope.hi")
        .push(" JOIN territory(")
        .push_bind(f.under_unit_id)
        .push(") under ON g.tree_lo BETWEEN under.lo AND under.hi")
        .push(" WHERE true");
    for (column, values) in [
        ("c.status", &f.statuses),
        ("c.category", &f.categories),
        ("c.source", &f.sources),
    ] {
        if !values.is_empty() {
            qb.push(format!(" AND {column} = ANY("))
                .push_bind(values.clone())
                .push(")");
        }
    }
    if let Some([w, s, e, n]) = f.bbox {
        qb.push(" AND c.geom && ST_MakeEnvelope(")
            .push_bind(w)
            .push(", ")
            .push_bind(s)
            .push(", ")
            .push_bind(e)
            .push(", ")
            .push_bind(n)
            .push(", 4326)");
    }
    if let Some(t) = f.from {
        qb.push(" AND c.created_at >= ").push_bind(t);
    }
    if let Some(t) = f.to {
        qb.push(" AND c.created_at < ").push_bind(t);
    }
    match f.overdue {
        Some(true) => {
            qb.push(
                " AND c.deadline_at < now()
                  AND c.status NOT IN ('resolved', 'followed_up', 'closed', 'rejected')",
            );
        }
        Some(false) => {
            qb.push(
                " AND NOT (c.deadline_at < now()
                  AND c.status NOT IN ('resolved', 'followed_up', 'closed', 'rejected'))",
            );
        }
        None => {}
    }
    if let Some(a) = f.assignee {
        qb.push(" AND c.assignee_id = ").push_bind(a);
    }
    if let Some(q) = &f.q {
        let p = super::users::like_pattern(q);
        qb.push(" AND (c.title ILIKE ")
            .push_bind(p.clone())
            .push(" OR c.number ILIKE ")
            .push_bind(p.clone())
            .push(" OR c.address ILIKE ")
            .push_bind(p)
            .push(")");
    }
    if f.queue_order {
        qb.push(
            " ORDER BY (c.deadline_at < now()
                AND c.status NOT IN ('resolved', 'followed_up', 'closed', 'rejected')) DESC,
              c.severity DESC, c.deadline_at, c.id",
        );
    } else {
        qb.push(" ORDER BY c.created_at DESC, c.id DESC");
    }
    qb.push(" LIMIT ")
        .push_bind(f.limit)
        .push(" OFFSET ")
        .push_bind(f.offset);
    let rows: Vec<ListedRow> = qb.build_query_as().fetch_all(db).await?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok((rows.into_iter().map(|r| r.case).collect(), total))
}

#[derive(sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    case: CaseRow,
    total: i64,
}

/// The fields a transition writes (the whole new state of the changing columns).
#[derive(Debug)]
pub struct CasePatch {
    pub status: String,
    pub assignee_id: Option<i64>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub taken_at: Option<DateTime<Utc>>,
    pub handling_unit_id: i64,
    pub deadline_at: DateTime<Utc>,
    pub overdue_at: Option<DateTime<Utc>>,
    pub first_dispatched_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

/// Writes `patch` if the case is still at `version`; answers the new version, or `None` when
/// someone else changed it first.
pub async fn update_case(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    version: i32,
    p: &CasePatch,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE cases SET status = $3, assignee_id = $4, assigned_at = $5, taken_at = $6,
                          handling_unit_id = $7, deadline_at = $8, overdue_at = $9,
                          first_dispatched_at = $10, resolved_at = $11, closed_at = $12,
                          updated_at = $13, version = version + 1
         WHERE id = $1 AND version = $2
         RETURNING version",
    )
    .bind(id)
    .bind(version)
    .bind(&p.status)
    .bind(p.assignee_id)
    .bind(p.assigned_at)
    .bind(p.taken_at)
    .bind(p.handling_unit_id)
    .bind(p.deadline_at)
    .bind(p.overdue_at)
    .bind(p.first_dispatched_at)
    .bind(p.resolved_at)
    .bind(p.closed_at)
    .bind(p.now)
    .fetch_optional(&mut **tx)
    .await
}

/// One event to append.
#[derive(Debug)]
pub struct NewEvent<'a> {
    pub case_id: i64,
    pub version: i32,
    pub at: DateTime<Utc>,
    pub action: &'a str,
    pub from_status: Option<&'a str>,
    pub to_status: &'a str,
    pub actor: &'a str,
    pub actor_user: Option<i64>,
    pub actor_resource: Option<i64>,
    pub role: Option<&'a str>,
    pub note: Option<&'a str>,
    /// (lng, lat).
    pub position: Option<(f64, f64)>,
    pub details: Value,
}

/// Appends an event.
pub async fn insert_event(
    tx: &mut Transaction<'_, Postgres>,
    e: &NewEvent<'_>,
) -> Result<(), sqlx::Error> {
    let (lng, lat) = e.position.unzip();
    sqlx::query(
        "INSERT INTO case_events (case_id, version, at, action, from_status, to_status, actor,
                                  actor_user, actor_resource, role, note, geom, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                 CASE WHEN $12::float8 IS NULL THEN NULL
                      ELSE ST_SetSRID(ST_MakePoint($12, $13), 4326) END, $14)",
    )
    .bind(e.case_id)
    .bind(e.version)
    .bind(e.at)
    .bind(e.action)
    .bind(e.from_status)
    .bind(e.to_status)
    .bind(e.actor)
    .bind(e.actor_user)
    .bind(e.actor_resource)
    .bind(e.role)
    .bind(e.note)
    .bind(lng)
    .bind(lat)
    .bind(&e.details)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An event as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(
    missing_docs,
    reason = "the columns are documented in migrations/0004_cases.sql"
)]
pub struct EventRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub version: i32,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub actor_user: Option<i64>,
    pub actor_resource: Option<i64>,
    pub role: Option<String>,
    pub note: Option<String>,
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    pub details: Value,
}

/// The history of a case, oldest first.
pub async fn events_of(
    db: impl PgExecutor<'_>,
    case_id: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, version, action, from_status, to_status, actor, actor_user,
                actor_resource, role, note, ST_X(geom) AS lng, ST_Y(geom) AS lat, details
         FROM case_events WHERE case_id = $1 ORDER BY id",
    )
    .bind(case_id)
    .fetch_all(db)
    .await
}

/// Pending cases past their deadline not yet flagged: flags them (`overdue_at`) and answers
/// their ids.
pub async fn flag_overdue(db: impl PgExecutor<'_>) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE cases SET overdue_at = now()
         WHERE overdue_at IS NULL AND deadline_at < now()
           AND status NOT IN ('resolved', 'followed_up', 'closed', 'rejected')
         RETURNING id",
    )
    .fetch_all(db)
    .await
}

/// Which of the cases `ids` a reader may open: those in `territory`, and, for a worker
/// (`worker`: `resources.id`), only those assigned to or reported by them.
pub async fn readable_among(
    db: impl PgExecutor<'_>,
    territory: Territory,
    worker: Option<i64>,
    ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.id FROM cases c JOIN units g ON g.id = c.grid_id
           JOIN territory($1) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
         WHERE c.id = ANY($3)
           AND ($2::bigint IS NULL OR c.assignee_id = $2 OR c.created_by_resource = $2)",
    )
    .bind(territory.root())
    .bind(worker)
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Whether a worker (`resources.id`) may report a case in grid `grid_id`: a grid of their
/// home unit, or one that touches it (see docs/cases.md, "Who registers where").
pub async fn within_reach(
    db: impl PgExecutor<'_>,
    worker: i64,
    grid_id: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM resources r
             JOIN units home ON home.id = r.unit_id
             JOIN units g ON g.id = $2
             WHERE r.id = $1
               AND (g.tree_lo BETWEEN home.tree_lo AND home.tree_hi
                    OR ST_Intersects(g.geom, home.geom)))",
    )
    .bind(worker)
    .bind(grid_id)
    .fetch_one(db)
    .await
}

/// A worker to assign, when visible in `territory`: (name, disabled?).
pub async fn assignable_worker(
    db: impl PgExecutor<'_>,
    territory: Territory,
    id: i64,
) -> Result<Option<(String, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.name, r.disabled_at IS NOT NULL FROM resources r JOIN units g ON g.id = r.unit_id
           JOIN territory($2) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
         WHERE r.id = $1 AND r.kind = 'worker'",
    )
    .bind(id)
    .bind(territory.root())
    .fetch_optional(db)
    .await
}

/// The workers a case was ever assigned to (auto-dispatch offers it to someone else).
pub async fn previous_assignees(
    db: impl PgExecutor<'_>,
    case_id: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT (details->>'assignee')::bigint FROM case_events
         WHERE case_id = $1 AND details ? 'assignee'",
    )
    .bind(case_id)
    .fetch_all(db)
    .await
}

/// A worker's cases: assigned and still to handle (deadline first), or with `all` the last
/// 200 assigned to or reported by them (newest first).
pub async fn cases_of_worker(
    db: impl PgExecutor<'_>,
    resource_id: i64,
    all: bool,
) -> Result<Vec<CaseRow>, sqlx::Error> {
    let sql = if all {
        format!(
            "SELECT {CASE_COLUMNS}{CASE_FROM}
             WHERE c.assignee_id = $1 OR c.created_by_resource = $1
             ORDER BY c.created_at DESC, c.id DESC LIMIT 200"
        )
    } else {
        format!(
            "SELECT {CASE_COLUMNS}{CASE_FROM}
             WHERE c.assignee_id = $1 AND c.status IN ('dispatched', 'in_progress')
             ORDER BY c.deadline_at, c.id"
        )
    };
    sqlx::query_as(&sql).bind(resource_id).fetch_all(db).await
}
