//! `Hierarchy::locate` against an independent brute force (geo's exact point-in-polygon) on
//! synthetic counties and the Nantong demo data: random points, points on edges and vertices,
//! points a hair off them and next to the H3 cells' own edges; and the cover against the index.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod support;

use std::collections::{HashMap, HashSet};

use geo::{Coord, Distance, Euclidean, LineString, MultiPolygon, Point, Polygon};
use gridwall_spatial::{CellIndex, Hierarchy, LatLng, Level, Resolution, UnitId};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use support::{BruteForce, Synthetic, area, one_village, unit};

/// Distance (degrees) from `p` to the nearest edge of a grid whose bounding box holds `p`
/// (an edge of any other grid is at least as far as that box, which `p` is outside of).
fn edge_distance(brute: &BruteForce, p: Coord) -> f64 {
    let point = Point::from(p);
    brute
        .near(p.x, p.y)
        .flat_map(|(_, mp)| mp.0.iter())
        .flat_map(|poly| std::iter::once(poly.exterior()).chain(poly.interiors()))
        .map(|ring| Euclidean.distance(&point, ring))
        .fold(f64::INFINITY, f64::min)
}

/// Points of every kind: uniform, on edges, near edges, on and near vertices, on a straight
/// shared line and on the outer border.
fn test_points(
    s: &Synthetic,
    units: &[gridwall_spatial::UnitInput],
    n: usize,
    seed: u64,
) -> Vec<Coord> {
    points_in(s.bbox(), s.straight_x(), units, n, seed)
}

/// Like [`test_points`] in any box, `straight_x` standing for a line to sample exactly.
#[allow(
    clippy::many_single_char_names,
    reason = "geometry: w, h, a, b, t as in a box and its segments"
)]
fn points_in(
    bbox: geo::Rect<f64>,
    straight_x: f64,
    units: &[gridwall_spatial::UnitInput],
    n: usize,
    seed: u64,
) -> Vec<Coord> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (w, h) = (bbox.width(), bbox.height());
    let segments: Vec<(Coord, Coord)> = units
        .iter()
        .filter(|u| u.level == Level::Grid)
        .flat_map(|u| u.polygon.0.iter())
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .flat_map(|r| r.lines().map(|l| (l.start, l.end)))
        .collect();
    let mut points = Vec::with_capacity(n);
    while points.len() < n {
        let p = match points.len() % 10 {
            0..=3 => Coord {
                x: bbox.min().x - 0.05 * w + rng.random::<f64>() * 1.1 * w,
                y: bbox.min().y - 0.05 * h + rng.random::<f64>() * 1.1 * h,
            },
            4 => {
                let (a, b) = *segments.choose(&mut rng).unwrap();
                let t: f64 = rng.random();
                Coord {
                    x: a.x + t * (b.x - a.x),
                    y: a.y + t * (b.y - a.y),
                }
            }
            5 | 6 => {
                let (a, b) = *segments.choose(&mut rng).unwrap();
                let t: f64 = rng.random();
                let (dx, dy) = (b.x - a.x, b.y - a.y);
                let len = dx.hypot(dy);
                let off = 10f64.powf(rng.random_range(-12.0..-4.5))
                    * if rng.random() { 1.0 } else { -1.0 };
                Coord {
                    x: a.x + t * dx - off * dy / len,
                    y: a.y + t * dy + off * dx / len,
                }
            }
            7 => {
                let (a, _) = *segments.choose(&mut rng).unwrap();
                let e = [0.0, 1e-15, 1e-12, 1e-10, 1e-9, 1e-8, 1e-7][rng.random_range(0..7)];
                Coord {
                    x: a.x + e * rng.random_range(-1.0..1.0),
                    y: a.y + e * rng.random_range(-1.0..1.0),
                }
            }
            8 => Coord {
                x: straight_x,
                y: bbox.min().y + rng.random::<f64>() * h,
            },
            _ => match rng.random_range(0..4) {
                0 => Coord {
                    x: bbox.min().x,
                    y: bbox.min().y + rng.random::<f64>() * h,
                },
                1 => Coord {
                    x: bbox.max().x,
                    y: bbox.min().y + rng.random::<f64>() * h,
                },
                2 => Coord {
                    x: bbox.min().x + rng.random::<f64>() * w,
                    y: bbox.min().y,
                },
                _ => Coord {
                    x: bbox.min().x + rng.random::<f64>() * w,
                    y: bbox.max().y,
                },
            },
        };
        points.push(p);
    }
    points
}

