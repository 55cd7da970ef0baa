//! The live index on 100,000 resources spread over the Nantong demo's grids, at bucket
//! resolutions 7–9: updates per second with and without `Hierarchy::locate` (and locate alone,
//! its floor), nearest-5 (with a brute-force nearest-5 over the same resources as the
//! in-process anchor), a township-sized viewport and a 1 km radius. Before criterion runs, the
//! nearest-5 latency distribution (p50/p99/max of single queries) and the memory per
//! resource are printed to stderr. The PostGIS KNN anchor lives on the server side.
//!
//! `cargo bench -p gridwall-spatial --bench live`; `GRIDWALL_BENCH_RES=8` for one bucket
//! resolution (default `7,8,9`).
#![allow(clippy::unwrap_used, reason = "benchmark")]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gridwall_spatial::{
    DEFAULT_RESOLUTION, Entry, Hierarchy, LatLng, LiveIndex, Report, Resolution, ResourceId,
    ResourceKind, Status, haversine_m,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const RESOURCES: usize = 100_000;
const UPDATES: usize = 1 << 20;

struct Setup {
    hierarchy: Hierarchy,
    /// Where each resource is first seen: uniform over the grids' box, kept when in a grid.
    homes: Vec<LatLng>,
    /// Updates: (resource, position) — a step of up to ≈30 m from home, as a walking worker
    /// reporting every 5–15 s moves.
    updates: Vec<(usize, LatLng)>,
    /// Query centres, in grids.
    centres: Vec<LatLng>,
}

fn setup() -> Setup {
    let units = support::load_geojson_gz(&support::demo_path());
    let (x0, y0, x1, y1) = support::grid_bbox(&units);
    let hierarchy = Hierarchy::build(units, DEFAULT_RESOLUTION).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let in_grid = |rng: &mut StdRng| loop {
        let p = LatLng::new(rng.random_range(y0..y1), rng.random_range(x0..x1)).unwrap();
        if hierarchy.locate(p).is_some() {
            return p;
        }
    };
    let homes: Vec<LatLng> = (0..RESOURCES).map(|_| in_grid(&mut rng)).collect();
    let centres: Vec<LatLng> = (0..4096).map(|_| in_grid(&mut rng)).collect();
    let updates = (0..UPDATES)
        .map(|_| {
            let i = rng.random_range(0..RESOURCES);
            let h = homes[i];
            let p = LatLng::new(
                h.lat() + rng.random_range(-0.0003..0.0003),
                h.lng() + rng.random_range(-0.0003..0.0003),
            )
            .unwrap();
            (i, p)
        })
        .collect();
    Setup {
        hierarchy,
        homes,
        updates,
        centres,
    }
}

fn id(i: usize) -> ResourceId {
    ResourceId(i64::try_from(i).unwrap())
}

/// Half the resources on duty and free, a quarter busy, a quarter off duty; one in five a
/// vehicle (so 40 % are available workers).
fn report(setup: &Setup, i: usize, p: LatLng, at_ms: i64) -> Report {
    let kind = if i.is_multiple_of(5) {
        ResourceKind::Vehicle
    } else {
        ResourceKind::Worker
    };
    let mut r = Report::new(p, at_ms, kind);
    r.status = match (i / 5) % 4 {
        0 | 1 => Status::ON_DUTY,
        2 => Status::ON_DUTY.with(Status::BUSY),
        _ => Status::NONE,
    };
    r.grid = setup.hierarchy.locate(p).map(|path| path.grid);
    r
}

fn filled(setup: &Setup, res: Resolution) -> LiveIndex {
    let mut index = LiveIndex::with_capacity(res, RESOURCES);
    for (i, &p) in setup.homes.iter().enumerate() {
        index.upsert(id(i), report(setup, i, p, 0));
    }
    index
}

fn available(e: &Entry) -> bool {
    e.report.kind == ResourceKind::Worker && e.report.status.is_available()
}

