//! Planar geometry on (x = lng, y = lat) degree coordinates, as PostGIS `geometry(…, 4326)`.
//!
//! Decisions that must be exact (which side of an edge, on the edge or not) use Shewchuk's
//! robust `orient2d`; only the conservative "is this edge near this cell" test uses plain f64,
//! and its callers keep a margin many orders of magnitude above its rounding error.

use std::ops::Range;

/// A point `[x, y]` = `[lng, lat]` in degrees.
pub(crate) type Pt = [f64; 2];

/// Exact orientation of `c` relative to the directed line `a → b`: positive when `c` is on the
/// left (counter-clockwise), negative on the right, exactly zero when the three are collinear.
#[inline]
pub(crate) fn orient(a: Pt, b: Pt, c: Pt) -> f64 {
    robust::orient2d(
        robust::Coord { x: a[0], y: a[1] },
        robust::Coord { x: b[0], y: b[1] },
        robust::Coord { x: c[0], y: c[1] },
    )
}

/// True when `p` lies in the closed bounding box of the segment `a b`.
#[inline]
pub(crate) fn in_segment_box(p: Pt, a: Pt, b: Pt) -> bool {
    p[0] >= a[0].min(b[0])
        && p[0] <= a[0].max(b[0])
        && p[1] >= a[1].min(b[1])
        && p[1] <= a[1].max(b[1])
}

/// True when `p` lies exactly on the closed segment `a b` (exact).
#[inline]
pub(crate) fn on_segment(p: Pt, a: Pt, b: Pt) -> bool {
    in_segment_box(p, a, b) && orient(a, b, p) == 0.0
}

/// Where a point is relative to an area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// In the interior.
    Inside,
    /// In the exterior.
    Outside,
    /// On an edge or a vertex.
    Boundary,
}

/// Exact position of `p` relative to the area bounded by `rings` (closed rings of
/// `vertices`, even-odd rule, as valid (Multi)Polygons are: shells and holes alike).
pub(crate) fn position_in_rings(p: Pt, vertices: &[Pt], rings: &[Range<u32>]) -> Position {
    let mut inside = false;
    for ring in rings {
        let ring = &vertices[ring.start as usize..ring.end as usize];
        for w in ring.windows(2) {
            let (a, b) = (w[0], w[1]);
            if on_segment(p, a, b) {
                return Position::Boundary;
            }
            // Half-open rule on y: a vertex exactly at p's height counts as above.
            if (a[1] > p[1]) != (b[1] > p[1]) {
                // The edge crosses the horizontal line through p; does it cross right of p?
                let (lo, hi) = if a[1] < b[1] { (a, b) } else { (b, a) };
                if orient(lo, hi, p) > 0.0 {
                    inside = !inside;
                }
            }
        }
    }
    if inside {
        Position::Inside
    } else {
        Position::Outside
    }
}

/// Squared distance from `p` to the segment `a b` (plain f64).
fn dist2_point_segment(p: Pt, a: Pt, b: Pt) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (ex, ey) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    ex * ex + ey * ey
}

/// True when the segments `a b` and `c d` intersect (plain f64; callers keep a margin).
fn segments_cross(a: Pt, b: Pt, c: Pt, d: Pt) -> bool {
    let cross = |o: Pt, u: Pt, v: Pt| (u[0] - o[0]) * (v[1] - o[1]) - (u[1] - o[1]) * (v[0] - o[0]);
    let (d1, d2) = (cross(a, b, c), cross(a, b, d));
    let (d3, d4) = (cross(c, d, a), cross(c, d, b));
    (d1 > 0.0) != (d2 > 0.0) && (d3 > 0.0) != (d4 > 0.0)
}

/// True when `p` is inside the convex polygon `hull` (vertices in either order, not repeated).
pub(crate) fn in_convex(p: Pt, hull: &[Pt]) -> bool {
    let (mut pos, mut neg) = (false, false);
    for (i, &a) in hull.iter().enumerate() {
        let b = hull[(i + 1) % hull.len()];
        let c = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
        pos |= c > 0.0;
        neg |= c < 0.0;
    }
    !(pos && neg)
}