/// Locates every point both ways; returns (disagreements within 1e-9° of an edge, beyond).
fn compare(h: &Hierarchy, brute: &BruteForce, points: &[Coord]) -> (usize, usize) {
    let (mut near, mut far) = (0, 0);
    for &p in points {
        let ll = LatLng::new(p.y, p.x).unwrap();
        let found = h.locate(ll);
        assert_eq!(
            h.locate_cell(h.cell_of(ll), ll),
            found,
            "locate_cell at {p:?}"
        );
        let got = found.map(|path| h.unit(path.grid).code.as_str());
        let want = brute.locate(p.x, p.y);
        if got != want {
            let d = edge_distance(brute, p);
            if d > 1e-9 {
                far += 1;
                eprintln!(
                    "disagreement at ({:.17}, {:.17}), {d:e}° from an edge: got {got:?}, want {want:?}",
                    p.x, p.y
                );
            } else {
                near += 1;
            }
        }
    }
    (near, far)
}

#[test]
fn agrees_with_brute_force_at_res_11() {
    let s = Synthetic::small(24, 20, 11);
    let units = s.units();
    let brute = BruteForce::new(&units);
    let h = Hierarchy::build(units.clone(), Resolution::Eleven).unwrap();
    let points = test_points(&s, &units, 100_000, 1);
    assert!(h.index_stats().rest_candidates > 0);
    let (near, far) = compare(&h, &brute, &points);
    assert_eq!(far, 0, "disagreements beyond 1e-9° of an edge");
    // The predicates are exact, so even points on and next to edges agree.
    assert_eq!(near, 0, "disagreements within 1e-9° of an edge");
}

#[test]
fn agrees_with_brute_force_on_other_counties() {
    for (nx, ny, seed) in [(12, 10, 9), (9, 16, 10), (30, 8, 12)] {
        let s = Synthetic::small(nx, ny, seed);
        let units = s.units();
        let brute = BruteForce::new(&units);
        let h = Hierarchy::build(units.clone(), Resolution::Ten).unwrap();
        let points = test_points(&s, &units, 30_000, seed);
        assert_eq!(
            compare(&h, &brute, &points),
            (0, 0),
            "county {nx}×{ny} seed {seed}"
        );
    }
}

