//! Prints, per resolution, what the cover costs and how fast `locate` is against bare `h3o`
//! `to_cell`, on the demo-sized synthetic county or on `GRIDWALL_DEMO_GEOJSON`.
//!
//! `cargo run --release -p gridwall-spatial --example cover_stats [-- 9 10 11 12]`
#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a report tool")]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Instant;

use geo::BoundingRect as _;
use gridwall_spatial::{DEFAULT_RESOLUTION, Hierarchy, LatLng, Level, Resolution, UnitInput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() {
    let units: Vec<UnitInput> = match std::env::var_os("GRIDWALL_DEMO_GEOJSON") {
        Some(path) => support::load_geojson_gz(std::path::Path::new(&path)),
        None => support::Synthetic::demo_scale().units(),
    };
    let resolutions: Vec<Resolution> = {
        // No arguments: 9–12; `-` alone: none (locate figures only).
        let args: Vec<String> = std::env::args().skip(1).collect();
        let args: Vec<u8> = if args.is_empty() {
            vec![9, 10, 11, 12]
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
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for u in units.iter().filter(|u| u.level == Level::Grid) {
        if let Some(r) = u.polygon.bounding_rect() {
            x0 = x0.min(r.min().x);
            y0 = y0.min(r.min().y);
            x1 = x1.max(r.max().x);
            y1 = y1.max(r.max().y);
        }
    }
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

    let started = Instant::now();
    let h = Hierarchy::build(units.clone(), DEFAULT_RESOLUTION).unwrap();
    let build = started.elapsed().as_secs_f64();
    let (mut locate_ns, mut located) = (f64::MAX, 0);
    for _ in 0..3 {
        let t = Instant::now();
        located = 0;
        for &p in &pts {
            located += usize::from(black_box(h.locate(p)).is_some());
        }
        locate_ns = locate_ns.min(t.elapsed().as_secs_f64() * 1e9 / n as f64);
    }
    let s = h.index_stats();
    println!(
        "locate index: build {build:.2} s, heap {:.1} MB = {} B/grid; {} top tiles, {} split blocks, {} records ({:.2} candidates, {:.2} edges each)",
        h.heap_size_bytes() as f64 / 1e6,
        h.heap_size_bytes() / grids.max(1),
        s.top_tiles,
        s.sub_blocks,
        s.records,
        s.record_candidates as f64 / s.records.max(1) as f64,
        s.record_edges as f64 / s.records.max(1) as f64,
    );
    println!(
        "locate: {locate_ns:.0} ns/point ({:.2} M/s), {:.1}% of random points in a grid",
        1e3 / locate_ns,
        100.0 * located as f64 / n as f64
    );
    println!();
    println!(
        "| res | to_cell ns | locate / to_cell | grid_cover s | cells | cells/grid | boundary cells % | points in boundary cells % |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for res in resolutions {
        let h = Hierarchy::build(units.clone(), res).unwrap();
        let started = Instant::now();
        let (mut cells, mut boundary_cells) = (0usize, HashSet::new());
        for (cell, _, boundary) in h.grid_cover() {
            cells += 1;
            if boundary {
                boundary_cells.insert(u64::from(cell));
            }
        }
        let cover_s = started.elapsed().as_secs_f64();
        let boundary_rows = h.grid_cover().filter(|c| c.2).count();
        let in_boundary = h3_pts
            .iter()
            .filter(|p| boundary_cells.contains(&u64::from(p.to_cell(res))))
            .count();
        let mut to_cell_ns = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            for p in &h3_pts {
                black_box(p.to_cell(res));
            }
            to_cell_ns = to_cell_ns.min(t.elapsed().as_secs_f64() * 1e9 / n as f64);
        }
        println!(
            "| {res} | {to_cell_ns:.0} | {:.2} | {cover_s:.1} | {cells} | {:.0} | {:.1} | {:.1} |",
            locate_ns / to_cell_ns,
            cells as f64 / grids.max(1) as f64,
            100.0 * boundary_rows as f64 / cells.max(1) as f64,
            100.0 * in_boundary as f64 / n as f64,
        );
    }
}
