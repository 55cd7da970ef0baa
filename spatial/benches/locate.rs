//! `Hierarchy::locate` on a demo-sized city at H3 resolutions 9–11, with bare `h3o`
//! `LatLng::to_cell` at the same resolution on the same points as the anchor: locate is one
//! `to_cell` plus one lookup (and an exact test in boundary cells), so the ratio is its price.
//!
//! Each resolution runs twice: on points uniform over the grids' box (`…`) and on the same kind
//! of points kept only when they fall in a grid (`…_in_grid`, where workers are), each with
//! its own `to_cell` anchor.
//!
//! `cargo bench -p gridwall-spatial --bench locate`; set `GRIDWALL_DEMO_GEOJSON` to a
//! `.geojson.gz` to use real units instead of the synthetic county, `GRIDWALL_BENCH_RES` to a
//! comma-separated list of resolutions (default `9,10,11`). Build time, heap and the cover
//! figures per resolution: `cargo run --release -p gridwall-spatial --example cover_stats`.
#![allow(clippy::unwrap_used, reason = "benchmark")]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
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

/// The resolutions to bench: `GRIDWALL_BENCH_RES` (e.g. `10` or `9,10`), else 9–11.
fn resolutions() -> Vec<Resolution> {
    std::env::var("GRIDWALL_BENCH_RES").map_or_else(
        |_| vec![Resolution::Nine, Resolution::Ten, Resolution::Eleven],
        |list| {
            list.split(',')
                .map(|r| Resolution::try_from(r.trim().parse::<u8>().unwrap()).unwrap())
                .collect()
        },
    )
}

fn to_h3(pts: &[LatLng]) -> Vec<h3o::LatLng> {
    pts.iter()
        .map(|p| h3o::LatLng::new(p.lat(), p.lng()).unwrap())
        .collect()
}

/// `to_cell` and `locate` timed on the same run of points one right after the other (and
/// `locate_batch` on another), many runs, medians per point: on a shared machine the load changes between
/// criterion's benchmarks (seconds apart) more than between these runs (milliseconds apart),
/// so this ratio is the steadier one.
#[allow(clippy::cast_precision_loss, reason = "RUN is 4096, exact in f64")]
fn interleaved(h: &Hierarchy, res: Resolution, pts: &[LatLng], h3_pts: &[h3o::LatLng]) {
    const RUN: usize = 4096;
    let runs = pts.len() / RUN;
    let (mut cell_ns, mut locate_ns, mut batch_ns) = (Vec::new(), Vec::new(), Vec::new());
    let per_point = |t: Instant| t.elapsed().as_secs_f64() * 1e9 / RUN as f64;
    let all = pts;
    for r in 0..300 {
        let at = (r * 7919 % runs) * RUN;
        let (pts, h3_pts) = (&pts[at..at + RUN], &h3_pts[at..at + RUN]);
        let t = Instant::now();
        for p in h3_pts {
            black_box(p.to_cell(res));
        }
        cell_ns.push(per_point(t));
        let t = Instant::now();
        for &p in pts {
            black_box(h.locate(p));
        }
        locate_ns.push(per_point(t));
        // Another run of points: on the same ones the table lines `locate` just read would be
        // warm in the cache, and the batch would look cheaper than it is.
        let other = ((r * 7919 + runs / 2) % runs) * RUN;
        let t = Instant::now();
        for run in all[other..other + RUN].chunks(256) {
            black_box(h.locate_batch(run));
        }
        batch_ns.push(per_point(t));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (c, l, b) = (
        median(&mut cell_ns),
        median(&mut locate_ns),
        median(&mut batch_ns),
    );
    eprintln!(
        "res {res}, in grid, interleaved medians per point: to_cell {c:.0} ns, locate {l:.0} ns \
         ({:.2}×), locate_batch {b:.0} ns ({:.2}×)",
        l / c,
        b / c
    );
}

#[allow(clippy::cast_precision_loss, reason = "megabytes, only for printing")]
fn bench(c: &mut Criterion) {
    let units = units();
    let grids = units.iter().filter(|u| u.level == Level::Grid).count();
    let pts = points(&units, 1 << 20);
    let h3_pts = to_h3(&pts);

    let mut group = c.benchmark_group("locate");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    for res in resolutions() {
        let started = Instant::now();
        let h = Hierarchy::build(units.clone(), res).unwrap();
        // Points in a grid: the same stream, kept when the hierarchy finds a grid (2^20 of
        // them: the stream wraps around if fewer fell in a grid).
        let in_grid: Vec<LatLng> = points(&units, 1 << 21)
            .into_iter()
            .filter(|&p| h.locate(p).is_some())
            .cycle()
            .take(1 << 20)
            .collect();
        let h3_in_grid = to_h3(&in_grid);
        interleaved(&h, res, &in_grid, &h3_in_grid);
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
        group.bench_function(
            BenchmarkId::new("h3o_to_cell_in_grid", u8::from(res)),
            |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & (h3_in_grid.len() - 1);
                    black_box(h3_in_grid[i].to_cell(res))
                });
            },
        );
        group.bench_function(BenchmarkId::new("locate_in_grid", u8::from(res)), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & (in_grid.len() - 1);
                black_box(h.locate(in_grid[i]))
            });
        });
        // Per run of 256; criterion's "thrpt" is points per second.
        group.throughput(Throughput::Elements(256));
        group.bench_function(
            BenchmarkId::new("locate_batch_in_grid", u8::from(res)),
            |b| {
                let mut run = 0;
                b.iter(|| {
                    run = (run + 1) % (in_grid.len() / 256);
                    black_box(h.locate_batch(&in_grid[run * 256..(run + 1) * 256]).len())
                });
            },
        );
        group.throughput(Throughput::Elements(1));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