/// A square with a 3,000-vertex round hole, the disc in it, a comb of thin teeth, and a grid
/// with repeated and collinear vertices: tiles with far more edges than a leaf takes.
#[test]
fn agrees_on_dense_and_degenerate_geometry() {
    let (x0, y0) = (120.9, 32.0);
    let circle: Vec<(f64, f64)> = (0..3000)
        .map(|i| {
            let a = f64::from(i) * std::f64::consts::TAU / 3000.0;
            (x0 + 0.005 + 0.003 * a.cos(), y0 + 0.005 + 0.003 * a.sin())
        })
        .collect();
    let square = vec![
        (x0, y0),
        (x0 + 0.01, y0),
        (x0 + 0.01, y0 + 0.01),
        (x0, y0 + 0.01),
    ];
    let mut comb = vec![(x0 + 0.01, y0)];
    for t in 0..200 {
        let x = x0 + 0.01 + f64::from(t) * 0.00005;
        comb.extend([
            (x, y0 + 0.01),
            (x + 0.00002, y0 + 0.01),
            (x + 0.00002, y0 + 0.001),
            (x + 0.00005, y0 + 0.001),
        ]);
    }
    comb.push((x0 + 0.02, y0));
    let messy = vec![
        (x0, y0 - 0.004),
        (x0, y0 - 0.004),
        (x0 + 0.002, y0 - 0.004),
        (x0 + 0.004, y0 - 0.004),
        (x0 + 0.004, y0 - 0.004),
        (x0 + 0.004, y0),
        (x0 + 0.002, y0),
        (x0, y0),
    ];
    let units = one_village(vec![
        ("320612001001001", "方", area(square, vec![circle.clone()])),
        ("320612001001002", "圆", area(circle.clone(), vec![])),
        ("320612001001003", "梳", area(comb, vec![])),
        ("320612001001004", "乱", area(messy, vec![])),
    ]);
    let brute = BruteForce::new(&units);
    let h = Hierarchy::build(units, Resolution::Eleven).unwrap();
    assert!(h.index_stats().boundary_cells > 0);
    let mut rng = StdRng::seed_from_u64(99);
    let mut points = Vec::new();
    for _ in 0..40_000 {
        points.push(Coord {
            x: x0 - 0.001 + rng.random::<f64>() * 0.022,
            y: y0 - 0.005 + rng.random::<f64>() * 0.017,
        });
    }
    for &(x, y) in circle.iter().step_by(7) {
        let e = [0.0, 1e-13, 1e-10, 1e-7][rng.random_range(0..4)];
        points.push(Coord {
            x: x + e * rng.random_range(-1.0..1.0),
            y: y + e * rng.random_range(-1.0..1.0),
        });
    }
    for _ in 0..10_000 {
        // The comb's teeth are 2e-5° wide: sample across them.
        points.push(Coord {
            x: x0 + 0.01 + rng.random::<f64>() * 0.01,
            y: y0 + rng.random::<f64>() * 0.0105,
        });
    }
    assert_eq!(compare(&h, &brute, &points), (0, 0));
}

/// The committed Nantong demo data: 100,000 points of every kind.
#[test]
fn agrees_with_brute_force_on_the_demo_data() {
    let units = support::load_geojson_gz(&support::demo_path());
    let brute = BruteForce::new(&units);
    let h = Hierarchy::build(units.clone(), gridwall_spatial::DEFAULT_RESOLUTION).unwrap();
    assert!(h.counts_by_level()[usize::from(Level::Grid.number())] > 10_000);
    let bbox = geo::BoundingRect::bounding_rect(&geo::GeometryCollection::from(
        units
            .iter()
            .filter(|u| u.level == Level::Grid)
            .map(|u| geo::Geometry::from(u.polygon.clone()))
            .collect::<Vec<_>>(),
    ))
    .unwrap();
    let points = points_in(bbox, 120.9, &units, 100_000, 2026);
    let located = points
        .iter()
        .filter(|p| brute.locate(p.x, p.y).is_some())
        .count();
    assert!(located > 40_000, "only {located} points in a grid");
    assert_eq!(compare(&h, &brute, &points), (0, 0));

    // The batched locate gives the same cells and answers, in batches of every length.
    let lls: Vec<LatLng> = points
        .iter()
        .map(|p| LatLng::new(p.y, p.x).unwrap())
        .collect();
    let mut rest = &lls[..];
    let mut len = 0;
    while !rest.is_empty() {
        len = (len * 7 + 3) % 1_500;
        let (batch, tail) = rest.split_at(len.min(rest.len()));
        let want: Vec<_> = batch.iter().map(|&p| (h.cell_of(p), h.locate(p))).collect();
        assert_eq!(h.locate_batch(batch), want);
        rest = tail;
    }
}

