//! The locate index: a map from every H3 cell at the hierarchy's resolution that meets a grid
//! to a compact `u32` entry, built from the grids' covers ([`crate::cover`]). The map is
//! [`Blocks`]: a small hash table of the cells' ancestors three resolutions up, each to the
//! 16-bit slots of its descendants, where one slot answers for 7 siblings inside one grid, so
//! that a lookup misses the cache once at most and often not at all.
//!
//! An entry is either `ordinal` (the cell is an interior cell of that grid and listed by no
//! other grid) or `LIST | offset` of a *record* in `records` (64-bit words): a reference point
//! of the cell (`RECORD_HEADER` words: x and y as f64 bits), then every grid that lists the
//! cell, in code order, as a candidate word (head in the low 32 bits, `n` in the high ones)
//! followed by `n` edges of `EDGE_WORDS` words each. The head is the ordinal with `WHOLE` (the
//! cell is one of the grid's interior cells: no test, it covers), `INSIDE` (the reference point
//! is inside the grid) and `LAST` flags; the `n` edges are those of the grid that come within
//! the cover's margin of the cell, their end points copied in (`ax ay bx by`, f64 bits) so
//! that a test reads the record alone, each directed so that the reference point lies on its
//! left. `n = FULL` asks for a whole-polygon test (no reference point could be placed);
//! `n = REST` says the grid covers every point of the cell that the candidates before it do
//! not: the second of two grids whose near edges are the same segments, with the reference
//! point inside exactly one of them, i.e. two grids that meet along a line through the cell.
//! The index is the whole cover, lossless: [`LocateIndex::rows`] gives back exactly the
//! `(cell, grid, boundary)` rows it was built from, which is what the server's `unit_cells`
//! stores.
//!
//! Why this is exact. Every point that `to_cell` puts in cell C lies within the cover's margin
//! of C's straight-line hexagon H: H3 cell edges are great-circle arcs between the vertices
//! `boundary()` gives, and such an arc of L radians strays from the straight lng/lat chord by
//! about L²·tan(lat)/8 (6e-10° at resolution 10, 3e-9° at 9, at 32°N), far below the margin
//! of [`crate::cover::margin_deg`] (≥ 1e-7°, valid to |lat| ≈ 86°), and `to_cell`'s rounding
//! is ~1e-15°. So:
//! - a bare interior entry `g` means no edge of `g` comes within the margin of H and H is
//!   inside `g`, and no other grid lists C, so no edge of any grid comes near H and no other
//!   grid overlaps it (the cover never misses a cell a grid meets): every point of C is
//!   strictly inside `g` and in no other grid;
//! - in a record, the segment from the reference point (in H) to the point (within the margin
//!   of H) stays in H grown by the margin, which is convex; an edge that crosses it comes
//!   within the margin of H and is in the record. Counting crossings of that segment with the
//!   record's edges from the reference's exact status gives the point's exact status;
//! - a `REST` candidate `b` after `a`: `a` and `b` list the same segments and the reference is
//!   inside exactly one of them. A point on a listed segment is covered by `a`, which answers
//!   first; any other point crosses the same segments on its way from the reference for both,
//!   so its status in `b` is the opposite of that in `a`: `a` not covering it means `b` does.

use std::hash::Hasher as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use h3o::{CellIndex, Resolution};

use crate::cell_hash::CellHasher;
use crate::cover::{cell_centre, cell_hull, grid_cells};
use crate::error::HierarchyError;
use crate::geom::{Position, Pt, orient};
use crate::shapes::Shapes;

/// Entry flag: the low bits are an offset into `records`, not a grid ordinal.
pub(crate) const LIST: u32 = 1 << 31;
/// Candidate head flag: the last candidate of its record.
pub(crate) const LAST: u32 = 1 << 31;
/// Candidate head flag: the cell is an interior cell of this grid (no test needed).
pub(crate) const WHOLE: u32 = 1 << 30;
/// Candidate head flag: the record's reference point is inside this grid.
pub(crate) const INSIDE: u32 = 1 << 29;
/// Mask of the grid ordinal in an entry or head (and the largest ordinal + 1).
pub(crate) const ORDINAL: u32 = INSIDE - 1;
/// Edge count of a candidate tested against its whole polygon (no usable reference point).
pub(crate) const FULL: u32 = u32::MAX;
/// Edge count of a candidate that covers whatever the candidates before it do not (no test).
pub(crate) const REST: u32 = u32::MAX - 1;
/// Words of a record before its first candidate: the reference point's x and y as f64 bits.
pub(crate) const RECORD_HEADER: usize = 2;
/// Words of an edge in a record: `ax ay bx by` as f64 bits.
pub(crate) const EDGE_WORDS: usize = 4;
/// Grids whose covers one build thread takes at a time.
const CHUNK: usize = 64;
/// Threads that compute the covers: the server rebuilds next to live traffic, so take at most
/// two cores (the machine it was tuned on has two).
const BUILD_THREADS: usize = 2;

