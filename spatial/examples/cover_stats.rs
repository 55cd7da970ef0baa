//! Prints, per resolution, what building the hierarchy and its locate index costs (time,
//! heap, cells) and how fast `locate` is against bare `h3o` `to_cell` on the same points, on
//! the demo-sized synthetic county or on `GRIDWALL_DEMO_GEOJSON`.
//!
//! `cargo run --release -p gridwall-spatial --example cover_stats [-- 9 10 11]`
#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a report tool")]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Instant;

use gridwall_spatial::{DEFAULT_RESOLUTION, Hierarchy, LatLng, Level, Resolution, UnitInput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[allow(
    clippy::too_many_lines,
    clippy::cast_precision_loss,
    reason = "a report printed in one go; counts far below 2^52 turned into ratios for printing"
)]
fn main() {
    let units: Vec<UnitInput> = match std::env::var_os("GRIDWALL_DEMO_GEOJSON") {
        Some(path) => support::load_geojson_gz(std::path::Path::new(&path)),
        None => support::Synthetic::demo_scale().units(),
    };
    let resolutions: Vec<Resolution> = {
        // No arguments: 9–11.
        let args: Vec<String> = std::env::args().skip(1).collect();
        let args: Vec<u8> = if args.is_empty() {
            vec![9, 10, 11]
        } else {
            args.iter().filter_map(|a| a.parse().ok()).collect()
        };
        args.into_iter()
            .filter_map(|r| Resolution::try_from(r).ok())
            .collect()
    };
    let grids = units.iter().filter(|u| u.level == Level::Grid).count();
    let vertices: usize = units
        .iter()
        .filter(|u| u.level == Level::Grid)
        .map(|u| {
            u.polygon
                .0
                .iter()
                .map(|p| p.exterior().0.len() - 1)
                .sum::<usize>()
        })
        .sum();
    let (x0, y0, x1, y1) = support::grid_bbox(&units);
    println!(
        "{} units, {grids} grids, {:.1} exterior vertices/grid, bbox lng {x0:.3}–{x1:.3} lat {y0:.3}–{y1:.3}",
        units.len(),
        vertices as f64 / grids.max(1) as f64
    );
    let mut rng = StdRng::seed_from_u64(42);
    let n = 1 << 20;
    let pts: Vec<LatLng> = (0..n)
        .map(|_| LatLng::new(rng.random_range(y0..y1), rng.random_range(x0..x1)).unwrap())
        .collect();
    let h3_pts: Vec<h3o::LatLng> = pts
        .iter()
        .map(|p| h3o::LatLng::new(p.lat(), p.lng()).unwrap())
        .collect();

    println!(
        "| res | build s | heap MB | B/grid | cells | interior % | candidates/boundary cell | edges/candidate | cover rows | grid_cover s | to_cell ns | locate ns | locate / to_cell | in-grid locate ns | points in a boundary cell % |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for res in resolutions {
        let started = Instant::now();
        let h = Hierarchy::build(units.clone(), res).unwrap();
        let build_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let rows = h.grid_cover().count();
        let cover_s = started.elapsed().as_secs_f64();
        let best_ns = |f: &dyn Fn() -> usize, len: usize| {
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    black_box(f());
                    t.elapsed().as_secs_f64() * 1e9 / len.max(1) as f64
                })
                .fold(f64::MAX, f64::min)
        };
        let to_cell_ns = best_ns(
            &|| {
                h3_pts
                    .iter()
                    .map(|p| usize::from(black_box(p.to_cell(res)).resolution() == res))
                    .sum()
            },
            n,
        );
        let locate_ns = best_ns(
            &|| {
                pts.iter()
                    .filter(|&&p| black_box(h.locate(p)).is_some())
                    .count()
            },
            n,
        );
        // The same on points that are in some grid (real cities are not rectangles).
        let inside: Vec<LatLng> = pts
            .iter()
            .copied()
            .filter(|&p| h.locate(p).is_some())
            .collect();
        let inside_ns = best_ns(
            &|| {
                inside
                    .iter()
                    .filter(|&&p| black_box(h.locate(p)).is_some())
                    .count()
            },
            inside.len(),
        );
        // Points whose cell needs a point-in-polygon test: listed, and not a bare interior cell.
        let mut by_cell: std::collections::HashMap<u64, (usize, bool)> =
            std::collections::HashMap::new();
        for (cell, _, boundary) in h.grid_cover() {
            let e = by_cell.entry(u64::from(cell)).or_insert((0, false));
            e.0 += 1;
            e.1 |= boundary;
        }
        let tested = h3_pts
            .iter()
            .filter(|p| {
                by_cell
                    .get(&u64::from(p.to_cell(res)))
                    .is_some_and(|&(k, b)| k > 1 || b)
            })
            .count();
        let s = h.index_stats();
        let heap = h.heap_size_bytes();
        println!(
            "| {res} | {build_s:.2} | {:.1} | {} | {} | {:.1} | {:.2} | {:.2} | {} | {cover_s:.2} | {to_cell_ns:.0} | {locate_ns:.0} | {:.2} | {inside_ns:.0} | {:.1} |",
            heap as f64 / 1e6,
            heap / grids.max(1),
            s.cells,
            100.0 * s.interior_cells as f64 / s.cells.max(1) as f64,
            s.boundary_candidates as f64 / s.boundary_cells.max(1) as f64,
            s.boundary_edges as f64 / s.boundary_candidates.max(1) as f64,
            rows,
            locate_ns / to_cell_ns,
            100.0 * tested as f64 / n as f64,
        );
    }
    println!("(default resolution: {DEFAULT_RESOLUTION})");
}