#[test]
fn paths_lead_to_the_root() {
    let s = Synthetic::small(12, 10, 3);
    let h = Hierarchy::build(s.units(), Resolution::Eleven).unwrap();
    let counts = h.counts_by_level();
    assert_eq!(counts[usize::from(Level::County.number())], 1);
    assert_eq!(counts.iter().sum::<usize>(), h.len());
    let bbox = s.bbox();
    let p = LatLng::new(bbox.center().y, bbox.center().x).unwrap();
    let path = h.locate(p).unwrap();
    assert_eq!(h.unit(path.grid).level, Level::Grid);
    assert_eq!(h.unit(path.grid).parent, Some(path.village));
    assert_eq!(h.unit(path.village).parent, Some(path.township));
    assert_eq!(h.unit(path.township).parent, Some(path.county));
    assert_eq!(h.unit(path.county).level, Level::County);
    assert_eq!(path.city, None);
    assert_eq!(h.path(path.grid), Some(path));
    assert_eq!(h.path(path.county), None);
    assert!(h.unit(path.village).children.contains(&path.grid));
    assert_eq!(h.by_code(h.unit(path.grid).code.as_str()), Some(path.grid));
    assert_eq!(h.by_code("999999"), None);
    // Outside the county.
    assert_eq!(
        h.locate(LatLng::new(bbox.min().y - 0.01, bbox.min().x).unwrap()),
        None
    );
    assert_eq!(h.locate(LatLng::new(0.0, 0.0).unwrap()), None);
}

#[test]
fn shared_edges_go_to_the_lowest_code_and_overlaps_too() {
    let s = Synthetic::small(10, 8, 5);
    let units = s.units();
    let h = Hierarchy::build(units, Resolution::Eleven).unwrap();
    // On the straight line x = straight_x, both neighbours cover the point; the left one
    // (column 2) has the lower code in the same village, so it wins.
    let y = s.bbox().min().y + 0.5 * s.cell.1;
    let path = h.locate(LatLng::new(y, s.straight_x()).unwrap()).unwrap();
    assert_eq!(h.unit(path.grid).code.as_str(), "320612001001003");
    let path = h
        .locate(LatLng::new(y, s.straight_x() + 1e-12).unwrap())
        .unwrap();
    assert_eq!(h.unit(path.grid).code.as_str(), "320612001001004");
    // Inside the overlap rectangle (…099 over its neighbours): the neighbour with the lower
    // code wins, where there is one.
    let (ox, oy) = (s.origin.0 + 2.0 * s.cell.0, s.origin.1 + 5.0 * s.cell.1);
    let path = h.locate(LatLng::new(oy, ox).unwrap()).unwrap();
    assert_ne!(h.unit(path.grid).code.as_str(), "320612001005099");
}

#[test]
fn grid_cover_is_consistent_with_locate() {
    for res in [
        Resolution::Nine,
        Resolution::Ten,
        Resolution::Eleven,
        Resolution::Twelve,
    ] {
        grid_cover_at(res);
    }
}

