//! Strict reading of GeoJSON (RFC 7946) polygons into `geo` types, x = lng, y = lat.
//!
//! Only what a unit boundary may be: `Polygon` or `MultiPolygon`, finite coordinates in WGS84
//! range, closed rings of at least four positions. Each failure says where and why.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use serde_json::Value;

/// Why a geometry was refused; the message names the place (polygon, ring, position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GeometryError(pub String);

fn err(msg: impl Into<String>) -> GeometryError {
    GeometryError(msg.into())
}

/// Reads a GeoJSON geometry object that must be a Polygon or a MultiPolygon.
pub fn multipolygon_from_value(geometry: &Value) -> Result<MultiPolygon<f64>, GeometryError> {
    let obj = geometry
        .as_object()
        .ok_or_else(|| err("geometry must be an object"))?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| err("geometry has no \"type\""))?;
    let coords = obj
        .get("coordinates")
        .ok_or_else(|| err("geometry has no \"coordinates\""))?;
    match kind {
        "Polygon" => Ok(MultiPolygon(vec![polygon(coords, None)?])),
        "MultiPolygon" => {
            let polys = coords
                .as_array()
                .ok_or_else(|| err("MultiPolygon coordinates must be an array of polygons"))?;
            if polys.is_empty() {
                return Err(err("MultiPolygon has no polygons"));
            }
            polys
                .iter()
                .enumerate()
                .map(|(i, p)| polygon(p, Some(i)))
                .collect::<Result<Vec<_>, _>>()
                .map(MultiPolygon)
        }
        other => Err(err(format!(
            "geometry type {other} is not allowed (only Polygon or MultiPolygon)"
        ))),
    }
}

fn polygon(value: &Value, index: Option<usize>) -> Result<Polygon<f64>, GeometryError> {
    let at = |ring: usize| match index {
        Some(p) => format!("polygon {p}, ring {ring}"),
        None => format!("ring {ring}"),
    };
    let rings = value
        .as_array()
        .ok_or_else(|| err("polygon coordinates must be an array of rings"))?;
    if rings.is_empty() {
        return Err(err("polygon has no rings"));
    }
    let mut out = Vec::with_capacity(rings.len());
    for (r, ring) in rings.iter().enumerate() {
        let positions = ring
            .as_array()
            .ok_or_else(|| err(format!("{}: must be an array of positions", at(r))))?;
        let mut coords = Vec::with_capacity(positions.len());
        for (k, pos) in positions.iter().enumerate() {
            coords.push(position(pos).map_err(|e| err(format!("{}, position {k}: {e}", at(r))))?);
        }
        if coords.len() < 4 {
            return Err(err(format!(
                "{}: a ring needs at least 4 positions, has {}",
                at(r),
                coords.len()
            )));
        }
        if coords.first() != coords.last() {
            return Err(err(format!(
                "{}: ring is not closed (first and last positions differ)",
                at(r)
            )));
        }
        out.push(LineString(coords));
    }
    let exterior = out.remove(0);
    Ok(Polygon::new(exterior, out))
}

fn position(value: &Value) -> Result<Coord<f64>, String> {
    let arr = value
        .as_array()
        .ok_or_else(|| "a position must be an array [lng, lat]".to_owned())?;
    if arr.len() < 2 {
        return Err("a position needs [lng, lat]".to_owned());
    }
    let num = |v: &Value, what: &str| -> Result<f64, String> {
        let x = v
            .as_f64()
            .ok_or_else(|| format!("{what} is not a number: {v}"))?;
        if x.is_finite() {
            Ok(x)
        } else {
            Err(format!("{what} is not finite"))
        }
    };
    let lng = num(&arr[0], "longitude")?;
    let lat = num(&arr[1], "latitude")?;
    if !(-180.0..=180.0).contains(&lng) {
        return Err(format!("longitude {lng} is outside [-180, 180]"));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("latitude {lat} is outside [-90, 90]"));
    }
    Ok(Coord { x: lng, y: lat })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_polygon_and_multipolygon() {
        let square = json!([[[120.0, 32.0], [120.1, 32.0], [120.1, 32.1], [120.0, 32.0]]]);
        let p = multipolygon_from_value(&json!({"type": "Polygon", "coordinates": square}));
        assert_eq!(p.map(|m| m.0.len()), Ok(1));
        let m = multipolygon_from_value(
            &json!({"type": "MultiPolygon", "coordinates": [square.clone(), square]}),
        );
        assert_eq!(m.map(|m| m.0.len()), Ok(2));
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            (
                json!({"type": "Point", "coordinates": [1, 2]}),
                "Point is not allowed",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}),
                "not closed",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}),
                "at least 4",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 91], [0, 0]]]}),
                "latitude 91 is outside",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], ["a", 0], [1, 1], [0, 0]]]}),
                "longitude is not a number",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": []}),
                "no polygons",
            ),
        ];
        for (geometry, expected) in cases {
            let e = multipolygon_from_value(&geometry).expect_err("must be refused");
            assert!(e.0.contains(expected), "{e} should contain {expected}");
        }
    }
}
