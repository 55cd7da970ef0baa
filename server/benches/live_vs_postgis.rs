//! Nearest-k and viewport queries on the live index against PostGIS on the same points, in one
//! run: 100,000 resources at random positions in the Nantong demo grids; the live index
//! (`gridwall_spatial::LiveIndex`, H3-bucketed) answers nearest-5 and a township-sized bbox;
//! PostGIS answers the same queries on a table of the same points with a GiST index
//! (`ORDER BY geom <-> point LIMIT 5`, `geom && ST_MakeEnvelope(…)`), one query at a time over
//! one connection, as a server would ask it. Every query is timed on its own; the figures are
//! percentiles (p50, p99), printed as a Markdown table for BENCHMARKS.md.
//!
//! Needs PostGIS (`DATABASE_URL`, default the local `gridwall_bench` database, created when
//! missing; the demo hierarchy is imported there when none is). Run:
//! `cargo bench -p gridwall-server --bench live_vs_postgis`.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "benchmark"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use gridwall_server::hierarchy;
use gridwall_spatial::{LatLng, LiveIndex, Report, ResourceId, ResourceKind, Status};
use rand::SeedableRng;
use rand::rngs::StdRng;

mod common;

const RESOURCES: usize = 100_000;
const QUERIES: usize = 20_000;
const PG_QUERIES: usize = 5_000;
/// A township-sized viewport: ≈ 6 km × 5 km.
const BBOX_HALF_DEG: (f64, f64) = (0.03, 0.025);

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn summary(mut times: Vec<Duration>) -> (f64, f64, f64) {
    times.sort_unstable();
    let mean = times.iter().sum::<Duration>().as_secs_f64() * 1e6 / times.len() as f64;
    (percentile(&times, 0.5), percentile(&times, 0.99), mean)
}