fn grid_cover_at(res: Resolution) {
    let s = Synthetic::small(12, 10, 7);
    let units = s.units();
    let brute = BruteForce::new(&units);
    let h = Hierarchy::build(units.clone(), res).unwrap();
    assert_eq!(h.resolution(), res);
    let cover: Vec<(CellIndex, UnitId, bool)> = h.grid_cover().collect();
    let mut by_cell: HashMap<CellIndex, Vec<(UnitId, bool)>> = HashMap::new();
    let mut seen = HashSet::new();
    for &(cell, grid, boundary) in &cover {
        assert_eq!(cell.resolution(), res);
        assert!(seen.insert((cell, grid)), "({cell}, {grid:?}) twice");
        by_cell.entry(cell).or_default().push((grid, boundary));
    }
    assert!(cover.iter().any(|c| c.2));
    let first = cover[0].1;
    let of_first: Vec<(CellIndex, bool)> = cover
        .iter()
        .filter(|c| c.1 == first)
        .map(|c| (c.0, c.2))
        .collect();
    assert_eq!(h.cover_of(first), of_first);
    assert!(h.cover_of(h.unit(first).parent.unwrap()).is_empty());
    // Grids here are ≈300 m across: res-9 cells (≈350 m) are never wholly inside one.
    assert_eq!(cover.iter().any(|c| !c.2), res >= Resolution::Ten);
    // Interior cells: the grid covers the cell's centre and vertices.
    for (&cell, grids) in &by_cell {
        for &(grid, boundary) in grids {
            if !boundary {
                let code = h.unit(grid).code.as_str();
                let c = gridwall_spatial_centre(cell);
                assert!(
                    brute
                        .grids()
                        .any(|(g, mp)| g == code && geo::Intersects::intersects(mp, &c))
                );
            }
        }
    }
    // Every located point's cell lists the grid found.
    for p in test_points(&s, &units, 20_000, 8) {
        if let Some(path) = h.locate(LatLng::new(p.y, p.x).unwrap()) {
            let cell = h3o::LatLng::new(p.y, p.x).unwrap().to_cell(res);
            assert!(
                by_cell
                    .get(&cell)
                    .is_some_and(|g| g.iter().any(|&(id, _)| id == path.grid)),
                "{cell} lacks its grid"
            );
        }
    }
}

fn gridwall_spatial_centre(cell: CellIndex) -> Coord {
    let ll = h3o::LatLng::from(cell);
    Coord {
        x: ll.lng(),
        y: ll.lat(),
    }
}

#[test]
fn build_is_deterministic() {
    let s = Synthetic::small(8, 6, 9);
    let mut units = s.units();
    let a = Hierarchy::build(units.clone(), Resolution::Ten).unwrap();
    units.reverse();
    let b = Hierarchy::build(units, Resolution::Ten).unwrap();
    assert!(a.grid_cover().eq(b.grid_cover()));
    assert_eq!(a.heap_size_bytes(), b.heap_size_bytes());
    assert!(a.heap_size_bytes() > 0);
    for i in 0..u32::try_from(a.len()).unwrap() {
        assert_eq!(a.unit(UnitId(i)).code, b.unit(UnitId(i)).code);
    }
}

#[test]
fn empty_hierarchy_locates_nothing() {
    let h = Hierarchy::build(Vec::new(), Resolution::Eleven).unwrap();
    assert!(h.is_empty());
    assert_eq!(h.locate(LatLng::new(32.0, 120.9).unwrap()), None);
    assert_eq!(h.grid_cover().count(), 0);
}

#[test]
fn city_root_and_single_square_grid() {
    let square = |x0: f64, y0: f64, d: f64| {
        MultiPolygon::new(vec![Polygon::new(
            LineString::from(vec![(x0, y0), (x0 + d, y0), (x0 + d, y0 + d), (x0, y0 + d)]),
            vec![],
        )])
    };
    let empty = MultiPolygon::new(vec![]);
    let units = vec![
        unit("320600", "南通市", Level::City, None, empty.clone()),
        unit(
            "320612",
            "通州区",
            Level::County,
            Some("320600"),
            empty.clone(),
        ),
        unit(
            "320612001",
            "镇",
            Level::Township,
            Some("320612"),
            empty.clone(),
        ),
        unit(
            "320612001001",
            "村",
            Level::Village,
            Some("320612001"),
            empty,
        ),
        unit(
            "320612001001001",
            "网格",
            Level::Grid,
            Some("320612001001"),
            square(120.9, 32.0, 0.01),
        ),
    ];
    let h = Hierarchy::build(units, Resolution::Twelve).unwrap();
    assert_eq!(h.counts_by_level(), [1, 1, 1, 1, 1]);
    let path = h.locate(LatLng::new(32.005, 120.905).unwrap()).unwrap();
    assert_eq!(path.city, h.by_code("320600"));
    // Corners and edges are covered, a hair outside is not.
    assert!(h.locate(LatLng::new(32.0, 120.9).unwrap()).is_some());
    assert!(h.locate(LatLng::new(32.01, 120.91).unwrap()).is_some());
    assert!(h.locate(LatLng::new(32.0, 120.905).unwrap()).is_some());
    assert!(
        h.locate(LatLng::new(32.0 - 1e-13, 120.905).unwrap())
            .is_none()
    );
    assert!(
        h.locate(LatLng::new(32.005, 120.91 + 1e-13).unwrap())
            .is_none()
    );
}