/// Splits the H3 indexes of one resolution R into a 32-bit key and a prefix, so that a map
/// slot is a `(u32, u32)` of 8 bytes (with `(u64, u32)` it would be 16: the table's size is
/// what a lookup pays for in cache and TLB misses). The low (15 − R)·3 bits of such an index
/// are all ones and dropped; of the rest, the low 32 bits (the last digits) are the key and
/// the high ones (mode, resolution, base cell, first digits) the prefix, of which an area the
/// size of a city has one or two.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
    shift: u32,
}

impl Split {
    pub(crate) fn new(resolution: Resolution) -> Self {
        Self {
            shift: 3 * (15 - u32::from(u8::from(resolution))),
        }
    }

    /// (prefix, key) of a cell.
    #[inline]
    #[allow(clippy::cast_possible_truncation, reason = "the low 32 bits")]
    pub(crate) fn split(self, cell: u64) -> (u32, u32) {
        let x = cell >> self.shift;
        ((x >> 32) as u32, x as u32)
    }

    /// The cell of a (prefix, key).
    fn join(self, prefix: u32, key: u32) -> u64 {
        let low = (1u64 << self.shift) - 1;
        ((u64::from(prefix) << 32 | u64::from(key)) << self.shift) | low
    }
}

/// The folded multiply of [`CellHasher`], for [`CellTable`].
#[inline]
fn fold(key: u32) -> u64 {
    let mut h = CellHasher::default();
    h.write_u32(key);
    h.finish()
}

/// An open-addressing hash table from [`Split`] keys (here: the block parents' keys) to
/// entries (block numbers): Robin Hood linear probing in
/// one array of `(key, entry)` slots at most 7/8 full. Measured against `std`'s `HashMap`
/// (hashbrown) with the same hash: hashbrown reads a control byte array and then the slot
/// array, two cache (and, at ≈10 MB, TLB) misses per hit; here the key sits next to its
/// entry, and Robin Hood order ends a search for an absent key as early as one for a present
/// key, so a lookup touches one cache line, rarely two.
#[derive(Debug)]
pub(crate) struct CellTable {
    slots: Vec<(u32, u32)>,
    /// 64 − log2(slots), to take a slot from the hash's high bits.
    shift: u32,
}

/// The entry of an empty slot (never a real entry: ordinals stay below [`WHOLE`] and list
/// offsets below `LIST - 1`).
const EMPTY: u32 = u32::MAX;

impl CellTable {
    fn with_capacity(n: usize) -> Self {
        let slots = (n * 8).div_ceil(7).next_power_of_two().max(2);
        Self {
            slots: vec![(0, EMPTY); slots],
            shift: 64 - slots.trailing_zeros(),
        }
    }

    #[inline]
    fn home(&self, key: u32) -> usize {
        #[allow(clippy::cast_possible_truncation, reason = "below the slot count")]
        let home = (fold(key) >> self.shift) as usize;
        home
    }

    /// Inserts a key that is not in the table yet.
    fn insert(&mut self, key: u32, entry: u32) {
        let mask = self.slots.len() - 1;
        let (mut slot, mut distance) = ((key, entry), 0usize);
        let mut i = self.home(key);
        loop {
            let here = self.slots[i];
            if here.1 == EMPTY {
                self.slots[i] = slot;
                return;
            }
            let theirs = i.wrapping_sub(self.home(here.0)) & mask;
            if theirs < distance {
                self.slots[i] = slot;
                (slot, distance) = (here, theirs);
            }
            i = (i + 1) & mask;
            distance += 1;
        }
    }

    /// The entry of `key`.
    #[inline]
    pub(crate) fn get(&self, key: u32) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        let mut distance = 0usize;
        loop {
            let (k, entry) = *self.slots.get(i)?;
            if entry == EMPTY {
                return None;
            }
            if k == key {
                return Some(entry);
            }
            // Robin Hood order: past a slot closer to its home than we are to ours, `key`
            // would have been placed already.
            if i.wrapping_sub(self.home(k)) & mask < distance {
                return None;
            }
            i = (i + 1) & mask;
            distance += 1;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.1 != EMPTY).count()
    }

    fn heap_size_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<(u32, u32)>()
    }
}

