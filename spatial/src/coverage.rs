//! Patrol coverage math: which H3 cells belong to a grid, which cells a patrol passed through
//! between two reports, and how unit figures roll up the hierarchy.
//!
//! A cell belongs to the grid that contains its centre (exactly, by [`Hierarchy::locate`]):
//! so the grids' cell sets partition the territory's cells, and a unit's cells are the union
//! of its grids'. A grid smaller than a cell may own none at coarse resolutions; its share is
//! then undefined (`None`), and it weighs nothing in the roll-up.

use std::collections::HashSet;

use h3o::{CellIndex, Resolution};

use crate::distance::haversine_m;
use crate::hierarchy::{Hierarchy, UnitId};
use crate::types::LatLng;
use crate::types::h3_latlng;

/// The cells of `grid` at `resolution` (each cell whose centre lies in the grid), sorted.
/// Resolutions at or finer than the hierarchy's cover are found among the cover's
/// descendants; coarser ones among its ancestors. Empty when `grid` is not a grid.
#[must_use]
pub fn grid_cells(h: &Hierarchy, grid: UnitId, resolution: Resolution) -> Vec<CellIndex> {
    let cover = h.cover_of(grid);
    let mut candidates: HashSet<CellIndex> = HashSet::new();
    for (cell, _) in cover {
        if resolution >= h.resolution() {
            candidates.extend(cell.children(resolution));
        } else if let Some(parent) = cell.parent(resolution) {
            candidates.insert(parent);
        }
    }
    let mut out: Vec<CellIndex> = candidates
        .into_iter()
        .filter(|&c| {
            let centre = h3o::LatLng::from(c);
            LatLng::new(centre.lat(), centre.lng())
                .ok()
                .and_then(|p| h.locate(p))
                .is_some_and(|path| path.grid == grid)
        })
        .collect();
    out.sort_unstable();
    out
}

/// The cells at `resolution` a straight walk from `a` to `b` passes through, `a`'s first and
/// `b`'s last, each once. The segment is sampled at most a fifth of an edge length apart, so a
/// cell it crosses by less than that near a corner may be missed; it never lists a cell the
/// segment does not come within that distance of.
#[must_use]
#[allow(
    clippy::many_single_char_names,
    reason = "geometry: a and b are the segment's ends, as in the doc comment"
)]
pub fn path_cells(a: LatLng, b: LatLng, resolution: Resolution) -> Vec<CellIndex> {
    let step_m = resolution.edge_length_m() / 5.0;
    let d = haversine_m(a, b);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "finite, non-negative and bounded by the caller's distance cap"
    )]
    let n = (d / step_m).ceil().clamp(1.0, 1_000_000.0) as u32;
    let mut out: Vec<CellIndex> = Vec::new();
    for i in 0..=n {
        let t = f64::from(i) / f64::from(n);
        let lat = a.lat() + (b.lat() - a.lat()) * t;
        let lng = a.lng() + (b.lng() - a.lng()) * t;
        let Ok(p) = LatLng::new(lat, lng) else {
            continue;
        };
        let cell = h3_latlng(p).to_cell(resolution);
        if out.last() != Some(&cell) && !out.contains(&cell) {
            out.push(cell);
        }
    }
    out
}

/// One unit's coverage: cells visited of its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CellCount {
    /// Cells the patrols passed through.
    pub visited: u64,
    /// Cells of the unit.
    pub total: u64,
}

impl CellCount {
    /// Visited / total, `None` for a unit without cells.
    #[must_use]
    pub fn share(self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss, reason = "cell counts are far below 2^52")]
        (self.total > 0).then(|| self.visited as f64 / self.total as f64)
    }
}

/// The area-weighted share of several units: Σ share·area / Σ area over those with a share.
/// `None` when none has one.
#[must_use]
pub fn area_weighted(parts: impl IntoIterator<Item = (Option<f64>, f64)>) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for (share, area) in parts {
        if let Some(s) = share {
            num += s * area;
            den += area;
        }
    }
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lng: f64, lat: f64) -> LatLng {
        LatLng::new(lat, lng).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn a_path_lists_every_cell_it_crosses_once() {
        let res = Resolution::Eleven;
        let a = p(120.0, 32.0);
        // ≈ 1 km east: about 1,000 / (2 × 25 m) cells at least.
        let b = p(120.0106, 32.0);
        let cells = path_cells(a, b, res);
        assert_eq!(cells.first(), Some(&h3_latlng(a).to_cell(res)));
        assert_eq!(cells.last(), Some(&h3_latlng(b).to_cell(res)));
        let unique: HashSet<_> = cells.iter().collect();
        assert_eq!(unique.len(), cells.len());
        // Consecutive cells touch: the walk has no holes.
        for w in cells.windows(2) {
            assert!(w[0].is_neighbor_with(w[1]).unwrap_or(false), "{w:?}");
        }
        assert!(cells.len() >= 20, "{}", cells.len());
        // Standing still: one cell.
        assert_eq!(path_cells(a, a, res).len(), 1);
    }

    #[test]
    fn shares_and_weights() {
        assert_eq!(
            CellCount {
                visited: 0,
                total: 0
            }
            .share(),
            None
        );
        assert_eq!(
            CellCount {
                visited: 3,
                total: 4
            }
            .share(),
            Some(0.75)
        );
        // 100 % of 1 km² and 0 % of 3 km²: 25 %; a unit without cells weighs nothing.
        let w = area_weighted([(Some(1.0), 1.0), (Some(0.0), 3.0), (None, 5.0)]);
        assert_eq!(w, Some(0.25));
        assert_eq!(area_weighted([(None, 1.0)]), None);
    }
}