/// True when the segment `a b` comes within `eps` of the convex polygon `hull` (its interior
/// included). Plain f64: `eps` must dwarf the rounding error (it does: 1e-7° vs ~1e-14°).
pub(crate) fn segment_near_convex(a: Pt, b: Pt, hull: &[Pt], eps: f64) -> bool {
    // Cheap rejection on bounding boxes.
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for v in hull {
        x0 = x0.min(v[0]);
        y0 = y0.min(v[1]);
        x1 = x1.max(v[0]);
        y1 = y1.max(v[1]);
    }
    if a[0].max(b[0]) < x0 - eps
        || a[0].min(b[0]) > x1 + eps
        || a[1].max(b[1]) < y0 - eps
        || a[1].min(b[1]) > y1 + eps
    {
        return false;
    }
    if in_convex(a, hull) || in_convex(b, hull) {
        return true;
    }
    let eps2 = eps * eps;
    for (i, &c) in hull.iter().enumerate() {
        let d = hull[(i + 1) % hull.len()];
        if segments_cross(a, b, c, d)
            || dist2_point_segment(a, c, d) <= eps2
            || dist2_point_segment(b, c, d) <= eps2
            || dist2_point_segment(c, a, b) <= eps2
            || dist2_point_segment(d, a, b) <= eps2
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> (Vec<Pt>, Vec<Range<u32>>) {
        let v = vec![[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [0.0, 0.0]];
        (v, std::iter::once(0..5).collect())
    }

    #[test]
    fn point_in_square() {
        let (v, r) = square();
        assert_eq!(position_in_rings([1.0, 1.0], &v, &r), Position::Inside);
        assert_eq!(position_in_rings([3.0, 1.0], &v, &r), Position::Outside);
        assert_eq!(position_in_rings([2.0, 1.0], &v, &r), Position::Boundary);
        assert_eq!(position_in_rings([0.0, 0.0], &v, &r), Position::Boundary);
        assert_eq!(position_in_rings([-1.0, 0.0], &v, &r), Position::Outside);
        assert_eq!(position_in_rings([-1.0, 2.0], &v, &r), Position::Outside);
        assert_eq!(
            position_in_rings([1.0, 2.0 + 1e-15], &v, &r),
            Position::Outside
        );
    }

    #[test]
    fn holes_flip_parity() {
        let v = vec![
            [0.0, 0.0],
            [4.0, 0.0],
            [4.0, 4.0],
            [0.0, 4.0],
            [0.0, 0.0],
            [1.0, 1.0],
            [1.0, 3.0],
            [3.0, 3.0],
            [3.0, 1.0],
            [1.0, 1.0],
        ];
        let r = vec![0..5, 5..10];
        assert_eq!(position_in_rings([2.0, 2.0], &v, &r), Position::Outside);
        assert_eq!(position_in_rings([0.5, 2.0], &v, &r), Position::Inside);
        assert_eq!(position_in_rings([1.0, 2.0], &v, &r), Position::Boundary);
    }

    #[test]
    fn near_convex() {
        let hull = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        assert!(segment_near_convex([0.5, 0.5], [0.6, 0.6], &hull, 1e-7));
        assert!(segment_near_convex([-1.0, 0.5], [2.0, 0.5], &hull, 1e-7));
        assert!(segment_near_convex(
            [1.0 + 5e-8, -1.0],
            [1.0 + 5e-8, 2.0],
            &hull,
            1e-7
        ));
        assert!(!segment_near_convex(
            [1.0 + 2e-7, -1.0],
            [1.0 + 2e-7, 2.0],
            &hull,
            1e-7
        ));
        assert!(!segment_near_convex([2.0, 2.0], [3.0, 3.0], &hull, 1e-7));
        assert!(segment_near_convex(
            [2.0, 0.0],
            [0.0, 2.0 + 1e-9],
            &hull,
            1e-7
        ));
    }
}
