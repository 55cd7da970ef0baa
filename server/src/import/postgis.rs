//! The PostGIS half of an import: stage the features in a temporary table, check the geometry
//! rules, find gaps, and write units, cover and version.

use std::collections::HashMap;
use std::fmt::Write as _;

use gridwall_spatial::{Hierarchy, Level, UnitCode};
use sqlx::{PgConnection, Postgres, Transaction};

use super::{FeatureInput, Problem, Warning};

/// Imports wait for each other (one writer at a time), readers never wait.
const IMPORT_LOCK: i64 = 0x6772_6964_7761_6c6c; // "gridwall"

/// Share of a child's area that may lie outside its parent, and of the smaller sibling's area
/// that two siblings may share.
const TOLERANCE: f64 = 0.01;

/// Gaps smaller than this are floating-point noise between neighbours, not missing land.
const MIN_GAP_M2: f64 = 1.0;

/// The Web Mercator latitude limit: tiles cannot show anything beyond it.
const MAX_MERCATOR_LAT: f64 = 85.051_128_78;

pub(super) async fn lock_imports(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(IMPORT_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(super) async fn stage(
    tx: &mut Transaction<'_, Postgres>,
    features: &[FeatureInput],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TEMP TABLE import_units (
            idx integer NOT NULL,
            code text NOT NULL,
            name text NOT NULL,
            level smallint NOT NULL,
            parent text,
            geom geometry(Geometry, 4326) NOT NULL
        ) ON COMMIT DROP",
    )
    .execute(&mut **tx)
    .await?;
    for chunk in features.chunks(1000) {
        let idx: Vec<i32> = chunk
            .iter()
            .map(|f| i32::try_from(f.index).unwrap_or(i32::MAX))
            .collect();
        let code: Vec<&str> = chunk.iter().map(|f| f.code.as_str()).collect();
        let name: Vec<&str> = chunk.iter().map(|f| f.name.as_str()).collect();
        let level: Vec<i16> = chunk.iter().map(|f| i16::from(f.level.number())).collect();
        let parent: Vec<Option<&str>> = chunk
            .iter()
            .map(|f| f.parent.as_ref().map(UnitCode::as_str))
            .collect();
        let geometry: Vec<&str> = chunk.iter().map(|f| f.geometry_json.as_str()).collect();
        sqlx::query(
            "INSERT INTO import_units (idx, code, name, level, parent, geom)
             SELECT i, c, n, l, p, ST_SetSRID(ST_GeomFromGeoJSON(g), 4326)
             FROM unnest($1::int4[], $2::text[], $3::text[], $4::int2[], $5::text[], $6::text[])
                  AS t(i, c, n, l, p, g)",
        )
        .bind(&idx)
        .bind(&code)
        .bind(&name)
        .bind(&level)
        .bind(&parent)
        .bind(&geometry)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("CREATE INDEX ON import_units USING gist (geom)")
        .execute(&mut **tx)
        .await?;
    sqlx::query("CREATE INDEX ON import_units (code)")
        .execute(&mut **tx)
        .await?;
    sqlx::query("ANALYZE import_units")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn problem(idx: i32, code: String, reason: String) -> Problem {
    Problem {
        index: usize::try_from(idx).ok(),
        code: Some(code),
        reason,
    }
}

/// Invalid polygons (with PostGIS's reason), then — only once every polygon is valid, since
/// overlay operations need valid input — children outside their parent and overlapping siblings.
pub(super) async fn geometry_problems(
    tx: &mut Transaction<'_, Postgres>,
) -> Result<Vec<Problem>, sqlx::Error> {
    let invalid: Vec<(i32, String, String)> = sqlx::query_as(
        "SELECT idx, code,
                CASE WHEN NOT ST_IsValid(geom)
                     THEN 'invalid geometry: ' || ST_IsValidReason(geom)
                     WHEN ST_Area(geom) = 0 THEN 'the polygon has no area'
                     ELSE 'latitudes beyond ±85.0511° cannot be shown on the map' END
         FROM import_units
         WHERE NOT ST_IsValid(geom) OR ST_Area(geom) = 0
            OR ST_YMax(geom) > $1 OR ST_YMin(geom) < -$1
         ORDER BY idx",
    )
    .bind(MAX_MERCATOR_LAT)
    .fetch_all(&mut **tx)
    .await?;
    if !invalid.is_empty() {
        return Ok(invalid
            .into_iter()
            .map(|(i, c, r)| problem(i, c, r))
            .collect());
    }

    let outside: Vec<(i32, String, String, f64)> = sqlx::query_as(
        "SELECT idx, code, parent, frac FROM (
             SELECT c.idx, c.code, c.parent,
                    ST_Area(ST_Difference(c.geom, p.geom)) / ST_Area(c.geom) AS frac
             FROM import_units c JOIN import_units p ON p.code = c.parent
             WHERE NOT ST_CoveredBy(c.geom, p.geom)
         ) x WHERE frac > $1 ORDER BY idx",
    )
    .bind(TOLERANCE)
    .fetch_all(&mut **tx)
    .await?;
    let mut problems: Vec<Problem> = outside
        .into_iter()
        .map(|(i, c, p, frac)| {
            problem(
                i,
                c,
                format!(
                    "{:.2} % of the unit lies outside its parent {p} (at most {} % allowed)",
                    frac * 100.0,
                    TOLERANCE * 100.0
                ),
            )
        })
        .collect();

    let overlaps: Vec<(i32, String, String, f64)> = sqlx::query_as(
        "SELECT idx, code, other, frac FROM (
             SELECT a.idx, a.code, b.code AS other,
                    ST_Area(ST_Intersection(a.geom, b.geom))
                      / LEAST(ST_Area(a.geom), ST_Area(b.geom)) AS frac
             FROM import_units a
             JOIN import_units b
               ON a.level = b.level AND a.parent IS NOT DISTINCT FROM b.parent
              AND a.code < b.code AND a.geom && b.geom
             WHERE ST_Relate(a.geom, b.geom, '2********')
         ) x WHERE frac > $1 ORDER BY idx, other",
    )
    .bind(TOLERANCE)
    .fetch_all(&mut **tx)
    .await?;
    problems.extend(overlaps.into_iter().map(|(i, c, other, frac)| {
        problem(
            i,
            c,
            format!(
                "overlaps its sibling {other} by {:.2} % of the smaller one's area \
                 (at most {} % allowed)",
                frac * 100.0,
                TOLERANCE * 100.0
            ),
        )
    }));
    Ok(problems)
}

/// Units the file drops while accounts, resources or cases still belong to them: refused, so
/// that nobody silently loses their territory, no worker their home grid and no case its place.
pub(super) async fn removed_in_use(
    tx: &mut Transaction<'_, Postgres>,
) -> Result<Vec<Problem>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT u.code,
                (SELECT count(*) FROM users s WHERE s.scope_unit_id = u.id),
                (SELECT count(*) FROM resources r WHERE r.unit_id = u.id),
                (SELECT count(*) FROM cases c WHERE c.grid_id = u.id OR c.handling_unit_id = u.id)
                + (SELECT count(*) FROM alerts a WHERE a.unit_id = u.id)
         FROM units u
         WHERE NOT EXISTS (SELECT 1 FROM import_units i WHERE i.code = u.code)
           AND (EXISTS (SELECT 1 FROM users s WHERE s.scope_unit_id = u.id)
                OR EXISTS (SELECT 1 FROM resources r WHERE r.unit_id = u.id)
                OR EXISTS (SELECT 1 FROM cases c
                           WHERE c.grid_id = u.id OR c.handling_unit_id = u.id)
                OR EXISTS (SELECT 1 FROM alerts a WHERE a.unit_id = u.id))
         ORDER BY u.code",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(code, users, resources, cases)| Problem {
            index: None,
            reason: format!(
                "unit {code} is missing from the file but is the territory of {users} account(s), \
                 the home of {resources} worker(s)/vehicle(s) and the place of {cases} case(s) or alert(s); \
                 move them first"
            ),
            code: Some(code),
        })
        .collect())
}

