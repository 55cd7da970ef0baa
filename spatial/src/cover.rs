//! The H3 cover of one grid at resolution R, from which the locate index and
//! [`crate::Hierarchy::grid_cover`] are built.
//!
//! *Boundary* cells are those whose straight-line hexagon comes within [`margin_deg`] of one of
//! the grid's edges; they are found by sampling every edge densely and taking the 1-ring of
//! each sample's cell. *Interior* cells are the other cells with their centre inside: a flood
//! fill through H3 neighbours, started next to the boundary cells and never entering one. Two
//! neighbouring cells that are not boundary cells are on the same side of every edge, so the
//! flood is exact and needs no point-in-polygon test past its seeds.

use std::collections::HashSet;

use h3o::{CellIndex, Resolution};

use crate::cell_hash::CellHash;
use crate::geom::{Position, Pt, segment_near_convex};
use crate::shapes::Shapes;

type CellSet = HashSet<CellIndex, CellHash>;

/// How far (degrees) an edge may pass outside a cell's straight-line hexagon and still count
/// as meeting the cell. It dwarfs the gap between H3's true (great-circle) cell edges and the
/// straight lines through its vertices in lng/lat (about L²·tan(lat)/8 for an edge of L
/// radians: 3e-9° at res 9, 6e-10° at res 10, 32°N; the second term covers it up to
/// |lat| ≈ 86°) and all rounding, so every point that `to_cell` puts in a cell lies within the
/// margin of its hexagon: the locate index relies on it (`locate_index.rs`).
#[must_use]
pub(crate) fn margin_deg(resolution: Resolution) -> f64 {
    let edge = resolution.edge_length_rads();
    1e-7 + 2.0 * edge * edge * (180.0 / std::f64::consts::PI)
}

/// The straight-line hexagon (or pentagon, or distorted polygon) of a cell, `[lng, lat]`,
/// unwrapped around the first vertex so that it never straddles the antimeridian.
pub(crate) fn cell_hull(cell: CellIndex) -> Vec<Pt> {
    let boundary = cell.boundary();
    let mut hull: Vec<Pt> = boundary.iter().map(|ll| [ll.lng(), ll.lat()]).collect();
    if let Some(&[x0, _]) = hull.first() {
        for v in &mut hull {
            if v[0] - x0 > 180.0 {
                v[0] -= 360.0;
            } else if x0 - v[0] > 180.0 {
                v[0] += 360.0;
            }
        }
    }
    hull
}

/// The centre of a cell, `[lng, lat]`.
pub(crate) fn cell_centre(cell: CellIndex) -> Pt {
    let ll = h3o::LatLng::from(cell);
    [ll.lng(), ll.lat()]
}

/// How many pieces to cut `a b` into so that consecutive samples are at most `step_m` apart.
fn sample_count(a: Pt, b: Pt, step_m: f64) -> u32 {
    const M_PER_DEG: f64 = 111_320.0;
    // Metres per degree of longitude shrink with latitude; use the larger cosine (the longer
    // distance) of the two ends, so the estimate never undercounts.
    let coslat = a[1].abs().min(b[1].abs()).to_radians().cos();
    let dx = (b[0] - a[0]).abs() * M_PER_DEG * coslat;
    let dy = (b[1] - a[1]).abs() * M_PER_DEG;
    let n = (dx.hypot(dy) / step_m).ceil();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped"
    )]
    let n = n.clamp(1.0, f64::from(u32::MAX >> 1)) as u32;
    n
}

fn to_cell(p: Pt, resolution: Resolution) -> Option<CellIndex> {
    h3o::LatLng::new(p[1], p[0])
        .ok()
        .map(|ll| ll.to_cell(resolution))
}