/// The entries of one part's cells, grouped by their ancestor [`BLOCK_DIGITS`] resolutions up
/// (a *block* of 343 children at most). A small [`CellTable`] maps each such parent to its
/// block number. Within a block, the children fall into *groups* of 7 siblings (the cells of
/// one parent a resolution up): a block holds a 16-bit top slot per group, which answers for
/// all 7 when they are interior cells of one grid (or all meet no grid), and otherwise points
/// to the group's 7 slots, one per child ([`NARROW_EMPTY`] for a child that meets no grid).
/// Slots are relative to the block's smallest grid ordinal and record offset, which a small
/// side table ([`BlockMeta`]) keeps.
///
/// Why: a lookup misses the cache at most once, and should rarely. The directory (a few
/// thousand parents: tens of KB), the bases (12 bytes a block) and the top slots (98 bytes a
/// block: 270 KB for Nantong at resolution 10) stay in cache; 42 % of the cells there sit in
/// a group of one grid's interior cells and answer from them alone. The other groups' slots
/// (1 MB, against 1.9 MB of slots for every cell) are the one read that may miss. A block
/// whose ordinals or records spread too far for 16 bits keeps 32-bit slots in `wide`; none
/// does in a city-sized hierarchy.
#[derive(Debug)]
pub(crate) struct Blocks {
    /// Parent key (the cell's [`Split`] key without its last `digits` digits) → block number.
    dir: CellTable,
    /// Block number → parent key.
    parents: Vec<u32>,
    /// Block number → the bases of its slots.
    meta: Vec<BlockMeta>,
    /// `tops` top slots per block ([`TOP_MIXED`], [`TOP_EMPTY`] or an ordinal), block after
    /// block (unused for wide blocks).
    top: Vec<u16>,
    /// Slots of the mixed groups, `group_len` per group.
    groups: Vec<u16>,
    /// 343 full entries per wide block.
    wide: Vec<u32>,
    /// Trailing digits that index a block: min(3, resolution).
    digits: u32,
    /// Slots per block: 7^digits.
    len: usize,
    /// Top slots per block: 7^(digits − 1), 1 at resolution 0.
    tops: usize,
    /// Children per group: 7, 1 at resolution 0.
    group_len: usize,
}

/// (parent key, group in its block, child in its group) of a key, for blocks of `digits`
/// digits; the child's index in its block, in digit order, is `group * group_len + child`.
#[inline]
fn parent_group_child(digits: u32, key: u32) -> (u32, usize, usize) {
    if digits == 0 {
        return (key, 0, 0);
    }
    let mut group = 0usize;
    for d in (1..digits).rev() {
        group = group * 7 + ((key >> (3 * d)) & 7) as usize;
    }
    (key >> (3 * digits), group, (key & 7) as usize)
}

/// Where a block's entries are and what they are relative to.
#[derive(Debug, Clone, Copy, Default)]
#[allow(
    clippy::struct_field_names,
    reason = "each field is the base its entries are numbered from"
)]
struct BlockMeta {
    /// Grid ordinal of a narrow entry 0, or [`WIDE`]: the block's entries are in `wide`.
    ordinal_base: u32,
    /// Record offset of a narrow list entry 0; for a wide block, its number in `wide`.
    record_base: u32,
    /// The group number of a mixed top slot 0.
    group_base: u32,
}

/// Resolutions between a cell and the parent of its block.
const BLOCK_DIGITS: u32 = 3;
/// Narrow entry flag: the low 15 bits are a record offset from the block's `record_base`, not
/// a grid ordinal from its `ordinal_base`.
const NARROW_LIST: u16 = 1 << 15;
/// A narrow slot of a child that meets no grid.
const NARROW_EMPTY: u16 = u16::MAX;
/// Top slot flag: the low 15 bits are a group number from the block's `group_base`; without
/// it, the slot is the ordinal (from `ordinal_base`) of the grid all 7 children are interior
/// cells of.
const TOP_MIXED: u16 = 1 << 15;
/// A top slot of a group none of whose children meets a grid.
const TOP_EMPTY: u16 = u16::MAX;
/// `ordinal_base` of a block kept as 32-bit entries.
const WIDE: u32 = u32::MAX;

impl Blocks {
    /// Cells per block: 7^digits.
    #[inline]
    fn block_len(&self) -> usize {
        self.len
    }

    /// The cell of block `b`'s child number `child` in digit order (inverse of
    /// [`parent_group_child`]).
    fn key_of(&self, b: usize, child: usize) -> u32 {
        let mut key = self.parents[b];
        let mut rest = child;
        let mut low = 0u32;
        for d in 0..self.digits {
            #[allow(clippy::cast_possible_truncation, reason = "a digit")]
            let digit = (rest % 7) as u32;
            low |= digit << (3 * d);
            rest /= 7;
        }
        key = key.checked_shl(3 * self.digits).unwrap_or(0);
        key | low
    }

