//! Visited-cell bitmaps per resolution-8 block: a resolution-8 cell has exactly 7³ = 343
//! resolution-11 descendants (fewer under the twelve pentagons), so the patrolled cells of a
//! block and an hour (or a day) fit in one 343-bit [`BlockBits`], stored as `bit(343)`.
//!
//! A cell's bit is the base-7 number of its three digits below the block (resolution 9, 10,
//! 11): `d9·49 + d10·7 + d11`. Under a hexagon this is the cell's position in h3o's ordered
//! list of the block's children (`CellIndex::children`, `child_position`); under a pentagon
//! the bits of the deleted sub-sequence (digit 1) stay unused. The digits are read straight
//! from the 64-bit index, so the same arithmetic works in SQL (the migration's backfill).

use std::collections::BTreeMap;

use h3o::{CellIndex, Resolution};

/// Resolution of the blocks.
pub const BLOCK_RESOLUTION: Resolution = Resolution::Eight;
/// Resolution of the cells in a block.
pub const FINE_RESOLUTION: Resolution = Resolution::Eleven;
/// Bits of a block: 7³.
pub const BLOCK_BITS: usize = 343;
const WORDS: usize = BLOCK_BITS.div_ceil(64);

/// The block of a resolution-11 cell and the cell's bit in it (`None` for another
/// resolution).
#[must_use]
pub fn block_bit(cell: CellIndex) -> Option<(CellIndex, u16)> {
    if cell.resolution() != FINE_RESOLUTION {
        return None;
    }
    let block = cell.parent(BLOCK_RESOLUTION)?;
    let digit = |r| cell.direction_at(r).map_or(0, |d| u16::from(u8::from(d)));
    let bit = digit(Resolution::Nine) * 49 + digit(Resolution::Ten) * 7 + digit(Resolution::Eleven);
    Some((block, bit))
}

/// The resolution-11 cell of `block` (resolution 8) at `bit`, when there is one (not under a
/// pentagon's deleted sub-sequence).
#[must_use]
pub fn cell_at(block: CellIndex, bit: u16) -> Option<CellIndex> {
    if block.resolution() != BLOCK_RESOLUTION || usize::from(bit) >= BLOCK_BITS {
        return None;
    }
    let raw = u64::from(block);
    let digits = [
        u64::from(bit / 49),
        u64::from(bit / 7 % 7),
        u64::from(bit % 7),
    ];
    // Resolution field (bits 52–55) to 11, digits 9–11 (bits 18–20, 15–17, 12–14) set; the
    // digits below 11 stay 7 (unused), as in the block.
    let mut x = (raw & !(0xF << 52)) | (11 << 52);
    for (i, d) in digits.into_iter().enumerate() {
        let shift = 18 - 3 * i;
        x = (x & !(0x7 << shift)) | (d << shift);
    }
    CellIndex::try_from(x).ok()
}

/// A set of the 343 cells of one block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BlockBits([u64; WORDS]);

impl BlockBits {
    /// No cell.
    #[must_use]
    pub const fn empty() -> Self {
        Self([0; WORDS])
    }

    /// Adds bit `bit` (ignored when ≥ 343).
    pub fn set(&mut self, bit: u16) {
        let b = usize::from(bit);
        if b < BLOCK_BITS {
            self.0[b / 64] |= 1 << (b % 64);
        }
    }

    /// Whether bit `bit` is set.
    #[must_use]
    pub fn get(&self, bit: u16) -> bool {
        let b = usize::from(bit);
        b < BLOCK_BITS && self.0[b / 64] & (1 << (b % 64)) != 0
    }

    /// Cells in both.
    #[must_use]
    pub fn and(&self, other: &Self) -> Self {
        let mut out = *self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a &= b;
        }
        out
    }

    /// Adds `other`'s cells.
    pub fn or_assign(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    /// How many cells.
    #[must_use]
    pub fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// Whether it has no cell.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// The bits set, ascending.
    pub fn bits(&self) -> impl Iterator<Item = u16> + '_ {
        (0..u16::try_from(BLOCK_BITS).unwrap_or(u16::MAX)).filter(|&b| self.get(b))
    }

    /// As PostgreSQL writes a `bit(343)`: 343 characters `0`/`1`, bit 0 first.
    #[must_use]
    pub fn to_bit_string(&self) -> String {
        (0..BLOCK_BITS)
            .map(|b| {
                if self.0[b / 64] & (1 << (b % 64)) != 0 {
                    '1'
                } else {
                    '0'
                }
            })
            .collect()
    }

    /// From PostgreSQL's text of a `bit(n)` (n ≤ 343; `None` on another character or a
    /// longer string).
    #[must_use]
    pub fn from_bit_string(s: &str) -> Option<Self> {
        if s.len() > BLOCK_BITS {
            return None;
        }
        let mut out = Self::empty();
        for (i, c) in s.bytes().enumerate() {
            match c {
                b'1' => out.0[i / 64] |= 1 << (i % 64),
                b'0' => {}
                _ => return None,
            }
        }
        Some(out)
    }
}

