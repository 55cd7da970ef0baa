//! Area queries of the live index: resources in a lng/lat box (a viewport) or within a
//! great-circle radius. Both read the disk of buckets that provably holds the area
//! (`nearest.rs` has the bound) and test each resource exactly; when that disk has more cells
//! than there are non-empty buckets, one pass over every resource is cheaper and is taken.

use crate::distance::{DistanceFloor, haversine_m};
use crate::error::LiveQueryError;
use crate::live::{Entry, LiveIndex, h3_cell};
use crate::nearest::{Neighbour, disk_radius_for};
use crate::types::LatLng;

impl LiveIndex {
    /// The resources passing `filter` whose position lies in the box `west ≤ lng ≤ east`,
    /// `south ≤ lat ≤ north` (degrees, WGS84; edges included), in no particular order.
    ///
    /// Boxes across the antimeridian (`west > east`) are refused rather than guessed at (China
    /// is far from it); a box wider than 180° of longitude is answered by a pass over every
    /// resource. Otherwise the cost is the buckets of the disk around the box's centre that
    /// reaches its farthest corner, and the resources in them.
    ///
    /// # Errors
    ///
    /// [`LiveQueryError::InvalidBbox`] for non-finite or out-of-range edges, `west > east`
    /// or `south > north`.
    pub fn in_bbox(
        &self,
        west: f64,
        south: f64,
        east: f64,
        north: f64,
        filter: impl Fn(&Entry) -> bool,
    ) -> Result<Vec<&Entry>, LiveQueryError> {
        let invalid = |reason| LiveQueryError::InvalidBbox {
            west,
            south,
            east,
            north,
            reason,
        };
        if ![west, south, east, north].iter().all(|v| v.is_finite()) {
            return Err(invalid("edges must be finite numbers"));
        }
        if !(-180.0..=180.0).contains(&west) || !(-180.0..=180.0).contains(&east) {
            return Err(invalid("longitudes must lie in [-180, 180]"));
        }
        if !(-90.0..=90.0).contains(&south) || !(-90.0..=90.0).contains(&north) {
            return Err(invalid("latitudes must lie in [-90, 90]"));
        }
        if west > east {
            return Err(invalid(
                "west > east: boxes across the antimeridian are not supported",
            ));
        }
        if south > north {
            return Err(invalid("south > north"));
        }
        let in_box =
            |p: LatLng| (west..=east).contains(&p.lng()) && (south..=north).contains(&p.lat());
        let mut found = Vec::new();
        let corners = [(south, west), (south, east), (north, west), (north, east)];
        let centre = LatLng::new((south + north) * 0.5, (west + east) * 0.5);
        match centre {
            // Along a parallel the distance from the centre grows with the longitude
            // difference, and along a meridian it peaks at an end as long as the difference
            // is ≤ 90°: so in a box at most 180° wide the farthest points are corners.
            Ok(centre) if east - west <= 180.0 => {
                let radius_m = corners
                    .iter()
                    .filter_map(|&(lat, lng)| LatLng::new(lat, lng).ok())
                    .map(|corner| haversine_m(centre, corner))
                    .fold(0.0, f64::max);
                self.visit_disk(centre, radius_m, in_box, |e| {
                    if filter(e) {
                        found.push(e);
                    }
                });
            }
            _ => found.extend(
                self.iter()
                    .filter(|e| in_box(e.report.position) && filter(e)),
            ),
        }
        Ok(found)
    }

    /// The resources passing `filter` within `radius_m` (inclusive) of `centre`, with their
    /// distances, in no particular order ([`Self::nearest`] sorts).
    ///
    /// # Errors
    ///
    /// [`LiveQueryError::InvalidDistance`] when `radius_m` is negative or NaN.
    pub fn within_radius(
        &self,
        centre: LatLng,
        radius_m: f64,
        filter: impl Fn(&Entry) -> bool,
    ) -> Result<Vec<Neighbour<'_>>, LiveQueryError> {
        if radius_m.is_nan() || radius_m < 0.0 {
            return Err(LiveQueryError::InvalidDistance(radius_m));
        }
        let mut found = Vec::new();
        let floor = DistanceFloor::new(centre);
        self.visit_disk(
            centre,
            radius_m,
            |p| floor.floor_m(p) <= radius_m && haversine_m(centre, p) <= radius_m,
            |entry| {
                if filter(entry) {
                    let distance_m = haversine_m(centre, entry.report.position);
                    found.push(Neighbour { entry, distance_m });
                }
            },
        );
        Ok(found)
    }

    /// Calls `visit` on every resource whose position passes `keep`, among those filed in a
    /// bucket that may hold points within `radius_m` of `centre` (`keep` must reject every
    /// position farther), or among all resources when that is cheaper.
    fn visit_disk<'a>(
        &'a self,
        centre: LatLng,
        radius_m: f64,
        keep: impl Fn(LatLng) -> bool,
        mut visit: impl FnMut(&'a Entry),
    ) {
        let resolution = self.resolution();
        let k = disk_radius_for(resolution, radius_m)
            .filter(|&k| 3 * (k as usize) * (k as usize + 1) < self.cell_count());
        let Some(k) = k else {
            self.iter()
                .filter(|e| keep(e.report.position))
                .for_each(visit);
            return;
        };
        let disk: Vec<_> = h3_cell(centre, resolution).grid_disk(k);
        let mut found = Vec::new();
        for members in self.ring_members(&disk, &mut found) {
            for m in members.iter().filter(|m| keep(m.position)) {
                if let Some(s) = self.slots.get(m.slot as usize) {
                    visit(&s.entry);
                }
            }
        }
    }
}