    /// Builds the blocks of `cells` (keys ascending, with their entries).
    fn build(digits: u32, cells: &[(u32, u32)]) -> Self {
        let group_len = if digits == 0 { 1 } else { 7 };
        let mut blocks = Self {
            dir: CellTable::with_capacity(0),
            parents: Vec::new(),
            meta: Vec::new(),
            top: Vec::new(),
            groups: Vec::new(),
            wide: Vec::new(),
            digits,
            len: 7usize.pow(digits),
            tops: 7usize.pow(digits.saturating_sub(1)),
            group_len,
        };
        let parent = |key| parent_group_child(digits, key).0;
        // A key's slot in its block, in digit order.
        let slot = |key| {
            let (_, group, child) = parent_group_child(digits, key);
            group * group_len + child
        };
        let mut parents: Vec<u32> = cells.iter().map(|&(k, _)| parent(k)).collect();
        parents.dedup();
        blocks.dir = CellTable::with_capacity(parents.len());
        for (b, &parent) in (0u32..).zip(&parents) {
            blocks.dir.insert(parent, b);
        }
        // Keys ascending: the cells of one parent are consecutive.
        let len = blocks.block_len();
        let mut slots = vec![NARROW_EMPTY; len];
        for block in cells.chunk_by(|a, b| parent(a.0) == parent(b.0)) {
            let mut meta = BlockMeta::default();
            let ordinals = block.iter().map(|c| c.1).filter(|e| e & LIST == 0);
            let offsets = block.iter().map(|c| c.1).filter(|e| e & LIST != 0);
            meta.ordinal_base = ordinals.clone().min().unwrap_or(0);
            meta.record_base = offsets.clone().min().map_or(0, |e| e & !LIST);
            let narrow = ordinals
                .max()
                .is_none_or(|o| o - meta.ordinal_base < NARROW_EMPTY.into())
                && offsets
                    .max()
                    .is_none_or(|e| (e & !LIST) - meta.record_base < (1 << 15) - 1);
            if narrow {
                slots.fill(NARROW_EMPTY);
                for &(key, e) in block {
                    #[allow(clippy::cast_possible_truncation, reason = "checked to fit above")]
                    let n = if e & LIST == 0 {
                        (e - meta.ordinal_base) as u16
                    } else {
                        NARROW_LIST | ((e & !LIST) - meta.record_base) as u16
                    };
                    slots[slot(key)] = n;
                }
                meta.group_base =
                    u32::try_from(blocks.groups.len() / group_len).unwrap_or(u32::MAX);
                let mut mixed = 0u16;
                for group in slots.chunks_exact(group_len) {
                    let first = group[0];
                    let uniform = group.iter().all(|&n| n == first)
                        && (first == NARROW_EMPTY || first < TOP_MIXED);
                    if uniform {
                        blocks.top.push(first);
                    } else {
                        // At most 49 groups a block: the number fits.
                        blocks.top.push(TOP_MIXED | mixed);
                        blocks.groups.extend_from_slice(group);
                        mixed += 1;
                    }
                }
            } else {
                meta.ordinal_base = WIDE;
                blocks.top.resize(blocks.top.len() + blocks.tops, TOP_EMPTY);
                blocks.wide.resize(blocks.wide.len() + len, EMPTY);
                let at = blocks.wide.len() - len;
                for &(key, e) in block {
                    blocks.wide[at + slot(key)] = e;
                }
                meta.record_base = u32::try_from(at / len).unwrap_or(u32::MAX);
            }
            blocks.meta.push(meta);
        }
        blocks.top.shrink_to_fit();
        blocks.groups.shrink_to_fit();
        blocks.wide.shrink_to_fit();
        blocks.parents = parents;
        blocks
    }

    /// The entry of `key`.
    #[inline]
    pub(crate) fn get(&self, key: u32) -> Option<u32> {
        let (parent, group, child) = parent_group_child(self.digits, key);
        let b = self.dir.get(parent)? as usize;
        // The metadata and the top slot are small and cached; the group's slot, read only
        // for a mixed group, is the one that may miss.
        let meta = self.meta.get(b)?;
        let top = *self.top.get(b * self.tops + group)?;
        if meta.ordinal_base == WIDE {
            let at = (meta.record_base as usize * self.tops + group) * self.group_len + child;
            let e = *self.wide.get(at)?;
            return (e != EMPTY).then_some(e);
        }
        let n = if top & TOP_MIXED == 0 {
            top
        } else if top == TOP_EMPTY {
            return None;
        } else {
            let g = meta.group_base as usize + usize::from(top & !TOP_MIXED);
            *self.groups.get(g * self.group_len + child)?
        };
        if n == NARROW_EMPTY {
            return None;
        }
        Some(if n & NARROW_LIST == 0 {
            meta.ordinal_base + u32::from(n)
        } else {
            LIST | (meta.record_base + u32::from(n & !NARROW_LIST))
        })
    }