/// Single-query latencies, timed one by one (≈25 ns of `Instant` overhead each).
fn latencies(mut query: impl FnMut(usize) -> usize, n: usize) -> (Duration, Duration, Duration) {
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let t = Instant::now();
            black_box(query(i));
            t.elapsed()
        })
        .collect();
    times.sort_unstable();
    (times[n / 2], times[n * 99 / 100], times[n - 1])
}

fn brute_nearest(index: &LiveIndex, centre: LatLng, k: usize) -> Vec<(f64, ResourceId)> {
    let mut best: Vec<(f64, ResourceId)> = Vec::with_capacity(k + 1);
    for e in index.iter() {
        let d = haversine_m(centre, e.report.position);
        if best.len() == k && (d, e.id) >= best[k - 1] {
            continue;
        }
        let at = best.partition_point(|b| *b < (d, e.id));
        best.insert(at, (d, e.id));
        best.truncate(k);
    }
    best
}

#[allow(
    clippy::too_many_lines,
    clippy::many_single_char_names,
    clippy::items_after_statements,
    reason = "one criterion group after another, each with its setup and its b, i, p, r closure bindings"
)]
#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "counters start at 1 and stay far below 2^52; megabytes and thousands only for printing"
)]
fn bench(c: &mut Criterion) {
    let s = setup();
    let resolutions: Vec<Resolution> = std::env::var("GRIDWALL_BENCH_RES").map_or_else(
        |_| vec![Resolution::Seven, Resolution::Eight, Resolution::Nine],
        |list| {
            list.split(',')
                .map(|r| Resolution::try_from(r.trim().parse::<u8>().unwrap()).unwrap())
                .collect()
        },
    );

    // Figures printed once: memory, crossings, single-query latency distribution.
    for &res in &resolutions {
        let mut index = filled(&s, res);
        let crossed = s.updates[..100_000]
            .iter()
            .enumerate()
            .filter(|&(t, &(i, p))| {
                index
                    .upsert(id(i), report(&s, i, p, 1 + t as i64))
                    .crossed_cell()
            })
            .count();
        let n = s.centres.len();
        let (p50, p99, max) = latencies(
            |q| {
                index
                    .nearest(s.centres[q % n], 5, f64::INFINITY, |_| true)
                    .unwrap()
                    .len()
            },
            100_000,
        );
        let (a50, a99, amax) = latencies(
            |q| {
                index
                    .nearest(s.centres[q % n], 5, 20_000.0, available)
                    .unwrap()
                    .len()
            },
            100_000,
        );
        let (b50, b99, bmax) = latencies(
            |q| {
                let c = s.centres[q % n];
                index
                    .in_bbox(
                        c.lng() - 0.05,
                        c.lat() - 0.04,
                        c.lng() + 0.05,
                        c.lat() + 0.04,
                        |_| true,
                    )
                    .unwrap()
                    .len()
            },
            20_000,
        );
        eprintln!(
            "res {res}: {} resources in {} buckets, heap {:.1} MB = {} B/resource; \
             {:.1} % of 100,000 walking updates crossed a bucket; \
             nearest-5 p50 {p50:?} p99 {p99:?} max {max:?}; \
             nearest-5 available ≤ 20 km p50 {a50:?} p99 {a99:?} max {amax:?}; \
             township bbox p50 {b50:?} p99 {b99:?} max {bmax:?}",
            index.len(),
            index.cell_count(),
            index.heap_size_bytes() as f64 / 1e6,
            index.heap_size_bytes() / index.len(),
            crossed as f64 / 1000.0,
        );
    }

    let mut group = c.benchmark_group("live_update");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    let mask = UPDATES - 1;
    group.bench_function("locate_only", |b| {
        let mut t = 0;
        b.iter(|| {
            t = (t + 1) & mask;
            black_box(s.hierarchy.locate(s.updates[t].1))
        });
    });
    for &res in &resolutions {
        let mut index = filled(&s, res);
        let mut at_ms = 1;
        group.bench_function(BenchmarkId::new("upsert_with_locate", u8::from(res)), |b| {
            b.iter(|| {
                at_ms += 1;
                let (i, p) = s.updates[at_ms as usize & mask];
                let cell = s.hierarchy.cell_of(p);
                let mut r = Report::new(p, at_ms, ResourceKind::Worker);
                r.grid = s.hierarchy.locate_cell(cell, p).map(|path| path.grid);
                black_box(index.upsert_in_cell(id(i), r, cell))
            });
        });
        group.bench_function(BenchmarkId::new("upsert", u8::from(res)), |b| {
            b.iter(|| {
                at_ms += 1;
                let (i, p) = s.updates[at_ms as usize & mask];
                black_box(index.upsert(id(i), Report::new(p, at_ms, ResourceKind::Worker)))
            });
        });
    }
    group.finish();

    // The same updates in runs of `BATCH`: `locate_batch` then `upsert_batch`. Criterion's
    // time is per run; per update, divide by `BATCH` (its "thrpt" is updates per second).
    const BATCH: usize = 256;
    let mut group = c.benchmark_group("live_update_batch");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .throughput(Throughput::Elements(BATCH as u64));
    let runs = UPDATES / BATCH;
    let positions: Vec<LatLng> = s.updates.iter().map(|u| u.1).collect();
    group.bench_function("locate_batch", |b| {
        let mut run = 0;
        b.iter(|| {
            run = (run + 1) % runs;
            black_box(
                s.hierarchy
                    .locate_batch(&positions[run * BATCH..(run + 1) * BATCH])
                    .len(),
            )
        });
    });
    for &res in &resolutions {
        let mut index = filled(&s, res);
        let mut at_ms = 1;
        let mut items = Vec::with_capacity(BATCH);
        group.bench_function(
            BenchmarkId::new("upsert_with_locate_batch", u8::from(res)),
            |b| {
                let mut run = 0;
                b.iter(|| {
                    run = (run + 1) % runs;
                    let updates = &s.updates[run * BATCH..(run + 1) * BATCH];
                    let located = s
                        .hierarchy
                        .locate_batch(&positions[run * BATCH..(run + 1) * BATCH]);
                    items.clear();
                    items.extend(updates.iter().zip(located).map(|(&(i, p), (cell, path))| {
                        at_ms += 1;
                        let mut r = Report::new(p, at_ms, ResourceKind::Worker);
                        r.grid = path.map(|path| path.grid);
                        (id(i), r, cell)
                    }));
                    black_box(index.upsert_batch(&items).len())
                });
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("live_query");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    let n = s.centres.len();
    for &res in &resolutions {
        let index = filled(&s, res);
        let r = u8::from(res);
        group.bench_function(BenchmarkId::new("nearest5", r), |b| {
            let mut q = 0;
            b.iter(|| {
                q += 1;
                black_box(
                    index
                        .nearest(s.centres[q % n], 5, f64::INFINITY, |_| true)
                        .unwrap()
                        .len(),
                )
            });
        });
        group.bench_function(BenchmarkId::new("nearest5_available", r), |b| {
            let mut q = 0;
            b.iter(|| {
                q += 1;
                black_box(
                    index
                        .nearest(s.centres[q % n], 5, 20_000.0, available)
                        .unwrap()
                        .len(),
                )
            });
        });
        group.bench_function(BenchmarkId::new("bbox_township", r), |b| {
            let mut q = 0;
            b.iter(|| {
                q += 1;
                let c = s.centres[q % n];
                black_box(
                    index
                        .in_bbox(
                            c.lng() - 0.05,
                            c.lat() - 0.04,
                            c.lng() + 0.05,
                            c.lat() + 0.04,
                            |_| true,
                        )
                        .unwrap()
                        .len(),
                )
            });
        });
        group.bench_function(BenchmarkId::new("radius_1km", r), |b| {
            let mut q = 0;
            b.iter(|| {
                q += 1;
                black_box(
                    index
                        .within_radius(s.centres[q % n], 1_000.0, |_| true)
                        .unwrap()
                        .len(),
                )
            });
        });
        if res == Resolution::Eight {
            group.bench_function("brute_force_nearest5", |b| {
                let mut q = 0;
                b.iter(|| {
                    q += 1;
                    black_box(brute_nearest(&index, s.centres[q % n], 5).len())
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