/// Resolution-11 cells grouped by block, the block's cells as bits; other resolutions are
/// left out.
#[must_use]
pub fn block_masks(cells: &[CellIndex]) -> BTreeMap<CellIndex, BlockBits> {
    let mut out: BTreeMap<CellIndex, BlockBits> = BTreeMap::new();
    for &c in cells {
        if let Some((block, bit)) = block_bit(c) {
            out.entry(block).or_default().set(bit);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn nantong_block() -> CellIndex {
        h3o::LatLng::new(32.0, 120.9)
            .unwrap()
            .to_cell(BLOCK_RESOLUTION)
    }

    #[test]
    fn bits_follow_h3o_child_order_under_a_hexagon() {
        let block = nantong_block();
        assert!(!block.is_pentagon());
        let children: Vec<CellIndex> = block.children(FINE_RESOLUTION).collect();
        assert_eq!(children.len(), BLOCK_BITS);
        for (i, c) in children.iter().enumerate() {
            let (b, bit) = block_bit(*c).unwrap();
            assert_eq!(b, block);
            assert_eq!(usize::from(bit), i);
            assert_eq!(u64::from(bit), c.child_position(BLOCK_RESOLUTION).unwrap());
            assert_eq!(cell_at(block, bit), Some(*c));
        }
    }

    #[test]
    fn pentagon_blocks_use_distinct_bits_and_round_trip() {
        let pentagon = CellIndex::base_cells()
            .find(|c| c.is_pentagon())
            .unwrap()
            .center_child(BLOCK_RESOLUTION)
            .unwrap();
        assert!(pentagon.is_pentagon());
        let children: Vec<CellIndex> = pentagon.children(FINE_RESOLUTION).collect();
        assert!(children.len() < BLOCK_BITS);
        let mut seen = BlockBits::empty();
        for c in children {
            let (b, bit) = block_bit(c).unwrap();
            assert_eq!(b, pentagon);
            assert!(!seen.get(bit), "bit {bit} twice");
            seen.set(bit);
            assert_eq!(cell_at(pentagon, bit), Some(c));
        }
    }

    #[test]
    fn other_resolutions_have_no_bit() {
        let block = nantong_block();
        assert_eq!(block_bit(block), None);
        assert_eq!(
            block_bit(block.center_child(Resolution::Twelve).unwrap()),
            None
        );
        assert_eq!(cell_at(block, 343), None);
        assert_eq!(
            cell_at(block.center_child(Resolution::Nine).unwrap(), 0),
            None
        );
    }

    #[test]
    fn set_operations_and_text() {
        let mut a = BlockBits::empty();
        assert!(a.is_empty());
        for b in [0, 63, 64, 200, 342, 343] {
            a.set(b);
        }
        assert_eq!(a.count(), 5);
        assert!(a.get(342) && !a.get(343) && !a.get(1));
        let mut b = BlockBits::empty();
        b.set(63);
        b.set(5);
        assert_eq!(a.and(&b).bits().collect::<Vec<_>>(), vec![63]);
        b.or_assign(&a);
        assert_eq!(b.count(), 6);
        let s = a.to_bit_string();
        assert_eq!(s.len(), BLOCK_BITS);
        assert!(s.starts_with('1') && s.ends_with('1'));
        assert_eq!(&s[62..66], "0110");
        assert_eq!(BlockBits::from_bit_string(&s), Some(a));
        assert_eq!(BlockBits::from_bit_string("01x"), None);
        assert_eq!(BlockBits::from_bit_string(&"0".repeat(344)), None);
    }

    #[test]
    fn masks_group_cells_by_block() {
        let block = nantong_block();
        let other = block.grid_disk::<Vec<_>>(1)[1];
        let cells: Vec<CellIndex> = block
            .children(FINE_RESOLUTION)
            .take(10)
            .chain(other.children(FINE_RESOLUTION).skip(100).take(3))
            .chain([block])
            .collect();
        let m = block_masks(&cells);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[&block].bits().collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
        assert_eq!(m[&other].bits().collect::<Vec<_>>(), vec![100, 101, 102]);
    }
}
