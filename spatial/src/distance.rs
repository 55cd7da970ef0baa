//! Great-circle distance on a sphere, the one distance the live index ranks and filters by.
//!
//! Every query of the live index measures with [`haversine_m`] on the stored coordinates, so a
//! brute force that calls the same function gets bit-identical distances (and ties).

use crate::types::LatLng;

/// The radius of the sphere [`haversine_m`] measures on: the IUGG mean earth radius
/// (R₁ = 6,371,008.8 m), the sphere PostGIS uses for `geography` with `use_spheroid = false`.
/// On the WGS84 ellipsoid, true distances differ from this sphere's by up to ≈0.5 %.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two WGS84 positions, by the haversine formula on a
/// sphere of radius [`EARTH_RADIUS_M`]. Symmetric, zero for equal positions, accurate to
/// float rounding at every distance (no `acos` cancellation for short ones).
///
/// ```
/// # use gridwall_spatial::{LatLng, haversine_m};
/// let a = LatLng::new(32.0, 120.9).unwrap();
/// let b = LatLng::new(32.001, 120.9).unwrap(); // 0.001° of latitude north
/// assert!((haversine_m(a, b) - 111.195).abs() < 0.001);
/// ```
#[must_use]
#[inline]
pub fn haversine_m(a: LatLng, b: LatLng) -> f64 {
    let (lat_a, lat_b) = (a.lat().to_radians(), b.lat().to_radians());
    let half_dlat = (lat_b - lat_a) * 0.5;
    let half_dlng = (b.lng() - a.lng()).to_radians() * 0.5;
    let (s_lat, s_lng) = (half_dlat.sin(), half_dlng.sin());
    let h = s_lat.mul_add(s_lat, lat_a.cos() * lat_b.cos() * s_lng * s_lng);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// A cheap lower bound on [`haversine_m`] from one fixed point, for pruning: no trigonometry
/// per call, a few multiplications, so a search can reject most candidates before it pays
/// for the exact distance (four transcendental functions).
///
/// With φ latitudes, λ longitudes (radians) and `h = sin²(Δφ/2) + cos φ₁ cos φ₂ sin²(Δλ/2)`,
/// the distance is `2R·asin(√h) ≥ 2R·√h`. The bound replaces each factor by a smaller one:
/// `sin x ≥ x − x³/6` (x ≥ 0) and `cos φ₂ ≥ cos φ₁ − |Δφ|` (cos is 1-Lipschitz), so it never
/// exceeds the true distance by more than float rounding, which the final `1 − 1e-9`
/// factor covers. It is within 1 % of the distance for points a few tens of km apart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DistanceFloor {
    lat_rad: f64,
    lng_deg: f64,
    cos_lat: f64,
}

impl DistanceFloor {
    /// The floor of distances from `from`.
    #[inline]
    pub(crate) fn new(from: LatLng) -> Self {
        let lat_rad = from.lat().to_radians();
        Self {
            lat_rad,
            lng_deg: from.lng(),
            cos_lat: lat_rad.cos(),
        }
    }

    /// A lower bound of `haversine_m(from, p)`, metres.
    #[inline]
    pub(crate) fn floor_m(&self, p: LatLng) -> f64 {
        // sin x ≥ x − x³/6 for x ≥ 0, floored at 0.
        let sin_floor = |x: f64| (x - x * x * x * (1.0 / 6.0)).max(0.0);
        let dlat = (p.lat().to_radians() - self.lat_rad).abs();
        let mut dlng_deg = (p.lng() - self.lng_deg).abs();
        if dlng_deg > 180.0 {
            dlng_deg = 360.0 - dlng_deg;
        }
        let s_lat = sin_floor(dlat * 0.5);
        let s_lng = sin_floor(dlng_deg.to_radians() * 0.5);
        let cos_product = self.cos_lat * (self.cos_lat - dlat).max(0.0);
        // No `mul_add`: without a target FMA unit it is a library call, slower than this.
        let h = s_lat * s_lat + cos_product * s_lng * s_lng;
        2.0 * EARTH_RADIUS_M * h.sqrt() * (1.0 - 1e-9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lng: f64) -> LatLng {
        LatLng::new(lat, lng).expect("valid test position")
    }

    #[test]
    #[allow(clippy::float_cmp, reason = "zero and symmetry are exact")]
    fn known_distances() {
        assert_eq!(haversine_m(p(32.0, 120.9), p(32.0, 120.9)), 0.0);
        // A quarter meridian.
        let quarter = haversine_m(p(0.0, 0.0), p(90.0, 0.0));
        assert!((quarter - EARTH_RADIUS_M * std::f64::consts::FRAC_PI_2).abs() < 1e-6);
        // Antipodes.
        let half = haversine_m(p(0.0, 0.0), p(0.0, 180.0));
        assert!((half - EARTH_RADIUS_M * std::f64::consts::PI).abs() < 1e-6);
        // Symmetric.
        let (a, b) = (p(31.7, 120.4), p(32.6, 121.8));
        assert_eq!(haversine_m(a, b), haversine_m(b, a));
    }

    #[test]
    fn the_floor_is_below_the_distance_and_close_nearby() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(11);
        let mut worst_near = 1.0f64;
        for i in 0..1_000_000 {
            let a = p(
                rng.random_range(-89.9..89.9),
                rng.random_range(-180.0..180.0),
            );
            let b = if i % 2 == 0 {
                p(
                    rng.random_range(-90.0..90.0),
                    rng.random_range(-180.0..180.0),
                )
            } else {
                // Within ≈30 km, or a hair apart (rounding territory).
                let reach = if i % 4 == 1 { 0.3 } else { 1e-9 };
                let lat = (a.lat() + rng.random_range(-reach..reach)).clamp(-90.0, 90.0);
                let lng = a.lng() + rng.random_range(-reach..reach);
                let lng = if lng > 180.0 {
                    lng - 360.0
                } else if lng < -180.0 {
                    lng + 360.0
                } else {
                    lng
                };
                p(lat, lng)
            };
            let (d, floor) = (haversine_m(a, b), DistanceFloor::new(a).floor_m(b));
            assert!(floor <= d, "{a:?} {b:?}: floor {floor} > {d}");
            assert!(floor >= 0.0);
            if i % 4 == 1 && a.lat().abs() < 60.0 && d > 0.0 {
                worst_near = worst_near.min(floor / d);
            }
        }
        assert!(worst_near > 0.98, "{worst_near}");
    }
}