    fn len(&self) -> usize {
        self.iter().count()
    }

    fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let len = self.block_len();
        (0..self.meta.len()).flat_map(move |b| {
            (0..len).filter_map(move |child| {
                let key = self.key_of(b, child);
                Some((key, self.get(key)?))
            })
        })
    }

    fn heap_size_bytes(&self) -> usize {
        self.dir.heap_size_bytes()
            + self.parents.capacity() * size_of::<u32>()
            + self.meta.capacity() * size_of::<BlockMeta>()
            + self.top.capacity() * size_of::<u16>()
            + self.groups.capacity() * size_of::<u16>()
            + self.wide.capacity() * size_of::<u32>()
    }
}

/// Figures about the locate index, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexStats {
    /// Cells in the map (cells that meet at least one grid).
    pub cells: usize,
    /// Cells that answer directly: interior to one grid, listed by no other.
    pub interior_cells: usize,
    /// Cells that need an exact test (near an edge, or listed by more than one grid): they
    /// have a record.
    pub boundary_cells: usize,
    /// (cell, grid) pairs over the boundary cells: the candidates a locate may test.
    pub boundary_candidates: usize,
    /// Edges kept in the boundary cells' records: the edges of each candidate grid that come
    /// near the cell, the only ones a locate in that cell tests.
    pub boundary_edges: usize,
    /// Boundary candidates that need no test of their own: the second of two grids that meet
    /// along a line through the cell, which covers whatever the first does not.
    pub rest_candidates: usize,
    /// Rows of the cover, (cell, grid) pairs: what [`crate::Hierarchy::grid_cover`] yields.
    pub cover_rows: usize,
    /// Heap bytes of the hash table and the records (the polygons not included).
    pub heap_bytes: usize,
}

/// The hash table and the boundary cells' records.
#[derive(Debug)]
pub(crate) struct LocateIndex {
    pub(crate) split: Split,
    /// Per prefix (ascending), the blocks of its cells' entries.
    pub(crate) parts: Vec<(u32, Blocks)>,
    /// Boundary cells' records, see the module docs.
    pub(crate) records: Vec<u64>,
    stats: IndexStats,
}

impl LocateIndex {
    /// Covers every grid of `shapes` at `resolution` (on up to [`BUILD_THREADS`] threads) and
    /// indexes the cells.
    pub(crate) fn build(shapes: &Shapes, resolution: Resolution) -> Result<Self, HierarchyError> {
        let grids = shapes.len();
        if u32::try_from(grids).map_or(true, |n| n > ORDINAL) {
            return Err(HierarchyError::TooLarge(format!("{grids} grids")));
        }
        // Rows (cell, ordinal << 1 | boundary) and near edges (cell, ordinal, edge); sorting
        // them groups the cells with their grids in code order, whatever thread computed them.
        let next = AtomicUsize::new(0);
        let work = || {
            let mut rows: Vec<(u64, u32)> = Vec::new();
            let mut edges: Vec<(u64, u32, u32)> = Vec::new();
            let mut near = Vec::new();
            loop {
                let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                if start >= grids {
                    return (rows, edges);
                }
                for g in start..(start + CHUNK).min(grids) {
                    #[allow(clippy::cast_possible_truncation, reason = "checked above")]
                    let ordinal = g as u32;
                    near.clear();
                    let cells = grid_cells(shapes, g, resolution, Some(&mut near));
                    rows.extend(cells.into_iter().map(|(cell, boundary)| {
                        (u64::from(cell), ordinal << 1 | u32::from(boundary))
                    }));
                    edges.extend(near.iter().map(|&(cell, k)| (u64::from(cell), ordinal, k)));
                }
            }
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, BUILD_THREADS)
            .min(grids.div_ceil(CHUNK).max(1));
        let (mut rows, mut edges) = if threads > 1 {
            std::thread::scope(|s| {
                let handles: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
                let (mut rows, mut edges) = work();
                for h in handles {
                    // A worker only panics if `work` does, which the calling thread would too.
                    let (r, e) = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                    rows.extend(r);
                    edges.extend(e);
                }
                (rows, edges)
            })
        } else {
            work()
        };
        rows.sort_unstable();
        edges.sort_unstable();
        Self::from_rows(shapes, &rows, &edges, resolution)
    }

