//! A unit's outline as `GET /api/units` serves it (a GeoJSON Polygon or MultiPolygon, x = lng,
//! y = lat) into a `geo` [`MultiPolygon`], read with the `geojson` crate.
//!
//! The crate's conversion to `geo` trusts its input (a position of one number would panic), so
//! the rings are checked first: at least four positions each, every position two or more
//! finite numbers in WGS84 range, first and last the same. The server only serves valid
//! outlines; the check keeps a wrong server or proxy from bringing the simulator down.

use geo::{MultiPolygon, Polygon};
use geojson::{Geometry, GeometryValue, Position};
use serde::Deserialize as _;
use serde_json::Value;

/// Why an outline was not read.
#[derive(Debug, thiserror::Error)]
pub enum OutlineError {
    /// Not a GeoJSON geometry object.
    #[error("not a GeoJSON geometry: {0}")]
    Json(#[from] serde_json::Error),
    /// A geometry, but not an area.
    #[error("geometry type {0} is not allowed (only Polygon or MultiPolygon)")]
    NotAnArea(&'static str),
    /// A MultiPolygon without polygons, or a polygon without rings.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// A ring that cannot be an outline.
    #[error("polygon {polygon}, ring {ring}: {reason}")]
    Ring {
        /// Index of the polygon (0 for a Polygon).
        polygon: usize,
        /// Index of the ring (0 is the exterior).
        ring: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The `geojson` crate's conversion refused it.
    #[error(transparent)]
    Convert(#[from] geojson::Error),
}

/// Reads a GeoJSON geometry object that must be a Polygon or a MultiPolygon (lng, lat).
///
/// # Errors
///
/// Not a geometry, not an area, empty, or a ring too short, open or out of range.
pub fn multipolygon(geometry: &Value) -> Result<MultiPolygon<f64>, OutlineError> {
    let geometry = Geometry::deserialize(geometry)?;
    match &geometry.value {
        GeometryValue::Polygon { coordinates } => {
            check_polygon(0, coordinates)?;
            Ok(MultiPolygon(vec![Polygon::try_from(&geometry.value)?]))
        }
        GeometryValue::MultiPolygon { coordinates } => {
            if coordinates.is_empty() {
                return Err(OutlineError::Empty("MultiPolygon"));
            }
            for (i, polygon) in coordinates.iter().enumerate() {
                check_polygon(i, polygon)?;
            }
            Ok(MultiPolygon::try_from(&geometry.value)?)
        }
        other => Err(OutlineError::NotAnArea(other.type_name())),
    }
}

fn check_polygon(polygon: usize, rings: &[Vec<Position>]) -> Result<(), OutlineError> {
    if rings.is_empty() {
        return Err(OutlineError::Empty("polygon"));
    }
    for (ring, positions) in rings.iter().enumerate() {
        check_ring(positions).map_err(|reason| OutlineError::Ring {
            polygon,
            ring,
            reason,
        })?;
    }
    Ok(())
}

fn check_ring(positions: &[Position]) -> Result<(), String> {
    if positions.len() < 4 {
        return Err(format!(
            "a ring needs at least 4 positions, has {}",
            positions.len()
        ));
    }
    for (k, p) in positions.iter().enumerate() {
        let &[lng, lat, ..] = p.as_slice() else {
            return Err(format!("position {k} needs [lng, lat]"));
        };
        if !(lng.is_finite() && (-180.0..=180.0).contains(&lng)) {
            return Err(format!(
                "position {k}: longitude {lng} is outside [-180, 180]"
            ));
        }
        if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
            return Err(format!("position {k}: latitude {lat} is outside [-90, 90]"));
        }
    }
    if positions.first() != positions.last() {
        return Err("ring is not closed (first and last positions differ)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn square() -> Value {
        json!([[[120.0, 32.0], [120.1, 32.0], [120.1, 32.1], [120.0, 32.0]]])
    }

    #[test]
    fn reads_polygon_and_multipolygon_as_lng_lat() {
        let p =
            multipolygon(&json!({"type": "Polygon", "coordinates": square()})).expect("polygon");
        assert_eq!(p.0.len(), 1);
        let first = p.0[0].exterior().0[1];
        assert!((first.x - 120.1).abs() < 1e-12 && (first.y - 32.0).abs() < 1e-12);
        let m = multipolygon(&json!({"type": "MultiPolygon", "coordinates": [square(), square()]}))
            .expect("multipolygon");
        assert_eq!(m.0.len(), 2);
    }

    #[test]
    fn a_hole_stays_a_hole() {
        let with_hole = json!({"type": "Polygon", "coordinates": [
            [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]],
            [[1.0, 1.0], [2.0, 1.0], [2.0, 2.0], [1.0, 1.0]]
        ]});
        let m = multipolygon(&with_hole).expect("polygon");
        assert_eq!(m.0[0].interiors().len(), 1);
    }

    #[test]
    fn names_what_is_wrong_instead_of_panicking() {
        let cases = [
            (
                json!({"type": "Point", "coordinates": [1, 2]}),
                "Point is not allowed",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": []}),
                "MultiPolygon is empty",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[1], [2], [3], [1]]]}),
                "needs [lng, lat]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}),
                "at least 4 positions",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}),
                "not closed",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 99], [1, 1], [0, 0]]]}),
                "latitude 99",
            ),
            (json!({"coordinates": []}), "not a GeoJSON geometry"),
            (json!(null), "not a GeoJSON geometry"),
        ];
        for (geometry, expected) in cases {
            let e = multipolygon(&geometry).expect_err("refused").to_string();
            assert!(e.contains(expected), "{geometry}: {e}");
        }
    }
}