#[allow(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
#[allow(
    clippy::cast_possible_wrap,
    reason = "ids count up to RESOURCES, 100,000"
)]
fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = rt.block_on(common::bench_pool(2));
    let loaded = rt.block_on(hierarchy::load(&pool)).unwrap().unwrap();
    let h = &loaded.hierarchy;

    let mut rng = StdRng::seed_from_u64(11);
    let in_grid = |rng: &mut StdRng| common::in_grid(rng, h);
    let mut live = LiveIndex::default();
    let mut points = Vec::with_capacity(RESOURCES);
    for i in 0..RESOURCES {
        let (p, grid) = in_grid(&mut rng);
        let mut r = Report::new(p, 1_000, ResourceKind::Worker);
        r.grid = Some(grid);
        r.status = Status::ON_DUTY;
        live.upsert(ResourceId(i as i64), r);
        points.push(p);
    }
    let centres: Vec<LatLng> = (0..QUERIES).map(|_| in_grid(&mut rng).0).collect();

    // The same points in PostGIS, GiST-indexed.
    rt.block_on(async {
        sqlx::query("DROP TABLE IF EXISTS bench_live")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "CREATE TABLE bench_live (id bigint PRIMARY KEY, geom geometry(Point, 4326) NOT NULL)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let ids: Vec<i64> = (0..RESOURCES as i64).collect();
        let lats: Vec<f64> = points.iter().map(|p| p.lat()).collect();
        let lngs: Vec<f64> = points.iter().map(|p| p.lng()).collect();
        sqlx::query(
            "INSERT INTO bench_live SELECT id, ST_SetSRID(ST_MakePoint(lng, lat), 4326)
             FROM unnest($1::bigint[], $2::float8[], $3::float8[]) AS u(id, lat, lng)",
        )
        .bind(&ids)
        .bind(&lats)
        .bind(&lngs)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("CREATE INDEX ON bench_live USING gist (geom)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("VACUUM ANALYZE bench_live")
            .execute(&pool)
            .await
            .unwrap();
    });

    let mut rows = Vec::new();
    // Warm caches once, then time every query on its own.
    for c in centres.iter().take(2_000) {
        black_box(live.nearest(*c, 5, f64::INFINITY, |_| true).unwrap());
    }
    let times: Vec<Duration> = centres
        .iter()
        .map(|c| {
            let t = Instant::now();
            black_box(live.nearest(*c, 5, f64::INFINITY, |_| true).unwrap());
            t.elapsed()
        })
        .collect();
    rows.push(("nearest-5", "live index", summary(times)));
    let times: Vec<Duration> = centres
        .iter()
        .map(|c| {
            let t = Instant::now();
            black_box(
                live.nearest(*c, 5, 20_000.0, |e| e.report.status.is_available())
                    .unwrap(),
            );
            t.elapsed()
        })
        .collect();
    rows.push(("nearest-5 available ≤ 20 km", "live index", summary(times)));
    let mut found = 0usize;
    let times: Vec<Duration> = centres
        .iter()
        .map(|c| {
            let (dy, dx) = BBOX_HALF_DEG;
            let t = Instant::now();
            let r = live
                .in_bbox(
                    c.lng() - dx,
                    c.lat() - dy,
                    c.lng() + dx,
                    c.lat() + dy,
                    |_| true,
                )
                .unwrap();
            let e = t.elapsed();
            found += r.len();
            e
        })
        .collect();
    let live_bbox_mean = found as f64 / centres.len() as f64;
    rows.push(("township bbox", "live index", summary(times)));

    let (pg_knn, pg_bbox, pg_found) = rt.block_on(async {
        let mut conn = pool.acquire().await.unwrap();
        let knn = "SELECT id FROM bench_live ORDER BY geom <-> ST_SetSRID(ST_MakePoint($1, $2), 4326) LIMIT 5";
        let bbox = "SELECT id FROM bench_live WHERE geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)";
        for c in centres.iter().take(500) {
            sqlx::query(knn).bind(c.lng()).bind(c.lat()).fetch_all(&mut *conn).await.unwrap();
        }
        let mut knn_t = Vec::with_capacity(PG_QUERIES);
        for c in centres.iter().take(PG_QUERIES) {
            let t = Instant::now();
            black_box(sqlx::query(knn).bind(c.lng()).bind(c.lat()).fetch_all(&mut *conn).await.unwrap());
            knn_t.push(t.elapsed());
        }
        let mut bbox_t = Vec::with_capacity(PG_QUERIES);
        let mut found = 0usize;
        for c in centres.iter().take(PG_QUERIES) {
            let (dy, dx) = BBOX_HALF_DEG;
            let t = Instant::now();
            let r = sqlx::query(bbox)
                .bind(c.lng() - dx)
                .bind(c.lat() - dy)
                .bind(c.lng() + dx)
                .bind(c.lat() + dy)
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            bbox_t.push(t.elapsed());
            found += r.len();
        }
        (knn_t, bbox_t, found as f64 / PG_QUERIES as f64)
    });
    rows.push(("nearest-5", "PostGIS KNN (GiST)", summary(pg_knn)));
    rows.push(("township bbox", "PostGIS && (GiST)", summary(pg_bbox)));
    rt.block_on(async {
        sqlx::query("DROP TABLE bench_live")
            .execute(&pool)
            .await
            .unwrap();
    });

    println!(
        "\n{RESOURCES} resources in {} buckets; {QUERIES} live queries, {PG_QUERIES} PostGIS queries; \
         bbox answers {live_bbox_mean:.0} resources on average (PostGIS {pg_found:.0}); live heap {} B/resource\n",
        live.cell_count(),
        live.heap_size_bytes() / RESOURCES
    );
    println!("| query | engine | p50 µs | p99 µs | mean µs |");
    println!("|---|---|---|---|---|");
    for (q, engine, (p50, p99, mean)) in rows {
        println!("| {q} | {engine} | {p50:.1} | {p99:.1} | {mean:.1} |");
    }
}
