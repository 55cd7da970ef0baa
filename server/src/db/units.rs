//! Queries on `units`, `unit_cells` and `hierarchy_versions`.

use gridwall_spatial::{Level, UnitCode, UnitInput};
use sqlx::PgPool;

use crate::territory::Territory;

use crate::geojson::multipolygon_from_value;

/// The current hierarchy version row.
#[derive(Debug, Clone)]
pub struct VersionRow {
    /// Version number (grows by one per import).
    pub version: i64,
    /// H3 resolution of the cover.
    pub resolution: i16,
    /// When it was imported.
    pub imported_at: chrono::DateTime<chrono::Utc>,
}

/// The newest imported version, `None` when nothing was imported yet.
pub async fn current_version(pool: &PgPool) -> Result<Option<VersionRow>, sqlx::Error> {
    sqlx::query_as!(
        VersionRow,
        "SELECT version, resolution, imported_at FROM hierarchy_versions \
         ORDER BY version DESC LIMIT 1"
    )
    .fetch_optional(pool)
    .await
}

/// Unit counts per level (index = level number) as stored.
pub async fn counts_by_level(pool: &PgPool) -> Result<[i64; 5], sqlx::Error> {
    let rows =
        sqlx::query!(r#"SELECT level AS "level!", count(*) AS "count!" FROM units GROUP BY level"#)
            .fetch_all(pool)
            .await?;
    let mut counts = [0; 5];
    for row in rows {
        if let Some(slot) = usize::try_from(row.level)
            .ok()
            .and_then(|l| counts.get_mut(l))
        {
            *slot = row.count;
        }
    }
    Ok(counts)
}

/// Every unit with its database id, ready for `Hierarchy::build`.
pub async fn load_units(pool: &PgPool) -> anyhow::Result<(Vec<i64>, Vec<UnitInput>)> {
    let rows = sqlx::query!(
        r#"SELECT u.id, u.code, u.name, u.level, p.code AS "parent?",
                  ST_AsGeoJSON(u.geom)::jsonb AS "geometry!"
           FROM units u LEFT JOIN units p ON p.id = u.parent_id
           ORDER BY u.code"#
    )
    .fetch_all(pool)
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut units = Vec::with_capacity(rows.len());
    for row in rows {
        let level = Level::from_number(i64::from(row.level))?;
        let polygon = multipolygon_from_value(&row.geometry)
            .map_err(|e| anyhow::anyhow!("unit {}: stored geometry unreadable: {e}", row.code))?;
        ids.push(row.id);
        units.push(UnitInput {
            code: UnitCode::new(&row.code)?,
            name: row.name,
            level,
            parent: row.parent.as_deref().map(UnitCode::new).transpose()?,
            polygon,
        });
    }
    Ok((ids, units))
}

/// The bounding box of `territory` (its root unit, or every county), (west, south, east,
/// north) in degrees.
pub async fn extent(pool: &PgPool, territory: Territory) -> Result<Option<[f64; 4]>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT ST_XMin(e) AS "w?", ST_YMin(e) AS "s?", ST_XMax(e) AS "e?", ST_YMax(e) AS "n?"
           FROM (SELECT ST_Extent(geom)::geometry AS e FROM units
                 WHERE CASE WHEN $1::bigint IS NULL THEN level <= 1 ELSE id = $1 END) x"#,
        territory.root()
    )
    .fetch_one(pool)
    .await?;
    Ok(match (row.w, row.s, row.e, row.n) {
        (Some(w), Some(s), Some(e), Some(n)) => Some([w, s, e, n]),
        _ => None,
    })
}