/// Parts of a parent that none of its children cover.
pub(super) async fn gaps(tx: &mut Transaction<'_, Postgres>) -> Result<Vec<Warning>, sqlx::Error> {
    let rows: Vec<(String, f64, f64, f64)> = sqlx::query_as(
        "WITH holes AS (
             SELECT p.code, (ST_Dump(ST_Difference(p.geom, ST_Union(c.geom)))).geom AS hole
             FROM import_units p JOIN import_units c ON c.parent = p.code
             GROUP BY p.code, p.geom
         )
         SELECT code, ST_Area(hole::geography), ST_X(pt), ST_Y(pt)
         FROM (SELECT code, hole, ST_PointOnSurface(hole) AS pt FROM holes
               WHERE ST_Dimension(hole) = 2) h
         WHERE ST_Area(hole::geography) >= $1
         ORDER BY code, 2 DESC",
    )
    .bind(MIN_GAP_M2)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(code, area_m2, lng, lat)| Warning {
            kind: "gap".into(),
            message: format!(
                "{area_m2:.0} m² of {code} near ({lng:.5}, {lat:.5}) is covered by none of its children"
            ),
            code,
            area_m2,
            location: [lng, lat],
        })
        .collect())
}

pub(super) struct Written {
    pub version: i64,
    pub removed: u64,
    pub cover_cells: usize,
    pub db_ids: Vec<i64>,
}

