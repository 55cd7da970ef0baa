//! The planar tile index that [`crate::locate`] reads: a raster of lng/lat tiles over the
//! grids, each tile empty, wholly inside one grid, split into 4×4 sub-tiles, or a *record*.
//!
//! A record keeps the candidate grids of its tile (code order), each with the polygon edges
//! that come within [`TILE_MARGIN_DEG`] of the tile and the exact inside/outside status of a
//! reference point of the tile. Tiles with more than [`LEAF_EDGES`] edges are split, down to
//! [`MAX_DEPTH`] levels.
//!
//! Invariants: a tile value is `GRID | ordinal`, `SUB | block`, `RECORD | offset` or `EMPTY`;
//! a tile holds a grid ordinal only if that grid is the lowest-coded grid covering all of the
//! tile grown by the margin; a record's reference point is inside its tile and off the
//! supporting line of every edge the record names; candidates after one that covers the whole
//! tile are dropped (it always wins).

use std::ops::Range;

use crate::error::HierarchyError;
use crate::geom::{Position, Pt, orient, position_in_rings};
use crate::types::UnitCode;

/// Tag of a tile value (top two bits).
pub(crate) const TAG_SHIFT: u32 = 30;
/// The tile lies inside the grid whose ordinal is in the low bits.
pub(crate) const TAG_GRID: u32 = 0;
/// The tile is split; the low bits are the index of its block of 16 in `subs`.
pub(crate) const TAG_SUB: u32 = 1;
/// The low bits are the offset of the tile's record in `blob`.
pub(crate) const TAG_RECORD: u32 = 2;
/// No grid meets the tile.
pub(crate) const EMPTY: u32 = u32::MAX;
/// Mask of the low bits of a tile value.
pub(crate) const LOW: u32 = (1 << TAG_SHIFT) - 1;
/// Words at the start of a record: reference x and y as f64 bits, then the candidate count.
pub(crate) const RECORD_HEADER: usize = 5;

/// How far (degrees) an edge may pass outside a tile and still count as meeting it. It only
/// has to dwarf the rounding of "which tile is this point in" (≈1e-15°), about 0.1 mm.
pub(crate) const TILE_MARGIN_DEG: f64 = 1e-9;
/// A tile with more candidate edges than this is split (if not at [`MAX_DEPTH`]).
pub(crate) const LEAF_EDGES: usize = 10;
/// Most levels of 4×4 splitting below a top tile.
pub(crate) const MAX_DEPTH: u32 = 3;
/// Top tiles per grid, on average over the bounding box.
const TOP_TILES_PER_GRID: f64 = 64.0;
/// Upper bound on top tiles (64 MB of table).
const MAX_TOP_TILES: f64 = 16e6;

/// Marks a claim of a grid that covers the whole tile, in build-time edge lists.
const NO_EDGE: u32 = u32::MAX;

/// The grid polygons as closed rings in one vertex array (x = lng, y = lat, degrees).
#[derive(Debug, Default)]
pub(crate) struct Shapes {
    /// All ring vertices; an edge `k` is `vertices[k] → vertices[k + 1]` within a ring.
    pub vertices: Vec<Pt>,
    /// Per grid ordinal, its rings as ranges of `vertices` (last vertex repeats the first).
    pub rings: Vec<Vec<Range<u32>>>,
}

impl Shapes {
    /// Collects the rings of `polygons` (one per grid ordinal), closing any open ring.
    pub(crate) fn new<'a>(
        polygons: impl IntoIterator<Item = &'a geo::MultiPolygon<f64>>,
    ) -> Result<Self, HierarchyError> {
        let too_large = || HierarchyError::TooLarge("more than 2^32 polygon vertices".into());
        let mut shapes = Self::default();
        for polygon in polygons {
            let mut rings = Vec::new();
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
                    rings.push(start..end);
                }
            }
            shapes.rings.push(rings);
        }
        Ok(shapes)
    }

    /// The edges of grid `g` as vertex indexes, zero-length edges left out.
    pub(crate) fn edges(&self, g: usize) -> impl Iterator<Item = u32> + '_ {
        self.rings[g]
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
        position_in_rings(p, &self.vertices, &self.rings[g])
    }
}

/// Figures about the locate index, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexStats {
    /// Tiles in the top raster.
    pub top_tiles: usize,
    /// Blocks of 4×4 sub-tiles.
    pub sub_blocks: usize,
    /// Tiles that need an exact test (records).
    pub records: usize,
    /// (record, candidate grid) pairs.
    pub record_candidates: usize,
    /// Edge references kept in records.
    pub record_edges: usize,
    /// Polygon vertices kept.
    pub vertices: usize,
}