/// A GeoJSON FeatureCollection of the units matching the filters, built by PostGIS.
/// `simplify_deg` is the Douglas–Peucker tolerance (topology preserved), 0 for none.
pub async fn feature_collection(
    pool: &PgPool,
    territory: Territory,
    level: Option<i16>,
    parent: Option<&str>,
    simplify_deg: f64,
) -> Result<String, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT json_build_object(
                 'type', 'FeatureCollection',
                 'features', coalesce(json_agg(q.f ORDER BY q.id), '[]'::json)
               )::text AS "fc!"
           FROM (
             SELECT u.code AS id,
                    json_build_object(
                      'type', 'Feature',
                      'id', u.code,
                      'geometry', ST_AsGeoJSON(
                          CASE WHEN $3::float8 > 0
                               THEN ST_SimplifyPreserveTopology(u.geom, $3::float8)
                               ELSE u.geom END, 7)::json,
                      'properties', json_build_object(
                          'code', u.code, 'name', u.name, 'level', u.level,
                          'parent', p.code,
                          'area_km2', round((u.area_m2 / 1e6)::numeric, 4),
                          'label', json_build_array(round(ST_X(u.label)::numeric, 7),
                                                    round(ST_Y(u.label)::numeric, 7)))
                    ) AS f
             FROM units u LEFT JOIN units p ON p.id = u.parent_id
             JOIN territory($4) scope ON u.tree_lo BETWEEN scope.lo AND scope.hi
             WHERE ($1::int2 IS NULL OR u.level = $1)
               AND ($2::text IS NULL OR p.code = $2)
           ) q"#,
        level,
        parent,
        simplify_deg,
        territory.root(),
    )
    .fetch_one(pool)
    .await
}

/// One unit as a GeoJSON Feature with its path up to the root and its child count, when it
/// lies in `territory`. The path names the unit's ancestors even above
/// the scope (a township user sees which county they are in); `child_count` counts children,
/// which are in scope whenever the unit is.
pub async fn feature(
    pool: &PgPool,
    territory: Territory,
    code: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"WITH RECURSIVE up AS (
             SELECT id, code, name, level, parent_id FROM units WHERE code = $1
             UNION ALL
             SELECT p.id, p.code, p.name, p.level, p.parent_id
             FROM units p JOIN up ON p.id = up.parent_id
           )
           SELECT json_build_object(
               'type', 'Feature',
               'id', u.code,
               'geometry', ST_AsGeoJSON(u.geom, 7)::json,
               'properties', json_build_object(
                   'code', u.code, 'name', u.name, 'level', u.level,
                   'parent', (SELECT code FROM units WHERE id = u.parent_id),
                   'area_km2', round((u.area_m2 / 1e6)::numeric, 4),
                   'label', json_build_array(round(ST_X(u.label)::numeric, 7),
                                             round(ST_Y(u.label)::numeric, 7)),
                   'h3_resolution', u.h3_resolution,
                   'child_count', (SELECT count(*) FROM units c WHERE c.parent_id = u.id),
                   'path', (SELECT json_agg(json_build_object(
                                'code', up.code, 'name', up.name, 'level', up.level)
                              ORDER BY up.level)
                            FROM up))
             )::text AS "feature!"
           FROM units u
           JOIN territory($2) scope ON u.tree_lo BETWEEN scope.lo AND scope.hi
           WHERE u.code = $1"#,
        code,
        territory.root()
    )
    .fetch_optional(pool)
    .await
}

/// A unit found by search.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UnitHit {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level 0–4.
    pub level: i16,
    /// Names from the county down to the parent, e.g. "崇川区 / 和平桥街道".
    pub context: String,
    /// A point inside the unit, [lng, lat].
    pub label: [f64; 2],
}

/// Units in `territory` whose name contains `q` or whose code starts with it, best first
/// (exact, then prefix, then contains; higher levels first).
pub async fn search(
    pool: &PgPool,
    territory: Territory,
    q: &str,
    limit: i64,
) -> Result<Vec<UnitHit>, sqlx::Error> {
    let pattern = super::users::like_pattern(q);
    let rows = sqlx::query!(
        r#"SELECT u.code, u.name, u.level,
                  concat_ws(' / ', c.name, t.name, v.name) AS "context!",
                  ST_X(u.label) AS "x!", ST_Y(u.label) AS "y!"
           FROM units u
           LEFT JOIN units v ON v.id = u.parent_id AND v.level = 3
           LEFT JOIN units t ON t.id = CASE WHEN u.level = 3 THEN u.parent_id ELSE v.parent_id END
                               AND t.level = 2
           LEFT JOIN units c ON c.id = CASE WHEN u.level = 2 THEN u.parent_id ELSE t.parent_id END
                               AND c.level = 1
           JOIN territory($3) scope ON u.tree_lo BETWEEN scope.lo AND scope.hi
           WHERE (u.name ILIKE $1 OR u.code LIKE $2 || '%')
           ORDER BY (u.name = $2) DESC, (u.name LIKE $2 || '%') DESC, u.level, u.code
           LIMIT $4"#,
        pattern,
        q,
        territory.root(),
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| UnitHit {
            code: r.code,
            name: r.name,
            level: r.level,
            context: r.context,
            label: [r.x, r.y],
        })
        .collect())
}
