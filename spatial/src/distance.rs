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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lng: f64) -> LatLng {
        LatLng::new(lat, lng).expect("valid test position")
    }

    #[test]
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
}