/// The index.
#[derive(Debug, Default)]
pub(crate) struct TileIndex {
    /// Lng of the west edge of the raster.
    pub x0: f64,
    /// Lat of the south edge of the raster.
    pub y0: f64,
    /// Top tiles per degree of lng.
    pub inv_w: f64,
    /// Top tiles per degree of lat.
    pub inv_h: f64,
    /// Columns of the top raster.
    pub nx: usize,
    /// Rows of the top raster.
    pub ny: usize,
    /// Top tile values, row-major from the south-west.
    pub top: Vec<u32>,
    /// Blocks of 16 sub-tile values, row-major from the south-west of their tile.
    pub subs: Vec<u32>,
    /// Records: `[ref_x lo, ref_x hi, ref_y lo, ref_y hi, n]`, then per candidate
    /// `[grid, n_edges << 1 | inside_at_ref, edge…]`.
    pub blob: Vec<u32>,
    /// The polygons.
    pub shapes: Shapes,
    /// Figures.
    pub stats: IndexStats,
}

/// An axis-aligned rectangle `[x0, x1] × [y0, y1]`, degrees.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Rect {
    fn centre(&self) -> Pt {
        [0.5 * (self.x0 + self.x1), 0.5 * (self.y0 + self.y1)]
    }

    fn grown(&self, by: f64) -> Self {
        Self {
            x0: self.x0 - by,
            y0: self.y0 - by,
            x1: self.x1 + by,
            y1: self.y1 + by,
        }
    }

    /// Sub-tile `(i, j)` of a 4×4 split.
    fn quarter(&self, i: usize, j: usize) -> Self {
        #[allow(clippy::cast_precision_loss, reason = "0..=4")]
        let (fi, fj) = (i as f64, j as f64);
        let (w, h) = (0.25 * (self.x1 - self.x0), 0.25 * (self.y1 - self.y0));
        Self {
            x0: self.x0 + fi * w,
            y0: self.y0 + fj * h,
            x1: self.x0 + (fi + 1.0) * w,
            y1: self.y0 + (fj + 1.0) * h,
        }
    }

    /// Whether the segment `a b` meets the rectangle (plain f64; callers grow the rectangle by a
    /// margin far above the rounding error).
    fn meets_segment(&self, a: Pt, b: Pt) -> bool {
        if a[0].max(b[0]) < self.x0
            || a[0].min(b[0]) > self.x1
            || a[1].max(b[1]) < self.y0
            || a[1].min(b[1]) > self.y1
        {
            return false;
        }
        // Bounding boxes overlap: the segment meets the box unless all four corners are
        // strictly on one side of its line.
        let side = |x: f64, y: f64| (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]);
        let s = [
            side(self.x0, self.y0),
            side(self.x1, self.y0),
            side(self.x0, self.y1),
            side(self.x1, self.y1),
        ];
        !(s.iter().all(|&v| v > 0.0) || s.iter().all(|&v| v < 0.0))
    }
}