    /// Indexes sorted, distinct rows `(cell, ordinal << 1 | boundary)`, with the sorted near
    /// edges `(cell, ordinal, edge)` of the boundary rows.
    fn from_rows(
        shapes: &Shapes,
        rows: &[(u64, u32)],
        edges: &[(u64, u32, u32)],
        resolution: Resolution,
    ) -> Result<Self, HierarchyError> {
        let split = Split::new(resolution);
        let mut records: Vec<u64> = Vec::new();
        let mut stats = IndexStats {
            cover_rows: rows.len(),
            ..IndexStats::default()
        };
        let mut edges = edges;
        let mut cells: Vec<(u64, u32)> = Vec::new();
        for group in rows.chunk_by(|a, b| a.0 == b.0) {
            let cell = group[0].0;
            // Edges of cells before this one (none in practice: every near edge is a boundary
            // row's) are skipped, this cell's taken.
            let skip = edges.iter().take_while(|e| e.0 < cell).count();
            let n = edges[skip..].iter().take_while(|e| e.0 == cell).count();
            let near = &edges[skip..skip + n];
            edges = &edges[skip + n..];
            let entry = if let [(_, row)] = group
                && row & 1 == 0
            {
                stats.interior_cells += 1;
                row >> 1
            } else {
                let offset = u32::try_from(records.len())
                    .ok()
                    .filter(|&o| o < LIST - 1)
                    .ok_or_else(|| {
                        HierarchyError::TooLarge("more than 2^31 record words".into())
                    })?;
                let Ok(cell) = CellIndex::try_from(cell) else {
                    continue;
                };
                push_record(&mut records, shapes, cell, group, near, &mut stats);
                LIST | offset
            };
            cells.push((group[0].0, entry));
        }
        records.shrink_to_fit();
        // Cells are sorted, hence by prefix then key: one part after the other.
        let digits = BLOCK_DIGITS.min(u32::from(u8::from(resolution)));
        let parts: Vec<(u32, Blocks)> = cells
            .chunk_by(|a, b| split.split(a.0).0 == split.split(b.0).0)
            .map(|part| {
                let keys: Vec<(u32, u32)> =
                    part.iter().map(|&(c, e)| (split.split(c).1, e)).collect();
                (split.split(part[0].0).0, Blocks::build(digits, &keys))
            })
            .collect();
        stats.cells = parts.iter().map(|p| p.1.len()).sum();
        let mut index = Self {
            split,
            parts,
            records,
            stats,
        };
        index.stats.heap_bytes = index.heap_size_bytes();
        Ok(index)
    }

    /// The cover rows `(cell, ordinal, boundary)` the index was built from, sorted by ordinal
    /// then cell.
    pub(crate) fn rows(&self) -> Vec<(CellIndex, u32, bool)> {
        let mut rows = Vec::with_capacity(self.stats.cover_rows);
        let cells = self.parts.iter().flat_map(|(prefix, map)| {
            map.iter()
                .map(move |(key, entry)| (self.split.join(*prefix, key), entry))
        });
        for (cell, entry) in cells {
            let Ok(cell) = CellIndex::try_from(cell) else {
                continue;
            };
            if entry & LIST == 0 {
                rows.push((cell, entry, false));
                continue;
            }
            let mut k = (entry & !LIST) as usize + RECORD_HEADER;
            while let Some(&word) = self.records.get(k) {
                let (head, n) = candidate(word);
                rows.push((cell, head & ORDINAL, head & WHOLE == 0));
                if head & LAST != 0 {
                    break;
                }
                k += candidate_words(n);
            }
        }
        rows.sort_unstable_by_key(|&(cell, g, _)| (g, cell));
        rows
    }

    /// Figures.
    pub(crate) fn stats(&self) -> IndexStats {
        self.stats
    }

    /// Heap bytes of the tables and the records.
    pub(crate) fn heap_size_bytes(&self) -> usize {
        self.parts.capacity() * size_of::<(u32, Blocks)>()
            + self
                .parts
                .iter()
                .map(|p| p.1.heap_size_bytes())
                .sum::<usize>()
            + self.records.capacity() * size_of::<u64>()
    }
}

/// (head, n) of a candidate word.
#[inline]
pub(crate) fn candidate(word: u64) -> (u32, u32) {
    #[allow(clippy::cast_possible_truncation, reason = "the two halves")]
    (word as u32, (word >> 32) as u32)
}