/// Two grids side by side (meeting along a line through many cells) and a third that repeats
/// the first exactly: a cell on the shared line answers for the right-hand grid without a test
/// of its own, but a cell on the repeated outline must not, though there too the two grids'
/// edges are the same segments: there the reference point is inside both or neither.
#[test]
#[allow(clippy::many_single_char_names, reason = "short-lived test bindings")]
fn neighbours_answer_for_each_other_but_duplicates_do_not() {
    let rect = |x0: f64, y0: f64, x1: f64, y1: f64| {
        area(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)], vec![])
    };
    // A slanted shared edge, so that it crosses cells at every angle.
    let left = area(
        vec![
            (120.9, 32.0),
            (120.913, 32.0),
            (120.907, 32.01),
            (120.9, 32.01),
        ],
        vec![],
    );
    let right = area(
        vec![
            (120.913, 32.0),
            (120.92, 32.0),
            (120.92, 32.01),
            (120.907, 32.01),
        ],
        vec![],
    );
    let units = one_village(vec![
        ("320612001001001", "左", left),
        ("320612001001002", "右", right),
        // The same square twice, away from the others.
        ("320612001001003", "方", rect(120.93, 32.0, 120.94, 32.01)),
        ("320612001001004", "方", rect(120.93, 32.0, 120.94, 32.01)),
    ]);
    let brute = BruteForce::new(&units);
    let h = Hierarchy::build(units, Resolution::Twelve).unwrap();
    let stats = h.index_stats();
    assert!(stats.rest_candidates > 0, "{stats:?}");
    let mut rng = StdRng::seed_from_u64(5);
    let mut points = Vec::new();
    for _ in 0..40_000 {
        // Across the slanted edge and across the duplicated square's outline.
        let t: f64 = rng.random();
        let e =
            [0.0, 1e-12, 1e-9, 1e-6, 1e-4][rng.random_range(0..5)] * rng.random_range(-1.0..1.0);
        points.push(Coord {
            x: 120.913 - 0.006 * t + e,
            y: 32.0 + 0.01 * t,
        });
        let side = rng.random_range(0..4);
        let u: f64 = rng.random();
        let (x, y) = match side {
            0 => (120.93 + 0.01 * u, 32.0),
            1 => (120.94, 32.0 + 0.01 * u),
            2 => (120.93 + 0.01 * u, 32.01),
            _ => (120.93, 32.0 + 0.01 * u),
        };
        points.push(Coord {
            x: x + e,
            y: y + e * rng.random_range(-1.0..1.0),
        });
    }
    assert_eq!(compare(&h, &brute, &points), (0, 0));
    // Just outside the duplicated square: neither copy covers it.
    assert_eq!(h.locate(LatLng::new(32.005, 120.94 + 1e-7).unwrap()), None);
    let inside = h
        .locate(LatLng::new(32.005, 120.94 - 1e-7).unwrap())
        .unwrap();
    assert_eq!(h.unit(inside.grid).code.as_str(), "320612001001003");
}

