//! Nearest-k search in the live index: H3 rings of buckets around the query's cell, nearest
//! first, until the next ring cannot hold anything nearer than the k-th found.
//!
//! The stopping bound ([`ring_lower_bound_m`]): in a planar hexagonal lattice of edge (and
//! circumradius) `e`, cells at grid distance `k` have centres at least `1.5·k·e` apart
//! (the ring's hexagon has that inradius), and every point of a cell is within `e` of its
//! centre; so a point in a cell at grid distance `k` from the query's cell is at least
//! `(1.5·k − 2)·e` from the query. On the sphere H3's hexagons are neither regular nor equal:
//! over China their edges measure 0.70–1.10 of `h3o`'s average edge length for the resolution
//! (Nantong: 0.79–0.94), so the bound takes `e = 0.65 ×` the average. A resource filed under
//! the ancestor of a finer cell ([`crate::LiveIndex::upsert_in_cell`]) may lie outside that
//! ancestor's hexagon by less than `(1/√7 + 1/7 + …)·e ≈ 0.61·e` (each child's centre lies in
//! its parent's hexagon), so the bound subtracts `2.6·e` instead of `2·e`. The unit tests
//! check it against brute force on random pairs over China at resolutions 7–9.

use std::collections::BinaryHeap;

use h3o::{CellIndex, Resolution};

use crate::distance::{DistanceFloor, haversine_m};
use crate::error::LiveQueryError;
use crate::live::{Entry, LiveIndex, Member, h3_cell};
use crate::types::LatLng;

/// The hexagon edge assumed by the bounds, as a fraction of `h3o`'s average edge length.
const EDGE_FACTOR: f64 = 0.65;
/// Edges subtracted from `1.5·k` edges: two for the query's and the resource's places in
/// their cells, 0.6 for a resource filed under a finer cell's ancestor.
const CENTRE_SLACK: f64 = 2.6;

/// A resource found by a distance query, with its distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour<'a> {
    /// The resource's live state.
    pub entry: &'a Entry,
    /// Great-circle distance from the query's centre, metres ([`crate::haversine_m`]).
    pub distance_m: f64,
}

/// A lower bound, in metres, on the distance from any point of the cell at `resolution` that
/// holds the query to any resource filed in a cell at grid distance `k` or more from it
/// (module docs: the derivation). Zero for `k ≤ 1`.
#[must_use]
pub(crate) fn ring_lower_bound_m(resolution: Resolution, k: u32) -> f64 {
    let edge_m = resolution.edge_length_m() * EDGE_FACTOR;
    (edge_m * 1.5f64.mul_add(f64::from(k), -CENTRE_SLACK)).max(0.0)
}

/// The smallest `k` such that every resource within `radius_m` of the query is filed in a
/// cell within grid distance `k` of the query's cell; `None` when that is beyond any useful
/// disk (a radius of about 10,000 cells, or infinite).
pub(crate) fn disk_radius_for(resolution: Resolution, radius_m: f64) -> Option<u32> {
    let edge_m = resolution.edge_length_m() * EDGE_FACTOR;
    let estimate = ((radius_m / edge_m + CENTRE_SLACK) / 1.5).floor();
    if estimate.is_nan() || estimate >= 10_000.0 {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "0 ≤ estimate < 10,000"
    )]
    let mut k = estimate.max(0.0) as u32;
    // Float rounding: step until the next ring is provably out of reach.
    while ring_lower_bound_m(resolution, k + 1) <= radius_m {
        k += 1;
    }
    Some(k)
}

/// The cells at grid distance exactly `k` from `centre`, into `out` (cleared first); exact
/// near pentagons too (`h3o`'s fast ring fails there, the safe disk does not).
pub(crate) fn ring_cells(centre: CellIndex, k: u32, out: &mut Vec<CellIndex>) {
    out.clear();
    for cell in centre.grid_ring_fast(k) {
        let Some(cell) = cell else {
            out.clear();
            out.extend(
                centre
                    .grid_disk_distances_safe(k)
                    .filter(|&(_, d)| d == k)
                    .map(|(cell, _)| cell),
            );
            return;
        };
        out.push(cell);
    }
}

/// A candidate in the k-best heap, ordered by (distance, id): the heap's top is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    /// `distance_m.to_bits()`: for non-negative finite floats the bit order is the numeric one.
    distance_bits: u64,
    id: i64,
    slot: u32,
}

