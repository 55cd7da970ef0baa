//! Exact point location on a [`TileIndex`]: two multiplications find the top tile, at most
//! [`crate::tiles::MAX_DEPTH`] steps the sub-tile, and a busy tile's record is resolved by a
//! crossing count against the few edges near the tile.
//!
//! Exactness: every side-of-line decision is Shewchuk's `orient2d`, so the answer equals
//! PostGIS `ST_Covers(grid.geom, point)` (boundary included) wherever the input polygons are
//! valid, not only away from the edges. Several covering grids: the lowest code wins.

use crate::geom::{Pt, in_segment_box, orient};
use crate::tiles::{LOW, RECORD_HEADER, TAG_GRID, TAG_RECORD, TAG_SHIFT, TAG_SUB, TileIndex};

impl TileIndex {
    /// The ordinal of the lowest-coded grid that covers (`lng`, `lat`).
    #[inline]
    pub(crate) fn locate(&self, lat: f64, lng: f64) -> Option<u32> {
        let mut fx = (lng - self.x0) * self.inv_w;
        let mut fy = (lat - self.y0) * self.inv_h;
        // Also rejects NaN.
        if !(fx >= 0.0 && fy >= 0.0) {
            return None;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "non-negative; range checked next"
        )]
        let (mut ix, mut iy) = (fx as usize, fy as usize);
        if ix >= self.nx || iy >= self.ny {
            return None;
        }
        let mut value = *self.top.get(iy * self.nx + ix)?;
        loop {
            match value >> TAG_SHIFT {
                TAG_GRID => return Some(value),
                TAG_SUB => {
                    // Scaling by 4 is exact, so the sub-tile is the parent's 4×4 refinement.
                    fx *= 4.0;
                    fy *= 4.0;
                    #[allow(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "non-negative"
                    )]
                    let (jx, jy) = (fx as usize, fy as usize);
                    let (dx, dy) = (
                        jx.saturating_sub(4 * ix).min(3),
                        jy.saturating_sub(4 * iy).min(3),
                    );
                    (ix, iy) = (jx, jy);
                    value = *self.subs.get((value & LOW) as usize * 16 + dy * 4 + dx)?;
                }
                TAG_RECORD => return self.resolve((value & LOW) as usize, [lng, lat]),
                _ => return None,
            }
        }
    }

    /// Tests the candidates of the record at `offset`, lowest code first.
    fn resolve(&self, offset: usize, p: Pt) -> Option<u32> {
        let head = self.blob.get(offset..offset + RECORD_HEADER)?;
        let x = f64::from_bits(u64::from(head[0]) | u64::from(head[1]) << 32);
        let y = f64::from_bits(u64::from(head[2]) | u64::from(head[3]) << 32);
        let reference = [x, y];
        let mut pos = offset + RECORD_HEADER;
        for _ in 0..head[4] {
            let grid = *self.blob.get(pos)?;
            let meta = *self.blob.get(pos + 1)?;
            let n = (meta >> 1) as usize;
            let edges = self.blob.get(pos + 2..pos + 2 + n)?;
            pos += 2 + n;
            if n == 0 || self.covers(p, reference, meta & 1 == 1, edges) {
                return Some(grid);
            }
        }
        None
    }

    /// Whether `p` is inside or on the grid whose edges near the tile are `edges`, given the
    /// status of `reference` (a point of the same tile off every edge's line).
    ///
    /// Walks from the reference to `p`: each edge crossing the segment flips the status. The
    /// segment stays inside the tile (convex), so only edges near the tile can cross it. A
    /// vertex exactly on the segment's line counts as left of it (half-open rule, as if every
    /// such vertex were nudged left): that nudge changes neither end's status, because `p` is
    /// off every edge by then and the reference off every edge's line.
    #[inline]
    fn covers(&self, p: Pt, reference: Pt, inside_at_ref: bool, edges: &[u32]) -> bool {
        let mut inside = inside_at_ref;
        for &k in edges {
            let (a, b) = self.shapes.edge(k);
            if in_segment_box(p, a, b) && orient(a, b, p) == 0.0 {
                return true; // On the boundary: ST_Covers includes it.
            }
            let left_a = orient(reference, p, a) >= 0.0;
            let left_b = orient(reference, p, b) >= 0.0;
            if left_a != left_b {
                // a and b straddle the line; the edge crosses the segment iff the reference and
                // p straddle the edge's line (neither is on it: the reference by construction,
                // p because it would then be the crossing point, on the edge, handled above).
                let side_p = orient(a, b, p) > 0.0;
                let side_r = orient(a, b, reference) > 0.0;
                if side_p != side_r {
                    inside = !inside;
                }
            }
        }
        inside
    }
}
