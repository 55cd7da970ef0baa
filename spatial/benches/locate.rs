//! `Hierarchy::locate` on a demo-sized city at H3 resolutions 9–11, with bare `h3o`
//! `LatLng::to_cell` at the same resolution on the same points as the anchor: locate is one
//! `to_cell` plus one lookup (and an exact test in boundary cells), so the ratio is its price.
//!
//! `cargo bench -p gridwall-spatial --bench locate`; set `GRIDWALL_DEMO_GEOJSON` to a
//! `.geojson.gz` to use real units instead of the synthetic county. Build time, heap and the
//! cover figures per resolution: `cargo run --release -p gridwall-spatial --example cover_stats`.
#![allow(clippy::unwrap_used, reason = "benchmark")]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gridwall_spatial::{Hierarchy, LatLng, Level, Resolution, UnitInput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn units() -> Vec<UnitInput> {
    match std::env::var_os("GRIDWALL_DEMO_GEOJSON") {
        Some(path) => support::load_geojson_gz(std::path::Path::new(&path)),
        None => support::Synthetic::demo_scale().units(),
    }
}

/// Random points in the bounding box of the grids.
fn points(units: &[UnitInput], n: usize) -> Vec<LatLng> {
    let (x0, y0, x1, y1) = support::grid_bbox(units);
    let mut rng = StdRng::seed_from_u64(42);
    (0..n)
        .map(|_| LatLng::new(rng.random_range(y0..y1), rng.random_range(x0..x1)).unwrap())
        .collect()
}

fn bench(c: &mut Criterion) {
    let units = units();
    let grids = units.iter().filter(|u| u.level == Level::Grid).count();
    let pts = points(&units, 1 << 20);
    let h3_pts: Vec<h3o::LatLng> = pts
        .iter()
        .map(|p| h3o::LatLng::new(p.lat(), p.lng()).unwrap())
        .collect();

    let mut group = c.benchmark_group("locate");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    for res in [Resolution::Nine, Resolution::Ten, Resolution::Eleven] {
        let started = Instant::now();
        let h = Hierarchy::build(units.clone(), res).unwrap();
        eprintln!(
            "res {res}: build {:.2} s, heap {:.1} MB = {} B/grid, {:?}",
            started.elapsed().as_secs_f64(),
            h.heap_size_bytes() as f64 / 1e6,
            h.heap_size_bytes() / grids.max(1),
            h.index_stats()
        );
        group.bench_with_input(
            BenchmarkId::new("h3o_to_cell", u8::from(res)),
            &res,
            |b, &res| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & (h3_pts.len() - 1);
                    black_box(h3_pts[i].to_cell(res))
                });
            },
        );
        group.bench_function(BenchmarkId::new("locate", u8::from(res)), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & (pts.len() - 1);
                black_box(h.locate(pts[i]))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