impl LiveIndex {
    /// The member lists of the non-empty buckets among `cells`, looked up in one batch.
    pub(crate) fn ring_members<'a>(
        &'a self,
        cells: &[CellIndex],
        found: &mut Vec<u32>,
    ) -> Vec<&'a [Member]> {
        found.clear();
        found.extend(
            cells
                .iter()
                .filter_map(|cell| self.cells.get(cell).copied()),
        );
        found
            .iter()
            .filter_map(|&b| self.buckets.get(b as usize))
            .map(|b| &b.members[..])
            .collect()
    }

    /// Up to `k` resources nearest to `centre` that pass `filter`, within `max_distance_m`
    /// (inclusive; `f64::INFINITY` for no limit), sorted by distance and, at equal distance,
    /// by id, so the answer is the first `k` of a brute-force sort by `(distance, id)`.
    ///
    /// Reads H3 rings of buckets around `centre`'s cell, nearest first, and stops when the
    /// next ring is provably farther than the k-th found or than `max_distance_m` (module
    /// docs). `filter` is called only on resources nearer than the k-th found so far. When
    /// the rings would read more cells than there are non-empty buckets (few matches near
    /// `centre`), it scans every resource once instead, so a query costs at most one pass.
    ///
    /// # Errors
    ///
    /// [`LiveQueryError::InvalidDistance`] when `max_distance_m` is negative or NaN.
    pub fn nearest(
        &self,
        centre: LatLng,
        k: usize,
        max_distance_m: f64,
        filter: impl Fn(&Entry) -> bool,
    ) -> Result<Vec<Neighbour<'_>>, LiveQueryError> {
        if max_distance_m.is_nan() || max_distance_m < 0.0 {
            return Err(LiveQueryError::InvalidDistance(max_distance_m));
        }
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let mut best = BinaryHeap::with_capacity(k + 1);
        let floor = DistanceFloor::new(centre);
        let consider = |best: &mut BinaryHeap<Candidate>, position: LatLng, slot: u32| {
            // Most members are farther than the k-th found: reject those on the cheap floor
            // before paying for the exact distance (strictly farther: ties still go by id).
            let floor_m = floor.floor_m(position);
            if floor_m > max_distance_m {
                return;
            }
            if best.len() == k
                && best
                    .peek()
                    .is_some_and(|w| floor_m > f64::from_bits(w.distance_bits))
            {
                return;
            }
            let distance_m = haversine_m(centre, position);
            if distance_m > max_distance_m {
                return;
            }
            let distance_bits = distance_m.to_bits();
            let worst = (best.len() == k).then(|| best.peek().copied()).flatten();
            if worst.is_some_and(|w| distance_bits > w.distance_bits) {
                return; // Decided without reading the slot.
            }
            let Some(s) = self.slots.get(slot as usize) else {
                return;
            };
            let candidate = Candidate {
                distance_bits,
                id: s.entry.id.0,
                slot,
            };
            if worst.is_some_and(|w| candidate >= w) || !filter(&s.entry) {
                return;
            }
            best.push(candidate);
            if best.len() > k {
                best.pop();
            }
        };

        let resolution = self.resolution();
        let origin = h3_cell(centre, resolution);
        // Past this many cells, one pass over every resource is cheaper than more rings.
        let budget = self.cell_count();
        let mut read = 0;
        let mut ring = Vec::new();
        let mut found = Vec::new();
        for r in 0u32.. {
            ring_cells(origin, r, &mut ring);
            read += ring.len();
            if read > budget {
                best.clear();
                for (slot, s) in (0u32..).zip(&self.slots) {
                    consider(&mut best, s.entry.report.position, slot);
                }
                break;
            }
            // Look every cell up first and read the buckets after: the lookups are independent
            // cache misses that the CPU overlaps (one at a time they were 70 % of a query).
            let members = self.ring_members(&ring, &mut found);
            for m in members.iter().flat_map(|m| m.iter()) {
                consider(&mut best, m.position, m.slot);
            }
            // Stop when the next ring is out of reach, or cannot beat the k-th found
            // (strictly farther: at an equal distance a smaller id would still win).
            let next_m = ring_lower_bound_m(resolution, r + 1);
            let kth_m = (best.len() == k)
                .then(|| best.peek().map(|c| f64::from_bits(c.distance_bits)))
                .flatten();
            if next_m > max_distance_m || kth_m.is_some_and(|kth_m| next_m > kth_m) {
                break;
            }
        }
        let sorted = best.into_sorted_vec();
        Ok(sorted
            .into_iter()
            .filter_map(|c| {
                Some(Neighbour {
                    entry: &self.slots.get(c.slot as usize)?.entry,
                    distance_m: f64::from_bits(c.distance_bits),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn h3(p: LatLng) -> h3o::LatLng {
        h3o::LatLng::new(p.lat(), p.lng()).expect("finite")
    }

    /// A random position within `reach_m` of `q` (roughly uniform over the disk's area).
    fn near(rng: &mut StdRng, q: LatLng, reach_m: f64) -> Option<LatLng> {
        let r_m = reach_m * rng.random::<f64>().sqrt();
        let angle = rng.random_range(0.0..std::f64::consts::TAU);
        let dlat = r_m * angle.sin() / 111_195.0;
        let dlng = r_m * angle.cos() / (111_195.0 * q.lat().to_radians().cos());
        LatLng::new(q.lat() + dlat, q.lng() + dlng).ok()
    }

    /// The bound the ring search stops on, against the distance itself, for resources filed
    /// by `to_cell` at the bucket resolution and by the ancestor of a resolution-10 or -15
    /// cell, over China and Nantong, points anywhere and points on the corners of cells.
    #[test]
    fn ring_bound_holds_against_brute_force() {
        let mut rng = StdRng::seed_from_u64(7);
        for res in [Resolution::Seven, Resolution::Eight, Resolution::Nine] {
            let mut tightest = f64::INFINITY;
            let mut checked = 0u32;
            for (west, east, south, north, n) in [
                (73.0, 135.0, 18.0, 53.0, 60_000),
                (120.3, 121.9, 31.6, 32.7, 60_000),
            ] {
                for i in 0..n {
                    let q =
                        LatLng::new(rng.random_range(south..north), rng.random_range(west..east))
                            .expect("in range");
                    let origin = h3(q).to_cell(res);
                    let reach_m = res.edge_length_m() * if i % 2 == 0 { 6.0 } else { 40.0 };
                    let Some(mut p) = near(&mut rng, q, reach_m) else {
                        continue;
                    };
                    if i % 5 == 0 {
                        // A corner of p's cell, where cells meet: nudged by a centimetre.
                        let corners = h3(p).to_cell(res).boundary();
                        let c = corners[rng.random_range(0..corners.len())];
                        let (dlat, dlng) =
                            (rng.random_range(-1e-7..1e-7), rng.random_range(-1e-7..1e-7));
                        match LatLng::new(c.lat() + dlat, c.lng() + dlng) {
                            Ok(c) => p = c,
                            Err(_) => continue,
                        }
                    }
                    let d_m = haversine_m(q, p);
                    let fine = |r| h3(p).to_cell(r).parent(res);
                    for bucket in [
                        Some(h3(p).to_cell(res)),
                        fine(Resolution::Ten),
                        fine(Resolution::Fifteen),
                    ]
                    .into_iter()
                    .flatten()
                    {
                        let Ok(k) = origin.grid_distance(bucket) else {
                            continue;
                        };
                        let k = u32::try_from(k).expect("non-negative");
                        let bound_m = ring_lower_bound_m(res, k);
                        assert!(
                            d_m >= bound_m,
                            "res {res}: q {q:?} p {p:?} at {d_m} m in a cell at grid distance {k}, bound {bound_m} m"
                        );
                        if k >= 2 {
                            tightest = tightest.min(d_m / bound_m);
                        }
                        checked += 1;
                    }
                }
            }
            eprintln!("res {res}: {checked} pairs, smallest distance / bound = {tightest:.3}");
        }
    }

    #[test]
    fn disk_radius_reaches_every_point_in_the_radius() {
        let mut rng = StdRng::seed_from_u64(8);
        for res in [Resolution::Seven, Resolution::Eight, Resolution::Nine] {
            for _ in 0..20_000 {
                let q = LatLng::new(rng.random_range(31.6..32.7), rng.random_range(120.3..121.9))
                    .expect("in range");
                let radius_m = rng.random_range(0.0..20.0) * res.edge_length_m();
                let k = disk_radius_for(res, radius_m).expect("small radius");
                let Some(p) = near(&mut rng, q, radius_m) else {
                    continue;
                };
                if haversine_m(q, p) > radius_m {
                    continue;
                }
                let origin = h3(q).to_cell(res);
                let bucket = h3(p)
                    .to_cell(Resolution::Twelve)
                    .parent(res)
                    .expect("coarser");
                let d = origin.grid_distance(bucket).expect("no pentagon here");
                assert!(
                    d <= i32::try_from(k).expect("small"),
                    "res {res}: {d} > {k}"
                );
            }
        }
        assert_eq!(disk_radius_for(Resolution::Eight, f64::INFINITY), None);
        assert_eq!(disk_radius_for(Resolution::Eight, 0.0), Some(1));
    }

    #[test]
    fn rings_tile_the_disk() {
        let centre = h3o::LatLng::new(32.0, 120.9)
            .expect("finite")
            .to_cell(Resolution::Eight);
        let mut ring = Vec::new();
        let mut all = Vec::new();
        for k in 0..6 {
            ring_cells(centre, k, &mut ring);
            assert_eq!(ring.len(), if k == 0 { 1 } else { 6 * k as usize });
            all.extend_from_slice(&ring);
        }
        let mut disk: Vec<CellIndex> = centre.grid_disk(5);
        all.sort_unstable();
        disk.sort_unstable();
        assert_eq!(all, disk);
        // Around a pentagon the fast ring fails; the safe one still answers.
        let pentagon = CellIndex::base_cells()
            .find(|c| c.is_pentagon())
            .expect("twelve pentagons")
            .center_child(Resolution::Eight)
            .expect("finer");
        ring_cells(pentagon, 2, &mut ring);
        assert_eq!(ring.len(), 10);
    }
}