/// Points on, next to and a hair off the edges and vertices of the H3 cells themselves: the
/// cells with a bare interior entry must hold only points of their grid however close to the
/// cell's edge `to_cell` puts them.
#[test]
#[allow(clippy::many_single_char_names, reason = "short-lived test bindings")]
fn agrees_next_to_cell_edges() {
    for res in [Resolution::Nine, Resolution::Ten, Resolution::Eleven] {
        let s = Synthetic::small(16, 12, 21);
        let units = s.units();
        let brute = BruteForce::new(&units);
        let h = Hierarchy::build(units, res).unwrap();
        let mut rng = StdRng::seed_from_u64(u64::from(u8::from(res)));
        let cells: Vec<CellIndex> = {
            let mut c: Vec<CellIndex> = h.grid_cover().map(|r| r.0).collect();
            c.sort_unstable();
            c.dedup();
            c
        };
        let per_edge = 30_000usize.div_ceil(6 * cells.len());
        let mut points = Vec::new();
        for &cell in &cells {
            let boundary: Vec<h3o::LatLng> = cell.boundary().iter().copied().collect();
            for (i, a) in boundary.iter().enumerate() {
                let b = boundary[(i + 1) % boundary.len()];
                for _ in 0..per_edge {
                    let t: f64 = rng.random();
                    let e = [0.0, 1e-14, 1e-12, 1e-10, 1e-9, 3e-8][rng.random_range(0..6)];
                    points.push(Coord {
                        x: a.lng() + t * (b.lng() - a.lng()) + e * rng.random_range(-1.0..1.0),
                        y: a.lat() + t * (b.lat() - a.lat()) + e * rng.random_range(-1.0..1.0),
                    });
                }
            }
        }
        assert!(points.len() >= 30_000, "{res}: {} points", points.len());
        assert_eq!(compare(&h, &brute, &points), (0, 0), "res {res}");
        let stats = h.index_stats();
        assert!(stats.interior_cells > 0 || res == Resolution::Nine);
        assert_eq!(stats.cells, cells.len());
        assert_eq!(stats.cells, stats.interior_cells + stats.boundary_cells);
    }
}

/// `grid_cover` (read back from the locate index) equals the per-grid covers recomputed by
/// `cover_of`, row for row: what the server stores in `unit_cells` is what `locate` uses.
#[test]
fn grid_cover_is_the_index() {
    let s = Synthetic::small(12, 10, 13);
    let h = Hierarchy::build(s.units(), Resolution::Eleven).unwrap();
    let cover: Vec<(CellIndex, UnitId, bool)> = h.grid_cover().collect();
    let grids: Vec<UnitId> = (0..u32::try_from(h.len()).unwrap())
        .map(UnitId)
        .filter(|&id| h.unit(id).level == Level::Grid)
        .collect();
    let recomputed: Vec<(CellIndex, UnitId, bool)> = grids
        .iter()
        .flat_map(|&g| h.cover_of(g).into_iter().map(move |(c, b)| (c, g, b)))
        .collect();
    assert_eq!(cover, recomputed);
    let stats = h.index_stats();
    assert_eq!(stats.cover_rows, cover.len());
    assert_eq!(
        stats.boundary_candidates + stats.interior_cells,
        cover.len(),
        "every row is one candidate of a boundary cell or one bare interior cell"
    );
    // Every cell of the cover locates its own centre the way the cover says: a bare interior
    // cell to its grid, a boundary cell to one of its listed grids or nothing.
    let mut by_cell: HashMap<CellIndex, Vec<(UnitId, bool)>> = HashMap::new();
    for &(cell, grid, boundary) in &cover {
        by_cell.entry(cell).or_default().push((grid, boundary));
    }
    for (cell, grids) in by_cell {
        let c = h3o::LatLng::from(cell);
        let p = LatLng::new(c.lat(), c.lng()).unwrap();
        let found = h.locate_cell(cell, p);
        if let [(grid, false)] = grids[..] {
            assert_eq!(found.map(|f| f.grid), Some(grid), "{cell}");
        } else if let Some(f) = found {
            assert!(grids.iter().any(|&(g, _)| g == f.grid), "{cell}");
        }
    }
}