/// Words of a candidate with edge count `n`, its own word included.
#[inline]
pub(crate) fn candidate_words(n: u32) -> usize {
    1 + if n < REST { n as usize * EDGE_WORDS } else { 0 }
}

/// Appends the record of a boundary cell: a reference point of the cell off the line of every
/// near edge, then per listed grid (code order) its candidate word and near edges.
#[allow(
    clippy::many_single_char_names,
    clippy::similar_names,
    reason = "geometry: x, y, g, r as in the record's layout; `status` and `stats` read apart"
)]
fn push_record(
    records: &mut Vec<u64>,
    shapes: &Shapes,
    cell: CellIndex,
    group: &[(u64, u32)],
    near: &[(u64, u32, u32)],
    stats: &mut IndexStats,
) {
    stats.boundary_cells += 1;
    stats.boundary_candidates += group.len();
    let reference = reference_point(shapes, cell, near);
    let [x, y] = reference.unwrap_or_default();
    records.extend([x.to_bits(), y.to_bits()]);
    let word = |head: u32, n: u32| u64::from(head) | u64::from(n) << 32;
    // Per candidate: the head and, when the reference's status is known, its near edges as
    // `[ax, ay, bx, by]` bits directed with the reference on the left, sorted.
    let candidates: Vec<(u32, Option<Vec<[u64; 4]>>)> = group
        .iter()
        .enumerate()
        .map(|(i, &(_, row))| {
            let g = row >> 1;
            let mut head = g;
            if i + 1 == group.len() {
                head |= LAST;
            }
            if row & 1 == 0 {
                return (head | WHOLE, None);
            }
            // The status of the reference, exact: it is off every near edge's line, and the
            // other edges do not come near the cell, so it is strictly inside or outside.
            let status = reference.map(|r| (r, shapes.position(g as usize, r)));
            let Some((r, pos @ (Position::Inside | Position::Outside))) = status else {
                return (head, None);
            };
            if pos == Position::Inside {
                head |= INSIDE;
            }
            let mut edges: Vec<[u64; 4]> = near
                .iter()
                .filter(|e| e.1 == g)
                .map(|e| {
                    let (a, b) = shapes.edge(e.2);
                    let (a, b) = if orient(a, b, r) > 0.0 {
                        (a, b)
                    } else {
                        (b, a)
                    };
                    [
                        a[0].to_bits(),
                        a[1].to_bits(),
                        b[0].to_bits(),
                        b[1].to_bits(),
                    ]
                })
                .collect();
            edges.sort_unstable();
            (head, Some(edges))
        })
        .collect();
    // Two grids meeting along a line through the cell: the second covers the rest.
    let rest = matches!(
        &candidates[..],
        [(a, Some(ea)), (b, Some(eb))] if ea == eb && (a ^ b) & INSIDE != 0
    );
    for (i, (head, edges)) in candidates.iter().enumerate() {
        match edges {
            _ if head & WHOLE != 0 => records.push(word(*head, 0)),
            _ if rest && i == 1 => {
                stats.rest_candidates += 1;
                records.push(word(*head, REST));
            }
            Some(edges) if u32::try_from(edges.len()).is_ok_and(|n| n < REST) => {
                stats.boundary_edges += edges.len();
                #[allow(clippy::cast_possible_truncation, reason = "checked to fit above")]
                records.push(word(*head, edges.len() as u32));
                records.extend(edges.iter().flatten());
            }
            _ => records.push(word(*head, FULL)),
        }
    }
}