pub(super) async fn write(
    tx: &mut Transaction<'_, Postgres>,
    hierarchy: &Hierarchy,
    cover: &[super::CoverRow],
    source: &str,
    warnings: &[Warning],
) -> Result<Written, sqlx::Error> {
    let resolution = i16::from(u8::from(hierarchy.resolution()));
    // Level by level, so that every parent exists (with its id) before its children.
    for level in Level::ALL {
        sqlx::query(
            "INSERT INTO units (code, name, level, parent_id, geom, geom_3857, area_m2, label,
                                label_3857, h3_resolution)
             SELECT code, name, level, (SELECT p.id FROM units p WHERE p.code = s.parent),
                    g, ST_Transform(g, 3857), ST_Area(g::geography), l, ST_Transform(l, 3857), $1
             FROM (SELECT code, name, level, parent, ST_Multi(geom) AS g,
                          ST_PointOnSurface(geom) AS l
                   FROM import_units WHERE level = $2) s
             ON CONFLICT (code) DO UPDATE SET
                 name = EXCLUDED.name, level = EXCLUDED.level, parent_id = EXCLUDED.parent_id,
                 geom = EXCLUDED.geom, geom_3857 = EXCLUDED.geom_3857,
                 area_m2 = EXCLUDED.area_m2, label = EXCLUDED.label,
                 label_3857 = EXCLUDED.label_3857, h3_resolution = EXCLUDED.h3_resolution",
        )
        .bind(resolution)
        .bind(i16::from(level.number()))
        .execute(&mut **tx)
        .await?;
    }
    // Whatever the file no longer has; nothing kept points at it any more.
    let removed = sqlx::query(
        "DELETE FROM units u WHERE NOT EXISTS (SELECT 1 FROM import_units i WHERE i.code = u.code)",
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();

    // Scope checks filter on the pre-order numbering; it must follow every change of shape.
    sqlx::query("SELECT units_number_tree()")
        .execute(&mut **tx)
        .await?;

    let ids: HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT code, id FROM units")
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
    let db_ids: Vec<i64> = (0..hierarchy.len())
        .map(|i| {
            let id = gridwall_spatial::UnitId(u32::try_from(i).unwrap_or(u32::MAX));
            ids.get(hierarchy.unit(id).code.as_str())
                .copied()
                .unwrap_or(-1)
        })
        .collect();
    copy_cover(tx, cover, &db_ids).await?;
    let cover_cells = cover.len();

    let counts = hierarchy.counts_by_level();
    let counts_json: serde_json::Map<String, serde_json::Value> = Level::ALL
        .iter()
        .map(|l| {
            (
                l.as_str().to_owned(),
                counts[usize::from(l.number())].into(),
            )
        })
        .collect();
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO hierarchy_versions (source, resolution, counts, warnings)
         VALUES ($1, $2, $3, $4) RETURNING version",
    )
    .bind(source)
    .bind(resolution)
    .bind(serde_json::Value::Object(counts_json))
    .bind(serde_json::to_value(warnings).unwrap_or_default())
    .fetch_one(&mut **tx)
    .await?;
    // Fresh statistics, or the planner picks the level index over the GiST index for
    // point-in-grid queries until autovacuum comes round (measured: 0.3 ms vs 2 ms).
    sqlx::query("ANALYZE units").execute(&mut **tx).await?;
    sqlx::query("ANALYZE unit_cells").execute(&mut **tx).await?;
    sqlx::query("SELECT pg_notify('gridwall_hierarchy', $1)")
        .bind(version.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(Written {
        version,
        removed,
        cover_cells,
        db_ids,
    })
}

/// Replaces `unit_cells` by COPY, formatting a chunk at a time and yielding in between, so a
/// million rows never hold an async worker for long.
async fn copy_cover(
    conn: &mut PgConnection,
    cover: &[super::CoverRow],
    db_ids: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query("TRUNCATE unit_cells")
        .execute(&mut *conn)
        .await?;
    let mut copy = conn
        .copy_in_raw("COPY unit_cells (cell, unit_id, boundary) FROM STDIN")
        .await?;
    let mut buf = String::with_capacity(1 << 21);
    for chunk in cover.chunks(32_768) {
        buf.clear();
        for (cell, unit, boundary) in chunk {
            let id = db_ids.get(unit.0 as usize).copied().unwrap_or(-1);
            let _ = writeln!(
                buf,
                "{}\t{id}\t{}",
                u64::from(*cell),
                if *boundary { 't' } else { 'f' }
            );
        }
        copy.send(buf.as_bytes()).await?;
        tokio::task::yield_now().await;
    }
    copy.finish().await?;
    Ok(())
}
