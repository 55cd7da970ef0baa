//! The grid polygons as closed rings in one flat vertex array, indexed by grid ordinal (the
//! position of the grid in code order): what the cover samples and what `locate` tests exactly.
//!
//! Invariants: every ring is closed (last vertex = first) and has at least four vertices;
//! coordinates are finite WGS84 degrees (checked by `Hierarchy::build` before).

use std::ops::Range;

use crate::error::HierarchyError;
use crate::geom::{Position, Pt, position_in_rings};

/// The grid polygons as closed rings in one vertex array (x = lng, y = lat, degrees). Flat
/// arrays, so that an exact test touches few cache lines: `locate` runs one per candidate.
#[derive(Debug)]
pub(crate) struct Shapes {
    /// All ring vertices; an edge `k` is `vertices[k] → vertices[k + 1]` within a ring.
    pub vertices: Vec<Pt>,
    /// All rings as ranges of `vertices` (last vertex repeats the first), grid by grid.
    rings: Vec<Range<u32>>,
    /// Grid `g`'s rings are `rings[first_ring[g]..first_ring[g + 1]]`.
    first_ring: Vec<u32>,
}

impl Shapes {
    /// Collects the rings of `polygons` (one per grid ordinal), closing any open ring.
    #[allow(
        clippy::float_cmp,
        reason = "a ring is closed when its last vertex repeats the first exactly"
    )]
    pub(crate) fn new<'a>(
        polygons: impl IntoIterator<Item = &'a geo::MultiPolygon<f64>>,
    ) -> Result<Self, HierarchyError> {
        let too_large = || HierarchyError::TooLarge("more than 2^32 polygon vertices".into());
        let mut shapes = Self {
            vertices: Vec::new(),
            rings: Vec::new(),
            first_ring: vec![0],
        };
        for polygon in polygons {
            for part in &polygon.0 {
                for ring in std::iter::once(part.exterior()).chain(part.interiors()) {
                    let start = shapes.vertices.len();
                    shapes.vertices.extend(ring.0.iter().map(|c| [c.x, c.y]));
                    if let (Some(&first), Some(&last)) =
                        (shapes.vertices.get(start), shapes.vertices.last())
                        && first != last
                    {
                        shapes.vertices.push(first);
                    }
                    let start = u32::try_from(start).map_err(|_| too_large())?;
                    let end = u32::try_from(shapes.vertices.len()).map_err(|_| too_large())?;
                    shapes.rings.push(start..end);
                }
            }
            let rings = u32::try_from(shapes.rings.len()).map_err(|_| too_large())?;
            shapes.first_ring.push(rings);
        }
        shapes.vertices.shrink_to_fit();
        shapes.rings.shrink_to_fit();
        shapes.first_ring.shrink_to_fit();
        Ok(shapes)
    }

    /// The edges of grid `g` as vertex indexes, zero-length edges left out.
    #[allow(
        clippy::float_cmp,
        reason = "a zero-length edge repeats the vertex exactly; near-equal ones are real edges"
    )]
    pub(crate) fn edges(&self, g: usize) -> impl Iterator<Item = u32> + '_ {
        self.rings_of(g)
            .iter()
            .flat_map(|r| r.start..r.end.saturating_sub(1))
            .filter(|&k| self.vertices[k as usize] != self.vertices[k as usize + 1])
    }

    /// The edge `k`.
    #[inline]
    pub(crate) fn edge(&self, k: u32) -> (Pt, Pt) {
        (self.vertices[k as usize], self.vertices[k as usize + 1])
    }

    /// Exact position of `p` relative to grid `g`.
    pub(crate) fn position(&self, g: usize, p: Pt) -> Position {
        position_in_rings(p, &self.vertices, self.rings_of(g))
    }

    /// Number of grids.
    pub(crate) fn len(&self) -> usize {
        self.first_ring.len() - 1
    }

    /// The rings of grid `g`.
    #[inline]
    fn rings_of(&self, g: usize) -> &[Range<u32>] {
        let (a, b) = (self.first_ring[g] as usize, self.first_ring[g + 1] as usize);
        &self.rings[a..b]
    }

    /// Heap bytes held.
    pub(crate) fn heap_size_bytes(&self) -> usize {
        self.vertices.capacity() * size_of::<Pt>()
            + self.rings.capacity() * size_of::<Range<u32>>()
            + self.first_ring.capacity() * size_of::<u32>()
    }
}