/// Why a tile could not be indexed.
#[derive(Debug)]
enum NodeError {
    /// No reference point found for a tile of this grid ordinal.
    Degenerate(u32),
    /// A 30-bit limit was hit.
    TooLarge(&'static str),
}

/// One candidate grid of a tile during the build: its edges near the tile, or none when it
/// covers the whole tile.
#[derive(Debug, Clone)]
struct Claim {
    grid: u32,
    edges: Vec<u32>,
}

impl TileIndex {
    /// Builds the index of `shapes` (one per grid ordinal, in code order; `codes` alike).
    pub(crate) fn build(shapes: Shapes, codes: &[&UnitCode]) -> Result<Self, HierarchyError> {
        let grid_count = u32::try_from(shapes.rings.len())
            .ok()
            .filter(|&n| n <= LOW)
            .ok_or_else(|| {
                HierarchyError::TooLarge(format!("{} grids (at most {LOW})", shapes.rings.len()))
            })?;
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for r in shapes.rings.iter().flatten() {
            for v in &shapes.vertices[r.start as usize..r.end as usize] {
                x0 = x0.min(v[0]);
                y0 = y0.min(v[1]);
                x1 = x1.max(v[0]);
                y1 = y1.max(v[1]);
            }
        }
        if grid_count == 0 || x0 > x1 {
            return Ok(Self {
                shapes,
                ..Self::default()
            });
        }

        // Top raster: about TOP_TILES_PER_GRID tiles per grid, square in metres.
        let coslat = (0.5 * (y0 + y1)).to_radians().cos().max(0.01);
        let (span_x, span_y) = ((x1 - x0).max(1e-6), (y1 - y0).max(1e-6));
        let area = span_x * coslat * span_y;
        let tiles = (TOP_TILES_PER_GRID * f64::from(grid_count)).min(MAX_TOP_TILES);
        let side_y = (area / tiles).sqrt();
        let (inv_w, inv_h) = (coslat / side_y, 1.0 / side_y);
        // Rounded down and one more: the east/north edge points land in the last tile.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "small, positive"
        )]
        let (nx, ny) = (
            ((x1 - x0) * inv_w) as usize + 1,
            ((y1 - y0) * inv_h) as usize + 1,
        );
        let (w, h) = (1.0 / inv_w, 1.0 / inv_h);
        #[allow(clippy::cast_precision_loss, reason = "tile numbers are small")]
        let tile_rect = |i: usize, j: usize| Rect {
            x0: x0 + i as f64 * w,
            y0: y0 + j as f64 * h,
            x1: x0 + (i + 1) as f64 * w,
            y1: y0 + (j + 1) as f64 * h,
        };
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped"
        )]
        let col = |x: f64| (((x - x0) * inv_w).max(0.0) as usize).min(nx - 1);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped"
        )]
        let row = |y: f64| (((y - y0) * inv_h).max(0.0) as usize).min(ny - 1);

        // Claims per top tile: (tile, grid, edge) for edges near the tile, (tile, grid,
        // NO_EDGE) for tiles wholly inside a grid.
        let mut claims: Vec<(usize, u32, u32)> = Vec::new();
        let mut own: Vec<usize> = Vec::new();
        for g in 0..grid_count {
            own.clear();
            let (mut gx0, mut gy0, mut gx1, mut gy1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
            for k in shapes.edges(g as usize) {
                let (a, b) = shapes.edge(k);
                gx0 = gx0.min(a[0]);
                gy0 = gy0.min(a[1]);
                gx1 = gx1.max(a[0]);
                gy1 = gy1.max(a[1]);
                let m = TILE_MARGIN_DEG;
                for j in row(a[1].min(b[1]) - m)..=row(a[1].max(b[1]) + m) {
                    for i in col(a[0].min(b[0]) - m)..=col(a[0].max(b[0]) + m) {
                        if tile_rect(i, j).grown(m).meets_segment(a, b) {
                            claims.push((j * nx + i, g, k));
                            own.push(j * nx + i);
                        }
                    }
                }
            }
            if gx0 > gx1 {
                continue;
            }
            own.sort_unstable();
            own.dedup();
            for j in row(gy0)..=row(gy1) {
                for i in col(gx0)..=col(gx1) {
                    let t = j * nx + i;
                    if own.binary_search(&t).is_err()
                        && shapes.position(g as usize, tile_rect(i, j).centre()) == Position::Inside
                    {
                        claims.push((t, g, NO_EDGE));
                    }
                }
            }
        }
        claims.sort_unstable();

        let mut index = Self {
            x0,
            y0,
            inv_w,
            inv_h,
            nx,
            ny,
            top: vec![EMPTY; nx * ny],
            subs: Vec::new(),
            blob: Vec::new(),
            stats: IndexStats {
                top_tiles: nx * ny,
                vertices: shapes.vertices.len(),
                ..IndexStats::default()
            },
            shapes,
        };
        for group in claims.chunk_by(|a, b| a.0 == b.0) {
            let t = group[0].0;
            let tile_claims: Vec<Claim> = group
                .chunk_by(|a, b| a.1 == b.1)
                .map(|c| Claim {
                    grid: c[0].1,
                    edges: c.iter().map(|e| e.2).filter(|&k| k != NO_EDGE).collect(),
                })
                .collect();
            index.top[t] = index
                .node(tile_rect(t % nx, t / nx), tile_claims, 0)
                .map_err(|e| match e {
                    NodeError::Degenerate(g) => HierarchyError::InvalidPolygon {
                        code: codes
                            .get(g as usize)
                            .map_or_else(String::new, ToString::to_string),
                        reason:
                            "edges so degenerate that no point of a tile is off all their lines"
                                .into(),
                    },
                    NodeError::TooLarge(what) => HierarchyError::TooLarge(what.into()),
                })?;
        }
        index.subs.shrink_to_fit();
        index.blob.shrink_to_fit();
        index.stats.sub_blocks = index.subs.len() / 16;
        Ok(index)
    }

    /// The value of a tile with `claims` (sorted by grid), splitting it if it is busy.
    fn node(&mut self, rect: Rect, mut claims: Vec<Claim>, depth: u32) -> Result<u32, NodeError> {
        // The first grid that covers the whole tile wins over every later one.
        if let Some(i) = claims.iter().position(|c| c.edges.is_empty()) {
            claims.truncate(i + 1);
        }
        match claims.first() {
            None => return Ok(EMPTY),
            Some(c) if c.edges.is_empty() => return Ok(TAG_GRID << TAG_SHIFT | c.grid),
            Some(_) => {}
        }
        let edges: usize = claims.iter().map(|c| c.edges.len()).sum();
        if edges <= LEAF_EDGES || depth >= MAX_DEPTH {
            return self.record(rect, &claims);
        }
        let block = u32::try_from(self.subs.len() / 16)
            .ok()
            .filter(|&b| b <= LOW)
            .ok_or(NodeError::TooLarge("more than 2^30 split tiles"))?;
        self.subs.extend([EMPTY; 16]);
        for j in 0..4 {
            for i in 0..4 {
                let sub = rect.quarter(i, j);
                let grown = sub.grown(TILE_MARGIN_DEG);
                let mut sub_claims = Vec::with_capacity(claims.len());
                for c in &claims {
                    if c.edges.is_empty() {
                        sub_claims.push(c.clone());
                        continue;
                    }
                    let near: Vec<u32> = c
                        .edges
                        .iter()
                        .copied()
                        .filter(|&k| {
                            let (a, b) = self.shapes.edge(k);
                            grown.meets_segment(a, b)
                        })
                        .collect();
                    if !near.is_empty() {
                        sub_claims.push(Claim {
                            grid: c.grid,
                            edges: near,
                        });
                    } else if self.shapes.position(c.grid as usize, sub.centre())
                        == Position::Inside
                    {
                        // No edge of this grid near the sub-tile: all of it is on one side.
                        sub_claims.push(Claim {
                            grid: c.grid,
                            edges: Vec::new(),
                        });
                    }
                }
                let value = self.node(sub, sub_claims, depth + 1)?;
                self.subs[block as usize * 16 + j * 4 + i] = value;
            }
        }
        Ok(TAG_SUB << TAG_SHIFT | block)
    }

    /// Writes a record for a tile and returns its value.
    fn record(&mut self, rect: Rect, claims: &[Claim]) -> Result<u32, NodeError> {
        let (reference, inside) = self
            .reference(rect, claims)
            .ok_or(NodeError::Degenerate(claims.first().map_or(0, |c| c.grid)))?;
        let offset = u32::try_from(self.blob.len())
            .ok()
            .filter(|&o| o <= LOW)
            .ok_or(NodeError::TooLarge("more than 2^30 words of records"))?;
        let [x, y] = reference.map(f64::to_bits);
        #[allow(
            clippy::cast_possible_truncation,
            reason = "splitting f64 bits into words"
        )]
        self.blob
            .extend([x as u32, (x >> 32) as u32, y as u32, (y >> 32) as u32]);
        #[allow(clippy::cast_possible_truncation, reason = "a handful of candidates")]
        self.blob.push(claims.len() as u32);
        for (c, inside) in claims.iter().zip(inside) {
            let n = u32::try_from(c.edges.len())
                .ok()
                .filter(|&n| n <= LOW)
                .ok_or(NodeError::TooLarge("too many edges in one tile"))?;
            self.blob.push(c.grid);
            self.blob.push(n << 1 | u32::from(inside));
            self.blob.extend(&c.edges);
            self.stats.record_candidates += 1;
            self.stats.record_edges += c.edges.len();
        }
        self.stats.records += 1;
        Ok(TAG_RECORD << TAG_SHIFT | offset)
    }

    /// A point of `rect` off the line of every edge of `claims`, with its exact status per claim.
    fn reference(&self, rect: Rect, claims: &[Claim]) -> Option<(Pt, Vec<bool>)> {
        let centre = rect.centre();
        let (w, h) = (rect.x1 - rect.x0, rect.y1 - rect.y0);
        'attempt: for attempt in 0..64u32 {
            // Walk a spiral-ish sequence of points well inside the tile.
            let t = f64::from(attempt);
            let p = [
                centre[0] + w * 0.37 * (t * 0.618_034).fract() * t.min(1.0),
                centre[1] + h * 0.37 * (t * 0.414_214).fract() * t.min(1.0),
            ];
            let mut inside = Vec::with_capacity(claims.len());
            for c in claims {
                if c.edges.is_empty() {
                    inside.push(true);
                    continue;
                }
                for &k in &c.edges {
                    let (a, b) = self.shapes.edge(k);
                    if orient(a, b, p) == 0.0 {
                        continue 'attempt;
                    }
                }
                match self.shapes.position(c.grid as usize, p) {
                    Position::Inside => inside.push(true),
                    Position::Outside => inside.push(false),
                    Position::Boundary => continue 'attempt,
                }
            }
            return Some((p, inside));
        }
        None
    }

    /// Heap bytes held.
    pub(crate) fn heap_size_bytes(&self) -> usize {
        self.top.capacity() * size_of::<u32>()
            + self.subs.capacity() * size_of::<u32>()
            + self.blob.capacity() * size_of::<u32>()
            + self.shapes.vertices.capacity() * size_of::<Pt>()
            + self.shapes.rings.capacity() * size_of::<Vec<Range<u32>>>()
            + self
                .shapes
                .rings
                .iter()
                .map(|r| r.capacity() * size_of::<Range<u32>>())
                .sum::<usize>()
    }
}