/// A point of the cell's straight-line hexagon on the line of none of the `near` edges: the
/// centre, or else a point between it and a vertex. `None` if none of those qualifies (then
/// the record falls back to whole-polygon tests).
fn reference_point(shapes: &Shapes, cell: CellIndex, near: &[(u64, u32, u32)]) -> Option<Pt> {
    let off_lines = |p: Pt| {
        near.iter().all(|e| {
            let (a, b) = shapes.edge(e.2);
            orient(a, b, p) != 0.0
        })
    };
    let centre = cell_centre(cell);
    if off_lines(centre) {
        return Some(centre);
    }
    let hull = cell_hull(cell);
    for t in [0.5, 0.25, 0.75, 0.125, 0.375, 0.625] {
        for v in &hull {
            let p = [
                centre[0] + t * (v[0] - centre[0]),
                centre[1] + t * (v[1] - centre[1]),
            ];
            if off_lines(p) {
                return Some(p);
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;
    use crate::cell_hash::CellHash;

    #[test]
    fn the_table_finds_what_it_holds_and_nothing_else() {
        let keys: Vec<u32> = (0..5000u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        let mut t = CellTable::with_capacity(keys.len());
        for (i, &k) in (0u32..).zip(&keys) {
            t.insert(k, i);
        }
        assert_eq!(t.len(), keys.len());
        for (i, &k) in (0u32..).zip(&keys) {
            assert_eq!(t.get(k), Some(i));
            assert_eq!(t.get(k ^ 0x8000_0000), None);
        }
        assert_eq!(CellTable::with_capacity(0).get(7), None);
    }

    #[test]
    fn blocks_narrow_and_wide_give_back_their_entries() {
        // Keys under three parents: one narrow block, one whose ordinals spread too far for 16
        // bits, one whose record offsets do.
        let mut cells: Vec<(u32, u32)> = Vec::new();
        for (parent, spread) in [(5u32, 1u32), (9, 40_000), (12, 1)] {
            for child in [0u32, 1, 6, 0o10, 0o66, 0o300, 0o666] {
                let key = parent << 9 | child;
                let entry = if parent == 12 {
                    LIST | (child * 1_000)
                } else if child % 2 == 0 {
                    child * spread
                } else {
                    LIST | (child * 3)
                };
                cells.push((key, entry));
            }
        }
        // A fourth parent: one group of 7 interior cells of one grid (answered by its top
        // slot), a group that mixes two grids, and a group of interior cells with a record.
        for child in 0o10..=0o16 {
            cells.push((20 << 9 | child, 7));
        }
        cells.extend([(20 << 9 | 0o20, 7), (20 << 9 | 0o21, 8)]);
        cells.extend([(20 << 9 | 0o30, 7), (20 << 9 | 0o31, LIST | 4)]);
        let blocks = Blocks::build(3, &cells);
        let mixed = blocks
            .top
            .iter()
            .filter(|&&t| t != TOP_EMPTY && t & TOP_MIXED != 0);
        assert_eq!(
            mixed.count(),
            5 + 2,
            "parent 5: 5 groups; parent 20: 2 (9 and 12 are wide)"
        );
        assert_eq!(blocks.groups.len(), 7 * 7);
        assert_eq!(blocks.wide.len(), 2 * 343);
        assert_eq!(
            blocks
                .meta
                .iter()
                .filter(|m| m.ordinal_base == WIDE)
                .count(),
            2
        );
        let present: HashSet<u32> = cells.iter().map(|c| c.0).collect();
        for &(key, entry) in &cells {
            assert_eq!(blocks.get(key), Some(entry), "{key:o}");
            // (Digit 7 is no cell's: it may alias a sibling.)
            if !present.contains(&(key ^ 0o5)) && (key ^ 0o5) & 7 != 7 {
                assert_eq!(blocks.get(key ^ 0o5), None, "{key:o}");
            }
        }
        assert_eq!(blocks.get(7 << 9), None);
        assert_eq!(blocks.iter().collect::<Vec<_>>(), cells);
        assert_eq!(blocks.len(), cells.len());
    }

    #[test]
    fn keys_round_trip() {
        for res in [Resolution::Nine, Resolution::Ten, Resolution::Twelve] {
            let split = Split::new(res);
            let cell = h3o::LatLng::new(32.0, 120.9).unwrap().to_cell(res);
            for c in cell.grid_disk::<Vec<_>>(3) {
                let (prefix, key) = split.split(u64::from(c));
                assert_eq!(split.join(prefix, key), u64::from(c));
            }
        }
    }

    #[test]
    fn the_hash_spreads_neighbouring_cells() {
        // 1,000-odd cells of one area: the low 10 bits of their hashes (the bucket of a table
        // of 1,024) should take most of the 1,024 values, not a handful.
        let centre = h3o::LatLng::new(32.0, 120.9)
            .unwrap()
            .to_cell(Resolution::Ten);
        let cells = centre.grid_disk::<Vec<_>>(18);
        let split = Split::new(Resolution::Ten);
        let keys: Vec<u32> = cells.iter().map(|&c| split.split(u64::from(c)).1).collect();
        let buckets: std::collections::HashSet<u64> = keys
            .iter()
            .map(|&k| CellHash::default().hash_one(k) & 1023)
            .collect();
        assert!(cells.len() > 1000);
        assert!(buckets.len() > 550, "{} buckets", buckets.len());
        // And the top 7 bits (hashbrown's tag) vary too.
        let tags: std::collections::HashSet<u64> = keys
            .iter()
            .map(|&k| CellHash::default().hash_one(k) >> 57)
            .collect();
        assert!(tags.len() > 100, "{} tags", tags.len());
    }
}
