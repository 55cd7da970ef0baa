//! GCJ-02 (国测局坐标, "Mars coordinates") ↔ WGS84.
//!
//! Chinese phone map SDKs (Amap/高德, Tencent, and Baidu before its own BD-09 step) report
//! positions in GCJ-02: WGS84 shifted by an obfuscating, smooth function of position, 100–700 m
//! inside China and zero outside. The forward function below is the de-facto public algorithm
//! (Krasovsky 1940 ellipsoid, a = 6378245 m, e² = 0.006693421622965943); it reproduces the
//! reference pair WGS84 (116.404, 39.915) → GCJ-02 (116.41024449916938, 39.91640428150164) to
//! 1e-12°. The forward function is public knowledge, its inverse is not closed-form: [`gcj02_to_wgs84`]
//! inverts it by fixed-point iteration until the forward image of the answer is within 1e-9° of
//! the input (≈ 0.1 mm), which takes 3–5 steps; compared with the common one-step inverse
//! (error up to ≈ 2 m) this makes GCJ-02 input as accurate as the phone's fix.
//!
//! "Outside China" is the customary bounding box (lng 72.004–137.8347, lat 0.8293–55.8271):
//! exact inside the mainland, approximate near the borders, as every implementation is.

use crate::types::LatLng;

const A_M: f64 = 6_378_245.0;
const EE: f64 = 0.006_693_421_622_965_943;

/// Whether a position is outside the region where GCJ-02 applies (no shift there).
#[must_use]
pub fn outside_china(p: LatLng) -> bool {
    !(72.004..=137.8347).contains(&p.lng()) || !(0.8293..=55.8271).contains(&p.lat())
}

fn shift_lat(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn shift_lng(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// The GCJ-02 offset (Δlng, Δlat) in degrees at a WGS84 position.
fn offset(lng: f64, lat: f64) -> (f64, f64) {
    use std::f64::consts::PI;
    let d_lat = shift_lat(lng - 105.0, lat - 35.0);
    let d_lng = shift_lng(lng - 105.0, lat - 35.0);
    let rad = lat / 180.0 * PI;
    let magic = 1.0 - EE * rad.sin() * rad.sin();
    let sqrt_magic = magic.sqrt();
    (
        d_lng * 180.0 / (A_M / sqrt_magic * rad.cos() * PI),
        d_lat * 180.0 / (A_M * (1.0 - EE) / (magic * sqrt_magic) * PI),
    )
}

/// WGS84 → GCJ-02 (unchanged outside China).
#[must_use]
pub fn wgs84_to_gcj02(wgs: LatLng) -> LatLng {
    if outside_china(wgs) {
        return wgs;
    }
    let (d_lng, d_lat) = offset(wgs.lng(), wgs.lat());
    // Inside the box the shift is < 0.01°: always a valid position.
    LatLng::new(wgs.lat() + d_lat, wgs.lng() + d_lng).unwrap_or(wgs)
}

/// GCJ-02 → WGS84 (unchanged outside China), accurate to ≈ 1e-9° (see the module doc).
#[must_use]
pub fn gcj02_to_wgs84(gcj: LatLng) -> LatLng {
    if outside_china(gcj) {
        return gcj;
    }
    let (target_lng, target_lat) = (gcj.lng(), gcj.lat());
    // Start from the one-step inverse, then correct by the residual of the forward map; the
    // offset changes by < 1e-5 per degree, so each step gains about five digits.
    let (mut lng, mut lat) = (target_lng, target_lat);
    for _ in 0..10 {
        let (d_lng, d_lat) = offset(lng, lat);
        let (err_lng, err_lat) = (lng + d_lng - target_lng, lat + d_lat - target_lat);
        lng -= err_lng;
        lat -= err_lat;
        if err_lng.abs() < 1e-9 && err_lat.abs() < 1e-9 {
            break;
        }
    }
    LatLng::new(lat, lng).unwrap_or(gcj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lng: f64, lat: f64) -> LatLng {
        LatLng::new(lat, lng).expect("valid")
    }

    #[test]
    fn reproduces_the_reference_pair() {
        let g = wgs84_to_gcj02(p(116.404, 39.915));
        assert!(
            (g.lng() - 116.410_244_499_169_38).abs() < 1e-12,
            "{}",
            g.lng()
        );
        assert!(
            (g.lat() - 39.916_404_281_501_64).abs() < 1e-12,
            "{}",
            g.lat()
        );
    }

    #[test]
    fn inverse_is_exact_to_a_tenth_of_a_millimetre_over_china() {
        let mut worst: f64 = 0.0;
        for i in 0..60 {
            for j in 0..40 {
                let w = p(75.0 + f64::from(i) * 1.0, 18.0 + f64::from(j) * 0.9);
                let back = gcj02_to_wgs84(wgs84_to_gcj02(w));
                worst = worst
                    .max((back.lng() - w.lng()).abs())
                    .max((back.lat() - w.lat()).abs());
            }
        }
        assert!(worst < 2e-9, "worst round-trip error {worst}°");
    }

    #[test]
    fn nantong_shift_is_hundreds_of_metres_and_none_abroad() {
        let w = p(120.86, 32.01);
        let g = wgs84_to_gcj02(w);
        let shift_m = crate::distance::haversine_m(w, g);
        assert!((100.0..700.0).contains(&shift_m), "{shift_m} m");
        let tokyo = p(139.69, 35.69);
        assert_eq!(wgs84_to_gcj02(tokyo), tokyo);
        assert_eq!(gcj02_to_wgs84(tokyo), tokyo);
    }
}
