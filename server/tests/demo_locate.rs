//! The Nantong demo dataset imports without a warning, and `locate` agrees with PostGIS
//! `ST_Covers` on 100,000+ random points: uniform over the city (inside and outside), and
//! within 5 m of grid boundaries.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::HashMap;

use gridwall_spatial::LatLng;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;

/// 5 m in degrees of latitude and (at 32° N) longitude.
const FIVE_M_LAT: f64 = 5.0 / 111_320.0;
const FIVE_M_LNG: f64 = 5.0 / 94_400.0;

fn demo_file() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/nantong.geojson.gz");
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Points near grid boundaries: a random position on a random grid's outline, moved by up to
/// 5 m in each direction. The outlines come from PostGIS; the randomness from our seed.
#[allow(
    clippy::many_single_char_names,
    clippy::similar_names,
    reason = "geometry: a, b, t, x, y on a segment; `ring` is one of `rings`"
)]
async fn boundary_points(pool: &PgPool, rng: &mut StdRng, n: usize) -> Vec<(f64, f64)> {
    let rings: Vec<Vec<(f64, f64)>> = sqlx::query_scalar::<_, serde_json::Value>(
        "SELECT ST_AsGeoJSON(ST_ExteriorRing((ST_Dump(geom)).geom))::jsonb FROM units
         WHERE level = 4 ORDER BY code",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|v| {
        v["coordinates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect()
    })
    .collect();
    (0..n)
        .map(|_| {
            let ring = &rings[rng.random_range(0..rings.len())];
            let k = rng.random_range(0..ring.len() - 1);
            let (a, b) = (ring[k], ring[k + 1]);
            let t: f64 = rng.random();
            (
                a.0 + t * (b.0 - a.0) + rng.random_range(-FIVE_M_LNG..FIVE_M_LNG),
                a.1 + t * (b.1 - a.1) + rng.random_range(-FIVE_M_LAT..FIVE_M_LAT),
            )
        })
        .collect()
}

/// PostGIS's answer for each point: the grids that cover it, and whether it lies within
/// 1e-9° of any grid edge.
async fn postgis_answers(pool: &PgPool, points: &[(f64, f64)]) -> Vec<(Vec<String>, bool)> {
    let mut out = Vec::with_capacity(points.len());
    for chunk in points.chunks(10_000) {
        let xs: Vec<f64> = chunk.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = chunk.iter().map(|p| p.1).collect();
        let rows: Vec<(i64, Vec<String>, bool)> = sqlx::query_as(
            "SELECT t.i,
                    coalesce((SELECT array_agg(u.code ORDER BY u.code) FROM units u
                              WHERE u.level = 4 AND ST_Covers(u.geom, t.p)), '{}'),
                    EXISTS (SELECT 1 FROM units u
                            WHERE u.level = 4 AND u.geom && ST_Expand(t.p, 1e-9)
                              AND ST_DWithin(ST_Boundary(u.geom), t.p, 1e-9))
             FROM (SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS p
                   FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY AS a(x, y, i)) t
             ORDER BY t.i",
        )
        .bind(&xs)
        .bind(&ys)
        .fetch_all(pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), chunk.len());
        out.extend(rows.into_iter().map(|(_, codes, near)| (codes, near)));
    }
    out
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn demo_imports_cleanly_and_locate_agrees_with_postgis(pool: PgPool) {
    let (report, loaded) = gridwall_server::import::import(
        &pool,
        &demo_file(),
        "demo test",
        gridwall_spatial::DEFAULT_RESOLUTION,
    )
    .await
    .unwrap();
    assert_eq!(
        report.warnings,
        vec![],
        "the demo must import without a warning"
    );
    assert_eq!(&report.counts[..4], &[1, 7, 136, 2005]);
    assert!(
        (8_000..=15_000).contains(&report.counts[4]),
        "{:?}",
        report.counts
    );

    // Every village has 3–12 grids.
    let (min, max): (i64, i64) = sqlx::query_as(
        "SELECT min(n), max(n) FROM (SELECT count(*) AS n FROM units g
         JOIN units v ON v.id = g.parent_id WHERE g.level = 4 GROUP BY v.id) c",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(min >= 3 && max <= 12, "grids per village {min}..{max}");

    let h = &loaded.hierarchy;
    let mut rng = StdRng::seed_from_u64(20_261_126);
    let (w, s, e, n) = (120.2, 31.5, 122.1, 32.8);
    let mut points: Vec<(f64, f64)> = (0..60_000)
        .map(|_| (rng.random_range(w..e), rng.random_range(s..n)))
        .collect();
    points.extend(boundary_points(&pool, &mut rng, 50_000).await);
    let answers = postgis_answers(&pool, &points).await;

    let mut disagreements = Vec::new();
    let mut counted: HashMap<&str, usize> = HashMap::new();
    for (&(lng, lat), (covering, near_edge)) in points.iter().zip(&answers) {
        let ours = h
            .locate(LatLng::new(lat, lng).unwrap())
            .map(|p| h.unit(p.grid).code.to_string());
        let kind = match (&ours, covering.as_slice()) {
            (None, []) => "outside",
            (Some(c), [only]) if c == only => "inside",
            (Some(c), many) if many.len() > 1 && many.contains(c) => "on an edge",
            _ if *near_edge => "within 1e-9° of an edge (exempt)",
            _ => {
                disagreements.push((lng, lat, ours.clone(), covering.clone()));
                "disagreement"
            }
        };
        *counted.entry(kind).or_default() += 1;
    }
    eprintln!("{} points: {counted:?}", points.len());
    assert!(counted.get("inside").copied().unwrap_or(0) > 50_000);
    assert!(counted.get("outside").copied().unwrap_or(0) > 5_000);
    assert!(
        disagreements.is_empty(),
        "{} disagreements with PostGIS, first: {:?}",
        disagreements.len(),
        &disagreements[..disagreements.len().min(10)]
    );
}
