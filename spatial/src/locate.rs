//! Exact point location on the [`LocateIndex`]: one lookup of the point's H3 cell; an interior
//! cell answers directly, a boundary cell by a crossing count against the few edges of each
//! candidate grid that come near the cell (copied into the cell's record), lowest code first,
//! and the second of two grids that meet along a line through the cell without a test.
//!
//! Exactness: every side-of-line decision is Shewchuk's `orient2d`, so the answer equals
//! PostGIS `ST_Covers(grid.geom, point)` (boundary included) wherever the input polygons are
//! valid, not only away from the edges. Several covering grids: the lowest code wins. A cell
//! with a bare interior entry holds only points strictly inside one grid, in a boundary cell
//! only the record's edges can separate the point from the reference point, and a grid marked
//! as the rest of its cell covers exactly the points its neighbour does not (the arguments are
//! in `locate_index.rs`), so the shortcuts change no answer.

use h3o::CellIndex;

use crate::geom::{Position, Pt, in_segment_box, orient};
use crate::locate_index::{
    EDGE_WORDS, FULL, INSIDE, LAST, LIST, LocateIndex, ORDINAL, RECORD_HEADER, REST, WHOLE,
    candidate, candidate_words,
};
use crate::shapes::Shapes;

impl LocateIndex {
    /// The ordinal of the lowest-coded grid that covers `p` (`[lng, lat]`), given `cell`, the
    /// H3 cell of `p` at the index's resolution.
    #[inline]
    pub(crate) fn locate(&self, shapes: &Shapes, cell: CellIndex, p: Pt) -> Option<u32> {
        let entry = self.entry(cell)?;
        self.answer(entry, shapes, p)
    }

    /// The table entry of `cell` (module docs of `locate_index.rs`), `None` when no grid meets it.
    #[inline]
    pub(crate) fn entry(&self, cell: CellIndex) -> Option<u32> {
        let (prefix, key) = self.split.split(u64::from(cell));
        let part = match self.parts.as_slice() {
            [(only, map)] if *only == prefix => map,
            parts => &parts[parts.binary_search_by_key(&prefix, |p| p.0).ok()?].1,
        };
        part.get(key)
    }

    /// The grid ordinal that `entry` (of `p`'s cell) gives for `p`.
    #[inline]
    pub(crate) fn answer(&self, entry: u32, shapes: &Shapes, p: Pt) -> Option<u32> {
        if entry & LIST == 0 {
            return Some(entry);
        }
        self.resolve((entry & !LIST) as usize, shapes, p)
    }

    /// [`Self::locate`] of many points, in stages so that the cache misses of different points
    /// overlap: one at a time, each point's table read waits behind its own `to_cell` (hundreds
    /// of instructions, more than the CPU looks ahead), so the misses are paid in series. Here
    /// all entries are read in one tight loop, then the first word of every boundary cell's
    /// record, then the answers. `cells[i]` must be the cell of `points[i]`; `out` gets one
    /// answer per point (cleared first).
    pub(crate) fn locate_batch(
        &self,
        shapes: &Shapes,
        cells: &[CellIndex],
        points: &[Pt],
        out: &mut Vec<Option<u32>>,
    ) {
        out.clear();
        out.extend(cells.iter().map(|&c| self.entry(c)));
        // Touch every record's first candidate word (its header sits in the same or the line
        // before, its first edges in the same or the next);
        // the fold keeps the loads, and its result is only a checksum nobody reads twice.
        let touched = out
            .iter()
            .flatten()
            .filter(|&&e| e & LIST != 0)
            .fold(0u64, |acc, &e| {
                acc ^ self
                    .records
                    .get((e & !LIST) as usize + RECORD_HEADER)
                    .copied()
                    .unwrap_or(0)
            });
        std::hint::black_box(touched);
        for (answer, &p) in out.iter_mut().zip(points) {
            *answer = answer.and_then(|e| self.answer(e, shapes, p));
        }
    }

    /// Tests the candidates of the record at `offset`, lowest code first.
    fn resolve(&self, offset: usize, shapes: &Shapes, p: Pt) -> Option<u32> {
        let head = self.records.get(offset..offset + RECORD_HEADER)?;
        let reference = [f64::from_bits(head[0]), f64::from_bits(head[1])];
        let mut k = offset + RECORD_HEADER;
        loop {
            let (head, n) = candidate(*self.records.get(k)?);
            let g = head & ORDINAL;
            let covered = if head & WHOLE != 0 || n == REST {
                true
            } else if n == FULL {
                shapes.position(g as usize, p) != Position::Outside
            } else {
                let edges = self.records.get(k + 1..k + candidate_words(n))?;
                covers(p, reference, head & INSIDE != 0, edges)
            };
            if covered {
                return Some(g);
            }
            if head & LAST != 0 {
                return None;
            }
            k += candidate_words(n);
        }
    }
}

/// Whether `p` is inside or on the grid whose edges near the cell are `edges` (`ax ay bx by`
/// as f64 bits, each directed with `reference` on its left), given the status of `reference`
/// (a point of the cell off every such edge's line).
///
/// Walks from the reference to `p`: each edge crossing the segment flips the status. The
/// segment stays within the cell's hexagon grown by the cover's margin (convex), so only edges
/// near the cell can cross it. An edge can only cross it when `p` is strictly right of the
/// edge's line (on the line, `p` is on the edge or the segment meets the line at `p` alone,
/// outside the edge), and then does iff its ends straddle the segment's line. A vertex exactly
/// on that line counts as left of it (half-open rule, as if every such vertex were nudged
/// left): that nudge changes neither end's status, because `p` is off every edge by then and
/// the reference off every edge's line.
#[inline]
fn covers(p: Pt, reference: Pt, inside_at_ref: bool, edges: &[u64]) -> bool {
    let mut inside = inside_at_ref;
    for e in edges.chunks_exact(EDGE_WORDS) {
        let a = [f64::from_bits(e[0]), f64::from_bits(e[1])];
        let b = [f64::from_bits(e[2]), f64::from_bits(e[3])];
        let side = orient(a, b, p);
        if side > 0.0 {
            continue; // On the reference's side: no crossing.
        }
        if side == 0.0 {
            if in_segment_box(p, a, b) {
                return true; // On the boundary: ST_Covers includes it.
            }
            continue;
        }
        let left_a = orient(reference, p, a) >= 0.0;
        let left_b = orient(reference, p, b) >= 0.0;
        if left_a != left_b {
            inside = !inside;
        }
    }
    inside
}
