//! Exact locate on the Nantong demo hierarchy, side by side with its anchors in one run:
//! h3o's bare `LatLng::to_cell` at the cover's resolution (the floor), and PostGIS answering
//! the same points (one indexed `ST_Covers` query per point, and one batched query).
//!
//! Needs a database with PostGIS (`DATABASE_URL`, default the local `gridwall_bench` database,
//! created when missing); the demo hierarchy is imported there when none is. Run:
//! `cargo bench -p gridwall-server --bench locate_vs_postgis`.
#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "benchmark")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gridwall_server::hierarchy;
use gridwall_spatial::LatLng;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod common;

const POINTS: usize = 10_000;
const PER_POINT_QUERIES: usize = 500;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = rt.block_on(common::bench_pool(2));
    let loaded = rt.block_on(hierarchy::load(&pool)).unwrap().unwrap();
    let h = &loaded.hierarchy;
    let res = h.resolution();
    let grids = h.counts_by_level()[4];
    println!(
        "hierarchy: {} units, {grids} grids, resolution {}, heap {} bytes = {} bytes/grid",
        h.len(),
        u8::from(res),
        h.heap_size_bytes(),
        h.heap_size_bytes() / grids.max(1)
    );

    // Positions inside the territory, uniformly over its bounding box (those that land in a grid).
    let mut rng = StdRng::seed_from_u64(7);
    let mut points = Vec::with_capacity(POINTS);
    while points.len() < POINTS {
        let p = LatLng::new(
            rng.random_range(31.6..32.72),
            rng.random_range(120.2..121.98),
        )
        .unwrap();
        if h.locate(p).is_some() {
            points.push(p);
        }
    }
    let h3_points: Vec<h3o::LatLng> = points
        .iter()
        .map(|p| h3o::LatLng::new(p.lat(), p.lng()).unwrap())
        .collect();

    let mut g = c.benchmark_group("locate_demo");
    g.throughput(Throughput::Elements(POINTS as u64));
    g.bench_function(BenchmarkId::new("h3o_to_cell", u8::from(res)), |b| {
        b.iter(|| {
            for p in &h3_points {
                black_box(p.to_cell(res));
            }
        });
    });
    g.bench_function("gridwall_locate", |b| {
        b.iter(|| {
            for p in &points {
                black_box(h.locate(*p));
            }
        });
    });
    let xs: Vec<f64> = points.iter().map(|p| p.lng()).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.lat()).collect();
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("postgis_batched_st_covers", |b| {
        b.to_async(&rt).iter(|| async {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(u.id) FROM unnest($1::float8[], $2::float8[]) AS t(x, y)
                 JOIN units u ON u.level = 4
                  AND ST_Covers(u.geom, ST_SetSRID(ST_MakePoint(t.x, t.y), 4326))",
            )
            .bind(&xs)
            .bind(&ys)
            .fetch_one(&pool)
            .await
            .unwrap();
            black_box(n)
        });
    });
    g.throughput(Throughput::Elements(PER_POINT_QUERIES as u64));
    g.bench_function("postgis_per_point_st_covers", |b| {
        b.to_async(&rt).iter(|| async {
            for p in &points[..PER_POINT_QUERIES] {
                let code: Option<String> = sqlx::query_scalar(
                    "SELECT code FROM units WHERE level = 4
                     AND ST_Covers(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) LIMIT 1",
                )
                .bind(p.lng())
                .bind(p.lat())
                .fetch_optional(&pool)
                .await
                .unwrap();
                black_box(code);
            }
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