/// The cells at `resolution` that meet grid `g` of `shapes`, with `true` for boundary cells,
/// sorted by index. Empty if the grid's coordinates are not WGS84 (checked at build).
///
/// With `near_edges`, also pushes `(cell, k)` for every boundary cell and every edge `k` of the
/// grid that comes within the margin of the cell's hexagon (what makes it a boundary cell):
/// the only edges of `g` that can separate two points of the cell.
#[allow(
    clippy::many_single_char_names,
    reason = "geometry: g, k, a, b, p, q name a grid, an edge and points as in the comments"
)]
pub(crate) fn grid_cells(
    shapes: &Shapes,
    g: usize,
    resolution: Resolution,
    mut near_edges: Option<&mut Vec<(CellIndex, u32)>>,
) -> Vec<(CellIndex, bool)> {
    let margin = margin_deg(resolution);
    // Samples at most 0.35 mean edge lengths apart: a point within the margin of a cell is
    // then in the 1-ring of the nearest sample's cell (a cell is at least one edge length from
    // any cell that is not its neighbour).
    let step_m = 0.35 * resolution.edge_length_m();
    let mut pairs: Vec<(CellIndex, u32)> = Vec::new();
    for k in shapes.edges(g) {
        let (a, b) = shapes.edge(k);
        let n = sample_count(a, b, step_m);
        let mut last = None;
        for i in 0..=n {
            let t = f64::from(i) / f64::from(n);
            let p = if i == n {
                b
            } else {
                [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
            };
            let Some(cell) = to_cell(p, resolution) else {
                return Vec::new();
            };
            if last == Some(cell) {
                continue;
            }
            last = Some(cell);
            pairs.extend(cell.grid_disk::<Vec<_>>(1).into_iter().map(|nb| (nb, k)));
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    let mut band: Vec<CellIndex> = Vec::new();
    for group in pairs.chunk_by(|x, y| x.0 == y.0) {
        let hull = cell_hull(group[0].0);
        let near = |k: u32| {
            let (a, b) = shapes.edge(k);
            segment_near_convex(a, b, &hull, margin)
        };
        if let Some(out) = near_edges.as_deref_mut() {
            let before = out.len();
            out.extend(group.iter().filter(|&&(_, k)| near(k)).copied());
            if out.len() > before {
                band.push(group[0].0);
            }
        } else if group.iter().any(|&(_, k)| near(k)) {
            band.push(group[0].0);
        }
    }

    // Flood fill from the interior neighbours of the band.
    let mut seen: CellSet = band.iter().copied().collect();
    let mut interior: Vec<CellIndex> = Vec::new();
    for &b in &band {
        for nb in b.grid_disk::<Vec<_>>(1) {
            if !seen.contains(&nb) {
                seen.insert(nb);
                if shapes.position(g, cell_centre(nb)) == Position::Inside {
                    interior.push(nb);
                }
            }
        }
    }
    let mut next = 0;
    while let Some(&cell) = interior.get(next) {
        next += 1;
        for nb in cell.grid_disk::<Vec<_>>(1) {
            if seen.insert(nb) {
                interior.push(nb);
            }
        }
    }
    let mut cells: Vec<(CellIndex, bool)> = band
        .into_iter()
        .map(|c| (c, true))
        .chain(interior.into_iter().map(|c| (c, false)))
        .collect();
    cells.sort_unstable();
    cells
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn margin_is_small_but_safe() {
        assert!(margin_deg(Resolution::Nine) < 3e-7);
        assert!(margin_deg(Resolution::Twelve) < 1.1e-7);
        assert!(margin_deg(Resolution::Twelve) >= 1e-7);
    }

    #[test]
    fn square_cover_matches_cell_geometry() {
        use geo::{Intersects, LineString, MultiPolygon, Polygon};
        let square = MultiPolygon::new(vec![Polygon::new(
            LineString::from(vec![
                (120.9, 32.0),
                (120.91, 32.0),
                (120.91, 32.01),
                (120.9, 32.01),
            ]),
            vec![],
        )]);
        let shapes = Shapes::new([&square]).unwrap();
        let res = Resolution::Ten;
        let cells = grid_cells(&shapes, 0, res, None);
        let listed: std::collections::HashMap<CellIndex, bool> = cells.iter().copied().collect();
        // Every cell around the square: listed iff its hexagon meets the square (up to the
        // margin), boundary iff an edge crosses it.
        let centre = h3o::LatLng::new(32.005, 120.905).unwrap().to_cell(res);
        for cell in centre.grid_disk::<Vec<_>>(12) {
            let hex = Polygon::new(
                LineString::from(
                    cell_hull(cell)
                        .into_iter()
                        .map(|[x, y]| (x, y))
                        .collect::<Vec<_>>(),
                ),
                vec![],
            );
            let meets = hex.intersects(&square);
            let crosses = hex.intersects(square.0[0].exterior());
            let got = listed.get(&cell).copied();
            if crosses {
                assert_eq!(got, Some(true), "{cell} crosses the edge");
            } else if meets {
                // Inside, or a boundary cell by the margin.
                let d = geo::Distance::distance(&geo::Euclidean, &hex, square.0[0].exterior());
                let want = if d <= margin_deg(res) {
                    Some(true)
                } else {
                    Some(false)
                };
                assert_eq!(got, want, "{cell} is inside, {d:e}° from the edge");
            } else {
                // Outside, or a boundary cell by the margin.
                assert_ne!(got, Some(false), "{cell} is outside");
            }
        }
    }
}
