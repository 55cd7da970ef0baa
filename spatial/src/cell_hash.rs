//! A hasher for H3 cell indexes, used by the cover's cell sets and the locate index's tables.

use std::hash::{BuildHasherDefault, Hasher};

/// Hasher for H3 indexes and their keys split off them (the locate index's block keys). A whole index at resolution R has its low
/// (15 − R)·3 bits all ones and its top 12 bits constant, so identity or plain multiplicative
/// hashing would put every cell in a few buckets; a folded multiply (the 128-bit product's
/// halves combined by XOR, as `foldhash` and `ahash` do) spreads the varying bits over all 64.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CellHasher(u64);

impl Hasher for CellHasher {
    #[inline]
    fn finish(&self) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let full = u128::from(self.0) * u128::from(K);
        #[allow(clippy::cast_possible_truncation, reason = "the two halves")]
        let (lo, hi) = (full as u64, (full >> 64) as u64);
        lo ^ hi
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(29) ^ n;
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
}

/// Builds [`CellHasher`]s.
pub(crate) type CellHash = BuildHasherDefault<CellHasher>;
